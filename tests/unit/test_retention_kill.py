"""A retention run is atomic per batch under ``kill -9``, and a resumed run finishes the job.

A subprocess applies the rules to a copy of one SQLite instance (expired
recordings with files, crash events, inactive accounts, held items and an
account with an open request) in small batches and is killed with SIGKILL at
a moment spread over the run's duration — while files move to the
pending-delete area, inside a transaction, after a commit while files are
deleted, during an account's erasure. Then, as the next start does,
``recover_pending`` runs, and the invariants are checked: no
``PendingFileOperation`` left, nothing in the pending-delete area, no file
without its row and no row without its file, nothing held removed. Then the
next apply resumes the interrupted run, and afterwards everything expired is
gone, everything held is still there, no run is left running, and the audit
chain verifies.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rcrm_desktop.core import audit, holds, retention
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.pending import recover_pending
from rcrm_desktop.core.store import RecordingsStore, open_store, sha256_of
from rcrm_desktop.db import connection
from rcrm_desktop.db.models import AuditEvent, CrashEvent, PendingFileOperation, Recording, RetentionRun, Subject
from tests.conftest import Instance
from tests.unit.test_retention import DAY, NOW, make_event, make_group, make_recording, make_subject, set_rules

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]

RECORDINGS = 240
EVENTS = 1500
ITERATIONS = 14
BATCHES = {"recordings": 15, "crash_events": 250, "annotations": 40}

CHILD = r"""
import datetime as dt, sys
from rcrm_desktop.core import operators, retention
from rcrm_desktop.core.instance import open_instance
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.db.models import Operator
url, root, now = sys.argv[1:4]
open_instance(url)
actor = operators.actor_of(Operator.get(Operator.username == "eva"))
store = RecordingsStore(root)
print("ready", flush=True)
sys.stdin.readline()
retention.apply_retention(actor, now=dt.datetime.fromisoformat(now), store=store, origin="command",
                          batch_sizes={"recordings": 15, "crash_events": 250, "annotations": 40})
print("done", flush=True)
"""


def _url(home: Path) -> str:
    return "sqlite:///" + (home / "data" / "instance.sqlite3").as_posix()


def _consistent(store: RecordingsStore, held: dict[str, str]) -> None:
    assert PendingFileOperation.select().count() == 0
    pending_area = store.root / ".pending-delete"
    assert not pending_area.exists() or not any(pending_area.rglob("*")), list(pending_area.rglob("*"))
    rows = {r.path: r.sha256 for r in Recording.select()}
    files = {store.relative_path(p): p for p in store.root.rglob("*") if p.is_file()}
    assert set(files) == set(rows), "a file without its row or a row without its file"
    for relative, sha in held.items():
        assert rows.get(relative) == sha and sha256_of(files[relative]) == sha, f"held {relative} was touched"


def test_kill_during_a_run_then_resume_removes_exactly_the_expired(sqlite_instance: Instance, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inst = sqlite_instance
    officer = inst.compliance
    rng = random.Random(20260318)
    store = open_store()
    old = NOW - 500 * DAY
    asking = make_subject("U-900001", last_active=old)
    held_account = make_subject("U-900002", last_active=old)
    for i in range(3):
        make_subject(f"U-90010{i}", last_active=old)
    recordings = [make_recording(store, old - rng.randint(0, 300) * DAY, rng.choice([None, None, asking]),
                                 officer.operator_id) for _ in range(RECORDINGS)]
    young = [make_recording(store, NOW - rng.randint(1, 100) * DAY) for _ in range(10)]
    held_rec = recordings[7]
    holds.add_hold(officer, "Complaint", recording_id=held_rec.id)
    make_recording(store, old, held_account)
    holds.add_hold(officer, "Litigation", subject_id=held_account.id)
    groups = [make_group(f"Error {i}") for i in range(4)]
    for _ in range(EVENTS):
        make_event(rng.choice(groups), old - rng.randint(0, 200) * DAY, rng.choice([None, None, asking]))
    holds.add_hold(officer, "Incident", crash_group_id=groups[0].id)
    rq.create_request(officer, "access", "Person U-900001", subject_id=asking.id)
    set_rules(inst, recordings=(365, "delete"), crash_events=(365, "delete"), annotations=(365, "delete"),
              inactive_accounts=(365, "delete"))
    preview = retention.preview_retention(officer, now=NOW)
    held_paths = {r.path: r.sha256 for r in Recording.select().where(
        Recording.subject.in_([asking.id, held_account.id]) | (Recording.id == held_rec.id))}
    held_paths |= {r.path: r.sha256 for r in young}
    held_events = CrashEvent.select().where((CrashEvent.group == groups[0].id)
                                            | (CrashEvent.subject == asking.id)).count()
    assert preview.rule("recordings").due > 150 and preview.rule("crash_events").due > 500
    assert preview.rule("inactive_accounts").due == 3
    template = Path(os.environ["RCRM_HOME"])
    connection.close()

    duration = 0.0
    outcomes: list[str] = []
    started = time.monotonic()
    for iteration in range(ITERATIONS):
        home = tmp_path / f"run{iteration}"
        shutil.copytree(template, home)
        monkeypatch.setenv("RCRM_HOME", str(home))
        root = home / "data" / "recordings"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, _url(home), str(root), NOW.isoformat()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RCRM_HOME": str(home)}, cwd=Path(__file__).resolve().parents[2])
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        go = time.monotonic()
        child.stdin.write("go\n")
        child.stdin.flush()
        if iteration == 0:
            assert child.stdout.readline().strip() == "done", child.stderr.read() if child.stderr else ""
            duration = time.monotonic() - go
            child.wait(30)
        else:
            slot = (iteration - 1) / (ITERATIONS - 1)
            delay = duration * 0.95 * (slot + rng.uniform(0, 1 / (ITERATIONS - 1)))
            time.sleep(max(0.0, delay - (time.monotonic() - go)))
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream:
                stream.close()
        connection.connect(_url(home))
        try:
            copy_store = RecordingsStore(root)
            recover_pending(copy_store)  # what the next start does
            _consistent(copy_store, held_paths)
            running = RetentionRun.select().where(RetentionRun.state == "running").count()
            outcomes.append("interrupted" if running else ("finished" if RetentionRun.select().exists()
                                                            else "not started"))
            report = retention.apply_retention(officer, now=NOW, store=copy_store, batch_sizes=BATCHES)
            assert report.state == "completed"
            assert running == (1 if report.previous is not None else 0)
            _consistent(copy_store, held_paths)
            after = retention.preview_retention(officer, now=NOW)
            assert after.total_due == 0, [(r.category, r.due) for r in after.rules]
            assert CrashEvent.select().where((CrashEvent.group == groups[0].id)
                                             | (CrashEvent.subject == asking.id)).count() == held_events
            assert Subject.get_or_none(Subject.id == held_account.id) is not None
            assert Subject.get_or_none(Subject.id == asking.id) is not None
            assert not RetentionRun.select().where(RetentionRun.state == "running").exists()
            runs = RetentionRun.select().count()
            assert AuditEvent.select().where(AuditEvent.action == "retention.run").count() == runs
            first = retention.list_runs(officer)[-1]
            by_category = {c.category: c for c in first.categories}
            for rule in preview.rules:  # the first run, however often interrupted, did what the preview said
                if rule.rule.active:
                    assert by_category[rule.category].deleted == rule.due, rule.category
            assert audit.verify_chain().ok
        finally:
            connection.close()
        shutil.rmtree(home, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"a run took {duration:.2f} s; after kill -9: {outcomes.count('interrupted')} interrupted and resumed, "
          f"{outcomes.count('not started')} killed before the run began, {outcomes.count('finished')} finished "
          f"before the kill; {elapsed:.1f} s in all")
    assert outcomes[0] == "finished"
    assert outcomes.count("interrupted") >= 4, outcomes
    assert dt.timedelta(seconds=elapsed) < dt.timedelta(seconds=120)
