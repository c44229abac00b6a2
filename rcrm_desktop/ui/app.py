"""The GUI front door: ``run_gui(database_url)`` opens the instance, logs the operator in, shows the main window.

Guarantees:

* an instance that cannot be opened (wrong URL, unreachable server, locked or
  corrupt SQLite file, schema newer than the program, ...) is reported in a
  critical message box with core's sentence, and ``run_gui`` returns exit code
  3 — never a traceback;
* ``sys.excepthook`` shows operator errors (``RcrmError``) as plain messages and
  anything else as "what failed, where, and where the log is"; the program goes
  on (``ui.dialogs.errors``);
* log-out returns to the log-in screen; quitting or closing the window ends
  the program; both are audited by core;
* the application follows the system palette (Fusion style) and loads
  ``resources/i18n/rcrm_desktop_<lang>.qm`` for the system locale when it exists.
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QCoreApplication, QEvent, QLibraryInfo, QLocale, QObject, QTimer, QTranslator
from PySide6.QtWidgets import QApplication, QDialog

from rcrm_desktop import APP_ID, APP_NAME, ORG_NAME, __version__, logs, paths
from rcrm_desktop.core import instance as core_instance
from rcrm_desktop.core.instance import OpenedInstance
from rcrm_desktop.db import connection
from rcrm_desktop.errors import InstanceError, RcrmError
from rcrm_desktop.ui import style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.login import LoginDialog
from rcrm_desktop.ui.main_window import MainWindow
from rcrm_desktop.ui.session import AppSession

log = logging.getLogger(__name__)

EXIT_INSTANCE_ERROR = 3


def tr(text: str) -> str:
    return QCoreApplication.translate("app", text)


def install_translators(app: QApplication, locale: QLocale | None = None) -> list[QTranslator]:
    """Qt's own and RCRM Desktop's translations for the system locale, when such files exist.

    ``rcrm_desktop_de_DE.qm`` is tried before ``rcrm_desktop_de.qm`` (``QTranslator.load``'s fallbacks).
    """
    installed: list[QTranslator] = []
    locale = locale or QLocale.system()
    candidates = (
        ("qtbase", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)),
        ("rcrm_desktop", str(paths.resource("i18n"))),
    )
    for name, folder in candidates:
        translator = QTranslator(app)
        if translator.load(locale, name, "_", folder, ".qm"):
            app.installTranslator(translator)
            installed.append(translator)
            log.info("Loaded translation %s for %s", name, locale.name())
        else:
            translator.deleteLater()
    return installed


def create_application(argv: list[str] | None = None) -> QApplication:
    """The one ``QApplication``: names, icon, Fusion style on the system palette, translations."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv if argv is not None else sys.argv)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    style.apply(app)
    app.setWindowIcon(style.app_icon())
    install_translators(app)
    if app.findChild(PaletteWatcher) is None:
        app.installEventFilter(PaletteWatcher(app))
    return app


class PaletteWatcher(QObject):
    """Re-derives the style sheet when the system switches between light and dark."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self._app = app
        self._busy = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._app and event.type() == QEvent.Type.ApplicationPaletteChange and not self._busy:
            self._busy = True
            try:
                style.refresh(self._app)
            finally:
                self._busy = False
        return False


def instance_name() -> str:
    try:
        return core_instance.get_setting("instance_name").strip() or tr("RCRM instance")
    except RcrmError:
        return tr("RCRM instance")


def build_main_window(session: AppSession, *, idle_timeout_ms: int | None = None) -> MainWindow:
    """The main window for a logged-in session (used by ``run_gui`` and by tests)."""
    return MainWindow(session, idle_timeout_ms=idle_timeout_ms)


class SessionController(QObject):
    """Log-in → main window → (log-out → log-in again | quit)."""

    def __init__(self, app: QApplication, instance: OpenedInstance, name: str) -> None:
        super().__init__(app)
        self.app = app
        self.instance = instance
        self.name = name
        self.window: MainWindow | None = None

    def login(self) -> bool:
        """Show the log-in dialog; on success open the main window. ``False`` when the operator quits."""
        dialog = LoginDialog(self.instance, self.name)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.actor is None:
                return False
            session = AppSession(actor=dialog.actor, instance=self.instance, instance_name=self.name)
        finally:
            dialog.deleteLater()
        window = build_main_window(session)
        window.session_ended.connect(self._session_ended)
        self.window = window
        window.show()
        return True

    def _session_ended(self, reason: str) -> None:
        window = self.window
        self.window = None
        if window is not None:
            window.deleteLater()
        if reason == "logout":
            QTimer.singleShot(0, self._login_again)
        else:
            self.app.quit()

    def _login_again(self) -> None:
        if not self.login():
            self.app.quit()


def run_gui(database_url: str | None) -> int:
    """Run the desktop application; returns the process exit code (3: the instance cannot be opened)."""
    logs.setup_logging()
    app = create_application()
    error_dialogs.install_excepthook()
    try:
        opened = core_instance.open_instance(database_url)
    except InstanceError as exc:
        log.error("Cannot open the instance: %s", type(exc).__name__)
        error_dialogs.critical(
            None, tr("Cannot open the instance — %1").replace("%1", APP_NAME), exc.message,
            tr("Check the database given with --database or RCRM_DATABASE_URL, or ask your administrator. "
               "Details are in the log file: %1").replace("%1", str(logs.log_file())))
        return EXIT_INSTANCE_ERROR
    except RcrmError as exc:
        error_dialogs.critical(None, tr("Cannot open the instance — %1").replace("%1", APP_NAME), exc.message)
        return exc.exit_code
    if opened.migrated_from:
        log.info("Instance schema migrated from version %s", opened.migrated_from)
    name = instance_name()
    app.setQuitOnLastWindowClosed(False)
    controller = SessionController(app, opened, name)
    try:
        if not controller.login():
            return 0
        return app.exec()
    finally:
        connection.close()
