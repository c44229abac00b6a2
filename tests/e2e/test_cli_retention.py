"""The retention and legal-hold commands, run in-process through ``rcrm_desktop.cli.main`` (the real parser)."""

from __future__ import annotations

import json

import pytest

from rcrm_desktop.core import holds
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.store import open_store
from rcrm_desktop.db.models import AuditEvent, LegalHold, Recording, RetentionPolicy, RetentionRun
from tests.conftest import Instance
from tests.e2e.conftest import Run, make_runner
from tests.unit.test_retention import DAY, make_recording, make_subject

pytestmark = pytest.mark.e2e



@pytest.fixture
def run(sqlite_instance: Instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(sqlite_instance, monkeypatch, capsys, "eva")


def test_rules_set_preview_apply_runs_and_report(run: Run, sqlite_instance: Instance) -> None:
    store = open_store()
    from rcrm_desktop.db.models import utcnow

    now = utcnow()
    old = [make_recording(store, now - (400 + i) * DAY) for i in range(3)]
    young = make_recording(store, now - DAY)

    code, out, _ = run("retention", "rules")
    assert code == 0 and "recordings" in out and "kept forever (fixed)" in out and "does not keep access" in out
    code, out, _ = run("retention", "set", "recordings", "--max-age", "1y", "--enabled", "yes")
    assert code == 0 and "Recordings: delete after 365 days (1 year), enabled." in out
    assert RetentionPolicy.get_by_id("recordings").max_age_days == 365
    code, out, err = run("retention", "set", "recordings", "--action", "anonymise")
    assert code == 2 and "only be handled with: delete" in err
    code, out, err = run("retention", "set", "audit_log", "--max-age", "10y", "--enabled", "yes")
    assert code == 2 and "hash chain" in err
    code, _, err = run("retention", "set", "recordings")
    assert code == 2 and "Nothing to change" in err
    code, out, _ = run("retention", "rules", "--json")
    rules = {r["category"]: r for r in json.loads(out)}
    assert rules["recordings"]["enabled"] and rules["recordings"]["updated_by"] == "eva"

    code, out, _ = run("retention", "preview", "--json")
    preview = json.loads(out)
    rec = next(r for r in preview["rules"] if r["category"] == "recordings")
    assert rec["due"] == 3 and preview["total_due"] == 3
    code, out, _ = run("retention", "preview")
    assert "nothing has been changed" in out and "3 items due, 0 held back." in out
    code, out, _ = run("retention", "preview", "--items", "recordings", "--json")
    assert [i["id"] for i in json.loads(out)] == [r.id for r in old]
    assert Recording.select().count() == 4

    code, out, _ = run("retention", "apply")
    assert code == 0 and "Retention run #1 — Completed" in out and "3 of 3 due deleted" in out
    assert [r.id for r in Recording.select()] == [young.id]
    code, out, _ = run("retention", "runs", "--json")
    runs = json.loads(out)
    assert runs[0]["id"] == 1 and runs[0]["totals"]["deleted"] == 3 and runs[0]["origin"] == "command"
    code, out, _ = run("retention", "runs")
    assert "#1" in out and "Completed" in out
    code, out, _ = run("retention", "report", "1")
    assert out.startswith("Retention run #1 — Completed") and "3 audio files deleted" in out
    code, _, err = run("retention", "report", "99")
    assert code == 6 and "no retention run #99" in err
    code, out, _ = run("retention", "apply", "--resume", "--json")
    assert code == 0 and json.loads(out) == {"resumed": None}
    assert AuditEvent.select().where(AuditEvent.action == "retention.run").count() == 1
    assert RetentionRun.select().count() == 1


def test_holds_add_list_release_and_they_show_in_the_preview(run: Run, sqlite_instance: Instance) -> None:
    from rcrm_desktop.db.models import utcnow

    subject = make_subject("U-950001")
    rec = make_recording(open_store(), utcnow() - 500 * DAY, subject)
    code, out, _ = run("holds", "list")
    assert code == 0 and "No active legal hold." in out
    code, out, _ = run("holds", "add", "--subject", "U-950001", "--reason", "Litigation 2026/17")
    assert code == 0 and "Placed legal hold #1 on U-950001" in out
    code, out, _ = run("holds", "add", "--recording", str(rec.id), "--reason", "Complaint", "--json")
    assert json.loads(out)["target"] == "recording"
    code, _, err = run("holds", "add", "--recording", "999", "--reason", "x")
    assert code == 6 and "no recording #999" in err
    with pytest.raises(SystemExit):
        run("holds", "add", "--subject", "U-950001", "--recording", "1", "--reason", "x")
    code, out, _ = run("holds", "list")
    assert "#1" in out and "#2" in out and "Litigation 2026/17" in out and "2 holds" in out

    run("retention", "set", "recordings", "--max-age", "365", "--enabled", "yes")
    code, out, _ = run("retention", "preview")
    assert "Held back from recordings:" in out and "Legal hold #1 (1): On user account U-950001" in out
    code, out, _ = run("retention", "preview", "--items", "recordings", "--held")
    assert "Legal hold #1 on the account: Litigation 2026/17" in out
    run("retention", "apply")
    assert Recording.get_or_none(Recording.id == rec.id) is not None

    code, out, _ = run("holds", "release", "1", "--reason", "Settled")
    assert code == 0 and "Released legal hold #1" in out
    code, _, err = run("holds", "release", "1", "--reason", "Again")
    assert code == 2 and "already released" in err
    code, out, _ = run("holds", "list", "--all", "--json")
    assert [(h["id"], h["active"]) for h in json.loads(out)] == [(2, True), (1, False)]
    code, out, _ = run("holds", "list", "--released")
    assert "released" in out and "#2" not in out
    assert LegalHold.select().count() == 2


def test_open_request_shows_in_the_preview_and_support_is_refused(run: Run, sqlite_instance: Instance) -> None:
    from rcrm_desktop.db.models import utcnow

    subject = make_subject("U-960001")
    make_recording(open_store(), utcnow() - 500 * DAY, subject)
    detail = rq.create_request(sqlite_instance.compliance, "access", "Person", subject_id=subject.id)
    run("retention", "set", "recordings", "--max-age", "365", "--enabled", "yes")
    code, out, _ = run("retention", "preview", "--json")
    rec = next(r for r in json.loads(out)["rules"] if r["category"] == "recordings")
    assert rec["due"] == 0 and rec["held"] == 1
    assert rec["held_back"][0]["kind"] == "request" and rec["held_back"][0]["id"] == detail.id
    for argv in (("retention", "rules"), ("retention", "apply"), ("holds", "list"),
                 ("holds", "add", "--subject", "U-960001", "--reason", "x")):
        code, _, err = run(*argv, operator="tomas")
        assert code == 5 and "may not do this" in err, argv
    assert not holds.list_holds(sqlite_instance.compliance)
