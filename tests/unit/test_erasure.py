"""Erasure (GDPR Art. 17): preview, completeness, legal holds, failures that change nothing, and recovery.

The completeness test scans every text column of every table, every file of
the recordings store, the cache folder and the log folder for the subject's
name (as written and folded), user ID, e-mail and phone, and every file's
SHA-256 for the subject's audio.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from rcrm_desktop import paths
from rcrm_desktop.core import erasure, pending
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.pending import FileBatch, recover_pending
from rcrm_desktop.core.store import open_store, sha256_of
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.models import (
    ALL_MODELS,
    Annotation,
    AuditEvent,
    CrashEvent,
    CrashGroup,
    LegalHold,
    PendingFileOperation,
    Recording,
    RequestEvent,
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, InstanceError, PermissionDenied, ValidationError
from tests.conftest import Instance
from tests.unit.test_requests import SubjectData, make_subject, start


def identifiers(data: SubjectData) -> list[str]:
    s = data.subject
    digits = "".join(ch for ch in s.phone or "" if ch.isdigit())
    return [v for v in (s.name, fold(s.name), s.user_id, s.email, s.phone, digits) if v]


def table_hits(needles: list[str]) -> list[str]:
    """Every (table, column) whose text holds one of ``needles`` (case-insensitive)."""
    lowered = [n.lower() for n in needles]
    hits = []
    for model in ALL_MODELS:
        fields = [f for f in model._meta.sorted_fields if isinstance(f, peewee.CharField | peewee.TextField)]
        if not fields:
            continue
        for row in model.select(*fields).tuples():
            for f, value in zip(fields, row, strict=True):
                text = str(value or "").lower()
                for needle in lowered:
                    if needle in text:
                        hits.append(f"{model.__name__}.{f.name} holds {needle!r}")
    return hits


def file_hits(roots: list[Path], needles: list[str], audio_hashes: set[str]) -> list[str]:
    hits = []
    encoded = [n.encode("utf-8").lower() for n in needles]
    for root in roots:
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            if any(n.lower() in str(path).lower() for n in needles):
                hits.append(f"file name {path}")
            data = path.read_bytes()
            low = data.lower()
            for needle in encoded:
                if needle in low:
                    hits.append(f"{path} holds {needle!r}")
            if hashlib.sha256(data).hexdigest() in audio_hashes:
                hits.append(f"{path} is the subject's audio")
    return hits


@pytest.fixture
def log_to_file() -> Iterator[Path]:
    """Log into the log folder at the program's level (INFO), as ``logs.setup_logging`` does, during the test.

    (At DEBUG, peewee's own logger writes every SQL statement with its
    parameters: ``logs.setup_logging(verbose=True)`` must keep ``peewee`` at INFO.)
    """
    folder = paths.log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "rcrm-desktop.log"
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    yield target
    root.removeHandler(handler)
    handler.close()
    root.setLevel(old_level)


def cache_entry(sha256: str, suffix: str = ".peaks") -> Path:
    folder = pending.waveform_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha256}-256{suffix}"
    path.write_bytes(b"\x00\x01" * 64)
    return path


def erasure_request(inst: Instance, data: SubjectData) -> rq.RequestDetail:
    return rq.create_request(inst.compliance, "erasure", data.subject.name, contact=data.subject.email,
                             subject_id=data.subject.id, details=f"Please delete account {data.subject.user_id}.")


def verified(inst: Instance, detail: rq.RequestDetail) -> rq.RequestDetail:
    return rq.verify_identity(inst.compliance, detail.id, f"Replied from {inst.compliance.username}'s known address")


# ================================================================ preview


def test_preview_lists_everything_with_counts(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=4, crash_events=2)
    other = make_subject(actor.operator_id, user_id="U-880002", name="Other Person", email="other@example.sk",
                         phone="+421 900 000 000", recordings=1, crash_events=0)
    detail = verified(instance, erasure_request(instance, data))
    access = rq.create_request(actor, "access", data.subject.name, subject_id=data.subject.id)
    cache_entry(data.sha256s[0])
    preview = erasure.preview_erasure(actor, detail.id)
    assert preview.can_erase and preview.user_id == "U-770001" and preview.subject_name == "Jana Nováková"
    c = preview.counts
    assert (c["recordings"], c["annotations"], c["tags"], c["redactions"]) == (4, 4, 4, 1)
    assert (c["crash_events"], c["crash_groups_recounted"], c["changes"], c["released_holds"]) == (2, 1, 1, 1)
    assert c["requests_kept"] == 2 and c["held_recordings"] == 0 and c["waveform_cache_files"] == 1
    assert c["audio_bytes"] == sum(p.stat().st_size for p in data.paths)
    assert preview.subject_ref.startswith("ref-") and "770001" not in preview.subject_ref
    assert any(f"Request #{access.id}" in w for w in preview.warnings)
    assert {k.kind for k in preview.kept} >= {"requests", "audit", "crash_groups"}
    items = erasure.preview_items(actor, detail.id, "recordings", limit=3)
    assert [i.id for i in items] == data.recording_ids[:3]
    more = erasure.preview_items(actor, detail.id, "recordings", after_id=items[-1].id, limit=3)
    assert [i.id for i in more] == data.recording_ids[3:]
    assert {i.id for i in erasure.preview_items(actor, detail.id, "crash_events")} == set(data.crash_ids)
    assert len(erasure.preview_items(actor, detail.id, "annotations")) == 4
    assert [i.id for i in erasure.preview_items(actor, detail.id, "changes")] == data.change_ids
    assert {i.id for i in erasure.preview_items(actor, detail.id, "requests")} == {detail.id, access.id}
    with pytest.raises(ValidationError):
        erasure.preview_items(actor, detail.id, "everything")
    with pytest.raises(PermissionDenied):
        erasure.preview_erasure(instance.support, detail.id)
    assert Subject.select().count() == 2 and Recording.select().count() == 5
    del other


def test_preview_blockers_explain_what_to_do(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    detail = erasure_request(instance, data)
    preview = erasure.preview_erasure(actor, detail.id)
    assert not preview.can_erase and "verify the requester's identity first" in preview.blockers[0]
    access = start(instance, "access", subject_id=data.subject.id)
    assert erasure.preview_erasure(actor, access.id).blockers == [
        "A user account is erased through an erasure request; this is an access request."]


# ================================================================ the erasure


def test_erasure_is_complete(instance: Instance, log_to_file: Path) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=5, crash_events=3)
    keep = make_subject(actor.operator_id, user_id="U-880002", name="Other Person", email="other@example.sk",
                        phone="+421 900 000 000", recordings=2, crash_events=1)
    detail = verified(instance, erasure_request(instance, data))
    rq.add_note(actor, detail.id, f"Called {data.subject.name} on {data.subject.phone} to confirm")
    rq.wait_for_requester(actor, detail.id, f"Asked {data.subject.email} which account")
    detail = rq.resume(actor, detail.id)
    access = rq.create_request(actor, "access", "Jana Novakova", contact=data.subject.phone,
                               subject_id=data.subject.id)
    legacy = RightsRequest.create(type="access", state="completed", subject=None, subject_ref=data.subject.user_id,
                                  requester_name="JANA NOVÁKOVÁ", requester_contact=data.subject.email,
                                  received_on=detail.row.received_on, due_on=detail.row.due_on,
                                  created_by=actor.operator_id)
    mine_cache = [cache_entry(sha) for sha in data.sha256s]
    their_cache = cache_entry(keep.sha256s[0])
    needles = identifiers(data)
    audio = set(data.sha256s)
    store = open_store()
    assert table_hits(needles) and file_hits([store.root], [], audio)  # the scan does find them before

    result = erasure.erase_subject(actor, detail.id, " U-770001 ")
    assert result.counts["recordings"] == 5 and result.counts["crash_events"] == 3
    assert result.files_deleted == 5 and result.subject_ref.startswith("ref-")
    assert "Jana Nováková" in result.letter_html and "erased your user account" in result.letter_html

    assert table_hits(needles) == []
    roots = [store.root, paths.cache_dir(), paths.log_dir()]
    assert file_hits(roots, needles, audio) == []
    assert log_to_file.exists()
    assert all(not p.exists() for p in data.paths + mine_cache)
    assert their_cache.exists() and all(p.exists() for p in keep.paths)
    # Nothing else was touched, nothing is left pending.
    assert Subject.select().count() == 1 and Recording.select().count() == 2
    assert CrashEvent.select().where(CrashEvent.subject == keep.subject.id).count() == 1
    assert PendingFileOperation.select().count() == 0
    assert not any(store.pending_dir.iterdir())
    # The requests stay as proof, pseudonymous; this one is completed.
    fresh = RightsRequest.get_by_id(detail.id)
    assert fresh.state == "completed" and fresh.erased_at is not None and fresh.subject_id is None
    assert fresh.subject_ref == result.subject_ref == RightsRequest.get_by_id(access.id).subject_ref
    assert RightsRequest.get_by_id(legacy.id).subject_ref == result.subject_ref
    assert RightsRequest.get_by_id(access.id).requester_name == erasure.ERASED_REQUESTER
    assert RightsRequest.get_by_id(access.id).requester_contact is None
    kinds = [e.kind for e in RequestEvent.select().where(RequestEvent.request == detail.id).order_by(RequestEvent.id)]
    assert kinds[-2:] == ["erased", "state"]
    # The crash group keeps the other subject's event, recounted.
    group = CrashGroup.get_by_id(data.group_id)
    assert (group.event_count, group.subject_count) == (1, 0)
    event = AuditEvent.get(AuditEvent.action == "subject.erase")
    assert json.loads(event.details)["recordings"] == 5 and event.target_id == str(data.subject.id)
    # The former subject's requests are found by the user ID they give again.
    found = rq.list_requests(actor, rq.RequestFilter(search="U-770001", state=None))
    assert {r.id for r in found} == {detail.id, access.id, legacy.id}
    letter = rq.get_request(actor, detail.id)
    assert letter.row.state == "completed"


def test_wrong_confirmation_and_permissions_change_nothing(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=2, crash_events=1)
    detail = verified(instance, erasure_request(instance, data))
    with pytest.raises(ValidationError, match="does not match"):
        erasure.erase_subject(actor, detail.id, "U-77000")
    with pytest.raises(ValidationError, match="does not match"):
        erasure.erase_subject(actor, detail.id, "u-770001")
    with pytest.raises(PermissionDenied):
        erasure.erase_subject(instance.support, detail.id, "U-770001")
    with pytest.raises(PermissionDenied):
        erasure.erase_subject(instance.admin, detail.id, "U-770001")
    rq.add_note(actor, detail.id, "Meanwhile on another workstation")
    with pytest.raises(ConflictError):
        erasure.erase_subject(actor, detail.id, "U-770001", expected_version=detail.row.version - 1)
    assert Subject.select().count() == 1 and all(p.exists() for p in data.paths)
    assert RightsRequest.get_by_id(detail.id).state == "in_progress"


def test_legal_hold_on_subject_blocks_erasure(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=2, crash_events=0)
    hold = LegalHold.create(subject=data.subject.id, reason="Litigation 2026/17", owner=actor.operator_id)
    detail = verified(instance, erasure_request(instance, data))
    preview = erasure.preview_erasure(actor, detail.id)
    assert not preview.can_erase
    assert any(f"Legal hold #{hold.id}" in b and "Litigation 2026/17" in b for b in preview.blockers)
    with pytest.raises(ValidationError, match="holds win over erasure"):
        erasure.erase_subject(actor, detail.id, "U-770001")
    assert Subject.select().count() == 1 and all(p.exists() for p in data.paths)
    LegalHold.update(released_at=utcnow(), release_reason="Case closed").where(LegalHold.id == hold.id).execute()
    assert erasure.preview_erasure(actor, detail.id).can_erase
    erasure.erase_subject(actor, detail.id, "U-770001")
    assert Subject.select().count() == 0 and LegalHold.select().count() == 0


def test_legal_hold_on_a_recording_keeps_it_unlinked(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=3, crash_events=2)
    held_id = data.recording_ids[1]
    hold = LegalHold.create(recording=held_id, reason="Complaint to the regulator", owner=actor.operator_id)
    group_hold = LegalHold.create(crash_group=data.group_id, reason="Incident review", owner=actor.operator_id)
    detail = verified(instance, erasure_request(instance, data))
    preview = erasure.preview_erasure(actor, detail.id)
    assert preview.can_erase and preview.counts["recordings"] == 2 and preview.counts["held_recordings"] == 1
    assert preview.counts["crash_events"] == 0 and preview.counts["crash_events_anonymised"] == 2
    kept = [k for k in preview.kept if k.kind == "held_recording"]
    assert kept and "Complaint to the regulator" in kept[0].why and "unlinked" in kept[0].why
    assert [i.id for i in erasure.preview_items(actor, detail.id, "held_recordings")] == [held_id]
    result = erasure.erase_subject(actor, detail.id, "U-770001")
    assert result.counts["held_recordings"] == 1
    rec = Recording.get_by_id(held_id)
    assert rec.subject_id is None and data.paths[1].exists()
    assert Annotation.select().where(Annotation.recording == held_id).count() == 1
    assert LegalHold.get_by_id(hold.id).subject_ref == result.subject_ref
    assert not data.paths[0].exists() and not data.paths[2].exists()
    for event in CrashEvent.select().where(CrashEvent.id.in_(data.crash_ids)):
        assert event.subject_id is None and "user" not in json.loads(event.payload)
        assert "U-770001" not in event.payload and erasure.ERASED_MARK in event.payload
    assert LegalHold.get_by_id(group_hold.id).released_at is None
    assert "legal hold were kept" in (RequestEvent.select().where((RequestEvent.request == detail.id)
                                                                  & (RequestEvent.kind == "erased")).get().detail)


def test_failed_file_move_changes_nothing_and_can_be_retried(sqlite_instance: Instance,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inst = sqlite_instance
    data = make_subject(inst.compliance.operator_id, recordings=4, crash_events=1)
    detail = verified(inst, erasure_request(inst, data))
    real = os.replace
    calls = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise PermissionError(13, "Permission denied")
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(pending.os, "replace", flaky)
    with pytest.raises(ValidationError, match="cannot be moved.*nothing was deleted"):
        erasure.erase_subject(inst.compliance, detail.id, "U-770001")
    monkeypatch.setattr(pending.os, "replace", real)
    assert all(p.exists() for p in data.paths) and sha256_of(data.paths[0]) == data.sha256s[0]
    assert PendingFileOperation.select().count() == 0 and Subject.select().count() == 1
    fresh = rq.get_request(inst.compliance, detail.id)
    assert fresh.row.state == "in_progress" and fresh.timeline[-1].kind == "step_failed"
    erasure.erase_subject(inst.compliance, detail.id, "U-770001")
    assert Subject.select().count() == 0 and not any(p.exists() for p in data.paths)


def test_lost_database_during_the_transaction_puts_files_back(sqlite_instance: Instance,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inst = sqlite_instance
    data = make_subject(inst.compliance.operator_id, recordings=3, crash_events=1)
    detail = verified(inst, erasure_request(inst, data))

    def gone(*_args: object, **_kwargs: object) -> int:
        raise peewee.OperationalError("server has gone away")

    monkeypatch.setattr(erasure, "_pseudonymise_requests", gone)
    with pytest.raises(InstanceError, match="connection"):
        erasure.erase_subject(inst.compliance, detail.id, "U-770001")
    assert all(p.exists() for p in data.paths)
    assert Recording.select().count() == 3 and Subject.select().count() == 1
    assert SubjectChange.select().count() == 1 and CrashEvent.select().count() == 2
    assert PendingFileOperation.select().count() == 0
    monkeypatch.undo()
    erasure.erase_subject(inst.compliance, detail.id, "U-770001")
    assert Recording.select().count() == 0


# ================================================================ recovery


def _abandon(batch: FileBatch) -> None:
    """Make a batch look like the work of a process that died (what kill -9 leaves)."""
    pending._active_batches.discard(batch.id)
    PendingFileOperation.update(pid=2**22 + 12345).where(PendingFileOperation.batch == batch.id).execute()


def test_recovery_undoes_an_uncommitted_batch(sqlite_instance: Instance) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=3, crash_events=0)
    store = open_store()
    batch = FileBatch(store, "erasure")
    batch.stage([(rid, Recording.get_by_id(rid).path) for rid in data.recording_ids], data.sha256s)
    assert not any(p.exists() for p in data.paths)
    running = recover_pending(store)
    assert running.running_batches == 1 and not any(p.exists() for p in data.paths)  # a live batch is left alone
    _abandon(batch)
    report = recover_pending(store)
    assert report.undone_batches == 1 and report.files_restored == 3
    assert all(p.exists() for p in data.paths) and PendingFileOperation.select().count() == 0
    assert not any(store.pending_dir.iterdir())
    assert recover_pending(store).changed is False


def test_recovery_finishes_a_committed_batch(sqlite_instance: Instance) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=3, crash_events=0)
    store = open_store()
    cached = cache_entry(data.sha256s[0])
    batch = FileBatch(store, "erasure")
    batch.stage([(rid, Recording.get_by_id(rid).path) for rid in data.recording_ids], data.sha256s)
    with database.atomic():
        Annotation.delete().execute()
        Recording.delete().where(Recording.id.in_(data.recording_ids)).execute()
        batch.mark_committed()
    _abandon(batch)  # died before deleting the files
    report = recover_pending(store)
    assert report.finished_batches == 1 and report.files_deleted == 3
    assert not cached.exists() and PendingFileOperation.select().count() == 0
    assert not any(store.pending_dir.iterdir()) and not any(p.exists() for p in data.paths)


def test_recovery_deletes_orphans_and_stale_cache(sqlite_instance: Instance) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=1, crash_events=0)
    store = open_store()
    orphan_dir = store.pending_dir / "erasure-20200101T000000-deadbeef00"
    orphan_dir.mkdir()
    (orphan_dir / "000001-call.wav").write_bytes(b"RIFF")
    live = cache_entry(data.sha256s[0])
    stale = cache_entry(hashlib.sha256(b"gone").hexdigest())
    other = pending.waveform_cache_dir() / "README"
    other.write_text("not a cache entry")
    report = recover_pending(store)
    assert report.orphans_deleted == 1 and report.cache_files_deleted == 1
    assert not orphan_dir.exists() and live.exists() and not stale.exists() and other.exists()
