"""The Retention area: rules, what they would remove now, runs and their reports, and legal holds.

Guarantees (ARCHITECTURE.md, UI conventions; retention issue):

* Everything shown comes from ``core.retention`` and ``core.holds``, which
  check ``retention.manage`` / ``holds.manage`` and audit every change; the
  area is listed only for operators holding ``retention.manage``.
* The rules table shows each rule with its preview as of one moment (the
  numbers ``rcrm-desktop retention preview`` prints): due now, the oldest due
  item, and what is held back. The preview is computed in the background and
  changes nothing. The item list of the selected rule is keyset-paged
  (``preview_items``), so a rule with a million due items costs one page.
* Held-back items carry colour *and* text: blue "On legal hold" (with the
  hold's number and reason), amber "Frozen: open request" (with its number).
* "Apply now…" first recomputes the preview and shows its counts in a
  confirmation (a destructive action shows its consequences first), then runs
  ``apply_retention`` with that preview's time, so the run removes exactly what
  was confirmed; a progress dialog says what is being deleted ("Deleting
  recording 37 of 500") and its Cancel stops after the current batch; a
  summary follows, and the run's report opens in the Runs tab.
* A run interrupted by a crash is announced with a banner and can be resumed.
* Every message box goes through ``ui.dialogs.errors``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSettings,
    QSize,
    Qt,
)
from PySide6.QtGui import QAction, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import holds as core_holds
from rcrm_desktop.core import retention
from rcrm_desktop.core.holds import HoldRow
from rcrm_desktop.core.permissions import Permission
from rcrm_desktop.core.retention import HeldBack, PreviewItem, RetentionPreview, RulePreview, RunReport
from rcrm_desktop.errors import RcrmError, ValidationError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.hold import PlaceHoldDialog, ReleaseHoldDialog
from rcrm_desktop.ui.dialogs.retention_rule import RetentionRuleDialog
from rcrm_desktop.ui.models.keyset import Column, KeysetTableModel
from rcrm_desktop.ui.progress import close_progress, open_progress, update_progress
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.tasks import Task, run_task
from rcrm_desktop.ui.views.base import AreaView, setup_table

Index = QModelIndex | QPersistentModelIndex

#: Frozen by an open rights request (amber); legal holds are ``colors.HOLD`` (blue).
FROZEN = colors.DUE_SOON

RUN_COLORS = {"completed": colors.OK, "cancelled": colors.DUE_SOON, "failed": colors.OVERDUE,
              "running": colors.HOLD, "interrupted": colors.OVERDUE}
RULE_ICONS = {"recordings": "microphone-outline", "crash_events": "bug-outline",
              "inactive_accounts": "account-clock-outline", "annotations": "note-text-outline",
              "access_packages": "package-variant-closed", "closed_requests": "file-document-check-outline",
              "audit_log": "shield-check-outline"}


def tr(text: str) -> str:
    return QCoreApplication.translate("RetentionView", text)


def _age(days: int | None) -> str:
    """``730`` → "2 years (730 days)"; ``None`` → "Keep forever"."""
    if days is None:
        return tr("Keep forever")
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return (tr("1 year") if years == 1 else tr("%1 years").replace("%1", str(years))) + \
            "  " + tr("(%1 days)").replace("%1", fmt.count(days))
    return tr("1 day") if days == 1 else tr("%1 days").replace("%1", fmt.count(days))


def _action_text(rule: retention.RetentionRule) -> str:
    if not rule.applicable:
        return "—"
    if rule.category == "inactive_accounts":
        return tr("Erase")
    return tr("Anonymise") if rule.action == "anonymise" else tr("Delete")


def _rule_state(rule: retention.RetentionRule) -> tuple[str, QColor]:
    return {
        "active": (tr("Enabled"), colors.OK),
        "disabled": (tr("Disabled"), colors.MUTED),
        "no_max_age": (tr("Keep forever"), colors.MUTED),
        "not_applicable": (tr("Not stored"), colors.MUTED),
        "fixed": (tr("Kept forever"), colors.MUTED),
    }[rule.status]


def _run_state(run: RunReport) -> str:
    return "interrupted" if run.interrupted else run.state


def _run_state_text(run: RunReport) -> str:
    return {"completed": tr("Completed"), "cancelled": tr("Cancelled"), "failed": tr("Failed"),
            "running": tr("Running"), "interrupted": tr("Interrupted")}[_run_state(run)]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return tr("< 1 s")
    return fmt.duration(int(seconds * 1000))


# ================================================================ the rules table


class RulesModel(QAbstractTableModel):
    """One row per category: the rule and its preview (small and fixed: seven rows)."""

    COLUMNS = ("category", "basis", "age", "action", "state", "due", "oldest", "held", "changed")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[RulePreview] = []

    def titles(self) -> list[str]:
        return [tr("Category"), tr("Counted from"), tr("Keep for"), tr("Then"), tr("State"), tr("Due now"),
                tr("Oldest due"), tr("Held back"), tr("Last changed")]

    def set_rows(self, rows: Sequence[RulePreview]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> RulePreview | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def find(self, category: str) -> int:
        return next((i for i, r in enumerate(self._rows) if r.category == category), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.COLUMNS):
            return self.titles()[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) \
                or not (0 <= index.column() < len(self.COLUMNS)):
            return None
        p = self._rows[index.row()]
        rule = p.rule
        key = self.COLUMNS[index.column()]
        active = rule.active
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "category":
                return rule.label
            if key == "basis":
                return rule.info.basis if rule.applicable else "—"
            if key == "age":
                return _age(rule.max_age_days) if rule.applicable else "—"
            if key == "action":
                return _action_text(rule)
            if key == "state":
                return _rule_state(rule)[0]
            if key == "due":
                return fmt.count(p.due) if active else "—"
            if key == "oldest":
                return fmt.local_with_relative(p.oldest) if active and p.oldest else "—"
            if key == "held":
                return fmt.count(p.held) if active else "—"
            if key == "changed":
                if rule.updated_at is None:
                    return tr("never")
                return fmt.to_local(rule.updated_at).strftime("%Y-%m-%d")  # time and who: the tooltip
        if role == Qt.ItemDataRole.DecorationRole:
            if key == "category":
                return icons.icon(RULE_ICONS.get(rule.category, "calendar-clock"))
            if key == "state":
                color = style.state_color(_rule_state(rule)[1])
                return icons.icon("check-circle" if rule.status == "active" else "minus-circle-outline",
                                  color.name())
            if key == "held" and active and p.held:
                return icons.icon("shield-lock-outline", style.state_color(colors.HOLD).name())
        if role == Qt.ItemDataRole.ForegroundRole:
            if key == "state":
                return style.state_color(_rule_state(rule)[1])
            if key == "held" and active and p.held:
                return style.state_color(colors.HOLD)
            if key in ("basis", "age", "action", "changed", "oldest") and not active:
                return colors.MUTED
            if key in ("due", "held") and (not active or (p.due if key == "due" else p.held) == 0):
                return colors.MUTED
        if role == Qt.ItemDataRole.FontRole and key in ("due", "category") and (key == "category" or p.due):
            font = QFont()
            font.setWeight(QFont.Weight.DemiBold)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and key in ("due", "held"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if key in ("category", "state", "action") or not rule.applicable:
                return rule.info.note
            if key == "oldest" and p.oldest:
                return fmt.utc_tooltip(p.oldest)
            if key == "age" and p.cutoff is not None:
                return tr("Items counted from before %1 are due").replace("%1", fmt.local_time(p.cutoff, seconds=True))
            if key == "held" and p.held:
                return "\n".join(f"{h.label} ({fmt.count(h.count)}): {h.detail}" for h in p.held_back[:12])
            if key == "changed" and rule.updated_at:
                return tr("%1 by %2 (%3)").replace("%1", fmt.local_time(rule.updated_at)).replace(
                    "%2", rule.updated_by_name or "—").replace("%3", fmt.utc_tooltip(rule.updated_at))
        if role == Qt.ItemDataRole.UserRole:
            return p
        return None


# ================================================================ the view


class RetentionView(AreaView):
    """Rules with their preview, the items of the selected rule, runs with reports, and legal holds."""

    spec = AREA["RetentionView"]

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.preview: RetentionPreview | None = None
        self.preview_error: str | None = None
        self.last_report: RunReport | None = None
        self.apply_task: Task | None = None
        self.apply_progress: QProgressDialog | None = None
        self.rule_dialog: RetentionRuleDialog | None = None
        self.hold_dialog: PlaceHoldDialog | ReleaseHoldDialog | None = None
        self._loaded = False
        self._show_held = False
        self._preview_generation = 0
        self.can_hold = session.actor.can(Permission.HOLDS_MANAGE)

        self.apply_action = QAction(icons.icon("delete-clock-outline"), self.tr("Apply retention now…"), self)
        self.apply_action.setObjectName("applyRetentionAction")
        self.apply_action.triggered.connect(self.start_apply)
        self.hold_action = QAction(icons.icon("shield-lock-outline"), self.tr("Place legal hold…"), self)
        self.hold_action.triggered.connect(lambda: self.place_hold())
        self.hold_action.setEnabled(self.can_hold)
        self._build()

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
            "Rules that remove personal data once it is no longer needed (GDPR Art. 5(1)(e)). Legal holds and open "
            "rights requests always win: what they cover is held back."), self))
        head.addLayout(titles, 1)
        self.refresh_button = QPushButton(icons.icon("refresh"), self.tr("Refresh preview"), self)
        self.refresh_button.setObjectName("refreshPreview")
        self.refresh_button.clicked.connect(self.reload_preview)
        head.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.apply_button = QPushButton(icons.icon("delete-clock-outline", "#ffffff"), self.tr("Apply now…"), self)
        self.apply_button.setObjectName("applyNow")
        self.apply_button.setStyleSheet(
            f"QPushButton#applyNow {{ background: {colors.OVERDUE.name()}; color: white; font-weight: 600;"
            " padding: 5px 14px; border-radius: 4px; border: none; }"
            f" QPushButton#applyNow:disabled {{ background: {colors.MUTED.name()}; }}")
        self.apply_button.clicked.connect(self.start_apply)
        head.addWidget(self.apply_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.banner = QFrame(self)
        self.banner.setObjectName("errorBox")
        banner_row = QHBoxLayout(self.banner)
        banner_row.setContentsMargins(10, 6, 10, 6)
        banner_row.addWidget(style.icon_label("alert-circle-outline", 22, colors.OVERDUE, self.banner))
        self.banner_text = QLabel(self.banner)
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextFormat(Qt.TextFormat.PlainText)
        banner_row.addWidget(self.banner_text, 1)
        self.resume_button = QPushButton(icons.icon("play-circle-outline"), self.tr("Resume now"), self.banner)
        self.resume_button.setObjectName("resumeRun")
        self.resume_button.clicked.connect(self.start_resume)
        banner_row.addWidget(self.resume_button)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("retentionTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_rules_tab(), icons.icon("format-list-checks"), self.tr("Rules and preview"))
        self.tabs.addTab(self._build_runs_tab(), icons.icon("history"), self.tr("Runs"))
        self.tabs.addTab(self._build_holds_tab(), icons.icon("shield-lock-outline"), self.tr("Legal holds"))
        self.tabs.setTabEnabled(2, self.can_hold)
        layout.addWidget(self.tabs, 1)

    def _build_rules_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.setSpacing(8)

        tiles = QHBoxLayout()
        tiles.setSpacing(10)
        self.tile_due = _Tile(self.tr("due now under the enabled rules"), "delete-clock-outline", page)
        self.tile_held = _Tile(self.tr("held back by legal holds and open requests"), "shield-lock-outline", page)
        self.tile_rules = _Tile(self.tr("rules enabled"), "format-list-checks", page)
        self.tile_run = _Tile(self.tr("last run"), "history", page)
        for tile in (self.tile_due, self.tile_held, self.tile_rules, self.tile_run):
            tiles.addWidget(tile, 1)
        layout.addLayout(tiles)

        self.rules_model = RulesModel(self)
        self.rules_table = QTableView(page)
        self.rules_table.setObjectName("rulesTable")
        self.rules_table.setModel(self.rules_model)
        setup_table(self.rules_table)
        self.rules_table.setSortingEnabled(False)
        self.rules_table.setIconSize(QSize(18, 18))
        self.rules_table.verticalHeader().setDefaultSectionSize(30)
        header = self.rules_table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # Fits the 1,054 px the table gets in a 1280 px window with no horizontal scroll bar; the last
        # column takes what a wider window adds, and a cut text shows whole in its tooltip.
        for column, width in enumerate((196, 110, 140, 72, 106, 72, 156, 80, 116)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.rules_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rules_table.setFixedHeight(30 * 7 + header.sizeHint().height() + 4)
        self.rules_table.doubleClicked.connect(lambda _i: self.edit_rule())
        self.rules_table.selectionModel().selectionChanged.connect(lambda *_: self._rule_selected())
        layout.addWidget(self.rules_table)

        actions = QHBoxLayout()
        self.edit_button = QPushButton(icons.icon("pencil-outline"), self.tr("Edit rule…"), page)
        self.edit_button.setObjectName("editRule")
        self.edit_button.clicked.connect(lambda: self.edit_rule())
        actions.addWidget(self.edit_button)
        self.preview_note = style.muted_label("", page)
        self.preview_note.setObjectName("previewNote")
        self.preview_note.setWordWrap(True)  # a long note must not widen the area beyond a laptop screen
        actions.addWidget(self.preview_note, 1)
        layout.addLayout(actions)

        self.preview_splitter = QSplitter(Qt.Orientation.Horizontal, page)
        self.preview_splitter.setObjectName("previewSplitter")
        self.preview_splitter.setChildrenCollapsible(False)

        items_panel = QFrame(self.preview_splitter)
        items_panel.setObjectName("detailPane")
        items_layout = QVBoxLayout(items_panel)
        items_layout.setContentsMargins(12, 10, 12, 10)
        items_head = QHBoxLayout()
        self.items_title = QLabel(items_panel)
        self.items_title.setFont(style.scaled_font(self.items_title.font(), 1.08, QFont.Weight.DemiBold))
        items_head.addWidget(self.items_title, 1)
        self.items_mode = QComboBox(items_panel)
        self.items_mode.setObjectName("itemsMode")
        self.items_mode.addItem(icons.icon("delete-clock-outline"), self.tr("Due now"), False)
        self.items_mode.addItem(icons.icon("shield-lock-outline", style.state_color(colors.HOLD).name()),
                                self.tr("Held back"), True)
        self.items_mode.currentIndexChanged.connect(lambda _i: self._mode_changed())
        items_head.addWidget(self.items_mode)
        items_layout.addLayout(items_head)
        self.items_stack = QStackedWidget(items_panel)
        self.items_table = QTableView(self.items_stack)
        self.items_table.setObjectName("itemsTable")
        self.due_model: KeysetTableModel[PreviewItem] = KeysetTableModel(self._item_columns(held=False), 200, self)
        self.held_model: KeysetTableModel[PreviewItem] = KeysetTableModel(self._item_columns(held=True), 200, self)
        self.items_table.setModel(self.due_model)
        setup_table(self.items_table)
        self.items_table.setSortingEnabled(False)
        self.items_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft
                                                                | Qt.AlignmentFlag.AlignVCenter)
        self._size_item_columns()
        self.items_stack.addWidget(self.items_table)
        self.items_empty = style.EmptyState("check-circle-outline", self.items_stack)
        self.items_empty.button.clicked.connect(lambda: self.edit_rule())
        self.items_stack.addWidget(self.items_empty)
        items_layout.addWidget(self.items_stack, 1)
        self.items_count = style.muted_label("", items_panel, "rowCount")
        items_layout.addWidget(self.items_count)

        why_panel = QFrame(self.preview_splitter)
        why_panel.setObjectName("detailPane")
        why_layout = QVBoxLayout(why_panel)
        why_layout.setContentsMargins(12, 10, 12, 10)
        self.why_title = QLabel(self.tr("Held back, and why"), why_panel)
        self.why_title.setFont(style.scaled_font(self.why_title.font(), 1.08, QFont.Weight.DemiBold))
        why_layout.addWidget(self.why_title)
        self.why_list = QListWidget(why_panel)
        self.why_list.setObjectName("heldBackList")
        self.why_list.setWordWrap(True)
        self.why_list.setIconSize(QSize(20, 20))
        self.why_list.setSpacing(3)
        self.why_list.setFrameShape(QFrame.Shape.NoFrame)
        self.why_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.why_list.setStyleSheet("QListWidget { background: transparent; }")
        self.why_list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self._why_width = 0
        self.why_list.viewport().installEventFilter(self)
        why_layout.addWidget(self.why_list, 1)
        self.preview_splitter.addWidget(items_panel)
        self.preview_splitter.addWidget(why_panel)
        self.preview_splitter.setStretchFactor(0, 3)
        self.preview_splitter.setStretchFactor(1, 2)
        self.preview_splitter.setSizes([820, 480])
        layout.addWidget(self.preview_splitter, 1)
        return page

    def _build_runs_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 10, 0, 0)
        self.runs_splitter = QSplitter(Qt.Orientation.Horizontal, page)
        self.runs_splitter.setObjectName("runsSplitter")
        self.runs_splitter.setChildrenCollapsible(False)
        self.runs_stack = QStackedWidget(self.runs_splitter)
        self.runs_table = QTableView(self.runs_stack)
        self.runs_table.setObjectName("runsTable")
        self.runs_model: KeysetTableModel[RunReport] = KeysetTableModel(self._run_columns(), 50, self)
        self.runs_table.setModel(self.runs_model)
        setup_table(self.runs_table)
        self.runs_table.setSortingEnabled(False)
        self.runs_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft
                                                               | Qt.AlignmentFlag.AlignVCenter)
        for i, column in enumerate(self.runs_model.columns):
            if column.width:
                self.runs_table.horizontalHeader().resizeSection(i, column.width)
        self.runs_table.selectionModel().selectionChanged.connect(lambda *_: self._run_selected())
        self.runs_stack.addWidget(self.runs_table)
        self.runs_empty = style.EmptyState("history", self.runs_stack)
        self.runs_empty.set_text(self.tr("No retention run yet"),
                                 self.tr("A run applies the enabled rules and keeps a report here. Run it now, or on a "
                                         "schedule with “rcrm-desktop retention apply”."), self.tr("Apply now…"))
        self.runs_empty.button.clicked.connect(self.start_apply)
        self.runs_stack.addWidget(self.runs_empty)
        self.report_view = QTextBrowser(self.runs_splitter)
        self.report_view.setObjectName("runReport")
        self.report_view.setOpenLinks(False)
        self.runs_splitter.addWidget(self.runs_stack)
        self.runs_splitter.addWidget(self.report_view)
        self.runs_splitter.setSizes([760, 590])
        layout.addWidget(self.runs_splitter, 1)
        return page

    def _build_holds_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 10, 0, 0)
        bar = QHBoxLayout()
        self.holds_filter = QComboBox(page)
        self.holds_filter.setObjectName("holdsFilter")
        self.holds_filter.addItem(icons.icon("shield-lock-outline", style.state_color(colors.HOLD).name()),
                                  self.tr("Active holds"), "active")
        self.holds_filter.addItem(icons.icon("shield-off-outline"), self.tr("Released holds"), "released")
        self.holds_filter.addItem(icons.icon("shield-outline"), self.tr("All holds"), "all")
        self.holds_filter.currentIndexChanged.connect(lambda _i: self.reload_holds())
        bar.addWidget(self.holds_filter)
        bar.addStretch(1)
        self.holds_count = style.muted_label("", page, "rowCount")
        bar.addWidget(self.holds_count)
        self.release_button = QPushButton(icons.icon("shield-off-outline"), self.tr("Release…"), page)
        self.release_button.setObjectName("releaseHold")
        self.release_button.clicked.connect(lambda: self.release_hold())
        bar.addWidget(self.release_button)
        self.place_button = QPushButton(icons.icon("shield-plus-outline"), self.tr("Place hold…"), page)
        self.place_button.setObjectName("placeHold")
        self.place_button.clicked.connect(lambda: self.place_hold())
        bar.addWidget(self.place_button)
        layout.addLayout(bar)
        self.holds_stack = QStackedWidget(page)
        self.holds_table = QTableView(self.holds_stack)
        self.holds_table.setObjectName("holdsTable")
        self.holds_model: KeysetTableModel[HoldRow] = KeysetTableModel(self._hold_columns(), 200, self)
        self.holds_table.setModel(self.holds_model)
        setup_table(self.holds_table)
        self.holds_table.setSortingEnabled(False)
        self.holds_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft
                                                                | Qt.AlignmentFlag.AlignVCenter)
        for i, column in enumerate(self.holds_model.columns):
            if column.width:
                self.holds_table.horizontalHeader().resizeSection(i, column.width)
        self.holds_table.selectionModel().selectionChanged.connect(lambda *_: self._update_hold_buttons())
        self.holds_table.doubleClicked.connect(lambda _i: self.release_hold())
        self.holds_stack.addWidget(self.holds_table)
        self.holds_empty = style.EmptyState("shield-outline", self.holds_stack)
        self.holds_empty.button.clicked.connect(lambda: self.place_hold())
        self.holds_stack.addWidget(self.holds_empty)
        layout.addWidget(self.holds_stack, 1)
        return page

    # ------------------------------------------------------------ columns

    def _item_columns(self, *, held: bool) -> list[Column[PreviewItem]]:
        def state_text(item: PreviewItem) -> str:
            if not item.held_by:
                return ""
            return self.tr("On legal hold") if item.on_hold else self.tr("Frozen: open request")

        def state_color(item: PreviewItem) -> QColor:
            return style.state_color(colors.HOLD if item.on_hold else FROZEN)

        def state_icon(item: PreviewItem) -> Any:
            return icons.icon("shield-lock-outline" if item.on_hold else "timer-sand",
                              state_color(item).name())

        columns: list[Column[PreviewItem]] = [
            Column("id", "#", lambda i: str(i.id), width=56,
                   align=Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            Column("at", self.tr("Counted from"), lambda i: fmt.local_with_relative(i.at),
                   tooltip=lambda i: fmt.utc_tooltip(i.at), width=218),
            Column("title", self.tr("Item"), lambda i: i.title, tooltip=lambda i: i.title, width=236),
        ]
        if held:
            columns += [
                Column("state", self.tr("Held"), state_text, foreground=state_color, decoration=state_icon,
                       background=lambda i: colors.tint(colors.HOLD if i.on_hold else FROZEN), width=165),
                Column("why", self.tr("Why"), lambda i: "; ".join(i.held_by), tooltip=lambda i: "\n".join(i.held_by),
                       width=140),
            ]
        else:
            columns.append(Column("detail", self.tr("Details"), lambda i: i.detail, tooltip=lambda i: i.detail,
                                  width=260))
        return columns

    def _size_item_columns(self) -> None:
        model = self.items_table.model()
        if isinstance(model, KeysetTableModel):
            header = self.items_table.horizontalHeader()
            for i, column in enumerate(model.columns):
                if column.width:
                    header.resizeSection(i, column.width)

    def _run_columns(self) -> list[Column[RunReport]]:
        def color(run: RunReport) -> QColor:
            return style.state_color(RUN_COLORS[_run_state(run)])

        return [
            Column("id", self.tr("Run"), lambda r: f"#{r.id}", width=56),
            Column("state", self.tr("State"), _run_state_text, foreground=color,
                   background=lambda r: colors.tint(RUN_COLORS[_run_state(r)]),
                   decoration=lambda r: icons.icon({"completed": "check-circle", "cancelled": "stop-circle-outline",
                                                    "running": "progress-clock"}.get(_run_state(r),
                                                                                     "alert-circle-outline"),
                                                   color(r).name()), width=124),
            Column("started", self.tr("Started"), lambda r: fmt.local_with_relative(r.started_at),
                   tooltip=lambda r: fmt.utc_tooltip(r.started_at), width=206),
            Column("took", self.tr("Took"), lambda r: _duration(r.seconds), width=64),
            Column("by", self.tr("By"), lambda r: r.operator + ("" if r.origin == "manual" else self.tr(" · CLI")),
                   tooltip=lambda r: self.tr("Started from the application") if r.origin == "manual" else
                   self.tr("Started from the command line (or a schedule)"), width=110),
            Column("removed", self.tr("Removed"), lambda r: fmt.count(r.deleted + r.anonymised), width=76,
                   align=Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            Column("held", self.tr("Held back"), lambda r: fmt.count(r.held), width=80,
                   align=Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
        ]

    def _hold_columns(self) -> list[Column[HoldRow]]:
        def color(h: HoldRow) -> QColor:
            return style.state_color(colors.HOLD if h.active else colors.MUTED)

        kinds = {"subject": "account-lock-outline", "recording": "microphone-outline", "crash_group": "bug-outline"}
        return [
            Column("id", self.tr("Hold"), lambda h: f"#{h.id}", width=56),
            Column("state", self.tr("State"), lambda h: self.tr("On legal hold") if h.active else self.tr("Released"),
                   foreground=color, background=lambda h: colors.tint(colors.HOLD) if h.active else None,
                   decoration=lambda h: icons.icon("shield-lock" if h.active else "shield-off-outline",
                                                   color(h).name()), width=130),
            Column("on", self.tr("On"), lambda h: h.target_label, tooltip=lambda h: h.target_label,
                   decoration=lambda h: icons.icon(kinds.get(h.target, "shield-outline")), width=250),
            Column("reason", self.tr("Reason"), lambda h: h.reason, tooltip=lambda h: h.reason, width=220),
            Column("owner", self.tr("Owner"), lambda h: h.owner, width=100),
            # the time alone (how long ago is in the tooltip): the seven columns fit a 1280-px window
            Column("placed", self.tr("Placed"), lambda h: fmt.local_time(h.created_at),
                   tooltip=lambda h: fmt.age_tooltip(h.created_at), width=130),
            Column("released", self.tr("Released"),
                   lambda h: (fmt.local_time(h.released_at) + " — " + (h.release_reason or "")) if h.released_at
                   else "—", tooltip=lambda h: h.release_reason or "", width=150),
        ]

    # ------------------------------------------------------------ area API

    def activate(self) -> None:
        if not self._loaded:
            self._loaded = True
            self.refresh()

    def refresh(self) -> None:
        self._loaded = True
        self.reload_preview()
        self.reload_runs()
        if self.can_hold:
            self.reload_holds()

    def file_actions(self) -> list[QAction]:
        return [self.apply_action, self.hold_action]

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("retention/tab", self.tabs.currentIndex())
        settings.setValue("retention/preview_splitter", self.preview_splitter.saveState())
        settings.setValue("retention/runs_splitter", self.runs_splitter.saveState())

    def restore_state(self, settings: QSettings) -> None:
        for key, splitter in (("retention/preview_splitter", self.preview_splitter),
                              ("retention/runs_splitter", self.runs_splitter)):
            value = settings.value(key)
            if isinstance(value, QByteArray | bytes):
                splitter.restoreState(QByteArray(value))
        try:
            self.tabs.setCurrentIndex(int(str(settings.value("retention/tab", 0))))
        except ValueError:
            pass

    # ------------------------------------------------------------ preview

    def reload_preview(self) -> None:
        """Recompute every rule's preview in the background (reads only)."""
        self._preview_generation += 1
        generation = self._preview_generation
        actor = self.session.actor
        self.preview_note.setText(self.tr("Computing the preview…"))
        self.refresh_button.setEnabled(False)

        def work(_task: Task) -> RetentionPreview:
            return retention.preview_retention(actor)

        run_task(work, on_done=lambda p: self._preview_ready(generation, p),
                 on_error=lambda exc: self._preview_failed(generation, exc))

    def _preview_ready(self, generation: int, preview: object) -> None:
        if generation != self._preview_generation or not isinstance(preview, RetentionPreview):
            return
        self.refresh_button.setEnabled(True)
        self.preview = preview
        self.preview_error = None
        keep = self.selected_rule()
        self.rules_model.set_rows(preview.rules)
        active = [r for r in preview.rules if r.rule.active]
        self.tile_due.set(fmt.count(preview.total_due), self.tr("Items the enabled rules would remove now"),
                          colors.OVERDUE if preview.total_due else None)
        self.tile_held.set(fmt.count(preview.total_held), self.tr("Expired items kept by legal holds and open "
                                                                  "rights requests"),
                           colors.HOLD if preview.total_held else None)
        applicable = sum(1 for r in preview.rules if r.rule.applicable)
        self.tile_rules.set(self.tr("%1 of %2").replace("%1", str(len(active))).replace("%2", str(applicable)),
                            self.tr("Disabled rules keep everything"))
        self.preview_note.setText(self.tr("Preview as of %1 — nothing changes until you apply. The same numbers as "
                                          "“rcrm-desktop retention preview”.").replace(
            "%1", fmt.local_time(preview.as_of, seconds=True)))
        self.apply_button.setEnabled(bool(active) or preview.interrupted_run is not None)
        self.apply_action.setEnabled(self.apply_button.isEnabled())
        self._update_banner()
        row = self.rules_model.find(keep.category if keep is not None else
                                    next((r.category for r in preview.rules if r.due), "recordings"))
        self.rules_table.selectRow(max(0, row))
        self._rule_selected()

    def _preview_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._preview_generation:
            return
        self.refresh_button.setEnabled(True)
        self.preview_error = exc.message if isinstance(exc, RcrmError) else self.tr(
            "The preview could not be computed because of an unexpected error; details are in the log file.")
        if not isinstance(exc, RcrmError):
            error_dialogs.log_failure(type(exc), exc.__traceback__)
        self.preview_note.setText(self.preview_error)

    def _update_banner(self) -> None:
        run_id = self.preview.interrupted_run if self.preview is not None else None
        self.banner.setVisible(run_id is not None)
        if run_id is not None:
            self.banner_text.setText(self.tr(
                "Retention run #%1 was interrupted (the program or the computer stopped while it ran). Every batch "
                "it finished is complete, rows and files together; resume it to finish the rest. “Apply now” "
                "resumes it first.").replace("%1", str(run_id)))

    def selected_rule(self) -> RulePreview | None:
        index = self.rules_table.currentIndex()
        return self.rules_model.row_at(index.row()) if index.isValid() else None

    def select_rule(self, category: str) -> None:
        row = self.rules_model.find(category)
        if row >= 0:
            self.rules_table.selectRow(row)
            self._rule_selected()

    def _mode_changed(self) -> None:
        self._show_held = bool(self.items_mode.currentData())
        self.items_table.setModel(self.held_model if self._show_held else self.due_model)
        self.items_table.selectionModel()
        self._size_item_columns()
        self._rule_selected()

    def show_held(self, held: bool) -> None:
        self.items_mode.setCurrentIndex(1 if held else 0)

    def _rule_selected(self) -> None:
        p = self.selected_rule()
        self.edit_button.setEnabled(p is not None and p.rule.applicable)
        self.edit_button.setToolTip("" if p is None or p.rule.applicable else p.rule.info.note)
        self._fill_why(p)
        model = self.held_model if self._show_held else self.due_model
        other = self.due_model if self._show_held else self.held_model
        other.set_fetch(None)
        if p is None:
            model.set_fetch(None)
            return
        held = self._show_held
        self.items_title.setText((self.tr("Held back — %1") if held else self.tr("Due now — %1"))
                                 .replace("%1", p.rule.label))
        if not p.rule.active:
            model.set_fetch(None)
            if p.rule.status == "fixed" or p.rule.status == "not_applicable":
                self._items_empty(self.tr("%1: no rule").replace("%1", p.rule.label), p.rule.info.note, "",
                                  "information-outline")
            else:
                self._items_empty(self.tr("This rule keeps everything"),
                                  self.tr("It is switched off or has no maximum age, so nothing is removed. Set a "
                                          "maximum age and enable it to see what would go."),
                                  self.tr("Edit rule…"), "calendar-remove-outline")
            self.items_count.setText("")
            return
        actor = self.session.actor
        category = p.category
        as_of = p.as_of

        def fetch(after: PreviewItem | None, limit: int) -> Sequence[PreviewItem]:
            return retention.preview_items(actor, category, held=held, after_id=after.id if after else 0,
                                           limit=limit, now=as_of)

        model.set_fetch(fetch)
        total = p.held if held else p.due
        if model.rowCount() == 0:
            if held:
                self._items_empty(self.tr("Nothing is held back"),
                                  self.tr("No legal hold or open rights request keeps an expired item of this "
                                          "category."), "", "shield-check-outline")
            else:
                self._items_empty(self.tr("Nothing is due under this rule"),
                                  self.tr("Every item is younger than %1.").replace("%1", _age(p.rule.max_age_days)),
                                  "", "check-circle-outline")
        else:
            self.items_stack.setCurrentWidget(self.items_table)
        self.items_count.setText(self.tr("%1 of %2 listed (more load as you scroll)").replace(
            "%1", fmt.count(model.rowCount())).replace("%2", fmt.count(total))
            if model.rowCount() < total else self.tr("%1 items").replace("%1", fmt.count(total)))

    def _items_empty(self, title: str, text: str, action: str, icon_name: str) -> None:
        self.items_empty.icon.setPixmap(icons.icon(icon_name, colors.MUTED.name()).pixmap(48, 48))
        self.items_empty.set_text(title, text, action)
        self.items_stack.setCurrentWidget(self.items_empty)

    def _fill_why(self, p: RulePreview | None) -> None:
        self.why_list.clear()
        if p is None or not p.rule.active:
            self.why_title.setText(self.tr("Held back, and why"))
            if p is not None:
                item = QListWidgetItem(icons.icon("information-outline", colors.MUTED.name()),
                                       self.tr("This rule keeps everything, so nothing needs holding back. Legal "
                                               "holds and open rights requests are listed here once it removes "
                                               "something."))
                item.setForeground(colors.MUTED)
                self.why_list.addItem(item)
            return
        self.why_title.setText(self.tr("Held back, and why — %1").replace("%1", style.count_text(
            p.held, self.tr("%1 item"), self.tr("%1 items"))))
        if not p.held_back:
            item = QListWidgetItem(icons.icon("shield-check-outline", colors.MUTED.name()),
                                   self.tr("Nothing is held back: no legal hold or open rights request covers an "
                                           "expired item of this category."))
            item.setForeground(colors.MUTED)
            self.why_list.addItem(item)
            return
        for reason in p.held_back:
            self._add_why(reason)

    def why_texts(self) -> list[str]:
        """The held-back reasons as shown (plain text, for tests and accessibility)."""
        return [str(self.why_list.item(i).data(Qt.ItemDataRole.AccessibleTextRole) or self.why_list.item(i).text())
                for i in range(self.why_list.count())]

    def _add_why(self, reason: HeldBack) -> None:
        """One reason as a card: coloured icon, "On legal hold #3 — 12 items" in bold, then the detail."""
        hold = reason.kind == "hold"
        color = style.state_color(colors.HOLD if hold else FROZEN)
        head = (self.tr("On legal hold #%1") if hold else self.tr("Frozen by open request #%1")).replace(
            "%1", str(reason.ref_id))
        items = style.count_text(reason.count, self.tr("%1 item"), self.tr("%1 items"))
        card = QFrame(self.why_list)
        card.setObjectName("whyCard")
        card.setStyleSheet(f"QFrame#whyCard {{ border-left: 3px solid {color.name()}; "
                           f"background: rgba({color.red()}, {color.green()}, {color.blue()}, "
                           f"{40 if colors.is_dark() else 18}); border-radius: 3px; }}")
        row = QHBoxLayout(card)
        row.setContentsMargins(8, 6, 8, 6)
        row.addWidget(style.icon_label("shield-lock-outline" if hold else "timer-sand", 20, color, card), 0,
                      Qt.AlignmentFlag.AlignTop)
        label = QLabel(card)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setText(f"<span style='color:{color.name()}; font-weight:600'>{html.escape(head)}</span>"
                      f" <span style='color:{color.name()}'>— {html.escape(items)}</span><br>"
                      f"{html.escape(reason.detail)}")
        row.addWidget(label, 1)
        item = QListWidgetItem()
        item.setData(Qt.ItemDataRole.UserRole, reason)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{head} — {items}: {reason.detail}")
        item.setToolTip(reason.detail)
        width = max(240, self.why_list.viewport().width() - 8)
        card.setFixedWidth(width)
        card.adjustSize()
        item.setSizeHint(QSize(width, card.heightForWidth(width) if card.hasHeightForWidth() else
                               card.sizeHint().height()))
        self.why_list.addItem(item)
        self.why_list.setItemWidget(item, card)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.why_list.viewport() and event.type() == QEvent.Type.Resize:
            width = self.why_list.viewport().width()
            if abs(width - self._why_width) > 4:  # the reason cards wrap to the new width
                self._why_width = width
                self._fill_why(self.selected_rule())
        return super().eventFilter(watched, event)

    # ------------------------------------------------------------ editing rules

    def edit_rule(self, category: str | None = None) -> RetentionRuleDialog | None:
        """Open the rule editor for ``category`` (default: the selected rule); saved rules are audited by core."""
        if category is not None:
            self.select_rule(category)
        p = self.selected_rule()
        if p is None or not p.rule.applicable:
            return None
        rule = p.rule
        actor = self.session.actor

        def submit(days: int, action: str, enabled: bool) -> None:
            retention.set_rule(actor, rule.category, max_age_days=days, action=action, enabled=enabled,
                               expected=rule)

        dialog = RetentionRuleDialog(actor, rule, submit, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._rule_saved(rule.label))
        dialog.finished.connect(lambda _r: setattr(self, "rule_dialog", None))
        self.rule_dialog = dialog
        dialog.open()
        return dialog

    def _rule_saved(self, label: str) -> None:
        self.status_message.emit(self.tr("The %1 rule was saved (and recorded in the audit log).").replace(
            "%1", label.lower()))
        self.reload_preview()

    # ------------------------------------------------------------ applying

    def start_apply(self) -> None:
        """Recompute the preview, show its counts, and on confirmation apply the rules as of that preview."""
        if self.apply_task is not None:
            return
        actor = self.session.actor
        self._preview_generation += 1
        generation = self._preview_generation
        self.apply_button.setEnabled(False)
        self.preview_note.setText(self.tr("Computing what the rules would remove now…"))

        def work(_task: Task) -> RetentionPreview:
            return retention.preview_retention(actor)

        def failed(exc: BaseException) -> None:
            self._preview_failed(generation, exc)
            self.apply_button.setEnabled(True)
            error_dialogs.show_error(self, exc, self.tr("Apply retention"))

        run_task(work, on_done=lambda p: self._confirm_apply(generation, p), on_error=failed)

    def _confirm_apply(self, generation: int, preview: object) -> None:
        """Show the fresh preview's counts; on "Yes" apply the rules as of that very preview."""
        if not isinstance(preview, RetentionPreview):
            return
        self._preview_ready(generation, preview)
        actor = self.session.actor
        active = [r for r in preview.rules if r.rule.active]
        if not active and preview.interrupted_run is None:
            error_dialogs.message_box(self, QMessageBox.Icon.Information, self.tr("Apply retention"),
                                      self.tr("No retention rule is enabled, so a run would remove nothing."),
                                      self.tr("Edit a rule, set its maximum age and enable it first."))
            return
        lines = []
        for r in active:
            info = r.rule.info
            verb = (self.tr("erased") if r.category == "inactive_accounts" else
                    self.tr("anonymised") if r.action == "anonymise" else self.tr("deleted"))
            line = f"• {r.rule.label}: {fmt.count(r.due)} {verb}"
            if r.category == "recordings" and r.due:
                line += " " + self.tr("with their audio files")
            if r.held:
                line += " " + self.tr("(%1 held back)").replace("%1", fmt.count(r.held))
            lines.append(line + f" — {info.basis} " + self.tr("before %1").replace("%1", fmt.local_time(r.cutoff)))
        if preview.interrupted_run is not None:
            lines.insert(0, self.tr("Interrupted run #%1 is finished first.").replace(
                "%1", str(preview.interrupted_run)))
        text = (self.tr("Remove %1 item(s) now?").replace("%1", fmt.count(preview.total_due)) if preview.total_due
                else self.tr("Nothing is due now. Run the rules anyway (the run is recorded)?"))
        informative = "\n".join(lines) + "\n\n" + self.tr(
            "This cannot be undone. Items under a legal hold or of a subject with an open rights request stay.")
        if not error_dialogs.confirm(self, self.tr("Apply retention"), text, informative, destructive=True):
            return
        self._run(lambda task: retention.apply_retention(actor, now=preview.as_of, progress=task.report),
                  self.tr("Applying the retention rules"))

    def start_resume(self) -> None:
        if self.apply_task is not None:
            return
        actor = self.session.actor
        self._run(lambda task: retention.resume_retention(actor, progress=task.report),
                  self.tr("Resuming the interrupted retention run"))

    def _run(self, work: Any, title: str) -> Task:
        progress = open_progress(self, title, self.tr("Starting…"), minimum_duration_ms=200)
        progress.setObjectName("retentionProgress")
        self.apply_progress = progress
        self.apply_button.setEnabled(False)
        self.apply_action.setEnabled(False)

        def on_progress(done: int, total: int, text: str) -> None:
            label = None
            if text and not (self.apply_task is not None and self.apply_task.cancelled):
                label = text if text != "Done" else self.tr("Finishing…")
            update_progress(self.apply_progress, done, total, label)

        task = run_task(work, on_done=self._run_finished, on_error=self._run_failed, progress=on_progress)
        if self.apply_progress is progress:
            self.apply_task = task
            progress.canceled.connect(task.cancel)
            progress.canceled.connect(lambda: progress.setLabelText(
                self.tr("Stopping after the current batch… (every finished batch stays complete)")))
        return task

    def _close_progress(self) -> None:
        close_progress(self.apply_progress)
        self.apply_progress = None
        self.apply_task = None
        self.apply_button.setEnabled(True)
        self.apply_action.setEnabled(True)

    def _run_finished(self, report: object) -> None:
        self._close_progress()
        if not isinstance(report, RunReport):
            self.refresh()
            return
        self.last_report = report
        icon = QMessageBox.Icon.Information if report.state == "completed" else QMessageBox.Icon.Warning
        if report.state == "completed":
            title = self.tr("Retention run #%1 completed").replace("%1", str(report.id))
        else:
            title = self.tr("Retention run #%1 stopped").replace("%1", str(report.id))
        summary = self.tr("%1 item(s) removed, %2 audio file(s) deleted, %3 held back.").replace(
            "%1", fmt.count(report.deleted + report.anonymised)).replace(
            "%2", fmt.count(report.files_deleted)).replace("%3", fmt.count(report.held))
        if report.state == "cancelled":
            summary = self.tr("Cancelled after a batch; what was removed until then is complete. ") + summary
        informative = report.text()
        if report.previous is not None:
            informative = report.previous.text() + "\n\n" + informative
        self.status_message.emit(title + ": " + summary)
        self.refresh()
        self.tabs.setCurrentIndex(1)
        row = self.runs_model.find_row(lambda r: r.id == report.id)
        if row >= 0:
            self.runs_table.selectRow(row)
        error_dialogs.message_box(self, icon, title, summary, informative)

    def _run_failed(self, exc: BaseException) -> None:
        self._close_progress()
        self.refresh()
        error_dialogs.show_error(self, exc, self.tr("Retention run stopped"))

    # ------------------------------------------------------------ runs

    def reload_runs(self) -> None:
        actor = self.session.actor

        def fetch(after: RunReport | None, limit: int) -> Sequence[RunReport]:
            return retention.list_runs(actor, before_id=after.id if after else None, limit=limit)

        self.runs_model.set_fetch(fetch)
        runs = self.runs_model.rows()
        self.runs_stack.setCurrentWidget(self.runs_table if runs else self.runs_empty)
        self.tabs.setTabText(1, self.tr("Runs (%1)").replace("%1", fmt.count(len(runs)))
                             if runs and self.runs_model.fetch_all_loaded() else self.tr("Runs"))
        if runs:
            last = runs[0]
            self.tile_run.set(f"#{last.id} · {_run_state_text(last)}", fmt.utc_tooltip(last.started_at),
                              RUN_COLORS[_run_state(last)])
            self.tile_run.caption.setText(self.tr("last run, %1").replace("%1", fmt.relative(last.started_at)))
            if self.runs_table.currentIndex().row() < 0:
                self.runs_table.selectRow(0)
            self._run_selected()
        else:
            self.tile_run.set(self.tr("none yet"), "", None)
            hint = html.escape(self.tr("Select a run to read its report."))
            self.report_view.setHtml(f"<p style='color:gray'>{hint}</p>")

    def _run_selected(self) -> None:
        index = self.runs_table.currentIndex()
        run = self.runs_model.row_at(index.row()) if index.isValid() else None
        if run is None:
            return
        self.report_view.setHtml(self.report_html(run))

    def report_html(self, run: RunReport) -> str:
        """The run's report as the Runs tab shows it (the CLI's ``retention report`` prints the same facts)."""
        e = html.escape
        color = style.state_color(RUN_COLORS[_run_state(run)]).name()
        parts = [f"<h2 style='margin-bottom:2px'>{e(self.tr('Retention run #%1').replace('%1', str(run.id)))} "
                 f"<span style='color:{color}'>· {e(_run_state_text(run))}</span></h2>"]
        meta = [
            (self.tr("Rules as of"), fmt.local_time(run.as_of, seconds=True)),
            (self.tr("Started"), fmt.local_with_relative(run.started_at)),
            (self.tr("Finished"), fmt.local_time(run.finished_at, seconds=True) if run.finished_at else "—"),
            (self.tr("Took"), _duration(run.seconds)),
            (self.tr("By"), run.operator + (self.tr(" (command line / schedule)") if run.origin == "command" else "")),
        ]
        if run.resumed:
            meta.append((self.tr("Resumed"),
                         self.tr("%1 time(s) after an interruption").replace("%1", str(run.resumed))))
        if run.audit_seq is not None:
            meta.append((self.tr("Audit log"), self.tr("event %1").replace("%1", str(run.audit_seq))))
        parts.append("<table cellpadding='2'>" + "".join(
            f"<tr><td style='color:gray; padding-right:14px'>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in meta)
            + "</table>")
        if run.error:
            parts.append(f"<p style='color:{style.state_color(colors.OVERDUE).name()}'>{e(run.error)}</p>")
        if not run.categories:
            parts.append(f"<p>{e(self.tr('No rule was enabled: nothing was removed.'))}</p>")
        else:
            head = [self.tr("Rule"), self.tr("Keep for"), self.tr("Due"), self.tr("Removed"), self.tr("Files"),
                    self.tr("Held back")]
            hold_color = style.state_color(colors.HOLD).name()
            unfinished = f"<br><span style='color:gray'>{e(self.tr('not finished'))}</span>"
            rows = "".join(
                "<tr>" + f"<td>{e(c.label)}{'' if c.done else unfinished}</td><td>{e(_age(c.max_age_days))}</td>"
                + f"<td align='right'>{e(fmt.count(c.due_at_start))}</td>"
                + f"<td align='right'><b>{e(fmt.count(c.removed))}</b>"
                + (f" <span style='color:gray'>({e(self.tr('anonymised'))})</span>" if c.action == "anonymise" else "")
                + f"</td><td align='right'>{e(fmt.count(c.files_deleted)) if c.files_deleted else '—'}</td>"
                + f"<td align='right' style='color:{hold_color if c.held_at_start else 'gray'}'>"
                + f"{e(fmt.count(c.held_at_start))}</td></tr>" for c in run.categories)
            parts.append("<h3>" + e(self.tr("Per rule")) + "</h3><table cellspacing='0' cellpadding='5' width='100%' "
                         "style='border-collapse:collapse'><tr>" + "".join(
                             f"<th align='left' style='border-bottom:1px solid gray'>{e(h)}</th>" for h in head)
                         + "</tr>" + rows + "</table>")
            parts.append("<p style='color:gray'>" + e(self.tr(
                "Held back: expired items a legal hold or an open rights request kept at the start of the run. "
                "Counts only: the report and its audit event hold no personal data.")) + "</p>")
        return "".join(parts)

    # ------------------------------------------------------------ holds

    def reload_holds(self) -> None:
        actor = self.session.actor
        status = str(self.holds_filter.currentData())

        def fetch(after: HoldRow | None, limit: int) -> Sequence[HoldRow]:
            return core_holds.list_holds(actor, status, before_id=after.id if after else None, limit=limit)

        self.holds_model.set_fetch(fetch)
        try:
            active, released = core_holds.count_holds(actor)
        except RcrmError:
            active = released = 0
        self.tabs.setTabText(2, self.tr("Legal holds (%1 active)").replace("%1", fmt.count(active)))
        self.holds_count.setText(self.tr("%1 active, %2 released").replace("%1", fmt.count(active))
                                 .replace("%2", fmt.count(released)))
        if self.holds_model.rowCount():
            self.holds_stack.setCurrentWidget(self.holds_table)
        else:
            title = {"active": self.tr("No active legal holds"), "released": self.tr("No released legal holds"),
                     "all": self.tr("No legal holds yet")}[status]
            self.holds_empty.set_text(title, self.tr(
                "A legal hold keeps a user account, a recording or a crash group from retention and erasure while "
                "a matter is open (GDPR Art. 17(3))."), self.tr("Place a hold…"))
            self.holds_stack.setCurrentWidget(self.holds_empty)
        self._update_hold_buttons()

    def selected_hold(self) -> HoldRow | None:
        index = self.holds_table.currentIndex()
        if not index.isValid() or not self.holds_table.selectionModel().isRowSelected(index.row()):
            return None
        return self.holds_model.row_at(index.row())

    def _update_hold_buttons(self) -> None:
        hold = self.selected_hold()
        self.release_button.setEnabled(self.can_hold and hold is not None and hold.active)
        self.place_button.setEnabled(self.can_hold)

    def place_hold(self, target: str = "subject", value: str = "") -> PlaceHoldDialog | None:
        if not self.can_hold:
            return None
        actor = self.session.actor

        def submit(kind: str, which: str, reason: str) -> None:
            if kind == "subject":
                core_holds.add_hold(actor, reason, user_id=which)
            elif not which.isdigit():
                raise ValidationError(self.tr("Give the number of the recording or crash group."))
            elif kind == "recording":
                core_holds.add_hold(actor, reason, recording_id=int(which))
            else:
                core_holds.add_hold(actor, reason, crash_group_id=int(which))

        dialog = PlaceHoldDialog(submit, self, target=target, value=value)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._holds_changed(self.tr("The legal hold was placed.")))
        dialog.finished.connect(lambda _r: setattr(self, "hold_dialog", None))
        self.hold_dialog = dialog
        dialog.open()
        return dialog

    def release_hold(self) -> ReleaseHoldDialog | None:
        hold = self.selected_hold()
        if hold is None or not hold.active or not self.can_hold:
            return None
        actor = self.session.actor

        def submit(reason: str) -> None:
            core_holds.release_hold(actor, hold.id, reason)

        dialog = ReleaseHoldDialog(hold, submit, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._holds_changed(
            self.tr("Legal hold #%1 was released.").replace("%1", str(hold.id))))
        dialog.finished.connect(lambda _r: setattr(self, "hold_dialog", None))
        self.hold_dialog = dialog
        dialog.open()
        return dialog

    def _holds_changed(self, message: str) -> None:
        self.status_message.emit(message)
        self.reload_holds()
        self.reload_preview()


class _Tile(QFrame):
    """A number with its caption and an icon ("1,234 — due now under the enabled rules")."""

    def __init__(self, caption: str, icon_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.setSpacing(10)
        self.icon_name = icon_name
        self.badge = QLabel(self)
        self.badge.setFixedSize(30, 30)
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row.addWidget(self.badge)
        col = QVBoxLayout()
        col.setSpacing(0)
        self.value = QLabel("—", self)
        self.value.setObjectName("tileValue")
        self.value.setFont(style.scaled_font(self.value.font(), 1.35, QFont.Weight.DemiBold))
        self.value.setTextFormat(Qt.TextFormat.PlainText)
        self.caption = style.muted_label(caption, self, "cardLabel")
        col.addWidget(self.value)
        col.addWidget(self.caption)
        row.addLayout(col, 1)
        self._paint(None)

    def _paint(self, color: QColor | None) -> None:
        shown = style.state_color(color) if color is not None else style.state_color(colors.MUTED)
        self.badge.setPixmap(icons.icon(self.icon_name, shown.name()).pixmap(18, 18))
        self.badge.setStyleSheet(f"background: rgba({shown.red()}, {shown.green()}, {shown.blue()}, "
                                 f"{70 if colors.is_dark() else 30}); border-radius: 15px;")

    def set(self, value: str, tooltip: str = "", color: QColor | None = None) -> None:
        self.value.setText(value)
        self.setToolTip(tooltip)
        self.value.setStyleSheet(f"color: {style.state_color(color).name()};" if color is not None else "")
        self._paint(color)


__all__ = ["RetentionView", "RulesModel"]
