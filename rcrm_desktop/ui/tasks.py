"""Background work for the GUI: one ``run_task`` helper on ``QThreadPool``.

Rules (ARCHITECTURE.md, Qt patterns): a ``QRunnable`` is not a ``QObject``, so
each task owns a small ``TaskSignals`` object; results, errors and progress come
back to the main thread through queued signals; nothing touches a widget off the
main thread; database work runs inside ``database.connection_context()`` so the
worker thread has its own connection and closes it. A task is cancelled through
its ``Task.cancel()``; the function polls ``task.cancelled`` (or gets ``False``
back from its progress callback) and stops.

Tests swap in a synchronous runner with ``set_synchronous(True)`` (as Picard's
``FakeThreadPool`` does) so results arrive before the call returns.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from rcrm_desktop.db.models import database

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], bool]


class TaskSignals(QObject):
    done = Signal(object)
    failed = Signal(object)
    progress = Signal(int, int, str)


class Task(QRunnable):
    """One unit of background work. ``fn(task)`` gets the task so it can report and check for cancel."""

    def __init__(self, fn: Callable[[Task], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self.setAutoDelete(False)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def report(self, done: int, total: int, text: str = "") -> bool:
        """Report progress; returns ``False`` once the task was cancelled."""
        self.signals.progress.emit(done, total, text)
        return not self.cancelled

    def run(self) -> None:
        try:
            if database.obj is not None and not _synchronous:
                with database.connection_context():
                    result = self.fn(self)
            else:
                result = self.fn(self)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller's on_error
            log.debug("Background task failed: %s", traceback.format_exc())
            self.signals.failed.emit(exc)
            return
        self.signals.done.emit(result)


_synchronous = False
_running: set[Task] = set()


def set_synchronous(value: bool) -> None:
    """Run tasks in the calling thread (tests)."""
    global _synchronous
    _synchronous = value


def run_task(fn: Callable[[Task], Any], on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[BaseException], None] | None = None,
             progress: Callable[[int, int, str], None] | None = None) -> Task:
    """Run ``fn(task)`` off the UI thread; callbacks run on the UI thread."""
    task = Task(fn)
    _running.add(task)

    def finished_ok(result: object) -> None:
        _running.discard(task)
        if on_done is not None:
            on_done(result)

    def finished_err(exc: object) -> None:
        _running.discard(task)
        if on_error is not None:
            on_error(exc)  # type: ignore[arg-type]
        else:
            log.error("Unhandled background error: %s", exc)

    task.signals.done.connect(finished_ok)
    task.signals.failed.connect(finished_err)
    if progress is not None:
        task.signals.progress.connect(progress)
    if _synchronous:
        task.run()
    else:
        QThreadPool.globalInstance().start(task)
    return task


def wait_for_all(timeout_ms: int = 30000) -> bool:
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
