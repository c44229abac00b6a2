"""Dialogs of the Operators area: add an operator, change a role, reset a password.

Each dialog collects input and hands it to a ``submit`` callable (a ``core``
function bound by the view). The rules — permission, valid user name, password
policy, "keep one active administrator" — are core's; the dialog only checks
that the two password fields match. When core refuses, its message is shown
inline in red and the dialog stays open with what was typed, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core.operators import OperatorInfo
from rcrm_desktop.core.passwords import MIN_PASSWORD_LENGTH
from rcrm_desktop.core.permissions import ROLE_LABELS, Role
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, style


def role_description(role: Role) -> str:
    """What a role may do, in one line (matches ``core.permissions``)."""
    texts = {
        Role.ADMIN: QCoreApplication.translate("roles", "Operators and instance settings; no personal data "
                                                        "beyond the user list."),
        Role.COMPLIANCE: QCoreApplication.translate("roles", "Rights requests, rectification, erasure, "
                                                             "retention, legal holds and the audit log."),
        Role.SUPPORT: QCoreApplication.translate("roles", "Call review and crash reports; user accounts "
                                                          "read-only."),
    }
    return texts[role]


class _FormDialog(QDialog):
    """Icon + title on top, a form, an inline error line and OK/Cancel; ``submit`` runs on OK."""

    def __init__(self, title: str, icon_name: str, intro: str, ok_text: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(460)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(22, 20, 22, 14)
        self.layout_.setSpacing(12)
        head = QHBoxLayout()
        head.setSpacing(12)
        head.addWidget(style.icon_label(icon_name, 32), 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        heading = QLabel(title)
        heading.setFont(style.scaled_font(heading.font(), 1.25, QFont.Weight.DemiBold))
        texts.addWidget(heading)
        if intro:
            texts.addWidget(style.page_subtitle(intro))
        head.addLayout(texts, 1)
        self.layout_.addLayout(head)
        self.form = QFormLayout()
        self.form.setHorizontalSpacing(12)
        self.form.setVerticalSpacing(8)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.layout_.addLayout(self.form)

        self.error_row = QWidget(self)
        err = QHBoxLayout(self.error_row)
        err.setContentsMargins(0, 0, 0, 0)
        err.addWidget(style.icon_label("alert-circle-outline", 18, style.state_color(colors.OVERDUE)), 0,
                      Qt.AlignmentFlag.AlignTop)
        self.error_label = QLabel(self.error_row)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        err.addWidget(self.error_label, 1)
        self.error_row.setVisible(False)
        self.layout_.addWidget(self.error_row)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = QPushButton(ok_text)
        self.ok_button.setDefault(True)
        self.buttons.addButton(self.ok_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        self.layout_.addWidget(self.buttons)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_row.setVisible(True)
        self.adjustSize()

    def _password_pair(self) -> tuple[QLineEdit, QLineEdit]:
        first = QLineEdit(self)
        first.setEchoMode(QLineEdit.EchoMode.Password)
        first.setPlaceholderText(self.tr("At least %1 characters").replace("%1", str(MIN_PASSWORD_LENGTH)))
        second = QLineEdit(self)
        second.setEchoMode(QLineEdit.EchoMode.Password)
        second.setPlaceholderText(self.tr("Type it again"))
        return first, second

    def _check_passwords(self, first: QLineEdit, second: QLineEdit) -> str | None:
        if first.text() != second.text():
            self.show_error(self.tr("The two passwords are not the same."))
            second.selectAll()
            second.setFocus()
            return None
        return first.text()

    def _run(self, action: Callable[[], object]) -> bool:
        """Run the core call; on an ``RcrmError`` show its message and keep the dialog open."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            self.result_value = action()
        except RcrmError as exc:
            self.show_error(exc.message)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.accept()
        return True

    def submit(self) -> None:
        raise NotImplementedError


class AddOperatorDialog(_FormDialog):
    """Add an operator; ``submit(username, display_name, role, password)`` is ``core.operators.create_operator``."""

    def __init__(self, submit: Callable[[str, str, Role, str], object], parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Add operator"), "account-plus-outline",
                         self.tr("Operators log in to RCRM Desktop. Their role decides what they may see and do."),
                         self.tr("Add operator"), parent)
        self._submit = submit
        self.username = QLineEdit(self)
        self.username.setPlaceholderText(self.tr("lower case, e.g. jnovak"))
        self.username.setMaxLength(64)
        self.display_name = QLineEdit(self)
        self.display_name.setPlaceholderText(self.tr("e.g. Jana Nováková"))
        self.role = QComboBox(self)
        for role in Role:
            self.role.addItem(ROLE_LABELS[role], role)
        self.role.setCurrentIndex(self.role.findData(Role.SUPPORT))
        self.role_hint = style.muted_label()
        self.role_hint.setWordWrap(True)
        self.role.currentIndexChanged.connect(self._update_hint)
        self.password, self.confirm = self._password_pair()
        self.form.addRow(self.tr("Operator name"), self.username)
        self.form.addRow(self.tr("Display name"), self.display_name)
        self.form.addRow(self.tr("Role"), self.role)
        self.form.addRow("", self.role_hint)
        self.form.addRow(self.tr("Password"), self.password)
        self.form.addRow(self.tr("Confirm password"), self.confirm)
        self._update_hint()
        self.username.setFocus()

    def _update_hint(self) -> None:
        self.role_hint.setText(role_description(self.role.currentData()))

    def submit(self) -> None:
        password = self._check_passwords(self.password, self.confirm)
        if password is None:
            return
        self._run(lambda: self._submit(self.username.text(), self.display_name.text(), self.role.currentData(),
                                       password))


class ChangeRoleDialog(_FormDialog):
    """Change an operator's role; ``submit(role)`` calls ``core.operators.set_role`` with the version read."""

    def __init__(self, operator: OperatorInfo, submit: Callable[[Role], object], parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Change role"), "account-convert-outline",
                         self.tr("%1 (%2) is now: %3.").replace("%1", operator.display_name)
                         .replace("%2", operator.username).replace("%3", operator.role_label),
                         self.tr("Change role"), parent)
        self._submit = submit
        self.role = QComboBox(self)
        for role in Role:
            self.role.addItem(ROLE_LABELS[role], role)
        self.role.setCurrentIndex(self.role.findData(operator.role))
        self.role_hint = style.muted_label()
        self.role_hint.setWordWrap(True)
        self.role.currentIndexChanged.connect(
            lambda _i: self.role_hint.setText(role_description(self.role.currentData())))
        self.role_hint.setText(role_description(operator.role))
        self.form.addRow(self.tr("New role"), self.role)
        self.form.addRow("", self.role_hint)

    def submit(self) -> None:
        self._run(lambda: self._submit(self.role.currentData()))


class ResetPasswordDialog(_FormDialog):
    """Set a new password for an operator (also lifts a lock-out); ``submit(password)``."""

    def __init__(self, operator: OperatorInfo, submit: Callable[[str], object], parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Reset password"), "lock-reset",
                         self.tr("Set a new password for %1 (%2). This also lifts a lock-out after failed "
                                 "log-ins. Tell them the password in person.")
                         .replace("%1", operator.display_name).replace("%2", operator.username),
                         self.tr("Set password"), parent)
        self._submit = submit
        self.password, self.confirm = self._password_pair()
        self.form.addRow(self.tr("New password"), self.password)
        self.form.addRow(self.tr("Confirm password"), self.confirm)
        self.password.setFocus()

    def submit(self) -> None:
        password = self._check_passwords(self.password, self.confirm)
        if password is None:
            return
        self._run(lambda: self._submit(password))
