"""Review an access package before delivery, withhold items with a reason, and build it (GDPR Art. 15(3), 15(4)).

The reviewer sees every item the package will hold (recordings, their audio,
notes, crash events, corrections) and may withhold one to protect other
people's rights and freedoms — only with a reason, which is recorded with the
reviewer's name, listed in the package and quoted in the response letter
(``core.access_package.exclude_item``). A change of the review invalidates a
package built earlier. Building runs in the background with progress ("Copying
recording 37 of 500") and a Cancel that really stops it, and ends with the
package's SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import access_package
from rcrm_desktop.core.access_package import PackageItem, PackageResult
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.requests import RequestDetail
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.tasks import Task, run_task

Index = QModelIndex | QPersistentModelIndex

KIND_LABELS = {"recording": "Recording", "audio": "Audio file", "annotation": "Note", "crash_event": "Crash event",
               "change": "Correction"}
KIND_PLURALS = {"recording": "Recordings", "audio": "Audio files", "annotation": "Notes",
                "crash_event": "Crash events", "change": "Corrections"}
KIND_ICONS = {"recording": "phone-outline", "audio": "waveform", "annotation": "note-text-outline",
              "crash_event": "bug-outline", "change": "history"}


class PackageItemsModel(QAbstractTableModel):
    """The items of a package: status (included / withheld), kind, what, detail, size."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.items: list[PackageItem] = []
        self.headers = [self.tr("Status"), self.tr("Kind"), self.tr("What"), self.tr("Detail or reason"),
                        self.tr("Size")]

    def set_items(self, items: Sequence[PackageItem]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def item_at(self, row: int) -> PackageItem | None:
        return self.items[row] if 0 <= row < len(self.items) else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.headers):
            return self.headers[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return self.tr("Withheld") if item.excluded else self.tr("Included")
            if column == 1:
                return self.tr(KIND_LABELS.get(item.kind, item.kind))
            if column == 2:
                return item.label
            if column == 3:
                return (self.tr("Withheld: %1").replace("%1", item.reason or "")) if item.excluded else item.detail
            if column == 4:
                return _size(item.size_bytes) if item.size_bytes else ""
            return None
        if role == Qt.ItemDataRole.ToolTipRole and column in (2, 3):
            return f"{item.item}\n{item.reason or item.detail}"
        if role == Qt.ItemDataRole.ForegroundRole and item.excluded and column in (0, 3):
            return style.state_color(colors.OVERDUE)
        if role == Qt.ItemDataRole.BackgroundRole and item.excluded:
            return colors.tint(colors.OVERDUE)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == 0:
                return icons.icon("eye-off-outline", style.state_color(colors.OVERDUE).name()) if item.excluded \
                    else icons.icon("check", style.state_color(colors.OK).name())
            if column == 1:
                return icons.icon(KIND_ICONS.get(item.kind, "circle-outline"))
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.0f} kB"
    return f"{n} B"


class PackageReviewDialog(QDialog):
    """Review, withhold/include, build. ``changed`` carries the fresh ``RequestDetail``; ``built`` the result."""

    changed = Signal(object)
    built = Signal(object)

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None, *,
                 store: RecordingsStore | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.detail = detail
        self.store = store
        self.task: Task | None = None
        self.last_result: PackageResult | None = None
        self.all_items: list[PackageItem] = []
        self.setObjectName("PackageReviewDialog")
        self.setWindowTitle(self.tr("Review the access package — request #%1").replace("%1", str(detail.id)))
        self.resize(980, 640)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        head = QLabel(self.tr("Access package of %1").replace(
            "%1", f"{detail.row.subject_user_id or '—'} ({detail.row.subject_name or '—'})"), self)
        head.setFont(style.scaled_font(head.font(), 1.25, QFont.Weight.DemiBold))
        layout.addWidget(head)
        explain = style.muted_label(self.tr(
            "Everything below goes to the requester (GDPR Art. 15(3)). Withhold an item only where giving it "
            "would adversely affect the rights and freedoms of others (Art. 15(4)) — for example another "
            "caller's voice — and say why: the reason is recorded, listed in the package and in the letter."), self)
        explain.setWordWrap(True)
        layout.addWidget(explain)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("packageSummary")
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)

        bar = QHBoxLayout()
        self.kind_combo = QComboBox(self)
        self.kind_combo.addItem(self.tr("All items"), None)
        for kind, label in KIND_PLURALS.items():
            self.kind_combo.addItem(icons.icon(KIND_ICONS[kind]), self.tr(label), kind)
        self.kind_combo.addItem(icons.icon("eye-off-outline"), self.tr("Withheld only"), "withheld")
        self.kind_combo.currentIndexChanged.connect(self._apply_filter)
        bar.addWidget(self.kind_combo)
        bar.addStretch(1)
        layout.addLayout(bar)

        self.model = PackageItemsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("packageItems")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        for col, width in enumerate((100, 110, 300, 340, 80)):
            header.resizeSection(col, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.table, 1)

        actions = QHBoxLayout()
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setObjectName("withholdReason")
        self.reason_edit.setPlaceholderText(self.tr("Reason for withholding the selected items (required)"))
        self.reason_edit.textChanged.connect(lambda _t: self._update_buttons())
        actions.addWidget(self.reason_edit, 1)
        self.withhold_button = QPushButton(icons.icon("eye-off-outline"), self.tr("Withhold"), self)
        self.withhold_button.clicked.connect(self.withhold_selected)
        actions.addWidget(self.withhold_button)
        self.include_button = QPushButton(icons.icon("eye-outline"), self.tr("Include again"), self)
        self.include_button.clicked.connect(self.include_selected)
        actions.addWidget(self.include_button)
        layout.addLayout(actions)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        layout.addWidget(self.message_label)

        build_row = QHBoxLayout()
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setObjectName("packageProgress")
        self.progress_bar.hide()
        build_row.addWidget(self.progress_bar, 1)
        self.progress_label = style.muted_label("", self)
        build_row.addWidget(self.progress_label, 2)
        self.cancel_build_button = QPushButton(icons.icon("cancel"), self.tr("Cancel"), self)
        self.cancel_build_button.hide()
        self.cancel_build_button.clicked.connect(self.cancel_build)
        build_row.addWidget(self.cancel_build_button)
        self.build_button = QPushButton(icons.icon("zip-box-outline"), self.tr("Build package…"), self)
        self.build_button.setObjectName("buildPackageButton")
        self.build_button.clicked.connect(self.choose_build_file)
        build_row.addWidget(self.build_button)
        close = QPushButton(self.tr("Close"), self)
        close.clicked.connect(self.reject)
        build_row.addWidget(close)
        layout.addLayout(build_row)
        self.reload()

    # ------------------------------------------------------------ items

    def reload(self) -> None:
        try:
            self.all_items = access_package.package_items(self.actor, self.detail.id)
        except RcrmError as exc:
            self.all_items = []
            self._show_message(exc.message, colors.OVERDUE)
        self._apply_filter()
        recordings = [i for i in self.all_items if i.kind == "recording"]
        audio = [i for i in self.all_items if i.kind == "audio"]
        withheld = [i for i in self.all_items if i.excluded]
        size = sum(i.size_bytes for i in audio if not i.excluded)
        counts = {k: sum(1 for i in self.all_items if i.kind == k) for k in KIND_LABELS}
        self.summary_label.setText(
            self.tr("%1 recordings (%2 audio files, %3), %4 notes, %5 crash events, %6 corrections — %7 withheld.")
            .replace("%1", fmt.count(len(recordings)))
            .replace("%2", fmt.count(sum(1 for i in audio if not i.excluded)))
            .replace("%3", _size(size)).replace("%4", fmt.count(counts["annotation"]))
            .replace("%5", fmt.count(counts["crash_event"])).replace("%6", fmt.count(counts["change"]))
            .replace("%7", fmt.count(len(withheld))))
        self._update_buttons()

    def _apply_filter(self) -> None:
        kind = self.kind_combo.currentData()
        if kind is None:
            items = self.all_items
        elif kind == "withheld":
            items = [i for i in self.all_items if i.excluded]
        else:
            items = [i for i in self.all_items if i.kind == kind]
        self.model.set_items(items)

    def selected_items(self) -> list[PackageItem]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [item for row in rows if (item := self.model.item_at(row)) is not None]

    def select_item(self, key: str) -> bool:
        for row, item in enumerate(self.model.items):
            if item.item == key:
                self.table.selectRow(row)
                return True
        return False

    def _update_buttons(self) -> None:
        chosen = self.selected_items()
        busy = self.task is not None
        self.withhold_button.setEnabled(not busy and bool(self.reason_edit.text().strip())
                                        and any(not i.excluded for i in chosen))
        self.include_button.setEnabled(not busy and any(i.excluded for i in chosen))
        self.build_button.setEnabled(not busy)

    def _show_message(self, text: str, color: Any) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {style.state_color(color).name()};")
        self.message_label.setVisible(bool(text))

    def withhold_selected(self) -> None:
        reason = self.reason_edit.text()
        fresh = None
        for item in self.selected_items():
            if item.excluded:
                continue
            try:
                fresh = access_package.exclude_item(self.actor, self.detail.id, item.item, reason)
            except RcrmError as exc:
                self._show_message(exc.message, colors.OVERDUE)
                break
        if fresh is not None:
            self.detail = fresh
            self.reason_edit.clear()
            self._show_message("", colors.OK)
            self.changed.emit(fresh)
        self.reload()

    def include_selected(self) -> None:
        fresh = None
        for item in self.selected_items():
            if not item.excluded:
                continue
            try:
                fresh = access_package.include_item(self.actor, self.detail.id, item.item)
            except RcrmError as exc:
                self._show_message(exc.message, colors.OVERDUE)
                break
        if fresh is not None:
            self.detail = fresh
            self.changed.emit(fresh)
        self.reload()

    # ------------------------------------------------------------ building

    def choose_build_file(self) -> None:
        user = self.detail.row.subject_user_id or "subject"
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save the access package"),
                                              f"access-package-{user}-request-{self.detail.id}.zip",
                                              self.tr("ZIP archives (*.zip)"))
        if path:
            self.build(Path(path))

    def build(self, path: Path) -> Task:
        actor, request_id, store = self.actor, self.detail.id, self.store
        self.progress_bar.setRange(0, 0)
        self.progress_bar.show()
        self.cancel_build_button.show()
        self.progress_label.setText(self.tr("Reading the subject's data…"))
        self._show_message("", colors.OK)

        def work(task: Task) -> PackageResult:
            self.task = task  # (synchronous runners call this before run_task returns)
            return access_package.build_access_package(actor, request_id, path, store=store,
                                                       progress=lambda d, t, s: task.report(d, t, s))

        def progress(done: int, total: int, text: str) -> None:
            self.progress_bar.setRange(0, max(1, total))
            self.progress_bar.setValue(done)
            self.progress_label.setText(text)

        task = run_task(work, on_done=self._built, on_error=self._build_failed, progress=progress)
        if not self.progress_bar.isHidden():
            self.task = task  # still running
        self._update_buttons()
        return task

    def cancel_build(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress_label.setText(self.tr("Stopping…"))

    def _finish_build(self) -> None:
        self.task = None
        self.progress_bar.hide()
        self.cancel_build_button.hide()
        self._update_buttons()

    def _built(self, result: PackageResult) -> None:
        self._finish_build()
        self.last_result = result
        self.progress_label.setText(
            self.tr("Written to %1 — %2, %3 audio files, %4 withheld. SHA-256 %5")
            .replace("%1", str(result.path)).replace("%2", _size(result.size_bytes))
            .replace("%3", fmt.count(result.audio_files)).replace("%4", fmt.count(result.withheld))
            .replace("%5", result.sha256))
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.built.emit(result)

    def _build_failed(self, exc: BaseException) -> None:
        self._finish_build()
        if isinstance(exc, access_package.PackageCancelled):
            self.progress_label.setText(exc.message)
            return
        self.progress_label.setText("")
        if isinstance(exc, RcrmError):
            self._show_message(exc.message, colors.OVERDUE)
        else:
            error_dialogs.show_unexpected(type(exc), exc, exc.__traceback__, self)

    def reject(self) -> None:
        if self.task is not None:
            self.cancel_build()
            return
        super().reject()
