"""The small dialogs of a rights request's steps: verify, wait, resume, extend, reject, restrict, object,
complete, withdraw, note, lift, and the guided correction of the subject's data.

Each is a thin front door onto one ``core.requests`` function; every rule
(permission, state, deadline, reason required, optimistic concurrency) is
enforced there. What every dialog guarantees on top:

* it names the request's revision it showed, so a change made on another
  workstation meanwhile is refused, not overwritten; the ``ConflictError`` is
  shown inline with the current state and ``conflict`` is emitted so the owner
  reloads;
* a refusal (``ValidationError``, ``PermissionDenied``) is shown inline and the
  dialog keeps what the operator typed;
* it closes only after core stored the step, then emits ``completed`` with the
  fresh ``RequestDetail`` (or ``SubjectRow`` for lifting a mark).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import deadlines, subjects
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.requests import RequestDetail
from rcrm_desktop.errors import ConflictError, RcrmError, ValidationError
from rcrm_desktop.ui import colors, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.rectify import RectifyDialog


def _long_date(day: dt.date) -> str:
    return day.strftime("%A %d %B %Y").replace(" 0", " ")


class RequestActionDialog(QDialog):
    """Base: a heading, an explanation, the subclass's fields, an inline message and OK/Cancel."""

    #: The step was stored (a ``RequestDetail``, or a ``SubjectRow`` for lifting a mark).
    completed = Signal(object)
    #: Another workstation changed the request first (the ``ConflictError``).
    conflict = Signal(object)

    def __init__(self, actor: Actor, detail: RequestDetail, title: str, heading: str, explanation: str,
                 ok_text: str, ok_icon: str, parent: QWidget | None = None, *, destructive: bool = False) -> None:
        super().__init__(parent)
        self.actor = actor
        self.detail = detail
        self.expected_version = detail.row.version
        self.result_value: Any = None
        self.setObjectName(type(self).__name__)
        self.setWindowTitle(title)
        self.setMinimumWidth(540)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        head = QLabel(heading, self)
        head.setWordWrap(True)
        head.setTextFormat(Qt.TextFormat.PlainText)
        head.setFont(style.scaled_font(head.font(), 1.15, QFont.Weight.DemiBold))
        layout.addWidget(head)
        self.explanation = style.muted_label(explanation, self)
        self.explanation.setWordWrap(True)
        self.explanation.setVisible(bool(explanation))
        layout.addWidget(self.explanation)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        layout.addLayout(self.form)
        self.message_label = QLabel(self)
        self.message_label.setObjectName("actionMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        self.ok_button.setIcon(icons.icon(ok_icon, style.state_color(colors.OVERDUE).name() if destructive else None))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def text_box(self, placeholder: str, lines: int = 3) -> QPlainTextEdit:
        box = QPlainTextEdit(self)
        box.setPlaceholderText(placeholder)
        box.setTabChangesFocus(True)
        box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 14)
        return box

    # -- storing

    def perform(self) -> Any:
        raise NotImplementedError

    def show_message(self, text: str, color: Any) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {style.state_color(color).name()};")
        self.message_label.show()

    def message(self) -> str:
        return self.message_label.text() if not self.message_label.isHidden() else ""

    def accept(self) -> None:
        try:
            value = self.perform()
        except ConflictError as exc:
            version = exc.current.get("version")
            if isinstance(version, int):
                self.expected_version = version
            self.show_message(exc.message + " " + self.tr("Save again to apply your step to the current state, "
                                                          "or cancel."), colors.DUE_SOON)
            self.conflict.emit(exc)
            return
        except RcrmError as exc:
            self.show_message(exc.message, colors.OVERDUE)
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the operator's input
            error_dialogs.log_failure(type(exc), exc.__traceback__)
            self.show_message(self.tr("The step could not be saved because of an unexpected error; details are "
                                      "in the log file."), colors.OVERDUE)
            return
        self.result_value = value
        self.completed.emit(value)
        super().accept()


class VerifyIdentityDialog(RequestActionDialog):
    """Record how the requester's identity was verified (GDPR Art. 12(6)): method, operator, time."""

    METHODS = (
        "Replied from the e-mail address on file",
        "Called back on the phone number on file",
        "Identity document shown in person",
        "Signed letter matching the postal address on file",
        "Logged in to the customer account and sent the request from there",
    )

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None) -> None:
        super().__init__(actor, detail, self_tr("Verify identity"),
                         self_tr("Verify the identity of %1").replace("%1", detail.row.requester_name),
                         self_tr("Record how you made sure the requester is the person the data is about. The "
                                 "method, your name and the time go to the request's timeline; the work on the "
                                 "request starts."), self_tr("Identity verified"), "account-check-outline", parent)
        self.method_combo = QComboBox(self)
        self.method_combo.setEditable(True)
        self.method_combo.addItems([self.tr(m) for m in self.METHODS])
        self.method_combo.setCurrentIndex(-1)
        self.method_combo.lineEdit().setPlaceholderText(self.tr("Choose or describe the method"))
        self.form.addRow(self.tr("&Method:"), self.method_combo)

    def perform(self) -> RequestDetail:
        return rq.verify_identity(self.actor, self.detail.id, self.method_combo.currentText(),
                                  expected_version=self.expected_version)


class WaitDialog(RequestActionDialog):
    """Wait for information from the requester; says plainly that the deadline keeps running."""

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None) -> None:
        due = detail.row.effective_due
        super().__init__(actor, detail, self_tr("Wait for the requester"),
                         self_tr("Ask the requester for information"),
                         self_tr("The request waits until the requester answers. The deadline keeps running "
                                 "(GDPR Art. 12(3)): it stays %1.").replace("%1", _long_date(due)),
                         self_tr("Wait for requester"), "timer-sand", parent)
        self.reason_edit = self.text_box(self.tr("What did you ask for? For example: “Which period of calls do you "
                                                 "mean?”"))
        self.form.addRow(self.tr("&Asked for:"), self.reason_edit)

    def perform(self) -> RequestDetail:
        return rq.wait_for_requester(self.actor, self.detail.id, self.reason_edit.toPlainText(),
                                     expected_version=self.expected_version)


class ExtendDialog(RequestActionDialog):
    """Extend the deadline by one or two further months (GDPR Art. 12(3)), with reasons and notice date."""

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None,
                 today: dt.date | None = None) -> None:
        row = detail.row
        super().__init__(actor, detail, self_tr("Extend the deadline"),
                         self_tr("Extend the deadline of request #%1").replace("%1", str(row.id)),
                         self_tr("Allowed once, by up to two further months, where necessary given the complexity "
                                 "and number of requests — and only if the requester is told, with the reasons, "
                                 "within the first month, by %1 (GDPR Art. 12(3)).").replace(
                                     "%1", _long_date(row.due_on)),
                         self_tr("Extend deadline"), "calendar-clock", parent)
        self.today = today or dt.date.today()
        self.calendar = deadlines.instance_calendar()
        months_row = QWidget(self)
        months_layout = QHBoxLayout(months_row)
        months_layout.setContentsMargins(0, 0, 0, 0)
        self.months_group = QButtonGroup(self)
        self.one_month = QRadioButton(self.tr("1 month"), months_row)
        self.two_months = QRadioButton(self.tr("2 months"), months_row)
        self.two_months.setChecked(True)
        for months, button in ((1, self.one_month), (2, self.two_months)):
            self.months_group.addButton(button, months)
            months_layout.addWidget(button)
        months_layout.addStretch(1)
        self.form.addRow(self.tr("By:"), months_row)
        self.new_due_label = QLabel(self)
        self.new_due_label.setTextFormat(Qt.TextFormat.PlainText)
        self.form.addRow(self.tr("New deadline:"), self.new_due_label)
        self.notified_edit = QDateEdit(self)
        self.notified_edit.setCalendarPopup(True)
        self.notified_edit.setDisplayFormat("yyyy-MM-dd")
        self.notified_edit.setMinimumDate(QDate(row.received_on.year, row.received_on.month, row.received_on.day))
        last = min(self.today, row.due_on)
        self.notified_edit.setMaximumDate(QDate(last.year, last.month, last.day))
        self.notified_edit.setDate(QDate(last.year, last.month, last.day))
        self.form.addRow(self.tr("Requester &told on:"), self.notified_edit)
        self.reason_edit = self.text_box(self.tr("Why is more time necessary? The requester was told these reasons."))
        self.form.addRow(self.tr("&Reasons:"), self.reason_edit)
        self.months_group.idToggled.connect(lambda _id, _on: self._update_due())
        self._update_due()
        if not detail.can_extend:
            self.ok_button.setEnabled(False)
            self.show_message(detail.actions.get("extend") or "", colors.OVERDUE)

    def months(self) -> int:
        return 1 if self.one_month.isChecked() else 2

    def _update_due(self) -> None:
        new_due = deadlines.extended_due_date(self.detail.row.received_on, self.months(), self.calendar)
        self.new_due_label.setText(_long_date(new_due))

    def perform(self) -> RequestDetail:
        day = self.notified_edit.date()
        notified = dt.date(day.year(), day.month(), day.day())
        return rq.extend_deadline(self.actor, self.detail.id, self.months(), self.reason_edit.toPlainText(),
                                  notified, expected_version=self.expected_version, today=self.today)


class RejectDialog(RequestActionDialog):
    """Refuse the request with grounds and reasons (GDPR Art. 12(4), 12(5))."""

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None) -> None:
        super().__init__(actor, detail, self_tr("Reject the request"),
                         self_tr("Reject request #%1").replace("%1", str(detail.id)),
                         self_tr("The requester is told the grounds and reasons and of the right to complain to a "
                                 "supervisory authority (GDPR Art. 12(4)); the response letter says both."),
                         self_tr("Reject request"), "close-circle-outline", parent, destructive=True)
        self.grounds_combo = QComboBox(self)
        for key, label in rq.REJECTION_GROUNDS.items():
            self.grounds_combo.addItem(self.tr(label), key)
        if detail.verified_at is not None:
            index = self.grounds_combo.findData("identity")
            item = self.grounds_combo.model().item(index)  # type: ignore[attr-defined]
            item.setEnabled(False)
            item.setToolTip(self.tr("The identity was verified; this request cannot be refused for it."))
        self.form.addRow(self.tr("&Grounds:"), self.grounds_combo)
        self.exemption_edit = QLineEdit(self)
        self.exemption_edit.setPlaceholderText(self.tr("For example: Art. 17(3)(e) — establishment or defence of "
                                                       "legal claims"))
        self.form.addRow(self.tr("&Exemption:"), self.exemption_edit)
        self.reason_edit = self.text_box(self.tr("Why is the request refused? The requester reads this."), 4)
        self.form.addRow(self.tr("&Reasons:"), self.reason_edit)
        self.grounds_combo.currentIndexChanged.connect(self._grounds_changed)
        self._grounds_changed()

    def _grounds_changed(self) -> None:
        exemption = self.grounds_combo.currentData() == "exemption"
        self.exemption_edit.setEnabled(exemption)
        label = self.form.labelForField(self.exemption_edit)
        if label is not None:
            label.setEnabled(exemption)

    def perform(self) -> RequestDetail:
        grounds = str(self.grounds_combo.currentData())
        return rq.reject_request(self.actor, self.detail.id, grounds, self.reason_edit.toPlainText(),
                                 exemption=self.exemption_edit.text() if grounds == "exemption" else None,
                                 expected_version=self.expected_version)


class TextStepDialog(RequestActionDialog):
    """A step that needs one text: a reason (restrict, object, lift) or a note (resume, complete, withdraw, note)."""

    def __init__(self, actor: Actor, detail: RequestDetail, *, title: str, heading: str, explanation: str,
                 label: str, placeholder: str, ok_text: str, ok_icon: str,
                 action: Callable[[str, int], Any], parent: QWidget | None = None, destructive: bool = False) -> None:
        super().__init__(actor, detail, title, heading, explanation, ok_text, ok_icon, parent,
                         destructive=destructive)
        self.action = action
        self.text_edit = self.text_box(placeholder)
        self.form.addRow(label, self.text_edit)

    def perform(self) -> Any:
        return self.action(self.text_edit.toPlainText(), self.expected_version)


def step_dialog(kind: str, actor: Actor, detail: RequestDetail, parent: QWidget | None = None) -> TextStepDialog:
    """The dialog of a one-text step: ``resume``, ``complete``, ``withdraw``, ``note``, ``restrict``, ``object``,
    ``lift_restriction``, ``lift_objection``."""
    rid = detail.id
    subject_id = detail.row.subject_id
    specs: dict[str, dict[str, Any]] = {
        "resume": dict(
            title=self_tr("Resume"), heading=self_tr("The requester answered"),
            explanation=self_tr("The request goes back to where it was waiting."),
            label=self_tr("&Note:"), placeholder=self_tr("What did the requester answer? (optional)"),
            ok_text=self_tr("Resume"), ok_icon="play-circle-outline",
            action=lambda text, v: rq.resume(actor, rid, text, expected_version=v)),
        "complete": dict(
            title=self_tr("Complete"), heading=self_tr("Complete request #%1").replace("%1", str(rid)),
            explanation=(self_tr("The request is not matched to a user account: say in the note that no data "
                                 "about the requester is held.") if subject_id is None else
                         self_tr("The request is closed; its response letter can then be written.")),
            label=self_tr("&Note:"), placeholder=self_tr("What was done? The letter to the requester quotes it."),
            ok_text=self_tr("Complete request"), ok_icon="check-circle-outline",
            action=lambda text, v: rq.complete_request(actor, rid, text, expected_version=v)),
        "withdraw": dict(
            title=self_tr("Withdraw"), heading=self_tr("The requester withdrew request #%1").replace("%1", str(rid)),
            explanation=self_tr("The request closes without further work."),
            label=self_tr("&Note:"), placeholder=self_tr("How did the requester withdraw it? (optional)"),
            ok_text=self_tr("Withdraw request"), ok_icon="cancel",
            action=lambda text, v: rq.withdraw_request(actor, rid, text, expected_version=v)),
        "note": dict(
            title=self_tr("Add a note"), heading=self_tr("Add a note to request #%1").replace("%1", str(rid)),
            explanation="", label=self_tr("&Note:"), placeholder=self_tr("A call with the requester, a decision…"),
            ok_text=self_tr("Add note"), ok_icon="note-text-outline",
            action=lambda text, _v: rq.add_note(actor, rid, text)),
        "restrict": dict(
            title=self_tr("Restrict processing"), heading=self_tr("Restrict the user account (GDPR Art. 18)"),
            explanation=self_tr("The account's data is kept but no longer used: every view marks it, and its "
                                "recordings can be played, exported or changed only by compliance officers."),
            label=self_tr("&Reason:"), placeholder=self_tr("For example: the requester contests the accuracy of "
                                                           "the data (Art. 18(1)(a))."),
            ok_text=self_tr("Restrict"), ok_icon="lock-outline",
            action=lambda text, v: rq.restrict_subject(actor, rid, text, expected_version=v)),
        "object": dict(
            title=self_tr("Record the objection"), heading=self_tr("Record the objection (GDPR Art. 21)"),
            explanation=self_tr("The account is excluded from usage analytics and from call review queues."),
            label=self_tr("&Reason:"), placeholder=self_tr("What does the requester object to?"),
            ok_text=self_tr("Record objection"), ok_icon="hand-back-left-off",
            action=lambda text, v: rq.object_subject(actor, rid, text, expected_version=v)),
        "lift_restriction": dict(
            title=self_tr("Lift the restriction"), heading=self_tr("Lift the restriction of the user account"),
            explanation=self_tr("GDPR Art. 18(3): the data subject must be told before the restriction is lifted."),
            label=self_tr("&Reason:"), placeholder=self_tr("Why is the restriction lifted, and when was the data "
                                                           "subject told?"),
            ok_text=self_tr("Lift restriction"), ok_icon="lock-open-variant-outline",
            action=lambda text, _v: rq.lift_restriction(actor, subject_id or 0, text, request_id=rid)),
        "lift_objection": dict(
            title=self_tr("Lift the objection"), heading=self_tr("Lift the objection of the user account"),
            explanation=self_tr("For example when compelling legitimate grounds were shown (GDPR Art. 21(1))."),
            label=self_tr("&Reason:"), placeholder=self_tr("Why is the objection lifted?"),
            ok_text=self_tr("Lift objection"), ok_icon="lock-open-variant-outline",
            action=lambda text, _v: rq.lift_objection(actor, subject_id or 0, text, request_id=rid)),
    }
    if kind not in specs:
        raise ValueError(f"no dialog for {kind}")
    return TextStepDialog(actor, detail, parent=parent, destructive=kind == "withdraw", **specs[kind])


class CorrectDataDialog(RectifyDialog):
    """The correction dialog of the Users area, storing the change linked to the rectification request."""

    def __init__(self, actor: Actor, row: subjects.SubjectRow, request: RequestDetail,
                 parent: QWidget | None = None, field: str | None = None) -> None:
        super().__init__(actor, row, parent, field=field)
        self.request = request
        self.request_version = request.row.version
        self.setWindowTitle(self.tr("Correct data — request #%1").replace("%1", str(request.id)))

    def accept(self) -> None:
        field = self.field
        try:
            row = rq.rectify_for_request(self.actor, self.request.id, field, self.new_value(),
                                         self.reason_edit.toPlainText(), subject_version=self._expected_version,
                                         expected_version=self.request_version)
        except ConflictError as exc:
            current = exc.current.get(field)
            if "state" in exc.current:  # the request moved on
                version = exc.current.get("version")
                if isinstance(version, int):
                    self.request_version = version
            else:
                self._current[field] = None if current is None else str(current)
                version = exc.current.get("version")
                if isinstance(version, int):
                    self._expected_version = version
                self._show_current()
            self._show_message(exc.message, colors.DUE_SOON.name())
            self.conflict.emit(exc)
            return
        except (ValidationError, RcrmError) as exc:
            self._show_message(exc.message, colors.OVERDUE.name())
            return
        except Exception as exc:  # noqa: BLE001 - keep the operator's input
            error_dialogs.log_failure(type(exc), exc.__traceback__)
            self._show_message(self.tr("The correction could not be saved because of an unexpected error; "
                                       "details are in the log file."), colors.OVERDUE.name())
            return
        self.result_row = row
        self.rectified.emit(row)
        QDialog.accept(self)


def self_tr(text: str) -> str:
    """Translate in this module's context (for texts built before ``self`` exists)."""
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.translate("RequestActions", text)
