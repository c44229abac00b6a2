"""The crash-report commands, run in-process through ``rcrm_desktop.cli.main`` (the real parser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcrm_desktop.db.models import AuditEvent, CrashEvent, CrashGroup, InstanceSetting
from tests.conftest import Instance
from tests.e2e.conftest import Run, make_runner

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"



@pytest.fixture
def run(sqlite_instance: Instance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(sqlite_instance, monkeypatch, capsys, "tomas")


def test_import_crashes_reports_imported_duplicates_and_refused(run: Run) -> None:
    code, out, _ = run("import-crashes", str(DATA), "--json")
    assert code == 1  # some records were refused
    report = json.loads(out)
    assert report["imported"] == 6 and report["duplicates"] == 0
    assert {(Path(r["source"]).name, r["position"]) for r in report["refused"]} == {
        ("mixed.ndjson", 2), ("mixed.ndjson", 3), ("mixed.ndjson", 4), ("mixed.ndjson", 5), ("mixed.ndjson", 6)}
    assert all(r["reason"] for r in report["refused"])
    code, out, _ = run("import-crashes", str(DATA / "js_array.json"))
    assert code == 0
    assert "Imported 0 events, 3 duplicates skipped, 0 refused" in out
    code, out, err = run("import-crashes", str(DATA / "js_array.json"), operator="eva")
    assert code == 5 and "crashes.import" in err


def test_groups_show_and_state_changes(run: Run) -> None:
    run("import-crashes", str(DATA))
    code, out, _ = run("crashes", "groups", "--json")
    groups = json.loads(out)
    assert code == 0 and len(groups) == CrashGroup.select().count() == 4
    assert {"title", "state", "event_count", "affected_subjects"} <= groups[0].keys()
    js = next(g for g in groups if g["title"].startswith("TypeError"))
    code, out, _ = run("crashes", "groups")
    assert "TypeError: Cannot read properties of undefined" in out and "4 groups" in out
    code, out, _ = run("crashes", "show", str(js["id"]), "--json")
    shown = json.loads(out)
    assert shown["event_count"] == 2 and len(shown["events"]) == 2
    assert shown["explanation"]["method"] == "in_app_frames"
    assert [r["value"] for r in shown["releases"]] == ["rcrm-web@4.2.1"]
    code, out, _ = run("crashes", "show", f"#{js['id']}")
    assert "Grouped by: exception type and in-app stack frames" in out
    assert "+ src/components/CallPlayer.tsx in CallPlayer" in out
    code, out, _ = run("crashes", "show", js["fingerprint"][:10])
    assert code == 0
    code, out, _ = run("crashes", "resolve", str(js["id"]), "--release", "rcrm-web@4.2.1")
    assert code == 0 and "resolved in rcrm-web@4.2.1" in out
    code, out, _ = run("crashes", "groups", "--state", "resolved", "--json")
    assert [g["id"] for g in json.loads(out)] == [js["id"]]
    code, out, _ = run("crashes", "ignore", str(js["id"]))
    assert "ignored" in out
    code, out, _ = run("crashes", "unresolve", str(js["id"]), "--json")
    assert json.loads(out)["state"] == "unresolved"
    code, _, err = run("crashes", "resolve", str(js["id"]), operator="eva")
    assert code == 5 and "crashes.manage" in err
    code, _, err = run("crashes", "show", "999999")
    assert code == 6 and "no crash group" in err


def test_merge_unmerge_rules_and_rescrub(run: Run) -> None:
    run("import-crashes", str(DATA))
    ids = sorted(g.id for g in CrashGroup.select())
    code, out, _ = run("crashes", "merge", str(ids[1]), str(ids[0]))
    assert code == 0 and f"Merged #{ids[1]} into #{ids[0]}" in out
    assert CrashGroup.get_by_id(ids[1]).merged_into_id == ids[0]
    code, out, _ = run("crashes", "unmerge", str(ids[1]), "--json")
    assert json.loads(out) == {"unmerged": [ids[1]]}
    code, out, _ = run("crashes", "rules", "--json")
    assert code == 0 and {"email", "card_number"} <= {r["name"] for r in json.loads(out)}
    code, _, err = run("crashes", "rules", "--add", r"rcrm-app-\d+", "--name", "Host names")
    assert code == 5 and "settings.edit" in err
    code, out, _ = run("crashes", "rules", "--add", r"rcrm-app-\d+", "--name", "Host names", operator="admin")
    assert code == 0 and "Host names" in out and "crashes rescrub" in out
    assert "rcrm-app-\\\\d+" in InstanceSetting.get_by_id("scrub_extra_rules").value
    assert any("rcrm-app-1" in e.payload for e in CrashEvent.select())
    code, out, _ = run("crashes", "rescrub", "--json")
    assert code == 0 and json.loads(out)["changed"] >= 1
    assert not any("rcrm-app-1" in e.payload for e in CrashEvent.select())
    assert AuditEvent.select().where(AuditEvent.action == "crash.rescrub").exists()
    code, out, _ = run("crashes", "rules", "--remove", "Host names", operator="admin")
    assert code == 0 and "Host names" not in out
