"""Demo instances: believable data whose rows, files, deadlines, crash groups and audit all agree."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rcrm_desktop.audio.probe import probe
from rcrm_desktop.core import audit, deadlines, demo, operators
from rcrm_desktop.core.instance import get_setting, open_instance
from rcrm_desktop.core.permissions import Role
from rcrm_desktop.core.store import RecordingsStore, open_store, sha256_of
from rcrm_desktop.db import connection
from rcrm_desktop.db.models import (
    Annotation,
    AuditEvent,
    CrashEvent,
    CrashGroup,
    LegalHold,
    Operator,
    Recording,
    RecordingTag,
    Redaction,
    RequestEvent,
    RetentionPolicy,
    RightsRequest,
    Subject,
    SubjectChange,
)
from rcrm_desktop.errors import ValidationError
from tests.conftest import PASSWORD, Instance

OPEN = ("received", "identity_verification", "in_progress", "awaiting_requester")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_populate_demo_on_every_engine(instance: Instance) -> None:
    calls: list[tuple[str, int, int]] = []
    summary = demo.populate_demo(subjects=60, recordings=10, seed=3,
                                 progress=lambda stage, done, total: calls.append((stage, done, total)))
    today = dt.date.today()

    # ---- counts agree with the rows
    assert Subject.select().count() == summary.subjects == 60
    assert Recording.select().count() == summary.recordings == 10
    assert CrashEvent.select().count() == summary.crash_events > 0
    assert CrashGroup.select().count() == summary.crash_groups >= 5
    assert RightsRequest.select().count() == summary.requests >= 43
    assert RequestEvent.select().count() == summary.request_events
    assert LegalHold.select().count() == summary.legal_holds
    assert Annotation.select().count() == summary.annotations > 0
    assert Redaction.select().count() == summary.redactions >= 1
    assert RecordingTag.select().count() == summary.tags >= 10
    assert SubjectChange.select().count() == summary.subject_changes > 0
    assert "60 user accounts" in str(summary) and json.dumps(summary.as_json())

    # ---- every recording's file is in the store, hashes and probes to its row
    store = open_store()
    for rec in Recording.select():
        path = store.resolve(rec.path)
        assert path.is_file(), rec.path
        assert sha256_of(path) == rec.sha256
        info = probe(path)
        assert (info.format, info.duration_ms, info.sample_rate, info.channels, info.size_bytes) == (
            rec.format, rec.duration_ms, rec.sample_rate, rec.channels, rec.size_bytes)
        assert 4900 <= rec.duration_ms <= 40_100
        assert rec.path.endswith("." + rec.format)
        assert rec.direction in ("inbound", "outbound") and rec.agent
        assert rec.imported_at >= rec.started_at
        if rec.redacted:
            assert rec.original_sha256 != rec.sha256
        else:
            assert rec.original_sha256 == rec.sha256
    assert sorted(p.relative_to(store.root).as_posix() for p in _files(store.root)) == sorted(
        r.path for r in Recording.select())
    assert store.leftover_temp_files() == []

    # ---- redacted regions really are silent, and described
    for red in Redaction.select():
        rec = red.recording
        assert rec.redacted and rec.format == "wav" and red.reason and red.end_ms > red.start_ms
        with wave.open(str(store.resolve(rec.path)), "rb") as wav:
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, wav.getnchannels())
            rate = wav.getframerate()
        region = frames[red.start_ms * rate // 1000:red.end_ms * rate // 1000]
        assert len(region) > 0 and not region.any()
        assert frames.any()
        assert RecordingTag.select().where((RecordingTag.recording == rec.id)
                                           & (RecordingTag.tag == "card-payment")).exists()

    # ---- rights requests: every type in every state, Art. 12(3) deadlines
    combos = {(r.type, r.state) for r in RightsRequest.select()}
    assert combos >= {(t, s) for t in demo.REQUEST_TYPES for s in demo.REQUEST_STATES}
    statuses: Counter[str] = Counter()
    for req in RightsRequest.select():
        assert req.due_on == deadlines.due_date(req.received_on)
        assert req.received_on <= today
        assert (req.closed_at is not None) == (req.state in ("completed", "rejected", "withdrawn"))
        assert bool(req.rejection_reason) == (req.state == "rejected")
        assert req.awaiting_requester == (req.state == "awaiting_requester")
        if req.state in OPEN:
            statuses[deadlines.status(deadlines.effective_due(req.due_on, req.extended_due_on), today)] += 1
        events = list(RequestEvent.select().where(RequestEvent.request == req.id)
                      .order_by(RequestEvent.at, RequestEvent.id))
        assert events and events[0].kind == "created"
        assert all(e.at >= req.created_at for e in events)
        assert all(a.at < b.at for a, b in zip(events, events[1:], strict=False))
    assert statuses["overdue"] >= 2 and statuses["due_soon"] >= 2 and statuses["ok"] >= 2
    assert summary.overdue == statuses["overdue"] and summary.due_soon == statuses["due_soon"]
    extended = list(RightsRequest.select().where(RightsRequest.extended_due_on.is_null(False)))
    assert len(extended) == 1
    ext = extended[0]
    assert ext.extended_due_on == deadlines.extended_due_date(ext.received_on, 2)
    assert ext.extension_reason and ext.extension_notified_on is not None
    assert deadlines.can_extend(ext.received_on, ext.extension_notified_on)
    assert deadlines.status(ext.due_on, today) == "overdue"  # without the extension it would be
    assert deadlines.status(ext.extended_due_on, today) != "overdue"
    assert RequestEvent.select().where((RequestEvent.request == ext.id) & (RequestEvent.kind == "extended")).exists()
    erased = RightsRequest.get((RightsRequest.type == "erasure") & (RightsRequest.state == "completed"))
    assert erased.subject_id is None and erased.subject_ref
    assert not Subject.select().where(Subject.user_id == erased.subject_ref).exists()

    # ---- subjects: believable and varied
    subjects = list(Subject.select())
    assert all(re.fullmatch(r"U-\d{6,}", s.user_id) for s in subjects)
    assert any(not s.name.isascii() for s in subjects)
    assert all(s.email is None or s.email.endswith(("@example.com", "@example.sk")) for s in subjects)
    assert all(s.phone is None or s.phone.startswith(("+421 ", "+420 ", "+44 20 7946 ")) for s in subjects)
    sixteen = today.replace(year=today.year - 16) if not (today.month == 2 and today.day == 29) else \
        dt.date(today.year - 16, 2, 28)
    assert any(s.birth_date and s.birth_date > sixteen for s in subjects)  # GDPR Art. 8
    assert any(s.restricted and s.restricted_reason for s in subjects)
    assert any(s.objected and s.objected_reason for s in subjects)
    assert all(bool(s.restricted_reason) == s.restricted for s in subjects)
    assert any(s.last_active_at is not None and s.last_active_at < s.created_at + dt.timedelta(days=200)
               and s.created_at < dt.datetime.now() - dt.timedelta(days=700) for s in subjects) or len(subjects) < 50
    for change in SubjectChange.select():
        assert change.old_value != change.new_value and change.reason
        assert change.subject.version > 1

    # ---- crash groups agree with their events; payloads are Sentry events
    states = Counter(g.state for g in CrashGroup.select())
    assert {"unresolved", "resolved", "ignored"} <= set(states)
    assert CrashGroup.select().where(CrashGroup.regressed == True).count() == 1  # noqa: E712
    linked = 0
    for group in CrashGroup.select():
        events = list(CrashEvent.select().where(CrashEvent.group == group.id))
        assert group.event_count == len(events)
        assert group.first_seen == min(e.occurred_at for e in events)
        assert group.last_seen == max(e.occurred_at for e in events)
        assert group.subject_count == len({e.subject_id for e in events if e.subject_id})
        assert re.fullmatch(r"[0-9a-f]{64}", group.fingerprint)
        assert json.loads(group.explanation)["components"]
        for event in events:
            payload = json.loads(event.payload)
            assert payload["event_id"] == event.event_id and re.fullmatch(r"[0-9a-f]{32}", event.event_id)
            assert payload["platform"] == event.platform in ("python", "javascript", "java")
            assert payload["timestamp"].endswith("Z") and payload["release"] == event.release
            if "exception" in payload:
                last = payload["exception"]["values"][-1]
                assert last["type"] == event.exception_type and last["stacktrace"]["frames"]
            if event.subject_id:
                linked += 1
                assert payload["user"]["id"] == event.subject.user_id
            assert not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", event.payload)  # e-mails scrubbed
    assert linked > 0

    # ---- holds, retention, audit
    assert LegalHold.select().where(LegalHold.subject.is_null(False) & LegalHold.released_at.is_null()).exists()
    assert LegalHold.select().where(LegalHold.recording.is_null(False)).exists()
    policies = {p.category: p for p in RetentionPolicy.select()}
    assert set(policies) == {c for c, _, _ in demo.RETENTION_DEFAULTS}
    assert policies["audit_log"].enabled is False and policies["audit_log"].max_age_days is None
    assert audit.verify_chain().ok
    populate_events = list(AuditEvent.select().where(AuditEvent.action == "demo.populate"))
    assert len(populate_events) == 1 and populate_events[0].operator_id is None
    details = json.loads(populate_events[0].details)
    assert details["subjects"] == 60 and details["recordings"] == 10
    everything = " ".join(e.details for e in AuditEvent.select())
    assert not any(s.name in everything or (s.email and s.email in everything) for s in subjects)

    # ---- progress, and no demo log-in hint (only create_demo_operators sets it)
    assert calls and all(0 <= done <= total for _, done, total in calls)
    assert {"Recording calls", "User accounts", "Crash reports", "Rights requests"} <= {s for s, _, _ in calls}
    assert get_setting("demo_login_hint") == "" and get_setting("demo_instance") == "0"


def test_demo_goes_only_into_an_empty_instance(sqlite_instance: Instance) -> None:
    demo.populate_demo(subjects=5, recordings=0, with_audio=False)
    before = (Subject.select().count(), RightsRequest.select().count(), AuditEvent.select().count())
    with pytest.raises(ValidationError, match="only goes into an empty instance"):
        demo.populate_demo(subjects=5, with_audio=False)
    assert (Subject.select().count(), RightsRequest.select().count(), AuditEvent.select().count()) == before


def test_demo_needs_an_operator(tmp_path: Path) -> None:
    open_instance("sqlite:///" + (tmp_path / "bare.sqlite3").as_posix())
    try:
        with pytest.raises(ValidationError, match="no operators"):
            demo.populate_demo(subjects=3, with_audio=False)
    finally:
        connection.close()


def test_demo_without_a_support_operator_says_so_before_writing_anything(tmp_path: Path) -> None:
    """An instance made by ``rcrm-desktop init`` has only its administrator, who may not import crash reports."""
    open_instance("sqlite:///" + (tmp_path / "admin-only.sqlite3").as_posix())
    try:
        operators.bootstrap_admin("admin", PASSWORD)
        store = RecordingsStore(tmp_path / "store")
        with pytest.raises(ValidationError, match="operators add --role support"):
            demo.populate_demo(subjects=5, recordings=2, store=store)
        assert Subject.select().count() == 0 and not any(store.root.rglob("*.*"))
        admin = operators.authenticate("admin", PASSWORD)
        operators.create_operator(admin, "sam", "Sam Support", Role.SUPPORT, PASSWORD)
        assert demo.populate_demo(subjects=5, recordings=0, with_audio=False, store=store).crash_events > 0
    finally:
        connection.close()


@pytest.mark.parametrize("stop_at", ["Recording calls", "Crash reports", "Finishing"])
def test_cancel_keeps_nothing(sqlite_instance: Instance, tmp_path: Path, stop_at: str) -> None:
    store = RecordingsStore(tmp_path / "store")
    seen: list[str] = []

    def progress(stage: str, done: int, total: int) -> bool:
        seen.append(stage)
        return not (stage == stop_at and (done >= 2 or stage != "Recording calls"))

    audit_before = AuditEvent.select().count()
    with pytest.raises(demo.DemoCancelled):
        demo.populate_demo(subjects=20, recordings=4, progress=progress, store=store)
    assert stop_at in seen
    for model in (Subject, Recording, CrashGroup, CrashEvent, RightsRequest, LegalHold, RetentionPolicy):
        assert model.select().count() == 0, model
    assert AuditEvent.select().count() == audit_before
    assert _files(store.root) == []
    assert audit.verify_chain().ok


def test_failure_half_way_removes_the_files(sqlite_instance: Instance, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    store = RecordingsStore(tmp_path / "store")

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(demo, "_legal_holds", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        demo.populate_demo(subjects=10, recordings=3, store=store)
    assert Recording.select().count() == 0 and Subject.select().count() == 0
    assert _files(store.root) == []


def test_explicit_store(sqlite_instance: Instance, tmp_path: Path) -> None:
    store = RecordingsStore(tmp_path / "elsewhere")
    summary = demo.populate_demo(subjects=4, recordings=2, store=store)
    assert summary.store_root == str(store.root)
    assert len(_files(store.root)) == 2
    assert all(store.resolve(r.path).is_file() for r in Recording.select())


def test_without_audio_scales_to_tens_of_thousands(sqlite_instance: Instance) -> None:
    started = time.monotonic()
    summary = demo.populate_demo(subjects=20_000, recordings=50, with_audio=False, seed=11)
    elapsed = time.monotonic() - started
    assert summary.subjects == Subject.select().count() == 20_000
    assert summary.recordings == Recording.select().count() == 0  # no row without its file
    assert not _files(open_store().root)
    assert summary.requests == RightsRequest.select().count() > 43 + 600
    assert Subject.select().where(Subject.user_id.is_null()).count() == 0
    assert len({s.user_id for s in Subject.select(Subject.user_id)}) == 20_000
    assert elapsed < 60, elapsed
    assert audit.verify_chain().ok


def test_create_demo_operators_on_a_fresh_instance(tmp_path: Path) -> None:
    open_instance("sqlite:///" + (tmp_path / "fresh.sqlite3").as_posix())
    try:
        assert get_setting("demo_instance") == "0" and get_setting("demo_login_hint") == ""
        credentials = demo.create_demo_operators()
        assert [(u, r) for u, r, _ in credentials] == [("admin", "admin"), ("compliance", "compliance"),
                                                      ("support", "support")]
        password = credentials[0][2]
        assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
        assert {p for _, _, p in credentials} == {password}
        for username, role, secret in credentials:
            actor = operators.authenticate(username, secret)
            assert actor.role.value == role
        assert Operator.get(Operator.username == "compliance").display_name == "Eva Horváthová"
        assert Operator.get(Operator.username == "support").display_name == "Tomáš Novák"
        assert get_setting("demo_instance") == "1"
        hint = get_setting("demo_login_hint")
        assert all(name in hint for name in ("admin", "compliance", "support")) and password in hint
        assert audit.verify_chain().ok
        assert password not in " ".join(e.details for e in AuditEvent.select())
        with pytest.raises(ValidationError, match="already has operators"):
            demo.create_demo_operators()
        summary = demo.populate_demo(subjects=10, recordings=2)
        assert summary.recordings == 2
        annotation_authors = {a.operator.username for a in Annotation.select()}
        assert annotation_authors <= {"support"}
        assert {r.created_by.username for r in RightsRequest.select()} == {"compliance"}
    finally:
        connection.close()


def test_create_demo_operators_with_a_given_password(tmp_path: Path) -> None:
    open_instance("sqlite:///" + (tmp_path / "given.sqlite3").as_posix())
    try:
        credentials = demo.create_demo_operators("demo-password-1")
        assert {p for _, _, p in credentials} == {"demo-password-1"}
        operators.authenticate("support", "demo-password-1")
        with pytest.raises(ValidationError):
            demo.create_demo_operators("short")
    finally:
        connection.close()


def test_readable_passwords_differ() -> None:
    passwords = {demo.readable_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(not set(p) & set("01ilo") for p in passwords)


def test_demo_requests_keep_pseudonyms_and_verification(sqlite_instance: Instance, tmp_path: Path) -> None:
    """Requests refer to subjects by the instance's pseudonym, never the user ID; verified ones say how."""
    from rcrm_desktop.db.models import RightsRequest

    demo.populate_demo(subjects=120, recordings=0, with_audio=False, store=RecordingsStore(tmp_path / "store"))
    user_ids = {s.user_id for s in Subject.select(Subject.user_id)}
    rows = list(RightsRequest.select())
    assert rows
    for row in rows:
        assert row.subject_ref is None or row.subject_ref.startswith("ref-")
        assert row.subject_ref not in user_ids
        assert row.requester_key
        if row.state in ("in_progress", "awaiting_requester", "completed"):
            assert row.verified_at is not None and row.verification_method
