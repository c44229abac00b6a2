"""How the GUI tells people that something went wrong (and asks them to confirm).

Two kinds of failure (``rcrm_desktop.errors``):

* an ``RcrmError`` is a rule or a condition the operator can act on; its message
  is a complete sentence and is shown as it is, in a plain message box, with no
  traceback;
* anything else is a bug. ``UnexpectedErrorDialog`` says what failed (the
  exception type), where (the function), and where the log file is; the program
  goes on. The log gets the exception type and the stack frames but not the
  exception's message, which could quote personal data (privacy rules: the log
  never holds personal data).

Every message box of the GUI goes through ``_exec_box`` so tests can replace it
instead of blocking on a modal dialog.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType

from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import APP_NAME, logs
from rcrm_desktop.errors import AuthenticationError, ConflictError, PermissionDenied, RcrmError, ValidationError
from rcrm_desktop.ui import colors, style

log = logging.getLogger(__name__)


def tr(text: str) -> str:
    return QCoreApplication.translate("errors", text)


def _exec_box(box: QMessageBox) -> QMessageBox.StandardButton:
    """Show ``box`` modally and return the button pressed (tests replace this function)."""
    return QMessageBox.StandardButton(box.exec())


def message_box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str,
                informative: str = "",
                buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
                default: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
                ) -> QMessageBox.StandardButton:
    """A message box in house style; returns the button pressed."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if informative:
        box.setInformativeText(informative)
    if default != QMessageBox.StandardButton.NoButton:
        box.setDefaultButton(default)
    return _exec_box(box)


def _title_for(exc: RcrmError) -> str:
    if isinstance(exc, PermissionDenied):
        return tr("Not allowed")
    if isinstance(exc, ValidationError):
        return tr("Check the input")
    if isinstance(exc, ConflictError):
        return tr("Changed on another workstation")
    if isinstance(exc, AuthenticationError):
        return tr("Log-in refused")
    return tr("Cannot complete the action")


def show_error(parent: QWidget | None, exc: BaseException, what: str = "") -> None:
    """Show an error: an ``RcrmError`` as its plain message, anything else as an unexpected error.

    ``what`` names the action that failed ("Add operator"); it becomes the title.
    """
    if isinstance(exc, RcrmError):
        message_box(parent, QMessageBox.Icon.Warning, what or _title_for(exc), exc.message)
        return
    show_unexpected(type(exc), exc, exc.__traceback__, parent)


def confirm(parent: QWidget | None, title: str, text: str, informative: str = "", *,
            destructive: bool = False) -> bool:
    """Ask a yes/no question; ``destructive`` makes "No" the default button."""
    answer = message_box(
        parent, QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question, title, text, informative,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No if destructive else QMessageBox.StandardButton.Yes,
    )
    return answer == QMessageBox.StandardButton.Yes


def critical(parent: QWidget | None, title: str, text: str, informative: str = "") -> None:
    message_box(parent, QMessageBox.Icon.Critical, title, text, informative)


@dataclass(frozen=True)
class FailureInfo:
    """What failed and where, without the exception's message (safe for the log)."""

    type_name: str
    function: str
    location: str

    @classmethod
    def of(cls, exc_type: type[BaseException], tb: TracebackType | None) -> FailureInfo:
        frames = traceback.extract_tb(tb) if tb is not None else []
        if frames:
            last = frames[-1]
            module = last.filename.replace("\\", "/").rsplit("/", 1)[-1]
            return cls(exc_type.__name__, f"{last.name}()", f"{module}:{last.lineno}")
        return cls(exc_type.__name__, tr("(unknown function)"), "")


def log_failure(exc_type: type[BaseException], tb: TracebackType | None) -> FailureInfo:
    info = FailureInfo.of(exc_type, tb)
    # File, line and function only: source lines and the message could quote personal data.
    frames = [f"  {f.filename}:{f.lineno} in {f.name}()" for f in traceback.extract_tb(tb)] if tb else []
    log.error("Unexpected %s in %s (%s)\n%s", info.type_name, info.function, info.location, "\n".join(frames))
    return info


class UnexpectedErrorDialog(QDialog):
    """Says what failed, where, and where the log is; offers to open the log folder; the program goes on."""

    def __init__(self, info: FailureInfo, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle(self.tr("Unexpected error — %1").replace("%1", APP_NAME))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        head = QHBoxLayout()
        head.addWidget(style.icon_label("alert-octagon-outline", 40, colors.OVERDUE), 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(self.tr("Something went wrong, but RCRM Desktop is still running."))
        title.setFont(style.scaled_font(title.font(), 1.15, QFont.Weight.DemiBold))
        title.setWordWrap(True)
        head.addWidget(title, 1)
        layout.addLayout(head)
        where = self.tr("<b>What failed:</b> %1<br><b>Where:</b> %2 <span style='color:gray'>(%3)</span>")
        self.what_label = QLabel(where.replace("%1", info.type_name).replace("%2", info.function)
                                 .replace("%3", info.location or "—"))
        self.what_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.what_label)
        if message:
            detail = QPlainTextEdit(message)
            detail.setReadOnly(True)
            detail.setMaximumHeight(80)
            layout.addWidget(detail)
        log_path = logs.log_file()
        self.log_label = QLabel(
            self.tr("Details were written to the log file:<br><code>%1</code><br>"
                    "The action you tried may not have completed; check the result before going on.")
            .replace("%1", str(log_path)))
        self.log_label.setWordWrap(True)
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.log_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        open_log = QPushButton(self.tr("Open log folder"))
        buttons.addButton(open_log, QDialogButtonBox.ButtonRole.ActionRole)
        open_log.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_path.parent))))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def _exec_dialog(dialog: QDialog) -> int:
    """Run a modal dialog (tests replace this function)."""
    return dialog.exec()


_showing = False


def show_unexpected(exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None,
                    parent: QWidget | None = None) -> None:
    """Log an unexpected exception and show ``UnexpectedErrorDialog`` (never re-entrantly)."""
    global _showing
    info = log_failure(exc_type, tb)
    if _showing or QApplication.instance() is None:
        return
    _showing = True
    try:
        dialog = UnexpectedErrorDialog(info, str(exc) if exc is not None else "", parent or _active_window())
        _exec_dialog(dialog)
        dialog.deleteLater()
    finally:
        _showing = False


def _active_window() -> QWidget | None:
    return QApplication.activeWindow()


def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """``sys.excepthook`` of the GUI: operator errors as plain messages, bugs as ``UnexpectedErrorDialog``."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        if isinstance(exc, RcrmError):
            log.info("Operator-facing error: %s", exc_type.__name__)
            show_error(_active_window(), exc)
        else:
            show_unexpected(exc_type, exc, tb)
    except Exception:  # noqa: BLE001 - the hook itself must never take the program down
        sys.__excepthook__(exc_type, exc, tb)


def install_excepthook() -> None:
    sys.excepthook = excepthook
