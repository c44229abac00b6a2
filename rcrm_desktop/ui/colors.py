"""Colours for states people must not miss (always paired with text, never colour alone)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

OVERDUE = QColor("#c62828")
DUE_SOON = QColor("#ef8f00")
RESTRICTED = QColor("#6a1b9a")
HOLD = QColor("#1565c0")
OK = QColor("#2e7d32")
MUTED = QColor("#757575")


def is_dark() -> bool:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def tint(color: QColor) -> QColor:
    """A pale background version of ``color`` that works on light and dark palettes."""
    c = QColor(color)
    c.setAlpha(60 if is_dark() else 38)
    return c
