"""The player driven like an operator drives it: load, play, pause, seek on the waveform, skip, speed, loop, lanes.

QtMultimedia's FFmpeg backend plays offscreen without an audio device, so
positions really advance; waits are bounded by ``qtbot.waitUntil``.
"""

from __future__ import annotations

import json
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtMultimedia import QMediaPlayer
from pytestqt.qtbot import QtBot

from rcrm_desktop.audio import decode, synth
from rcrm_desktop.core import recordings
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.store import open_store
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.db.models import AuditEvent, Recording, Subject
from rcrm_desktop.ui import tasks
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.widgets.player import PlayerWidget
from rcrm_desktop.ui.widgets.waveform import clock
from tests.conftest import Instance

#: Harmless messages of a machine without a sound server (the backend then plays to a null sink).
NO_AUDIO_DEVICE = ("PulseAudioService", "No audio device detected", "pipewire", "QAudioSink", "ALSA")

pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(*NO_AUDIO_DEVICE)]

SECONDS = 12.0


def import_call(tmp_path: Path, inst: Instance, *, user_id: str = "U-1", seconds: float = SECONDS,
                name: str = "call.wav") -> int:
    folder = tmp_path / f"in-{name}"
    folder.mkdir()
    synth.write_wav(folder / name, synth.synth_call(seconds, 8000, seed=5), 8000)
    (folder / "manifest.csv").write_text("file,user_id,started_at,direction,agent,tags\n"
                                         f"{name},{user_id},2025-04-01T10:00:00Z,inbound,Jana,billing\n",
                                         encoding="utf-8")
    report = recordings.import_recordings(inst.support, folder)
    assert report.refused == []
    return report.imported[0]


@pytest.fixture
def call(sqlite_instance: Instance, tmp_path: Path) -> int:
    Subject.create(user_id="U-1", name="Peter Horváth", name_key="peter horvath",
                   search_key=make_search_key("Peter Horváth", "U-1"))
    return import_call(tmp_path, sqlite_instance)


@pytest.fixture
def make_player(qtbot: QtBot, make_session: Callable[[Actor], AppSession]) -> Callable[[Actor], PlayerWidget]:
    def make(actor: Actor) -> PlayerWidget:
        player = PlayerWidget(make_session(actor))
        qtbot.addWidget(player)
        player.resize(900, 320)
        player.show()
        qtbot.waitExposed(player)
        player.activateWindow()
        return player

    return make


def position_near(player: PlayerWidget, ms: int, tolerance: int = 400) -> bool:
    return abs(player.player.position() - ms) <= tolerance


def test_load_play_pause_seek_skip_speed(qtbot: QtBot, sqlite_instance: Instance, call: int,
                                         make_player: Callable[[Actor], PlayerWidget]) -> None:
    support = sqlite_instance.support
    player = make_player(support)
    player.load(recordings.get_recording(support, call))
    assert player.peaks is not None and player.waveform.peaks is player.peaks
    assert player.waveform.channels == 2 and player.waveform.lane_names == ["Agent", "Customer"]
    assert player.position_label.text() == "00:00 / 00:12"
    assert player.source_path is None  # nothing is loaded before Play: the listen is audited first
    assert not AuditEvent.select().where(AuditEvent.action == "recording.play").exists()

    qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    event = AuditEvent.get(AuditEvent.action == "recording.play")
    assert event.target_id == str(call) and event.operator_id == support.operator_id
    assert player.source_path == player.grant.path  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: player.is_playing() and player.player.position() > 200, timeout=8000)

    qtbot.mouseClick(player.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: player.player.playbackState() == QMediaPlayer.PlaybackState.PausedState, timeout=3000)

    target = player.waveform.point_for_ms(6000).center()
    qtbot.mouseClick(player.waveform, Qt.MouseButton.LeftButton, pos=target)
    qtbot.waitUntil(lambda: position_near(player, 6000), timeout=3000)
    assert abs(player.waveform.position_ms - 6000) < 100
    assert player.position_label.text().startswith("00:0") and player.position_label.text().endswith("/ 00:12")

    player.waveform.setFocus()
    qtbot.keyClick(player.waveform, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: position_near(player, 11000), timeout=3000)
    qtbot.keyClick(player.waveform, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: position_near(player, 6000), timeout=3000)
    qtbot.mouseClick(player.back_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: position_near(player, 1000), timeout=3000)
    player.skip(-60_000)
    qtbot.waitUntil(lambda: position_near(player, 0, 50), timeout=3000)

    player.speed_combo.setCurrentIndex(player.speed_combo.findData(2.0))
    assert player.player.playbackRate() == 2.0
    player.volume.setValue(30)
    assert player.audio.volume() == pytest.approx(0.3, abs=0.01)
    qtbot.keyClick(player.waveform, Qt.Key.Key_Space)
    qtbot.waitUntil(player.is_playing, timeout=3000)
    qtbot.keyClick(player.waveform, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=3000)
    assert AuditEvent.select().where(AuditEvent.action == "recording.play").count() == 1  # one listen
    player.unload()
    assert player.player.source().isEmpty()


def test_loop_a_selected_region(qtbot: QtBot, sqlite_instance: Instance, call: int,
                                make_player: Callable[[Actor], PlayerWidget]) -> None:
    player = make_player(sqlite_instance.support)
    player.load(recordings.get_recording(sqlite_instance.support, call))
    wave_widget = player.waveform
    start, end = wave_widget.point_for_ms(2000).center(), wave_widget.point_for_ms(3000).center()
    qtbot.mousePress(wave_widget, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(wave_widget, QPoint(start.x() + 20, start.y()))
    qtbot.mouseMove(wave_widget, end)
    qtbot.mouseRelease(wave_widget, Qt.MouseButton.LeftButton, pos=end)
    a, b = wave_widget.selection or (0, 0)
    assert abs(a - 2000) < 100 and abs(b - 3000) < 100
    qtbot.mouseClick(player.loop_button, Qt.MouseButton.LeftButton)
    player.play()
    qtbot.waitUntil(lambda: player.is_playing() and player.player.position() >= a, timeout=8000)
    deadline = time.monotonic() + 2.5  # longer than the region: it must have wrapped around
    seen = []
    while time.monotonic() < deadline:
        qtbot.wait(50)
        seen.append(player.player.position())
    assert max(seen) <= b + 300 and min(seen[5:]) >= a - 300
    player.pause()


def test_mute_and_solo_play_a_copy_with_the_other_lane_silenced(
        qtbot: QtBot, sqlite_instance: Instance, call: int, make_player: Callable[[Actor], PlayerWidget]) -> None:
    player = make_player(sqlite_instance.support)
    player.load(recordings.get_recording(sqlite_instance.support, call))
    player.play()
    qtbot.waitUntil(player.is_playing, timeout=8000)
    solo_agent = player.lane_buttons[0][1]
    qtbot.mouseClick(solo_agent, Qt.MouseButton.LeftButton)
    assert player.audible() == (True, False) and player.waveform.audible == [True, False]
    assert player.source_path is not None and player.source_path.name.endswith(".lanes-10.wav")
    copy, _ = decode.decode_all(player.source_path)
    assert copy[:, 0].any() and not copy[:, 1].any()
    qtbot.waitUntil(player.is_playing, timeout=8000)
    qtbot.mouseClick(solo_agent, Qt.MouseButton.LeftButton)
    mute_agent = player.lane_buttons[0][0]
    qtbot.mouseClick(mute_agent, Qt.MouseButton.LeftButton)
    assert player.audible() == (False, True)
    assert player.source_path.name.endswith(".lanes-01.wav")
    qtbot.mouseClick(mute_agent, Qt.MouseButton.LeftButton)
    assert player.source_path == player.grant.path  # type: ignore[union-attr]
    player.pause()


def test_restricted_and_missing_recordings_do_not_play(
        qtbot: QtBot, sqlite_instance: Instance, tmp_path: Path, make_player: Callable[[Actor], PlayerWidget],
        message_boxes: object) -> None:
    Subject.create(user_id="U-9", name="Restricted Person", name_key="restricted person", restricted=True,
                   search_key=make_search_key("Restricted Person", "U-9"))
    restricted = import_call(tmp_path, sqlite_instance, user_id="U-9")
    support = sqlite_instance.support
    player = make_player(support)
    player.load(recordings.get_recording(support, restricted))
    assert not player.play_button.isEnabled() and "GDPR Art. 18" in player.waveform.message
    assert player.play() is False
    assert not AuditEvent.select().where(AuditEvent.action == "recording.play").exists()
    compliance_player = make_player(sqlite_instance.compliance)
    compliance_player.load(recordings.get_recording(sqlite_instance.compliance, restricted))
    assert compliance_player.play_button.isEnabled() and compliance_player.peaks is not None

    open_store().resolve(Recording.get_by_id(restricted).path).unlink()
    compliance_player.load(recordings.get_recording(sqlite_instance.compliance, restricted))
    assert not compliance_player.play_button.isEnabled()
    assert "missing" in compliance_player.waveform.message
    assert compliance_player.status_label.text() == "File missing"


def test_markers_regions_and_clicking_a_marker(qtbot: QtBot, sqlite_instance: Instance, call: int,
                                               make_player: Callable[[Actor], PlayerWidget]) -> None:
    support = sqlite_instance.support
    note = recordings.add_annotation(support, call, 4000, "Asks about the invoice", end_ms=5500)
    recordings.redact_recording(sqlite_instance.compliance, call, 8000, 9000, "Card number")
    player = make_player(support)
    player.load(recordings.get_recording(support, call))
    assert [(m.id, m.start_ms, m.end_ms, m.number) for m in player.waveform.markers] == [(note.id, 4000, 5500, 1)]
    assert [(r.start_ms, r.end_ms, r.label) for r in player.waveform.regions] == [(8000, 9000, "Redacted")]
    clicked: list[int] = []
    player.marker_clicked.connect(clicked.append)
    flag = player.waveform._flag_rect(player.waveform.markers[0]).center().toPoint()
    qtbot.mouseClick(player.waveform, Qt.MouseButton.LeftButton, pos=flag)
    assert clicked == [note.id] and player.waveform.position_ms == 4000
    image = player.waveform.grab().toImage()
    x = round(player.waveform.x_of(8500))
    y = round(player.waveform._lanes_rect().top() + player.waveform._lanes_rect().height() * 0.62)
    pixel = image.pixelColor(x, y)
    assert pixel.red() > pixel.green() and pixel.red() > pixel.blue()  # hatched red over the region


def test_zoom_keeps_the_waveform_sharp(qtbot: QtBot, sqlite_instance: Instance, call: int,
                                       make_player: Callable[[Actor], PlayerWidget]) -> None:
    player = make_player(sqlite_instance.support)
    player.load(recordings.get_recording(sqlite_instance.support, call))
    wave_widget = player.waveform
    fitted = wave_widget.frames_per_pixel
    assert not player.zoom_out_button.isEnabled() and player.zoom_in_button.isEnabled()
    qtbot.mouseClick(player.zoom_in_button, Qt.MouseButton.LeftButton)
    assert wave_widget.frames_per_pixel == pytest.approx(fitted / 2)
    assert player.scroll.isVisible() and player.zoom_out_button.isEnabled()
    wave_widget.zoom_to_ms(2000, 2050)  # 400 frames over the width: below the fine level
    assert wave_widget.frames_per_pixel < 256
    qtbot.waitUntil(lambda: wave_widget._window is not None, timeout=3000)
    samples, first = wave_widget._window  # type: ignore[misc]
    expected, _ = decode.decode_all(open_store().resolve(Recording.get_by_id(call).path))
    assert np.array_equal(samples, expected[first:first + len(samples)])
    qtbot.keyClick(wave_widget, Qt.Key.Key_0)
    assert wave_widget.frames_per_pixel == pytest.approx(fitted)


def test_clock_format() -> None:
    assert clock(0) == "00:00" and clock(65_400) == "01:05" and clock(3_725_000) == "1:02:05"
    assert clock(5_000, long=True) == "0:00:05" and clock(1_234, tenths=True) == "00:01.2"


def test_a_one_hour_call_opens_without_freezing(qtbot: QtBot, sqlite_instance: Instance, tmp_path: Path,
                                                make_player: Callable[[Actor], PlayerWidget]) -> None:
    """The waveform of an hour is computed in the background; the window answers meanwhile."""
    folder = tmp_path / "hour"
    folder.mkdir()
    minute = synth.synth_call(60.0, 8000, seed=2)
    with wave.open(str(folder / "hour.wav"), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        for _ in range(60):
            out.writeframes(minute.tobytes())
    (folder / "manifest.csv").write_text("file,user_id,started_at,direction,agent,tags\n"
                                         "hour.wav,,2025-04-01T10:00:00Z,inbound,Jana,\n", encoding="utf-8")
    rid = recordings.import_recordings(sqlite_instance.support, folder).imported[0]
    tasks.set_synchronous(False)
    try:
        player = make_player(sqlite_instance.support)
        started = time.perf_counter()
        player.load(recordings.get_recording(sqlite_instance.support, rid))
        assert time.perf_counter() - started < 0.5
        assert player.position_label.text() == "0:00:00 / 1:00:00"
        qtbot.waitUntil(lambda: player.peaks is not None, timeout=20_000)
        assert player.peaks.frames == 3600 * 8000  # type: ignore[union-attr]
    finally:
        tasks.wait_for_all()
        tasks.set_synchronous(True)
    assert json.loads(AuditEvent.get(AuditEvent.action == "recording.view").details) == {}


@pytest.mark.parametrize("width", [900, 460])
def test_transport_controls_never_overlap(qtbot: QtBot, sqlite_instance: Instance,
                                          make_player: Callable[[Actor], PlayerWidget], width: int) -> None:
    """In a 1280-px window the detail pane is ≈ 460 px: one fixed row put the time under the buttons there."""
    player = make_player(sqlite_instance.support)
    player.resize(width, 360)
    qtbot.wait(50)
    controls = [player.back_button, player.play_button, player.forward_button, player.position_label,
                player.loop_button, player.speed_combo, player.mute_button, player.volume,
                player.zoom_out_button, player.zoom_fit_button, player.zoom_in_button]
    rects = [(c, c.rect().translated(c.mapTo(player, c.rect().topLeft()))) for c in controls]
    for i, (a, ra) in enumerate(rects):
        assert player.rect().contains(ra), a.objectName()
        for b, rb in rects[i + 1:]:
            assert not ra.intersects(rb), (a.objectName(), b.objectName())
    assert player.position_label.width() >= player.position_label.sizeHint().width()
    rows = {r.top() for _, r in rects}
    assert (len({player.play_button.mapTo(player, player.play_button.rect().center()).y(),
                 player.volume.mapTo(player, player.volume.rect().center()).y()}) == 1) == (width == 900), rows
