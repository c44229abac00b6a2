"""Correct one field of a user account (GDPR Art. 16, right to rectification).

The dialog is a thin front door onto ``core.subjects.rectify_subject``; every
rule (permission, validation, mandatory reason, history, audit, optimistic
concurrency) is enforced there. What the dialog guarantees on top:

* it names the version of the account it showed, so a correction made on
  another workstation in the meantime is refused instead of overwritten;
* a ``ValidationError`` is shown inline and the dialog stays open with what the
  operator typed; a ``ConflictError`` is shown inline with the current value,
  ``conflict`` is emitted so the owner reloads, and the next OK corrects the
  value the operator has now seen;
* it closes only after the correction was stored, and then emits ``rectified``
  with the updated row.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import subjects
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.subjects import SubjectRow
from rcrm_desktop.errors import ConflictError, RcrmError, ValidationError
from rcrm_desktop.ui import colors, icons
from rcrm_desktop.ui.dialogs import errors as error_dialogs

_MIN_BIRTH_DATE = QDate(1890, 1, 1)


def _current_text(row: SubjectRow, field: str) -> str | None:
    value = getattr(row, field)
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class RectifyDialog(QDialog):
    """Choose a field, see its current value, type the corrected one and the reason; OK stores it."""

    #: The correction was stored; carries the updated ``SubjectRow``.
    rectified = Signal(object)
    #: Another workstation changed the account first; carries the ``ConflictError``.
    conflict = Signal(object)

    def __init__(self, actor: Actor, row: SubjectRow, parent: QWidget | None = None,
                 field: str | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self._row = row
        self._expected_version = row.version
        self._current: dict[str, str | None] = {f: _current_text(row, f) for f in subjects.RECTIFIABLE_FIELDS}
        self.result_row: SubjectRow | None = None
        self.setObjectName("RectifyDialog")
        self.setWindowTitle(self.tr("Correct user account"))
        self.setMinimumWidth(520)

        self.field_labels = {
            "name": self.tr("Name"),
            "email": self.tr("E-mail"),
            "phone": self.tr("Phone"),
            "birth_date": self.tr("Date of birth"),
        }

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        self.subject_label = QLabel(self)
        self.subject_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subject_label.setWordWrap(True)
        font = self.subject_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.subject_label.setFont(font)
        layout.addWidget(self.subject_label)
        explain = QLabel(self.tr(
            "The old value, the new value and your reason are kept in this account's change history "
            "(GDPR Art. 16). The audit log records only which field was corrected."), self)
        explain.setWordWrap(True)
        muted = explain.palette()
        muted.setColor(QPalette.ColorRole.WindowText, muted.color(QPalette.ColorRole.PlaceholderText))
        explain.setPalette(muted)
        layout.addWidget(explain)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.field_combo = QComboBox(self)
        for key in subjects.RECTIFIABLE_FIELDS:
            self.field_combo.addItem(self.field_labels.get(key, subjects.RECTIFIABLE_FIELDS[key]), key)
        form.addRow(self.tr("&Field:"), self.field_combo)

        self.current_label = QLabel(self)
        self.current_label.setTextFormat(Qt.TextFormat.PlainText)
        self.current_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current_label.setWordWrap(True)
        form.addRow(self.tr("Current value:"), self.current_label)

        self.value_stack = QStackedWidget(self)
        self.value_edit = QLineEdit(self.value_stack)
        self.value_stack.addWidget(self.value_edit)
        date_page = QWidget(self.value_stack)
        date_row = QHBoxLayout(date_page)
        date_row.setContentsMargins(0, 0, 0, 0)
        self.date_edit = QDateEdit(date_page)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setMinimumDate(_MIN_BIRTH_DATE)
        self.date_edit.setMaximumDate(QDate.currentDate())
        self.date_edit.setMinimumWidth(140)
        date_row.addWidget(self.date_edit)
        self.no_date_check = QCheckBox(self.tr("Remove the date of birth"), date_page)
        self.no_date_check.toggled.connect(lambda on: self.date_edit.setEnabled(not on))
        date_row.addWidget(self.no_date_check)
        date_row.addStretch(1)
        self.value_stack.addWidget(date_page)
        self.value_stack.setSizePolicy(self.value_edit.sizePolicy())
        form.addRow(self.tr("&New value:"), self.value_stack)

        self.reason_edit = QPlainTextEdit(self)
        self.reason_edit.setPlaceholderText(self.tr(
            "Why is this correction needed? For example: “Customer sent a copy of their ID card”."))
        self.reason_edit.setTabChangesFocus(True)
        self.reason_edit.setFixedHeight(self.reason_edit.fontMetrics().lineSpacing() * 4 + 12)
        form.addRow(self.tr("&Reason (required):"), self.reason_edit)
        layout.addLayout(form)

        self.message_label = QLabel(self)
        self.message_label.setObjectName("rectifyMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        layout.addWidget(self.message_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Save correction"))
        self.ok_button.setIcon(icons.icon("content-save-outline"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.field_combo.currentIndexChanged.connect(self._field_changed)
        self._show_row()
        if field is not None and field in subjects.RECTIFIABLE_FIELDS:
            self.field_combo.setCurrentIndex(self.field_combo.findData(field))
        self._field_changed()

    # -- state

    @property
    def field(self) -> str:
        return str(self.field_combo.currentData())

    @property
    def expected_version(self) -> int:
        return self._expected_version

    def set_row(self, row: SubjectRow) -> None:
        """Show a freshly loaded row (after a conflict): current values and the version to correct."""
        if row.id != self._row.id:
            return
        self._row = row
        self._expected_version = row.version
        self._current = {f: _current_text(row, f) for f in subjects.RECTIFIABLE_FIELDS}
        self._show_row()
        self._show_current()

    def _show_row(self) -> None:
        self.subject_label.setText(self.tr("%1 — user ID %2").replace("%1", self._row.name)
                                   .replace("%2", self._row.user_id))

    def _show_current(self) -> None:
        current = self._current.get(self.field)
        self.current_label.setText(current if current is not None else self.tr("(empty)"))

    def _field_changed(self) -> None:
        field = self.field
        self._show_current()
        current = self._current.get(field)
        if field == "birth_date":
            self.value_stack.setCurrentIndex(1)
            day = QDate.fromString(current, "yyyy-MM-dd") if current else QDate(1990, 1, 1)
            self.date_edit.setDate(day)
            self.no_date_check.setChecked(False)
            self.no_date_check.setVisible(current is not None)
        else:
            self.value_stack.setCurrentIndex(0)
            self.value_edit.setText(current or "")
            self.value_edit.selectAll()
            placeholders = {
                "name": self.tr("The name as the person writes it"),
                "email": self.tr("name@example.com — leave empty to remove the e-mail address"),
                "phone": self.tr("+421 900 123 456 — leave empty to remove the phone number"),
            }
            self.value_edit.setPlaceholderText(placeholders.get(field, ""))
        self._hide_message()

    def new_value(self) -> str | None:
        """What the operator typed, as core expects it (``YYYY-MM-DD`` for a date, ``None`` to remove)."""
        if self.field == "birth_date":
            if self.no_date_check.isChecked():
                return None
            return self.date_edit.date().toString("yyyy-MM-dd")
        return self.value_edit.text()

    # -- messages

    def _show_message(self, text: str, color: str) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(
            f"QLabel#rectifyMessage {{ color: {color}; border: 1px solid {color}; border-radius: 4px; "
            "padding: 6px 8px; }")
        self.message_label.show()

    def _hide_message(self) -> None:
        self.message_label.hide()
        self.message_label.clear()

    def message(self) -> str:
        """The inline message shown, or ``""``."""
        return self.message_label.text() if not self.message_label.isHidden() else ""

    # -- accept

    def accept(self) -> None:
        field = self.field
        try:
            row = subjects.rectify_subject(self.actor, self._row.id, field, self.new_value(),
                                           self.reason_edit.toPlainText(),
                                           expected_version=self._expected_version)
        except ConflictError as exc:
            current = exc.current.get(field)
            self._current[field] = None if current is None else str(current)
            version = exc.current.get("version")
            if isinstance(version, int):
                self._expected_version = version
            self._show_current()
            self._show_message(
                self.tr("Another workstation changed this user account while you were editing it. "
                        "The current value is shown above: “%1”. Check it, then save again to correct it, "
                        "or cancel.").replace("%1", "—" if current is None else str(current)),
                colors.DUE_SOON.name())
            self.conflict.emit(exc)
            return
        except ValidationError as exc:
            self._show_message(exc.message, colors.OVERDUE.name())
            if "reason" in exc.message.lower():
                self.reason_edit.setFocus()
            return
        except RcrmError as exc:
            self._show_message(exc.message, colors.OVERDUE.name())
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the operator's input or show a traceback
            error_dialogs.log_failure(type(exc), exc.__traceback__)  # type and frames only: no personal data
            self._show_message(self.tr("The correction could not be saved because of an unexpected error; "
                                       "details are in the log file."), colors.OVERDUE.name())
            return
        self.result_row = row
        self.rectified.emit(row)
        super().accept()
