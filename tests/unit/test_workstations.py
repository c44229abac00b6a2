"""Several workstations on one instance: two real connections, one per thread, on every engine.

Peewee keeps one connection per thread, so a second thread is a second
workstation: its own SQLite connection (WAL) or its own server session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rcrm_desktop.core import requests, subjects
from rcrm_desktop.db.models import Subject, database
from rcrm_desktop.errors import ConflictError
from tests.conftest import Instance


def on_other_workstation(fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``fn`` on a second connection (another thread) and return its result or raise its error."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            database.connect(reuse_if_open=True)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc
        finally:
            database.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the other workstation did not finish"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _subject(name: str = "Jana Nováková", user_id: str = "WS-1") -> int:
    row = Subject.create(user_id=user_id, name=name, name_key=subjects.fold(name),
                         search_key=subjects.make_search_key(name, user_id))
    return int(row.id)


def test_a_change_on_one_shows_on_the_other(instance: Instance) -> None:
    sid = _subject()
    before = on_other_workstation(lambda: subjects.list_subjects(instance.support, "nova", audit_view=False))
    assert [r.name for r in before] == ["Jana Nováková"]
    subjects.rectify_subject(instance.compliance, sid, "name", "Jana Horáková", "married")
    after = on_other_workstation(lambda: subjects.list_subjects(instance.support, "horak", audit_view=False))
    assert [(r.id, r.name, r.version) for r in after] == [(sid, "Jana Horáková", 2)]


def test_two_edits_of_one_subject_do_not_overwrite_each_other(instance: Instance) -> None:
    sid = _subject()
    read_here = subjects.get_subject(instance.compliance, subject_id=sid).subject.version
    read_there = on_other_workstation(
        lambda: subjects.get_subject(instance.compliance, subject_id=sid).subject.version)
    on_other_workstation(lambda: subjects.rectify_subject(instance.compliance, sid, "email", "jana@example.com",
                                                          "typo", expected_version=read_there))
    with pytest.raises(ConflictError) as caught:
        subjects.rectify_subject(instance.compliance, sid, "email", "j.novakova@example.com", "asked",
                                 expected_version=read_here)
    assert caught.value.current == {"email": "jana@example.com", "version": 2}
    assert Subject.get_by_id(sid).email == "jana@example.com"


def test_two_edits_of_one_request_do_not_overwrite_each_other(instance: Instance) -> None:
    req = requests.create_request(instance.compliance, "access", "Jana Nováková", contact="jana@example.com")
    version, rid = req.row.version, req.row.id
    on_other_workstation(lambda: requests.start_verification(instance.compliance, rid, expected_version=version))
    with pytest.raises(ConflictError):
        requests.start_verification(instance.compliance, rid, "again", expected_version=version)


def test_a_long_write_transaction_does_not_block_browsing(instance: Instance) -> None:
    """An erasure or purge holds its write transaction; the other workstation's list still answers at once."""
    with database.atomic():
        for i in range(50):
            _subject(f"Person {i:02d}", f"WS-{i:02d}")
    held = threading.Event()
    release = threading.Event()
    box: dict[str, Any] = {}

    def long_writer() -> None:
        try:
            database.connect(reuse_if_open=True)
            with database.atomic():
                Subject.delete().where(Subject.user_id << ["WS-00", "WS-01"]).execute()
                Subject.update(restricted=True).where(Subject.user_id == "WS-02").execute()
                held.set()
                release.wait(20)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc
        finally:
            database.close()

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        rows = subjects.list_subjects(instance.support, audit_view=False, limit=500)
        counts = subjects.subject_counts(instance.support, "person")
        elapsed = time.monotonic() - started
        # not blocked, and the uncommitted work is invisible
        assert elapsed < 2.0
        assert len(rows) == 50 and counts.matching == 50
        assert not any(r.restricted for r in rows)
    finally:
        release.set()
        writer.join(20)
    assert "error" not in box
    assert len(subjects.list_subjects(instance.support, audit_view=False, limit=500)) == 48
