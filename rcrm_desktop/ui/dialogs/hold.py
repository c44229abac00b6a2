"""The legal-hold dialogs: place a hold (target and reason) and release one (reason).

They only collect and check the input; ``core.holds`` places and releases
(permission, validation and the audit event live there). Each dialog calls
the ``submit`` function it was given and stays open with the sentence when it
is refused (an unknown user ID, a recording already deleted, a hold released
meanwhile on another workstation).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QIntValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings
from rcrm_desktop.core.holds import HoldRow
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, style

#: ``submit(target, value, reason)`` with target ``subject`` (value: a user ID), ``recording`` or
#: ``crash_group`` (value: a number); raises ``RcrmError`` when refused.
AddSubmit = Callable[[str, str, str], None]
#: ``submit(reason)``; raises ``RcrmError`` when refused.
ReleaseSubmit = Callable[[str], None]


def _reason_edit(parent: QWidget, placeholder: str) -> QPlainTextEdit:
    edit = QPlainTextEdit(parent)
    edit.setPlaceholderText(placeholder)
    edit.setTabChangesFocus(True)
    edit.setFixedHeight(edit.fontMetrics().lineSpacing() * 4 + 14)
    return edit


def _error_label(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setObjectName("errorText")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.hide()
    return label


def _info_box(parent: QWidget, text: str) -> QFrame:
    box = QFrame(parent)
    box.setObjectName("infoBox")
    row = QHBoxLayout(box)
    row.setContentsMargins(10, 8, 10, 8)
    row.addWidget(style.icon_label("shield-lock-outline", 22, colors.HOLD, box), 0, Qt.AlignmentFlag.AlignTop)
    label = QLabel(text, box)
    label.setWordWrap(True)
    row.addWidget(label, 1)
    return box


class PlaceHoldDialog(QDialog):
    """Place a legal hold on a user account (by user ID), a recording or a crash group (by number)."""

    def __init__(self, submit: AddSubmit, parent: QWidget | None = None, *, target: str = "subject",
                 value: str = "") -> None:
        super().__init__(parent)
        self.submit = submit
        self.setObjectName("placeHoldDialog")
        self.setWindowTitle(self.tr("Place a legal hold"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(_info_box(self, self.tr(
            "Held items are never removed by retention or erasure until the hold is released (GDPR Art. 17(3)). "
            "A hold on a user account keeps the account and all its data: recordings, crash events and rights "
            "requests.")))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.target = QComboBox(self)
        self.target.setObjectName("holdTarget")
        self.target.addItem(self.tr("User account"), "subject")
        self.target.addItem(self.tr("Recording"), "recording")
        self.target.addItem(self.tr("Crash group"), "crash_group")
        self.target.setCurrentIndex(max(0, self.target.findData(target)))
        form.addRow(self.tr("Hold"), self.target)
        self.value = QLineEdit(value, self)
        self.value.setObjectName("holdValue")
        self.value.setClearButtonEnabled(True)
        form.addRow(self.tr("Which"), self.value)
        self.reason = _reason_edit(self, self.tr("Why it must be kept: the matter, the complaint or the authority's "
                                                 "order (e.g. “Litigation 2026/17, court order of 3 March”)"))
        self.reason.setObjectName("holdReason")
        form.addRow(self.tr("Reason"), self.reason)
        layout.addLayout(form)
        self.error = _error_label(self)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Place hold"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.target.currentIndexChanged.connect(lambda _i: self._target_changed())
        self.value.textChanged.connect(lambda _t: self._check())
        self.reason.textChanged.connect(self._check)
        self._target_changed()
        (self.reason if value else self.value).setFocus(Qt.FocusReason.OtherFocusReason)

    def _target_changed(self) -> None:
        kind = self.target.currentData()
        if kind == "subject":
            self.value.setValidator(None)
            self.value.setPlaceholderText(self.tr("The account's user ID, e.g. U-100234"))
        else:
            self.value.setValidator(QIntValidator(1, 2_000_000_000, self.value))
            self.value.setPlaceholderText(self.tr("The recording's number, e.g. 1024") if kind == "recording"
                                          else self.tr("The crash group's number, e.g. 17"))
        self._check()

    def problem(self) -> str:
        if not self.value.text().strip():
            return self.tr("Name the user account, recording or crash group.")
        reason = self.reason.toPlainText().strip()
        if not reason:
            return self.tr("Give the reason for the hold.")
        if len(reason) > settings.MAX_REASON_LENGTH:
            return self.tr("The reason is %1 characters long; at most %2 are allowed.").replace(
                "%1", fmt.count(len(reason))).replace("%2", fmt.count(settings.MAX_REASON_LENGTH))
        return ""

    def _check(self) -> None:
        self.ok_button.setEnabled(not self.problem())
        self.error.hide()

    def values(self) -> tuple[str, str, str]:
        return str(self.target.currentData()), self.value.text().strip(), self.reason.toPlainText().strip()

    def accept(self) -> None:
        if self.problem():
            return
        try:
            self.submit(*self.values())
        except RcrmError as exc:
            self.error.setText(exc.message)
            self.error.show()
            return
        super().accept()


class ReleaseHoldDialog(QDialog):
    """Release one hold, with the reason (the matter closed, the authority lifted its order)."""

    def __init__(self, hold: HoldRow, submit: ReleaseSubmit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hold = hold
        self.submit = submit
        self.setObjectName("releaseHoldDialog")
        self.setWindowTitle(self.tr("Release legal hold #%1").replace("%1", str(hold.id)))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        title = QLabel(self.tr("Legal hold #%1 on %2").replace("%1", str(hold.id)).replace("%2", hold.target_label),
                       self)
        title.setFont(style.scaled_font(title.font(), 1.1, QFont.Weight.DemiBold))
        title.setWordWrap(True)
        title.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(title)
        placed = style.muted_label(self.tr("Placed %1 by %2: %3").replace("%1", fmt.local_with_relative(
            hold.created_at)).replace("%2", hold.owner).replace("%3", hold.reason), self)
        placed.setWordWrap(True)
        placed.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(placed)
        consequence = self.tr("Once released, retention and erasure may remove what the hold kept, from the next run "
                              "on.")
        if hold.subject_ref and hold.target == "recording":
            consequence += " " + self.tr("This recording belonged to an account that was erased: it is then due for "
                                         "deletion.")
        layout.addWidget(_info_box(self, consequence))
        form = QFormLayout()
        self.reason = _reason_edit(self, self.tr("Why the hold ends (e.g. “Case settled on 2 May”)"))
        self.reason.setObjectName("releaseReason")
        form.addRow(self.tr("Reason"), self.reason)
        layout.addLayout(form)
        self.error = _error_label(self)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Release hold"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.reason.textChanged.connect(self._check)
        self._check()
        self.reason.setFocus(Qt.FocusReason.OtherFocusReason)

    def problem(self) -> str:
        reason = self.reason.toPlainText().strip()
        if not reason:
            return self.tr("Give the reason for releasing the hold.")
        if len(reason) > settings.MAX_REASON_LENGTH:
            return self.tr("The reason is too long.")
        return ""

    def _check(self) -> None:
        self.ok_button.setEnabled(not self.problem())
        self.error.hide()

    def accept(self) -> None:
        if self.problem():
            return
        try:
            self.submit(self.reason.toPlainText().strip())
        except RcrmError as exc:
            self.error.setText(exc.message)
            self.error.show()
            return
        super().accept()
