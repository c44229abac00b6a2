"""The lock screen's dialog: the operator's password unlocks the session, or they log out.

Guarantees:

* the password is checked by ``core.operators.unlock_session``, which counts as
  a log-in attempt: 5 wrong passwords lock the account (core rule) and the
  dialog shows core's message saying so;
* Esc and the window's close button do not unlock (``reject`` is refused); the
  only ways out are the right password (``Accepted``) or "Log out"
  (``LOGGED_OUT``);
* while the dialog is up the main window's content is covered by the caller,
  and the dialog is application-modal, so no shortcut reaches the data behind it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget
from shiboken6 import isValid

from rcrm_desktop.core import operators
from rcrm_desktop.core.permissions import ROLE_LABELS, Actor
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, icons, style, tasks

log = logging.getLogger(__name__)


class LockDialog(QDialog):
    """Application-modal unlock prompt for ``actor``. ``done(LOGGED_OUT)`` when the operator logs out."""

    LOGGED_OUT = 2
    unlocked = Signal(object)  # the re-authenticated Actor

    def __init__(self, actor: Actor, reason: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self._busy = False
        self.setWindowTitle(self.tr("Session locked"))
        self.setWindowModality(Qt.WindowModality.ApplicationModal)
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        self.setMinimumWidth(420)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 18)
        layout.setSpacing(8)
        layout.addWidget(style.icon_label("lock-outline", 48), 0, Qt.AlignmentFlag.AlignHCenter)
        title = QLabel(self.tr("Session locked"))
        title.setFont(style.scaled_font(title.font(), 1.4, QFont.Weight.DemiBold))
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(title)
        who = QLabel(self.tr("%1 (%2) · %3").replace("%1", actor.display_name).replace("%2", actor.username)
                     .replace("%3", ROLE_LABELS[actor.role]))
        who.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(who)
        self.reason_label = style.muted_label(reason or self.tr("Enter your password to go on."))
        self.reason_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.reason_label.setWordWrap(True)
        layout.addWidget(self.reason_label)
        layout.addSpacing(8)

        self.password = QLineEdit(self)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText(self.tr("Password"))
        self.password.setAccessibleName(self.tr("Password"))
        self.password.setMinimumHeight(30)
        layout.addWidget(self.password)

        self.error_row = QWidget(self)
        err = QHBoxLayout(self.error_row)
        err.setContentsMargins(0, 4, 0, 0)
        err.addWidget(style.icon_label("alert-circle-outline", 18, style.state_color(colors.OVERDUE)), 0,
                      Qt.AlignmentFlag.AlignTop)
        self.error_label = QLabel(self.error_row)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        err.addWidget(self.error_label, 1)
        self.error_row.setVisible(False)
        layout.addWidget(self.error_row)

        layout.addSpacing(8)
        buttons = QHBoxLayout()
        self.logout_button = QPushButton(icons.icon("logout"), self.tr("Log out"), self)
        self.logout_button.setAutoDefault(False)
        self.logout_button.clicked.connect(self.log_out)
        self.unlock_button = QPushButton(icons.icon("lock-open-variant-outline"), self.tr("Unlock"), self)
        self.unlock_button.setDefault(True)
        self.unlock_button.setMinimumWidth(110)
        self.unlock_button.clicked.connect(self.try_unlock)
        buttons.addWidget(self.logout_button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlock_button)
        layout.addLayout(buttons)
        self.password.setFocus()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_row.setVisible(True)

    def try_unlock(self) -> None:
        if self._busy:
            return
        password = self.password.text()
        if not password:
            self.show_error(self.tr("Enter your password."))
            return
        self._busy = True
        self.unlock_button.setEnabled(False)
        actor = self.actor
        tasks.run_task(lambda _task: operators.unlock_session(actor, password), self._unlocked, self._failed)

    def _unlocked(self, actor: object) -> None:
        if not isValid(self):
            return
        self._busy = False
        self.unlock_button.setEnabled(True)
        self.password.clear()
        self.unlocked.emit(actor)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._busy = False
        self.unlock_button.setEnabled(True)
        if isinstance(exc, RcrmError):
            self.show_error(exc.message)
        else:
            log.error("Unlock failed unexpectedly: %s", type(exc).__name__)
            self.show_error(self.tr("Unlocking failed because of an unexpected error (%1). See the log file.")
                            .replace("%1", type(exc).__name__))
        self.password.selectAll()
        self.password.setFocus()

    def log_out(self) -> None:
        self.done(self.LOGGED_OUT)

    def reject(self) -> None:
        """Esc does not unlock."""

    def closeEvent(self, event: QCloseEvent) -> None:
        event.ignore()
