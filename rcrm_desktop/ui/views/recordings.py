"""The Recordings area: find calls, listen to them, annotate, tag, export and redact them.

Guarantees (ARCHITECTURE.md, Qt patterns and UI conventions):

* The table is a ``KeysetTableModel`` over ``core.recordings.list_recordings``:
  keyset pages sorted in the database (indexes on every sortable column), so
  200,000 recordings cost one page; each page is audited by core with the ids
  shown. Counting runs in a background task, one at a time.
* Everything about a recording goes through core, which checks the
  permission and the restriction (GDPR Art. 18) and audits: selecting a row
  opens it after a short pause (``recording.view``), Play asks core before a
  sample is heard (``recording.play``), Export, Annotate, Tag and Redact are
  core calls. A disabled action's tooltip says why; the rule itself is in core.
* States people must not miss carry colour *and* text, in the table's Status
  column and as chips in the detail: "Redacted", "File missing", "Restricted",
  "Legal hold".
* Long work is off the UI thread with progress and a real Cancel (import,
  waveform, redaction of a compressed call, export); failures are shown as
  their sentence (``RcrmError``) or as an unexpected error with the log's
  place, never as a frozen window.

Wiring for the main window: ``show_subject_recordings(subject_id)`` shows one
user account's recordings (with a banner and a way back); the view emits
``open_subject_requested(subject_id)`` when the operator asks to go to the
user account, which the main window connects to ``MainWindow.open_subject``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QCoreApplication, QDate, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDateEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings as app_options
from rcrm_desktop.core import recordings
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.recordings import (
    AccessEvent,
    ImportReport,
    RecordingCount,
    RecordingDetail,
    RecordingFilter,
    RecordingRow,
)
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.annotation import AnnotationDialog
from rcrm_desktop.ui.dialogs.redaction import RedactionDialog
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
from rcrm_desktop.ui.widgets.player import PlayerWidget
from rcrm_desktop.ui.widgets.subject_detail import StateChip
from rcrm_desktop.ui.widgets.waveform import MARKER, REDACTED, clock

#: How long the selection must rest on a row before it is opened (an audited view).
DETAIL_DELAY_MS = 150

#: Refused files listed in the import summary itself (all of them under "Show Details").
SUMMARY_REFUSED = 8

#: Duration filter choices: (label, min_ms, max_ms).
DURATIONS: tuple[tuple[str, int | None, int | None], ...] = (
    ("Any length", None, None),
    ("Under 1 min", None, 59_999),
    ("1–5 min", 60_000, 299_999),
    ("5–15 min", 300_000, 899_999),
    ("Over 15 min", 900_000, None),
)

#: How access-history actions read for people.
ACTION_LABELS = {
    "recording.view": "Viewed",
    "recording.play": "Listened",
    "recording.export": "Exported a copy",
    "recording.annotate": "Annotated",
    "recording.tag": "Tagged",
    "recording.redact": "Redacted",
    "recordings.import": "Imported",
}

_EARLIEST = QDate(2000, 1, 1)


class RecordingsModel(KeysetTableModel[RecordingRow]):
    """The keyset model, refusing ``fetchMore`` while a new data source is being installed.

    Slots of ``modelReset`` (a view, Qt's model tester) may ask for more rows
    at once; inside the reset that would insert rows while the reset is still
    being announced. The first page is loaded by ``set_fetch`` itself.
    """

    def __init__(self, columns: list[Column[RecordingRow]], page_size: int, parent: QObject | None = None) -> None:
        super().__init__(columns, page_size, parent)
        self._installing = False

    def set_fetch(self, fetch: Any) -> None:
        self._installing = True
        try:
            super().set_fetch(fetch)
        finally:
            self._installing = False

    def canFetchMore(self, parent: Any = None) -> bool:  # noqa: B008
        if self._installing:
            return False
        return super().canFetchMore(parent) if parent is not None else super().canFetchMore()

    def fetchMore(self, parent: Any = None) -> None:  # noqa: B008
        if not self._installing:
            super().fetchMore(parent) if parent is not None else super().fetchMore()


def _tr(text: str) -> str:
    return QCoreApplication.translate("RecordingsView", text)


def _size(size: int) -> str:
    if size >= 1024 ** 3:
        return f"{size / 1024 ** 3:.1f} GB"
    if size >= 1024 ** 2:
        return f"{size / 1024 ** 2:.1f} MB"
    return f"{max(1, size // 1024)} kB"


class RecordingsView(AreaView):
    """Filter bar, keyset table of recordings and, in a splitter, the player with the recording's detail."""

    spec = AREA["RecordingsView"]

    #: The operator asked to open the user account (subject id): connect to ``MainWindow.open_subject``.
    open_subject_requested = Signal(int)

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.actor = session.actor
        self._sort = "started_at"
        self._descending = True
        self._subject_id: int | None = None
        self._subject_ref: tuple[str, bool] | None = None
        self._loaded = False
        self._applying = False
        self._suppress_sort = True
        self._fetch_error: BaseException | None = None
        self._count_running = False
        self._count_pending = False
        self._count_generation = 0
        self.count: RecordingCount | None = None
        self.detail: RecordingDetail | None = None
        self.history: list[AccessEvent] = []
        self.selection_ms: tuple[int, int] | None = None
        self.import_task: Task | None = None
        self.import_progress: QProgressDialog | None = None
        self.last_import_report: ImportReport | None = None
        self.busy: QProgressDialog | None = None
        self._build_actions()
        self._build()
        self._connect()
        self._suppress_sort = False

    # ------------------------------------------------------------ building

    def _action(self, icon_name: str, text: str, slot: Any, name: str) -> QAction:
        action = QAction(icons.icon(icon_name), text, self)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.import_action = self._action("folder-music-outline", self.tr("Import…"), self.choose_import_folder,
                                          "importRecordingsAction")
        self.export_action = self._action("file-export-outline", self.tr("Export copy…"), self.choose_export_file,
                                          "exportRecordingAction")
        self.annotate_action = self._action("comment-plus-outline", self.tr("Annotate"), self.open_annotate_dialog,
                                            "annotateAction")
        self.annotate_action.setShortcut(QKeySequence(Qt.Key.Key_A))
        self.annotate_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.redact_action = self._action("content-cut", self.tr("Redact region…"), self.open_redact_dialog,
                                          "redactAction")
        self.addAction(self.annotate_action)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(8)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title(), self))
        titles.addWidget(style.page_subtitle(self.tr(
            "Call recordings: find a call, listen to it, annotate and tag it; compliance officers export copies "
            "and redact card data for good."), self))
        head.addLayout(titles, 1)
        self.toolbar = QToolBar(self)
        self.toolbar.setObjectName("recordingsToolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setIconSize(self.toolbar.iconSize() * 0.85)
        for action in (self.import_action, self.export_action, self.annotate_action, self.redact_action):
            self.toolbar.addAction(action)
        head.addWidget(self.toolbar, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.banner = QFrame(self)
        self.banner.setObjectName("infoBox")
        banner_row = QHBoxLayout(self.banner)
        banner_row.setContentsMargins(10, 6, 10, 6)
        banner_row.addWidget(style.icon_label("account-filter-outline", 18, colors.HOLD, self.banner))
        self.banner_label = QLabel(self.banner)
        self.banner_label.setObjectName("subjectBanner")
        banner_row.addWidget(self.banner_label, 1)
        self.back_to_subject = QPushButton(icons.icon("account-arrow-left-outline"), self.tr("Open user account"),
                                           self.banner)
        self.back_to_subject.setObjectName("openSubjectButton")
        self.back_to_subject.clicked.connect(self._open_subject)
        banner_row.addWidget(self.back_to_subject)
        self.all_button = QPushButton(icons.icon("close"), self.tr("Show all recordings"), self.banner)
        self.all_button.clicked.connect(self.show_all)
        banner_row.addWidget(self.all_button)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.search = SearchField(self.tr("Search user name or user ID (accents and case ignored)"), self)
        self.search.setObjectName("recordingsSearch")
        self.search.setMaxLength(recordings.MAX_SEARCH_LENGTH)
        self.filter_bar = FilterBar(self.search, self)
        self.count_label = self.filter_bar.count_label
        layout.addWidget(self.filter_bar)
        layout.addLayout(self._build_filters())

        self.search_error = QLabel(self)
        self.search_error.setObjectName("errorText")
        self.search_error.setWordWrap(True)
        self.search_error.hide()
        layout.addWidget(self.search_error)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("recordingsSplitter")
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter, 1)

        self.table_stack = QStackedWidget(self.splitter)
        self.table = QTableView(self.table_stack)
        self.table.setObjectName("recordingsTable")
        self.model = RecordingsModel(self._columns(), app_options.PAGE_SIZE, self)
        self.table.setModel(self.model)
        setup_table(self.table)
        self.table.setHorizontalScrollMode(QTableView.ScrollMode.ScrollPerPixel)
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        for i, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(i, column.width)
        self.table_stack.addWidget(self.table)
        self.empty = style.EmptyState("phone-in-talk", self.table_stack)
        self.empty.setObjectName("recordingsEmpty")
        self.empty.button.clicked.connect(self._empty_action)
        self.table_stack.addWidget(self.empty)

        self.pane = QFrame(self.splitter)
        self.pane.setObjectName("detailPane")
        self.pane.setMinimumWidth(480)
        pane_layout = QVBoxLayout(self.pane)
        pane_layout.setContentsMargins(0, 0, 0, 0)
        self.pane_stack = QStackedWidget(self.pane)
        pane_layout.addWidget(self.pane_stack)
        self.pane_empty = style.EmptyState("waveform", self.pane_stack)
        self.pane_empty.set_text(self.tr("No recording selected"),
                                 self.tr("Select a call in the list to see its waveform, play it and read its notes."))
        self.pane_stack.addWidget(self.pane_empty)
        self.pane_stack.addWidget(self._build_detail())
        self.splitter.addWidget(self.table_stack)
        self.splitter.addWidget(self.pane)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setSizes([800, 540])

        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(DETAIL_DELAY_MS)
        self._detail_timer.timeout.connect(self.open_selected)
        self._set_sort_indicator()
        self._update_actions()

    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.since_edit = self._date_edit(self.tr("From any date"), "sinceDate")
        self.until_edit = self._date_edit(self.tr("To any date"), "untilDate")
        row.addWidget(style.icon_label("calendar-range", 16, parent=self))
        row.addWidget(self.since_edit)
        row.addWidget(QLabel("–", self))
        row.addWidget(self.until_edit)
        row.addSpacing(6)
        self.direction_combo = QComboBox(self)
        self.direction_combo.setObjectName("directionFilter")
        self.direction_combo.addItem(icons.icon("phone-outline"), self.tr("Any direction"), None)
        self.direction_combo.addItem(icons.icon("phone-incoming"), self.tr("Inbound"), "inbound")
        self.direction_combo.addItem(icons.icon("phone-outgoing"), self.tr("Outbound"), "outbound")
        self.duration_combo = QComboBox(self)
        self.duration_combo.setObjectName("durationFilter")
        for label, low, high in DURATIONS:
            self.duration_combo.addItem(icons.icon("timer-outline"), _tr(label), (low, high))
        self.agent_combo = QComboBox(self)
        self.agent_combo.setObjectName("agentFilter")
        self.agent_combo.setMinimumContentsLength(10)
        self.tag_combo = QComboBox(self)
        self.tag_combo.setObjectName("tagFilter")
        self.tag_combo.setMinimumContentsLength(10)
        self.notes_combo = QComboBox(self)
        self.notes_combo.setObjectName("notesFilter")
        self.notes_combo.addItem(icons.icon("comment-text-multiple-outline"), self.tr("With or without notes"), None)
        self.notes_combo.addItem(icons.icon("comment-text-outline"), self.tr("With annotations"), True)
        self.notes_combo.addItem(icons.icon("comment-off-outline"), self.tr("Without annotations"), False)
        for combo, tip in ((self.direction_combo, self.tr("Inbound or outbound calls")),
                           (self.duration_combo, self.tr("How long the call lasted")),
                           (self.agent_combo, self.tr("The agent who took or made the call")),
                           (self.tag_combo, self.tr("Calls with this tag")),
                           (self.notes_combo, self.tr("Calls with or without annotations"))):
            combo.setToolTip(tip)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            row.addWidget(combo)
        self._fill_choices()
        row.addStretch(1)
        return row

    def _date_edit(self, special: str, name: str) -> QDateEdit:
        edit = QDateEdit(self)
        edit.setObjectName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setMinimumDate(_EARLIEST)
        edit.setSpecialValueText(special)
        edit.setDate(_EARLIEST)
        edit.setToolTip(self.tr("Calls started on or after / on or before this day (local time); the lowest "
                                "value means any date"))
        return edit

    def _fill_choices(self) -> None:
        """Agents and tags in use, for their filters (kept selection where it still exists)."""
        try:
            agents = recordings.list_agents(self.actor)
            tags = recordings.list_tags(self.actor)
        except RcrmError:
            agents, tags = [], []
        for combo, any_text, values, icon_name in ((self.agent_combo, self.tr("Any agent"), agents, "headset"),
                                                   (self.tag_combo, self.tr("Any tag"), tags, "tag-outline")):
            current = combo.currentData()
            blocked = combo.blockSignals(True)
            combo.clear()
            combo.addItem(icons.icon(icon_name), any_text, None)
            for value in values:
                combo.addItem(value, value)
            index = combo.findData(current) if current is not None else 0
            combo.setCurrentIndex(max(0, index))
            combo.blockSignals(blocked)
        if hasattr(self, "tag_edit"):
            self.tag_edit.setCompleter(QCompleter(tags, self.tag_edit))

    def _build_detail(self) -> QWidget:
        page = QWidget(self.pane_stack)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(14, 12, 14, 10)
        layout.setSpacing(6)
        self.detail_title = QLabel(page)
        self.detail_title.setObjectName("recordingTitle")
        self.detail_title.setFont(style.scaled_font(self.detail_title.font(), 1.3, QFont.Weight.DemiBold))
        self.detail_title.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.detail_title)
        self.detail_sub = style.muted_label("", page)
        self.detail_sub.setObjectName("recordingSubtitle")
        self.detail_sub.setWordWrap(True)
        layout.addWidget(self.detail_sub)
        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(6)
        self.chips_row.addStretch(1)
        layout.addLayout(self.chips_row)
        self.chips: list[StateChip] = []
        self.blocked_label = QLabel(page)
        self.blocked_label.setObjectName("blockedText")
        self.blocked_label.setWordWrap(True)
        self.blocked_label.setStyleSheet(f"color: {style.state_color(colors.RESTRICTED).name()};")
        self.blocked_label.hide()
        layout.addWidget(self.blocked_label)

        self.player = PlayerWidget(self.session, page, install_shortcuts=False)
        self.player.setMinimumHeight(250)
        self.player.played.connect(lambda _rid: self._reload_history())
        self.player.selection_changed.connect(self._selection_changed_on_waveform)
        self.player.marker_clicked.connect(self._marker_clicked)
        self.player.install_shortcuts(self)
        layout.addWidget(self.player, 3)

        self.tabs = QTabWidget(page)
        self.tabs.setObjectName("recordingTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_info_tab(), icons.icon("information-outline"), self.tr("Details"))
        self.tabs.addTab(self._build_notes_tab(), icons.icon("comment-text-multiple-outline"),
                         self.tr("Annotations"))
        self.tabs.addTab(self._build_tags_tab(), icons.icon("tag-multiple-outline"), self.tr("Tags"))
        self.tabs.addTab(self._build_history_tab(), icons.icon("history"), self.tr("Access history"))
        layout.addWidget(self.tabs, 2)
        return page

    def _build_info_tab(self) -> QWidget:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget(scroll)
        form = QFormLayout(body)
        form.setContentsMargins(6, 8, 6, 8)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(4)
        self.info: dict[str, QLabel] = {}
        for key, label in (("started", self.tr("Started")), ("subject", self.tr("User account")),
                           ("direction", self.tr("Direction")), ("duration", self.tr("Duration")),
                           ("agent", self.tr("Agent")), ("audio", self.tr("Audio")),
                           ("sha256", self.tr("SHA-256")), ("original", self.tr("Original SHA-256")),
                           ("imported", self.tr("Imported")), ("path", self.tr("Stored as")),
                           ("holds", self.tr("Legal holds"))):
            value = QLabel(body)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.LinksAccessibleByMouse)
            value.setWordWrap(True)
            caption = style.muted_label(label, body, "fieldCaption")
            form.addRow(caption, value)
            self.info[key] = value
        self.info["subject"].setTextFormat(Qt.TextFormat.RichText)
        self.info["subject"].linkActivated.connect(lambda _link: self._open_subject())
        scroll.setWidget(body)
        return scroll

    def _build_notes_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        self.notes = QListWidget(page)
        self.notes.setObjectName("annotationsList")
        self.notes.setWordWrap(True)
        self.notes.setAlternatingRowColors(True)
        self.notes.itemActivated.connect(self._note_activated)
        self.notes.itemClicked.connect(self._note_activated)
        layout.addWidget(self.notes, 1)
        buttons = QHBoxLayout()
        add = QPushButton(icons.icon("comment-plus-outline"), self.tr("Annotate… (A)"), page)
        add.clicked.connect(self.open_annotate_dialog)
        self.add_note_button = add
        self.delete_note_button = QPushButton(icons.icon("delete-outline"), self.tr("Delete"), page)
        self.delete_note_button.clicked.connect(self.delete_selected_annotation)
        buttons.addWidget(add)
        buttons.addWidget(self.delete_note_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        return page

    def _build_tags_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 8, 4, 4)
        self.tags_row = QHBoxLayout()
        self.tags_row.setSpacing(6)
        self.tags_row.addStretch(1)
        layout.addLayout(self.tags_row)
        self.tag_buttons: list[QToolButton] = []
        add_row = QHBoxLayout()
        self.tag_edit = QLineEdit(page)
        self.tag_edit.setObjectName("tagEdit")
        self.tag_edit.setPlaceholderText(self.tr("Add a tag (e.g. complaint, card-payment)"))
        self.tag_edit.setMaxLength(recordings.MAX_TAG_LENGTH)
        self.tag_edit.returnPressed.connect(self.add_tag_from_edit)
        self.tag_add_button = QPushButton(icons.icon("tag-plus-outline"), self.tr("Add tag"), page)
        self.tag_add_button.clicked.connect(self.add_tag_from_edit)
        add_row.addWidget(self.tag_edit, 1)
        add_row.addWidget(self.tag_add_button)
        layout.addLayout(add_row)
        self.tags_hint = style.muted_label("", page)
        self.tags_hint.setWordWrap(True)
        layout.addWidget(self.tags_hint)
        layout.addStretch(1)
        self._fill_choices()
        return page

    def _build_history_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(4, 6, 4, 4)
        self.history_table = QTableWidget(0, 4, page)
        self.history_table.setObjectName("accessHistory")
        self.history_table.setHorizontalHeaderLabels([self.tr("Time"), self.tr("Operator"), self.tr("Action"),
                                                      self.tr("Details")])
        self.history_table.verticalHeader().setVisible(False)
        self.history_table.verticalHeader().setDefaultSectionSize(24)
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_table.setAlternatingRowColors(True)
        self.history_table.horizontalHeader().setStretchLastSection(True)
        self.history_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        layout.addWidget(self.history_table)
        self.history_note = style.muted_label(self.tr("Every view, listen, export, note, tag and redaction of this "
                                                      "recording, from the audit log."), page)
        self.history_note.setWordWrap(True)
        layout.addWidget(self.history_note)
        return page

    def _columns(self) -> list[Column[RecordingRow]]:
        def subject(r: RecordingRow) -> str:
            if r.user_id is None:
                return self.tr("— not identified")
            return f"{r.user_id}  {r.subject_name or ''}".strip()

        def direction_icon(r: RecordingRow) -> Any:
            return icons.icon("phone-incoming" if r.direction == "inbound" else "phone-outgoing",
                              style.state_color(colors.OK if r.direction == "inbound" else colors.HOLD).name())

        def status_parts(r: RecordingRow) -> list[tuple[str, QColor]]:
            parts = []
            if not r.file_present:
                parts.append((self.tr("File missing"), colors.OVERDUE))
            if r.restricted:
                parts.append((self.tr("Restricted"), colors.RESTRICTED))
            if r.redacted:
                parts.append((self.tr("Redacted"), REDACTED))
            return parts

        def status_text(r: RecordingRow) -> str:
            return " · ".join(text for text, _ in status_parts(r))

        def status_color(r: RecordingRow) -> QColor | None:
            parts = status_parts(r)
            return style.state_color(parts[0][1]) if parts else None

        def status_background(r: RecordingRow) -> QColor | None:
            parts = status_parts(r)
            return colors.tint(parts[0][1]) if parts else None

        def status_icon(r: RecordingRow) -> Any:
            if not r.file_present:
                return icons.icon("file-alert-outline", style.state_color(colors.OVERDUE).name())
            if r.restricted:
                return icons.icon("lock-outline", style.state_color(colors.RESTRICTED).name())
            if r.redacted:
                return icons.icon("content-cut", style.state_color(REDACTED).name())
            return None

        def status_tip(r: RecordingRow) -> str:
            tips = []
            if not r.file_present:
                tips.append(self.tr("The audio file is missing from the recordings store (deleted or moved outside "
                                    "RCRM Desktop)."))
            if r.restricted:
                tips.append(self.tr("The user account is restricted (GDPR Art. 18): only compliance officers may "
                                    "play, export or change this recording."))
            if r.redacted:
                tips.append(self.tr("Part of the audio was removed for good (redaction)."))
            return "\n".join(tips)

        def started_tip(r: RecordingRow) -> str:
            return fmt.age_tooltip(r.started_at)

        muted = colors.MUTED
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return [
            Column("started_at", self.tr("Started"), lambda r: fmt.local_time(r.started_at), sort_key="started_at",
                   tooltip=started_tip, width=120),
            Column("subject", self.tr("User account"), subject, tooltip=subject,
                   foreground=lambda r: muted if r.user_id is None else None, width=166),
            Column("direction", self.tr("Direction"),
                   lambda r: self.tr("Inbound") if r.direction == "inbound" else self.tr("Outbound"),
                   decoration=direction_icon, width=90),
            Column("duration_ms", self.tr("Duration"), lambda r: fmt.duration(r.duration_ms), sort_key="duration_ms",
                   align=right, width=62),
            Column("status", self.tr("Status"), status_text, tooltip=status_tip, foreground=status_color,
                   background=status_background, decoration=status_icon, width=112),
            Column("agent", self.tr("Agent"), lambda r: r.agent or "—", sort_key="agent",
                   foreground=lambda r: muted if not r.agent else None, width=104),
            Column("annotations", self.tr("Notes"), lambda r: str(r.annotations) if r.annotations else "",
                   align=right, decoration=lambda r: icons.icon("comment-text-outline") if r.annotations else None,
                   width=50),
            Column("tags", self.tr("Tags"), lambda r: ", ".join(r.tags), tooltip=lambda r: ", ".join(r.tags),
                   width=150),
        ]

    def _connect(self) -> None:
        self.search.search_changed.connect(lambda _t: self._filters_changed())
        self.search.returnPressed.connect(self.search.flush)
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)
        for combo in (self.direction_combo, self.duration_combo, self.agent_combo, self.tag_combo, self.notes_combo):
            combo.currentIndexChanged.connect(lambda _i: self._filters_changed())
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(lambda _d: self._filters_changed())
        self.model.sort_requested.connect(self._sort_requested)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.fetch_failed.connect(self._fetch_failed)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.table.installEventFilter(self)

    # ------------------------------------------------------------ area

    def menu_actions(self) -> list[QAction]:
        """The area's actions, for a "Recording" menu in the main window (shortcuts shown there)."""
        return [self.import_action, self.export_action, self.annotate_action, self.redact_action]

    def activate(self) -> None:
        if not self._loaded:
            self.reload()

    def refresh(self) -> None:
        self._fill_choices()
        self.reload()
        if self.detail is not None:
            self._refresh_detail()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("header", self.table.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        splitter = settings.value("splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        header = settings.value("header")
        if isinstance(header, QByteArray):
            self.table.horizontalHeader().restoreState(header)
            self._set_sort_indicator()

    # ------------------------------------------------------------ filters and loading

    def current_filter(self) -> RecordingFilter:
        since = self.since_edit.date()
        until = self.until_edit.date()

        def utc(day: QDate, end: bool) -> dt.datetime | None:
            if day == _EARLIEST:
                return None
            local = dt.datetime(day.year(), day.month(), day.day()) + (dt.timedelta(days=1) if end else
                                                                        dt.timedelta())
            return local.astimezone(dt.UTC).replace(tzinfo=None)

        low, high = self.duration_combo.currentData() or (None, None)
        text = self.search.text().strip()
        return RecordingFilter(subject_id=self._subject_id, subject=text or None, since=utc(since, False),
                               until=utc(until, True), direction=self.direction_combo.currentData(),
                               min_ms=low, max_ms=high, agent=self.agent_combo.currentData(),
                               tag=self.tag_combo.currentData(), has_annotations=self.notes_combo.currentData())

    def _filters_changed(self) -> None:
        if not self._applying:
            self.reload()

    def filters_active(self) -> bool:
        return bool(self.current_filter().used())

    def clear_filters(self) -> None:
        """Empty the search and every filter (the subject pin stays: "Show all recordings" lifts it)."""
        self._applying = True
        try:
            self.search.clear()
            for combo in (self.direction_combo, self.duration_combo, self.agent_combo, self.tag_combo,
                          self.notes_combo):
                combo.setCurrentIndex(0)
            self.since_edit.setDate(_EARLIEST)
            self.until_edit.setDate(_EARLIEST)
        finally:
            self._applying = False
        self.reload()

    def reload(self) -> None:
        """Load the first page for the current filters and sort (the table keeps its place in the settings)."""
        self._loaded = True
        self._fetch_error = None
        try:
            flt = self.current_filter()
            recordings.check_filter(flt)
        except RcrmError as exc:
            self.search_error.setText(exc.message)
            self.search_error.show()
            return
        self.search_error.hide()
        actor, sort, descending = self.actor, self._sort, self._descending

        def fetch(after: RecordingRow | None, limit: int) -> list[RecordingRow]:
            key = recordings.page_key(after, sort) if after is not None else None
            return recordings.list_recordings(actor, flt, sort=sort, descending=descending, after=key, limit=limit)

        selected = self.detail.row.id if self.detail is not None else None
        self.model.set_fetch(fetch)
        self._request_count()
        if selected is not None:
            row = self.model.find_row(lambda r: r.id == selected)
            if row >= 0:
                self._select_row(row, open_detail=False)

    def _page_loaded(self, rows: int) -> None:
        if rows == 0 and self._fetch_error is None:
            self._show_empty()
        else:
            self.table_stack.setCurrentWidget(self.table)

    def _fetch_failed(self, exc: BaseException) -> None:
        self._fetch_error = exc
        text = exc.message if isinstance(exc, RcrmError) else self.tr("The recordings could not be loaded (%1); "
                                                                      "details are in the log file.").replace(
            "%1", type(exc).__name__)
        if not isinstance(exc, RcrmError):
            error_dialogs.log_failure(type(exc), exc.__traceback__)
        self.empty.set_text(self.tr("The recordings could not be loaded"), text, self.tr("Try again"))
        self.empty.button.setIcon(icons.icon("refresh"))
        self.table_stack.setCurrentWidget(self.empty)

    def _show_empty(self) -> None:
        if self.filters_active() or self._subject_id is not None:
            title = self.tr("No recordings match these filters")
            text = (self.tr("This user account has no recordings that match.") if self._subject_id is not None
                    else self.tr("Change or clear the filters to see more calls."))
            self.empty.set_text(title, text, self.tr("Clear filters"))
            self.empty.button.setIcon(icons.icon("filter-remove-outline"))
        else:
            can = self.actor.can(Permission.RECORDINGS_IMPORT)
            self.empty.set_text(self.tr("No recordings yet — Import recordings…"),
                                self.tr("Import a folder of call audio (WAV, MP3, OGG/Opus, FLAC or M4A) with a "
                                        "manifest.csv that names each call's user account, start time, direction, "
                                        "agent and tags."),
                                self.tr("Import recordings…") if can else "")
            self.empty.button.setIcon(icons.icon("folder-music-outline"))
        self.table_stack.setCurrentWidget(self.empty)

    def empty_state_text(self) -> str:
        if self.table_stack.currentWidget() is not self.empty:
            return ""
        return f"{self.empty.title.text()}\n{self.empty.text.text()}"

    def _empty_action(self) -> None:
        if self._fetch_error is not None:
            self.reload()
        elif self.filters_active() or self._subject_id is not None:
            self.clear_filters()
        else:
            self.choose_import_folder()

    # ------------------------------------------------------------ counting

    def _request_count(self) -> None:
        self._count_generation += 1
        self.count_label.setText(self.tr("counting…"))
        if self._count_running:
            self._count_pending = True
            return
        self._start_count()

    def _start_count(self) -> None:
        self._count_running = True
        self._count_pending = False
        generation = self._count_generation
        actor = self.actor
        flt = self.current_filter()
        run_task(lambda _task: recordings.count_recordings(actor, flt),
                 on_done=lambda result: self._count_finished(generation, result),
                 on_error=lambda _exc: self._count_finished(generation, None))

    def _count_finished(self, generation: int, result: RecordingCount | None) -> None:
        self._count_running = False
        if self._count_pending:
            self._start_count()
            return
        if generation != self._count_generation:
            return
        self.count = result
        if result is None:
            self.count_label.setText("—")
            return
        total = fmt.count(result.total)
        if not self.filters_active() and self._subject_id is None:
            self.count_label.setText(style.count_text(result.total, self.tr("%1 recording"),
                                                      self.tr("%1 recordings")))
        else:
            matching = fmt.count(result.matching) + ("+" if result.capped else "")
            self.count_label.setText(self.tr("%1 of %2 recordings").replace("%1", matching).replace("%2", total))

    # ------------------------------------------------------------ sorting

    def _column_of(self, sort_key: str) -> int:
        return column_of_sort_key(self.model, sort_key)

    def _set_sort_indicator(self) -> None:
        show_sort_indicator(self.table, self._sort, self._descending)

    def _sort_requested(self, key: str, descending: bool) -> None:
        if self._suppress_sort or (key, descending) == (self._sort, self._descending):
            return
        self._sort, self._descending = key, descending
        if self._loaded:
            self.reload()

    def sort_by(self, key: str, descending: bool = False) -> None:
        column = self._column_of(key)
        if column < 0:
            raise ValueError(f"cannot sort by {key}")
        self.table.sortByColumn(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)

    # ------------------------------------------------------------ subject link

    def show_subject_recordings(self, subject_id: int) -> None:
        """Show one user account's recordings (from the Users area), with a banner and a way back."""
        try:
            self._subject_ref = recordings.subject_reference(self.actor, subject_id)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Recordings"))
            return
        self._subject_id = subject_id
        user_id, restricted = self._subject_ref
        text = self.tr("Recordings of user account <b>%1</b>").replace("%1", user_id)
        if restricted:
            text += " — <span style='color:%1'>%2</span>".replace(
                "%1", style.state_color(colors.RESTRICTED).name()).replace(
                "%2", self.tr("restricted (GDPR Art. 18)"))
        self.banner_label.setText(text)
        self.back_to_subject.setEnabled(self.actor.can(Permission.SUBJECTS_VIEW))
        self.banner.show()
        self._applying = True
        try:
            self.search.clear()
        finally:
            self._applying = False
        self.reload()

    def show_all(self) -> None:
        self._subject_id = None
        self._subject_ref = None
        self.banner.hide()
        self.reload()

    def _open_subject(self) -> None:
        target = self._subject_id
        if target is None and self.detail is not None:
            target = self.detail.row.subject_id
        if target is not None:
            self.open_subject_requested.emit(target)

    # ------------------------------------------------------------ selection and detail

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.open_selected()
                self.player.waveform.setFocus(Qt.FocusReason.OtherFocusReason)
                return True
            if key == Qt.Key.Key_Escape and self.filters_active():
                self.clear_filters()
                return True
        return super().eventFilter(watched, event)

    def selected_row(self) -> RecordingRow | None:
        return selected_model_row(self.table)

    def _selection_changed(self) -> None:
        row = self.selected_row()
        if row is None:
            self._detail_timer.stop()
            return
        if self.detail is not None and row.id == self.detail.row.id:
            return
        self._detail_timer.start()

    def _select_row(self, row: int, *, open_detail: bool = True) -> None:
        index = self.model.index(row, 0)
        blocked = self.table.selectionModel().blockSignals(not open_detail)
        self.table.setCurrentIndex(index)
        self.table.selectRow(row)
        self.table.selectionModel().blockSignals(blocked)
        self.table.scrollTo(index)

    def select_recording(self, recording_id: int) -> bool:
        """Select and open a recording among the loaded rows (tests, links)."""
        row = self.model.find_row(lambda r: r.id == recording_id)
        if row < 0:
            return False
        self._select_row(row)
        self.open_selected()
        return True

    def open_selected(self) -> None:
        """Open the selected row's detail now (an audited view) and load it into the player."""
        self._detail_timer.stop()
        row = self.selected_row()
        if row is None:
            return
        try:
            detail = recordings.get_recording(self.actor, row.id)
            self.history = recordings.access_history(self.actor, row.id)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Open recording"))
            return
        self._show_detail(detail, reload_audio=True)

    def _refresh_detail(self, *, reload_audio: bool = False) -> None:
        if self.detail is None:
            return
        try:
            detail = recordings.get_recording(self.actor, self.detail.row.id, audit_view=False)
            self.history = recordings.access_history(self.actor, detail.row.id)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Refresh recording"))
            return
        self._show_detail(detail, reload_audio=reload_audio)

    def _reload_history(self) -> None:
        if self.detail is None:
            return
        try:
            self.history = recordings.access_history(self.actor, self.detail.row.id)
        except RcrmError:
            return
        self._fill_history()

    def _show_detail(self, detail: RecordingDetail, *, reload_audio: bool) -> None:
        self.detail = detail
        row = detail.row
        self.selection_ms = None
        self.pane_stack.setCurrentIndex(1)
        who = (f"{row.subject_name} · {row.user_id}" if row.subject_name else
               row.user_id or self.tr("Caller not identified"))
        self.detail_title.setText(fmt.ltr(who))
        direction = self.tr("Inbound call") if row.direction == "inbound" else self.tr("Outbound call")
        parts = [direction, fmt.local_with_relative(row.started_at), fmt.duration(row.duration_ms)]
        if row.agent:
            parts.append(self.tr("agent %1").replace("%1", row.agent))
        self.detail_sub.setText(" · ".join(parts))
        self._set_chips(detail)
        self.blocked_label.setText(detail.blocked or "")
        self.blocked_label.setVisible(bool(detail.blocked))
        if reload_audio:
            self.player.load(detail)
        else:
            self.player.set_annotations(detail)
        self._fill_info(detail)
        self._fill_notes(detail)
        self._fill_tags(detail)
        self._fill_history()
        index = self.model.find_row(lambda r: r.id == row.id)
        if index >= 0 and self.model.row_at(index) != row:
            self.model.replace_row(index, row)
        self._update_actions()

    def _set_chips(self, detail: RecordingDetail) -> None:
        for chip in self.chips:
            self.chips_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        row = detail.row
        wanted: list[tuple[str, QColor]] = []
        if not row.file_present:
            wanted.append((self.tr("File missing"), colors.OVERDUE))
        if row.restricted:
            wanted.append((self.tr("Restricted (Art. 18)"), colors.RESTRICTED))
        if row.redacted:
            count = len(detail.redactions)
            wanted.append((style.count_text(count, self.tr("Redacted (%1 region)"), self.tr("Redacted (%1 regions)"))
                           if count else self.tr("Redacted"), REDACTED))
        if detail.active_holds:
            wanted.append((self.tr("Legal hold"), colors.HOLD))
        for text, color in wanted:
            chip = StateChip(text, color, self)
            self.chips_row.insertWidget(self.chips_row.count() - 1, chip)
            self.chips.append(chip)

    def _fill_info(self, detail: RecordingDetail) -> None:
        row = detail.row
        info = self.info
        info["started"].setText(fmt.local_with_relative(row.started_at))
        info["started"].setToolTip(fmt.utc_tooltip(row.started_at))
        if row.user_id is None:
            info["subject"].setText(self.tr("— caller not identified"))
        else:
            label = f"{row.user_id} {row.subject_name or ''}".strip()
            if self.actor.can(Permission.SUBJECTS_VIEW):
                info["subject"].setText(f"<a href='subject'>{label}</a>")
                info["subject"].setToolTip(self.tr("Open this user account in the Users area"))
            else:
                info["subject"].setText(label)
        info["direction"].setText(self.tr("Inbound") if row.direction == "inbound" else self.tr("Outbound"))
        long = row.duration_ms >= 3_600_000
        info["duration"].setText(clock(row.duration_ms, long))
        info["agent"].setText(row.agent or "—")
        lanes = {1: self.tr("mono"), 2: self.tr("stereo (agent left, customer right)")}.get(
            row.channels, self.tr("%1 channels").replace("%1", str(row.channels)))
        info["audio"].setText(f"{row.format.upper()} · {row.sample_rate:,} Hz · {lanes} · {_size(row.size_bytes)}")
        info["sha256"].setText(row.sha256[:16] + "…")
        info["sha256"].setToolTip(row.sha256)
        changed = detail.original_sha256 != row.sha256
        info["original"].setText((detail.original_sha256[:16] + "… " + self.tr("(before redaction)")) if changed
                                 else self.tr("same as now"))
        info["original"].setToolTip(detail.original_sha256)
        info["imported"].setText(fmt.local_with_relative(detail.imported_at))
        info["path"].setText(row.path + ("" if row.file_present else "  — " + self.tr("missing")))
        info["holds"].setText(style.count_text(detail.active_holds, self.tr("%1 active hold"),
                                               self.tr("%1 active holds")) if detail.active_holds else self.tr("none"))

    def _fill_notes(self, detail: RecordingDetail) -> None:
        self.notes.clear()
        long = detail.row.duration_ms >= 3_600_000
        for number, note in enumerate(detail.annotations, start=1):
            span = clock(note.position_ms, long)
            if note.end_ms is not None:
                span += f"–{clock(note.end_ms, long)}"
            item = QListWidgetItem(f"{number}.  {span}   {note.text}\n      {note.operator} · "
                                   f"{fmt.local_with_relative(note.created_at)}")
            item.setData(Qt.ItemDataRole.UserRole, note.id)
            item.setIcon(icons.icon("map-marker", style.state_color(MARKER).name()))
            item.setToolTip(self.tr("Click to jump to %1").replace("%1", span))
            self.notes.addItem(item)
        if not detail.annotations:
            item = QListWidgetItem(self.tr("No annotations yet. Press A (or “Annotate”) to add a note at the "
                                           "playhead or on the selected region."))
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.notes.addItem(item)
        self.tabs.setTabText(1, self.tr("Annotations (%1)").replace("%1", str(len(detail.annotations))))

    def _fill_tags(self, detail: RecordingDetail) -> None:
        for button in self.tag_buttons:
            self.tags_row.removeWidget(button)
            button.deleteLater()
        self.tag_buttons = []
        may = self._may_change()
        for tag in detail.row.tags:
            button = QToolButton(self)
            button.setObjectName("tagChip")
            button.setText(tag)
            button.setIcon(icons.icon("close") if may else icons.icon("tag-outline"))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
            button.setToolTip(self.tr("Remove the tag “%1”").replace("%1", tag) if may else tag)
            button.setEnabled(may)
            button.clicked.connect(lambda _c=False, t=tag: self.remove_tag(t))
            self.tags_row.insertWidget(self.tags_row.count() - 1, button)
            self.tag_buttons.append(button)
        self.tag_edit.setEnabled(may)
        self.tag_add_button.setEnabled(may)
        self.tags_hint.setText("" if may else self._change_refusal())
        if not detail.row.tags:
            self.tags_hint.setText((self.tr("No tags yet.") + " " + self.tags_hint.text()).strip())
        self.tabs.setTabText(2, self.tr("Tags (%1)").replace("%1", str(len(detail.row.tags))))

    def _fill_history(self) -> None:
        self.history_table.setRowCount(len(self.history))
        for r, event in enumerate(self.history):
            label = _tr(ACTION_LABELS.get(event.action, event.action))
            details = self._history_details(event)
            values = [fmt.local_time(event.at, seconds=True), event.operator, label, details]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                if c == 0:
                    item.setToolTip(fmt.utc_tooltip(event.at))
                if event.action == "recording.redact":
                    item.setForeground(style.state_color(REDACTED))
                self.history_table.setItem(r, c, item)
        self.history_table.resizeColumnsToContents()
        self.tabs.setTabText(3, self.tr("Access history (%1)").replace("%1", str(len(self.history))))

    def _history_details(self, event: AccessEvent) -> str:
        d = event.details
        if event.action == "recording.redact":
            return self.tr("%1–%2 s, %3").replace("%1", f"{d.get('start_ms', 0) / 1000:.1f}").replace(
                "%2", f"{d.get('end_ms', 0) / 1000:.1f}").replace("%3", str(d.get("mode", "silence")))
        if event.action == "recording.annotate":
            if d.get("op") == "delete":
                return self.tr("note #%1 deleted").replace("%1", str(d.get("annotation")))
            return self.tr("note #%1 at %2").replace("%1", str(d.get("annotation"))).replace(
                "%2", clock(int(d.get("position_ms") or 0)))
        if event.action == "recording.tag":
            return self.tr("tag added") if d.get("op") == "add" else self.tr("tag removed")
        if event.action == "recording.export":
            return _size(int(d.get("bytes") or 0))
        return json.dumps(d, ensure_ascii=False) if d else ""

    # ------------------------------------------------------------ permissions of the actions

    def _may_change(self) -> bool:
        return (self.detail is not None and self.actor.can(Permission.RECORDINGS_ANNOTATE)
                and not self.detail.blocked)

    def _change_refusal(self) -> str:
        if not self.actor.can(Permission.RECORDINGS_ANNOTATE):
            return self.tr("Your role (%1) cannot annotate or tag recordings: support staff do that.").replace(
                "%1", ROLE_LABELS[self.actor.role])
        if self.detail is not None and self.detail.blocked:
            return self.detail.blocked
        return ""

    def _update_actions(self) -> None:
        actor = self.actor
        role = ROLE_LABELS[actor.role]
        detail = self.detail
        can_import = actor.can(Permission.RECORDINGS_IMPORT)
        self.import_action.setEnabled(can_import)
        self.import_action.setToolTip(
            self.tr("Import a folder of recordings with its manifest.csv") if can_import else
            self.tr("Your role (%1) cannot import recordings: it needs the permission recordings.import.")
            .replace("%1", role))
        usable = detail is not None and not detail.blocked and detail.row.file_present

        def explain(permission: Permission, what: str, needs_file: bool = True) -> str:
            if not actor.can(permission):
                return self.tr("Your role (%1) cannot %2: it needs the permission %3.").replace(
                    "%1", role).replace("%2", what).replace("%3", permission.value)
            if detail is None:
                return self.tr("Select a recording first.")
            if detail.blocked:
                return detail.blocked
            if needs_file and not detail.row.file_present:
                return self.tr("The audio file of this recording is missing from the store.")
            return ""

        export_why = explain(Permission.RECORDINGS_EXPORT, self.tr("export recordings"))
        self.export_action.setEnabled(not export_why and usable)
        self.export_action.setToolTip(export_why or self.tr("Save a copy of this recording's audio (audited)"))
        annotate_why = explain(Permission.RECORDINGS_ANNOTATE, self.tr("annotate recordings"), needs_file=False)
        self.annotate_action.setEnabled(not annotate_why)
        self.annotate_action.setToolTip(annotate_why or self.tr("Add a note at the playhead or on the selected "
                                                                "region (A)"))
        self.add_note_button.setEnabled(not annotate_why)
        self.add_note_button.setToolTip(self.annotate_action.toolTip())
        self.delete_note_button.setEnabled(not annotate_why)
        redact_why = explain(Permission.RECORDINGS_REDACT, self.tr("redact recordings"))
        self.redact_action.setEnabled(not redact_why and usable)
        self.redact_action.setToolTip(redact_why or self.tr("Replace the selected region with silence or a tone, "
                                                            "for good (select it on the waveform first)"))

    # ------------------------------------------------------------ waveform interplay

    def _selection_changed_on_waveform(self, start: int, end: int) -> None:
        self.selection_ms = (start, end) if start >= 0 else None

    def _marker_clicked(self, annotation_id: int) -> None:
        for i in range(self.notes.count()):
            item = self.notes.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == annotation_id:
                self.notes.setCurrentItem(item)
                self.tabs.setCurrentIndex(1)
                return

    def _note_activated(self, item: QListWidgetItem) -> None:
        note_id = item.data(Qt.ItemDataRole.UserRole)
        if self.detail is None or note_id is None:
            return
        note = next((a for a in self.detail.annotations if a.id == note_id), None)
        if note is not None:
            self.player.seek(note.position_ms)
            if note.end_ms is not None:
                self.player.waveform.set_selection(note.position_ms, note.end_ms)
                self.selection_ms = (note.position_ms, note.end_ms)

    # ------------------------------------------------------------ annotate, tag

    def _exec(self, dialog: QDialog) -> bool:
        """Run a modal dialog; ``True`` when accepted (tests replace this method)."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def open_annotate_dialog(self) -> None:
        if self.detail is None or not self.annotate_action.isEnabled():
            if self.detail is not None:
                error_dialogs.message_box(self, QMessageBox.Icon.Information, self.tr("Annotate"),
                                          self.annotate_action.toolTip())
            return
        position = self.player.position_ms
        end = None
        if self.selection_ms is not None:
            position, end = self.selection_ms
        dialog = AnnotationDialog(self.detail.row.duration_ms, position, end, self)
        try:
            if self._exec(dialog):
                position_ms, end_ms, text = dialog.values()
                self.add_annotation(position_ms, text, end_ms)
        finally:
            dialog.deleteLater()

    def add_annotation(self, position_ms: int, text: str, end_ms: int | None = None) -> bool:
        if self.detail is None:
            return False
        try:
            recordings.add_annotation(self.actor, self.detail.row.id, position_ms, text, end_ms=end_ms)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Annotate"))
            return False
        self._refresh_detail()
        self.tabs.setCurrentIndex(1)
        self.status_message.emit(self.tr("Annotation added at %1.").replace("%1", clock(position_ms)))
        return True

    def delete_selected_annotation(self) -> None:
        item = self.notes.currentItem()
        note_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if note_id is None:
            return
        if not error_dialogs.confirm(self, self.tr("Delete annotation"),
                                     self.tr("Delete this annotation? Its deletion is recorded in the audit log."),
                                     destructive=True):
            return
        try:
            recordings.delete_annotation(self.actor, int(note_id))
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Delete annotation"))
            return
        self._refresh_detail()

    def add_tag_from_edit(self) -> None:
        text = self.tag_edit.text().strip()
        if not text or self.detail is None:
            return
        try:
            recordings.add_tag(self.actor, self.detail.row.id, text)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Add tag"))
            return
        self.tag_edit.clear()
        self._refresh_detail()
        self._fill_choices()

    def remove_tag(self, tag: str) -> None:
        if self.detail is None:
            return
        try:
            recordings.remove_tag(self.actor, self.detail.row.id, tag)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Remove tag"))
            return
        self._refresh_detail()

    # ------------------------------------------------------------ redact

    def open_redact_dialog(self) -> None:
        if self.detail is None or not self.redact_action.isEnabled():
            if self.detail is not None:
                error_dialogs.message_box(self, QMessageBox.Icon.Information, self.tr("Redact region"),
                                          self.redact_action.toolTip())
            return
        row = self.detail.row
        if self.selection_ms is not None:
            start, end = self.selection_ms
        else:
            start = self.player.position_ms
            end = min(row.duration_ms, start + 3000)
        dialog = RedactionDialog(row.id, row.duration_ms, start, end, compressed=row.format != "wav", parent=self)
        try:
            if self._exec(dialog):
                start_ms, end_ms, reason, tone = dialog.values()
                self.start_redaction(start_ms, end_ms, reason, tone=tone)
        finally:
            dialog.deleteLater()

    def start_redaction(self, start_ms: int, end_ms: int, reason: str, *, tone: bool = False) -> Task | None:
        """Redact in the background (a compressed call is decoded and encoded again) with a busy dialog."""
        if self.detail is None:
            return None
        detail = self.detail
        actor = self.actor
        self.player.unload(self.tr("Redacting…"))
        busy = QProgressDialog(self.tr("Rewriting the audio of recording #%1 without the region…").replace(
            "%1", str(detail.row.id)), "", 0, 0, self)
        busy.setWindowTitle(self.tr("Redacting"))
        busy.setCancelButton(None)  # type: ignore[arg-type]
        busy.setWindowModality(Qt.WindowModality.WindowModal)
        busy.setMinimumDuration(400)
        self.busy = busy

        def finish() -> None:
            if self.busy is not None:
                self.busy.reset()
                self.busy.deleteLater()
                self.busy = None

        def done(_row: object) -> None:
            finish()
            self.status_message.emit(self.tr("Recording #%1: %2–%3 redacted; the removed sound is gone.")
                                     .replace("%1", str(detail.row.id)).replace("%2", clock(start_ms))
                                     .replace("%3", clock(end_ms)))
            self._refresh_detail(reload_audio=True)

        def failed(exc: BaseException) -> None:
            finish()
            error_dialogs.show_error(self, exc, self.tr("Redact region"))
            self._refresh_detail(reload_audio=True)

        expected = detail.row.version
        return run_task(lambda _task: recordings.redact_recording(actor, detail.row.id, start_ms, end_ms, reason,
                                                                  tone=tone, expected_version=expected),
                        on_done=done, on_error=failed)

    # ------------------------------------------------------------ export

    def _ask_save_path(self, suggested: str) -> str:
        path, _filter = QFileDialog.getSaveFileName(self, self.tr("Export a copy of the recording"), suggested)
        return path

    def choose_export_file(self) -> None:
        if self.detail is None or not self.export_action.isEnabled():
            return
        row = self.detail.row
        path = self._ask_save_path(f"recording-{row.id}.{recordings.EXTENSIONS.get(row.format, row.format)}")
        if path:
            self.export_to(Path(path))

    def export_to(self, target: Path) -> Task | None:
        if self.detail is None:
            return None
        rid = self.detail.row.id
        actor = self.actor

        def done(result: recordings.ExportResult) -> None:
            self.status_message.emit(self.tr("Recording #%1 exported to %2 (%3).").replace("%1", str(rid))
                                     .replace("%2", str(result.path)).replace("%3", _size(result.size_bytes)))
            self._reload_history()

        return run_task(lambda _task: recordings.export_recording(actor, rid, target), on_done=done,
                        on_error=lambda exc: error_dialogs.show_error(self, exc, self.tr("Export copy")))

    # ------------------------------------------------------------ import

    def _choose_folder(self) -> str:
        return QFileDialog.getExistingDirectory(self, self.tr("Import recordings from a folder"))

    def choose_import_folder(self) -> None:
        if not self.actor.can(Permission.RECORDINGS_IMPORT):
            error_dialogs.message_box(self, QMessageBox.Icon.Information, self.tr("Import recordings"),
                                      self.import_action.toolTip())
            return
        folder = self._choose_folder()
        if folder:
            self.start_import(Path(folder))

    def start_import(self, folder: Path) -> Task:
        """Import in the background: a progress dialog says which file, Cancel stops after it; a summary follows."""
        actor = self.actor
        progress = open_progress(self, self.tr("Importing recordings"),
                                 self.tr("Reading %1…").replace("%1", folder.name))
        self.import_progress = progress
        self.import_action.setEnabled(False)
        stop = threading.Event()  # set by Cancel; checked by the import between files
        progress.canceled.connect(stop.set)
        progress.canceled.connect(lambda: progress.setLabelText(self.tr("Stopping after the current file…")))

        def work(task: Task) -> ImportReport:
            def step(done: int, total: int, name: str) -> bool:
                return task.report(done, total, name) and not stop.is_set()

            return recordings.import_recordings(actor, folder, progress=step)

        def on_progress(done: int, total: int, name: str) -> None:
            label = (self.tr("Copying recording %1 of %2: %3").replace("%1", str(done + 1))
                     .replace("%2", str(total)).replace("%3", name)) if name else None
            update_progress(self.import_progress, done, total, label)

        task = run_task(work, on_done=lambda report: self._import_finished(folder, report),
                        on_error=lambda exc: self._import_failed(exc), progress=on_progress)
        self.import_task = task
        return task

    def _close_import(self) -> None:
        self.import_action.setEnabled(self.actor.can(Permission.RECORDINGS_IMPORT))
        close_progress(self.import_progress)
        self.import_progress = None
        self.import_task = None

    def _import_finished(self, folder: Path, report: ImportReport) -> None:
        self._close_import()
        self.last_import_report = report
        counts = (self.tr("%1 imported, %2 duplicates skipped, %3 refused.")
                  .replace("%1", fmt.count(len(report.imported))).replace("%2", fmt.count(len(report.duplicates)))
                  .replace("%3", fmt.count(len(report.refused))))
        title = self.tr("Import stopped") if report.cancelled else self.tr("Import finished")
        text = (self.tr("The import from %1 was cancelled after the current file: %2") if report.cancelled
                else self.tr("Recordings from %1: %2")).replace("%1", folder.name).replace("%2", counts)
        informative = ""
        if report.refused:
            shown = [f"• {name}: {reason}" for name, reason in report.refused[:SUMMARY_REFUSED]]
            informative = self.tr("Refused (fix them and import the folder again; imported files are not "
                                  "duplicated):") + "\n" + "\n".join(shown)
            if len(report.refused) > SUMMARY_REFUSED:
                informative += "\n" + self.tr("… and %1 more.").replace(
                    "%1", fmt.count(len(report.refused) - SUMMARY_REFUSED))
        icon = QMessageBox.Icon.Warning if report.refused or report.cancelled else QMessageBox.Icon.Information
        self.status_message.emit(text)
        self._fill_choices()
        self.reload()
        error_dialogs.message_box(self, icon, title, text, informative)

    def _import_failed(self, exc: BaseException) -> None:
        self._close_import()
        error_dialogs.show_error(self, exc, self.tr("Import recordings"))
        self.reload()

    def hideEvent(self, event: Any) -> None:
        self.player.pause()
        super().hideEvent(event)


__all__ = ["RecordingsView"]
