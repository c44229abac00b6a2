"""Icons bundled with the program: the Material Design Icons font (MDI 6) that the QtAwesome wheel ships.

Nothing is fetched at run time. ``icon("account-group")`` takes an MDI name;
colours follow the current palette so the icons work on light and dark themes,
and a disabled action's icon is drawn in the palette's disabled text colour.

The glyphs are drawn here by a small ``QIconEngine`` rather than through
``qtawesome.icon()``: importing QtAwesome imports QtPy, which star-imports
every QtGui/QtWidgets name and so builds thousands of PySide6 enum classes up
front, and QtAwesome loads a dozen fonts on first use — together about a third
of a second of every start-up for the one font this program uses. The font
file and its name→code-point map are read from QtAwesome's package folder
(found without importing it; PyInstaller bundles that folder).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

#: The font and charmap file names inside QtAwesome's ``fonts`` folder.
FONT_FILE = "materialdesignicons6-webfont-6.9.96.ttf"
CHARMAP_FILE = "materialdesignicons6-webfont-charmap-6.9.96.json"

#: A 16-pixel icon gets a 14-pixel glyph: the font's side bearing needs the rest (QtAwesome's proportion).
GLYPH_SCALE = 0.875


class IconFontError(RuntimeError):
    """The icon font or its charmap is missing or unreadable (a broken installation)."""


def font_folder() -> Path:
    """QtAwesome's ``fonts`` folder, located without running ``qtawesome/__init__``."""
    spec = importlib.util.find_spec("qtawesome")
    candidates = [Path(p) / "fonts" for p in (spec.submodule_search_locations or [])] if spec else []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "qtawesome" / "fonts")
    for folder in candidates:
        if (folder / FONT_FILE).is_file():
            return folder
    raise IconFontError(f"The icon font {FONT_FILE} is missing (looked in: "
                        f"{', '.join(str(c) for c in candidates) or 'nowhere: QtAwesome is not installed'}).")


@cache
def _font() -> tuple[str, dict[str, str]]:
    """(font family, name → glyph) — the font is registered with Qt once per process."""
    folder = font_folder()
    font_id = QFontDatabase.addApplicationFont(str(folder / FONT_FILE))
    families = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    if not families:
        raise IconFontError(f"Qt could not load the icon font {folder / FONT_FILE}.")
    try:
        raw = json.loads((folder / CHARMAP_FILE).read_text(encoding="utf-8"))
        charmap = {name: chr(int(code, 16)) for name, code in raw.items()}
    except (OSError, ValueError, TypeError) as exc:
        raise IconFontError(f"The icon charmap {folder / CHARMAP_FILE} is unreadable: {exc}") from exc
    return families[0], charmap


def glyph(name: str) -> str:
    """The character of an MDI icon name; ``KeyError`` for a name the font does not have."""
    charmap = _font()[1]
    if name not in charmap:
        raise KeyError(f"no icon named {name!r} in Material Design Icons 6")
    return charmap[name]


class GlyphIconEngine(QIconEngine):
    """Draws one font glyph, centred, scaled to whatever size the icon is asked for (sharp at every DPI)."""

    def __init__(self, char: str, family: str, color: QColor, disabled: QColor) -> None:
        super().__init__()
        self.char = char
        self.family = family
        self.color = QColor(color)
        self.disabled = QColor(disabled)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.save()
        painter.setPen(self.disabled if mode == QIcon.Mode.Disabled else self.color)
        font = QFont(self.family)
        font.setPixelSize(max(1, round(GLYPH_SCALE * rect.height())))
        painter.setFont(font)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), self.char)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        try:
            self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        finally:
            painter.end()
        return pixmap

    def clone(self) -> GlyphIconEngine:
        return GlyphIconEngine(self.char, self.family, self.color, self.disabled)


def _palette_color(group: QPalette.ColorGroup, role: QPalette.ColorRole, fallback: str) -> QColor:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app.palette().color(group, role)
    return QColor(fallback)


@cache
def _icon(name: str, color: str | None) -> QIcon:
    family, _charmap = _font()
    pen = QColor(color) if color else _palette_color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText,
                                                      "#444444")
    disabled = _palette_color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, "#969696")
    return QIcon(GlyphIconEngine(glyph(name), family, pen, disabled))


def icon(name: str, color: str | None = None) -> QIcon:
    """The MDI icon ``name`` in ``color`` (default: the palette's text colour); cached per name and colour."""
    return _icon(name, color)


def clear_cache() -> None:
    """Forget icons after a palette change so they are drawn in the new colours."""
    _icon.cache_clear()
