"""The timeline of a rights request: every step with its operator and time, oldest first.

Each step shows an icon and colour for its kind (colour never alone: the
title says what happened), the sentence core stored, who did it, and when —
local time with a relative hint, the exact UTC time in the tooltip
(ARCHITECTURE.md, UI conventions). A failed step is red and says that nothing
changed and the step can be tried again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from rcrm_desktop.core.requests import STATES, EventRow
from rcrm_desktop.ui import colors, fmt, icons, style


def tr(text: str) -> str:
    return QCoreApplication.translate("Timeline", text)


#: kind → (MDI icon, colour, title)
KINDS: dict[str, tuple[str, QColor, str]] = {
    "created": ("file-document-plus-outline", colors.HOLD, "Request received"),
    "state": ("swap-horizontal", colors.HOLD, "State changed"),
    "verified": ("account-check-outline", colors.OK, "Identity verified"),
    "waiting": ("timer-sand", colors.DUE_SOON, "Waiting for the requester"),
    "resumed": ("play-circle-outline", colors.HOLD, "Requester answered"),
    "extended": ("calendar-clock", colors.DUE_SOON, "Deadline extended"),
    "matched": ("link-variant", colors.HOLD, "Matched to a user account"),
    "package": ("package-variant-closed", colors.OK, "Access package built"),
    "review": ("eye-check-outline", colors.HOLD, "Package reviewed"),
    "rectified": ("account-edit-outline", colors.OK, "Data corrected"),
    "restricted": ("lock-outline", colors.RESTRICTED, "Processing restricted"),
    "objected": ("hand-back-left-off", colors.DUE_SOON, "Objection recorded"),
    "lifted": ("lock-open-variant-outline", colors.MUTED, "Restriction or objection lifted"),
    "erased": ("delete-forever-outline", colors.OVERDUE, "User account erased"),
    "step_failed": ("alert-circle-outline", colors.OVERDUE, "Step failed — nothing changed"),
    "note": ("note-text-outline", colors.MUTED, "Note"),
}

_STATE_COLORS = {"completed": colors.OK, "rejected": colors.OVERDUE, "withdrawn": colors.MUTED,
                 "in_progress": colors.HOLD, "identity_verification": colors.HOLD,
                 "awaiting_requester": colors.DUE_SOON}
_STATE_ICONS = {"completed": "check-circle-outline", "rejected": "close-circle-outline", "withdrawn": "cancel",
                "in_progress": "play-circle-outline", "identity_verification": "account-question-outline",
                "awaiting_requester": "pause-circle-outline"}


_LONG_WORD = re.compile(r"\S{25,}")


def soft_wrap(text: str) -> str:
    """Let a label break long unbroken tokens (a SHA-256, a path) by inserting zero-width spaces."""
    return _LONG_WORD.sub(lambda m: "\u200b".join(m.group(0)[i:i + 16] for i in range(0, len(m.group(0)), 16)),
                          text)


def describe(event: EventRow) -> tuple[str, QColor, str]:
    """(icon, colour, title) of one event; a state change is titled with the state it led to."""
    icon, color, title = KINDS.get(event.kind, ("circle-medium", colors.MUTED, event.kind))
    if event.kind == "state" and event.detail and "→" in event.detail:
        after = event.detail.split("→", 1)[1].strip()
        for key, label in STATES.items():
            if after.startswith(label):
                return _STATE_ICONS.get(key, icon), _STATE_COLORS.get(key, color), tr(label)
    return icon, color, tr(title)


class _Rail(QWidget):
    """The icon bubble and the line down to the next step."""

    def __init__(self, icon_name: str, color: QColor, last: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = style.state_color(color)
        self.last = last
        self.setFixedWidth(30)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.pixmap = icons.icon(icon_name, self.color.name()).pixmap(16, 16)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        center = self.width() / 2
        if not self.last:
            line = QColor(self.palette().color(self.foregroundRole()))
            line.setAlpha(60)
            painter.setPen(QPen(line, 2))
            painter.drawLine(int(center), 28, int(center), self.height())
        fill = colors.tint(self.color)
        fill.setAlpha(min(255, fill.alpha() + 30))
        painter.setPen(QPen(self.color, 1.5))
        painter.setBrush(fill)
        painter.drawEllipse(QRectF(center - 13, 1, 26, 26))
        painter.drawPixmap(int(center - 8), 6, self.pixmap)
        painter.end()


class TimelineEntry(QWidget):
    """One step: rail, title, sentence, "operator · time"."""

    def __init__(self, event: EventRow, last: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step = event
        icon_name, color, title = describe(event)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(10)
        row.addWidget(_Rail(icon_name, color, last, self))
        texts = QVBoxLayout()
        texts.setContentsMargins(0, 2, 0, 14)
        texts.setSpacing(2)
        self.title = QLabel(title, self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setWeight(QFont.Weight.DemiBold)
        self.title.setFont(font)
        if event.kind in ("step_failed", "erased"):
            self.title.setStyleSheet(f"color: {style.state_color(color).name()};")
        texts.addWidget(self.title)
        self.detail = QLabel(soft_wrap(event.detail or ""), self)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setVisible(bool(event.detail))
        texts.addWidget(self.detail)
        self.meta = style.muted_label(
            tr("%1 · %2").replace("%1", event.operator_name or event.operator)
            .replace("%2", fmt.local_with_relative(event.at)), self)
        self.meta.setToolTip(tr("%1 (operator %2)").replace("%1", fmt.utc_tooltip(event.at))
                             .replace("%2", event.operator))
        texts.addWidget(self.meta)
        row.addLayout(texts, 1)

    def text(self) -> str:
        """Title, sentence and meta line as plain text (tests, accessibility)."""
        parts = (self.title.text(), self.detail.text().replace("\u200b", ""), self.meta.text())
        return "\n".join(t for t in parts if t)


class TimelineWidget(QFrame):
    """Every step of a request, oldest first (``set_events``); an empty timeline says so."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 4, 0, 0)
        self._layout.setSpacing(0)
        self.entries: list[TimelineEntry] = []
        self.empty = style.muted_label(tr("No steps yet."), self)
        self._layout.addWidget(self.empty)

    def set_events(self, events: Sequence[EventRow]) -> None:
        for entry in self.entries:
            self._layout.removeWidget(entry)
            entry.hide()
            entry.deleteLater()
        self.entries = []
        self.empty.setVisible(not events)
        for i, event in enumerate(events):
            entry = TimelineEntry(event, i == len(events) - 1, self)
            self._layout.addWidget(entry)
            self.entries.append(entry)

    def texts(self) -> list[str]:
        return [e.text() for e in self.entries]
