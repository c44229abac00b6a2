"""The rights-request commands, run in-process through ``rcrm_desktop.cli.main`` (the real parser)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest

from rcrm_desktop.core.access_package import verify_package
from rcrm_desktop.core.store import sha256_of
from rcrm_desktop.db.models import AuditEvent, Recording, RightsRequest, Subject
from tests.conftest import Instance
from tests.e2e.conftest import Run, make_runner
from tests.unit.test_requests import make_subject

pytestmark = pytest.mark.e2e



@pytest.fixture
def run(sqlite_instance: Instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(sqlite_instance, monkeypatch, capsys, "eva")


def test_access_request_from_intake_to_letter(run: Run, sqlite_instance: Instance, tmp_path: Path) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=2, crash_events=1)
    code, out, err = run("requests", "new", "--type", "access", "--subject", "U-770001", "--requester",
                         "Jana Nováková", "--contact", "jana@example.sk", "--channel", "web_form")
    assert code == 0, err
    request_id = int(out.strip())
    code, out, _ = run("requests", "list")
    assert code == 0 and f"#{request_id}" in out and "Jana Nováková" in out and "U-770001" in out
    code, out, _ = run("requests", "show", str(request_id), "--json")
    shown = json.loads(out)
    assert shown["state"] == "received" and shown["actions"]["verify"] == "allowed"
    code, out, err = run("requests", "export", str(request_id), "--out", str(tmp_path / "p.zip"))
    assert code == 2 and "verify the requester's identity first" in err
    assert run("requests", "verify", f"#{request_id}", "--method", "Replied from the e-mail on file")[0] == 0
    code, out, _ = run("requests", "items", str(request_id), "--json")
    items = json.loads(out)
    assert f"audio:{data.recording_ids[0]}" in {i["item"] for i in items}
    code, out, _ = run("requests", "exclude", str(request_id), f"audio:{data.recording_ids[0]}", "--reason",
                       "The other caller's voice")
    assert code == 0 and "withheld" in out
    code, out, err = run("requests", "export", str(request_id), "--out", str(tmp_path / "p.zip"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["sha256"] == sha256_of(tmp_path / "p.zip") == RightsRequest.get_by_id(request_id).package_sha256
    assert result["audio_files"] == 1 and result["withheld"] == 1 and verify_package(tmp_path / "p.zip") == []
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        assert json.loads(zf.read("subject.json"))["withheld"][0]["reason"] == "The other caller's voice"
    code, out, err = run("requests", "letter", str(request_id), "--out", str(tmp_path / "letter.html"))
    assert code == 2 and "still open" in err
    assert run("requests", "close", str(request_id))[0] == 0
    code, out, _ = run("requests", "letter", str(request_id), "--out", str(tmp_path / "letter.html"))
    letter = (tmp_path / "letter.html").read_text(encoding="utf-8")
    assert code == 0 and result["sha256"] in letter and "Jana Nováková" in letter and "Article 15(4)" in letter
    code, out, _ = run("requests", "list", "--state", "closed", "--json")
    assert [r["id"] for r in json.loads(out)] == [request_id]


def test_deadlines_waiting_and_filters(run: Run) -> None:
    today = dt.date.today()
    old = (today - dt.timedelta(days=45)).isoformat()
    recent = (today - dt.timedelta(days=3)).isoformat()
    code, out, _ = run("requests", "new", "--type", "erasure", "--requester", "Peter Kováč", "--received", old)
    overdue_id = int(out)
    code, out, _ = run("requests", "new", "--type", "access", "--requester", "Anna Malá", "--received", recent)
    fresh_id = int(out)
    code, out, _ = run("requests", "list", "--overdue", "--json")
    assert [r["id"] for r in json.loads(out)] == [overdue_id]
    assert json.loads(out)[0]["deadline_status"] == "overdue"
    code, out, _ = run("requests", "list", "--overdue")
    assert "OVERDUE" in out
    code, out, err = run("requests", "extend", str(overdue_id), "--months", "2", "--reason", "Complex",
                         "--notified", old)
    assert code == 2 and "has passed" in err
    code, out, _ = run("requests", "extend", str(fresh_id), "--months", "2", "--reason", "Two call centres",
                       "--notified", recent, "--json")
    assert code == 0 and json.loads(out)["extension"]["requester_told_on"] == recent
    code, out, _ = run("requests", "wait", str(fresh_id), "--reason", "Which period?")
    assert code == 0 and "still due on" in out
    code, out, _ = run("requests", "list", "--state", "awaiting_requester", "--json")
    assert [r["id"] for r in json.loads(out)] == [fresh_id]
    assert run("requests", "resume", str(fresh_id))[0] == 0
    code, out, err = run("requests", "reject", str(overdue_id), "--grounds", "exemption", "--reason", "Court")
    assert code == 2 and "Name the exemption" in err
    code, out, _ = run("requests", "reject", str(overdue_id), "--grounds", "exemption", "--reason", "Court case",
                       "--exemption", "Art. 17(3)(e)")
    assert code == 0
    assert run("requests", "withdraw", str(fresh_id), "--note", "Changed their mind")[0] == 0
    code, out, _ = run("requests", "show", str(fresh_id))
    assert "Withdrawn" in out and "Timeline:" in out and "Possible now:   letter, note" in out
    code, out, err = run("requests", "show", "nonsense")
    assert code == 2 and "not a request number" in err
    code, out, err = run("requests", "show", "999")
    assert code == 6


def test_erasure_preview_and_confirm(run: Run, sqlite_instance: Instance, tmp_path: Path) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=3, crash_events=1)
    code, out, _ = run("requests", "new", "--type", "erasure", "--subject", "U-770001", "--requester",
                       "Jana Nováková", "--contact", "jana.novakova@example.sk")
    request_id = int(out)
    code, out, _ = run("requests", "erase", str(request_id))
    assert code == 1 and "CANNOT ERASE NOW" in out
    run("requests", "verify", str(request_id), "--method", "Known address")
    code, out, _ = run("requests", "erase", str(request_id))
    assert code == 0 and "3 recording(s)" in out and "--confirm U-770001" in out
    code, out, _ = run("requests", "erase", str(request_id), "--json")
    assert json.loads(out)["counts"]["recordings"] == 3
    code, out, err = run("requests", "erase", str(request_id), "--confirm", "U-7700")
    assert code == 2 and "does not match" in err and Subject.select().count() == 1
    code, out, err = run("requests", "erase", str(request_id), "--confirm", "U-770001", operator="tomas")
    assert code == 5
    letter = tmp_path / "letter.html"
    code, out, err = run("requests", "erase", str(request_id), "--confirm", "U-770001", "--letter", str(letter))
    assert code == 0, err
    assert "Erased" in out and Subject.select().count() == 0 and Recording.select().count() == 0
    assert not any(p.exists() for p in data.paths)
    assert "Jana Nováková" in letter.read_text(encoding="utf-8")
    assert RightsRequest.get_by_id(request_id).state == "completed"
    assert AuditEvent.select().where(AuditEvent.action == "subject.erase").count() == 1


def test_restriction_objection_rectification_and_children(run: Run, sqlite_instance: Instance) -> None:
    make_subject(sqlite_instance.compliance.operator_id, recordings=0, crash_events=0)
    make_subject(sqlite_instance.compliance.operator_id, user_id="U-kid", name="Young One", email=None, phone=None,
                 recordings=0, crash_events=0, birth_date=dt.date.today() - dt.timedelta(days=365 * 12))
    ids = {}
    for kind in ("restriction", "objection", "rectification"):
        code, out, _ = run("requests", "new", "--type", kind, "--subject", "U-770001", "--requester", "Jana")
        ids[kind] = int(out)
        run("requests", "verify", out.strip(), "--method", "Known phone")
    assert run("requests", "restrict", str(ids["restriction"]), "--reason", "Accuracy contested")[0] == 0
    assert run("requests", "object", str(ids["objection"]), "--reason", "No analytics")[0] == 0
    subject = Subject.get(Subject.user_id == "U-770001")
    assert subject.restricted and subject.objected
    code, out, err = run("requests", "restrict", str(ids["objection"]), "--reason", "x")
    assert code == 2 and "restriction request" in err
    code, out, _ = run("requests", "rectify", str(ids["rectification"]), "--field", "phone", "--value",
                       "+421 905 000 111", "--reason", "New number")
    assert code == 0 and Subject.get_by_id(subject.id).phone == "+421 905 000 111"
    assert run("requests", "lift-restriction", "U-770001", "--reason", "Verified", "--request",
               str(ids["restriction"]))[0] == 0
    assert run("requests", "lift-objection", "U-770001", "--reason", "Legitimate grounds")[0] == 0
    subject = Subject.get_by_id(subject.id)
    assert not subject.restricted and not subject.objected
    code, out, _ = run("children")
    assert code == 0 and "U-kid" in out and "U-770001" not in out and "under 16" in out
    code, out, _ = run("children", "--open-erasure-requests", "--json")
    report = json.loads(out)
    assert report["age_of_consent"] == 16 and len(report["erasure_requests"]["created"]) == 1
    code, out, _ = run("children", "--age", "13", "--json")
    assert [c["user_id"] for c in json.loads(out)["children"]] == ["U-kid"]
    code, out, err = run("children", operator="tomas")
    assert code == 5
