"""The log-in screen: operator name and password, checked by ``core.operators.authenticate``.

Guarantees:

* the password is checked by core (Argon2id, lock-out after 5 failures); the
  dialog only shows the reason core gives, inline and in red, so a locked
  account says for how long;
* the demo credentials (``demo_login_hint``) are shown only when the instance
  itself says it is a demo (``is_demo_instance``); a real instance never shows
  them, whatever the setting holds;
* the instance URL is shown redacted (no password).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from rcrm_desktop import APP_NAME, __version__
from rcrm_desktop.core import instance as core_instance
from rcrm_desktop.core import operators
from rcrm_desktop.core.instance import OpenedInstance
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, style, tasks
from rcrm_desktop.ui.views.base import app_settings

log = logging.getLogger(__name__)


class LoginDialog(QDialog):
    """Asks for operator name and password; ``actor`` holds the logged-in operator once accepted."""

    def __init__(self, instance: OpenedInstance, instance_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.instance = instance
        self.instance_name = instance_name or instance.redacted_url
        self.actor: Actor | None = None
        self._busy = False
        self.setWindowTitle(self.tr("Log in — %1").replace("%1", APP_NAME))
        self.setWindowIcon(style.app_icon())
        self.setMinimumWidth(460)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_header())

        body = QWidget(self)
        form = QVBoxLayout(body)
        form.setContentsMargins(32, 22, 32, 10)
        form.setSpacing(6)

        self.demo_box = self._build_demo_box()
        if self.demo_box is not None:
            form.addWidget(self.demo_box)
            form.addSpacing(10)
        self.setup_box = self._build_setup_box()
        if self.setup_box is not None:
            form.addWidget(self.setup_box)
            form.addSpacing(10)

        form.addWidget(self._caption(self.tr("Operator name")))
        self.username = QLineEdit(body)
        self.username.setPlaceholderText(self.tr("e.g. jnovak"))
        self.username.setAccessibleName(self.tr("Operator name"))
        self.username.setMinimumHeight(30)
        form.addWidget(self.username)
        form.addSpacing(8)
        form.addWidget(self._caption(self.tr("Password")))
        self.password = QLineEdit(body)
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName(self.tr("Password"))
        self.password.setMinimumHeight(30)
        form.addWidget(self.password)

        self.error_row = QWidget(body)
        err = QHBoxLayout(self.error_row)
        err.setContentsMargins(0, 6, 0, 0)
        err.addWidget(style.icon_label("alert-circle-outline", 18, style.state_color(colors.OVERDUE)), 0,
                      Qt.AlignmentFlag.AlignTop)
        self.error_label = QLabel(self.error_row)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        err.addWidget(self.error_label, 1)
        self.error_row.setVisible(False)
        form.addWidget(self.error_row)

        form.addSpacing(14)
        buttons = QHBoxLayout()
        self.quit_button = QPushButton(self.tr("Quit"), body)
        self.quit_button.setAutoDefault(False)
        self.quit_button.clicked.connect(self.reject)
        self.login_button = QPushButton(self.tr("Log in"), body)
        self.login_button.setDefault(True)
        self.login_button.setMinimumWidth(120)
        self.login_button.setMinimumHeight(32)
        self.login_button.clicked.connect(self.try_login)
        buttons.addWidget(self.quit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.login_button)
        form.addLayout(buttons)
        outer.addWidget(body)

        outer.addWidget(self._build_footer())

        QShortcut(QKeySequence.StandardKey.Quit, self, activated=self.reject)
        last = str(app_settings().value("login/last_operator", "") or "")
        if last:
            self.username.setText(last)
            self.password.setFocus()
        else:
            self.username.setFocus()

    # -- building

    def _caption(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setFont(style.scaled_font(label.font(), 1.0, QFont.Weight.DemiBold))
        return label

    def _build_header(self) -> QFrame:
        band = QFrame(self)
        band.setObjectName("headerBand")
        row = QHBoxLayout(band)
        row.setContentsMargins(32, 24, 32, 20)
        row.setSpacing(16)
        logo = QLabel(band)
        logo.setPixmap(style.app_icon().pixmap(56, 56))
        logo.setFixedSize(56, 56)
        row.addWidget(logo, 0, Qt.AlignmentFlag.AlignVCenter)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        title = QLabel(APP_NAME, band)
        title.setFont(style.scaled_font(title.font(), 1.7, QFont.Weight.DemiBold))
        texts.addWidget(title)
        self.instance_label = QLabel(self.tr("Log in to %1").replace("%1", self.instance_name), band)
        self.instance_label.setObjectName("pageSubtitle")
        self.instance_label.setWordWrap(True)
        texts.addWidget(self.instance_label)
        row.addLayout(texts, 1)
        return band

    def _build_demo_box(self) -> QFrame | None:
        if not core_instance.is_demo_instance():
            return None
        try:
            hint = core_instance.get_setting("demo_login_hint").strip()
        except RcrmError:
            hint = ""
        box = QFrame(self)
        box.setObjectName("infoBox")
        row = QHBoxLayout(box)
        row.setContentsMargins(12, 10, 12, 10)
        row.setSpacing(10)
        row.addWidget(style.icon_label("information-outline", 22, style.state_color(colors.HOLD)), 0,
                      Qt.AlignmentFlag.AlignTop)
        text = self.tr("<b>Demo instance</b> — made-up data for trying RCRM Desktop; never use it for real cases.")
        if hint:
            text += "<br>" + self.tr("Demo log-in: %1").replace("%1", _escape(hint))
        self.demo_label = QLabel(text, box)
        self.demo_label.setWordWrap(True)
        self.demo_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.demo_label, 1)
        return box

    def _build_setup_box(self) -> QFrame | None:
        try:
            empty = operators.operator_count() == 0
        except RcrmError:
            return None
        if not empty:
            return None
        box = QFrame(self)
        box.setObjectName("errorBox")
        row = QHBoxLayout(box)
        row.setContentsMargins(12, 10, 12, 10)
        row.addWidget(style.icon_label("account-alert-outline", 22, style.state_color(colors.OVERDUE)), 0,
                      Qt.AlignmentFlag.AlignTop)
        label = QLabel(self.tr("This instance has no operators yet. Create the first administrator with "
                               "<code>rcrm-desktop init</code>, then log in here."), box)
        label.setWordWrap(True)
        row.addWidget(label, 1)
        return box

    def _build_footer(self) -> QFrame:
        band = QFrame(self)
        band.setObjectName("headerBand")
        band.setStyleSheet("QFrame#headerBand { border-bottom: none; }")
        row = QHBoxLayout(band)
        row.setContentsMargins(32, 8, 32, 8)
        row.addWidget(style.icon_label("database-outline", 16))
        where = QLabel(band)
        where.setObjectName("muted")
        url = self.instance.redacted_url
        metrics = where.fontMetrics()
        where.setText(self.tr("%1 · %2").replace("%1", style.engine_label(self.instance.engine))
                      .replace("%2", metrics.elidedText(url, Qt.TextElideMode.ElideMiddle, 300)))
        where.setToolTip(url)
        row.addWidget(where, 1)
        version = QLabel(self.tr("Version %1").replace("%1", __version__), band)
        version.setObjectName("muted")
        row.addWidget(version)
        return band

    # -- behaviour

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_row.setVisible(True)

    def try_login(self) -> None:
        """Check the credentials (off the UI thread); accept on success, show core's reason on failure."""
        if self._busy:
            return
        username = self.username.text().strip()
        password = self.password.text()
        if username and not password and self.username.hasFocus():
            self.password.setFocus()  # Enter in the name field moves on, like Tab
            return
        if not username or not password:
            self.show_error(self.tr("Enter your operator name and password."))
            (self.username if not username else self.password).setFocus()
            return
        self._set_busy(True)
        tasks.run_task(lambda _task: operators.authenticate(username, password), self._logged_in, self._failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.login_button.setEnabled(not busy)
        self.login_button.setText(self.tr("Checking…") if busy else self.tr("Log in"))
        self.username.setEnabled(not busy)
        self.password.setEnabled(not busy)

    def _logged_in(self, actor: object) -> None:
        if not isValid(self):
            return
        self._set_busy(False)
        assert isinstance(actor, Actor)
        self.actor = actor
        settings = app_settings()
        settings.setValue("login/last_operator", actor.username)
        settings.sync()
        self.password.clear()
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._set_busy(False)
        if isinstance(exc, RcrmError):
            self.show_error(exc.message)
        else:
            log.error("Log-in failed unexpectedly: %s", type(exc).__name__)
            self.show_error(self.tr("Log-in failed because of an unexpected error (%1). See the log file.")
                            .replace("%1", type(exc).__name__))
        self.password.selectAll()
        self.password.setFocus()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
