"""Erasure is atomic under ``kill -9`` (ARCHITECTURE.md privacy rules; GDPR Art. 17).

A subprocess erases a subject with hundreds of recordings from a copy of one
SQLite instance and is killed with SIGKILL at a random moment — before, while
files move to the pending-delete area, inside the transaction, after the
commit while files are deleted, or not at all. After ``recover_pending`` (what
the next start does) the copy must hold either the whole subject (every row
and every file, byte for byte) or nothing of it — and in both cases no
``PendingFileOperation`` row, nothing in the pending-delete area, no file
without its row, no row without its file, an unbroken audit chain, and the
other subject untouched. Repeated many times with delays spread over the
erasure's duration.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rcrm_desktop.core import audit
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.pending import recover_pending, waveform_cache_dir
from rcrm_desktop.core.store import RecordingsStore, sha256_of
from rcrm_desktop.db import connection
from rcrm_desktop.db.models import PendingFileOperation, Recording, RightsRequest, Subject
from tests.conftest import Instance
from tests.unit.test_requests import make_subject

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")]

RECORDINGS = 300
ITERATIONS = 30

CHILD = r"""
import os, sys
from rcrm_desktop.core import erasure, operators
from rcrm_desktop.core.instance import open_instance
from rcrm_desktop.core.store import RecordingsStore
from rcrm_desktop.db.models import Operator
url, root, request_id, user_id = sys.argv[1:5]
open_instance(url)
actor = operators.actor_of(Operator.get(Operator.username == "eva"))
store = RecordingsStore(root)
print("ready", flush=True)
sys.stdin.readline()
erasure.erase_subject(actor, int(request_id), user_id, store=store)
print("done", flush=True)
"""


def _url(home: Path) -> str:
    return "sqlite:///" + (home / "data" / "instance.sqlite3").as_posix()


def _state(home: Path, subject_user_id: str, expected: dict[str, str], control: dict[str, str],
           request_id: int, recoveries: dict[str, int]) -> str:
    """Check every invariant on the copy at ``home`` after recovery; returns ``kept`` or ``erased``."""
    store = RecordingsStore(home / "data" / "recordings")
    report = recover_pending(store)
    assert report.running_batches == 0
    recoveries["undone"] += report.undone_batches
    recoveries["finished"] += report.finished_batches
    assert PendingFileOperation.select().count() == 0
    pending_area = store.root / ".pending-delete"
    assert not pending_area.exists() or not any(pending_area.rglob("*")), list(pending_area.rglob("*"))
    rows = {r.path: r.sha256 for r in Recording.select()}
    files = {store.relative_path(p): p for p in store.root.rglob("*") if p.is_file()}
    assert set(files) == set(rows), "a file without its row or a row without its file"
    for relative, sha in control.items():
        assert rows.get(relative) == sha and sha256_of(files[relative]) == sha
    subject = Subject.get_or_none(Subject.user_id == subject_user_id)
    request = RightsRequest.get_by_id(request_id)
    assert audit.verify_chain().ok
    if subject is not None:
        assert Recording.select().where(Recording.subject == subject.id).count() == len(expected)
        for relative, sha in expected.items():
            assert rows.get(relative) == sha, f"{relative} lost its row"
            assert sha256_of(files[relative]) == sha, f"{relative} changed"
        assert request.state == "in_progress" and request.erased_at is None
        return "kept"
    assert not set(expected) & set(rows), "recordings of the erased subject are left"
    assert request.state == "completed" and request.erased_at is not None
    cache = waveform_cache_dir()
    left = [p.name for p in cache.iterdir()] if cache.is_dir() else []
    assert not [n for n in left if n[:64] in set(expected.values())], "waveform cache of erased audio is left"
    return "erased"


def test_kill_during_erasure_leaves_all_or_nothing(sqlite_instance: Instance, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inst = sqlite_instance
    template = Path(os.environ["RCRM_HOME"])
    data = make_subject(inst.compliance.operator_id, recordings=RECORDINGS, crash_events=3, seconds=0.05)
    control_data = make_subject(inst.compliance.operator_id, user_id="U-880002", name="Other Person",
                                email="other@example.sk", phone="+421 900 000 000", recordings=5, crash_events=1,
                                seconds=0.05)
    detail = rq.create_request(inst.compliance, "erasure", "Jana Nováková", subject_id=data.subject.id)
    detail = rq.verify_identity(inst.compliance, detail.id, "Known e-mail address")
    store_root = template / "data" / "recordings"
    expected = {Recording.get_by_id(rid).path: sha for rid, sha in zip(data.recording_ids, data.sha256s, strict=True)}
    control = {Recording.get_by_id(rid).path: sha
               for rid, sha in zip(control_data.recording_ids, control_data.sha256s, strict=True)}
    cache = waveform_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for sha in data.sha256s[:20] + control_data.sha256s:
        (cache / f"{sha}-256.peaks").write_bytes(b"\x00" * 32)
    connection.close()
    rng = random.Random(20260317)
    outcomes: list[str] = []
    recoveries = {"undone": 0, "finished": 0}
    duration = 0.0
    started = time.monotonic()
    for iteration in range(ITERATIONS):
        home = tmp_path / f"run{iteration}"
        shutil.copytree(template, home)
        monkeypatch.setenv("RCRM_HOME", str(home))
        root = home / "data" / "recordings"
        assert root != store_root
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, _url(home), str(root), str(detail.id), data.subject.user_id],
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
            # Delays spread evenly over [0, 1.15 × duration], jittered: every phase gets hit.
            slot = (iteration - 1) / (ITERATIONS - 1)
            delay = duration * 1.15 * (slot + rng.uniform(0, 1 / (ITERATIONS - 1)))
            time.sleep(max(0.0, delay - (time.monotonic() - go)))
            child.send_signal(signal.SIGKILL)
            child.wait(30)  # reaped: its pid is really gone, so recovery may finish its work
        if child.stdin:
            child.stdin.close()
        for stream in (child.stdout, child.stderr):
            if stream:
                stream.close()
        connection.connect(_url(home))
        try:
            outcomes.append(_state(home, data.subject.user_id, expected, control, detail.id, recoveries))
        finally:
            connection.close()
        shutil.rmtree(home, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"erasure of {RECORDINGS} recordings took {duration:.2f} s; outcomes after kill -9: "
          f"{outcomes.count('kept')} kept whole, {outcomes.count('erased')} erased; recovery undid "
          f"{recoveries['undone']} and finished {recoveries['finished']} interrupted batches; {elapsed:.1f} s in all")
    assert outcomes[0] == "erased"
    assert "kept" in outcomes and outcomes.count("erased") >= 2
    assert recoveries["undone"] + recoveries["finished"] >= 2  # kills did land inside the file work
