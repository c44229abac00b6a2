"""The Requests area: data-subject rights requests and their deadlines, and the children's data report.

Why a compliance officer opens the program. Guarantees:

* The table lists requests by the deadline in force (extended or original),
  earliest first, keyset-paged through ``core.requests.list_requests`` (every
  page shown is audited). The "Days left" column is impossible to miss: red
  "3 days overdue", amber "Due in 5 days" — colour *and* text, with a tinted
  row background; a restricted account carries its mark in the table too.
* The filter bar searches requester, account name or user ID and ``#number``
  (accents and case ignored), and narrows by type, state, "overdue only" and
  "due within 7 days"; the two deadline filters show how many requests they hold.
* The detail pane (``RequestDetailPane``) shows the request chosen, its
  deadline box, timeline and every next step; a change made there updates the
  table row.
* "New request…" (Ctrl+N, and in the File menu) records a request; an empty
  instance says what belongs here and offers that action.
* The "Children's data" tab lists accounts of children under the age of digital
  consent (GDPR Art. 8) and opens an erasure request for each in one action
  (one transaction per request), after asking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings as app_options
from rcrm_desktop.core import children, deadlines
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.children import ChildRow
from rcrm_desktop.core.instance import get_int_setting
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.requests import RequestDetail, RequestFilter, RequestRow
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.new_request import NewRequestDialog
from rcrm_desktop.ui.models.keyset import Column, KeysetTableModel
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.tasks import run_task
from rcrm_desktop.ui.views.base import (
    AreaView,
    FilterBar,
    SearchField,
    column_of_sort_key,
    selected_model_row,
    setup_table,
    show_sort_indicator,
)
from rcrm_desktop.ui.widgets.request_detail import SHORT_TYPES, STATE_COLORS, RequestDetailPane, deadline_text

#: How long the selection rests on a row before its detail (an audited view) opens.
DETAIL_DELAY_MS = 150

#: Columns hidden at first (the header's column chooser shows them; the detail pane shows them anyway).
OPTIONAL_COLUMNS = ("received",)

#: "Due within" filter, in days (GDPR deadlines: amber from this many days on).
DUE_SOON_DAYS = deadlines.DUE_SOON_DAYS


class RequestsView(AreaView):
    """Filter bar, deadline-sorted table and detail pane; a second tab for children's data."""

    spec = AREA["RequestsView"]

    def __init__(self, session: AppSession, parent: QWidget | None = None, *,
                 store: RecordingsStore | None = None, today: dt.date | None = None) -> None:
        super().__init__(session, parent)
        self.store = store
        self.today = today
        self._loaded = False
        self._sort = "due"
        self._descending = False
        self._applying = False
        self._fetch_error: BaseException | None = None
        self.new_dialog: NewRequestDialog | None = None
        can_manage = session.actor.can(Permission.REQUESTS_MANAGE)
        self.new_action = QAction(icons.icon("file-document-plus-outline"), self.tr("New request…"), self)
        self.new_action.setObjectName("newRequestAction")
        self.new_action.setShortcut(QKeySequence("Ctrl+N"))
        self.new_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.new_action.setEnabled(can_manage)
        self.new_action.setToolTip(self.tr("Record a new rights request (Ctrl+N)") if can_manage else
                                   self.tr("Your role (%1) cannot record requests: it needs requests.manage.")
                                   .replace("%1", ROLE_LABELS[session.actor.role]))
        self.new_action.triggered.connect(lambda: self.open_new_request())
        self.addAction(self.new_action)
        self._build()
        self._connect()

    # ------------------------------------------------------------ building

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(10)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title(), self))
        titles.addWidget(style.page_subtitle(self.tr(
            "Data-subject rights requests (GDPR Art. 15–21), earliest deadline first. Answer within one month "
            "of receipt; extend by up to two months only with reasons, told within the first month."), self))
        head.addLayout(titles, 1)
        self.new_button = QPushButton(self.new_action.icon(), self.tr("New request…"), self)
        self.new_button.setObjectName("newRequestButton")
        self.new_button.setToolTip(self.new_action.toolTip())
        self.new_button.setEnabled(self.new_action.isEnabled())
        self.new_button.clicked.connect(self.new_action.trigger)
        head.addWidget(self.new_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("requestTabs")
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs, 1)

        page = QWidget(self.tabs)
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 8, 0, 0)
        page_layout.setSpacing(8)
        self.search = SearchField(self.tr("Search requester, account, user ID or #number"), page)
        self.search.setObjectName("requestsSearch")
        self.filter_bar = FilterBar(self.search, page)
        self.type_combo = QComboBox(self.filter_bar)
        self.type_combo.setObjectName("typeFilter")
        self.type_combo.addItem(self.tr("All types"), None)
        for key, label in rq.TYPES.items():
            self.type_combo.addItem(self.tr(label), key)
        self.filter_bar.add_widget(self.type_combo)
        self.state_combo = QComboBox(self.filter_bar)
        self.state_combo.setObjectName("stateFilter")
        self.state_combo.addItem(self.tr("Open requests"), "open")
        self.state_combo.addItem(self.tr("All requests"), None)
        self.state_combo.addItem(self.tr("Closed requests"), "closed")
        for key, label in rq.STATES.items():
            self.state_combo.addItem(self.tr(label), key)
        self.filter_bar.add_widget(self.state_combo)
        self.overdue_check = QCheckBox(self.tr("Overdue only"), self.filter_bar)
        self.overdue_check.setObjectName("overdueOnly")
        self.overdue_check.setToolTip(self.tr("Open requests whose deadline has passed"))
        self.filter_bar.add_widget(self.overdue_check)
        self.soon_check = QCheckBox(self.tr("Due within 7 days"), self.filter_bar)
        self.soon_check.setObjectName("dueSoon")
        self.soon_check.setToolTip(self.tr("Open requests due today or within the next 7 days"))
        self.filter_bar.add_widget(self.soon_check)
        self.count_label = self.filter_bar.count_label
        page_layout.addWidget(self.filter_bar)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, page)
        self.splitter.setObjectName("requestsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.table_stack = QStackedWidget(self.splitter)
        self.table = QTableView(self.table_stack)
        self.table.setObjectName("requestsTable")
        self.model: KeysetTableModel[RequestRow] = KeysetTableModel(self._columns(), app_options.PAGE_SIZE, self)
        self.table.setModel(self.model)
        setup_table(self.table)
        header = self.table.horizontalHeader()
        for i, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(i, column.width)
            # Shown by the header's column chooser; the detail pane shows it anyway.
            header.setSectionHidden(i, column.key in OPTIONAL_COLUMNS)
        self.table_stack.addWidget(self.table)
        self.empty = style.EmptyState("file-document-multiple-outline", self.table_stack)
        self.empty.setObjectName("requestsEmpty")
        self.table_stack.addWidget(self.empty)
        self.detail = RequestDetailPane(self.session, self.splitter, store=self.store)
        self.detail.today = self.today
        self.detail.setMinimumWidth(420)
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([780, 440])
        page_layout.addWidget(self.splitter, 1)
        self.tabs.addTab(page, icons.icon("file-document-multiple-outline"), self.tr("Rights requests"))

        self.children_panel = ChildrenPanel(self.session, self.tabs, today=self.today)
        self.tabs.addTab(self.children_panel, icons.icon("human-male-child"), self.tr("Children's data"))

        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self.open_selected)
        self._set_sort_indicator()

    def _columns(self) -> list[Column[RequestRow]]:
        def today() -> dt.date:
            return self.today or dt.date.today()

        def days_color(r: RequestRow) -> QColor | None:
            color = deadline_text(r, today())[1]
            return style.state_color(color) if color is not None else None

        def days_background(r: RequestRow) -> QColor | None:
            color = deadline_text(r, today())[1]
            return colors.tint(color) if color in (colors.OVERDUE, colors.DUE_SOON) else None

        def days_icon(r: RequestRow) -> Any:
            color = deadline_text(r, today())[1]
            if color is colors.OVERDUE:
                return icons.icon("clock-alert-outline", style.state_color(color).name())
            if color is colors.DUE_SOON:
                return icons.icon("clock-outline", style.state_color(color).name())
            return None

        def days_tip(r: RequestRow) -> str:
            if not r.is_open:
                return self.tr("Closed; the deadline no longer runs")
            text = self.tr("Due %1").replace("%1", r.effective_due.strftime("%A %d %B %Y"))
            if r.extended_due_on:
                text += "\n" + self.tr("Extended from %1").replace("%1", r.due_on.isoformat())
            return text

        def subject_text(r: RequestRow) -> str:
            if r.subject_id is not None:
                mark = []
                if r.subject_restricted:
                    mark.append(self.tr("restricted"))
                if r.subject_objected:
                    mark.append(self.tr("objected"))
                return r.subject_user_id + (f" · {', '.join(mark)}" if mark else "") if r.subject_user_id else "—"
            if r.subject_ref:
                return self.tr("Former account")
            return self.tr("Not yet matched")

        def subject_color(r: RequestRow) -> QColor | None:
            if r.subject_id is None:
                return colors.MUTED
            if r.subject_restricted:
                return style.state_color(colors.RESTRICTED)
            return None

        def subject_icon(r: RequestRow) -> Any:
            if r.subject_restricted:
                return icons.icon("lock-outline", style.state_color(colors.RESTRICTED).name())
            if r.subject_id is None and not r.subject_ref and r.is_open:
                return icons.icon("account-question-outline", colors.MUTED.name())
            return None

        def subject_tip(r: RequestRow) -> str:
            if r.subject_id is not None:
                tip = f"{r.subject_user_id} — {r.subject_name}"
                if r.subject_restricted:
                    tip += "\n" + self.tr("Restricted (GDPR Art. 18): kept but not used")
                return tip
            if r.subject_ref:
                return self.tr("The account was erased; the request keeps the reference %1").replace(
                    "%1", r.subject_ref)
            return self.tr("Match the request to a user account in the detail pane")

        def state_icon(r: RequestRow) -> Any:
            names = {"awaiting_requester": "timer-sand", "completed": "check-circle-outline",
                     "rejected": "close-circle-outline", "withdrawn": "cancel"}
            name = names.get(r.state)
            return icons.icon(name, style.state_color(STATE_COLORS[r.state]).name()) if name else None

        def state_color(r: RequestRow) -> QColor | None:
            return style.state_color(colors.DUE_SOON) if r.state == "awaiting_requester" else None

        def due_icon(r: RequestRow) -> Any:
            return icons.icon("calendar-clock", style.state_color(colors.DUE_SOON).name()) if r.extended_due_on \
                else None

        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return [
            Column("id", "#", lambda r: str(r.id), sort_key="id", align=right, width=60),  # six digits whole
            Column("days", self.tr("Days left"), lambda r: deadline_text(r, today())[0], tooltip=days_tip,
                   foreground=days_color, background=days_background, decoration=days_icon, width=132),
            Column("due", self.tr("Due"), lambda r: r.effective_due.isoformat(), sort_key="due", tooltip=days_tip,
                   decoration=due_icon, width=104),
            Column("type", self.tr("Type"), lambda r: self.tr(SHORT_TYPES.get(r.type, r.type)),
                   tooltip=lambda r: self.tr(rq.type_label(r.type)), width=92),
            Column("state", self.tr("State"), lambda r: self.tr(rq.state_label(r.state)), decoration=state_icon,
                   foreground=state_color, width=156),
            Column("requester", self.tr("Requester"), lambda r: r.requester_name,
                   tooltip=lambda r: f"{r.requester_name}\n{r.requester_contact or ''}".strip(), width=140),
            Column("subject", self.tr("User account"), subject_text, tooltip=subject_tip, foreground=subject_color,
                   decoration=subject_icon, width=120),
            Column("received", self.tr("Received"), lambda r: r.received_on.isoformat(), sort_key="received",
                   width=90),
        ]

    def _connect(self) -> None:
        self.search.search_changed.connect(lambda _t: self._filters_changed())
        for combo in (self.type_combo, self.state_combo):
            combo.currentIndexChanged.connect(lambda _i: self._filters_changed())
        for check in (self.overdue_check, self.soon_check):
            check.toggled.connect(lambda _on: self._filters_changed())
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)
        self.model.sort_requested.connect(self._sort_requested)
        self.model.fetch_failed.connect(self._fetch_failed)
        self.model.page_loaded.connect(lambda _n: self._update_empty())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.installEventFilter(self)
        self.detail.request_changed.connect(self._row_changed)
        self.detail.status_message.connect(self.status_message.emit)
        self.empty.button.clicked.connect(self._empty_action)
        self.children_panel.requests_opened.connect(lambda _ids: self.reload())
        self.children_panel.count_changed.connect(self._children_count)

    # ------------------------------------------------------------ AreaView

    def activate(self) -> None:
        if not self._loaded:
            self.reload()
            self.children_panel.reload()

    def refresh(self) -> None:
        self.reload(keep_selection=True)
        self.children_panel.reload()
        if self.detail.current_id is not None:
            self.detail.reload()

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def file_actions(self) -> list[QAction]:
        return [self.new_action]

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("requests/splitter", self.splitter.saveState())
        settings.setValue("requests/header", self.table.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        for key, target in (("requests/splitter", self.splitter), ("requests/header",
                                                                   self.table.horizontalHeader())):
            value = settings.value(key)
            if isinstance(value, QByteArray | bytes):
                target.restoreState(value)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ loading

    def current_filter(self) -> RequestFilter:
        return RequestFilter(search=self.search.text().strip() or None, type=self.type_combo.currentData(),
                             state=self.state_combo.currentData(), overdue_only=self.overdue_check.isChecked(),
                             due_within_days=DUE_SOON_DAYS if self.soon_check.isChecked() else None)

    def filters_active(self) -> bool:
        return bool(self.search.text().strip() or self.type_combo.currentIndex() or self.state_combo.currentIndex()
                    or self.overdue_check.isChecked() or self.soon_check.isChecked())

    def reload(self, *, keep_selection: bool = True) -> None:
        selected = self.selected_row()
        keep_id = selected.id if (keep_selection and selected) else self.detail.current_id
        flt = self.current_filter()
        actor = self.session.actor
        sort, descending, today = self._sort, self._descending, self.today
        self._fetch_error = None
        self._loaded = True

        def fetch(after: RequestRow | None, limit: int) -> list[RequestRow]:
            key = rq.page_key(after, sort) if after is not None else None
            return rq.list_requests(actor, flt, sort=sort, descending=descending, after=key, limit=limit,
                                    today=today)

        self.model.set_fetch(fetch)
        self._update_empty()
        self._request_counts()
        if keep_id is not None:
            row = self.model.find_row(lambda r: r.id == keep_id)
            if row >= 0:
                self._select_row(row, open_detail=False)

    def _request_counts(self) -> None:
        actor, flt, today = self.session.actor, self.current_filter(), self.today

        def work(_task: Any) -> tuple[int, int, int]:
            return (rq.count_requests(actor, flt, today=today),
                    rq.count_requests(actor, RequestFilter(overdue_only=True), today=today),
                    rq.count_requests(actor, RequestFilter(due_within_days=DUE_SOON_DAYS), today=today))

        self.count_label.setText(self.tr("counting…"))
        run_task(work, on_done=self._counts_done, on_error=lambda _e: self.count_label.setText("—"))

    def _counts_done(self, counts: tuple[int, int, int]) -> None:
        matching, overdue, soon = counts
        self.count_label.setText(style.count_text(matching, self.tr("%1 request"), self.tr("%1 requests")))
        self.overdue_check.setText(self.tr("Overdue only (%1)").replace("%1", fmt.count(overdue)))
        self.soon_check.setText(self.tr("Due within 7 days (%1)").replace("%1", fmt.count(soon)))
        red = style.state_color(colors.OVERDUE).name()
        amber = style.state_color(colors.DUE_SOON).name()
        self.overdue_check.setStyleSheet(f"QCheckBox {{ color: {red}; font-weight: 600; }}" if overdue else "")
        self.soon_check.setStyleSheet(f"QCheckBox {{ color: {amber}; font-weight: 600; }}" if soon else "")

    def _fetch_failed(self, exc: BaseException) -> None:
        self._fetch_error = exc
        message = exc.message if isinstance(exc, RcrmError) else type(exc).__name__
        self.empty.set_text(self.tr("The requests could not be loaded"), message, self.tr("Try again"))
        self.table_stack.setCurrentWidget(self.empty)

    def _update_empty(self) -> None:
        if self._fetch_error is not None:
            return
        if self.model.rowCount() > 0:
            self.table_stack.setCurrentWidget(self.table)
            return
        if self.filters_active():
            self.empty.set_text(self.tr("No requests match these filters"),
                                self.tr("Open requests are shown by default; choose “All requests” to include "
                                        "closed ones."), self.tr("Clear filters"))
        else:
            self.empty.set_text(self.tr("No rights requests"),
                                self.tr("Requests to access, correct, erase, restrict, port or object to the use "
                                        "of personal data appear here with their deadlines."),
                                self.tr("New request…") if self.new_action.isEnabled() else "")
        self.table_stack.setCurrentWidget(self.empty)

    def empty_state_text(self) -> str:
        if self.table_stack.currentWidget() is not self.empty:
            return ""
        return f"{self.empty.title.text()}\n{self.empty.text.text()}"

    def _empty_action(self) -> None:
        if self._fetch_error is not None:
            self.reload()
        elif self.filters_active():
            self.clear_filters()
        else:
            self.open_new_request()

    # ------------------------------------------------------------ filters and sorting

    def _filters_changed(self) -> None:
        if not self._applying:
            self.reload(keep_selection=True)

    def clear_filters(self) -> None:
        self._applying = True
        try:
            self.search.clear()
            self.type_combo.setCurrentIndex(0)
            self.state_combo.setCurrentIndex(0)
            self.overdue_check.setChecked(False)
            self.soon_check.setChecked(False)
        finally:
            self._applying = False
        self.reload()

    def _column_of(self, sort_key: str) -> int:
        return column_of_sort_key(self.model, sort_key)

    def _set_sort_indicator(self) -> None:
        show_sort_indicator(self.table, self._sort, self._descending)

    def _sort_requested(self, key: str, descending: bool) -> None:
        if key == self._sort and descending == self._descending and self._loaded:
            return
        self._sort, self._descending = key, descending
        if self._loaded:
            self.reload()

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Escape and self.filters_active():
            self.clear_filters()
            event.accept()
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected()
                self.detail.setFocus()
                return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------ selection

    def selected_row(self) -> RequestRow | None:
        return selected_model_row(self.table)

    def _selection_changed(self) -> None:
        row = self.selected_row()
        if row is None:
            self._detail_timer.stop()
            return
        if row.id == self.detail.current_id and self.detail.detail is not None:
            return
        self._detail_timer.start()

    def open_selected(self) -> None:
        self._detail_timer.stop()
        row = self.selected_row()
        if row is not None and (row.id != self.detail.current_id or self.detail.detail is None):
            self.detail.load(row.id)

    def _select_row(self, row: int, *, open_detail: bool = True) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.scrollTo(index)
        if open_detail:
            self.open_selected()

    def open_request(self, request_id: int) -> RequestDetail | None:
        """Select and show one request (clearing filters when it is not among the rows shown)."""
        self.tabs.setCurrentIndex(0)
        if not self._loaded:
            self.reload()
        row = self.model.find_row(lambda r: r.id == request_id)
        if row < 0 and self.filters_active():
            self.clear_filters()
            row = self.model.find_row(lambda r: r.id == request_id)
        if row < 0 and self.state_combo.currentData() == "open":
            self._applying = True
            self.state_combo.setCurrentIndex(self.state_combo.findData(None))
            self._applying = False
            self.reload()
            row = self.model.find_row(lambda r: r.id == request_id)
        if row >= 0:
            self._select_row(row, open_detail=False)
        return self.detail.load(request_id)

    def _row_changed(self, detail: RequestDetail) -> None:
        row = self.model.find_row(lambda r: r.id == detail.id)
        if row >= 0 and self.model.row_at(row) != detail.row:
            self.model.replace_row(row, detail.row)
            self._request_counts()

    # ------------------------------------------------------------ new request

    def open_new_request(self, request_type: str | None = None) -> NewRequestDialog | None:
        if not self.new_action.isEnabled():
            return None
        if self.new_dialog is not None:
            self.new_dialog.close()
            self.new_dialog.deleteLater()
        dialog = NewRequestDialog(self.session.actor, self, today=self.today, request_type=request_type)
        dialog.created.connect(self._created)
        dialog.finished.connect(lambda _r, d=dialog: self._new_finished(d))
        self.new_dialog = dialog
        dialog.open()
        return dialog

    def _new_finished(self, dialog: NewRequestDialog) -> None:
        if self.new_dialog is dialog:
            self.new_dialog = None
        dialog.deleteLater()

    def _created(self, detail: RequestDetail) -> None:
        self.status_message.emit(self.tr("Request #%1 recorded; due %2.").replace("%1", str(detail.id))
                                 .replace("%2", detail.row.due_on.isoformat()))
        self.clear_filters()
        self.open_request(detail.id)

    def _children_count(self, count: int) -> None:
        self.tabs.setTabText(1, self.tr("Children's data (%1)").replace("%1", fmt.count(count)))


class ChildrenPanel(QWidget):
    """Accounts of children under the age of digital consent (GDPR Art. 8), and one action for all of them."""

    requests_opened = Signal(object)
    count_changed = Signal(int)

    def __init__(self, session: AppSession, parent: QWidget | None = None, *, today: dt.date | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.today = today
        self.setObjectName("ChildrenPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(8)
        bar = QHBoxLayout()
        self.heading = QLabel(self)
        self.heading.setFont(style.scaled_font(self.heading.font(), 1.1, QFont.Weight.DemiBold))
        bar.addWidget(self.heading)
        bar.addStretch(1)
        bar.addWidget(QLabel(self.tr("Age of consent:"), self))
        self.age_spin = QSpinBox(self)
        self.age_spin.setObjectName("consentAge")
        self.age_spin.setRange(children.MIN_AGE, children.MAX_AGE)
        try:
            self.age_spin.setValue(get_int_setting("child_consent_age"))
        except RcrmError:
            self.age_spin.setValue(16)
        self.age_spin.setToolTip(self.tr("GDPR Art. 8: 16 unless national law lowers it (13–16; Czech Republic "
                                         "15). The instance option child_consent_age sets the default."))
        bar.addWidget(self.age_spin)
        self.open_button = QPushButton(icons.icon("delete-forever-outline"),
                                       self.tr("Open erasure requests…"), self)
        self.open_button.setObjectName("openErasureRequests")
        self.open_button.clicked.connect(self.open_requests)
        bar.addWidget(self.open_button)
        layout.addLayout(bar)
        explain = style.muted_label(self.tr(
            "Consent given for a child below this age is only valid if given or authorised by a parent (GDPR "
            "Art. 8); the controller may then have to erase the data (Art. 17(1)(f)). Opening erasure requests "
            "does not erase anything yet: each request follows the usual review and preview."), self)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.stack = QStackedWidget(self)
        self.table = QTableView(self.stack)
        self.table.setObjectName("childrenTable")
        self.model: KeysetTableModel[ChildRow] = KeysetTableModel(self._columns(), 10_000, self)
        self.table.setModel(self.model)
        setup_table(self.table)
        self.table.setSortingEnabled(False)
        for i, column in enumerate(self.model.columns):
            if column.width:
                self.table.horizontalHeader().resizeSection(i, column.width)
        self.stack.addWidget(self.table)
        self.empty = style.EmptyState("human-male-child", self.stack)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)
        self.age_spin.valueChanged.connect(lambda _v: self.reload())
        self._update_heading()

    def _columns(self) -> list[Column[ChildRow]]:
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return [
            Column("user_id", self.tr("User ID"), lambda r: r.user_id, width=110),
            Column("name", self.tr("Name"), lambda r: r.name, width=200),
            Column("born", self.tr("Date of birth"), lambda r: r.birth_date.isoformat(), width=110),
            Column("age", self.tr("Age"), lambda r: str(r.age), align=right, width=50),
            Column("recordings", self.tr("Recordings"), lambda r: fmt.count(r.recordings), align=right, width=90),
            Column("crashes", self.tr("Crash events"), lambda r: fmt.count(r.crash_events), align=right, width=100),
            Column("request", self.tr("Erasure request"),
                   lambda r: f"#{r.open_erasure_request} " + self.tr("open") if r.open_erasure_request else "—",
                   foreground=lambda r: None if r.open_erasure_request else colors.MUTED, width=130),
        ]

    def _update_heading(self) -> None:
        self.heading.setText(self.tr("Accounts of children under %1").replace("%1", str(self.age_spin.value())))

    def reload(self) -> None:
        actor, age, today = self.session.actor, self.age_spin.value(), self.today
        self._update_heading()
        error: list[BaseException] = []

        def fetch(after: ChildRow | None, _limit: int) -> list[ChildRow]:
            if after is not None:
                return []
            try:
                return children.list_children(actor, age, today=today)
            except RcrmError as exc:
                error.append(exc)
                return []

        self.model.set_fetch(fetch)
        rows = self.model.rows()
        self.count_changed.emit(len(rows))
        waiting = [r for r in rows if r.open_erasure_request is None]
        can = self.session.actor.can(Permission.REQUESTS_MANAGE)
        self.open_button.setEnabled(can and bool(waiting))
        self.open_button.setToolTip(
            self.tr("Open one erasure request for each of the %1 accounts without one").replace(
                "%1", str(len(waiting))) if can else self.tr("Your role cannot record requests."))
        if rows:
            self.stack.setCurrentWidget(self.table)
        else:
            self.empty.set_text(self.tr("No accounts of children"),
                                error[0].message if error and isinstance(error[0], RcrmError) else
                                self.tr("No account's date of birth makes its holder younger than %1.")
                                .replace("%1", str(age)))
            self.stack.setCurrentWidget(self.empty)

    def open_requests(self) -> None:
        rows = [r for r in self.model.rows() if r.open_erasure_request is None]
        if not rows:
            return
        if not error_dialogs.confirm(
                self, self.tr("Open erasure requests"),
                style.count_text(len(rows), self.tr("Open an erasure request for %1 child's account?"),
                                 self.tr("Open erasure requests for %1 children's accounts?")),
                self.tr("Each request is recorded on its own (channel: internal review) and then follows the "
                        "usual steps: nothing is erased until an officer previews and confirms each erasure.")):
            return
        actor, age, today = self.session.actor, self.age_spin.value(), self.today
        ids = [r.subject_id for r in rows]
        run_task(lambda _t: children.open_erasure_requests(actor, ids, age=age, today=today),
                 on_done=self._opened, on_error=lambda exc: error_dialogs.show_error(self, exc))

    def _opened(self, result: children.BulkResult) -> None:
        self.reload()
        self.requests_opened.emit(result.created)
        informative = "\n".join(self.tr("Account #%1: %2").replace("%1", str(s)).replace("%2", why)
                                for s, why in result.skipped[:10])
        error_dialogs.message_box(
            self, QMessageBox.Icon.Information, self.tr("Erasure requests opened"),
            style.count_text(len(result.created), self.tr("%1 erasure request was opened."),
                             self.tr("%1 erasure requests were opened.")), informative)
