"""The detail pane of one rights request: fields, the deadline box, next steps, and the timeline.

Guarantees:

* The request is read through ``core.requests.get_request`` (permission
  checked, view audited) only when the owner asks to ``load`` it.
* The deadline is impossible to miss: overdue in red, due within seven days in
  amber, always with text ("3 days overdue", "Due in 5 days"); an extension
  shows the original and the extended date and the day the requester was told.
  A request waiting for the requester says so, and that the clock keeps running.
* Every step the request can take is a button. What is not possible now is
  disabled with core's own sentence as the tooltip (the rule lives in core;
  the button is a courtesy). Steps open small dialogs (``ui.dialogs.*``); long
  work (building a package, erasing) runs in the background with progress and
  Cancel.
* A step refused because another workstation moved first reloads the pane,
  so the operator sees the current state.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import access_package, letters, subjects
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.access_package import PackageResult
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.requests import RequestDetail, RequestRow
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.errors import ConflictError, RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.erasure_preview import ErasurePreviewDialog
from rcrm_desktop.ui.dialogs.new_request import MatchSubjectDialog
from rcrm_desktop.ui.dialogs.package_review import PackageReviewDialog
from rcrm_desktop.ui.dialogs.request_actions import (
    CorrectDataDialog,
    ExtendDialog,
    RejectDialog,
    VerifyIdentityDialog,
    WaitDialog,
    step_dialog,
)
from rcrm_desktop.ui.letter_pdf import write_letter_html, write_letter_pdf
from rcrm_desktop.ui.progress import close_progress, open_progress, update_progress
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.tasks import Task, run_task
from rcrm_desktop.ui.widgets.subject_detail import StateChip, set_muted
from rcrm_desktop.ui.widgets.timeline import TimelineWidget, soft_wrap

TYPE_ICONS = {"access": "file-eye-outline", "rectification": "account-edit-outline",
              "erasure": "delete-forever-outline", "restriction": "lock-outline",
              "portability": "file-export-outline", "objection": "hand-back-left-off"}

STATE_COLORS = {"received": colors.HOLD, "identity_verification": colors.HOLD, "in_progress": colors.HOLD,
                "awaiting_requester": colors.DUE_SOON, "completed": colors.OK, "rejected": colors.OVERDUE,
                "withdrawn": colors.MUTED}

SHORT_TYPES = {"access": "Access", "rectification": "Rectification", "erasure": "Erasure",
               "restriction": "Restriction", "portability": "Portability", "objection": "Objection"}


def _tr(text: str) -> str:
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.translate("RequestDetail", text)


def deadline_text(row: RequestRow, today: dt.date | None = None) -> tuple[str, QColor | None]:
    """What the deadline means today, as text, and its colour (``None``: nothing to warn about)."""
    day = today or dt.date.today()
    if not row.is_open:
        closed = row.closed_at.date().isoformat() if row.closed_at else "—"
        return _tr("Closed %1").replace("%1", closed), colors.MUTED
    left = row.days_left(day)
    if left < 0:
        n = -left
        return (_tr("1 day overdue") if n == 1 else _tr("%1 days overdue").replace("%1", str(n))), colors.OVERDUE
    if left == 0:
        return _tr("Due today"), colors.DUE_SOON
    if row.deadline_status(day) == "due_soon":
        return (_tr("Due tomorrow") if left == 1 else _tr("Due in %1 days").replace("%1", str(left))), colors.DUE_SOON
    return _tr("%1 days left").replace("%1", str(left)), None


def _long(day: dt.date | None) -> str:
    return day.strftime("%a %d %b %Y").replace(" 0", " ") if day else "—"


class _ActionButton(QPushButton):
    def __init__(self, text: str, icon_name: str, action: str, parent: QWidget | None = None) -> None:
        super().__init__(icons.icon(icon_name), text, parent)
        self.action = action
        self.setObjectName(f"action_{action}")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("text-align: left; padding: 5px 10px;")


class RequestDetailPane(QFrame):
    """Everything about one request, and every step it can take."""

    #: The request was loaded or changed (``RequestDetail``): the owner refreshes its table row.
    request_changed = Signal(object)
    #: A step finished; a short sentence for the status bar.
    status_message = Signal(str)

    def __init__(self, session: AppSession, parent: QWidget | None = None, *,
                 store: RecordingsStore | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.store = store
        self.setObjectName("detailPane")
        self.current_id: int | None = None
        self.detail: RequestDetail | None = None
        self.active_dialog: QDialog | None = None
        self.package_task: Task | None = None
        self.package_progress: QProgressDialog | None = None
        self.last_package: PackageResult | None = None
        self.today: dt.date | None = None  # tests pin the date
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget(self)
        outer.addWidget(self.stack)
        self.empty_page = self._message_page()
        self.stack.addWidget(self.empty_page)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setStyleSheet("QScrollArea, QScrollArea > QWidget > QWidget { background: transparent; }")
        self.page = QWidget(self.scroll)
        self.scroll.setWidget(self.page)
        self.stack.addWidget(self.scroll)
        self._build()
        self.show_empty()

    # ------------------------------------------------------------ building

    def _message_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.addStretch(1)
        picture = QLabel(page)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        picture.setPixmap(icons.icon("file-document-multiple-outline", colors.MUTED.name()).pixmap(56, 56))
        layout.addWidget(picture)
        self.empty_title = QLabel(page)
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title.setWordWrap(True)
        self.empty_title.setFont(style.scaled_font(self.empty_title.font(), 1.1, QFont.Weight.DemiBold))
        layout.addWidget(self.empty_title)
        self.empty_text = QLabel(page)
        self.empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_text.setWordWrap(True)
        set_muted(self.empty_text)
        layout.addWidget(self.empty_text)
        row = QHBoxLayout()
        row.addStretch(1)
        self.retry_button = QPushButton(icons.icon("refresh"), self.tr("Try again"), page)
        self.retry_button.clicked.connect(self.reload)
        row.addWidget(self.retry_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page

    def _section(self, text: str) -> QLabel:
        label = style.section_heading(text, self.page)
        label.setContentsMargins(0, 10, 0, 2)
        return label

    def _value(self) -> QLabel:
        label = QLabel(self.page)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setWordWrap(True)
        label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        return label

    def _form(self, rows: list[tuple[str, str]]) -> tuple[QFormLayout, dict[str, QLabel]]:
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(4)
        values: dict[str, QLabel] = {}
        for key, caption in rows:
            label = QLabel(caption, self.page)
            label.setObjectName("fieldCaption")
            set_muted(label)
            value = self._value()
            value.setObjectName(f"value_{key}")
            values[key] = value
            form.addRow(label, value)
        return form, values

    def _build(self) -> None:
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(16, 12, 16, 16)
        layout.setSpacing(6)
        head = QHBoxLayout()
        self.type_icon = QLabel(self.page)
        self.type_icon.setFixedSize(30, 30)
        head.addWidget(self.type_icon, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        titles.setSpacing(1)
        self.title_label = QLabel(self.page)
        self.title_label.setObjectName("requestTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setWordWrap(True)
        self.title_label.setFont(style.scaled_font(self.title_label.font(), 1.4, QFont.Weight.DemiBold))
        titles.addWidget(self.title_label)
        self.subtitle_label = QLabel(self.page)
        self.subtitle_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle_label.setWordWrap(True)
        set_muted(self.subtitle_label)
        titles.addWidget(self.subtitle_label)
        head.addLayout(titles, 1)
        layout.addLayout(head)
        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(6)
        self.chips_row.addStretch(1)
        layout.addLayout(self.chips_row)
        self.chips: list[StateChip] = []

        self.banner = QFrame(self.page)
        self.banner.setObjectName("infoBox")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        self.banner_icon = QLabel(self.banner)
        banner_layout.addWidget(self.banner_icon, 0, Qt.AlignmentFlag.AlignTop)
        self.banner_label = QLabel(self.banner)
        self.banner_label.setObjectName("banner")
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextFormat(Qt.TextFormat.PlainText)
        banner_layout.addWidget(self.banner_label, 1)
        layout.addWidget(self.banner)

        # Deadline card
        self.deadline_card = QFrame(self.page)
        self.deadline_card.setObjectName("card")
        card = QGridLayout(self.deadline_card)
        card.setContentsMargins(12, 10, 12, 10)
        card.setHorizontalSpacing(18)
        card.setVerticalSpacing(3)
        self.days_label = QLabel(self.deadline_card)
        self.days_label.setObjectName("daysLeft")
        self.days_label.setFont(style.scaled_font(self.days_label.font(), 1.55, QFont.Weight.DemiBold))
        card.addWidget(self.days_label, 0, 0, 1, 2)
        self.deadline_values: dict[str, QLabel] = {}
        for row, (key, caption) in enumerate((("received", self.tr("Received")),
                                              ("due", self.tr("Original due date")),
                                              ("extended", self.tr("Extended to")),
                                              ("told", self.tr("Requester told on")),
                                              ("reason", self.tr("Reason for the extension"))), start=1):
            label = QLabel(caption, self.deadline_card)
            set_muted(label)
            value = QLabel(self.deadline_card)
            value.setObjectName(f"deadline_{key}")
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            card.addWidget(label, row, 0, Qt.AlignmentFlag.AlignTop)
            card.addWidget(value, row, 1)
            self.deadline_values[key] = value
            self.deadline_values[f"{key}_caption"] = label
        card.setColumnStretch(1, 1)
        layout.addSpacing(4)
        layout.addWidget(self.deadline_card)

        layout.addWidget(self._section(self.tr("Next steps")))
        self.actions_grid = QGridLayout()
        self.actions_grid.setHorizontalSpacing(6)
        self.actions_grid.setVerticalSpacing(6)
        layout.addLayout(self.actions_grid)
        self.buttons: dict[str, _ActionButton] = {}
        specs = [
            ("verify", self.tr("Verify identity…"), "account-check-outline"),
            ("start_verification", self.tr("Ask for identity proof…"), "account-question-outline"),
            ("wait", self.tr("Wait for requester…"), "timer-sand"),
            ("resume", self.tr("Resume…"), "play-circle-outline"),
            ("extend", self.tr("Extend deadline…"), "calendar-clock"),
            ("link_subject", self.tr("Match user account…"), "link-variant"),
            ("package", self.tr("Build access package…"), "zip-box-outline"),
            ("review", self.tr("Review package…"), "eye-check-outline"),
            ("rectify", self.tr("Correct data…"), "account-edit-outline"),
            ("erase", self.tr("Erasure preview…"), "delete-forever-outline"),
            ("restrict", self.tr("Restrict…"), "lock-outline"),
            ("object", self.tr("Object…"), "hand-back-left-off"),
            ("lift_restriction", self.tr("Lift restriction…"), "lock-open-variant-outline"),
            ("lift_objection", self.tr("Lift objection…"), "lock-open-variant-outline"),
            ("complete", self.tr("Complete…"), "check-circle-outline"),
            ("reject", self.tr("Reject…"), "close-circle-outline"),
            ("withdraw", self.tr("Withdraw…"), "cancel"),
            ("letter", self.tr("Letter (PDF/HTML)…"), "email-outline"),
            ("note", self.tr("Add note…"), "note-text-outline"),
        ]
        for key, text, icon_name in specs:
            button = _ActionButton(text, icon_name, key, self.page)
            button.clicked.connect(lambda _c=False, k=key: self.run_action(k))
            self.buttons[key] = button
        letter_menu = QMenu(self.buttons["letter"])
        letter_menu.addAction(icons.icon("file-pdf-box"), self.tr("Save as PDF…"),
                              lambda: self.choose_letter_file(pdf=True))
        letter_menu.addAction(icons.icon("file-document-edit-outline"), self.tr("Save as HTML…"),
                              lambda: self.choose_letter_file(pdf=False))
        self.letter_menu = letter_menu
        self.actions_hint = style.muted_label("", self.page)
        self.actions_hint.setWordWrap(True)
        layout.addWidget(self.actions_hint)

        layout.addWidget(self._section(self.tr("Requester")))
        form, self.requester_values = self._form([("name", self.tr("Name")), ("contact", self.tr("Contact")),
                                                  ("channel", self.tr("Channel")), ("details", self.tr("Details"))])
        layout.addLayout(form)

        layout.addWidget(self._section(self.tr("User account")))
        subject_row = QHBoxLayout()
        self.subject_label = self._value()
        self.subject_label.setObjectName("subjectLabel")
        subject_row.addWidget(self.subject_label, 1)
        self.copy_ref_button = QToolButton(self.page)
        self.copy_ref_button.setIcon(icons.icon("content-copy"))
        self.copy_ref_button.setToolTip(self.tr("Copy the pseudonymous reference"))
        self.copy_ref_button.setAutoRaise(True)
        self.copy_ref_button.clicked.connect(self._copy_ref)
        subject_row.addWidget(self.copy_ref_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(subject_row)
        self.subject_chips = QHBoxLayout()
        self.subject_chips.setSpacing(6)
        self.subject_chips.addStretch(1)
        layout.addLayout(self.subject_chips)
        self.subject_chip_widgets: list[StateChip] = []

        layout.addWidget(self._section(self.tr("Progress")))
        form, self.progress_values = self._form([("identity", self.tr("Identity")),
                                                 ("package", self.tr("Access package")),
                                                 ("changes", self.tr("Corrections")),
                                                 ("outcome", self.tr("Outcome"))])
        layout.addLayout(form)

        layout.addWidget(self._section(self.tr("Timeline")))
        self.timeline = TimelineWidget(self.page)
        layout.addWidget(self.timeline)
        layout.addStretch(1)

    # ------------------------------------------------------------ showing

    def show_empty(self, title: str | None = None, text: str | None = None, retry: bool = False) -> None:
        self.empty_title.setText(title or self.tr("No request selected"))
        self.empty_text.setText(text or self.tr("Select a request to see its deadline, its timeline and the "
                                                "steps it can take next."))
        self.retry_button.setVisible(retry)
        self.stack.setCurrentWidget(self.empty_page)

    def clear(self) -> None:
        self.current_id = None
        self.detail = None
        self.show_empty()

    def load(self, request_id: int) -> RequestDetail | None:
        """Read one request through core (an audited view) and show it."""
        self.current_id = request_id
        try:
            detail = rq.get_request(self.session.actor, request_id, today=self.today)
        except RcrmError as exc:
            self.detail = None
            self.show_empty(self.tr("Cannot show request #%1").replace("%1", str(request_id)), exc.message,
                            retry=True)
            return None
        self.show_detail(detail)
        self.request_changed.emit(detail)
        return detail

    def reload(self) -> None:
        if self.current_id is not None:
            self.load(self.current_id)

    def _chip(self, layout: QHBoxLayout, store: list[StateChip], text: str, color: QColor) -> None:
        chip = StateChip(text, color, self.page)
        layout.insertWidget(layout.count() - 1, chip)
        store.append(chip)

    def _clear_chips(self, store: list[StateChip]) -> None:
        for chip in store:
            parent_layout = self.chips_row if chip in self.chips else self.subject_chips
            parent_layout.removeWidget(chip)
            chip.hide()
            chip.deleteLater()
        store.clear()

    def show_detail(self, detail: RequestDetail) -> None:
        self.detail = detail
        self.current_id = detail.id
        row = detail.row
        today = self.today or dt.date.today()
        self.type_icon.setPixmap(icons.icon(TYPE_ICONS.get(row.type, "file-outline")).pixmap(28, 28))
        self.title_label.setText(self.tr("%1 request #%2").replace("%1", self.tr(SHORT_TYPES.get(row.type, row.type)))
                                 .replace("%2", str(row.id)))
        self.subtitle_label.setText(
            self.tr("%1 · received %2 · %3 · recorded by %4")
            .replace("%1", self.tr(rq.type_label(row.type))).replace("%2", row.received_on.isoformat())
            .replace("%3", self.tr(rq.CHANNELS.get(row.channel, row.channel)))
            .replace("%4", detail.created_by))
        self._clear_chips(self.chips)
        self._chip(self.chips_row, self.chips, self.tr(rq.state_label(row.state)),
                   STATE_COLORS.get(row.state, colors.MUTED))
        text, color = deadline_text(row, today)
        if row.is_open:
            self._chip(self.chips_row, self.chips, text, color or colors.OK)
        if row.extended_due_on:
            self._chip(self.chips_row, self.chips, self.tr("Extended"), colors.DUE_SOON)

        banner = ""
        banner_color = colors.DUE_SOON
        banner_icon = "timer-sand"
        if row.state == "awaiting_requester":
            since = detail.awaiting_since.date().isoformat() if detail.awaiting_since else "—"
            banner = (self.tr("Waiting for the requester since %1: %2. The deadline keeps running (GDPR Art. 12(3)).")
                      .replace("%1", since).replace("%2", detail.awaiting_reason or "—"))
        elif row.is_open and color is colors.OVERDUE:
            banner = self.tr("The deadline passed on %1. Answer the requester as soon as possible and say why it "
                             "is late.").replace("%1", _long(row.effective_due))
            banner_color, banner_icon = colors.OVERDUE, "clock-alert-outline"
        elif row.subject_restricted:
            banner = self.tr("The user account is restricted (GDPR Art. 18): its data is kept but not used; only "
                             "compliance officers may play or export its recordings.")
            banner_color, banner_icon = colors.RESTRICTED, "lock-outline"
        self.banner.setVisible(bool(banner))
        self.banner_label.setText(banner)
        self.banner_icon.setPixmap(icons.icon(banner_icon, style.state_color(banner_color).name()).pixmap(20, 20))
        tint = colors.tint(banner_color)
        edge = style.state_color(banner_color)
        self.banner.setStyleSheet(
            f"QFrame#infoBox {{ background: rgba({tint.red()},{tint.green()},{tint.blue()},{tint.alpha()});"
            f" border: 1px solid {edge.name()}; border-radius: 6px; }}")

        # deadline box
        self.days_label.setText(text)
        self.days_label.setStyleSheet(f"color: {style.state_color(color).name()};" if color is not None else "")
        dv = self.deadline_values
        dv["received"].setText(_long(row.received_on))
        dv["due"].setText(_long(row.due_on))
        extended = row.extended_due_on is not None
        dv["extended"].setText(self.tr("%1 (+%2 month(s))").replace("%1", _long(row.extended_due_on))
                               .replace("%2", str(detail.extension_months or "?")) if extended else
                               (self.tr("Not extended — possible until %1").replace("%1", _long(row.due_on))
                                if detail.can_extend else self.tr("Not extended")))
        dv["told"].setText(_long(detail.extension_notified_on) if extended else "—")
        dv["reason"].setText(soft_wrap(detail.extension_reason or "—"))
        for key in ("told", "reason"):
            dv[key].setVisible(extended)
            dv[f"{key}_caption"].setVisible(extended)
        if extended:
            dv["due"].setStyleSheet("text-decoration: line-through;")
        else:
            dv["due"].setStyleSheet("")

        # requester and subject
        rv = self.requester_values
        rv["name"].setText(row.requester_name)
        rv["contact"].setText(row.requester_contact or "—")
        rv["channel"].setText(self.tr(rq.CHANNELS.get(row.channel, row.channel)))
        rv["details"].setText(soft_wrap(detail.details or "—"))
        self._clear_chips(self.subject_chip_widgets)
        if row.subject_id is not None:
            self.subject_label.setText(f"{row.subject_user_id} — {row.subject_name}")
            if row.subject_restricted:
                self._chip(self.subject_chips, self.subject_chip_widgets, self.tr("Restricted (Art. 18)"),
                           colors.RESTRICTED)
            if row.subject_objected:
                self._chip(self.subject_chips, self.subject_chip_widgets, self.tr("Objected (Art. 21)"),
                           colors.DUE_SOON)
            self.copy_ref_button.setVisible(False)
        elif row.subject_ref and detail.erased_at is not None:
            self.subject_label.setText(self.tr("Erased on %1 — the request refers to the former account as %2")
                                       .replace("%1", detail.erased_at.date().isoformat())
                                       .replace("%2", soft_wrap(row.subject_ref)))
            self.copy_ref_button.setVisible(True)
        elif row.subject_ref:
            self.subject_label.setText(self.tr("No longer linked — former account %1").replace(
                "%1", soft_wrap(row.subject_ref)))
            self.copy_ref_button.setVisible(True)
        else:
            self.subject_label.setText(self.tr("Not yet matched to a user account"))
            self.copy_ref_button.setVisible(False)

        pv = self.progress_values
        if detail.verified_at:
            pv["identity"].setText(self.tr("Verified %1 by %2: %3")
                                   .replace("%1", fmt.local_time(detail.verified_at))
                                   .replace("%2", detail.verified_by or "—")
                                   .replace("%3", detail.verification_method or "—"))
            pv["identity"].setToolTip(fmt.utc_tooltip(detail.verified_at))
        elif row.state in ("received", "identity_verification"):
            pv["identity"].setText(self.tr("Not verified yet"))
        else:
            pv["identity"].setText(self.tr("Not recorded (the request moved on before verification was recorded)"))
        package_visible = row.type in rq.PACKAGE_TYPES
        if detail.package_sha256:
            pv["package"].setText(self.tr("Built %1 · %2 · SHA-256 %3")
                                  .replace("%1", fmt.local_time(detail.package_built_at))
                                  .replace("%2", f"{(detail.package_size or 0) / 1e6:.1f} MB")
                                  .replace("%3", soft_wrap(detail.package_sha256)))
        else:
            pv["package"].setText(self.tr("Not built yet"))
        if detail.exclusions:
            pv["package"].setText(pv["package"].text() + "\n" + style.count_text(
                len(detail.exclusions), self.tr("%1 item withheld (Art. 15(4))"),
                self.tr("%1 items withheld (Art. 15(4))")))
        self._set_row_visible(pv["package"], package_visible)
        if detail.changes:
            pv["changes"].setText("\n".join(
                self.tr("%1: “%2” → “%3” (%4)").replace("%1", subjects.RECTIFIABLE_FIELDS.get(c.field, c.field))
                .replace("%2", c.old_value or "—").replace("%3", c.new_value or "—")
                .replace("%4", fmt.local_time(c.changed_at)) for c in detail.changes))
        else:
            pv["changes"].setText(self.tr("None yet"))
        self._set_row_visible(pv["changes"], row.type == "rectification")
        outcome = ""
        if row.state == "rejected":
            outcome = self.tr("Rejected — %1%2. %3").replace(
                "%1", self.tr(rq.REJECTION_GROUNDS.get(detail.rejection_grounds or "", "")))\
                .replace("%2", f" ({detail.rejection_exemption})" if detail.rejection_exemption else "")\
                .replace("%3", detail.rejection_reason or "")
        elif row.state in ("completed", "withdrawn"):
            outcome = self.tr("%1 on %2").replace("%1", self.tr(rq.state_label(row.state))).replace(
                "%2", fmt.local_time(row.closed_at))
        pv["outcome"].setText(outcome or "—")
        self._set_row_visible(pv["outcome"], bool(outcome))

        self._update_actions()
        self.timeline.set_events(detail.timeline)
        self.stack.setCurrentWidget(self.scroll)

    def _set_row_visible(self, value: QLabel, visible: bool) -> None:
        value.setVisible(visible)
        for layout in self.page.findChildren(QFormLayout):
            label = layout.labelForField(value)
            if label is not None:
                label.setVisible(visible)

    def _copy_ref(self) -> None:
        if self.detail is not None and self.detail.row.subject_ref:
            QGuiApplication.clipboard().setText(self.detail.row.subject_ref)
            self.status_message.emit(self.tr("Copied the pseudonymous reference."))

    # ------------------------------------------------------------ actions

    def _relevant(self, detail: RequestDetail) -> list[str]:
        row = detail.row
        if not row.is_open:
            keys = ["letter", "note"]
        else:
            keys = []
            if row.state in ("received", "identity_verification"):
                keys += ["verify"] + (["start_verification"] if row.state == "received" else [])
            keys += ["resume"] if row.state == "awaiting_requester" else ["wait"]
            keys += ["extend"]
            if row.subject_id is None:
                keys += ["link_subject"]
            keys += {"access": ["package", "review"], "portability": ["package", "review"],
                     "rectification": ["rectify"], "erasure": ["erase"], "restriction": ["restrict"],
                     "objection": ["object"]}.get(row.type, [])
            if row.type != "erasure" or row.subject_id is None:
                keys += ["complete"]
            keys += ["reject", "withdraw", "note"]
        if row.subject_id is not None and row.subject_restricted:
            keys.append("lift_restriction")
        if row.subject_id is not None and row.subject_objected:
            keys.append("lift_objection")
        return keys

    def why_not(self, action: str) -> str | None:
        """``None`` when ``action`` can run now, else why not (the disabled button's tooltip)."""
        detail = self.detail
        if detail is None:
            return self.tr("No request is shown.")
        actor = self.session.actor
        role = ROLE_LABELS[actor.role]
        needs = {"lift_restriction": Permission.SUBJECTS_RESTRICT, "lift_objection": Permission.SUBJECTS_RESTRICT,
                 "restrict": Permission.SUBJECTS_RESTRICT, "object": Permission.SUBJECTS_RESTRICT,
                 "rectify": Permission.SUBJECTS_RECTIFY, "erase": Permission.SUBJECTS_ERASE,
                 "letter": Permission.REQUESTS_VIEW}.get(action, Permission.REQUESTS_MANAGE)
        if not actor.can(needs):
            return self.tr("Your role (%1) cannot do this: it needs the permission %2.").replace("%1", role)\
                .replace("%2", needs.value)
        if action in ("lift_restriction", "lift_objection"):
            return None
        core_action = "package" if action == "review" else action
        return detail.actions.get(core_action, self.tr("Not possible for this request."))

    def _update_actions(self) -> None:
        assert self.detail is not None
        for button in self.buttons.values():
            self.actions_grid.removeWidget(button)
            button.hide()
        keys = self._relevant(self.detail)
        columns = 2
        blocked = []
        for index, key in enumerate(keys):
            button = self.buttons[key]
            why = self.why_not(key)
            button.setEnabled(why is None)
            button.setToolTip(why or "")
            self.actions_grid.addWidget(button, index // columns, index % columns)
            button.show()
            if why is not None and key not in ("note",):
                blocked.append(why)
        order = ("verify", "resume", "complete", "link_subject", "package", "rectify", "erase", "restrict", "object",
                 "letter")
        primary = next((k for k in order if k in keys and self.why_not(k) is None), None)
        for key, button in self.buttons.items():
            button.setDefault(key == primary)
            font = button.font()
            font.setWeight(QFont.Weight.DemiBold if key == primary else QFont.Weight.Normal)
            button.setFont(font)
        self.actions_hint.setText(self.tr("Hover over a greyed-out step to see why it is not possible yet.")
                                  if blocked else "")
        self.actions_hint.setVisible(bool(blocked))

    def visible_actions(self) -> list[str]:
        return [k for k, b in self.buttons.items() if b.isVisibleTo(self.page)]

    def run_action(self, action: str) -> Any:
        """What a step's button does (tests call it directly)."""
        detail = self.detail
        if detail is None or self.why_not(action) is not None:
            return None
        actor = self.session.actor
        dialog: QDialog | None = None
        if action == "verify":
            dialog = VerifyIdentityDialog(actor, detail, self)
        elif action == "wait":
            dialog = WaitDialog(actor, detail, self)
        elif action == "extend":
            dialog = ExtendDialog(actor, detail, self, today=self.today)
        elif action == "reject":
            dialog = RejectDialog(actor, detail, self)
        elif action in ("start_verification",):
            dialog = step_dialog("note", actor, detail, self)
            dialog.setWindowTitle(self.tr("Ask for identity proof"))
            dialog.action = lambda text, v: rq.start_verification(actor, detail.id, text,  # type: ignore[attr-defined]
                                                                  expected_version=v)
            dialog.ok_button.setText(self.tr("Start identity check"))  # type: ignore[attr-defined]
        elif action in ("resume", "complete", "withdraw", "note", "restrict", "object", "lift_restriction",
                        "lift_objection"):
            dialog = step_dialog(action, actor, detail, self)
        elif action == "link_subject":
            match = MatchSubjectDialog(actor, detail, self)
            match.matched.connect(self._step_done)
            match.conflict.connect(self._conflict)
            dialog = match
        elif action == "rectify":
            return self._open_rectify(detail)
        elif action == "package":
            return self.choose_package_file()
        elif action == "review":
            review = PackageReviewDialog(actor, detail, self, store=self.store)
            review.changed.connect(self._step_done)
            review.built.connect(lambda _r: self.reload())
            dialog = review
        elif action == "erase":
            preview = ErasurePreviewDialog(actor, detail.id, self, store=self.store)
            preview.erased.connect(lambda _r: self.reload())
            dialog = preview
        elif action == "letter":
            self.letter_menu.exec(self.buttons["letter"].mapToGlobal(self.buttons["letter"].rect().bottomLeft()))
            return None
        if dialog is None:
            return None
        if hasattr(dialog, "completed"):
            dialog.completed.connect(self._step_done)  # type: ignore[attr-defined]
            dialog.conflict.connect(self._conflict)  # type: ignore[attr-defined]
        self._open_dialog(dialog)
        return dialog

    def _open_dialog(self, dialog: QDialog) -> None:
        if self.active_dialog is not None:
            self.active_dialog.close()
            self.active_dialog.deleteLater()
        self.active_dialog = dialog
        dialog.finished.connect(lambda _r, d=dialog: self._dialog_finished(d))
        dialog.open()

    def _dialog_finished(self, dialog: QDialog) -> None:
        if self.active_dialog is dialog:
            self.active_dialog = None
        dialog.deleteLater()

    def _open_rectify(self, detail: RequestDetail) -> QDialog | None:
        assert detail.row.subject_id is not None
        try:
            subject = subjects.get_subject(self.session.actor, subject_id=detail.row.subject_id).subject
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Correct data"))
            return None
        dialog = CorrectDataDialog(self.session.actor, subject, detail, self)
        dialog.rectified.connect(lambda _row: self.reload())
        dialog.rectified.connect(lambda _row: self.status_message.emit(self.tr("Correction saved.")))
        dialog.conflict.connect(lambda _exc: self.reload())
        self._open_dialog(dialog)
        return dialog

    def _step_done(self, value: Any) -> None:
        if isinstance(value, RequestDetail):
            self.show_detail(value)
            self.request_changed.emit(value)
            self.status_message.emit(self.tr("Request #%1 is now %2.").replace("%1", str(value.id))
                                     .replace("%2", self.tr(rq.state_label(value.row.state)).lower()))
        else:
            self.reload()

    def _conflict(self, exc: ConflictError) -> None:
        self.reload()
        self.status_message.emit(exc.message)

    # ------------------------------------------------------------ access package

    def choose_package_file(self) -> None:
        if self.detail is None:
            return
        user = self.detail.row.subject_user_id or "subject"
        path, _ = QFileDialog.getSaveFileName(self, self.tr("Save the access package"),
                                              f"access-package-{user}-request-{self.detail.id}.zip",
                                              self.tr("ZIP archives (*.zip)"))
        if path:
            self.start_package_build(Path(path))

    def start_package_build(self, path: Path) -> Task | None:
        """Build the package in the background, with a progress dialog whose Cancel stops it."""
        if self.detail is None or self.why_not("package") is not None:
            return None
        actor, request_id, store = self.session.actor, self.detail.id, self.store
        progress = open_progress(self, self.tr("Building the access package"), self.tr("Reading the subject's data…"),
                                 minimum_width=440, minimum_duration_ms=400)
        self.package_progress = progress

        def work(task: Task) -> PackageResult:
            return access_package.build_access_package(actor, request_id, path, store=store,
                                                       progress=lambda d, t, s: task.report(d, t, s))

        def on_progress(done: int, total: int, text: str) -> None:
            update_progress(self.package_progress, done, total, text)

        task = run_task(work, on_done=self._package_built, on_error=self._package_failed, progress=on_progress)
        self.package_task = task
        if self.package_progress is progress:
            progress.canceled.connect(task.cancel)
        return task

    def _close_package_progress(self) -> None:
        close_progress(self.package_progress)
        self.package_progress = None
        self.package_task = None

    def _package_built(self, result: PackageResult) -> None:
        self._close_package_progress()
        self.last_package = result
        self.reload()
        error_dialogs.message_box(
            self, QMessageBox.Icon.Information, self.tr("Access package built"),
            self.tr("The access package was written to %1.").replace("%1", str(result.path)),
            self.tr("%1 recordings (%2 audio files), %3 crash events, %4 items withheld; %5 MB.\n"
                    "SHA-256 (recorded on the request): %6")
            .replace("%1", fmt.count(result.recordings)).replace("%2", fmt.count(result.audio_files))
            .replace("%3", fmt.count(result.crash_events)).replace("%4", fmt.count(result.withheld))
            .replace("%5", f"{result.size_bytes / 1e6:.1f}").replace("%6", result.sha256))

    def _package_failed(self, exc: BaseException) -> None:
        self._close_package_progress()
        self.reload()
        if isinstance(exc, access_package.PackageCancelled):
            self.status_message.emit(exc.message)
            return
        error_dialogs.show_error(self, exc, self.tr("Access package not built"))

    # ------------------------------------------------------------ letter

    def choose_letter_file(self, *, pdf: bool) -> None:
        if self.detail is None:
            return
        suffix = "pdf" if pdf else "html"
        path, _ = QFileDialog.getSaveFileName(
            self, self.tr("Save the response letter"), f"request-{self.detail.id}-letter.{suffix}",
            self.tr("PDF documents (*.pdf)") if pdf else self.tr("HTML documents (*.html)"))
        if path:
            self.save_letter(Path(path), pdf=pdf)

    def save_letter(self, path: Path, *, pdf: bool) -> Path | None:
        """Write the response letter of the shown (closed) request as PDF or HTML."""
        if self.detail is None:
            return None
        try:
            html = letters.letter_html(self.session.actor, self.detail.id, today=self.today)
            written = (write_letter_pdf if pdf else write_letter_html)(html, path)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Response letter"))
            return None
        self.status_message.emit(self.tr("The letter was saved to %1.").replace("%1", str(written)))
        return written


__all__ = ["RequestDetailPane", "deadline_text"]
