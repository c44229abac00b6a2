"""Intake of a rights request, and matching a request to the user account it concerns.

``NewRequestDialog`` records what the law needs from the start: the type, who
asked and how to answer them, the channel, the date of receipt (the deadline
counts from it: one month, GDPR Art. 12(3) — the dialog shows the due date as
it is typed), the user account it concerns (searched by name or user ID) or
"not yet matched", and free-text details. ``core.requests.create_request``
enforces every rule; the dialog shows a refusal inline and keeps the input.

``SubjectPicker`` searches accounts through ``core.subjects.list_subjects``
(audited, like every list of personal data) after a short pause, never per
keystroke.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings
from rcrm_desktop.core import deadlines, subjects
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.requests import RequestDetail
from rcrm_desktop.errors import ConflictError, RcrmError
from rcrm_desktop.ui import colors, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.views.base import SearchField

#: Accounts listed per search in the picker.
PICKER_LIMIT = 25


def _py_date(value: QDate) -> dt.date:
    return dt.date(value.year(), value.month(), value.day())


class SubjectPicker(QWidget):
    """Search a user account by name or user ID and pick one — or say "not yet matched"."""

    changed = Signal()

    def __init__(self, actor: Actor, parent: QWidget | None = None, *, allow_unmatched: bool = True) -> None:
        super().__init__(parent)
        self.actor = actor
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.search = SearchField(self.tr("Search name or user ID"), self)
        self.search.setObjectName("subjectSearch")
        self.search.setMinimumWidth(200)
        layout.addWidget(self.search)
        self.results = QListWidget(self)
        self.results.setObjectName("subjectResults")
        self.results.setMinimumHeight(110)
        self.results.setMaximumHeight(150)
        layout.addWidget(self.results)
        self.status = style.muted_label("", self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.unmatched = QCheckBox(self.tr("Not yet matched — find the account later"), self)
        self.unmatched.setObjectName("notMatched")
        self.unmatched.setVisible(allow_unmatched)
        layout.addWidget(self.unmatched)
        self.search.search_changed.connect(self.run_search)
        self.results.currentItemChanged.connect(lambda *_: self._picked())
        self.unmatched.toggled.connect(self._unmatched_toggled)
        self.status.setText(self.tr("Type part of a name or user ID (accents and case do not matter)."))

    def run_search(self, text: str | None = None) -> None:
        query = (self.search.text() if text is None else text).strip()
        self.results.clear()
        if not query:
            self.status.setText(self.tr("Type part of a name or user ID (accents and case do not matter)."))
            return
        try:
            rows = subjects.list_subjects(self.actor, query, limit=PICKER_LIMIT)
        except RcrmError as exc:
            self.status.setText(exc.message)
            return
        for row in rows:
            marks = []
            if row.restricted:
                marks.append(self.tr("restricted"))
            if row.objected:
                marks.append(self.tr("objected"))
            text = f"{row.user_id} — {row.name}" + (f"  ({', '.join(marks)})" if marks else "")
            detail = " · ".join(v for v in (row.email, row.phone) if v)
            item = QListWidgetItem(icons.icon("lock-outline", style.state_color(colors.RESTRICTED).name())
                                   if row.restricted else icons.icon("account-outline"), text)
            item.setToolTip(detail)
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            self.results.addItem(item)
        if not rows:
            self.status.setText(self.tr("No user account matches “%1”.").replace("%1", query[:60]))
        elif len(rows) >= PICKER_LIMIT:
            self.status.setText(self.tr("The first %1 matches; type more to narrow them.")
                                .replace("%1", str(PICKER_LIMIT)))
        else:
            self.status.setText(style.count_text(len(rows), self.tr("%1 match"), self.tr("%1 matches")))
        if len(rows) == 1:
            self.results.setCurrentRow(0)

    def _picked(self) -> None:
        if self.selected_id() is not None and self.unmatched.isChecked():
            self.unmatched.setChecked(False)
        self.changed.emit()

    def _unmatched_toggled(self, on: bool) -> None:
        if on:
            self.results.clearSelection()
            self.results.setCurrentRow(-1)
        self.changed.emit()

    def selected_id(self) -> int | None:
        item = self.results.currentItem()
        if item is None or not item.isSelected() or self.unmatched.isChecked():
            return None
        value = item.data(Qt.ItemDataRole.UserRole)
        return int(value) if value is not None else None

    def is_decided(self) -> bool:
        return self.unmatched.isChecked() or self.selected_id() is not None


class NewRequestDialog(QDialog):
    """Record a new rights request; ``created`` carries the new ``RequestDetail``."""

    created = Signal(object)

    def __init__(self, actor: Actor, parent: QWidget | None = None, *, today: dt.date | None = None,
                 request_type: str | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.today = today or dt.date.today()
        self.result_detail: RequestDetail | None = None
        self.setObjectName("NewRequestDialog")
        self.setWindowTitle(self.tr("New rights request"))
        self.setMinimumWidth(620)
        try:
            self.calendar = deadlines.instance_calendar()
        except RcrmError:
            self.calendar = deadlines.default_calendar()
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        head = QLabel(self.tr("New rights request"), self)
        head.setFont(style.scaled_font(head.font(), 1.2, QFont.Weight.DemiBold))
        layout.addWidget(head)
        layout.addWidget(style.muted_label(self.tr(
            "Record the request as it arrived. The deadline counts from the date of receipt: one month "
            "(GDPR Art. 12(3)), extendable later by up to two months with reasons."), self))
        layout.itemAt(layout.count() - 1).widget().setWordWrap(True)  # type: ignore[union-attr]

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.type_combo = QComboBox(self)
        self.type_combo.setObjectName("requestType")
        for key, label in rq.TYPES.items():
            self.type_combo.addItem(self.tr(label), key)
        if request_type:
            self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(request_type)))
        form.addRow(self.tr("&Type:"), self.type_combo)
        self.requester_edit = QLineEdit(self)
        self.requester_edit.setObjectName("requesterName")
        self.requester_edit.setMaxLength(settings.MAX_NAME_LENGTH)
        self.requester_edit.setPlaceholderText(self.tr("Who made the request (the person, or who acts for them)"))
        form.addRow(self.tr("&Requester:"), self.requester_edit)
        self.contact_edit = QLineEdit(self)
        self.contact_edit.setObjectName("requesterContact")
        self.contact_edit.setMaxLength(settings.MAX_FIELD_LENGTH)
        self.contact_edit.setPlaceholderText(self.tr("E-mail, phone or postal address to answer to"))
        form.addRow(self.tr("&Contact:"), self.contact_edit)
        self.channel_combo = QComboBox(self)
        for key, label in rq.CHANNELS.items():
            if key != "internal":
                self.channel_combo.addItem(self.tr(label), key)
        form.addRow(self.tr("C&hannel:"), self.channel_combo)
        self.received_edit = QDateEdit(self)
        self.received_edit.setObjectName("receivedOn")
        self.received_edit.setCalendarPopup(True)
        self.received_edit.setDisplayFormat("yyyy-MM-dd")
        qtoday = QDate(self.today.year, self.today.month, self.today.day)
        self.received_edit.setMaximumDate(qtoday)
        self.received_edit.setMinimumDate(qtoday.addYears(-3))
        self.received_edit.setDate(qtoday)
        form.addRow(self.tr("Received &on:"), self.received_edit)
        self.due_label = QLabel(self)
        self.due_label.setObjectName("dueLabel")
        self.due_label.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.tr("Due:"), self.due_label)
        self.picker = SubjectPicker(actor, self)
        form.addRow(self.tr("User &account:"), self.picker)
        self.details_edit = QPlainTextEdit(self)
        self.details_edit.setObjectName("requestDetails")
        self.details_edit.setPlaceholderText(self.tr("What exactly was asked for, in the requester's words"))
        self.details_edit.setTabChangesFocus(True)
        self.details_edit.setFixedHeight(self.details_edit.fontMetrics().lineSpacing() * 4 + 14)
        form.addRow(self.tr("&Details:"), self.details_edit)
        layout.addLayout(form)

        self.message_label = QLabel(self)
        self.message_label.setObjectName("newRequestMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Record request"))
        self.ok_button.setIcon(icons.icon("file-document-plus-outline"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.received_edit.dateChanged.connect(lambda _d: self._update_due())
        self._update_due()
        self.requester_edit.setFocus()
        style.fit_height(self)

    def _update_due(self) -> None:
        received = _py_date(self.received_edit.date())
        due = deadlines.due_date(received, deadlines.ANSWER_MONTHS, self.calendar)
        left = deadlines.days_left(due, self.today)
        when = due.strftime("%A %d %B %Y").replace(" 0", " ")
        if left < 0:
            text = self.tr("%1 — already %2 days overdue").replace("%1", when).replace("%2", str(-left))
            color = colors.OVERDUE
        elif left <= deadlines.DUE_SOON_DAYS:
            text = self.tr("%1 — in %2 days").replace("%1", when).replace("%2", str(left))
            color = colors.DUE_SOON
        else:
            text = self.tr("%1 — in %2 days").replace("%1", when).replace("%2", str(left))
            color = None
        self.due_label.setText(text)
        self.due_label.setStyleSheet(f"color: {style.state_color(color).name()}; font-weight: 600;" if color else "")

    def show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(f"color: {style.state_color(colors.OVERDUE).name()};")
        self.message_label.show()

    def message(self) -> str:
        return self.message_label.text() if not self.message_label.isHidden() else ""

    def accept(self) -> None:
        if not self.picker.is_decided():
            self.show_message(self.tr("Choose the user account the request concerns, or tick “Not yet matched”."))
            self.picker.search.setFocus()
            return
        try:
            detail = rq.create_request(
                self.actor, str(self.type_combo.currentData()), self.requester_edit.text(),
                contact=self.contact_edit.text(), channel=str(self.channel_combo.currentData()),
                received_on=_py_date(self.received_edit.date()), subject_id=self.picker.selected_id(),
                details=self.details_edit.toPlainText(), today=self.today)
        except RcrmError as exc:
            self.show_message(exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - keep the operator's input
            error_dialogs.log_failure(type(exc), exc.__traceback__)
            self.show_message(self.tr("The request could not be recorded because of an unexpected error; details "
                                      "are in the log file."))
            return
        self.result_detail = detail
        self.created.emit(detail)
        super().accept()


class MatchSubjectDialog(QDialog):
    """Match an open request to the user account it concerns; ``matched`` carries the fresh detail."""

    matched = Signal(object)
    conflict = Signal(object)

    def __init__(self, actor: Actor, detail: RequestDetail, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.detail = detail
        self.setObjectName("MatchSubjectDialog")
        self.setWindowTitle(self.tr("Match user account"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        text = self.tr("Which user account is request #%1 from %2 about?").replace("%1", str(detail.id)) \
            .replace("%2", detail.row.requester_name)
        head = QLabel(text, self)
        head.setWordWrap(True)
        head.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(head)
        self.picker = SubjectPicker(actor, self, allow_unmatched=False)
        layout.addWidget(self.picker)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self.message_label.hide()
        layout.addWidget(self.message_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Match"))
        self.ok_button.setIcon(icons.icon("link-variant"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.ok_button.setEnabled(False)
        self.picker.changed.connect(lambda: self.ok_button.setEnabled(self.picker.selected_id() is not None))
        style.fit_height(self)

    def accept(self) -> None:
        subject_id = self.picker.selected_id()
        if subject_id is None:
            return
        try:
            fresh = rq.link_subject(self.actor, self.detail.id, subject_id, expected_version=self.detail.row.version)
        except ConflictError as exc:
            self.message_label.setText(exc.message)
            self.message_label.show()
            self.conflict.emit(exc)
            return
        except RcrmError as exc:
            self.message_label.setText(exc.message)
            self.message_label.setStyleSheet(f"color: {style.state_color(colors.OVERDUE).name()};")
            self.message_label.show()
            return
        self.matched.emit(fresh)
        super().accept()
