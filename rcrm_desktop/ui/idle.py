"""Idle detection for the automatic session lock.

``IdleWatcher`` is an application-wide event filter: every keyboard, mouse,
wheel, touch or tablet event restarts a single-shot timer; when the timer runs
out, ``idle`` is emitted once. The main window locks the session on that signal
(the interval comes from the instance option ``idle_lock_minutes``, so every
workstation of an instance obeys the same rule). The interval is a constructor
argument in milliseconds so tests can use a short one.

The timer runs whether or not the application has focus: a workstation left
with RCRM Desktop in the background still locks.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

#: The events that count as "someone is using the workstation".
INPUT_EVENTS = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.KeyRelease,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
        QEvent.Type.TabletPress,
        QEvent.Type.TabletMove,
        QEvent.Type.InputMethod,
        QEvent.Type.ShortcutOverride,
    }
)


class IdleWatcher(QObject):
    """Emits ``idle`` after ``timeout_ms`` without user input; ``pause``/``resume`` around a lock."""

    idle = Signal()

    def __init__(self, timeout_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, int(timeout_ms)))
        self._timer.timeout.connect(self.idle)
        self._paused = True
        self._installed = False

    @property
    def timeout_ms(self) -> int:
        return self._timer.interval()

    def set_timeout_ms(self, timeout_ms: int) -> None:
        self._timer.setInterval(max(1, int(timeout_ms)))
        if not self._paused:
            self._timer.start()

    def start(self) -> None:
        """Install the filter (once) and start counting."""
        app = QApplication.instance()
        if app is not None and not self._installed:
            app.installEventFilter(self)
            self._installed = True
        self.resume()

    def stop(self) -> None:
        """Stop counting and remove the filter."""
        self.pause()
        app = QApplication.instance()
        if app is not None and self._installed:
            app.removeEventFilter(self)
            self._installed = False

    def pause(self) -> None:
        self._paused = True
        self._timer.stop()

    def resume(self) -> None:
        self._paused = False
        self._timer.start()

    @property
    def active(self) -> bool:
        return not self._paused

    def poke(self) -> None:
        """Count as activity (also what every input event does)."""
        if not self._paused:
            self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._paused and event.type() in INPUT_EVENTS:
            self._timer.start()
        return False
