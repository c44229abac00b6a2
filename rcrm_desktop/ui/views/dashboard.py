"""The Dashboard area: the instance's key counts at a glance, for every role.

The counts come from ``core.instance.dashboard_counts`` (numbers only, no
personal data), loaded off the UI thread. States people must not miss carry
colour *and* text: overdue requests in red ("past the legal deadline"),
requests due within a week in amber, restricted accounts in purple.
A card whose area the operator may open is clickable and asks the main window
to go there (``navigate_requested`` with the area's object name).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from rcrm_desktop.core import instance as core_instance
from rcrm_desktop.core.instance import DashboardCounts
from rcrm_desktop.core.permissions import ROLE_LABELS
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, icons, style, tasks
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.base import AreaView

log = logging.getLogger(__name__)

BRAND = style.BRAND
NEUTRAL = QColor("#546e7a")
RECORDINGS = QColor("#1565c0")
CRASHES = QColor("#d84315")


class Card(QFrame):
    """A framed count: an icon badge, a label, a big number and a note line. Clickable when it has a target."""

    clicked = Signal()

    def __init__(self, key: str, icon_name: str, label: str, accent: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.accent = accent
        self.target: str | None = None
        self.setObjectName("card")
        self.setProperty("clickable", False)
        self.setMinimumWidth(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(4)
        top = QHBoxLayout()
        top.setSpacing(10)
        self.badge = QLabel(self)
        self.badge.setFixedSize(34, 34)
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._icon_name = icon_name
        top.addWidget(self.badge)
        self.label = QLabel(label, self)
        self.label.setObjectName("cardLabel")
        self.label.setWordWrap(True)
        top.addWidget(self.label, 1)
        self.arrow = style.icon_label("chevron-right", 18, parent=self)
        self.arrow.setVisible(False)
        top.addWidget(self.arrow)
        layout.addLayout(top)
        layout.addSpacing(4)
        self.number = QLabel("—", self)
        self.number.setObjectName("cardNumber")
        self.number.setFont(style.scaled_font(self.font(), 2.2, QFont.Weight.DemiBold))
        layout.addWidget(self.number)
        self.note = QLabel(" ", self)
        self.note.setObjectName("cardLabel")
        layout.addWidget(self.note)
        self._paint_badge(accent)

    def _paint_badge(self, color: QColor) -> None:
        shown = style.state_color(color)
        self.badge.setPixmap(icons.icon(self._icon_name, shown.name()).pixmap(20, 20))
        tint = QColor(shown)
        self.badge.setStyleSheet(
            f"background: rgba({tint.red()}, {tint.green()}, {tint.blue()}, {70 if colors.is_dark() else 34});"
            "border-radius: 17px;")

    def set_value(self, value: int | None, note: str = "", color: QColor | None = None) -> None:
        """Show ``value``; ``color`` (a state colour) tints the number and the note, which then names the state."""
        self.number.setText("—" if value is None else f"{value:,}")
        self.note.setText(note or " ")
        if color is not None:
            shown = style.state_color(color).name()
            self.number.setStyleSheet(f"color: {shown};")
            self.note.setStyleSheet(f"color: {shown}; font-weight: 600;")
        else:
            self.number.setStyleSheet("")
            self.note.setStyleSheet("")

    def set_target(self, target: str | None, hint: str = "") -> None:
        self.target = target
        clickable = target is not None
        self.setProperty("clickable", clickable)
        self.setCursor(Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus if clickable else Qt.FocusPolicy.NoFocus)
        self.setToolTip(hint if clickable else "")
        self.arrow.setVisible(clickable)
        self.style().unpolish(self)
        self.style().polish(self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.target and event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position()
                                                                                                   .toPoint()):
            self.clicked.emit()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.target and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.clicked.emit()
            return
        super().keyPressEvent(event)


class CardGrid(QWidget):
    """Cards in rows; every grid on the page uses the same column count so card widths line up."""

    def __init__(self, columns: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cards: list[Card] = []
        self._fillers: list[QWidget] = []
        self._columns = columns
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(12)
        self._grid.setVerticalSpacing(12)

    def add(self, card: Card) -> None:
        self._cards.append(card)
        self._relayout()

    def set_columns(self, columns: int) -> None:
        columns = max(1, columns)
        if columns != self._columns:
            self._columns = columns
            self._relayout()

    def _relayout(self) -> None:
        for widget in [*self._cards, *self._fillers]:
            self._grid.removeWidget(widget)
        for filler in self._fillers:
            filler.deleteLater()
        self._fillers = []
        for c in range(max(self._grid.columnCount(), self._columns)):
            self._grid.setColumnStretch(c, 1 if c < self._columns else 0)
        for i, card in enumerate(self._cards):
            self._grid.addWidget(card, i // self._columns, i % self._columns)
        # Empty cells get an invisible card-sized filler so columns are as wide as in the other grids.
        for i in range(len(self._cards), -(-len(self._cards) // self._columns) * self._columns):
            filler = QWidget(self)
            filler.setMinimumWidth(200)
            filler.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self._fillers.append(filler)
            self._grid.addWidget(filler, i // self._columns, i % self._columns)


@dataclass(frozen=True)
class CardSpec:
    key: str
    icon: str
    label: str
    accent: QColor
    value: Callable[[DashboardCounts], int]
    target: str | None = None


class DashboardView(AreaView):
    """Cards for the key counts; clicking the user-account cards opens the Users area."""

    spec = AREA["DashboardView"]

    navigate_requested = Signal(str)

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.counts: DashboardCounts | None = None
        self.refreshed_at: dt.datetime | None = None
        self._loading = False
        self._targets: set[str] = set()
        self.cards: dict[str, Card] = {}
        self._grids: list[CardGrid] = []

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        page = QWidget()
        scroll.setWidget(page)
        self._page = page
        layout = QVBoxLayout(page)
        layout.setContentsMargins(28, 22, 28, 24)
        layout.setSpacing(10)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title()))
        self.welcome_label = style.page_subtitle(self._welcome_text())
        titles.addWidget(self.welcome_label)
        head.addLayout(titles, 1)
        self.refreshed_label = style.muted_label(self.tr("Not loaded yet"))
        head.addWidget(self.refreshed_label, 0, Qt.AlignmentFlag.AlignBottom)
        self.refresh_button = QPushButton(icons.icon("refresh"), self.tr("Refresh"))
        self.refresh_button.setToolTip(self.tr("Reload the counts (F5)"))
        self.refresh_button.clicked.connect(self.refresh)
        head.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.error_box = QFrame(page)
        self.error_box.setObjectName("errorBox")
        err = QHBoxLayout(self.error_box)
        err.setContentsMargins(12, 8, 12, 8)
        err.addWidget(style.icon_label("alert-circle-outline", 20, style.state_color(colors.OVERDUE)))
        self.error_label = QLabel(self.error_box)
        self.error_label.setWordWrap(True)
        err.addWidget(self.error_label, 1)
        self.error_box.setVisible(False)
        layout.addWidget(self.error_box)
        layout.addSpacing(6)

        for heading, specs in self._sections():
            layout.addWidget(style.section_heading(heading))
            grid = CardGrid()
            for spec in specs:
                card = Card(spec.key, spec.icon, spec.label, spec.accent)
                card.clicked.connect(lambda c=card: self._open(c))
                self.cards[spec.key] = card
                grid.add(card)
            self._grids.append(grid)
            layout.addWidget(grid)
            layout.addSpacing(10)
        layout.addStretch(1)
        self._specs = {spec.key: spec for _h, specs in self._sections() for spec in specs}

    def _sections(self) -> list[tuple[str, list[CardSpec]]]:
        return [
            (self.tr("Rights requests"), [
                CardSpec("requests_open", "clipboard-list-outline", self.tr("Open requests"), colors.HOLD,
                         lambda c: c.requests_open, "RequestsView"),
                CardSpec("requests_overdue", "clock-alert-outline", self.tr("Overdue requests"), colors.OVERDUE,
                         lambda c: c.requests_overdue, "RequestsView"),
                CardSpec("requests_due_soon", "calendar-clock", self.tr("Due within 7 days"), colors.DUE_SOON,
                         lambda c: c.requests_due_soon, "RequestsView"),
            ]),
            (self.tr("Personal data held"), [
                CardSpec("subjects", "account-group-outline", self.tr("User accounts"), BRAND,
                         lambda c: c.subjects, "UsersView"),
                CardSpec("restricted", "account-lock-outline", self.tr("Restricted accounts"), colors.RESTRICTED,
                         lambda c: c.restricted_subjects, "UsersView"),
                CardSpec("recordings", "microphone-outline", self.tr("Call recordings"), RECORDINGS,
                         lambda c: c.recordings, "RecordingsView"),
                CardSpec("crash_events", "bug-outline", self.tr("Crash events"), CRASHES,
                         lambda c: c.crash_events, "CrashesView"),
            ]),
            (self.tr("Instance"), [
                CardSpec("crash_groups_open", "alert-decagram-outline", self.tr("Open crash groups"), CRASHES,
                         lambda c: c.crash_groups_open, "CrashesView"),
                CardSpec("operators_active", "shield-account-outline", self.tr("Active operators"), NEUTRAL,
                         lambda c: c.operators_active, "OperatorsView"),
                CardSpec("audit_today", "calendar-today", self.tr("Audit events today"), NEUTRAL,
                         lambda c: c.audit_events_today, "AuditView"),
                CardSpec("audit_total", "clipboard-text-clock-outline", self.tr("Audit events in total"), NEUTRAL,
                         lambda c: c.audit_events, "AuditView"),
            ]),
        ]

    def _welcome_text(self) -> str:
        actor = self.session.actor
        return (self.tr("Welcome, %1 · %2 · %3").replace("%1", actor.display_name)
                .replace("%2", ROLE_LABELS[actor.role]).replace("%3", self.session.instance_name))

    # -- navigation

    def set_navigation_targets(self, targets: set[str]) -> None:
        """The areas the main window can open; cards pointing elsewhere are not clickable."""
        self._targets = set(targets)
        for key, card in self.cards.items():
            target = self._specs[key].target
            ok = target if target in self._targets else None
            card.set_target(ok, self.tr("Open %1").replace("%1", card.label.text()))

    def _open(self, card: Card) -> None:
        if card.target:
            self.navigate_requested.emit(card.target)

    # -- loading

    def activate(self) -> None:
        if self.counts is None and not self._loading:
            self.refresh()

    def refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        self.refresh_button.setEnabled(False)
        self.refreshed_label.setText(self.tr("Loading…"))
        actor = self.session.actor
        tasks.run_task(lambda _task: core_instance.dashboard_counts(actor), self._loaded, self._failed)

    def _loaded(self, counts: object) -> None:
        if not isValid(self):
            return
        self._loading = False
        self.refresh_button.setEnabled(True)
        assert isinstance(counts, DashboardCounts)
        self.counts = counts
        self.refreshed_at = dt.datetime.now()
        self.error_box.setVisible(False)
        self.refreshed_label.setText(self.tr("Last refreshed at %1").replace(
            "%1", self.refreshed_at.strftime("%H:%M:%S")))
        for key, card in self.cards.items():
            value = self._specs[key].value(counts)
            note, color = self._state(key, value)
            card.set_value(value, note, color)

    def _state(self, key: str, value: int) -> tuple[str, QColor | None]:
        """The note under a number; a colour only for the states people must not miss."""
        if key == "requests_overdue":
            if value:
                return self.tr("Past the legal deadline"), colors.OVERDUE
            return self.tr("None overdue"), colors.OK
        if key == "requests_due_soon":
            if value:
                return self.tr("Answer within 7 days"), colors.DUE_SOON
            return self.tr("Nothing due this week"), None
        if key == "restricted":
            if value:
                return self.tr("Processing restricted (Art. 18)"), colors.RESTRICTED
            return self.tr("None restricted"), None
        notes = {
            "requests_open": self.tr("Received, not yet closed"),
            "subjects": self.tr("Data subjects in the CRM"),
            "recordings": self.tr("In the recordings store"),
            "crash_events": self.tr("Scrubbed crash reports"),
            "crash_groups_open": self.tr("Unresolved, not merged"),
            "operators_active": self.tr("Accounts that can log in"),
            "audit_today": self.tr("Since local midnight"),
            "audit_total": self.tr("Hash-chained, append-only"),
        }
        return notes.get(key, ""), None

    def _failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._loading = False
        self.refresh_button.setEnabled(True)
        self.refreshed_label.setText(self.tr("Not loaded"))
        if isinstance(exc, RcrmError):
            text = exc.message
        else:
            log.error("Dashboard counts failed: %s", type(exc).__name__)
            text = self.tr("The counts could not be loaded (%1). See the log file.").replace(
                "%1", type(exc).__name__)
        self.error_label.setText(text)
        self.error_box.setVisible(True)

    # -- layout

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        usable = max(0, self.width() - 56)
        columns = max(1, min(4, (usable + 12) // (200 + 12)))
        for grid in self._grids:
            grid.set_columns(columns)

    def save_state(self, settings: QSettings) -> None:
        """Nothing to remember: the dashboard always shows fresh counts."""
