"""The call-recording commands, run in-process through ``rcrm_desktop.cli.main`` (the real parser)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rcrm_desktop.audio import decode, synth
from rcrm_desktop.core.store import open_store
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.db.models import AuditEvent, Recording, Subject
from tests.conftest import Instance
from tests.e2e.conftest import Run, make_runner

pytestmark = pytest.mark.e2e



@pytest.fixture
def run(sqlite_instance: Instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(sqlite_instance, monkeypatch, capsys, "tomas")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Subject.create(user_id="U-7", name="Jana Kováčová", name_key="jana kovacova",
                   search_key=make_search_key("Jana Kováčová", "U-7"))
    calls = tmp_path / "calls"
    calls.mkdir()
    synth.write_wav(calls / "one.wav", synth.synth_call(5.0, 8000, seed=1), 8000)
    synth.write_wav(calls / "two.wav", synth.synth_call(3.0, 8000, seed=2), 8000)
    (calls / "broken.wav").write_bytes(b"RIFF....WAVEnot really")
    (calls / "manifest.csv").write_text(
        "file,user_id,started_at,direction,agent,tags\n"
        "one.wav,U-7,2025-05-02T10:15:00Z,inbound,Marek,billing;card-payment\n"
        "two.wav,,2025-05-03T08:00:00+02:00,outbound,Lucia,\n"
        "broken.wav,U-7,2025-05-04T10:00:00Z,inbound,Marek,\n", encoding="utf-8")
    return calls


def test_import_list_show(run: Run, folder: Path) -> None:
    code, out, _ = run("import-recordings", str(folder), "--json")
    assert code == 1  # one file was refused
    report = json.loads(out)
    assert report["imported"] == 2 and report["duplicates"] == 0
    assert [r["file"] for r in report["refused"]] == ["broken.wav"] and report["refused"][0]["reason"]
    code, out, _ = run("import-recordings", str(folder))
    assert code == 1 and "Imported 0 recordings, 2 duplicates skipped, 1 refused" in out
    code, out, _ = run("recordings", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["direction"] for r in rows] == ["outbound", "inbound"]  # newest first
    assert rows[0]["started_at"] == "2025-05-03T06:00:00Z" and rows[0]["user_id"] is None
    code, out, _ = run("recordings", "list", "--subject", "U-7")
    assert code == 0 and "U-7" in out and "1 recording" in out and "card-payment" in out
    rid = rows[1]["id"]
    code, out, _ = run("recordings", "show", str(rid))
    assert code == 0 and "Jana Kováčová" in out and "recording.view" in out and "recordings.import" in out
    code, out, _ = run("recordings", "show", str(rid), "--json")
    data = json.loads(out)
    assert data["tags"] == ["billing", "card-payment"] and data["access_history"][0]["action"] == "recording.view"
    code, out, err = run("import-recordings", str(folder), operator="eva")
    assert code == 5 and "recordings.import" in err


def test_annotate_tag_export_redact_verify(run: Run, folder: Path, tmp_path: Path) -> None:
    run("import-recordings", str(folder))
    rid = Recording.get(Recording.agent == "Marek").id
    code, out, _ = run("recordings", "annotate", str(rid), "--at", "1.5", "--to", "2.5", "--text", "Card number")
    assert code == 0 and "00:02" in out
    code, out, _ = run("recordings", "tag", str(rid), "--add", "VIP", "--json")
    assert code == 0 and json.loads(out)["tags"] == ["billing", "card-payment", "vip"]
    code, _, err = run("recordings", "redact", str(rid), "--from", "1.5", "--to", "2.5", "--reason", "PCI")
    assert code == 5 and "recordings.redact" in err
    code, out, _ = run("recordings", "redact", str(rid), "--from", "1.5", "--to", "2.5", "--reason",
                       "Card number read out", "--tone", operator="eva")
    assert code == 0 and "1 kHz tone" in out
    target = tmp_path / "copy.wav"
    code, out, _ = run("recordings", "export", str(rid), "--out", str(target), "--json", operator="eva")
    assert code == 0 and json.loads(out)["bytes"] == target.stat().st_size
    samples, rate = decode.decode_all(target)
    region = samples[int(1.6 * rate):int(2.4 * rate), 0]
    assert np.abs(np.fft.rfft(region)).argmax() * rate / len(region) == pytest.approx(1000, abs=5)
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.target_id == str(rid))]
    assert {"recording.annotate", "recording.tag", "recording.redact", "recording.export"} <= set(actions)
    code, out, _ = run("verify-recordings", "--json", operator="eva")
    assert code == 0 and json.loads(out)["ok"] is True
    open_store().resolve(Recording.get(Recording.agent == "Lucia").path).unlink()
    (open_store().root / "stray.mp3").write_bytes(b"x")
    code, out, _ = run("verify-recordings", operator="eva")
    assert code == 1 and "missing" in out and "stray.mp3" in out
    code, out, _ = run("recordings", "list")
    assert "FILE MISSING" in out


def test_errors_are_one_line(run: Run, folder: Path) -> None:
    code, _, err = run("recordings", "show", "999")
    assert code == 6 and "no recording #999" in err and "Traceback" not in err
    code, _, err = run("import-recordings", str(folder / "nope"))
    assert code == 2 and "not a folder" in err
    code, _, err = run("recordings", "list", "--since", "yesterday")
    assert code == 2 and "not a date" in err
