"""The progress dialog of background work: one way to open, update and close it.

Every long job (imports, re-scrub, retention runs, access packages) shows a
window-modal ``QProgressDialog`` with a Cancel button while a ``ui.tasks``
task runs. One rule matters and is kept here once: ``setValue()`` on a modal
progress dialog processes events, so the task may finish — and its owner close
the dialog — inside that call. ``update_progress`` therefore sets the label
and range first and the value last, and never touches the dialog afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QProgressDialog, QWidget


def open_progress(parent: QWidget, title: str, label: str, *, minimum_width: int = 460,
                  minimum_duration_ms: int = 300) -> QProgressDialog:
    """A window-modal progress dialog that stays open until ``close_progress`` (no auto-close or reset)."""
    dialog = QProgressDialog(label, QCoreApplication.translate("progress", "Cancel"), 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(minimum_duration_ms)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setMinimumWidth(minimum_width)
    return dialog


def update_progress(dialog: QProgressDialog | None, done: int, total: int, label: str | None = None) -> None:
    """Show ``done`` of ``total`` (and ``label`` when given); the value is set last (see the module docstring)."""
    if dialog is None:
        return
    if label is not None:
        dialog.setLabelText(label)
    dialog.setMaximum(max(total, done, 1))
    dialog.setValue(done)


def close_progress(dialog: QProgressDialog | None) -> None:
    """Close and dispose of a dialog from ``open_progress`` (``None`` is allowed)."""
    if dialog is not None:
        dialog.reset()
        dialog.close()
        dialog.deleteLater()
