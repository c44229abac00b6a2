"""The Users area: the CRM's user accounts (the data subjects), searched, sorted, inspected, corrected.

Guarantees (ARCHITECTURE.md, Qt patterns and UI conventions):

* The table is a ``KeysetTableModel`` over ``core.subjects.list_subjects``:
  pages are keyset-paged and sorted in the database (a header click installs a
  new fetch ordered by that column), so a million accounts cost one page.
* The row count is computed by ``core.subjects.subject_counts`` in a
  background task, at most one at a time per view (a newer request waits and
  replaces an older one), never a ``count(*)`` on the UI thread per keystroke;
  the label says "loading…" until it arrives.
* Personal data is read through core, which checks the permission and audits:
  every page shown is a ``subjects.list``/``subjects.search`` event, and the
  detail pane calls ``get_subject`` (a ``subject.view`` event) only when a row
  is selected — after a short pause, so arrowing through rows does not open
  each one — never when a page loads.
* Every ``RcrmError`` from core is shown as its sentence: a bad search inline
  under the search field (not a dialog per keystroke), a failed load in the
  table's place with "Try again", an import failure in a message box.
* CSV import runs in the background with a progress dialog whose Cancel stops
  after the current batch, then a summary of created / updated / unchanged /
  refused rows with the first refused line numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings as app_options
from rcrm_desktop.core import subjects
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.subjects import ImportReport, SubjectCount, SubjectDetail, SubjectRow
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
from rcrm_desktop.ui.widgets.subject_detail import SubjectDetailPane

#: Colour of the "Objected" state (GDPR Art. 21); restricted uses ``colors.RESTRICTED``.
OBJECTED = colors.DUE_SOON

#: How long the selection must rest on a row before its detail (an audited view) is opened.
DETAIL_DELAY_MS = 150

#: Columns shown at first only when the table is wide enough, in this order (the detail pane shows
#: them anyway; the header's column chooser adds or removes any column, and the choice is remembered).
OPTIONAL_COLUMNS = ("email", "phone", "birth_date")

#: Refused import lines listed in the summary itself (all of them go to "Show Details").
SUMMARY_REFUSED_LINES = 10


def _count_data_lines(path: Path) -> int:
    """Rows in a CSV file (lines after the header), for a determinate progress bar."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


class UsersView(AreaView):
    """Filter bar, keyset table of user accounts and the detail pane in a remembered splitter."""

    spec = AREA["UsersView"]

    #: Show this subject's recordings (subject id): the main window opens the Recordings area.
    open_recordings_requested = Signal(int)

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self._sort = "name"
        self._descending = False
        self._search_text = ""
        self._status: str | None = None
        self._loaded = False
        self._suppress_sort = True
        self._columns_fitted = False
        self._applying_filters = False
        self._fetch_error: BaseException | None = None
        self._count_running = False
        self._count_pending = False
        self._count_generation = 0
        self.count: SubjectCount | None = None
        self.last_message_box: QMessageBox | None = None
        self.import_task: Task | None = None
        self.import_progress: QProgressDialog | None = None
        self.last_import_report: ImportReport | None = None

        self.import_action = QAction(icons.icon("file-import-outline"), self.tr("Import users…"), self)
        self.import_action.setObjectName("importUsersAction")
        self.import_action.setIconText(self.tr("Import users…"))
        self.import_action.triggered.connect(self.choose_import_file)
        can_import = session.actor.can(Permission.SUBJECTS_IMPORT)
        self.import_action.setEnabled(can_import)
        self.import_action.setToolTip(
            self.tr("Load or update user accounts from a CSV file (user_id,name,email,phone,birth_date,"
                    "created_at,last_active_at)") if can_import else
            self.tr("Your role (%1) cannot import user accounts: it needs the permission subjects.import, "
                    "which compliance officers have.").replace("%1", ROLE_LABELS[session.actor.role]))

        self._build()
        self._connect()
        self._suppress_sort = False

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
            "The CRM's user accounts: the people whose data this instance holds and whose rights you answer."),
            self))
        head.addLayout(titles, 1)
        self.import_button = QPushButton(self.import_action.icon(), self.import_action.text(), self)
        self.import_button.setObjectName("importUsersButton")
        self.import_button.clicked.connect(self.import_action.trigger)
        self.import_button.setEnabled(self.import_action.isEnabled())
        self.import_button.setToolTip(self.import_action.toolTip())
        self.import_action.changed.connect(lambda: self.import_button.setEnabled(self.import_action.isEnabled()))
        head.addWidget(self.import_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.search = SearchField(self.tr("Search name or user ID (accents and case ignored)"), self)
        self.search.setObjectName("usersSearch")
        self.search.setMaxLength(10_000)
        self.filter_bar = FilterBar(self.search, self)
        self.status_combo = QComboBox(self.filter_bar)
        self.status_combo.setObjectName("statusFilter")
        self.status_combo.addItem(icons.icon("account-multiple-outline"), self.tr("All accounts"), None)
        self.status_combo.addItem(icons.icon("lock-outline", colors.RESTRICTED.name()), self.tr("Restricted"),
                                  "restricted")
        self.status_combo.addItem(icons.icon("hand-back-left-off", OBJECTED.name()), self.tr("Objected"),
                                  "objected")
        self.status_combo.setToolTip(self.tr("Show only restricted (GDPR Art. 18) or objected (Art. 21) "
                                             "accounts"))
        self.filter_bar.add_widget(self.status_combo)
        self.count_label = self.filter_bar.count_label
        self.count_label.setToolTip(self.tr("Matching user accounts of all user accounts in the instance "
                                            "(counted in the background)"))
        layout.addWidget(self.filter_bar)

        self.search_error = QLabel(self)
        self.search_error.setObjectName("errorText")
        self.search_error.setWordWrap(True)
        self.search_error.setTextFormat(Qt.TextFormat.PlainText)
        self.search_error.setStyleSheet(f"color: {style.state_color(colors.OVERDUE).name()};")
        self.search_error.hide()
        layout.addWidget(self.search_error)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("usersSplitter")
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter, 1)

        self.table_stack = QStackedWidget(self.splitter)
        self.table = QTableView(self.table_stack)
        self.table.setObjectName("usersTable")
        self.model: KeysetTableModel[SubjectRow] = KeysetTableModel(self._columns(), app_options.PAGE_SIZE,
                                                                     self)
        self.table.setModel(self.model)
        setup_table(self.table)
        header = self.table.horizontalHeader()
        for i, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(i, column.width)
            header.setSectionHidden(i, column.key in OPTIONAL_COLUMNS)
        self.table.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.table_stack.addWidget(self.table)
        self.empty_page = self._build_empty_page()
        self.table_stack.addWidget(self.empty_page)

        self.detail = SubjectDetailPane(self.session, self.splitter)
        self.detail.setMinimumWidth(380)
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([980, 420])

        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(lambda: self.open_selected(focus=False))
        self._set_sort_indicator()

    def _build_empty_page(self) -> QWidget:
        page = QWidget(self.table_stack)
        page.setObjectName("usersEmpty")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        self.empty_icon = QLabel(page)
        self.empty_icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty_icon)
        layout.addSpacing(4)
        self.empty_title = QLabel(page)
        self.empty_title.setObjectName("emptyTitle")
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title.setWordWrap(True)
        self.empty_title.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_title.setFont(style.scaled_font(self.empty_title.font(), 1.15, QFont.Weight.DemiBold))
        layout.addWidget(self.empty_title)
        self.empty_text = QLabel(page)
        self.empty_text.setObjectName("emptyState")
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setWordWrap(True)
        self.empty_text.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.empty_text)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.empty_import_button = QPushButton(icons.icon("file-import-outline"), self.tr("Import users…"), page)
        self.empty_import_button.clicked.connect(self.import_action.trigger)
        self.empty_clear_button = QPushButton(icons.icon("filter-remove-outline"), self.tr("Clear search"), page)
        self.empty_clear_button.clicked.connect(self.clear_filters)
        self.empty_retry_button = QPushButton(icons.icon("refresh"), self.tr("Try again"), page)
        self.empty_retry_button.clicked.connect(self.reload)
        for button in (self.empty_import_button, self.empty_clear_button, self.empty_retry_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addStretch(2)
        return page

    def _columns(self) -> list[Column[SubjectRow]]:
        muted = colors.MUTED

        def status_text(r: SubjectRow) -> str:
            parts = []
            if r.restricted:
                parts.append(self.tr("Restricted"))
            if r.objected:
                parts.append(self.tr("Objected"))
            return ", ".join(parts)

        def status_color(r: SubjectRow) -> QColor | None:
            if r.restricted:
                return style.state_color(colors.RESTRICTED)
            if r.objected:
                return style.state_color(OBJECTED)
            return None

        def status_background(r: SubjectRow) -> QColor | None:
            if r.restricted:
                return colors.tint(colors.RESTRICTED)
            if r.objected:
                return colors.tint(OBJECTED)
            return None

        def status_icon(r: SubjectRow) -> Any:
            if r.restricted:
                return icons.icon("lock-outline", style.state_color(colors.RESTRICTED).name())
            if r.objected:
                return icons.icon("hand-back-left-off", style.state_color(OBJECTED).name())
            return None

        def status_tip(r: SubjectRow) -> str:
            tips = []
            if r.restricted:
                tips.append(self.tr("Restricted (GDPR Art. 18): kept but not used"))
            if r.objected:
                tips.append(self.tr("Objected (GDPR Art. 21): excluded from analytics and review queues"))
            return "\n".join(tips)

        def dash_if_empty(r: SubjectRow, value: object) -> QColor | None:
            return muted if not value else None

        return [
            Column("user_id", self.tr("User ID"), lambda r: r.user_id, sort_key="user_id", width=96),
            Column("name", self.tr("Name"), lambda r: r.name, sort_key="name", tooltip=lambda r: r.name,
                   width=168),
            Column("status", self.tr("Status"), status_text, tooltip=status_tip, foreground=status_color,
                   background=status_background, decoration=status_icon, width=108),
            Column("email", self.tr("E-mail"), lambda r: r.email or "—", tooltip=lambda r: r.email or "",
                   foreground=lambda r: dash_if_empty(r, r.email), width=195),
            Column("phone", self.tr("Phone"), lambda r: r.phone or "—",
                   foreground=lambda r: dash_if_empty(r, r.phone), width=135),
            Column("birth_date", self.tr("Date of birth"), lambda r: fmt.date_text(r.birth_date),
                   foreground=lambda r: dash_if_empty(r, r.birth_date), width=100),
            Column("created_at", self.tr("Created"), lambda r: fmt.local_time(r.created_at), sort_key="created_at",
                   tooltip=lambda r: fmt.utc_tooltip(r.created_at), width=124),
            Column("last_active_at", self.tr("Last active"),
                   lambda r: fmt.local_with_relative(r.last_active_at) if r.last_active_at else self.tr("never"),
                   sort_key="last_active_at", tooltip=lambda r: fmt.utc_tooltip(r.last_active_at),
                   foreground=lambda r: dash_if_empty(r, r.last_active_at), width=215),
        ]

    def _connect(self) -> None:
        self.search.search_changed.connect(self._search_changed)
        self.search.returnPressed.connect(self.search.flush)
        self.status_combo.currentIndexChanged.connect(lambda _i: self._status_changed())
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)
        self.model.sort_requested.connect(self._sort_requested)
        self.model.fetch_failed.connect(self._fetch_failed)
        self.table.horizontalHeader().sortIndicatorChanged.connect(self._sort_indicator_changed)
        selection = self.table.selectionModel()
        selection.selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.installEventFilter(self)
        self.detail.subject_loaded.connect(self._detail_loaded)
        self.detail.subject_changed.connect(self._row_changed)
        self.detail.recordings_requested.connect(self.open_recordings_requested)

    # ------------------------------------------------------------ area API

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._columns_fitted:
            self._columns_fitted = True
            QTimer.singleShot(0, self.fit_columns)  # once the splitter has given the table its width

    def fit_columns(self) -> None:
        """Show the optional columns that fit the table's width without horizontal scrolling."""
        header = self.table.horizontalHeader()
        available = self.table.viewport().width() or self.table.width()
        if not self.table.verticalScrollBar().isVisible():  # it appears once a page fills the view
            available -= self.table.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        used = sum(c.width or header.defaultSectionSize() for i, c in enumerate(self.model.columns)
                   if c.key not in OPTIONAL_COLUMNS and not header.isSectionHidden(i))
        for key in OPTIONAL_COLUMNS:
            column = next(i for i, c in enumerate(self.model.columns) if c.key == key)
            width = self.model.columns[column].width or header.defaultSectionSize()
            fits = used + width <= available
            header.setSectionHidden(column, not fits)
            if fits:
                used += width

    def activate(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.reload()
        else:
            self._request_count()

    def refresh(self) -> None:
        self.reload()
        self.detail.reload()

    def file_actions(self) -> list[QAction]:
        return [self.import_action]

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("header", self.table.horizontalHeader().saveState())
        settings.setValue("sort", self._sort)
        settings.setValue("descending", self._descending)

    def restore_state(self, settings: QSettings) -> None:
        splitter = settings.value("splitter")
        if isinstance(splitter, QByteArray | bytes):
            self.splitter.restoreState(QByteArray(splitter))
        header = settings.value("header")
        self._suppress_sort = True
        try:
            if isinstance(header, QByteArray | bytes) and self.table.horizontalHeader().restoreState(
                    QByteArray(header)):
                self._columns_fitted = True
            sort = settings.value("sort")
            if isinstance(sort, str) and sort in subjects.SORT_COLUMNS and self._column_of(sort) >= 0:
                self._sort = sort
            self._descending = str(settings.value("descending", "false")).lower() in {"true", "1"}
            self._set_sort_indicator()
        finally:
            self._suppress_sort = False
        if self._loaded:
            self.reload()

    # ------------------------------------------------------------ loading

    @property
    def sort_key(self) -> str:
        return self._sort

    @property
    def descending(self) -> bool:
        return self._descending

    def _make_fetch(self) -> Any:
        actor = self.session.actor
        search = self._search_text or None
        sort, descending, status = self._sort, self._descending, self._status

        def fetch(after: SubjectRow | None, limit: int) -> Sequence[SubjectRow]:
            return subjects.list_subjects(actor, search, sort=sort, descending=descending, status=status,
                                          after=subjects.page_key(after, sort) if after is not None else None,
                                          limit=limit)

        return fetch

    def reload(self) -> None:
        """Apply the search, filter and sort now: first page from the database, count in the background."""
        self._loaded = True
        self._detail_timer.stop()
        keep = self.detail.current_id
        self._search_text = self.search.text().strip()
        self._status = self.status_combo.currentData()
        self._fetch_error = None
        self._hide_search_error()
        self.model.set_fetch(self._make_fetch())
        error = self._fetch_error
        if isinstance(error, ValidationError):
            self._show_search_error(error.message)
            self.count = None
            self.count_label.setText("—")
            self.table_stack.setCurrentWidget(self.table)
            return
        if error is not None:
            self._show_load_error(error)
            self.count_label.setText("—")
            return
        self._update_empty_state()
        self._request_count()
        if keep is not None:
            row = self.model.find_row(lambda r: r.id == keep)
            if row >= 0:
                self._select_row(row)
            else:
                self.detail.clear()

    def _fetch_failed(self, exc: BaseException) -> None:
        self._fetch_error = exc
        if self.model.rowCount() > 0:
            # A later page failed (scrolling): keep what is shown and say so under the search field.
            self._show_search_error(self._message_of(exc))

    def _message_of(self, exc: BaseException) -> str:
        if isinstance(exc, RcrmError):
            return exc.message
        error_dialogs.log_failure(type(exc), exc.__traceback__)  # type and frames only: no personal data
        return self.tr("An unexpected error stopped the user accounts from loading; details are in the log file.")

    def _show_search_error(self, text: str) -> None:
        self.search_error.setText(text)
        self.search_error.show()

    def _hide_search_error(self) -> None:
        self.search_error.hide()
        self.search_error.clear()

    def search_error_text(self) -> str:
        """The inline message under the search field, or ``""``."""
        return self.search_error.text() if not self.search_error.isHidden() else ""

    def _show_load_error(self, exc: BaseException) -> None:
        self._set_empty(self.tr("User accounts cannot be loaded"), self._message_of(exc), "database-alert-outline",
                        retry=True)

    def _update_empty_state(self) -> None:
        if self.model.rowCount() > 0:
            self.table_stack.setCurrentWidget(self.table)
            return
        shown = self._search_text if len(self._search_text) <= 60 else self._search_text[:57] + "…"
        if self._search_text:
            title = self.tr("No user matches “%1”").replace("%1", shown)
            hints = [self.tr("Search looks for part of a name or user ID, ignoring accents and case.")]
            if self._status == "restricted":
                hints.append(self.tr("Only restricted accounts are shown."))
            elif self._status == "objected":
                hints.append(self.tr("Only accounts that objected are shown."))
            self._set_empty(title, " ".join(hints), "account-search-outline", clear=True)
        elif self._status == "restricted":
            self._set_empty(self.tr("No restricted user accounts"),
                            self.tr("No account has its processing restricted (GDPR Art. 18)."),
                            "lock-open-outline", clear=True)
        elif self._status == "objected":
            self._set_empty(self.tr("No user account has objected"),
                            self.tr("No account has objected to processing (GDPR Art. 21)."),
                            "hand-back-left-outline", clear=True)
        else:
            self._set_empty(
                self.tr("No user accounts yet — import them with File ▸ Import users… or "
                        "`rcrm-desktop users import FILE.csv`"),
                self.tr("User accounts are the people whose data this instance holds. A CSV file needs the "
                        "header user_id,name,email,phone,birth_date,created_at,last_active_at."),
                "account-multiple-plus-outline",
                import_=self.import_action.isEnabled())

    def _set_empty(self, title: str, text: str, icon_name: str, *, clear: bool = False, retry: bool = False,
                   import_: bool = False) -> None:
        self.empty_icon.setPixmap(icons.icon(icon_name, colors.MUTED.name()).pixmap(48, 48))
        self.empty_title.setText(title)
        self.empty_text.setText(text)
        self.empty_clear_button.setVisible(clear)
        self.empty_retry_button.setVisible(retry)
        self.empty_import_button.setVisible(import_)
        self.table_stack.setCurrentWidget(self.empty_page)

    def empty_state_text(self) -> str:
        """The empty state's title and text when it is shown, else ``""`` (tests, accessibility)."""
        if self.table_stack.currentWidget() is not self.empty_page:
            return ""
        return f"{self.empty_title.text()}\n{self.empty_text.text()}"

    # ------------------------------------------------------------ counting

    def _request_count(self) -> None:
        """Count matches in the background; while one count runs, the newest request waits for it."""
        self._count_generation += 1
        self.count_label.setText(self.tr("loading…"))
        if self._count_running:
            self._count_pending = True
            return
        self._start_count()

    def _start_count(self) -> None:
        self._count_running = True
        self._count_pending = False
        generation = self._count_generation
        actor = self.session.actor
        search = self._search_text or None
        status = self._status

        def work(_task: Task) -> SubjectCount:
            return subjects.subject_counts(actor, search, status=status)

        run_task(work, on_done=lambda result: self._count_finished(generation, result, None),
                 on_error=lambda exc: self._count_finished(generation, None, exc))

    def _count_finished(self, generation: int, result: SubjectCount | None, exc: BaseException | None) -> None:
        self._count_running = False
        if self._count_pending:
            self._start_count()
            return
        if generation != self._count_generation:
            return
        if exc is not None or result is None:
            self.count = None
            self.count_label.setText("—")
            self.count_label.setToolTip(self._message_of(exc) if exc is not None else "")
            return
        self.count = result
        self.count_label.setText(self.count_text(result))

    def count_text(self, count: SubjectCount) -> str:
        matching = fmt.count(count.matching) + ("+" if count.matching_capped else "")
        total = fmt.count(count.total)
        if count.total_approximate:
            total = self.tr("about %1").replace("%1", total)
        if not self._search_text and not self._status:
            if count.total == 1 and not count.total_approximate:
                return self.tr("1 user account")
            return self.tr("%1 user accounts").replace("%1", total)
        return self.tr("%1 of %2").replace("%1", matching).replace("%2", total)

    # ------------------------------------------------------------ sorting

    def _column_of(self, sort_key: str) -> int:
        return column_of_sort_key(self.model, sort_key)

    def _set_sort_indicator(self) -> None:
        show_sort_indicator(self.table, self._sort, self._descending)

    def _sort_indicator_changed(self, section: int, _order: Qt.SortOrder) -> None:
        if not (0 <= section < len(self.model.columns)) or self.model.columns[section].sort_key is None:
            self._set_sort_indicator()  # the database cannot sort this column: keep the real order shown

    def _sort_requested(self, key: str, descending: bool) -> None:
        if self._suppress_sort or (key == self._sort and descending == self._descending and self._loaded
                                   and self._fetch_error is None):
            return
        self._sort = key
        self._descending = descending
        if self._loaded:
            self.reload()

    def sort_by(self, key: str, descending: bool = False) -> None:
        """Sort by a column key (``name``, ``user_id``, ``created_at``, ``last_active_at``)."""
        column = self._column_of(key)
        if column < 0:
            raise ValueError(f"cannot sort by {key}")
        self.table.sortByColumn(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)

    # ------------------------------------------------------------ filters

    def clear_filters(self) -> None:
        """Empty the search and show every account (Esc, the clear button): one reload, not three."""
        self._applying_filters = True
        try:
            self.search.clear()
            self.status_combo.setCurrentIndex(0)
        finally:
            self._applying_filters = False
        if self._search_text or self._status or self._fetch_error is not None or not self._loaded:
            self.reload()

    def _search_changed(self, text: str) -> None:
        # The field reports after a pause, and again on Enter: a search already shown is not run twice.
        if text.strip() == self._search_text and self._fetch_error is None and self._loaded:
            return
        self.reload()

    def _status_changed(self) -> None:
        if not self._applying_filters:
            self.reload()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and (self.search.text() or self.status_combo.currentIndex() != 0):
            self.clear_filters()
            event.accept()
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected(focus=True)
                return True
            if key == Qt.Key.Key_Escape and (self.search.text() or self.status_combo.currentIndex() != 0):
                self.clear_filters()
                return True
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------ selection and detail

    def selected_row(self) -> SubjectRow | None:
        return selected_model_row(self.table)

    def _selection_changed(self) -> None:
        row = self.selected_row()
        if row is None:
            self._detail_timer.stop()
            return
        if row.id == self.detail.current_id and self.detail.detail is not None:
            return  # already shown: no second audited view
        self._detail_timer.start()

    def open_selected(self, *, focus: bool = False) -> None:
        """Open the selected row's detail now (Enter) and optionally move the focus there."""
        self._detail_timer.stop()
        row = self.selected_row()
        if row is None:
            return
        if row.id != self.detail.current_id or self.detail.detail is None:
            self.detail.load(row.id)
        if focus:
            target = self.detail.correct_button if self.detail.correct_button.isEnabled() else self.detail.scroll
            target.setFocus(Qt.FocusReason.OtherFocusReason)

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.scrollTo(index)

    def show_subject(self, subject_id: int) -> None:
        """Select and show one subject, clearing the search when it is not among the loaded rows."""
        if not self._loaded:
            self.reload()
        row = self.model.find_row(lambda r: r.id == subject_id)
        if row < 0 and (self.search.text() or self.status_combo.currentIndex() != 0):
            self.clear_filters()
            row = self.model.find_row(lambda r: r.id == subject_id)
        if row >= 0:
            self._select_row(row)
            self.open_selected()
            return
        self._detail_timer.stop()
        self.table.clearSelection()
        self.detail.load(subject_id)

    def _detail_loaded(self, detail: SubjectDetail) -> None:
        self._row_changed(detail.subject)

    def _row_changed(self, updated: SubjectRow) -> None:
        row = self.model.find_row(lambda r: r.id == updated.id)
        if row >= 0 and self.model.row_at(row) != updated:
            self.model.replace_row(row, updated)

    # ------------------------------------------------------------ import

    def choose_import_file(self) -> None:
        if not self.session.actor.can(Permission.SUBJECTS_IMPORT):
            self._message(QMessageBox.Icon.Warning, self.tr("Import users"), self.import_action.toolTip())
            return
        path, _filter = QFileDialog.getOpenFileName(
            self, self.tr("Import user accounts"), "", self.tr("CSV files (*.csv);;All files (*)"))
        if path:
            self.start_import(Path(path))

    def start_import(self, path: Path) -> Task:
        """Import a CSV in the background with a cancellable progress dialog; a summary box follows."""
        actor = self.session.actor
        progress = open_progress(self, self.tr("Importing user accounts"),
                                 self.tr("Reading %1…").replace("%1", path.name), minimum_width=420)
        self.import_progress = progress
        self.import_action.setEnabled(False)

        def work(task: Task) -> tuple[ImportReport, bool]:
            try:
                total = _count_data_lines(path)
            except OSError:
                total = 0  # the import itself reports the unreadable file as a sentence
            task.report(0, total, "")

            def step(rows_read: int) -> bool:
                return task.report(rows_read, total, "")

            report = subjects.import_subjects_csv(actor, path, progress=step)
            return report, task.cancelled

        def on_progress(done: int, total: int, _text: str) -> None:
            update_progress(self.import_progress, done, total, self.tr("Importing user accounts from %1: row %2 of %3")
                            .replace("%1", path.name).replace("%2", fmt.count(done))
                            .replace("%3", fmt.count(max(total, done))))

        task = run_task(work, on_done=lambda result: self._import_finished(path, result),
                        on_error=lambda exc: self._import_failed(path, exc), progress=on_progress)
        self.import_task = task
        if self.import_progress is progress:
            progress.canceled.connect(task.cancel)
            progress.canceled.connect(lambda: progress.setLabelText(
                self.tr("Stopping after the current batch of rows…")))
        return task

    def _close_import_progress(self) -> None:
        self.import_action.setEnabled(self.session.actor.can(Permission.SUBJECTS_IMPORT))
        close_progress(self.import_progress)
        self.import_progress = None
        self.import_task = None

    def _import_finished(self, path: Path, result: tuple[ImportReport, bool]) -> None:
        self._close_import_progress()
        report, cancelled = result
        self.last_import_report = report
        counts = (self.tr("%1 created, %2 updated, %3 unchanged, %4 refused.")
                  .replace("%1", fmt.count(report.created)).replace("%2", fmt.count(report.updated))
                  .replace("%3", fmt.count(report.unchanged)).replace("%4", fmt.count(len(report.refused))))
        if cancelled:
            title = self.tr("Import stopped")
            text = self.tr("The import of %1 was cancelled; the rows read until then were saved: %2") \
                .replace("%1", path.name).replace("%2", counts)
        else:
            title = self.tr("Import finished")
            text = self.tr("%1 imported: %2").replace("%1", path.name).replace("%2", counts)
        lines = [self.tr("Line %1: %2").replace("%1", fmt.count(line)).replace("%2", reason)
                 for line, reason in report.refused]
        informative = ""
        if lines:
            shown = lines[:SUMMARY_REFUSED_LINES]
            informative = self.tr("Refused rows (fix them and import the file again; accepted rows are not "
                                  "duplicated):") + "\n" + "\n".join(shown)
            if len(lines) > len(shown):
                informative += "\n" + self.tr("… and %1 more (Show Details…)").replace(
                    "%1", fmt.count(len(lines) - len(shown)))
        icon = QMessageBox.Icon.Warning if report.refused or cancelled else QMessageBox.Icon.Information
        self._message(icon, title, text, informative, "\n".join(lines) if len(lines) > SUMMARY_REFUSED_LINES else "")
        self.status_message.emit(text)
        self.reload()

    def _import_failed(self, path: Path, exc: BaseException) -> None:
        self._close_import_progress()
        if isinstance(exc, RcrmError):
            text = exc.message
        else:
            error_dialogs.log_failure(type(exc), exc.__traceback__)
            text = self.tr("The import of %1 stopped because of an unexpected error (%2); details are in the log "
                           "file.").replace("%1", path.name).replace("%2", type(exc).__name__)
        self._message(QMessageBox.Icon.Warning, self.tr("Import failed"), text)
        self.reload()

    def _message(self, icon: QMessageBox.Icon, title: str, text: str, informative: str = "",
                 details: str = "") -> QMessageBox:
        """Show a window-modal message box without blocking (so background work and tests go on)."""
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("usersMessage")
        box.setTextFormat(Qt.TextFormat.PlainText)
        # Refused lines are long sentences: give them room instead of Qt's narrow default.
        box.setStyleSheet("QLabel#qt_msgbox_label, QLabel#qt_msgbox_informativelabel { min-width: 520px; }")
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
