"""The Crash reports area: crash groups, one group's chart, releases, grouping and events, and an event viewer.

Guarantees (issue "crash reports"; ARCHITECTURE.md, Qt patterns and UI conventions):

* The groups table is a ``KeysetTableModel`` over ``core.crashes.list_groups``:
  keyset pages sorted in the database by events, last seen, first seen or
  affected users, filtered by state, release, environment, platform/OS, time
  and text — each filter an indexed query, so a million events cost one page.
  Counters are read from the group rows, never counted from events.
* Regressed groups carry colour *and* text ("Regressed") in the table and the
  detail; resolved, ignored and unresolved groups say so in words too.
* The detail pane (right, in a splitter whose sizes are remembered) shows the
  events per day (14/30/90 days), the releases affected, the fingerprint
  explanation ("why these events are one group"), the group's events and the
  selected event in ``EventViewer``.
* Every change goes through ``core.crashes`` (permissions and audit live
  there); buttons a role may not use are disabled with a tooltip that says why.
* Import and re-scrub run in the background (``ui.tasks.run_task``) with a
  progress dialog whose Cancel stops the work after the current batch, then a
  summary with what was refused and why.
* The linked user account of an event is shown only to roles with
  ``subjects.view``, on request, and the look is audited (``EventViewer``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QModelIndex, QPersistentModelIndex, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QAction, QColor, QFont, QFontDatabase, QIcon, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings as app_options
from rcrm_desktop.core import crashes
from rcrm_desktop.core.crashes import (
    EventRow,
    FilterOptions,
    GroupDetail,
    GroupFilter,
    GroupRow,
    ImportReport,
    RescrubReport,
)
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.scrub import ScrubRule
from rcrm_desktop.db.models import utcnow
from rcrm_desktop.errors import RcrmError, ValidationError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.models.keyset import Column, KeysetTableModel
from rcrm_desktop.ui.progress import close_progress, open_progress, update_progress
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.tasks import Task, run_task
from rcrm_desktop.ui.views.base import (
    AreaView,
    FilterBar,
    SearchField,
    column_of_sort_key,
    selected_model_row,
    setup_table,
    show_sort_indicator,
)
from rcrm_desktop.ui.widgets.crash_chart import CrashChart
from rcrm_desktop.ui.widgets.event_viewer import EventViewer

log = logging.getLogger(__name__)

#: Refused records listed in an import summary (all of them go to "Show Details").
SUMMARY_REFUSED = 8

#: Chart ranges offered, in days.
CHART_RANGES = (14, 30, 90)

#: Time filters: label → age in hours (None: any time).
TIME_FILTERS: tuple[tuple[str, int | None], ...] = (
    ("Any time", None), ("Last 24 hours", 24), ("Last 7 days", 24 * 7), ("Last 30 days", 24 * 30),
    ("Last 90 days", 24 * 90),
)

REGRESSED = colors.OVERDUE
RESOLVED = colors.OK
UNRESOLVED = colors.DUE_SOON
IGNORED = colors.MUTED

Index = QModelIndex | QPersistentModelIndex


def tr(text: str) -> str:
    return QCoreApplication.translate("CrashesView", text)


def status_text(row: GroupRow) -> str:
    """The state in words (never colour alone)."""
    if row.merged_into is not None:
        return tr("Merged into #%1").replace("%1", str(row.merged_into))
    if row.state == "unresolved" and row.regressed:
        return tr("Regressed")
    if row.state == "resolved":
        return tr("Resolved in %1").replace("%1", row.resolved_in_release) if row.resolved_in_release \
            else tr("Resolved")
    if row.state == "ignored":
        return tr("Ignored")
    return tr("Unresolved")


def status_color(row: GroupRow) -> QColor:
    if row.state == "unresolved" and row.regressed:
        return REGRESSED
    return {"resolved": RESOLVED, "ignored": IGNORED}.get(row.state, UNRESOLVED)


def status_icon_name(row: GroupRow) -> str:
    if row.state == "unresolved" and row.regressed:
        return "alert-decagram"
    return {"resolved": "check-circle-outline", "ignored": "bell-off-outline"}.get(row.state, "alert-circle-outline")


def level_color(level: str) -> QColor:
    return {"fatal": colors.OVERDUE, "error": QColor("#d84315"), "warning": colors.DUE_SOON,
            "info": colors.HOLD}.get(level, colors.MUTED)


def _short_age(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """A compact age for a narrow column ("5 min ago", "3 h ago", "2 mo ago"); the tooltip has the exact time."""
    seconds = ((now or utcnow()) - value).total_seconds()
    if seconds < 0:
        return fmt.relative(value)
    if seconds < 60:
        return tr("just now")
    for size, unit in ((365 * 86400, tr("y")), (30 * 86400, tr("mo")), (86400, tr("d")), (3600, tr("h")),
                       (60, tr("min"))):
        if seconds >= size:
            return tr("%1 %2 ago").replace("%1", str(int(seconds // size))).replace("%2", unit)
    return ""


# ================================================================ table delegate


class GroupTitleDelegate(QStyledItemDelegate):
    """Draws a group as two lines: the title (bold) over the culprit (muted), with a level bar on the left."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = index.data(Qt.ItemDataRole.UserRole)
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()
        widget = opt.widget
        qstyle = widget.style() if widget is not None else QApplication.style()
        qstyle.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        if not isinstance(row, GroupRow):
            return
        painter.save()
        rect = option.rect
        bar = QRect(rect.left() + 4, rect.top() + 7, 3, rect.height() - 14)
        painter.fillRect(bar, level_color(row.level))
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        fg = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        muted = fg if selected else palette.color(QPalette.ColorRole.PlaceholderText)
        text_rect = rect.adjusted(14, 5, -8, -5)
        half = text_rect.height() // 2
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(fg)
        metrics = painter.fontMetrics()
        badge = ""
        if row.state == "unresolved" and row.regressed:
            badge = tr("REGRESSED")
        title_width = text_rect.width()
        if badge and text_rect.width() < metrics.horizontalAdvance(badge) + 90:
            badge = ""  # too narrow: the Status column still says "Regressed"
        if badge:
            small = QFont(option.font)
            small.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.78))
            small.setWeight(QFont.Weight.Bold)
            painter.setFont(small)
            width = painter.fontMetrics().horizontalAdvance(badge) + 10
            badge_rect = QRect(text_rect.right() - width, text_rect.top() + 1, width, half - 2)
            color = style.state_color(REGRESSED)
            painter.setPen(color)
            tint = colors.tint(REGRESSED)
            painter.setBrush(tint)
            painter.drawRoundedRect(badge_rect, 4, 4)
            painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)
            title_width -= width + 8
            painter.setFont(title_font)
            painter.setPen(fg)
        title = metrics.elidedText(row.title, Qt.TextElideMode.ElideRight, title_width)
        painter.drawText(QRect(text_rect.left(), text_rect.top(), title_width, half),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), title)
        painter.setFont(option.font)
        painter.setPen(muted)
        culprit = row.culprit or tr("no culprit")
        if row.merged_count:
            culprit += "  ·  " + tr("+%1 merged").replace("%1", str(row.merged_count))
        culprit = painter.fontMetrics().elidedText(culprit, Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.top() + half, text_rect.width(), half),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), culprit)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        height = option.fontMetrics.height() * 2 + 14
        return QSize(320, height)


# ================================================================ small widgets


class _Tile(QFrame):
    """A value with its caption ("1,234 / Events")."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        self.value = QLabel("—", self)
        self.value.setFont(style.scaled_font(self.value.font(), 1.3, QFont.Weight.DemiBold))
        self.value.setTextFormat(Qt.TextFormat.PlainText)
        self.caption = style.muted_label(caption, self, "cardLabel")
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set(self, value: str, tooltip: str = "", color: QColor | None = None) -> None:
        self.value.setText(value)
        self.setToolTip(tooltip)
        self.value.setStyleSheet(f"color: {style.state_color(color).name()};" if color is not None else "")


class _Chip(QLabel):
    """A rounded state label (colour and text)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def set_state(self, text: str, color: QColor) -> None:
        fg = style.state_color(color)
        bg = colors.tint(color)
        radius = self.fontMetrics().height() // 2 + 2
        self.setText(text)
        self.setStyleSheet(
            f"QLabel {{ color: {fg.name()}; background-color: rgba({bg.red()}, {bg.green()}, {bg.blue()}, "
            f"{bg.alpha()}); border: 1px solid {fg.name()}; border-radius: {radius}px; padding: 1px 9px;"
            " font-weight: 600; }")
        self.setVisible(bool(text))


# ================================================================ dialogs


class MergeDialog(QDialog):
    """Choose the group that ``source`` is merged into (searchable list of other unmerged groups)."""

    def __init__(self, session: AppSession, source: GroupRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.source = source
        self.setWindowTitle(self.tr("Merge crash group"))
        self.setMinimumSize(560, 420)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Merge #%1 “%2” into another group. Its %3 events move there; new events of its "
                               "fingerprint follow the merge. Unmerge splits it off again.")
                       .replace("%1", str(source.id)).replace("%2", source.title[:80])
                       .replace("%3", fmt.count(source.event_count)), self)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(intro)
        self.search = SearchField(self.tr("Search title, culprit or #number"), self)
        self.search.search_changed.connect(lambda _t: self.reload())
        layout.addWidget(self.search)
        self.list = QListWidget(self)
        self.list.setObjectName("mergeTargets")
        self.list.itemDoubleClicked.connect(lambda _i: self.accept())
        layout.addWidget(self.list, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.merge_button = self.buttons.addButton(self.tr("Merge"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.merge_button.setIcon(icons.icon("call-merge"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.list.currentRowChanged.connect(lambda _r: self.merge_button.setEnabled(self.target_id() is not None))
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        text = self.search.text().strip() or None
        try:
            rows = crashes.list_groups(self.session.actor, GroupFilter(text=text), sort="event_count", limit=200)
        except RcrmError as exc:
            item = QListWidgetItem(exc.message)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(item)
            rows = []
        for row in rows:
            if row.id == self.source.id:
                continue
            item = QListWidgetItem(icons.icon(status_icon_name(row), style.state_color(status_color(row)).name()),
                                   f"#{row.id}  {row.title}\n      {row.culprit or ''} · "
                                   f"{fmt.count(row.event_count)} events · {status_text(row)}")
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            self.list.addItem(item)
        self.merge_button.setEnabled(self.target_id() is not None)

    def target_id(self) -> int | None:
        item = self.list.currentItem()
        value = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return int(value) if value is not None else None

    def select_target(self, group_id: int) -> bool:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == group_id:
                self.list.setCurrentRow(i)
                return True
        return False


class ScrubRulesDialog(QDialog):
    """The scrub rules, built-in and added; administrators (``settings.edit``) add and remove their own."""

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.can_edit = session.actor.can(Permission.SETTINGS_EDIT)
        self.setWindowTitle(self.tr("Scrub rules"))
        self.setObjectName("scrubRulesDialog")
        self.resize(960, 580)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("Crash reports are scrubbed before anything is stored: values of sensitive keys are "
                               "replaced whole, and text that looks like personal data is replaced by "
                               "“[Filtered]”. New rules apply to new imports at once; “Re-scrub” applies them to "
                               "stored events."), self)
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(intro)
        self.table = QTableWidget(0, 4, self)
        self.table.setObjectName("rulesTable")
        self.table.setHorizontalHeaderLabels([self.tr("What is filtered"), self.tr("Looks at"),
                                              self.tr("Pattern"), self.tr("Origin")])
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.shown: list[tuple[str, str, str, str, ScrubRule | None]] = []
        layout.addWidget(self.table, 1)

        self.form = QFrame(self)
        self.form.setObjectName("card")
        form = QFormLayout(self.form)
        self.name_edit = QLineEdit(self.form)
        self.name_edit.setPlaceholderText(self.tr("e.g. Contract numbers"))
        self.pattern_edit = QLineEdit(self.form)
        self.pattern_edit.setPlaceholderText(self.tr("a regular expression, e.g. CUST-\\d+"))
        self.kind_combo = QComboBox(self.form)
        self.kind_combo.addItem(self.tr("Text that matches the pattern"), "value")
        self.kind_combo.addItem(self.tr("Values of keys containing the pattern"), "key")
        add_row = QHBoxLayout()
        add_row.addWidget(self.kind_combo, 1)
        self.add_button = QPushButton(icons.icon("plus"), self.tr("Add rule"), self.form)
        self.add_button.clicked.connect(self._add_clicked)
        self.remove_button = QPushButton(icons.icon("delete-outline"), self.tr("Remove selected"), self.form)
        self.remove_button.clicked.connect(self._remove_clicked)
        add_row.addWidget(self.add_button)
        add_row.addWidget(self.remove_button)
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Pattern"), self.pattern_edit)
        form.addRow(self.tr("Kind"), add_row)
        self.error_label = QLabel(self.form)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow("", self.error_label)
        layout.addWidget(self.form)
        self.form.setVisible(self.can_edit)
        self.note = style.muted_label(self.tr("Only an administrator can add rules (permission settings.edit); "
                                              "adding one is recorded in the audit log."), self)
        self.note.setWordWrap(True)
        self.note.setVisible(not self.can_edit)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.rules: list[ScrubRule] = []
        self.reload()

    def reload(self) -> None:
        try:
            self.rules = crashes.scrub_rules(self.session.actor)
        except RcrmError as exc:
            self.rules = []
            self.error_label.setText(exc.message)
        builtin_keys = [r for r in self.rules if r.builtin and r.kind == "key" and r.name.startswith("key:")]
        shown: list[tuple[str, str, str, str, ScrubRule | None]] = []
        if builtin_keys:
            shown.append((self.tr("Values of sensitive keys"), self.tr("key names"),
                          ", ".join(r.pattern for r in builtin_keys), self.tr("built-in"), None))
        for rule in self.rules:
            if rule in builtin_keys:
                continue
            kind = self.tr("key names") if rule.kind == "key" else self.tr("text")
            label = rule.description if rule.builtin else rule.name
            origin = self.tr("built-in") if rule.builtin else self.tr("added by an administrator")
            shown.append((label, kind, rule.pattern, origin, rule))
        self.shown = shown
        self.table.setRowCount(len(shown))
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for i, (label, kind, pattern, origin, rule) in enumerate(shown):
            for column, text in enumerate((label, kind, pattern, origin)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 2:
                    item.setFont(mono)
                if column == 3 and (rule is None or rule.builtin):
                    item.setForeground(muted)
                if column == 0 and rule is not None and not rule.builtin:
                    item.setIcon(icons.icon("account-edit-outline"))
                self.table.setItem(i, column, item)
        self.table.resizeColumnToContents(1)
        self.table.resizeColumnToContents(3)
        self.table.setColumnWidth(0, 390)

    def rule_labels(self) -> list[str]:
        """The first column as shown (tests)."""
        return [row[0] for row in self.shown]

    def add_rule(self, name: str, pattern: str, kind: str = "value") -> ScrubRule | None:
        try:
            rule = crashes.add_scrub_rule(self.session.actor, name, pattern, kind)
        except RcrmError as exc:
            self.error_label.setText(exc.message)
            return None
        self.error_label.clear()
        self.name_edit.clear()
        self.pattern_edit.clear()
        self.reload()
        return rule

    def _add_clicked(self) -> None:
        self.add_rule(self.name_edit.text(), self.pattern_edit.text(), str(self.kind_combo.currentData()))

    def _remove_clicked(self) -> None:
        row = self.table.currentRow()
        rule = self.shown[row][4] if 0 <= row < len(self.shown) else None
        if rule is None or rule.builtin:
            self.error_label.setText(self.tr("Choose a rule an administrator added; built-in rules stay."))
            return
        try:
            crashes.remove_scrub_rule(self.session.actor, rule.name)
        except RcrmError as exc:
            self.error_label.setText(exc.message)
            return
        self.error_label.clear()
        self.reload()


# ================================================================ detail pane


WHY_LABELS = {
    "in_app": "counts: in-app frame",
    "all_frames": "counts: no frame is in-app",
    "not_in_app": "ignored: library frame",
    "no_identity": "ignored: no module or function",
    "fingerprint": "ignored: fingerprint decides",
}

METHOD_LABELS = {
    "in_app_frames": "the exception type and the in-app stack frames",
    "all_frames": "the exception type and all stack frames (no frame is marked in-app)",
    "exception_value": "the exception type and its message, variable parts masked (no usable stack frames)",
    "message": "the message, variable parts masked (no exception)",
    "fingerprint": "an explicit fingerprint sent with the events",
    "fingerprint_default": "an explicit fingerprint that includes the built-in grouping",
    "nothing": "nothing (events without exception or message)",
}


class GroupDetailPane(QFrame):
    """One group: header with state and actions, counters, chart, releases, grouping and events."""

    def __init__(self, view: CrashesView) -> None:
        super().__init__(view)
        self.view = view
        self.session = view.session
        self.setObjectName("detailPane")
        self.group: GroupDetail | None = None
        self.chart_days = 30
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.pages = QStackedWidget(self)
        outer.addWidget(self.pages)
        self.placeholder = style.EmptyState("bug-outline", self)
        self.placeholder.set_text(self.tr("No group selected"),
                                  self.tr("Choose a crash group to see its events per day, the releases it affects, "
                                          "why its events belong together, and its stack traces."))
        self.pages.addWidget(self.placeholder)
        self.page = QWidget(self)
        self.pages.addWidget(self.page)
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(8)

        self.title = QLabel(self.page)
        self.title.setObjectName("groupTitle")
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setFont(style.scaled_font(self.title.font(), 1.25, QFont.Weight.DemiBold))
        layout.addWidget(self.title)
        self.culprit = QLabel(self.page)
        self.culprit.setObjectName("muted")
        self.culprit.setTextFormat(Qt.TextFormat.PlainText)
        self.culprit.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.culprit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.culprit)

        chips = QHBoxLayout()
        chips.setSpacing(6)
        self.state_chip = _Chip(self.page)
        self.state_chip.setObjectName("stateChip")
        self.regressed_chip = _Chip(self.page)
        self.regressed_chip.setObjectName("regressedChip")
        self.level_chip = _Chip(self.page)
        self.platform_label = style.muted_label("", self.page)
        for widget in (self.state_chip, self.regressed_chip, self.level_chip, self.platform_label):
            chips.addWidget(widget)
        chips.addStretch(1)
        layout.addLayout(chips)
        self.state_note = style.muted_label("", self.page)
        self.state_note.setWordWrap(True)
        layout.addWidget(self.state_note)

        actions = QHBoxLayout()
        actions.setSpacing(6)
        self.resolve_button = QToolButton(self.page)
        self.resolve_button.setObjectName("resolveButton")
        self.resolve_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.resolve_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.resolve_action = QAction(icons.icon("check-circle-outline", RESOLVED.name()), self.tr("Resolve"), self)
        self.resolve_action.triggered.connect(lambda: view.resolve_selected())
        self.resolve_release_action = QAction(self.tr("Resolve in release…"), self)
        self.resolve_release_action.triggered.connect(view.choose_release_and_resolve)
        menu = QMenu(self.resolve_button)
        menu.addAction(self.resolve_action)
        menu.addAction(self.resolve_release_action)
        self.resolve_button.setMenu(menu)
        self.resolve_button.setDefaultAction(self.resolve_action)
        self.unresolve_button = QPushButton(icons.icon("restore"), self.tr("Reopen"), self.page)
        self.unresolve_button.setObjectName("unresolveButton")
        self.unresolve_button.clicked.connect(view.unresolve_selected)
        self.ignore_button = QPushButton(icons.icon("bell-off-outline"), self.tr("Ignore"), self.page)
        self.ignore_button.setObjectName("ignoreButton")
        self.ignore_button.clicked.connect(view.ignore_selected)
        self.merge_button = QPushButton(icons.icon("call-merge"), self.tr("Merge into…"), self.page)
        self.merge_button.setObjectName("mergeButton")
        self.merge_button.clicked.connect(view.choose_merge_target)
        self.unmerge_button = QPushButton(icons.icon("call-split"), self.tr("Unmerge"), self.page)
        self.unmerge_button.setObjectName("unmergeButton")
        self.unmerge_button.clicked.connect(view.unmerge_selected)
        for widget in (self.resolve_button, self.unresolve_button, self.ignore_button, self.merge_button,
                       self.unmerge_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        layout.addLayout(actions)

        tiles = QHBoxLayout()
        tiles.setSpacing(8)
        self.events_tile = _Tile(self.tr("Events"), self.page)
        self.users_tile = _Tile(self.tr("Affected users"), self.page)
        self.first_tile = _Tile(self.tr("First seen"), self.page)
        self.last_tile = _Tile(self.tr("Last seen"), self.page)
        for tile in (self.events_tile, self.users_tile, self.first_tile, self.last_tile):
            tiles.addWidget(tile, 1)
        layout.addLayout(tiles)

        self.tabs = QTabWidget(self.page)
        self.tabs.setObjectName("groupTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_overview(), icons.icon("chart-bar"), self.tr("Overview"))
        self.tabs.addTab(self._build_events(), icons.icon("format-list-bulleted"), self.tr("Events"))
        self.tabs.addTab(self._build_grouping(), icons.icon("fingerprint"), self.tr("Why grouped"))
        layout.addWidget(self.tabs, 1)
        self.pages.setCurrentWidget(self.placeholder)

    # -- building

    def _build_overview(self) -> QWidget:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget(scroll)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 8, 2, 4)
        head = QHBoxLayout()
        head.addWidget(style.section_heading(self.tr("Events per day (UTC)"), page))
        head.addStretch(1)
        self.chart_total = style.muted_label("", page)
        head.addWidget(self.chart_total)
        self.range_combo = QComboBox(page)
        self.range_combo.setObjectName("chartRange")
        for days in CHART_RANGES:
            self.range_combo.addItem(self.tr("Last %1 days").replace("%1", str(days)), days)
        self.range_combo.setCurrentIndex(CHART_RANGES.index(30))
        self.range_combo.currentIndexChanged.connect(self._range_changed)
        head.addWidget(self.range_combo)
        layout.addLayout(head)
        self.chart = CrashChart(page)
        layout.addWidget(self.chart)
        layout.addWidget(style.section_heading(self.tr("Releases affected"), page))
        self.releases_table = QTableWidget(0, 4, page)
        self.releases_table.setObjectName("releasesTable")
        self.releases_table.setHorizontalHeaderLabels([self.tr("Release"), self.tr("Events"), self.tr("First seen"),
                                                       self.tr("Last seen")])
        self.releases_table.verticalHeader().setVisible(False)
        self.releases_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.releases_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.releases_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.releases_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.releases_table.setMinimumHeight(90)
        layout.addWidget(self.releases_table)
        self.seen_in = QLabel(page)
        self.seen_in.setObjectName("seenIn")
        self.seen_in.setWordWrap(True)
        self.seen_in.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.seen_in)
        layout.addStretch(1)
        scroll.setWidget(page)
        return scroll

    def _build_events(self) -> QWidget:
        self.events_splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.events_splitter.setObjectName("eventsSplitter")
        self.events_splitter.setChildrenCollapsible(False)
        self.events_table = QTableView(self.events_splitter)
        self.events_table.setObjectName("eventsTable")
        self.events_model: KeysetTableModel[EventRow] = KeysetTableModel(self._event_columns(), 100, self)
        self.events_table.setModel(self.events_model)
        setup_table(self.events_table)
        self.events_table.setSortingEnabled(False)
        self.events_table.verticalHeader().setDefaultSectionSize(24)
        # at least four events in view beside the viewer, on an 800-px-high screen too (it showed two)
        self.events_table.setMinimumHeight(24 * 4 + self.events_table.horizontalHeader().sizeHint().height() + 18)
        for i, column in enumerate(self.events_model.columns):
            if column.width:
                self.events_table.horizontalHeader().resizeSection(i, column.width)
        self.events_table.selectionModel().selectionChanged.connect(lambda *_: self._event_selected())
        self.viewer = EventViewer(self.session.actor, self.events_splitter)
        self.events_splitter.addWidget(self.events_table)
        self.events_splitter.addWidget(self.viewer)
        self.events_splitter.setStretchFactor(0, 1)
        self.events_splitter.setStretchFactor(1, 3)
        self.events_splitter.setSizes([150, 450])
        return self.events_splitter

    def _event_columns(self) -> list[Column[EventRow]]:
        return [
            Column("time", self.tr("Time"), lambda e: fmt.local_time(e.occurred_at, seconds=True),
                   tooltip=lambda e: fmt.utc_tooltip(e.occurred_at), width=145),
            Column("release", self.tr("Release"), lambda e: e.release or "—", width=140),
            Column("environment", self.tr("Environment"), lambda e: e.environment or "—", width=90),
            Column("os", self.tr("OS"), lambda e: e.os_name or "—", width=70),
            Column("user", self.tr("User"), lambda e: self.tr("linked") if e.linked else "",
                   decoration=lambda e: icons.icon("account-outline") if e.linked else None,
                   tooltip=lambda e: self.tr("Belongs to a user account (erased and exported with it)")
                   if e.linked else "", width=70),
            Column("message", self.tr("Message"), lambda e: (e.message or "").splitlines()[0] if e.message else "",
                   tooltip=lambda e: (e.message or "")[:1000]),
        ]

    def _build_grouping(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 8, 2, 4)
        self.method_label = QLabel(page)
        self.method_label.setObjectName("groupingMethod")
        self.method_label.setWordWrap(True)
        self.method_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.method_label)
        self.fingerprint_label = QLabel(page)
        self.fingerprint_label.setObjectName("muted")
        self.fingerprint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fingerprint_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.fingerprint_label.setWordWrap(True)
        layout.addWidget(self.fingerprint_label)
        self.explanation_tree = QTreeWidget(page)
        self.explanation_tree.setObjectName("explanationTree")
        self.explanation_tree.setHeaderLabels([self.tr("Part"), self.tr("Counts?")])
        self.explanation_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.explanation_tree.header().setStretchLastSection(False)
        self.explanation_tree.setColumnWidth(1, 190)
        layout.addWidget(self.explanation_tree, 3)
        layout.addWidget(style.section_heading(self.tr("Compared as"), page))
        self.components = QLabel(page)
        self.components.setObjectName("components")
        self.components.setWordWrap(True)
        self.components.setTextFormat(Qt.TextFormat.PlainText)
        self.components.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.components.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.components.setToolTip(self.tr("Exactly what is hashed into the fingerprint, one part per line"))
        layout.addWidget(self.components)
        self.merged_label = QLabel(page)
        self.merged_label.setWordWrap(True)
        self.merged_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.merged_label)
        return page

    # -- loading

    def clear(self) -> None:
        self.group = None
        self.events_model.set_fetch(None)
        self.viewer.clear()
        self.pages.setCurrentWidget(self.placeholder)

    def load(self, group_id: int) -> None:
        """Show one group (and its first page of events) from the database."""
        try:
            detail = crashes.get_group(self.session.actor, group_id)
        except RcrmError as exc:
            self.clear()
            self.placeholder.set_text(self.tr("This group cannot be shown"), exc.message)
            return
        changed = self.group is None or self.group.group.id != group_id
        self.group = detail
        self.pages.setCurrentWidget(self.page)
        self._show_header(detail)
        self._show_chart()
        self._show_releases(detail)
        self._show_explanation(detail)
        if changed:
            self._load_events(group_id)

    def reload(self) -> None:
        if self.group is not None:
            self.load(self.group.group.id)

    def _show_header(self, detail: GroupDetail) -> None:
        row = detail.group
        self.title.setText(row.title)
        self.culprit.setText(row.culprit or self.tr("no culprit (no stack frame)"))
        regressed = row.state == "unresolved" and row.regressed
        base_state = GroupRow(**{**row.__dict__, "regressed": False}) if regressed else row
        self.state_chip.set_state("" if regressed else status_text(base_state), status_color(base_state))
        self.regressed_chip.set_state(self.tr("Regressed — unresolved") if regressed else "", REGRESSED)
        self.level_chip.set_state(row.level, level_color(row.level))
        self.platform_label.setText(f"#{row.id} · {row.platform or '—'}")
        note = ""
        if regressed:
            note = self.tr("It was resolved%1 and events came in again.").replace(
                "%1", " " + self.tr("in %1").replace("%1", row.resolved_in_release) if row.resolved_in_release else "")
        elif row.state == "resolved":
            who = self.tr(" by %1").replace("%1", detail.resolved_by) if detail.resolved_by else ""
            when = fmt.local_with_relative(detail.resolved_at) if detail.resolved_at else "—"
            note = self.tr("Resolved %1%2. ").replace("%1", when).replace("%2", who)
            note += (self.tr("Events from releases after %1 reopen it.").replace("%1", row.resolved_in_release)
                     if row.resolved_in_release else self.tr("Any newer event reopens it."))
        elif row.state == "ignored":
            note = self.tr("Ignored: new events are counted but do not reopen it.")
        self.state_note.setText(note)
        self.state_note.setVisible(bool(note))
        self.events_tile.set(fmt.count(row.event_count))
        self.users_tile.set(fmt.count(row.subject_count),
                            self.tr("User accounts of this instance whose events are in this group"))
        # the compact age of the table's columns: "32 minutes ago" is wider than a quarter of the pane
        self.first_tile.set(_short_age(row.first_seen), fmt.utc_tooltip(row.first_seen))
        self.last_tile.set(_short_age(row.last_seen), fmt.utc_tooltip(row.last_seen),
                           REGRESSED if regressed else None)
        self.view.update_actions()

    def _show_chart(self) -> None:
        if self.group is None:
            return
        try:
            data = crashes.daily_counts(self.session.actor, self.group.group.id, self.chart_days)
        except RcrmError as exc:
            self.chart_total.setText(exc.message)
            return
        row = self.group.group
        self.chart.set_data(data, REGRESSED if row.regressed and row.state == "unresolved" else None)
        total = sum(n for _, n in data)
        self.chart_total.setText(self.tr("%1 in %2 days").replace("%1", fmt.count(total)).replace(
            "%2", str(self.chart_days)) + "  ")

    def _range_changed(self) -> None:
        self.chart_days = int(self.range_combo.currentData())
        self._show_chart()

    def set_chart_days(self, days: int) -> None:
        index = self.range_combo.findData(days)
        if index >= 0:
            self.range_combo.setCurrentIndex(index)

    def _show_releases(self, detail: GroupDetail) -> None:
        releases = detail.releases
        table = self.releases_table
        table.setRowCount(len(releases))
        resolved_in = detail.group.resolved_in_release
        for i, facet in enumerate(releases):
            name = QTableWidgetItem(facet.value)
            if resolved_in and crashes.release_is_later(facet.value, resolved_in):
                name.setIcon(icons.icon("alert-decagram", style.state_color(REGRESSED).name()))
                name.setToolTip(self.tr("Later than %1, the release the group was resolved in").replace(
                    "%1", resolved_in))
            elif resolved_in == facet.value:
                name.setIcon(icons.icon("check-circle-outline", style.state_color(RESOLVED).name()))
                name.setToolTip(self.tr("The group was resolved in this release"))
            count = QTableWidgetItem(fmt.count(facet.event_count))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            first = QTableWidgetItem(fmt.local_time(facet.first_seen))
            first.setToolTip(fmt.utc_tooltip(facet.first_seen))
            # the time alone, like first seen: with "(9 hours ago)" the release names were cut at 1280 px
            last = QTableWidgetItem(fmt.local_time(facet.last_seen))
            last.setToolTip(fmt.age_tooltip(facet.last_seen))
            for column, item in enumerate((name, count, first, last)):
                table.setItem(i, column, item)
        table.resizeColumnToContents(1)
        table.resizeColumnToContents(2)
        table.resizeColumnToContents(3)
        table.setFixedHeight(min(220, 30 + max(1, len(releases)) * table.verticalHeader().defaultSectionSize()))
        parts = []
        for kind, label in (("environment", self.tr("Environments")), ("os", self.tr("Operating systems")),
                            ("platform", self.tr("Platforms"))):
            facets = detail.facets.get(kind, [])
            if facets:
                parts.append(f"{label}: " + ", ".join(f"{f.value} ({fmt.count(f.event_count)})" for f in facets))
        self.seen_in.setText("\n".join(parts))

    def _show_explanation(self, detail: GroupDetail) -> None:
        exp = detail.explanation
        method = str(exp.get("method", ""))
        self.method_label.setText(
            self.tr("These events are one group because they share <b>%1</b>. Line and column numbers never count, "
                    "so the same crash in another build stays in its group.")
            .replace("%1", self.tr(METHOD_LABELS.get(method, method or "?"))))
        self.fingerprint_label.setText(self.tr("Fingerprint %1").replace("%1", detail.group.fingerprint))
        tree = self.explanation_tree
        tree.clear()
        yes = icons.icon("check-circle", style.state_color(RESOLVED).name())
        no = icons.icon("minus-circle-outline", colors.MUTED.name())
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        fingerprint = exp.get("fingerprint")
        if isinstance(fingerprint, dict):
            top = QTreeWidgetItem(tree, [self.tr("Fingerprint sent with the event"),
                                         self.tr("counts") if fingerprint.get("why") == "fingerprint"
                                         else self.tr("built-in grouping")])
            top.setFont(0, bold)
            top.setIcon(0, yes)
            for value in fingerprint.get("values", []):
                QTreeWidgetItem(top, [str(value), self.tr("“{{ default }}”: the built-in parts below")
                                      if "default" in str(value) else self.tr("literal")])
            top.setExpanded(True)
        for exc in exp.get("exceptions", []) or []:
            label = self.tr("Exception type %1").replace("%1", str(exc.get("type") or "?"))
            top = QTreeWidgetItem(tree, [label, self.tr("counts") if exc.get("type_contributes") else self.tr("—")])
            top.setFont(0, bold)
            top.setIcon(0, yes if exc.get("type_contributes") else no)
            if exc.get("value_contributes"):
                value = QTreeWidgetItem(top, [self.tr("Message (masked): %1").replace("%1", str(exc.get(
                    "value_masked"))), self.tr("counts")])
                value.setIcon(0, yes)
            for frame in exc.get("frames", []) or []:
                counts = bool(frame.get("contributes"))
                line = frame.get("lineno")
                text = str(frame.get("label") or "?") + (f"  (line {line})" if line is not None else "")
                item = QTreeWidgetItem(top, [text, self.tr(WHY_LABELS.get(str(frame.get("why")), "—"))])
                item.setToolTip(1, self.tr("Library frames count only when no frame of the event is in-app")
                                if frame.get("why") == "not_in_app" else "")
                item.setIcon(0, yes if counts else no)
                if not counts:
                    item.setForeground(0, muted)
                    item.setForeground(1, muted)
                part = f"{frame.get('module') or '?'} · {frame.get('function') or '?'}"
                item.setToolTip(0, self.tr("Compared as: %1").replace("%1", part))
            top.setExpanded(True)
        message = exp.get("message")
        if isinstance(message, dict):
            top = QTreeWidgetItem(tree, [self.tr("Message (masked): %1").replace("%1", str(message.get("masked"))),
                                         self.tr("counts") if message.get("why") != "fingerprint" else "—"])
            top.setIcon(0, yes)
            top.setToolTip(0, str(message.get("text", ""))[:1000])
        self.components.setText("\n".join(str(c) for c in exp.get("components", []) or []))
        merged = detail.merged
        if merged:
            self.merged_label.setText(self.tr("Merged into this group: %1").replace(
                "%1", ", ".join(f"#{g.id} {g.title[:60]}" for g in merged)))
        elif detail.merged_into is not None:
            self.merged_label.setText(self.tr("This group is merged into #%1.").replace(
                "%1", str(detail.merged_into.id)))
        else:
            self.merged_label.setText("")
        self.merged_label.setVisible(bool(self.merged_label.text()))

    def _load_events(self, group_id: int) -> None:
        actor = self.session.actor

        def fetch(after: EventRow | None, limit: int) -> Sequence[EventRow]:
            return crashes.list_group_events(actor, group_id, limit=limit,
                                             after=crashes.event_page_key(after) if after is not None else None)

        self.viewer.clear()
        self.events_model.set_fetch(fetch)
        self.tabs.setTabText(1, self.tr("Events (%1)").replace("%1", fmt.count(self.group.group.event_count)
                                                                   if self.group else "0"))
        if self.events_model.rowCount() > 0:
            self.events_table.selectRow(0)

    def _event_selected(self) -> None:
        index = self.events_table.currentIndex()
        row = self.events_model.row_at(index.row()) if index.isValid() else None
        if row is None:
            return
        if self.viewer.detail is not None and self.viewer.detail.row.id == row.id:
            return
        try:
            self.viewer.show_event(crashes.get_event(self.session.actor, row.id))
        except RcrmError as exc:
            self.viewer.clear()
            self.viewer.meta.setText(exc.message)

    def select_event(self, row: int) -> None:
        self.events_table.selectRow(row)


# ================================================================ the area


class CrashesView(AreaView):
    """Filter bar, keyset table of crash groups and the group detail in a remembered splitter."""

    spec = AREA["CrashesView"]

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self._sort = "last_seen"
        self._descending = True
        self._loaded = False
        self._suppress_sort = True
        self._fetch_error: BaseException | None = None
        self._filter = GroupFilter(state="unresolved")
        self._count_generation = 0
        self.options: FilterOptions | None = None
        self.last_message_box: QMessageBox | None = None
        self.import_task: Task | None = None
        self.import_progress: QProgressDialog | None = None
        self.last_import_report: ImportReport | None = None
        self.rescrub_task: Task | None = None
        self.rescrub_progress: QProgressDialog | None = None
        self.last_rescrub_report: RescrubReport | None = None
        self.rules_dialog: ScrubRulesDialog | None = None
        actor = session.actor
        role = ROLE_LABELS[actor.role]
        self.can_manage = actor.can(Permission.CRASHES_MANAGE)
        self.can_import = actor.can(Permission.CRASHES_IMPORT)
        self.can_rescrub = self.can_manage or actor.can(Permission.SETTINGS_EDIT)

        self.import_action = QAction(icons.icon("file-import-outline"), self.tr("Import crash reports…"), self)
        self.import_action.setObjectName("importCrashesAction")
        self.import_action.triggered.connect(self.choose_import_files)
        self.import_folder_action = QAction(icons.icon("folder-download-outline"), self.tr("Import a folder…"), self)
        self.import_folder_action.triggered.connect(self.choose_import_folder)
        self.import_action.setEnabled(self.can_import)
        self.import_folder_action.setEnabled(self.can_import)
        self.import_action.setToolTip(
            self.tr("Import Sentry events (JSON, JSON arrays or NDJSON); personal data is scrubbed first")
            if self.can_import else
            self.tr("Your role (%1) cannot import crash reports: it needs the permission crashes.import.")
            .replace("%1", role))
        self.rescrub_action = QAction(icons.icon("broom"), self.tr("Re-scrub…"), self)
        self.rescrub_action.setObjectName("rescrubAction")
        self.rescrub_action.triggered.connect(self.confirm_rescrub)
        self.rescrub_action.setEnabled(self.can_rescrub)
        self.rescrub_action.setToolTip(
            self.tr("Apply the current scrub rules to every stored crash event") if self.can_rescrub else
            self.tr("Your role (%1) cannot re-scrub stored events: it needs crashes.manage.").replace("%1", role))
        self.rules_action = QAction(icons.icon("shield-search"), self.tr("Scrub rules…"), self)
        self.rules_action.setObjectName("rulesAction")
        self.rules_action.triggered.connect(self.open_rules)
        self.rules_action.setToolTip(self.tr("What is filtered out of crash reports before they are stored"))

        self._build()
        self._connect()
        self._suppress_sort = False

    # ------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 12)
        layout.setSpacing(8)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title(), self))
        self.subtitle = style.page_subtitle(
            self.tr("Crashes from RCRM's server, web and Android apps, grouped by cause. Personal data is scrubbed "
                    "before anything is stored."), self)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        for action in (self.rules_action, self.rescrub_action):
            button = QToolButton(self)
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            head.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        self.import_button = QToolButton(self)
        self.import_button.setObjectName("importCrashesButton")
        self.import_button.setDefaultAction(self.import_action)
        self.import_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        import_menu = QMenu(self.import_button)
        import_menu.addAction(self.import_action)
        import_menu.addAction(self.import_folder_action)
        self.import_button.setMenu(import_menu)
        head.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(head)

        self.search = SearchField(self.tr("Search title, culprit or exception type; #12 for a group"), self)
        self.search.setObjectName("crashesSearch")
        self.search.setMaxLength(crashes.MAX_SEARCH_LENGTH)
        self.filter_bar = FilterBar(self.search, self)
        self.state_combo = QComboBox(self.filter_bar)
        self.state_combo.setObjectName("stateFilter")
        for label, value, icon_name, color in (
                (self.tr("Unresolved"), "unresolved", "alert-circle-outline", UNRESOLVED),
                (self.tr("Regressed"), "regressed", "alert-decagram", REGRESSED),
                (self.tr("Resolved"), "resolved", "check-circle-outline", RESOLVED),
                (self.tr("Ignored"), "ignored", "bell-off-outline", IGNORED),
                (self.tr("All states"), None, "filter-outline", None)):
            self.state_combo.addItem(icons.icon(icon_name, style.state_color(color).name() if color else None), label,
                                     value)
        self.release_combo = QComboBox(self.filter_bar)
        self.release_combo.setObjectName("releaseFilter")
        self.release_combo.setMinimumContentsLength(14)
        self.release_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.environment_combo = QComboBox(self.filter_bar)
        self.environment_combo.setObjectName("environmentFilter")
        self.platform_combo = QComboBox(self.filter_bar)
        self.platform_combo.setObjectName("platformFilter")
        self.time_combo = QComboBox(self.filter_bar)
        self.time_combo.setObjectName("timeFilter")
        for label, hours in TIME_FILTERS:
            self.time_combo.addItem(icons.icon("calendar-clock-outline"), self.tr(label), hours)
        for combo in (self.state_combo, self.release_combo, self.environment_combo, self.platform_combo,
                      self.time_combo):
            self.filter_bar.add_widget(combo)
        self._fill_option_combos()
        self.count_label = self.filter_bar.count_label
        layout.addWidget(self.filter_bar)

        self.search_error = QLabel(self)
        self.search_error.setObjectName("errorText")
        self.search_error.setTextFormat(Qt.TextFormat.PlainText)
        self.search_error.hide()
        layout.addWidget(self.search_error)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("crashesSplitter")
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter, 1)
        self.table_stack = QStackedWidget(self.splitter)
        self.table = QTableView(self.table_stack)
        self.table.setObjectName("crashGroupsTable")
        self.model: KeysetTableModel[GroupRow] = KeysetTableModel(self._columns(), app_options.PAGE_SIZE, self)
        self.table.setModel(self.model)
        setup_table(self.table)
        self.table.setItemDelegateForColumn(0, GroupTitleDelegate(self.table))
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() * 2 + 16)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(i, column.width)
        self.table.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.table_stack.addWidget(self.table)
        self.empty = style.EmptyState("bug-check-outline", self.table_stack)
        self.empty.setObjectName("crashesEmpty")
        self.empty.button.clicked.connect(self._empty_action)
        self.table_stack.addWidget(self.empty)
        self._empty_action_kind = ""

        self.detail = GroupDetailPane(self)
        self.detail.setMinimumWidth(440)
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setSizes([760, 600])
        self._set_sort_indicator()
        self.update_actions()

    def _columns(self) -> list[Column[GroupRow]]:
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

        def status_background(r: GroupRow) -> QColor | None:
            return colors.tint(REGRESSED) if r.state == "unresolved" and r.regressed else None

        return [
            Column("title", self.tr("Crash"), lambda r: r.title,
                   tooltip=lambda r: f"{r.title}\n{r.culprit or ''}\n#{r.id} · {r.platform or ''}"),
            Column("status", self.tr("Status"), status_text, foreground=lambda r: style.state_color(status_color(r)),
                   background=status_background,
                   decoration=lambda r: icons.icon(status_icon_name(r), style.state_color(status_color(r)).name()),
                   tooltip=lambda r: self.tr("Resolved, then seen again in a later release") if r.regressed
                   and r.state == "unresolved" else status_text(r), width=112),
            Column("event_count", self.tr("Events"), lambda r: fmt.count(r.event_count), sort_key="event_count",
                   align=right, width=62),
            Column("subject_count", self.tr("Users"), lambda r: fmt.count(r.subject_count), sort_key="subject_count",
                   align=right, width=54,
                   tooltip=lambda r: self.tr("%1 affected user accounts").replace("%1", fmt.count(r.subject_count))),
            Column("last_seen", self.tr("Last seen"), lambda r: _short_age(r.last_seen), sort_key="last_seen",
                   tooltip=lambda r: fmt.utc_tooltip(r.last_seen), width=88),
            Column("first_seen", self.tr("First seen"), lambda r: _short_age(r.first_seen), sort_key="first_seen",
                   tooltip=lambda r: fmt.utc_tooltip(r.first_seen), width=88),
        ]

    def _connect(self) -> None:
        self.search.search_changed.connect(lambda _text: self.reload())
        self.search.returnPressed.connect(self.search.flush)
        for combo in (self.state_combo, self.release_combo, self.environment_combo, self.platform_combo,
                      self.time_combo):
            combo.currentIndexChanged.connect(lambda _i: self.reload())
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)
        self.model.sort_requested.connect(self._sort_requested)
        self.model.fetch_failed.connect(self._fetch_failed)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_indicator_changed)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())

    # ------------------------------------------------------------ area API

    def activate(self) -> None:
        if not self._loaded:
            self.reload()

    def refresh(self) -> None:
        self.reload()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def file_actions(self) -> list[QAction]:
        """Import (files, folder), re-scrub and the scrub rules, for the main window's File menu."""
        return [self.import_action, self.import_folder_action, self.rescrub_action, self.rules_action]

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("crashes/splitter", self.splitter.saveState())
        settings.setValue("crashes/events_splitter", self.detail.events_splitter.saveState())
        settings.setValue("crashes/header", self.table.horizontalHeader().saveState())
        settings.setValue("crashes/sort", self._sort)
        settings.setValue("crashes/descending", self._descending)
        settings.setValue("crashes/chart_days", self.detail.chart_days)

    def restore_state(self, settings: QSettings) -> None:
        for key, splitter in (("crashes/splitter", self.splitter),
                              ("crashes/events_splitter", self.detail.events_splitter)):
            value = settings.value(key)
            if isinstance(value, QByteArray | bytes):
                splitter.restoreState(QByteArray(value))
        self._suppress_sort = True
        try:
            header = settings.value("crashes/header")
            if isinstance(header, QByteArray | bytes):
                self.table.horizontalHeader().restoreState(QByteArray(header))
            sort = settings.value("crashes/sort")
            if isinstance(sort, str) and sort in crashes.GROUP_SORTS and self._column_of(sort) >= 0:
                self._sort = sort
            self._descending = str(settings.value("crashes/descending", "true")).lower() in {"true", "1"}
            self._set_sort_indicator()
        finally:
            self._suppress_sort = False
        try:
            self.detail.set_chart_days(int(settings.value("crashes/chart_days", 30)))
        except (TypeError, ValueError):
            pass
        if self._loaded:
            self.reload()

    # ------------------------------------------------------------ filters

    def _fill_option_combos(self) -> None:
        options = self.options
        for combo, all_label, values, icon_name in (
                (self.release_combo, self.tr("All releases"), options.releases if options else [], "tag-outline"),
                (self.environment_combo, self.tr("All environments"), options.environments if options else [],
                 "server-outline")):
            current = combo.currentData()
            blocked = combo.blockSignals(True)
            combo.clear()
            combo.addItem(icons.icon(icon_name), all_label, None)
            for value in values:
                combo.addItem(value, value)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(blocked)
        current = self.platform_combo.currentData()
        blocked = self.platform_combo.blockSignals(True)
        self.platform_combo.clear()
        self.platform_combo.addItem(icons.icon("devices"), self.tr("All platforms and OS"), None)
        if options:
            for value in options.platforms:
                self.platform_combo.addItem(icons.icon("code-braces"), value, f"platform:{value}")
            if options.platforms and options.os_names:
                self.platform_combo.insertSeparator(self.platform_combo.count())
            for value in options.os_names:
                self.platform_combo.addItem(icons.icon("monitor"), value, f"os:{value}")
        index = self.platform_combo.findData(current) if current is not None else 0
        self.platform_combo.setCurrentIndex(max(0, index))
        self.platform_combo.blockSignals(blocked)

    def _current_filter(self) -> GroupFilter:
        hours = self.time_combo.currentData()
        since = utcnow() - dt.timedelta(hours=int(hours)) if hours else None
        kind, _, value = str(self.platform_combo.currentData() or "").partition(":")
        text = self.search.text().strip() or None
        return GroupFilter(
            state=self.state_combo.currentData(), release=self.release_combo.currentData(),
            environment=self.environment_combo.currentData(),
            platform=value if kind == "platform" else None, os_name=value if kind == "os" else None,
            since=since, text=text)

    def _filtered(self) -> bool:
        f = self._filter
        return any((f.release, f.environment, f.platform, f.os_name, f.since, f.text))

    def clear_filters(self) -> None:
        """Empty the search and reset the filters to "unresolved, any release, any time" (Esc, clear button)."""
        combos = (self.state_combo, self.release_combo, self.environment_combo, self.platform_combo,
                  self.time_combo)
        blocked = [c.blockSignals(True) for c in combos] + [self.search.blockSignals(True)]
        self.search.clear()
        for combo in combos:
            combo.setCurrentIndex(0)
        for combo, was in zip((*combos, self.search), blocked, strict=True):
            combo.blockSignals(was)
        self.reload()

    def set_state_filter(self, state: str | None) -> None:
        index = self.state_combo.findData(state)
        self.state_combo.setCurrentIndex(index if index >= 0 else self.state_combo.count() - 1)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and (self.search.text() or self._filtered()):
            self.clear_filters()
            event.accept()
            return
        super().keyPressEvent(event)

    # ------------------------------------------------------------ loading

    def _make_fetch(self) -> Any:
        actor = self.session.actor
        flt, sort, descending = self._filter, self._sort, self._descending

        def fetch(after: GroupRow | None, limit: int) -> Sequence[GroupRow]:
            return crashes.list_groups(actor, flt, sort=sort, descending=descending, limit=limit,
                                       after=crashes.group_page_key(after, sort) if after is not None else None)

        return fetch

    def reload(self) -> None:
        """Apply search, filters and sort: first page from the database, counts in the background."""
        self._loaded = True
        keep = self.selected_group()
        try:
            self.options = crashes.filter_options(self.session.actor)
        except RcrmError:
            self.options = None
        self._fill_option_combos()
        self._filter = self._current_filter()
        self._fetch_error = None
        self.search_error.hide()
        self.model.set_fetch(self._make_fetch())
        if self._fetch_error is not None:
            self._show_fetch_error(self._fetch_error)
            return
        self._update_empty_state()
        self._request_count()
        if keep is not None:
            row = self.model.find_row(lambda r: r.id == keep.id)
            if row >= 0:
                self._select_row(row)
                self.detail.reload()
                return
        if self.model.rowCount() > 0:
            self._select_row(0)
        else:
            self.detail.clear()
        self.update_actions()

    def _fetch_failed(self, exc: BaseException) -> None:
        self._fetch_error = exc
        if self.model.rowCount() > 0:
            self._show_search_error(self._message_of(exc))

    def _message_of(self, exc: BaseException) -> str:
        if isinstance(exc, RcrmError):
            return exc.message
        log.error("Unexpected error in the Crash reports view: %r", exc)
        return self.tr("An unexpected error stopped the crash reports from loading; details are in the log file.")

    def _show_search_error(self, text: str) -> None:
        self.search_error.setText(text)
        self.search_error.show()

    def _show_fetch_error(self, exc: BaseException) -> None:
        if isinstance(exc, ValidationError):
            self._show_search_error(exc.message)
            self.table_stack.setCurrentWidget(self.table)
            return
        self._set_empty(self.tr("Crash reports cannot be loaded"), self._message_of(exc), self.tr("Try again"),
                        "retry")
        self.count_label.setText("—")

    def _update_empty_state(self) -> None:
        if self.model.rowCount() > 0:
            self.table_stack.setCurrentWidget(self.table)
            self.detail.show()
            return
        try:
            totals = crashes.crash_totals(self.session.actor)
        except RcrmError:
            totals = None
        nothing_at_all = totals is not None and totals.groups == 0
        self.detail.setVisible(not nothing_at_all)
        if nothing_at_all:
            self._set_empty(
                self.tr("No crash reports yet — Import crash reports…"),
                self.tr("Import Sentry events exported from RCRM's server, web or Android apps: one event, a JSON "
                        "array or NDJSON. E-mail addresses, IP addresses, card numbers, tokens and other personal "
                        "data are scrubbed before anything is stored."),
                self.tr("Import crash reports…") if self.can_import else "", "import")
        elif self._filter.state in ("unresolved", "regressed") and not self._filtered():
            self._set_empty(self.tr("Nothing to fix"),
                            self.tr("Every crash group is resolved or ignored."), self.tr("Show all states"),
                            "all_states")
        else:
            self._set_empty(self.tr("No crash group matches these filters"),
                            self.tr("Search looks at the title, culprit and exception type."),
                            self.tr("Clear search and filters"), "clear")

    def _set_empty(self, title: str, text: str, action: str, kind: str) -> None:
        self.empty.set_text(title, text, action)
        self._empty_action_kind = kind
        self.table_stack.setCurrentWidget(self.empty)
        self.detail.clear()

    def _empty_action(self) -> None:
        kind = self._empty_action_kind
        if kind == "import":
            self.import_action.trigger()
        elif kind == "clear":
            self.clear_filters()
        elif kind == "all_states":
            self.set_state_filter(None)
        else:
            self.reload()

    def empty_state_text(self) -> str:
        """The empty state's title and text when it is shown, else ``""`` (tests, accessibility)."""
        if self.table_stack.currentWidget() is not self.empty:
            return ""
        return f"{self.empty.title.text()}\n{self.empty.text.text()}"

    def _request_count(self) -> None:
        actor, flt, filtered = self.session.actor, self._filter, self._filtered() or self._filter.state is not None

        def work(_task: Task) -> tuple[int, crashes.CrashTotals]:
            return crashes.count_groups(actor, flt), crashes.crash_totals(actor)

        self._count_generation += 1
        generation = self._count_generation
        self.count_label.setText(self.tr("counting…"))
        run_task(work, on_done=lambda result: self._count_done(result, filtered, generation),
                 on_error=lambda exc: self._count_done(None, filtered, generation))

    def _count_done(self, result: tuple[int, crashes.CrashTotals] | None, filtered: bool, generation: int) -> None:
        if generation != self._count_generation:
            return  # a newer filter's count is on its way
        if result is None:
            self.count_label.setText("—")
            return
        matching, totals = result
        if totals.groups == 0:
            self.count_label.setText(self.tr("No crash reports"))
            return
        if filtered:
            text = self.tr("%1 of %2 groups").replace("%1", fmt.count(matching)).replace("%2", fmt.count(totals.groups))
        else:
            text = self.tr("%1 groups").replace("%1", fmt.count(matching))
        text += " · " + self.tr("%1 events").replace("%1", fmt.count(totals.events))
        if totals.regressed:
            text += " · " + self.tr("%1 regressed").replace("%1", fmt.count(totals.regressed))
        self.count_label.setText(text)

    # ------------------------------------------------------------ sorting

    def _column_of(self, sort_key: str) -> int:
        return column_of_sort_key(self.model, sort_key)

    def _set_sort_indicator(self) -> None:
        show_sort_indicator(self.table, self._sort, self._descending)

    def _sort_indicator_changed(self, section: int, _order: Qt.SortOrder) -> None:
        if not (0 <= section < len(self.model.columns)) or self.model.columns[section].sort_key is None:
            self._set_sort_indicator()

    def _sort_requested(self, key: str, descending: bool) -> None:
        if self._suppress_sort or (key == self._sort and descending == self._descending and self._loaded):
            return
        self._sort = key
        self._descending = descending
        if self._loaded:
            self.reload()

    def sort_by(self, key: str, descending: bool = True) -> None:
        column = self._column_of(key)
        if column < 0:
            raise ValueError(f"cannot sort by {key}")
        self.table.sortByColumn(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)

    @property
    def sort_key(self) -> str:
        return self._sort

    # ------------------------------------------------------------ selection

    def selected_group(self) -> GroupRow | None:
        return selected_model_row(self.table)

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.scrollTo(index)

    def select_group(self, group_id: int) -> bool:
        row = self.model.find_row(lambda r: r.id == group_id)
        if row < 0:
            return False
        self._select_row(row)
        return True

    def _selection_changed(self) -> None:
        row = self.selected_group()
        if row is None:
            self.update_actions()
            return
        if self.detail.group is None or self.detail.group.group.id != row.id:
            self.detail.load(row.id)
        self.update_actions()

    def update_actions(self) -> None:
        """Enable what the role and the selected group's state allow; say why in tooltips."""
        detail = getattr(self, "detail", None)
        if detail is None:
            return
        group = detail.group.group if detail.group is not None else None
        role = ROLE_LABELS[self.session.actor.role]
        no_manage = self.tr("Your role (%1) can look at crash reports but not change them: that needs "
                            "crashes.manage, which support staff have.").replace("%1", role)
        enabled = self.can_manage and group is not None and group.merged_into is None
        resolved = group is not None and group.state == "resolved"
        ignored = group is not None and group.state == "ignored"
        detail.resolve_button.setEnabled(enabled and not resolved)
        detail.resolve_action.setEnabled(enabled and not resolved)
        detail.resolve_release_action.setEnabled(enabled)
        detail.ignore_button.setEnabled(enabled and not ignored)
        detail.unresolve_button.setVisible(resolved or ignored)
        detail.unresolve_button.setEnabled(enabled and (resolved or ignored))
        detail.merge_button.setEnabled(enabled)
        detail.unmerge_button.setEnabled(self.can_manage and group is not None and group.merged_count > 0)
        if not self.can_manage:
            for widget in (detail.resolve_button, detail.ignore_button, detail.merge_button, detail.unmerge_button,
                           detail.unresolve_button):
                widget.setToolTip(no_manage)
        else:
            detail.resolve_button.setToolTip(self.tr("Mark fixed; new events reopen it as regressed (the arrow: "
                                                     "resolve in a release)"))
            detail.ignore_button.setToolTip(self.tr("Stop showing this group among unresolved ones"))
            detail.merge_button.setToolTip(self.tr("Move this group's events into another group"))
            detail.unmerge_button.setToolTip(self.tr("Split the groups merged into this one off again")
                                             if group is not None and group.merged_count else
                                             self.tr("No group is merged into this one"))

    # ------------------------------------------------------------ group actions

    def _after_change(self, row: GroupRow) -> None:
        index = self.model.find_row(lambda r: r.id == row.id)
        if index >= 0:
            current = self.model.row_at(index)
            merged = current.merged_count if current is not None else 0
            self.model.replace_row(index, GroupRow(**{**row.__dict__, "merged_count": merged}))
        self.detail.reload()
        self._request_count()
        self.status_message.emit(self.tr("#%1 is now %2.").replace("%1", str(row.id)).replace("%2", status_text(row)))

    def _change(self, fn: Any, what: str) -> GroupRow | None:
        group = self.selected_group()
        if group is None:
            return None
        try:
            row = fn(group)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, what)
            return None
        self._after_change(row)
        return row

    def resolve_selected(self, release: str | None = None) -> GroupRow | None:
        return self._change(lambda g: crashes.resolve_group(self.session.actor, g.id, release),
                            self.tr("Resolve crash group"))

    def ignore_selected(self) -> GroupRow | None:
        return self._change(lambda g: crashes.ignore_group(self.session.actor, g.id), self.tr("Ignore crash group"))

    def unresolve_selected(self) -> GroupRow | None:
        return self._change(lambda g: crashes.unresolve_group(self.session.actor, g.id),
                            self.tr("Reopen crash group"))

    def choose_release_and_resolve(self) -> None:
        detail = self.detail.group
        if detail is None:
            return
        releases = [f.value for f in detail.releases]
        release, ok = QInputDialog.getItem(
            self, self.tr("Resolve in release"),
            self.tr("The release that contains the fix. Events from later releases reopen the group as regressed; "
                    "events from this and earlier releases do not."), releases, 0, True)
        if ok and release.strip():
            self.resolve_selected(release.strip())

    def make_merge_dialog(self) -> MergeDialog | None:
        group = self.selected_group()
        return MergeDialog(self.session, group, self) if group is not None else None

    def choose_merge_target(self) -> None:
        dialog = self.make_merge_dialog()
        if dialog is None:
            return
        if error_dialogs._exec_dialog(dialog) == QDialog.DialogCode.Accepted and dialog.target_id() is not None:
            self.merge_selected_into(int(dialog.target_id() or 0))
        dialog.deleteLater()

    def merge_selected_into(self, target_id: int) -> GroupRow | None:
        group = self.selected_group()
        if group is None:
            return None
        try:
            target = crashes.merge_groups(self.session.actor, group.id, target_id)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Merge crash groups"))
            return None
        self.status_message.emit(self.tr("Merged #%1 into #%2.").replace("%1", str(group.id))
                                 .replace("%2", str(target.id)))
        self.table.clearSelection()
        self.detail.clear()
        self.reload()
        if not self.select_group(target.id):
            self.detail.load(target.id)
        return target

    def unmerge_selected(self) -> list[int]:
        group = self.selected_group()
        if group is None or not group.merged_count:
            return []
        if not error_dialogs.confirm(
                self, self.tr("Unmerge crash groups"),
                self.tr("Split %1 merged group(s) off #%2 again?").replace("%1", str(group.merged_count))
                .replace("%2", str(group.id)),
                self.tr("Each takes its own events back; the counts and charts of both are recomputed.")):
            return []
        try:
            split = crashes.unmerge_group(self.session.actor, group.id)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Unmerge crash groups"))
            return []
        self.status_message.emit(self.tr("Split off %1.").replace("%1", ", ".join(f"#{g}" for g in split)))
        self.detail.clear()
        self.reload()
        return split

    # ------------------------------------------------------------ import

    def choose_import_files(self) -> None:
        if not self.can_import:
            error_dialogs.message_box(self, QMessageBox.Icon.Warning, self.tr("Import crash reports"),
                                      self.import_action.toolTip())
            return
        paths, _filter = QFileDialog.getOpenFileNames(
            self, self.tr("Import crash reports"), "",
            self.tr("Sentry events (*.json *.ndjson *.jsonl);;All files (*)"))
        if paths:
            self.start_import([Path(p) for p in paths])

    def choose_import_folder(self) -> None:
        if not self.can_import:
            return
        folder = QFileDialog.getExistingDirectory(self, self.tr("Import a folder of crash reports"))
        if folder:
            self.start_import([Path(folder)])

    def start_import(self, paths: list[Path]) -> Task:
        """Import in the background with a cancellable progress dialog; a summary follows."""
        actor = self.session.actor
        names = ", ".join(p.name for p in paths[:3]) + (" …" if len(paths) > 3 else "")
        progress = open_progress(self, self.tr("Importing crash reports"),
                                 self.tr("Reading %1…").replace("%1", names))
        self.import_progress = progress
        self.import_action.setEnabled(False)

        def work(task: Task) -> ImportReport:
            return crashes.import_events(actor, *paths, progress=lambda d, t, x: task.report(d, t, x))

        def on_progress(done: int, total: int, text: str) -> None:
            update_progress(self.import_progress, done, total,
                            self.tr("Importing crash reports — %1").replace("%1", text))

        task = run_task(work, on_done=self._import_finished, on_error=self._import_failed, progress=on_progress)
        self.import_task = task
        if self.import_progress is progress:
            progress.canceled.connect(task.cancel)
            progress.canceled.connect(lambda: progress.setLabelText(self.tr("Stopping after the current batch…")))
        return task

    def _close_progress(self, attr: str) -> None:
        close_progress(getattr(self, attr))
        setattr(self, attr, None)

    def _import_finished(self, report: ImportReport) -> None:
        self._close_progress("import_progress")
        self.import_action.setEnabled(self.can_import)
        self.import_task = None
        self.last_import_report = report
        counts = (self.tr("%1 imported, %2 already there, %3 refused; %4 new groups.")
                  .replace("%1", fmt.count(report.imported)).replace("%2", fmt.count(report.duplicates))
                  .replace("%3", fmt.count(report.refused_count)).replace("%4", fmt.count(report.groups_created)))
        if report.regressed_group_ids:
            counts += " " + self.tr("%1 resolved groups regressed.").replace(
                "%1", fmt.count(len(report.regressed_group_ids)))
        title = self.tr("Import stopped") if report.cancelled else self.tr("Import finished")
        text = (self.tr("The import was cancelled; what was read until then is saved: %1") if report.cancelled
                else self.tr("Crash reports imported: %1")).replace("%1", counts)
        lines = [r.describe() for r in report.refused]
        informative = ""
        if lines:
            informative = self.tr("Refused records (the rest of each file was imported):") + "\n" + "\n".join(
                lines[:SUMMARY_REFUSED])
            if report.refused_count > SUMMARY_REFUSED:
                informative += "\n" + self.tr("… and %1 more (Show Details…)").replace(
                    "%1", fmt.count(report.refused_count - SUMMARY_REFUSED))
        icon = QMessageBox.Icon.Warning if report.refused_count or report.cancelled else QMessageBox.Icon.Information
        self._message(icon, title, text, informative, "\n".join(lines) if report.refused_count > SUMMARY_REFUSED
                      else "")
        self.status_message.emit(text)
        self.reload()

    def _import_failed(self, exc: BaseException) -> None:
        self._close_progress("import_progress")
        self.import_action.setEnabled(self.can_import)
        self.import_task = None
        self._message(QMessageBox.Icon.Warning, self.tr("Import failed"), self._message_of(exc))
        self.reload()

    # ------------------------------------------------------------ re-scrub and rules

    def confirm_rescrub(self) -> None:
        try:
            totals = crashes.crash_totals(self.session.actor) if self.session.actor.can(Permission.CRASHES_VIEW) \
                else None
            rules = len(crashes.scrub_rules(self.session.actor))
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Re-scrub"))
            return
        events = fmt.count(totals.events) if totals else "?"
        if error_dialogs.confirm(
                self, self.tr("Re-scrub stored crash reports"),
                self.tr("Apply the %1 current scrub rules to all %2 stored events?").replace("%1", str(rules))
                .replace("%2", events),
                self.tr("Text a rule finds is replaced by “[Filtered]” for good; it cannot be undone. The work runs "
                        "in batches and can be cancelled; finished batches stay scrubbed.")):
            self.start_rescrub()

    def start_rescrub(self) -> Task:
        actor = self.session.actor
        progress = open_progress(self, self.tr("Re-scrub"), self.tr("Re-scrubbing stored crash reports…"),
                                 minimum_width=420)
        self.rescrub_progress = progress

        def work(task: Task) -> RescrubReport:
            return crashes.rescrub_events(actor, progress=lambda d, t, x: task.report(d, t, x))

        def on_progress(done: int, total: int, text: str) -> None:
            update_progress(self.rescrub_progress, done, total, self.tr("Re-scrubbing: %1").replace("%1", text))

        task = run_task(work, on_done=self._rescrub_finished, on_error=self._rescrub_failed, progress=on_progress)
        self.rescrub_task = task
        if self.rescrub_progress is progress:
            progress.canceled.connect(task.cancel)
        return task

    def _rescrub_finished(self, report: RescrubReport) -> None:
        self._close_progress("rescrub_progress")
        self.rescrub_task = None
        self.last_rescrub_report = report
        text = self.tr("Checked %1 events: %2 changed, %3 group texts changed.").replace(
            "%1", fmt.count(report.scanned)).replace("%2", fmt.count(report.changed)).replace(
            "%3", fmt.count(report.groups_changed))
        if report.cancelled:
            text = self.tr("Stopped. ") + text
        self._message(QMessageBox.Icon.Information, self.tr("Re-scrub finished"), text)
        self.status_message.emit(text)
        self.reload()

    def _rescrub_failed(self, exc: BaseException) -> None:
        self._close_progress("rescrub_progress")
        self.rescrub_task = None
        self._message(QMessageBox.Icon.Warning, self.tr("Re-scrub failed"), self._message_of(exc))

    def open_rules(self) -> ScrubRulesDialog:
        if self.rules_dialog is None:
            self.rules_dialog = ScrubRulesDialog(self.session, self)
            self.rules_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        else:
            self.rules_dialog.reload()
        self.rules_dialog.open()
        return self.rules_dialog

    # ------------------------------------------------------------ messages

    def _message(self, icon: QMessageBox.Icon, title: str, text: str, informative: str = "",
                 details: str = "") -> QMessageBox:
        """A window-modal message box that does not block (background work and tests go on)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("crashesMessage")
        box.setTextFormat(Qt.TextFormat.PlainText)
        if informative:
            box.setInformativeText(informative)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.last_message_box = box
        box.finished.connect(lambda _r, b=box: self._message_closed(b))
        box.open()
        return box

    def _message_closed(self, box: QMessageBox) -> None:
        if self.last_message_box is box:
            self.last_message_box = None


__all__ = ["CrashesView", "GroupDetailPane", "MergeDialog", "ScrubRulesDialog"]
