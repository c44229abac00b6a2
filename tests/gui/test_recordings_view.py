"""The Recordings area as operators use it: browse and filter, open, annotate, tag, redact, export, import.

Drives real widgets offscreen with qtbot (background tasks run synchronously,
message boxes are recorded) and checks what the view shows, the rows in the
database, the files in the store and the audit events written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from pytestqt.qtbot import QtBot

from rcrm_desktop.audio import decode, synth
from rcrm_desktop.core import recordings
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.store import open_store
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.db.models import Annotation, AuditEvent, Recording, Redaction, Subject
from rcrm_desktop.ui import colors, style
from rcrm_desktop.ui.dialogs.annotation import AnnotationDialog, parse_clock
from rcrm_desktop.ui.dialogs.redaction import RedactionDialog
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.recordings import RecordingsView
from tests.conftest import Instance

NO_AUDIO_DEVICE = ("PulseAudioService", "No audio device detected", "pipewire", "QAudioSink", "ALSA")
pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore(*NO_AUDIO_DEVICE)]

HEADER = "file,user_id,started_at,direction,agent,tags\n"


def add_subject(user_id: str, name: str, restricted: bool = False) -> Subject:
    return Subject.create(user_id=user_id, name=name, name_key=name.lower(), search_key=make_search_key(name, user_id),
                          restricted=restricted)


@pytest.fixture
def calls(sqlite_instance: Instance, tmp_path: Path) -> dict[str, int]:
    """Three imported calls: Peter's (inbound, tagged), Zuzana's (outbound), a restricted account's."""
    add_subject("U-100", "Peter Horváth")
    add_subject("U-200", "Zuzana Šťastná")
    add_subject("U-300", "Restricted Person", restricted=True)
    folder = tmp_path / "calls"
    folder.mkdir()
    for i, seconds in enumerate((14.0, 70.0, 8.0)):
        synth.write_wav(folder / f"c{i}.wav", synth.synth_call(seconds, 8000, seed=30 + i), 8000)
    (folder / "manifest.csv").write_text(
        HEADER + "c0.wav,U-100,2025-04-01T09:00:00Z,inbound,Jana,complaint;billing\n"
        "c1.wav,U-200,2025-04-02T09:00:00Z,outbound,Marek,retention-offer\n"
        "c2.wav,U-300,2025-04-03T09:00:00Z,inbound,Jana,\n", encoding="utf-8")
    report = recordings.import_recordings(sqlite_instance.support, folder)
    assert len(report.imported) == 3
    ids = {"peter": report.imported[0], "zuzana": report.imported[1], "restricted": report.imported[2]}
    recordings.add_annotation(sqlite_instance.support, ids["peter"], 3000, "Customer disputes the invoice")
    return ids


@pytest.fixture
def make_view(qtbot: QtBot, make_session: Callable[[Actor], AppSession]) -> Callable[[Actor], RecordingsView]:
    def make(actor: Actor) -> RecordingsView:
        view = RecordingsView(make_session(actor))
        qtbot.addWidget(view)
        view.resize(1400, 850)
        view.show()
        qtbot.waitExposed(view)
        view.activateWindow()
        qtbot.waitUntil(view.isActiveWindow, timeout=2000)
        view.activate()
        return view

    return make


def texts(view: RecordingsView, column: str) -> list[str]:
    col = next(i for i, c in enumerate(view.model.columns) if c.key == column)
    return [view.model.data(view.model.index(r, col)) for r in range(view.model.rowCount())]


def cell(view: RecordingsView, row: int, column: str, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    col = next(i for i, c in enumerate(view.model.columns) if c.key == column)
    return view.model.data(view.model.index(row, col), role)


def test_table_shows_calls_with_their_states(qtbot: QtBot, qtmodeltester: Any, sqlite_instance: Instance,
                                             calls: dict[str, int],
                                             make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    qtmodeltester.check(view.model)
    assert view.model.rowCount() == 3
    assert texts(view, "subject") == ["U-300  Restricted Person", "U-200  Zuzana Šťastná", "U-100  Peter Horváth"]
    assert texts(view, "direction") == ["Inbound", "Outbound", "Inbound"]
    assert texts(view, "duration_ms") == ["00:08", "01:10", "00:14"]
    assert texts(view, "tags")[2] == "billing, complaint" and texts(view, "annotations")[2] == "1"
    assert texts(view, "status") == ["Restricted", "", ""]
    assert cell(view, 0, "status", Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.RESTRICTED)
    assert view.count_label.text() == "3 recordings"
    open_store().resolve(Recording.get_by_id(calls["zuzana"]).path).unlink()
    view.refresh()
    assert texts(view, "status")[1] == "File missing"
    assert cell(view, 1, "status", Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.OVERDUE)
    listed = AuditEvent.select().where(AuditEvent.action == "recordings.list").first()
    assert sorted(json.loads(listed.details)["ids"]) == sorted(calls.values())
    view.sort_by("duration_ms", descending=False)
    assert texts(view, "duration_ms") == ["00:08", "00:14", "01:10"]
    qtmodeltester.check(view.model)


def test_filters(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int],
                 make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    view.search.setText("stastna")
    view.search.flush()
    assert texts(view, "subject") == ["U-200  Zuzana Šťastná"] and view.count_label.text() == "1 of 3 recordings"
    view.clear_filters()
    view.direction_combo.setCurrentIndex(view.direction_combo.findData("outbound"))
    assert texts(view, "direction") == ["Outbound"]
    view.clear_filters()
    view.tag_combo.setCurrentIndex(view.tag_combo.findData("complaint"))
    assert texts(view, "subject") == ["U-100  Peter Horváth"]
    view.clear_filters()
    view.notes_combo.setCurrentIndex(view.notes_combo.findData(True))
    assert texts(view, "annotations") == ["1"]
    view.clear_filters()
    view.duration_combo.setCurrentIndex(2)  # 1–5 min
    assert texts(view, "duration_ms") == ["01:10"]
    view.clear_filters()
    view.agent_combo.setCurrentIndex(view.agent_combo.findData("Marek"))
    assert texts(view, "subject") == ["U-200  Zuzana Šťastná"]
    view.direction_combo.setCurrentIndex(view.direction_combo.findData("inbound"))
    assert view.model.rowCount() == 0
    assert view.empty_state_text().startswith("No recordings match these filters")
    view.empty.button.click()
    assert view.model.rowCount() == 3
    searches = AuditEvent.select().where(AuditEvent.action == "recordings.search")
    assert all("stastna" not in e.details and "Marek" not in e.details for e in searches)


def test_empty_instance_offers_the_import(qtbot: QtBot, sqlite_instance: Instance,
                                          make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    assert view.empty_state_text().startswith("No recordings yet — Import recordings…")
    assert view.empty.button.isVisible() and view.empty.button.text() == "Import recordings…"
    compliance_view = make_view(sqlite_instance.compliance)
    assert not compliance_view.empty.button.isVisible()  # compliance cannot import
    assert not compliance_view.import_action.isEnabled() and "recordings.import" in \
        compliance_view.import_action.toolTip()


def test_open_a_call_annotate_and_tag(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int],
                                      make_view: Callable[[Actor], RecordingsView],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    view = make_view(sqlite_instance.support)
    assert view.select_recording(calls["peter"])
    assert view.detail is not None and view.detail.row.id == calls["peter"]
    assert view.detail_title.text() == "Peter Horváth · U-100"
    assert view.player.peaks is not None and len(view.player.waveform.markers) == 1
    assert view.tabs.tabText(1) == "Annotations (1)" and view.tabs.tabText(2) == "Tags (2)"
    assert AuditEvent.select().where((AuditEvent.action == "recording.view")
                                     & (AuditEvent.target_id == str(calls["peter"]))).count() == 1
    assert view.history_table.rowCount() >= 2 and view.history_table.item(0, 2).text() == "Viewed"
    assert not view.redact_action.isEnabled() and not view.export_action.isEnabled()

    view.player.seek(6000)
    view.player.waveform.set_selection(6000, 9000)
    view._selection_changed_on_waveform(6000, 9000)

    def fill(dialog: QDialog) -> bool:
        assert isinstance(dialog, AnnotationDialog)
        assert dialog.at.milliseconds == 6000 and dialog.region.isChecked() and dialog.to.milliseconds == 9000
        assert not dialog.ok_button.isEnabled()
        dialog.text.setPlainText("Offer accepted")
        assert dialog.ok_button.isEnabled()
        return True

    monkeypatch.setattr(view, "_exec", fill)
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_A)
    note = Annotation.get(Annotation.text == "Offer accepted")
    assert (note.position_ms, note.end_ms) == (6000, 9000)
    assert [m.number for m in view.player.waveform.markers] == [1, 2]
    assert view.tabs.tabText(1) == "Annotations (2)" and view.notes.count() == 2
    view.notes.setCurrentRow(1)
    view._note_activated(view.notes.item(1))
    assert view.player.waveform.position_ms == 6000

    view.tag_edit.setText("Follow-up")
    qtbot.keyClick(view.tag_edit, Qt.Key.Key_Return)
    assert view.detail.row.tags == ("billing", "complaint", "follow-up")
    assert texts(view, "tags")[2] == "billing, complaint, follow-up"
    view.remove_tag("billing")
    assert view.detail.row.tags == ("complaint", "follow-up")
    events = [e.action for e in AuditEvent.select().where(AuditEvent.target_id == str(calls["peter"]))]
    assert events.count("recording.view") == 1  # refreshing after one's own change is not another view


def test_restricted_call_for_support_and_compliance(qtbot: QtBot, sqlite_instance: Instance,
                                                    calls: dict[str, int],
                                                    make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    view.select_recording(calls["restricted"])
    assert view.blocked_label.isVisible() and "Art. 18" in view.blocked_label.text()
    assert [c.text() for c in view.chips] == ["Restricted (Art. 18)"]
    assert not view.annotate_action.isEnabled() and "restricted" in view.annotate_action.toolTip()
    assert not view.player.play_button.isEnabled() and not view.tag_edit.isEnabled()
    compliance = make_view(sqlite_instance.compliance)
    compliance.select_recording(calls["restricted"])
    assert not compliance.blocked_label.isVisible() and compliance.player.play_button.isEnabled()
    assert compliance.export_action.isEnabled() and compliance.redact_action.isEnabled()


def test_compliance_redacts_a_region(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int],
                                     make_view: Callable[[Actor], RecordingsView],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    view = make_view(sqlite_instance.compliance)
    view.select_recording(calls["peter"])
    view.player.waveform.set_selection(2000, 4500)
    view._selection_changed_on_waveform(2000, 4500)

    def fill(dialog: QDialog) -> bool:
        assert isinstance(dialog, RedactionDialog)
        assert (dialog.start.milliseconds, dialog.end.milliseconds) == (2000, 4500)
        assert "gone for good" in dialog.consequences.text() and "00:02.0 – 00:04.5" in dialog.consequences.text()
        dialog.reason.setText("Card number read out")
        assert not dialog.ok_button.isEnabled()
        dialog.understood.setChecked(True)
        assert dialog.ok_button.isEnabled()
        return True

    monkeypatch.setattr(view, "_exec", fill)
    view.redact_action.trigger()
    redaction = Redaction.get()
    assert (redaction.start_ms, redaction.end_ms, redaction.mode) == (2000, 4500, "silence")
    assert [c.text() for c in view.chips] == ["Redacted (1 region)"]
    assert [(r.start_ms, r.end_ms) for r in view.player.waveform.regions] == [(2000, 4500)]
    assert view.player.peaks is not None  # the new audio's waveform
    samples, rate = decode.decode_all(open_store().resolve(Recording.get_by_id(calls["peter"]).path))
    assert not samples[2000 * rate // 1000:4500 * rate // 1000].any()
    assert texts(view, "status")[2] == "Redacted"
    assert "Redacted" in [view.history_table.item(r, 2).text() for r in range(view.history_table.rowCount())]


def test_export_and_history(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int], tmp_path: Path,
                            make_view: Callable[[Actor], RecordingsView], message_boxes: Any) -> None:
    view = make_view(sqlite_instance.compliance)
    view.select_recording(calls["zuzana"])
    target = tmp_path / "zuzana.wav"
    view.export_to(target)
    assert target.read_bytes() == open_store().resolve(Recording.get_by_id(calls["zuzana"]).path).read_bytes()
    assert view.history_table.item(0, 2).text() == "Exported a copy"
    view.export_to(tmp_path / "missing-folder" / "x.wav")
    assert message_boxes.shown and "does not exist" in message_boxes.shown[-1].text


def test_import_from_the_view(qtbot: QtBot, sqlite_instance: Instance, tmp_path: Path,
                              make_view: Callable[[Actor], RecordingsView], message_boxes: Any) -> None:
    add_subject("U-1", "Peter Horváth")
    folder = tmp_path / "in"
    folder.mkdir()
    synth.write_wav(folder / "a.wav", synth.synth_call(3.0, 8000, seed=1), 8000)
    (folder / "b.wav").write_bytes(b"")
    (folder / "manifest.csv").write_text(HEADER + "a.wav,U-1,2025-01-01T10:00:00Z,inbound,Jana,x\n"
                                         "b.wav,U-1,2025-01-01T11:00:00Z,inbound,Jana,\n", encoding="utf-8")
    view = make_view(sqlite_instance.support)
    monkeypatch_folder = folder

    view._choose_folder = lambda: str(monkeypatch_folder)  # type: ignore[method-assign]
    view.empty.button.click()
    box = message_boxes.shown[-1]
    assert box.title == "Import finished"
    assert "1 imported, 0 duplicates skipped, 1 refused" in box.text
    assert "b.wav" in box.informative and "empty" in box.informative
    assert view.model.rowCount() == 1 and view.import_progress is None
    assert view.tag_combo.findData("x") >= 0


def test_import_can_be_cancelled(qtbot: QtBot, sqlite_instance: Instance, tmp_path: Path,
                                 make_view: Callable[[Actor], RecordingsView], message_boxes: Any,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    manifest = HEADER
    for i in range(4):
        synth.write_wav(folder / f"c{i}.wav", synth.synth_call(1.0, 8000, seed=50 + i), 8000)
        manifest += f"c{i}.wav,,2025-01-0{i + 1}T10:00:00Z,inbound,Jana,\n"
    (folder / "manifest.csv").write_text(manifest, encoding="utf-8")
    view = make_view(sqlite_instance.support)
    real = recordings.import_recordings

    def press_cancel_after_the_first_file(actor: Actor, source: Path, *, progress: Any = None,
                                          **kwargs: Any) -> Any:
        def step(done: int, total: int, name: str) -> Any:
            if done == 1 and view.import_progress is not None:
                assert view.import_progress.labelText() == "Copying recording 1 of 4: c0.wav"
                view.import_progress.canceled.emit()  # what the Cancel button does
            return progress(done, total, name)

        return real(actor, source, progress=step, **kwargs)

    monkeypatch.setattr(recordings, "import_recordings", press_cancel_after_the_first_file)
    view.start_import(folder)
    box = message_boxes.shown[-1]
    assert box.title == "Import stopped" and "1 imported" in box.text
    assert Recording.select().count() == 1 and view.model.rowCount() == 1


def test_subject_link_and_way_back(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int],
                                   make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    peter = Subject.get(Subject.user_id == "U-100")
    view.show_subject_recordings(peter.id)
    assert view.banner.isVisible() and "U-100" in view.banner_label.text()
    assert texts(view, "subject") == ["U-100  Peter Horváth"] and view.count_label.text() == "1 of 3 recordings"
    asked: list[int] = []
    view.open_subject_requested.connect(asked.append)
    view.back_to_subject.click()
    assert asked == [peter.id]
    view.show_all()
    assert not view.banner.isVisible() and view.model.rowCount() == 3


def test_space_and_arrows_drive_the_player(qtbot: QtBot, sqlite_instance: Instance, calls: dict[str, int],
                                           make_view: Callable[[Actor], RecordingsView]) -> None:
    view = make_view(sqlite_instance.support)
    view.select_recording(calls["zuzana"])
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Space)
    qtbot.waitUntil(view.player.is_playing, timeout=8000)
    qtbot.keyClick(view.table, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: view.player.player.position() >= 4500, timeout=3000)
    qtbot.keyClick(view.table, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not view.player.is_playing(), timeout=3000)
    view.search.setFocus()
    qtbot.keyClick(view.search, Qt.Key.Key_Space)
    assert view.search.text() == " " and not view.player.is_playing()  # typing is not playing


def test_dialog_time_fields() -> None:
    assert parse_clock("75") == 75 and parse_clock("1:15.5") == 75.5 and parse_clock("1:00:02") == 3602
    assert parse_clock("abc") is None
