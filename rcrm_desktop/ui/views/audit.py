"""The Audit log area: who did or saw what, newest first, and proof that nobody edited it.

* The table is keyset-paged on ``seq`` (``core.audit.list_events`` with
  ``before_seq``): a page costs the rows it shows, however long the log is.
* "Verify chain" recomputes every hash in the background
  (``core.audit.verify_chain``) and shows the result in colour *and* text: "OK, n
  events" in green, or the first broken event in red, which is also marked and
  selected in the table.
* "Export CSV…" writes the events that match the filters
  (``core.audit.export_csv``, which audits the export itself).
* Everything here is ids, actions and hashes: the audit log holds no personal
  data (privacy rules), so neither does this view.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QDate, QItemSelection, QSettings, Qt
from PySide6.QtGui import QFont, QFontDatabase, QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from rcrm_desktop.core import audit
from rcrm_desktop.core import operators as core_operators
from rcrm_desktop.core.audit import AuditFilter, AuditRow, ChainReport
from rcrm_desktop.core.permissions import Permission
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style, tasks
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.models.keyset import Column, KeysetTableModel
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.base import AreaView, FilterBar, SearchField, setup_table

log = logging.getLogger(__name__)

GENESIS = "0" * 64

#: Known target types (the combo is editable, so any other type can be typed in).
TARGET_TYPES = ("operator", "subject", "recording", "request", "crash_group", "crash_event", "legal_hold",
                "retention", "setting", "audit")

_ACTION_ICONS = {
    "login": "login",
    "logout": "logout",
    "operator": "shield-account-outline",
    "subject": "account-outline",
    "subjects": "account-group-outline",
    "audit": "clipboard-text-clock-outline",
    "settings": "cog-outline",
    "request": "clipboard-list-outline",
    "recording": "microphone-outline",
    "crash": "bug-outline",
    "retention": "timer-sand",
    "hold": "gavel",
    "demo": "flask-outline",
}


def _ask_save_path(parent: QWidget, suggested: str) -> str:
    """Ask where to save the CSV (tests replace this function)."""
    path, _filter = QFileDialog.getSaveFileName(
        parent, QCoreApplication.translate("AuditView", "Export audit events"), suggested,
        QCoreApplication.translate("AuditView", "CSV files (*.csv);;All files (*)"))
    return path


def details_summary(details: str) -> str:
    """``{"a":1,"b":"x"}`` → ``a=1, b=x`` (the JSON itself when it is not an object)."""
    try:
        data = json.loads(details or "{}")
    except ValueError:
        return details
    if not isinstance(data, dict):
        return details
    if not data:
        return "—"
    parts = []
    for key, value in data.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def details_pretty(details: str) -> str:
    try:
        return json.dumps(json.loads(details or "{}"), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return details


def action_icon(action: str) -> QIcon:
    prefix = action.split(".", 1)[0]
    if action in ("login.failed", "login.refused"):
        return icons.icon("account-alert-outline", style.state_color(colors.OVERDUE).name())
    return icons.icon(_ACTION_ICONS.get(prefix, "circle-small"))


class AuditView(AreaView):
    """Filterable, lazily loaded audit log with a detail pane, chain verification and CSV export."""

    spec = AREA["AuditView"]

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.filter = AuditFilter()
        self.chain_report: ChainReport | None = None
        self._loaded = False
        self._verifying = False
        self._exporting = False
        self._columns_sized = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(10)
        layout.addLayout(self._build_header())
        layout.addWidget(self._build_filters())

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.stack = QStackedWidget()
        self.table = QTableView()
        self.model: KeysetTableModel[AuditRow] = KeysetTableModel(self._columns(), page_size=200, parent=self)
        self.table.setModel(self.model)
        setup_table(self.table)
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSortIndicatorShown(False)
        header = self.table.horizontalHeader()
        for col, width in enumerate((64, 215, 90, 160, 130)):
            header.resizeSection(col, width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.fetch_failed.connect(self._fetch_failed)
        self.stack.addWidget(self.table)
        self.empty = style.EmptyState("clipboard-search-outline")
        self.empty.button.clicked.connect(self.clear_filters)
        self.stack.addWidget(self.empty)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self._build_detail())
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([760, 320])
        layout.addWidget(self.splitter, 1)
        self._show_detail(None)

    # -- building

    def _build_header(self) -> QHBoxLayout:
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title()))
        titles.addWidget(style.page_subtitle(
            self.tr("Every change and every view of personal data, newest first. Each event is hash-chained to "
                    "the one before, so an edited or deleted event shows.")))
        head.addLayout(titles, 1)

        self.chain_box = QFrame()
        self.chain_box.setObjectName("card")
        chain = QHBoxLayout(self.chain_box)
        chain.setContentsMargins(10, 4, 10, 4)
        chain.setSpacing(8)
        self.chain_icon = style.icon_label("shield-outline", 20)
        chain.addWidget(self.chain_icon)
        self.chain_label = QLabel(self.tr("Chain not verified yet"))
        self.chain_label.setObjectName("chainStatus")
        self.chain_label.setMaximumWidth(420)
        chain.addWidget(self.chain_label)
        self.chain_progress = QProgressBar()
        self.chain_progress.setRange(0, 0)
        self.chain_progress.setMaximumWidth(80)
        self.chain_progress.setMaximumHeight(10)
        self.chain_progress.setTextVisible(False)
        self.chain_progress.setVisible(False)
        chain.addWidget(self.chain_progress)
        head.addWidget(self.chain_box, 0, Qt.AlignmentFlag.AlignBottom)

        self.verify_button = QPushButton(icons.icon("shield-check-outline"), self.tr("Verify chain"))
        self.verify_button.setToolTip(self.tr("Recompute every event's hash and check the chain is unbroken"))
        self.verify_button.clicked.connect(self.verify_chain)
        head.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.export_button = QPushButton(icons.icon("file-delimited-outline"), self.tr("Export CSV…"))
        self.export_button.setToolTip(self.tr("Save the events that match the filters as a CSV file "
                                              "(the export is itself audited)"))
        self.export_button.clicked.connect(self.export_csv)
        head.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignBottom)
        return head

    def _build_filters(self) -> QWidget:
        box = QWidget()
        rows = QVBoxLayout(box)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(6)
        self.search = SearchField(self.tr("Target id (exact), e.g. 42"))
        self.search.setMinimumWidth(200)
        self.filter_bar = FilterBar(self.search)
        self.operator_combo = QComboBox()
        self.operator_combo.setMinimumContentsLength(14)
        self.operator_combo.setToolTip(self.tr("Only events by this operator"))
        self.action_combo = QComboBox()
        self.action_combo.setMinimumContentsLength(18)
        self.action_combo.setToolTip(self.tr("Only events with this action; “.*” entries take a whole group"))
        self.target_combo = QComboBox()
        self.target_combo.setEditable(True)
        self.target_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.target_combo.addItem("")
        try:
            known = set(audit.distinct_target_types())
        except RcrmError:
            known = set()
        self.target_combo.addItems(sorted(set(TARGET_TYPES) | known))
        self.target_combo.lineEdit().setPlaceholderText(self.tr("Any target type"))
        self.target_combo.setMinimumContentsLength(12)
        self.target_combo.setToolTip(self.tr("Only events about this kind of record"))
        for widget in (self.operator_combo, self.action_combo, self.target_combo):
            self.filter_bar.add_widget(widget)
        self.operator_combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.action_combo.currentIndexChanged.connect(lambda _i: self.apply_filters())
        self.target_combo.currentTextChanged.connect(lambda _t: self.apply_filters())
        self.search.search_changed.connect(lambda _t: self.apply_filters())
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)
        rows.addWidget(self.filter_bar)

        dates = QHBoxLayout()
        dates.setSpacing(6)
        dates.addWidget(style.icon_label("calendar-range", 18))
        today = QDate.currentDate()
        self.from_date, self.from_any = self._date_pair(today.addDays(-30))
        self.to_date, self.to_any = self._date_pair(today)
        dates.addWidget(QLabel(self.tr("From")))
        dates.addWidget(self.from_date)
        dates.addWidget(self.from_any)
        dates.addSpacing(12)
        dates.addWidget(QLabel(self.tr("To")))
        dates.addWidget(self.to_date)
        dates.addWidget(self.to_any)
        dates.addSpacing(12)
        dates.addWidget(style.muted_label(self.tr("Dates are local; “To” includes the whole day.")))
        dates.addStretch(1)
        rows.addLayout(dates)
        return box

    def _date_pair(self, initial: QDate) -> tuple[QDateEdit, QCheckBox]:
        edit = QDateEdit(initial)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setEnabled(False)
        edit.setMinimumWidth(120)
        anyone = QCheckBox(self.tr("any"))
        anyone.setChecked(True)
        anyone.toggled.connect(lambda checked: edit.setEnabled(not checked))
        anyone.toggled.connect(lambda _c: self.apply_filters())
        edit.dateChanged.connect(lambda _d: self.apply_filters())
        return edit, anyone

    def _columns(self) -> list[Column[AuditRow]]:
        def broken(row: AuditRow) -> bool:
            report = self.chain_report
            return report is not None and not report.ok and report.broken_seq == row.seq

        def target(row: AuditRow) -> str:
            if row.target_type and row.target_id:
                return f"{row.target_type} #{row.target_id}"
            return row.target_type or "—"

        def seq_tip(row: AuditRow) -> str:
            if broken(row) and self.chain_report is not None:
                return self.tr("The chain is broken here: %1").replace("%1", self.chain_report.problem or "")
            return ""

        red = style.state_color(colors.OVERDUE)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return [
            Column("seq", self.tr("Seq"), lambda r: f"{r.seq:,}", align=right, tooltip=seq_tip,
                   foreground=lambda r: red if broken(r) else None,
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None,
                   decoration=lambda r: icons.icon("link-variant-off", red.name()) if broken(r) else None),
            Column("at", self.tr("Time"), lambda r: f"{fmt.local_time(r.at, seconds=True)} ({fmt.relative(r.at)})",
                   tooltip=lambda r: fmt.utc_tooltip(r.at),
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None),
            Column("operator", self.tr("Operator"), lambda r: r.operator,
                   foreground=lambda r: colors.MUTED if r.operator_id is None else None,
                   tooltip=lambda r: (self.tr("Operator #%1").replace("%1", str(r.operator_id))
                                      if r.operator_id is not None else self.tr("Recorded by the system")),
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None),
            Column("action", self.tr("Action"), lambda r: r.action, decoration=lambda r: action_icon(r.action),
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None),
            Column("target", self.tr("Target"), target,
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None),
            Column("details", self.tr("Details"), lambda r: details_summary(r.details),
                   tooltip=lambda r: details_pretty(r.details),
                   background=lambda r: colors.tint(colors.OVERDUE) if broken(r) else None),
        ]

    def _build_detail(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(280)
        pane = QFrame()
        pane.setObjectName("detailPane")
        scroll.setWidget(pane)
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(6)
        top = QHBoxLayout()
        self.detail_icon = QLabel()
        self.detail_icon.setFixedSize(32, 32)
        top.addWidget(self.detail_icon, 0, Qt.AlignmentFlag.AlignTop)
        names = QVBoxLayout()
        names.setSpacing(0)
        self.detail_title = QLabel()
        self.detail_title.setFont(style.scaled_font(self.detail_title.font(), 1.2, QFont.Weight.DemiBold))
        names.addWidget(self.detail_title)
        self.detail_subtitle = style.muted_label()
        names.addWidget(self.detail_subtitle)
        top.addLayout(names, 1)
        layout.addLayout(top)
        layout.addSpacing(4)
        self.detail_form = QFormLayout()
        self.detail_form.setHorizontalSpacing(10)
        self.detail_form.setVerticalSpacing(5)
        self.detail_fields: dict[str, QLabel] = {}
        for key, caption in (("time", self.tr("Local time")), ("utc", self.tr("UTC")),
                             ("operator", self.tr("Operator")), ("action", self.tr("Action")),
                             ("target_type", self.tr("Target type")), ("target_id", self.tr("Target id"))):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_fields[key] = value
            self.detail_form.addRow(style.muted_label(caption, name="fieldCaption"), value)
        layout.addLayout(self.detail_form)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.details_heading = style.section_heading(self.tr("Details"))
        layout.addWidget(self.details_heading)
        self.detail_json = QPlainTextEdit()
        self.detail_json.setReadOnly(True)
        self.detail_json.setFont(mono)
        layout.addWidget(self.detail_json)
        self.integrity_heading = style.section_heading(self.tr("Integrity"))
        layout.addWidget(self.integrity_heading)
        self.hash_caption = style.muted_label(self.tr("Hash (SHA-256)"), name="fieldCaption")
        layout.addWidget(self.hash_caption)
        self.detail_hash = QLabel()
        self.detail_hash.setFont(mono)
        self.detail_hash.setWordWrap(True)
        self.detail_hash.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail_hash)
        self.prev_caption = style.muted_label(self.tr("Previous hash"), name="fieldCaption")
        layout.addWidget(self.prev_caption)
        self.detail_prev = QLabel()
        self.detail_prev.setFont(mono)
        self.detail_prev.setWordWrap(True)
        self.detail_prev.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail_prev)
        self.detail_chain_note = QLabel()
        self.detail_chain_note.setWordWrap(True)
        layout.addWidget(self.detail_chain_note)
        layout.addStretch(1)
        self.detail_placeholder = style.muted_label(self.tr("Select an event to see all its fields and hashes."))
        self.detail_placeholder.setWordWrap(True)
        layout.addWidget(self.detail_placeholder)
        self._detail_widgets: list[QWidget] = [
            self.detail_icon, self.detail_title, self.detail_subtitle, self.details_heading, self.detail_json,
            self.integrity_heading, self.hash_caption, self.detail_hash, self.prev_caption, self.detail_prev,
            self.detail_chain_note]
        return scroll

    # -- filters and loading

    def activate(self) -> None:
        if not self._loaded:
            self.refresh()

    def refresh(self) -> None:
        """Reload the combos (new actions, new operators) and the events, keeping the filters."""
        self._loaded = True
        self._reload_combos()
        self.apply_filters(force=True)

    def _reload_combos(self) -> None:
        actor = self.session.actor
        op_id = self.operator_combo.currentData()
        action = self.action_combo.currentData()
        for combo in (self.operator_combo, self.action_combo):
            combo.blockSignals(True)
            combo.clear()
        try:
            self.operator_combo.addItem(icons.icon("account-multiple-outline"), self.tr("All operators"), None)
            if actor.can(Permission.OPERATORS_VIEW):
                for op in core_operators.list_operators(actor):
                    self.operator_combo.addItem(f"{op.username} — {op.display_name}", op.id)
            self.action_combo.addItem(self.tr("All actions"), None)
            actions = audit.distinct_actions()
            for name in actions:
                self.action_combo.addItem(action_icon(name), name, name)
            groups = sorted({a.split(".", 1)[0] for a in actions if "." in a})
            groups = [g for g in groups if sum(1 for a in actions if a.startswith(g + ".")) > 1]
            if groups:
                self.action_combo.insertSeparator(self.action_combo.count())
                for group in groups:
                    self.action_combo.addItem(self.tr("%1.* (all “%1” actions)").replace("%1", group), group + ".*")
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Cannot load the audit filters"))
        finally:
            index = self.operator_combo.findData(op_id)
            self.operator_combo.setCurrentIndex(max(0, index))
            index = self.action_combo.findData(action)
            self.action_combo.setCurrentIndex(max(0, index))
            for combo in (self.operator_combo, self.action_combo):
                combo.blockSignals(False)

    def current_filter(self) -> AuditFilter:
        """The filter the widgets describe (dates are local days, "To" inclusive)."""
        since = until = None
        if not self.from_any.isChecked():
            since = audit.parse_time_bound(self.from_date.date().toString("yyyy-MM-dd"))
        if not self.to_any.isChecked():
            until = audit.parse_time_bound(self.to_date.date().toString("yyyy-MM-dd"), end=True)
        target_type = self.target_combo.currentText().strip() or None
        target_id = self.search.text().strip() or None
        return AuditFilter(operator_id=self.operator_combo.currentData(), action=self.action_combo.currentData(),
                           target_type=target_type, target_id=target_id, since=since, until=until)

    def apply_filters(self, force: bool = False) -> None:
        if not self._loaded:
            return
        flt = self.current_filter()
        if flt == self.filter and not force:
            return
        self.filter = flt
        keep = self.selected_event()
        actor = self.session.actor

        def fetch(after: object, limit: int) -> list[AuditRow]:
            before = after.seq if isinstance(after, AuditRow) else None
            return audit.list_events(actor, flt, before_seq=before, limit=limit)

        self.model.set_fetch(fetch)
        if keep is not None:
            self.select_seq(keep.seq, load_more=False)
        if self.selected_event() is None:
            self._show_detail(None)

    def clear_filters(self) -> None:
        widgets = (self.search, self.operator_combo, self.action_combo, self.target_combo, self.from_any,
                   self.to_any, self.from_date, self.to_date)
        for widget in widgets:
            widget.blockSignals(True)
        self.search.clear()
        self.operator_combo.setCurrentIndex(0)
        self.action_combo.setCurrentIndex(0)
        self.target_combo.setCurrentIndex(0)
        self.target_combo.setEditText("")
        self.from_any.setChecked(True)
        self.to_any.setChecked(True)
        self.from_date.setEnabled(False)
        self.to_date.setEnabled(False)
        for widget in widgets:
            widget.blockSignals(False)
        self.apply_filters()

    def _filters_active(self) -> bool:
        return self.filter != AuditFilter()

    def _page_loaded(self, rows: int) -> None:
        more = not self.model.fetch_all_loaded()
        if rows == 0:
            self.filter_bar.count_label.setText(self.tr("No events"))
        elif more:
            self.filter_bar.count_label.setText(self.tr("%1 newest events shown — scroll for more")
                                                .replace("%1", f"{rows:,}"))
        else:
            self.filter_bar.count_label.setText(style.count_text(rows, self.tr("%1 event"), self.tr("%1 events")))
        if rows:
            self.stack.setCurrentWidget(self.table)
            if not self._columns_sized:
                self._columns_sized = True
                header = self.table.horizontalHeader()
                for col in range(self.model.columnCount() - 1):
                    self.table.resizeColumnToContents(col)
                    header.resizeSection(col, min(header.sectionSize(col) + 12, 280))
        else:
            self.stack.setCurrentWidget(self.empty)
            if self._filters_active():
                self.empty.set_text(self.tr("No audit events match these filters"),
                                    self.tr("Widen the dates or choose “All” to see more."), self.tr("Clear filters"))
            else:
                self.empty.set_text(self.tr("No audit events yet"),
                                    self.tr("Log-ins, changes and views of personal data are recorded here."))

    def _fetch_failed(self, exc: BaseException) -> None:
        error_dialogs.show_error(self, exc, self.tr("Cannot load the audit log"))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- selection and detail

    def selected_event(self) -> AuditRow | None:
        model = self.table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        return self.model.row_at(rows[0].row()) if rows else None

    def select_seq(self, seq: int, *, load_more: bool = True, max_pages: int = 50) -> bool:
        """Select the event ``seq`` if it matches the filters, loading further pages when needed."""
        pages = 0
        while True:
            row = self.model.find_row(lambda r: r.seq == seq)
            if row >= 0:
                self.table.selectRow(row)
                self.table.scrollTo(self.model.index(row, 0))
                return True
            last = self.model.row_at(self.model.rowCount() - 1)
            if (not load_more or not self.model.canFetchMore() or pages >= max_pages
                    or (last is not None and last.seq < seq)):
                return False
            self.model.fetchMore()
            pages += 1

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._show_detail(self.selected_event())

    def _previous_hash(self, row: AuditRow) -> tuple[str, str]:
        """The stored ``prev_hash`` when core provides it, else the hash of event ``seq - 1``."""
        stored = getattr(row, "prev_hash", None)
        if isinstance(stored, str):
            return stored, self.tr("Previous hash (stored with this event)")
        if row.seq <= 1:
            return GENESIS, self.tr("Previous hash (first event: the chain starts from zeros)")
        index = self.model.find_row(lambda r: r.seq == row.seq - 1)
        previous = self.model.row_at(index) if index >= 0 else None
        if previous is None:
            try:
                found = audit.list_events(self.session.actor, AuditFilter(), before_seq=row.seq, limit=1)
            except RcrmError:
                found = []
            previous = found[0] if found and found[0].seq == row.seq - 1 else None
        if previous is None:
            return "—", self.tr("Previous event's hash (event %1 not found)").replace("%1", str(row.seq - 1))
        return previous.hash, self.tr("Previous event's hash (event %1)").replace("%1", f"{row.seq - 1:,}")

    def _show_detail(self, row: AuditRow | None) -> None:
        for widget in self._detail_widgets:
            widget.setVisible(row is not None)
        for index in range(self.detail_form.rowCount()):
            self.detail_form.setRowVisible(index, row is not None)
        self.detail_placeholder.setVisible(row is None)
        if row is None:
            return
        self.detail_icon.setPixmap(action_icon(row.action).pixmap(32, 32))
        self.detail_title.setText(self.tr("Event %1").replace("%1", f"{row.seq:,}"))
        self.detail_subtitle.setText(row.action)
        f = self.detail_fields
        f["time"].setText(fmt.local_with_relative(row.at))
        f["utc"].setText(row.at.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        f["operator"].setText(row.operator if row.operator_id is None
                              else f"{row.operator} (#{row.operator_id})")
        f["action"].setText(row.action)
        f["target_type"].setText(row.target_type or "—")
        f["target_id"].setText(row.target_id or "—")
        pretty = details_pretty(row.details)
        self.detail_json.setPlainText(pretty)
        lines = min(8, pretty.count("\n") + 1)
        self.detail_json.setFixedHeight(lines * self.detail_json.fontMetrics().lineSpacing() + 14)
        self.detail_hash.setText(_wrap_hash(row.hash))
        prev, caption = self._previous_hash(row)
        self.prev_caption.setText(caption)
        self.detail_prev.setText(_wrap_hash(prev))
        report = self.chain_report
        if report is None:
            self.detail_chain_note.setText("")
            self.detail_chain_note.setVisible(False)
        elif not report.ok and report.broken_seq == row.seq:
            self.detail_chain_note.setText(self.tr("✗ The chain is broken at this event: %1")
                                           .replace("%1", report.problem or ""))
            self.detail_chain_note.setStyleSheet(
                f"color: {style.state_color(colors.OVERDUE).name()}; font-weight: 600;")
        elif report.ok or (report.broken_seq is not None and row.seq < report.broken_seq):
            self.detail_chain_note.setText(self.tr("✓ Verified as part of an intact chain"))
            self.detail_chain_note.setStyleSheet(f"color: {style.state_color(colors.OK).name()};")
        else:
            self.detail_chain_note.setText(self.tr("Not verified: the chain breaks at an earlier event"))
            self.detail_chain_note.setStyleSheet(f"color: {style.state_color(colors.DUE_SOON).name()};")

    # -- chain verification

    def verify_chain(self) -> None:
        if self._verifying:
            return
        self._verifying = True
        self.verify_button.setEnabled(False)
        self.chain_progress.setVisible(True)
        self.chain_label.setText(self.tr("Verifying the audit chain…"))
        self.chain_label.setStyleSheet("")
        tasks.run_task(lambda _task: audit.verify_chain(), self._verified, self._verify_failed)

    def _verified(self, report: object) -> None:
        if not isValid(self):
            return
        self._verifying = False
        self.verify_button.setEnabled(True)
        self.chain_progress.setVisible(False)
        assert isinstance(report, ChainReport)
        self.chain_report = report
        checked = dt.datetime.now().strftime("%H:%M:%S")
        if report.ok:
            color = style.state_color(colors.OK)
            text = self.tr("Chain OK — %1 events · checked %2").replace("%1", f"{report.count:,}")
            self.chain_icon.setPixmap(icons.icon("shield-check", color.name()).pixmap(20, 20))
        else:
            color = style.state_color(colors.OVERDUE)
            where = f"{report.broken_seq:,}" if report.broken_seq is not None else "?"
            text = self.tr("Chain BROKEN at event %1 · checked %2").replace("%1", where)
            self.chain_icon.setPixmap(icons.icon("shield-alert", color.name()).pixmap(20, 20))
        self.chain_label.setText(text.replace("%2", checked))
        self.chain_label.setToolTip(report.summary())
        self.chain_label.setStyleSheet(f"color: {color.name()}; font-weight: 600;")
        # Reload, so the table shows what the database holds now (a tampered row as it is now).
        self.apply_filters(force=True)
        if not report.ok and report.broken_seq is not None:
            self.select_seq(report.broken_seq)
        self._show_detail(self.selected_event())
        self.status_message.emit(report.summary())

    def _verify_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._verifying = False
        self.verify_button.setEnabled(True)
        self.chain_progress.setVisible(False)
        self.chain_label.setText(self.tr("Verification did not finish"))
        error_dialogs.show_error(self, exc, self.tr("Verify chain"))

    # -- export

    def export_csv(self) -> None:
        if self._exporting:
            return
        suggested = str(Path.home() / f"audit-{dt.datetime.now():%Y%m%d-%H%M}.csv")
        path = _ask_save_path(self, suggested)
        if not path:
            return
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".csv")
        flt = self.filter
        actor = self.session.actor

        def work(_task: tasks.Task) -> int:
            with target.open("w", encoding="utf-8", newline="") as out:
                return audit.export_csv(actor, flt, out)

        self._exporting = True
        self.export_button.setEnabled(False)
        self.status_message.emit(self.tr("Exporting audit events to %1…").replace("%1", str(target)))
        tasks.run_task(work, lambda count: self._exported(target, count), self._export_failed)

    def _exported(self, target: Path, count: object) -> None:
        if not isValid(self):
            return
        self._exporting = False
        self.export_button.setEnabled(True)
        self.last_export = (target, int(count))  # type: ignore[call-overload]
        self.status_message.emit(style.count_text(int(count), self.tr("Exported %1 event to "),  # type: ignore
                                                  self.tr("Exported %1 events to ")) + str(target))
        self.refresh()

    def _export_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._exporting = False
        self.export_button.setEnabled(True)
        if isinstance(exc, OSError):
            error_dialogs.message_box(self, QMessageBox.Icon.Warning, self.tr("Export CSV"),
                                      self.tr("The file could not be written: %1").replace(
                                          "%1", exc.strerror or str(exc)))
            return
        error_dialogs.show_error(self, exc, self.tr("Export CSV"))

    # -- state

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("header", self.table.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        splitter = settings.value("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        header = settings.value("header")
        if header is not None and self.table.horizontalHeader().restoreState(header):
            self._columns_sized = True


def _wrap_hash(value: str) -> str:
    """A 64-character hash in two lines of 32, so the detail pane never clips it."""
    return value if len(value) != 64 else value[:32] + "\n" + value[32:]

