"""The call player: QMediaPlayer with the waveform, transport, speed, volume, loop and per-lane mute/solo.

What it guarantees:

* **Playback is audited before a sample is heard.** The media source is set
  only after ``core.recordings.record_play`` allowed and recorded the listen
  (``recording.play``); a refusal — no permission, a restricted subject (GDPR
  Art. 18), a missing file — is shown as its sentence and nothing plays.
  One loaded recording is one listen: pausing and resuming is not a new event.
* **The window never waits for audio work.** The waveform is computed by a
  background task (``ui.tasks.run_task`` → ``core.recordings.waveform``) with
  progressive snapshots; loading another recording cancels it. The lane copies
  for mute/solo and the samples for deep zoom are background tasks too.
* **Mute/solo really silences a lane.** QMediaPlayer cannot mute one channel of
  a file, so a muted lane switches playback to a WAV copy of the call with
  that lane silenced (``core.recordings.playback_copy``, cached under the
  audio's SHA-256); position and play state carry over, and the waveform greys
  the lane out and labels it "muted".
* ``QAudioOutput`` is created with the player as its parent (a collected output
  crashes the process).

Keys (installed by the player, or by its owner with ``install_shortcuts=False``):
Space play/pause, ←/→ skip 5 s; on the waveform ``+``/``-``/``0`` zoom, Esc clears
the selection. Positions and durations read ``mm:ss`` (``h:mm:ss`` from an hour).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollBar,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.audio.peaks import Peaks, PeaksCancelled
from rcrm_desktop.core import recordings
from rcrm_desktop.core.recordings import PlaybackGrant, RecordingDetail
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.tasks import Task, run_task
from rcrm_desktop.ui.widgets.flow import FlowLayout
from rcrm_desktop.ui.widgets.waveform import Marker, Region, WaveformWidget, clock

log = logging.getLogger(__name__)

SKIP_MS = 5000
SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
#: How often the playhead follows the player while playing (smooth drawing, precise loops).
TICK_MS = 33


class PlayerWidget(QFrame):
    """See the module docstring."""

    #: A listen was allowed and audited (recording id): the owner may refresh the access history.
    played = Signal(int)
    #: The waveform selection changed: ``(start_ms, end_ms)`` or ``(-1, -1)``.
    selection_changed = Signal(int, int)
    #: An annotation marker was clicked (annotation id).
    marker_clicked = Signal(int)

    def __init__(self, session: AppSession, parent: QWidget | None = None, *,
                 install_shortcuts: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("player")
        self.session = session
        self.detail: RecordingDetail | None = None
        self.recording_id: int | None = None
        self.grant: PlaybackGrant | None = None
        self.source_path: Path | None = None
        self.peaks: Peaks | None = None
        self.last_error = ""
        self._generation = 0
        self._wave_task: Task | None = None
        self._pending_seek: int | None = None
        self._resume_after_switch = False
        self._muted = [False, False]
        self._solo = [False, False]

        self.player = QMediaPlayer(self)
        self.audio = QAudioOutput(self.player)  # parented to the player: see the module docstring
        self.player.setAudioOutput(self.audio)
        self.audio.setVolume(0.8)
        self.player.playbackStateChanged.connect(self._state_changed)
        self.player.mediaStatusChanged.connect(self._media_status)
        self.player.errorOccurred.connect(self._media_error)
        self.player.positionChanged.connect(lambda _p: self._sync_position())

        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._sync_position)

        self._build()
        if install_shortcuts:
            self.install_shortcuts(self)
        self.unload()

    # ------------------------------------------------------------ building

    def _tool(self, icon_name: str, tip: str, slot: Callable[[], Any], *, checkable: bool = False,
              name: str = "") -> QToolButton:
        button = QToolButton(self)
        button.setIcon(icons.icon(icon_name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setCheckable(checkable)
        if name:
            button.setObjectName(name)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.waveform = WaveformWidget(self)
        self.waveform.seek_requested.connect(self.seek)
        self.waveform.selection_changed.connect(self._selection_changed)
        self.waveform.marker_clicked.connect(self.marker_clicked)
        self.waveform.view_changed.connect(self._view_changed)
        self.waveform.window_wanted.connect(self._load_window)
        layout.addWidget(self.waveform, 1)
        self.scroll = QScrollBar(Qt.Orientation.Horizontal, self)
        self.scroll.setObjectName("waveformScroll")
        self.scroll.valueChanged.connect(self._scrolled)
        layout.addWidget(self.scroll)

        # Two groups that share a row when the pane is wide and wrap into two rows when it is not: in one
        # fixed row they needed ≈ 560 px, and in a 1280-px window's detail pane the time ran under the buttons.
        self.transport_bar = QWidget(self)
        self.transport_bar.setObjectName("transportBar")
        bar = FlowLayout(self.transport_bar, spacing=14)
        playing = QWidget(self.transport_bar)
        transport = QHBoxLayout(playing)
        transport.setContentsMargins(0, 0, 0, 0)
        transport.setSpacing(2)
        self.back_button = self._tool("rewind-5", self.tr("Back 5 seconds (←)"), lambda: self.skip(-SKIP_MS),
                                      name="skipBack")
        self.play_button = QToolButton(self)
        self.play_button.setObjectName("playButton")
        self.play_button.setIconSize(self.play_button.iconSize() * 1.6)
        self.play_button.setAutoRaise(True)
        self.play_button.clicked.connect(self.toggle_play)
        self.forward_button = self._tool("fast-forward-5", self.tr("Forward 5 seconds (→)"),
                                         lambda: self.skip(SKIP_MS), name="skipForward")
        for button in (self.back_button, self.play_button, self.forward_button):
            transport.addWidget(button)
        self.position_label = QLabel(self)
        self.position_label.setObjectName("positionLabel")
        mono = QFont(self.position_label.font())
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setFamily("monospace")
        mono.setWeight(QFont.Weight.DemiBold)
        self.position_label.setFont(mono)
        self.position_label.setMinimumWidth(self.position_label.fontMetrics().horizontalAdvance("0:00:00 / 0:00:00")
                                            + 12)
        transport.addSpacing(6)
        transport.addWidget(self.position_label)
        self.loop_button = self._tool("repeat", self.tr("Loop the selected region (select it on the waveform)"),
                                      self._loop_toggled, checkable=True, name="loopButton")
        transport.addWidget(self.loop_button)
        bar.addWidget(playing)
        settings_group = QWidget(self.transport_bar)
        transport = QHBoxLayout(settings_group)
        transport.setContentsMargins(0, 0, 0, 0)
        transport.setSpacing(2)

        self.speed_combo = QComboBox(self)
        self.speed_combo.setObjectName("speedCombo")
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed:g}×", speed)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.setToolTip(self.tr("Playback speed"))
        self.speed_combo.currentIndexChanged.connect(lambda _i: self.set_speed(self.speed_combo.currentData()))
        transport.addWidget(style.icon_label("speedometer", 16, parent=self))
        transport.addWidget(self.speed_combo)
        transport.addSpacing(8)
        self.mute_button = self._tool("volume-high", self.tr("Mute"), self._toggle_mute, checkable=True,
                                      name="muteButton")
        transport.addWidget(self.mute_button)
        self.volume = QSlider(Qt.Orientation.Horizontal, self)
        self.volume.setObjectName("volumeSlider")
        self.volume.setRange(0, 100)
        self.volume.setValue(80)
        self.volume.setFixedWidth(90)
        self.volume.setToolTip(self.tr("Volume"))
        self.volume.valueChanged.connect(self.set_volume)
        transport.addWidget(self.volume)
        transport.addSpacing(8)
        self.zoom_out_button = self._tool("magnify-minus-outline", self.tr("Zoom out (−, Ctrl+wheel)"),
                                          self.waveform.zoom_out, name="zoomOut")
        self.zoom_fit_button = self._tool("arrow-expand-horizontal", self.tr("Show the whole call (0)"),
                                          self.waveform.zoom_fit, name="zoomFit")
        self.zoom_in_button = self._tool("magnify-plus-outline", self.tr("Zoom in (+, Ctrl+wheel)"),
                                         self.waveform.zoom_in, name="zoomIn")
        for button in (self.zoom_out_button, self.zoom_fit_button, self.zoom_in_button):
            transport.addWidget(button)
        bar.addWidget(settings_group)
        layout.addWidget(self.transport_bar)

        self.lanes_row = QWidget(self)
        lanes = QHBoxLayout(self.lanes_row)
        lanes.setContentsMargins(2, 0, 2, 0)
        lanes.setSpacing(4)
        self.lane_buttons: list[tuple[QToolButton, QToolButton]] = []
        for lane, name in enumerate((self.tr("Agent"), self.tr("Customer"))):
            caption = QLabel(name, self.lanes_row)
            caption.setObjectName("fieldCaption")
            mute = QToolButton(self.lanes_row)
            mute.setText(self.tr("M"))
            mute.setCheckable(True)
            mute.setObjectName(f"muteLane{lane}")
            mute.setToolTip(self.tr("Mute the %1's lane").replace("%1", name.lower()))
            solo = QToolButton(self.lanes_row)
            solo.setText(self.tr("S"))
            solo.setCheckable(True)
            solo.setObjectName(f"soloLane{lane}")
            solo.setToolTip(self.tr("Hear only the %1's lane").replace("%1", name.lower()))
            mute.toggled.connect(lambda on, i=lane: self.set_lane(i, mute=on))
            solo.toggled.connect(lambda on, i=lane: self.set_lane(i, solo=on))
            lanes.addWidget(caption)
            lanes.addWidget(mute)
            lanes.addWidget(solo)
            lanes.addSpacing(10)
            self.lane_buttons.append((mute, solo))
        lanes.addStretch(1)
        self.status_label = QLabel(self.lanes_row)
        self.status_label.setObjectName("playerStatus")
        self.status_label.setWordWrap(False)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lanes.addWidget(self.status_label, 1)
        layout.addWidget(self.lanes_row)

    def install_shortcuts(self, owner: QWidget) -> list[QShortcut]:
        """Space, ← and → on ``owner`` (and its children) drive this player."""
        made = []
        for key, slot in ((Qt.Key.Key_Space, self.toggle_play), (Qt.Key.Key_Left, lambda: self.skip(-SKIP_MS)),
                          (Qt.Key.Key_Right, lambda: self.skip(SKIP_MS))):
            shortcut = QShortcut(QKeySequence(key), owner)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
            made.append(shortcut)
        return made

    # ------------------------------------------------------------ loading

    def unload(self, message: str = "") -> None:
        """Stop, forget the recording, and show ``message`` (or the "select a recording" hint)."""
        self._generation += 1
        if self._wave_task is not None:
            self._wave_task.cancel()
            self._wave_task = None
        self._tick.stop()
        self.player.stop()
        self.player.setSource(QUrl())
        self.detail = None
        self.recording_id = None
        self.grant = None
        self.source_path = None
        self.peaks = None
        self._pending_seek = None
        self.last_error = ""
        self.waveform.clear(message or self.tr("Select a recording to see its waveform and play it."))
        self._reset_lanes()
        self._set_enabled(False)
        self.status_label.setText("")
        self._update_labels()

    def load(self, detail: RecordingDetail) -> None:
        """Show a recording: waveform (background), markers, redacted regions; playback waits for Play."""
        self.unload()
        self.detail = detail
        row = detail.row
        self.recording_id = row.id
        self.waveform.set_audio(row.duration_ms, row.sample_rate, row.channels)
        self.set_annotations(detail)
        self.lanes_row.setVisible(True)
        playable = not detail.blocked and row.file_present
        for mute, solo in self.lane_buttons:
            mute.setEnabled(row.channels == 2 and playable)
            solo.setEnabled(row.channels == 2 and playable)
        if detail.blocked:
            self.waveform.set_message(self.tr("Restricted user account (GDPR Art. 18): this recording cannot be "
                                              "played and its waveform is not shown."))
            self._status(self.tr("Restricted"), colors.RESTRICTED)
            self._update_labels()
            return
        if not row.file_present:
            self.waveform.set_message(self.tr("The audio file is missing from the recordings store: it was deleted "
                                              "or moved outside RCRM Desktop. Run “verify-recordings” for a "
                                              "full check."))
            self._status(self.tr("File missing"), colors.OVERDUE)
            self._update_labels()
            return
        self._set_enabled(True)
        self._update_labels()
        self._load_waveform()

    def set_annotations(self, detail: RecordingDetail) -> None:
        """Refresh markers and redacted regions (after an annotation or redaction) without reloading audio."""
        self.detail = detail
        self.waveform.set_markers([Marker(a.id, a.position_ms, a.end_ms, a.text, i + 1)
                                   for i, a in enumerate(detail.annotations)])
        self.waveform.set_regions([Region(r.start_ms, r.end_ms, self.tr("Redacted")) for r in detail.redactions])

    def _load_waveform(self) -> None:
        rid = self.recording_id
        if rid is None:
            return
        generation = self._generation
        actor = self.session.actor
        latest: dict[str, Peaks] = {}

        def work(task: Task) -> Peaks:
            def progress(done: int, total: int, partial: Peaks | None) -> bool:
                if partial is not None:
                    latest["partial"] = partial
                return task.report(done, max(total, 1), "")

            return recordings.waveform(actor, rid, progress)

        def on_progress(done: int, total: int, _text: str) -> None:
            if generation != self._generation:
                return
            partial = latest.pop("partial", None)
            fraction = min(1.0, done / max(1, total))
            if partial is not None:
                self.waveform.set_peaks(partial, fraction)
            else:
                self.waveform.set_progress(fraction)

        self._wave_task = run_task(work, on_done=lambda peaks: self._waveform_ready(generation, peaks),
                                   on_error=lambda exc: self._waveform_failed(generation, exc),
                                   progress=on_progress)

    def _waveform_ready(self, generation: int, peaks: Peaks) -> None:
        if generation != self._generation:
            return
        self._wave_task = None
        self.peaks = peaks
        self.waveform.set_peaks(peaks)

    def _waveform_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation or isinstance(exc, PeaksCancelled):
            return
        self._wave_task = None
        if isinstance(exc, RcrmError):
            self.waveform.set_message(exc.message)
        else:
            error_dialogs.log_failure(type(exc), exc.__traceback__)
            self.waveform.set_message(self.tr("The waveform could not be drawn (%1); details are in the log file. "
                                              "Playback may still work.").replace("%1", type(exc).__name__))

    def _load_window(self, first: int, frames: int) -> None:
        rid = self.recording_id
        if rid is None or self.detail is None or self.detail.blocked:
            return
        generation = self._generation
        actor = self.session.actor

        def done(result: tuple[Any, int]) -> None:
            if generation == self._generation:
                self.waveform.set_window(result[0], result[1])

        run_task(lambda _task: recordings.read_samples(actor, rid, first, frames), on_done=done,
                 on_error=lambda exc: log.debug("Samples for the zoomed waveform failed: %s", type(exc).__name__))

    # ------------------------------------------------------------ transport

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.play_button, self.back_button, self.forward_button, self.loop_button,
                       self.speed_combo):
            widget.setEnabled(enabled)
        self.play_button.setToolTip(self.tr("Play (Space)") if enabled else self.tr("Nothing to play"))

    def is_playing(self) -> bool:
        return self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    @property
    def position_ms(self) -> int:
        if self.source_path is not None and self._pending_seek is None:
            return int(self.player.position())
        return self.waveform.position_ms

    @property
    def duration_ms(self) -> int:
        return self.detail.row.duration_ms if self.detail is not None else 0

    def toggle_play(self) -> None:
        if self.is_playing():
            self.pause()
        else:
            self.play()

    def play(self) -> bool:
        """Start (or resume) playback; the first time for a recording, ask core for the audited grant."""
        if self.detail is None or not self.play_button.isEnabled():
            return False
        if self.grant is None:
            try:
                self.grant = recordings.record_play(self.session.actor, self.detail.row.id)
            except RcrmError as exc:
                self._status(exc.message, colors.OVERDUE)
                error_dialogs.show_error(self, exc, self.tr("Play recording"))
                return False
            self.played.emit(self.detail.row.id)
            start = self.waveform.position_ms
            if start >= self.duration_ms - 50:
                start = 0
            self._switch_source(self._wanted_path(), start, play=True)
            return True
        if self.loop_button.isChecked() and self.waveform.selection is not None:
            a, b = self.waveform.selection
            if not a <= self.position_ms < b:
                self.seek(a)
        if self.player.mediaStatus() == QMediaPlayer.MediaStatus.EndOfMedia:
            self.seek(0)
        self.player.play()
        return True

    def pause(self) -> None:
        self.player.pause()

    def stop(self) -> None:
        self.player.stop()

    def seek(self, ms: int) -> None:
        """Move to ``ms`` (clamped to the call); before playback started, the playhead waits there."""
        target = max(0, min(int(ms), self.duration_ms))
        self.waveform.set_position(target, follow=True)
        if self.source_path is not None:
            if self.player.mediaStatus() in (QMediaPlayer.MediaStatus.LoadingMedia,
                                             QMediaPlayer.MediaStatus.NoMedia):
                self._pending_seek = target
            else:
                self.player.setPosition(target)
        self._update_labels(target)

    def skip(self, delta_ms: int) -> None:
        if self.detail is None:
            return
        self.seek(self.position_ms + delta_ms)

    def set_speed(self, rate: float) -> None:
        rate = float(rate)
        self.player.setPlaybackRate(rate)
        index = self.speed_combo.findData(rate)
        if index >= 0 and index != self.speed_combo.currentIndex():
            self.speed_combo.setCurrentIndex(index)

    def set_volume(self, value: int) -> None:
        self.audio.setVolume(max(0, min(100, int(value))) / 100)
        if self.volume.value() != value:
            self.volume.setValue(int(value))

    def _toggle_mute(self) -> None:
        muted = self.mute_button.isChecked()
        self.audio.setMuted(muted or not any(self.audible()))
        self.mute_button.setIcon(icons.icon("volume-off" if muted else "volume-high"))
        self.mute_button.setToolTip(self.tr("Unmute") if muted else self.tr("Mute"))

    def _loop_toggled(self) -> None:
        if self.loop_button.isChecked() and self.waveform.selection is None:
            self._status(self.tr("Select a region on the waveform to loop it."), None)

    def _selection_changed(self, start: int, end: int) -> None:
        self.selection_changed.emit(start, end)
        if start >= 0 and self.loop_button.isChecked():
            self.seek(start)

    # ------------------------------------------------------------ lanes

    def _reset_lanes(self) -> None:
        self._muted = [False, False]
        self._solo = [False, False]
        for mute, solo in self.lane_buttons:
            for button in (mute, solo):
                blocked = button.blockSignals(True)
                button.setChecked(False)
                button.blockSignals(blocked)
        self.lanes_row.setVisible(False)

    def audible(self) -> tuple[bool, ...]:
        """Which lanes are heard: the soloed ones if any, else those not muted."""
        channels = self.detail.row.channels if self.detail is not None else 1
        if channels != 2:
            return (True,) * channels
        if any(self._solo):
            return tuple(self._solo)
        return tuple(not m for m in self._muted)

    def set_lane(self, lane: int, *, mute: bool | None = None, solo: bool | None = None) -> None:
        """Mute or solo one lane of a stereo call: the waveform shows it, playback follows (see module doc)."""
        if self.detail is None or self.detail.row.channels != 2:
            return
        if mute is not None:
            self._muted[lane] = mute
        if solo is not None:
            self._solo[lane] = solo
            if solo:
                other = 1 - lane
                self._solo[other] = False
                button = self.lane_buttons[other][1]
                blocked = button.blockSignals(True)
                button.setChecked(False)
                button.blockSignals(blocked)
        audible = list(self.audible())
        self.waveform.set_audible(audible)
        self.audio.setMuted(self.mute_button.isChecked() or not any(audible))
        if self.grant is not None and any(audible):
            self._switch_source(self._wanted_path(), self.position_ms, play=self.is_playing())

    def _wanted_path(self) -> Path | None:
        """The file to play for the current lanes (the recording, or a copy with a lane silenced)."""
        if self.grant is None:
            return None
        audible = self.audible()
        if all(audible) or not any(audible):
            return self.grant.path
        return None  # a lane copy: made in the background by ``_switch_source``

    def _switch_source(self, path: Path | None, position: int, *, play: bool) -> None:
        if path is not None:
            self._set_source(path, position, play)
            return
        rid = self.recording_id
        if rid is None:
            return
        audible = self.audible()
        generation = self._generation
        actor = self.session.actor
        self._status(self.tr("Preparing the lanes…"), None)

        def done(copy: Path) -> None:
            if generation == self._generation and self.audible() == audible:
                self._status("", None)
                self._set_source(copy, position, play)

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                text = exc.message if isinstance(exc, RcrmError) else type(exc).__name__
                self._status(self.tr("Mute/solo failed: %1").replace("%1", text), colors.OVERDUE)

        run_task(lambda _task: recordings.playback_copy(actor, rid, audible), on_done=done, on_error=failed)

    def _set_source(self, path: Path, position: int, play: bool) -> None:
        if self.source_path == path:
            if play and not self.is_playing():
                self.player.play()
            return
        self.source_path = path
        self._pending_seek = position if position > 0 else None
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        if play:
            self.player.play()
        self.waveform.set_position(position)

    # ------------------------------------------------------------ player signals

    def _media_status(self, status: QMediaPlayer.MediaStatus) -> None:
        loaded = (QMediaPlayer.MediaStatus.LoadedMedia, QMediaPlayer.MediaStatus.BufferedMedia,
                  QMediaPlayer.MediaStatus.BufferingMedia)
        if status in loaded and self._pending_seek is not None:
            target, self._pending_seek = self._pending_seek, None
            self.player.setPosition(target)
        if status == QMediaPlayer.MediaStatus.EndOfMedia:
            self.waveform.set_position(self.duration_ms)
            self._update_labels(self.duration_ms)
        if status == QMediaPlayer.MediaStatus.InvalidMedia:
            self._media_error(self.player.error(), self.player.errorString())

    def _media_error(self, error: QMediaPlayer.Error, text: str) -> None:
        if error == QMediaPlayer.Error.NoError:
            return
        self.last_error = text or str(error)
        self._status(self.tr("The audio cannot be played: %1").replace("%1", self.last_error), colors.OVERDUE)

    def _state_changed(self, state: QMediaPlayer.PlaybackState) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        if playing:
            self._tick.start()
        else:
            self._tick.stop()
            self._sync_position()
        self._update_labels()

    def _sync_position(self) -> None:
        if self.source_path is None or self._pending_seek is not None:
            return
        position = int(self.player.position())
        if self.loop_button.isChecked() and self.waveform.selection is not None and self.is_playing():
            a, b = self.waveform.selection
            if position >= b or position < a - 250:
                self.player.setPosition(a)
                position = a
        self.waveform.set_position(position, follow=self.is_playing())
        self._update_labels(position)

    # ------------------------------------------------------------ view

    def _view_changed(self) -> None:
        frames = self.waveform.frames
        visible = int(self.waveform.width() * self.waveform.frames_per_pixel)
        blocked = self.scroll.blockSignals(True)
        self.scroll.setRange(0, max(0, frames - visible))
        self.scroll.setPageStep(max(1, visible))
        self.scroll.setSingleStep(max(1, visible // 10))
        self.scroll.setValue(int(self.waveform.start_frame))
        self.scroll.blockSignals(blocked)
        self.scroll.setVisible(frames > visible > 0)
        self.zoom_in_button.setEnabled(self.waveform.can_zoom_in())
        self.zoom_out_button.setEnabled(self.waveform.can_zoom_out())
        self.zoom_fit_button.setEnabled(self.waveform.can_zoom_out())

    def _scrolled(self, value: int) -> None:
        self.waveform.set_view(float(value), self.waveform.frames_per_pixel)

    def _status(self, text: str, color: Any) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
        if color is None:
            self.status_label.setStyleSheet("")
        else:
            self.status_label.setStyleSheet(f"color: {style.state_color(color).name()}; font-weight: 600;")

    def _update_labels(self, position: int | None = None) -> None:
        duration = self.duration_ms
        long = duration >= 3_600_000
        at = self.position_ms if position is None else position
        self.position_label.setText(f"{clock(at, long)} / {clock(duration, long)}" if self.detail else "—")
        playing = self.is_playing()
        self.play_button.setIcon(icons.icon("pause" if playing else "play"))
        if self.play_button.isEnabled():
            self.play_button.setToolTip(self.tr("Pause (Space)") if playing else self.tr("Play (Space)"))

    def hideEvent(self, event: Any) -> None:
        if self.is_playing():
            self.pause()
        super().hideEvent(event)

