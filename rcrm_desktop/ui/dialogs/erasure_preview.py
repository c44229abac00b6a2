"""The erasure preview and confirmation (GDPR Art. 17; ARCHITECTURE.md: destructive actions show their
consequences first and, for erasure, ask the operator to type the user ID).

The dialog shows, before anything happens, what ``core.erasure.preview_erasure``
says: everything that will be deleted, with counts and a list that loads
lazily as a category is opened (``preview_items``); what is kept and why (legal
holds, the request records under a pseudonymous reference, the audit log);
what blocks the erasure now and what to do about it. The Erase button is
enabled only when the operator has typed the account's user ID exactly. The
erasure runs in the background with progress ("Moving recording 37 of 500 to
the pending-delete area"), can be cancelled until the one transaction starts
(then nothing has changed), and ends with a summary and the response letter,
which can be saved as PDF or HTML right away: after the erasure the request
no longer stores the requester's name and contact.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import erasure
from rcrm_desktop.core.erasure import ErasurePreview, ErasureResult
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.letter_pdf import write_letter_html, write_letter_pdf
from rcrm_desktop.ui.tasks import Task, run_task

#: Items loaded per "page" when a category is opened.
ITEMS_PAGE = 200

_LOAD_MORE = -1


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.0f} kB"
    return f"{n} bytes"


class ErasurePreviewDialog(QDialog):
    """Preview → type the user ID → erase in the background → summary and letter."""

    #: The erasure committed; carries the ``ErasureResult``.
    erased = Signal(object)

    def __init__(self, actor: Actor, request_id: int, parent: QWidget | None = None, *,
                 store: RecordingsStore | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.request_id = request_id
        self.store = store
        self.preview: ErasurePreview | None = None
        self.result: ErasureResult | None = None
        self.task: Task | None = None
        self.committing = False
        self.setObjectName("ErasurePreviewDialog")
        self.setWindowTitle(self.tr("Erasure preview — request #%1").replace("%1", str(request_id)))
        self.resize(760, 660)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.pages = QStackedWidget(self)
        outer.addWidget(self.pages)
        self.loading_page = self._message_page("timer-sand", self.tr("Preparing the preview…"))
        self.pages.addWidget(self.loading_page)
        self.preview_page = self._build_preview_page()
        self.pages.addWidget(self.preview_page)
        self.progress_page = self._build_progress_page()
        self.pages.addWidget(self.progress_page)
        self.summary_page = self._build_summary_page()
        self.pages.addWidget(self.summary_page)
        self.load()

    # ------------------------------------------------------------ building

    def _message_page(self, icon_name: str, text: str) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        layout.addWidget(style.icon_label(icon_name, 48, colors.MUTED, page), 0, Qt.AlignmentFlag.AlignHCenter)
        self.loading_label = QLabel(text, page)
        self.loading_label.setWordWrap(True)
        self.loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.loading_label)
        layout.addStretch(2)
        return page

    def _build_preview_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(22, 18, 22, 14)
        layout.setSpacing(10)
        head = QHBoxLayout()
        head.addWidget(style.icon_label("delete-forever-outline", 40, style.state_color(colors.OVERDUE), page),
                       0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        self.title_label = QLabel(page)
        self.title_label.setObjectName("erasureTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setFont(style.scaled_font(self.title_label.font(), 1.35, QFont.Weight.DemiBold))
        titles.addWidget(self.title_label)
        self.subtitle_label = style.muted_label("", page)
        self.subtitle_label.setWordWrap(True)
        titles.addWidget(self.subtitle_label)
        head.addLayout(titles, 1)
        layout.addLayout(head)

        self.blockers_box = QFrame(page)
        self.blockers_box.setObjectName("errorBox")
        blockers_layout = QVBoxLayout(self.blockers_box)
        blockers_layout.setContentsMargins(12, 8, 12, 8)
        title = QLabel(self.tr("The erasure cannot run now"), self.blockers_box)
        title.setFont(style.scaled_font(title.font(), 1.0, QFont.Weight.DemiBold))
        title.setStyleSheet(f"color: {style.state_color(colors.OVERDUE).name()};")
        blockers_layout.addWidget(title)
        self.blockers_label = QLabel(self.blockers_box)
        self.blockers_label.setObjectName("blockers")
        self.blockers_label.setWordWrap(True)
        self.blockers_label.setTextFormat(Qt.TextFormat.RichText)
        blockers_layout.addWidget(self.blockers_label)
        layout.addWidget(self.blockers_box)

        scroll = QScrollArea(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget(scroll)
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 4, 0)
        body_layout.setSpacing(8)
        body_layout.addWidget(style.section_heading(self.tr("Will be deleted"), body))
        self.delete_tree = QTreeWidget(body)
        self.delete_tree.setObjectName("deleteTree")
        self.delete_tree.setColumnCount(2)
        self.delete_tree.setHeaderLabels([self.tr("What"), self.tr("Count")])
        self.delete_tree.setRootIsDecorated(True)
        self.delete_tree.setUniformRowHeights(True)
        self.delete_tree.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.delete_tree.setMaximumHeight(420)
        header = self.delete_tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.delete_tree.itemExpanded.connect(self._expanded)
        self.delete_tree.itemActivated.connect(self._activated)
        body_layout.addWidget(self.delete_tree)
        body_layout.addWidget(style.section_heading(self.tr("Will be kept, and why"), body))
        self.kept_box = QFrame(body)
        self.kept_box.setObjectName("infoBox")
        self.kept_layout = QVBoxLayout(self.kept_box)
        self.kept_layout.setContentsMargins(12, 8, 12, 8)
        self.kept_layout.setSpacing(6)
        body_layout.addWidget(self.kept_box)
        self.warnings_label = QLabel(body)
        self.warnings_label.setObjectName("warnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        body_layout.addWidget(self.warnings_label)
        body_layout.addStretch(1)
        scroll.setWidget(body)
        layout.addWidget(scroll, 1)

        self.confirm_box = QWidget(page)
        confirm_layout = QVBoxLayout(self.confirm_box)
        confirm_layout.setContentsMargins(0, 4, 0, 0)
        self.confirm_label = QLabel(self.confirm_box)
        self.confirm_label.setTextFormat(Qt.TextFormat.RichText)
        self.confirm_label.setWordWrap(True)
        confirm_layout.addWidget(self.confirm_label)
        self.confirm_edit = QLineEdit(self.confirm_box)
        self.confirm_edit.setObjectName("confirmUserId")
        self.confirm_edit.setPlaceholderText(self.tr("Type the user ID exactly"))
        self.confirm_edit.textChanged.connect(self._confirm_changed)
        confirm_layout.addWidget(self.confirm_edit)
        layout.addWidget(self.confirm_box)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton(self.tr("Cancel"), page)
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.cancel_button)
        self.erase_button = QPushButton(icons.icon("delete-forever-outline", "#ffffff"), self.tr("Erase permanently"),
                                        page)
        self.erase_button.setObjectName("eraseButton")
        self.erase_button.setEnabled(False)
        self.erase_button.setStyleSheet(
            f"QPushButton#eraseButton {{ background: {colors.OVERDUE.name()}; color: white; border-radius: 4px;"
            " padding: 6px 14px; font-weight: 600; }"
            " QPushButton#eraseButton:disabled { background: rgba(198, 40, 40, 90); color: rgba(255,255,255,170); }")
        self.erase_button.clicked.connect(self.start_erasure)
        buttons.addWidget(self.erase_button)
        layout.addLayout(buttons)
        return page

    def _build_progress_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addStretch(1)
        layout.addWidget(style.icon_label("database-remove-outline", 48, colors.MUTED, page), 0,
                         Qt.AlignmentFlag.AlignHCenter)
        self.progress_title = QLabel(self.tr("Erasing…"), page)
        self.progress_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress_title.setFont(style.scaled_font(self.progress_title.font(), 1.2, QFont.Weight.DemiBold))
        layout.addWidget(self.progress_title)
        self.progress_bar = QProgressBar(page)
        self.progress_bar.setObjectName("erasureProgress")
        layout.addWidget(self.progress_bar)
        self.progress_label = style.muted_label("", page)
        self.progress_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress_label.setWordWrap(True)
        layout.addWidget(self.progress_label)
        row = QHBoxLayout()
        row.addStretch(1)
        self.stop_button = QPushButton(icons.icon("cancel"), self.tr("Cancel"), page)
        self.stop_button.setToolTip(self.tr("Stops before anything is deleted; every file goes back in place"))
        self.stop_button.clicked.connect(self.cancel_erasure)
        row.addWidget(self.stop_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page

    def _build_summary_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(30, 26, 30, 20)
        layout.setSpacing(10)
        head = QHBoxLayout()
        head.addWidget(style.icon_label("check-circle-outline", 40, style.state_color(colors.OK), page), 0,
                       Qt.AlignmentFlag.AlignTop)
        self.summary_title = QLabel(self.tr("User account erased"), page)
        self.summary_title.setFont(style.scaled_font(self.summary_title.font(), 1.35, QFont.Weight.DemiBold))
        head.addWidget(self.summary_title, 1)
        layout.addLayout(head)
        self.summary_label = QLabel(page)
        self.summary_label.setObjectName("erasureSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        note = QFrame(page)
        note.setObjectName("infoBox")
        note_layout = QVBoxLayout(note)
        self.letter_note = QLabel(self.tr(
            "The request no longer stores the requester's name and contact. Save the response letter now to "
            "send it: it is addressed with the details as they were before the erasure."), note)
        self.letter_note.setWordWrap(True)
        note_layout.addWidget(self.letter_note)
        layout.addWidget(note)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        self.save_pdf_button = QPushButton(icons.icon("file-pdf-box"), self.tr("Save letter as PDF…"), page)
        self.save_pdf_button.clicked.connect(lambda: self.choose_letter_file(pdf=True))
        self.save_html_button = QPushButton(icons.icon("file-document-edit-outline"), self.tr("Save letter as HTML…"),
                                            page)
        self.save_html_button.clicked.connect(lambda: self.choose_letter_file(pdf=False))
        buttons.addWidget(self.save_pdf_button)
        buttons.addWidget(self.save_html_button)
        buttons.addStretch(1)
        close = QPushButton(self.tr("Close"), page)
        close.setDefault(True)
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        return page

    # ------------------------------------------------------------ preview

    def load(self) -> None:
        self.pages.setCurrentWidget(self.loading_page)
        actor, request_id = self.actor, self.request_id
        run_task(lambda _t: erasure.preview_erasure(actor, request_id), on_done=self._show_preview,
                 on_error=self._load_failed)

    def _load_failed(self, exc: BaseException) -> None:
        self.loading_label.setText(exc.message if isinstance(exc, RcrmError) else
                                   self.tr("The preview could not be prepared (%1); details are in the log file.")
                                   .replace("%1", type(exc).__name__))
        if not isinstance(exc, RcrmError):
            error_dialogs.log_failure(type(exc), exc.__traceback__)

    def _show_preview(self, preview: ErasurePreview) -> None:
        self.preview = preview
        self.title_label.setText(self.tr("Erase the user account %1").replace("%1", preview.user_id))
        self.subtitle_label.setText(self.tr("%1 · request #%2 · GDPR Art. 17. This cannot be undone.")
                                    .replace("%1", preview.subject_name).replace("%2", str(preview.request_id)))
        self.blockers_box.setVisible(bool(preview.blockers))
        self.blockers_label.setText("<br>".join(f"• {_escape(b)}" for b in preview.blockers))
        c = preview.counts
        self.delete_tree.clear()
        rows = [
            (None, "account-outline", self.tr("The user account (name, user ID, e-mail, phone, date of birth)"),
             c.get("account", 1)),
            ("recordings", "waveform", self.tr("Recordings with their audio files (%1)")
             .replace("%1", _size(c.get("audio_bytes", 0))), c.get("recordings", 0)),
            ("annotations", "note-text-outline", self.tr("Annotations on those recordings"), c.get("annotations", 0)),
            (None, "tag-outline", self.tr("Tags on those recordings"), c.get("tags", 0)),
            (None, "volume-off", self.tr("Redaction records of those recordings"), c.get("redactions", 0)),
            ("crash_events", "bug-outline", self.tr("Crash events"), c.get("crash_events", 0)),
            ("changes", "history", self.tr("Change history entries"), c.get("changes", 0)),
            (None, "gavel", self.tr("Released legal holds"), c.get("released_holds", 0)),
            (None, "chart-line", self.tr("Waveform cache files on this workstation"),
             c.get("waveform_cache_files", 0)),
        ]
        for kind, icon_name, label, count in rows:
            item = QTreeWidgetItem([label, fmt.count(count)])
            item.setIcon(0, icons.icon(icon_name))
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, Qt.ItemDataRole.UserRole, kind)
            if kind is not None and count:
                item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            if not count:
                item.setForeground(0, self.palette().placeholderText())
                item.setForeground(1, self.palette().placeholderText())
            self.delete_tree.addTopLevelItem(item)

        while self.kept_layout.count():
            widget = self.kept_layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for kept in preview.kept:
            label = QLabel(f"<b>{_escape(kept.label)}</b> — {_escape(kept.why)}", self.kept_box)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setObjectName(f"kept_{kept.kind}")
            self.kept_layout.addWidget(label)
        amber = style.state_color(colors.DUE_SOON).name()
        self.warnings_label.setText("<br>".join(f"<span style='color:{amber}'>⚠ {_escape(w)}</span>"
                                                for w in preview.warnings))
        self.warnings_label.setVisible(bool(preview.warnings))
        self.confirm_box.setVisible(preview.can_erase)
        self.confirm_label.setText(self.tr("To confirm, type the user ID <b>%1</b>:").replace(
            "%1", _escape(preview.user_id)))
        self.pages.setCurrentWidget(self.preview_page)
        self._confirm_changed(self.confirm_edit.text())
        if preview.can_erase:
            self.confirm_edit.setFocus()

    def _expanded(self, item: QTreeWidgetItem) -> None:
        kind = item.data(0, Qt.ItemDataRole.UserRole)
        if kind is None or item.childCount():
            return
        self._load_items(item, str(kind), 0)

    def _activated(self, item: QTreeWidgetItem) -> None:
        if item.data(0, Qt.ItemDataRole.UserRole + 1) == _LOAD_MORE and item.parent() is not None:
            parent = item.parent()
            after = int(item.data(0, Qt.ItemDataRole.UserRole + 2))
            parent.removeChild(item)
            self._load_items(parent, str(parent.data(0, Qt.ItemDataRole.UserRole)), after)

    def _load_items(self, parent: QTreeWidgetItem, kind: str, after: int) -> None:
        try:
            rows = erasure.preview_items(self.actor, self.request_id, kind, after_id=after, limit=ITEMS_PAGE)
        except RcrmError as exc:
            parent.addChild(QTreeWidgetItem([exc.message, ""]))
            return
        for row in rows:
            child = QTreeWidgetItem([f"#{row.id} · {row.label}", ""])
            child.setToolTip(0, row.detail)
            parent.addChild(child)
        if len(rows) >= ITEMS_PAGE:
            more = QTreeWidgetItem([self.tr("Load more… (double-click)"), ""])
            more.setData(0, Qt.ItemDataRole.UserRole + 1, _LOAD_MORE)
            more.setData(0, Qt.ItemDataRole.UserRole + 2, rows[-1].id)
            parent.addChild(more)
        if not rows and not after:
            parent.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.DontShowIndicator)

    def _confirm_changed(self, text: str) -> None:
        ready = self.preview is not None and self.preview.can_erase and text.strip() == self.preview.user_id
        self.erase_button.setEnabled(ready)
        self.erase_button.setToolTip("" if ready else self.tr("Type the user ID shown above to enable erasure"))

    # ------------------------------------------------------------ erasing

    def start_erasure(self) -> Task | None:
        if self.preview is None or not self.erase_button.isEnabled():
            return None
        typed = self.confirm_edit.text()
        actor, request_id, store = self.actor, self.request_id, self.store
        expected = self.preview.request_version
        self.progress_bar.setRange(0, 0)
        self.progress_label.setText(self.tr("Preparing…"))
        self.stop_button.setEnabled(True)
        self.committing = False
        self.pages.setCurrentWidget(self.progress_page)

        def work(task: Task) -> ErasureResult:
            self.task = task  # (synchronous runners call this before run_task returns)
            return erasure.erase_subject(actor, request_id, typed, expected_version=expected, store=store,
                                         progress=lambda d, t, s: task.report(d, t, s))

        task = run_task(work, on_done=self._erased, on_error=self._erase_failed, progress=self._progress)
        if self.result is None and self.pages.currentWidget() is self.progress_page:
            self.task = task  # still running
        return task

    def _progress(self, done: int, total: int, text: str) -> None:
        self.progress_bar.setRange(0, max(1, total))
        self.progress_bar.setValue(done)
        self.progress_label.setText(text)
        if "transaction" in text or done >= total - 1:
            self.committing = True
            self.stop_button.setEnabled(False)
            self.stop_button.setToolTip(self.tr("The erasure is being committed; it can no longer be cancelled"))

    def cancel_erasure(self) -> None:
        if self.task is not None and not self.committing:
            self.task.cancel()
            self.progress_label.setText(self.tr("Stopping; moving every file back…"))

    def _erased(self, result: ErasureResult) -> None:
        self.task = None
        self.result = result
        c = result.counts
        lines = [
            self.tr("The account, %1 recording(s) with their audio, %2 annotation(s), %3 crash event(s) and %4 "
                    "change-history entr(ies) were deleted; %5 file(s) removed from the store.")
            .replace("%1", fmt.count(c["recordings"])).replace("%2", fmt.count(c["annotations"]))
            .replace("%3", fmt.count(c["crash_events"])).replace("%4", fmt.count(c["changes"]))
            .replace("%5", fmt.count(result.files_deleted)),
        ]
        if c.get("held_recordings"):
            lines.append(self.tr("%1 recording(s) under a legal hold were kept, unlinked from the account.")
                         .replace("%1", fmt.count(c["held_recordings"])))
        lines.append(self.tr("Request #%1 is completed and refers to the former account as <code>%2</code>.")
                     .replace("%1", str(result.request_id)).replace("%2", result.subject_ref))
        self.summary_label.setText("<br><br>".join(lines))
        self.save_pdf_button.setEnabled(bool(result.letter_html))
        self.save_html_button.setEnabled(bool(result.letter_html))
        self.pages.setCurrentWidget(self.summary_page)
        self.erased.emit(result)

    def _erase_failed(self, exc: BaseException) -> None:
        self.task = None
        if isinstance(exc, RcrmError):
            error_dialogs.show_error(self, exc, self.tr("Erasure not done"))
        else:
            error_dialogs.show_unexpected(type(exc), exc, exc.__traceback__, self)
        self.confirm_edit.clear()
        self.load()  # show the current state again; nothing was erased

    # ------------------------------------------------------------ letter

    def choose_letter_file(self, *, pdf: bool) -> None:
        if self.result is None:
            return
        suffix = "pdf" if pdf else "html"
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Save the response letter"), f"request-{self.result.request_id}-letter.{suffix}",
            self.tr("PDF documents (*.pdf)") if pdf else self.tr("HTML documents (*.html)"))
        if path:
            self.save_letter(Path(path), pdf=pdf)

    def save_letter(self, path: Path, *, pdf: bool) -> Path | None:
        if self.result is None or not self.result.letter_html:
            return None
        try:
            written = (write_letter_pdf if pdf else write_letter_html)(self.result.letter_html, path)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Save letter"))
            return None
        self.letter_note.setText(self.tr("The letter was saved to %1.").replace("%1", str(written)))
        return written

    def reject(self) -> None:
        if self.task is not None:
            self.cancel_erasure()
            return  # closes when the background work has stopped
        super().reject()


def _escape(text: str) -> str:
    from html import escape

    return escape(text)
