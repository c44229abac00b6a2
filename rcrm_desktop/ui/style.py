"""The look of RCRM Desktop: Fusion, the system palette, and a small style sheet derived from it.

Everything here reads the current ``QPalette``, so the application follows the
system's light or dark theme (ARCHITECTURE.md: "Follow the system palette; test
a dark palette too"). Colours for states people must not miss come from
``ui.colors`` and are always paired with text by the callers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QPushButton, QStyleFactory, QVBoxLayout, QWidget

from rcrm_desktop import paths
from rcrm_desktop.ui import colors, icons

#: The brand colour of the application icon (a deep teal that reads on light and dark backgrounds).
BRAND = QColor("#00796b")

#: Width of the navigation rail, in device-independent pixels.
RAIL_WIDTH = 176


def app_icon() -> QIcon:
    """The bundled application icon; falls back to an MDI shield in the brand colour."""
    for name in ("org.rcrm.Desktop.svg", "rcrm-desktop.svg", "org.rcrm.Desktop.png", "rcrm-desktop.png"):
        candidate = paths.resource("icons", name)
        if candidate.is_file():
            return QIcon(str(candidate))
    return icons.icon("shield-account", BRAND.name())


def _mix(a: QColor, b: QColor, amount: float) -> QColor:
    """``a`` moved ``amount`` (0..1) of the way towards ``b``."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * amount),
        round(a.green() + (b.green() - a.green()) * amount),
        round(a.blue() + (b.blue() - a.blue()) * amount),
    )


def _rgba(color: QColor, alpha: int) -> str:
    return f"rgba({color.red()}, {color.green()}, {color.blue()}, {alpha})"


def build_stylesheet(palette: QPalette) -> str:
    """The application style sheet for ``palette`` (recomputed when the palette changes)."""
    window = palette.color(QPalette.ColorRole.Window)
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.WindowText)
    highlight = palette.color(QPalette.ColorRole.Highlight)
    dark = window.lightness() < 128
    rail = _mix(window, text, 0.05 if not dark else 0.06)
    border = _mix(window, text, 0.16 if not dark else 0.22)
    card = base if not dark else _mix(window, text, 0.05)
    muted = _mix(text, window, 0.42)
    hover = _mix(rail, text, 0.06)
    selected = _mix(rail, highlight, 0.18 if not dark else 0.32)
    return f"""
QFrame#navRailPanel {{ background: {rail.name()}; border: none; border-right: 1px solid {border.name()}; }}
QLabel#brandTitle {{ font-weight: 600; }}
QLabel#brandSubtitle {{ color: {muted.name()}; }}
QListWidget#navRail {{ background: transparent; border: none; outline: none; }}
QListWidget#navRail::item {{ padding: 7px 8px; margin: 1px 8px; border-radius: 6px; color: {text.name()}; }}
QListWidget#navRail::item:hover {{ background: {hover.name()}; }}
QListWidget#navRail::item:selected {{ background: {selected.name()}; color: {text.name()};
    border-left: 3px solid {highlight.name()}; padding-left: 5px; }}
QFrame#card {{ background: {card.name()}; border: 1px solid {border.name()}; border-radius: 8px; }}
QFrame#card[clickable="true"]:hover {{ border: 1px solid {highlight.name()}; }}
QFrame#card:focus {{ border: 1px solid {highlight.name()}; }}
QFrame#card QLabel {{ background: transparent; border: none; }}
QLabel#cardLabel, QLabel#muted, QLabel#pageSubtitle, QLabel#rowCount, QLabel#fieldCaption {{ color: {muted.name()}; }}
QLabel#sectionHeading {{ color: {muted.name()}; font-weight: 600; padding-top: 6px; }}
QFrame#detailPane {{ background: {card.name()}; border: 1px solid {border.name()}; border-radius: 6px; }}
QFrame#detailPane QLabel {{ background: transparent; }}
QLabel#emptyState {{ color: {muted.name()}; }}
QLabel#errorText {{ color: {colors.OVERDUE.name() if not dark else "#ff8a80"}; }}
QFrame#infoBox {{ background: {_rgba(colors.HOLD, 60 if dark else 28)}; border: 1px solid {_rgba(colors.HOLD, 140)};
    border-radius: 6px; }}
QFrame#errorBox {{ background: {_rgba(colors.OVERDUE, 60 if dark else 24)};
    border: 1px solid {_rgba(colors.OVERDUE, 140)}; border-radius: 6px; }}
QFrame#infoBox QLabel, QFrame#errorBox QLabel {{ background: transparent; }}
QFrame#headerBand {{ background: {rail.name()}; border: none; border-bottom: 1px solid {border.name()}; }}
QFrame#lockCover {{ background: {rail.name()}; }}
QFrame#separatorLine {{ color: {border.name()}; }}
"""


def apply(app: QApplication) -> None:
    """Fusion style, the current palette, the house style sheet and a readable default font size."""
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    refresh(app)


def refresh(app: QApplication) -> None:
    """Re-derive the style sheet and icons after a palette change (light ↔ dark)."""
    icons.clear_cache()
    app.setStyleSheet(build_stylesheet(app.palette()))


def dark_palette() -> QPalette:
    """A dark palette for checking the screens on a dark desktop (tests, screenshots)."""
    p = QPalette()
    window = QColor("#202124")
    base = QColor("#17181a")
    text = QColor("#e8eaed")
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, QColor("#232427"))
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, QColor("#2b2c30"))
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, QColor("#2b2c30"))
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor("#9aa0a6"))
        p.setColor(group, QPalette.ColorRole.Highlight, QColor("#26a69a"))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor("#0b0c0d"))
        p.setColor(group, QPalette.ColorRole.Link, QColor("#80cbc4"))
        p.setColor(group, QPalette.ColorRole.Light, QColor("#3c4043"))
        p.setColor(group, QPalette.ColorRole.Midlight, QColor("#34363a"))
        p.setColor(group, QPalette.ColorRole.Mid, QColor("#2a2b2e"))
        p.setColor(group, QPalette.ColorRole.Dark, QColor("#111214"))
        p.setColor(group, QPalette.ColorRole.Shadow, QColor("#000000"))
    muted = QColor("#7f8388")
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, muted)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#2b2c30"))
    return p


def scaled_font(base: QFont, factor: float, weight: QFont.Weight | None = None) -> QFont:
    """``base`` scaled by ``factor`` (point or pixel size, whichever the font uses)."""
    font = QFont(base)
    if font.pointSizeF() > 0:
        font.setPointSizeF(max(1.0, font.pointSizeF() * factor))
    elif font.pixelSize() > 0:
        font.setPixelSize(max(1, round(font.pixelSize() * factor)))
    if weight is not None:
        font.setWeight(weight)
    return font


def page_title(text: str, parent: QWidget | None = None) -> QLabel:
    """The large title on top of an area."""
    label = QLabel(text, parent)
    label.setObjectName("pageTitle")
    label.setFont(scaled_font(label.font(), 1.55, QFont.Weight.DemiBold))
    return label


def page_subtitle(text: str, parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("pageSubtitle")
    label.setWordWrap(True)
    return label


def section_heading(text: str, parent: QWidget | None = None) -> QLabel:
    """A heading that separates groups of cards or fields."""
    label = QLabel(text.upper(), parent)
    label.setObjectName("sectionHeading")
    font = scaled_font(label.font(), 0.9, QFont.Weight.DemiBold)
    font.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 106)
    label.setFont(font)
    return label


def muted_label(text: str = "", parent: QWidget | None = None, name: str = "muted") -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    return label


def icon_label(icon_name: str, size: int = 20, color: QColor | str | None = None,
               parent: QWidget | None = None) -> QLabel:
    """A label that shows one MDI icon at ``size`` pixels."""
    label = QLabel(parent)
    tint = color.name() if isinstance(color, QColor) else color
    label.setPixmap(icons.icon(icon_name, tint).pixmap(size, size))
    label.setFixedSize(size, size)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def hline(parent: QWidget | None = None) -> QFrame:
    line = QFrame(parent)
    line.setObjectName("separatorLine")
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Plain)
    return line


ENGINE_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def fit_height(dialog: QWidget) -> None:
    """Give ``dialog`` at least the height its layout needs at its width, wrapped labels included.

    A top-level layout's minimum size ignores height-for-width, so a form with
    a word-wrapped label came up shorter than its rows need and squeezed them
    into each other (the new request dialog drew its search hint over the list
    of matches). Call it once the layout is complete.
    """
    layout = dialog.layout()
    if layout is None:
        return
    width = max(dialog.minimumWidth(), dialog.sizeHint().width())
    needed = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else dialog.sizeHint().height()
    dialog.setMinimumHeight(max(dialog.minimumHeight(), needed))
    dialog.resize(width, max(dialog.height(), needed))


def engine_label(engine: str) -> str:
    """The database engine as people name it."""
    return ENGINE_LABELS.get(engine, engine)


def count_text(n: int, one: str, many: str) -> str:
    """``one`` or ``many`` (both already translated, with ``%1`` for the number) for ``n``."""
    return (one if n == 1 else many).replace("%1", f"{n:,}")


def state_color(color: QColor) -> QColor:
    """A state colour made readable on the current palette (lighter on dark backgrounds)."""
    return QColor(color).lighter(150) if colors.is_dark() else QColor(color)


class EmptyState(QWidget):
    """What an empty table shows instead: an icon, what belongs here, and optionally the action to take."""

    def __init__(self, icon_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        self.icon = icon_label(icon_name, 48, parent=self)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignHCenter)
        self.title = QLabel(self)
        self.title.setFont(scaled_font(self.title.font(), 1.15, QFont.Weight.DemiBold))
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.text = QLabel(self)
        self.text.setObjectName("emptyState")
        self.text.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.text.setWordWrap(True)
        layout.addWidget(self.text)
        self.button = QPushButton(self)
        self.button.setVisible(False)
        layout.addSpacing(6)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)

    def set_text(self, title: str, text: str = "", action: str = "") -> None:
        self.title.setText(title)
        self.text.setText(text)
        self.text.setVisible(bool(text))
        self.button.setText(action)
        self.button.setVisible(bool(action))
