"""Icons bundled with the program (QtAwesome's Material Design Icons font, shipped in the wheel).

Nothing is fetched at run time. ``icon("account-group")`` takes an MDI name;
colours follow the current palette so the icons work on light and dark themes.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication


def _palette_color(role: QPalette.ColorRole) -> QColor:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app.palette().color(role)
    return QColor("#444444")


@cache
def _icon(name: str, color: str | None) -> QIcon:
    import qtawesome

    options = {"color": color} if color else {"color": _palette_color(QPalette.ColorRole.WindowText).name()}
    return qtawesome.icon(f"mdi6.{name}", **options)


def icon(name: str, color: str | None = None) -> QIcon:
    return _icon(name, color)


def clear_cache() -> None:
    """Forget icons after a palette change so they are drawn in the new colours."""
    _icon.cache_clear()
