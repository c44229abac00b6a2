"""Rights requests: intake, deadlines (GDPR Art. 12(3)), workflow and permissions, restriction and objection,
the children's report and the response letters — on every engine.

``make_subject`` (used by the erasure and access-package tests too) builds a
subject with real WAV files in the recordings store, annotations, tags, a
redaction, crash events whose payload names the user, a change history and a
released legal hold.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from rcrm_desktop.audio import synth
from rcrm_desktop.core import children, deadlines, letters, subjects
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.instance import dashboard_counts, set_setting
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.models import (
    Annotation,
    AuditEvent,
    CrashEvent,
    CrashGroup,
    LegalHold,
    Recording,
    RecordingTag,
    Redaction,
    RequestEvent,
    RightsRequest,
    Subject,
    SubjectChange,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tests.conftest import Instance

# ================================================================ shared builders


@functools.lru_cache(maxsize=4)
def _base_samples(seconds: float) -> np.ndarray:
    samples = synth.synth_call(max(0.5, seconds), 8000, stereo=False, seed=3)
    return samples[: int(seconds * 8000)]


def wav_variant(index: int, seconds: float = 0.4) -> bytes:
    """A small, valid WAV whose content differs per ``index`` (so every file has its own SHA-256)."""
    samples = _base_samples(seconds).copy()
    samples[:4] = np.array([index & 0x7FFF, (index >> 15) & 0x7FFF, 7, -7], dtype=np.int16)
    return synth.wav_bytes(samples, 8000)


@dataclass
class SubjectData:
    subject: Subject
    recording_ids: list[int] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    sha256s: list[str] = field(default_factory=list)
    crash_ids: list[int] = field(default_factory=list)
    group_id: int | None = None
    change_ids: list[int] = field(default_factory=list)
    annotation_ids: list[int] = field(default_factory=list)


def make_subject(operator_id: int, *, user_id: str = "U-770001", name: str = "Jana Nováková",
                 email: str | None = "jana.novakova@example.sk", phone: str | None = "+421 905 123 456",
                 recordings: int = 3, crash_events: int = 2, birth_date: dt.date | None = dt.date(1980, 5, 17),
                 store: RecordingsStore | None = None, seconds: float = 0.4, prefix: str = "") -> SubjectData:
    """A subject with everything the instance can hold about one person (see the module docstring)."""
    target = store or open_store()
    subject = Subject.create(user_id=user_id, name=name, name_key=fold(name)[:200],
                             search_key=subjects.make_search_key(name, user_id), email=email, phone=phone,
                             birth_date=birth_date, created_at=utcnow() - dt.timedelta(days=400),
                             last_active_at=utcnow() - dt.timedelta(days=3))
    data = SubjectData(subject)
    tag = prefix or user_id.lower()
    for i in range(recordings):
        payload = wav_variant(subject.id * 10_000 + i, seconds)
        stored = target.write_bytes(f"{tag}/2025/03/{i:05d}-call.wav", payload)
        rec = Recording.create(subject=subject.id, path=stored.relative, sha256=stored.sha256,
                               original_sha256=stored.sha256, format="wav", duration_ms=int(seconds * 1000),
                               sample_rate=8000, channels=1, size_bytes=stored.size_bytes,
                               started_at=utcnow() - dt.timedelta(days=30 - i % 30, minutes=i),
                               direction="inbound", agent="Agent Smith")
        data.recording_ids.append(rec.id)
        data.paths.append(stored.path)
        data.sha256s.append(stored.sha256)
        RecordingTag.create(recording=rec.id, tag="complaint")
        ann = Annotation.create(recording=rec.id, operator=operator_id, position_ms=100,
                                text=f"Customer asked about the invoice (call {i})")
        data.annotation_ids.append(ann.id)
        if i == 0:
            Redaction.create(recording=rec.id, operator=operator_id, start_ms=100, end_ms=200,
                             reason="Card number spoken")
    if crash_events:
        group = CrashGroup.create(fingerprint=hashlib.sha256(user_id.encode()).hexdigest(), title="KeyError: 'plan'",
                                  event_count=crash_events + 1, subject_count=1, first_seen=utcnow(),
                                  last_seen=utcnow())
        data.group_id = group.id
        for i in range(crash_events + 1):
            mine = i < crash_events
            event = CrashEvent.create(
                event_id=hashlib.md5(f"{user_id}-{i}".encode()).hexdigest(), group=group.id,
                subject=subject.id if mine else None, occurred_at=utcnow() - dt.timedelta(hours=i + 1),
                platform="python", level="error", release="rcrm@1.0", exception_type="KeyError", message="'plan'",
                payload=json.dumps({"event_id": "x", "platform": "python",
                                    "user": {"id": user_id if mine else "U-other"},
                                    "extra": {"note": f"seen for {user_id}" if mine else "none"}}))
            if mine:
                data.crash_ids.append(event.id)
    change = SubjectChange.create(subject=subject.id, field="email", old_value="jana.old@example.sk",
                                  new_value=email, reason="Requester's new address", operator=operator_id)
    data.change_ids.append(change.id)
    LegalHold.create(subject=subject.id, reason="Complaint closed", owner=operator_id, released_at=utcnow(),
                     release_reason="Settled")
    return data


def start(inst: Instance, kind: str = "access", *, subject_id: int | None = None, verified: bool = True,
          received: dt.date | None = None, requester: str = "Jana Nováková") -> rq.RequestDetail:
    """A request of ``kind``, verified (in progress) unless told otherwise."""
    detail = rq.create_request(inst.compliance, kind, requester, contact="jana.novakova@example.sk",
                               subject_id=subject_id, received_on=received)
    if verified:
        detail = rq.verify_identity(inst.compliance, detail.id, "Confirmed the e-mail address on file")
    return detail


# ================================================================ deadlines


@pytest.mark.parametrize(("received", "due"), [
    (dt.date(2026, 3, 5), dt.date(2026, 4, 7)),      # 5 April 2026 is Easter Sunday, 6 April Easter Monday
    (dt.date(2026, 3, 31), dt.date(2026, 4, 30)),    # no 31 April: the month's last day (a Thursday)
    (dt.date(2026, 1, 31), dt.date(2026, 3, 2)),     # 28 February 2026 is a Saturday
    (dt.date(2024, 1, 31), dt.date(2024, 2, 29)),    # leap year: 29 February 2024 is a Thursday
    (dt.date(2025, 1, 29), dt.date(2025, 2, 28)),    # common year: no 29 February
    (dt.date(2025, 11, 30), dt.date(2025, 12, 30)),
    (dt.date(2025, 11, 24), dt.date(2025, 12, 29)),  # 24–26 December are days off
])
def test_due_date_is_one_month_after_receipt(instance: Instance, received: dt.date, due: dt.date) -> None:
    detail = rq.create_request(instance.compliance, "access", "Peter Kováč", received_on=received,
                               today=received + dt.timedelta(days=1))
    assert detail.row.due_on == due == deadlines.due_date(received, holidays=deadlines.instance_calendar())
    assert detail.row.extended_due_on is None
    assert detail.row.state == "received"
    assert [e.kind for e in detail.timeline] == ["created"]


def test_instance_holidays_move_the_deadline(instance: Instance) -> None:
    received = dt.date(2025, 6, 30)  # due 30 July 2025, a Wednesday
    set_setting(instance.admin, "public_holidays", "SK, 2025-07-30 Company day off")
    detail = rq.create_request(instance.compliance, "access", "Peter Kováč", received_on=received,
                               today=received)
    assert detail.row.due_on == dt.date(2025, 7, 31)


def test_extension_rules(instance: Instance) -> None:
    received = dt.date(2026, 1, 31)
    actor = instance.compliance
    detail = rq.create_request(actor, "access", "Peter Kováč", received_on=received, today=received)
    assert detail.row.due_on == dt.date(2026, 3, 2) and detail.can_extend
    with pytest.raises(ValidationError, match="1 or 2 further months"):
        rq.extend_deadline(actor, detail.id, 3, "Complex", received, today=received)
    with pytest.raises(ValidationError, match="reason"):
        rq.extend_deadline(actor, detail.id, 2, "  ", received, today=received)
    with pytest.raises(ValidationError, match="told"):
        rq.extend_deadline(actor, detail.id, 2, "Complex", None, today=received)
    # After the original due date the extension is refused, whatever the notification date says.
    late = dt.date(2026, 3, 3)
    with pytest.raises(ValidationError, match="has passed"):
        rq.extend_deadline(actor, detail.id, 2, "Complex", dt.date(2026, 2, 20), today=late)
    # On the due day itself it is still in time (the period ends with that day).
    with pytest.raises(ValidationError, match="future"):
        rq.extend_deadline(actor, detail.id, 2, "Complex", dt.date(2026, 3, 5), today=dt.date(2026, 3, 2))
    extended = rq.extend_deadline(actor, detail.id, 2, "Recordings from two call centres", dt.date(2026, 3, 2),
                                  today=dt.date(2026, 3, 2))
    assert extended.row.extended_due_on == dt.date(2026, 4, 30) == deadlines.extended_due_date(received, 2)
    assert extended.row.effective_due == dt.date(2026, 4, 30)
    assert extended.extension_notified_on == dt.date(2026, 3, 2) and extended.extension_months == 2
    assert extended.timeline[-1].kind == "extended" and "2026-04-30" in (extended.timeline[-1].detail or "")
    with pytest.raises(ValidationError, match="already extended"):
        rq.extend_deadline(actor, detail.id, 1, "Again", dt.date(2026, 3, 1), today=dt.date(2026, 3, 1))
    assert not extended.can_extend


def test_extension_by_one_month_and_notice_after_due_date_refused(instance: Instance) -> None:
    received = dt.date(2026, 3, 31)
    detail = rq.create_request(instance.compliance, "erasure", "Peter Kováč", received_on=received,
                               today=received)
    with pytest.raises(ValidationError, match="before the request was"):
        rq.extend_deadline(instance.compliance, detail.id, 1, "Complex", dt.date(2026, 3, 30),
                           today=dt.date(2026, 4, 10))
    one = rq.extend_deadline(instance.compliance, detail.id, 1, "Complex", dt.date(2026, 4, 10),
                             today=dt.date(2026, 4, 10))
    # 31 March + 2 months is 31 May 2026, a Sunday.
    assert one.row.extended_due_on == deadlines.extended_due_date(received, 1) == dt.date(2026, 6, 1)


def test_intake_validation(instance: Instance) -> None:
    actor = instance.compliance
    with pytest.raises(ValidationError, match="not a request type"):
        rq.create_request(actor, "deletion", "X")
    with pytest.raises(ValidationError, match="name is required"):
        rq.create_request(actor, "access", "   ")
    with pytest.raises(ValidationError, match="not a channel"):
        rq.create_request(actor, "access", "X", channel="pigeon")
    with pytest.raises(ValidationError, match="future"):
        rq.create_request(actor, "access", "X", received_on=dt.date.today() + dt.timedelta(days=1))
    with pytest.raises(NotFoundError):
        rq.create_request(actor, "access", "X", subject_id=999_999)
    assert RightsRequest.select().count() == 0


# ================================================================ workflow and permissions


def test_full_workflow_with_timeline_and_audit(instance: Instance) -> None:
    data = make_subject(instance.compliance.operator_id, recordings=0, crash_events=0)
    actor = instance.compliance
    detail = rq.create_request(actor, "objection", "Jana Nováková", contact="+421 905 123 456",
                               channel="phone", subject_id=data.subject.id, details="Stop the analytics")
    assert detail.row.subject_ref and detail.row.subject_ref.startswith("ref-")
    assert data.subject.user_id not in detail.row.subject_ref
    detail = rq.start_verification(actor, detail.id, "Asked to confirm the phone number")
    assert detail.row.state == "identity_verification"
    detail = rq.wait_for_requester(actor, detail.id, "Proof of identity")
    assert detail.row.state == "awaiting_requester" and detail.awaiting_reason == "Proof of identity"
    assert detail.row.due_on == detail.row.effective_due  # the clock keeps running; the due date does not move
    detail = rq.resume(actor, detail.id)
    assert detail.row.state == "identity_verification"
    detail = rq.verify_identity(actor, detail.id, "Called back on the number on file")
    assert detail.row.state == "in_progress" and detail.verified_by == "eva"
    assert detail.verification_method == "Called back on the number on file" and detail.verified_at is not None
    with pytest.raises(ValidationError, match="objection on the user account first"):
        rq.complete_request(actor, detail.id)
    detail = rq.object_subject(actor, detail.id, "Objects to usage analytics (Art. 21(1))")
    assert Subject.get_by_id(data.subject.id).objected
    detail = rq.complete_request(actor, detail.id, "Excluded from analytics")
    assert detail.row.state == "completed" and detail.row.closed_at is not None
    kinds = [e.kind for e in detail.timeline]
    assert kinds == ["created", "state", "waiting", "resumed", "verified", "state", "objected", "state"]
    assert all(e.operator == "eva" for e in detail.timeline)
    assert detail.row.version == 7
    actions = {a.action for a in AuditEvent.select().where(AuditEvent.target_type == "request")}
    assert {"request.create", "request.state", "request.wait", "request.resume", "request.verify",
            "request.complete"} <= actions
    for event in AuditEvent.select():
        assert "Nováková" not in event.details and "+421" not in event.details


def test_illegal_transitions_are_refused_with_a_reason(instance: Instance) -> None:
    actor = instance.compliance
    detail = rq.create_request(actor, "access", "Peter Kováč")
    with pytest.raises(ValidationError, match="verify the requester's identity first"):
        rq.complete_request(actor, detail.id)
    with pytest.raises(ValidationError, match="not waiting"):
        rq.resume(actor, detail.id)
    with pytest.raises(ValidationError, match="still open"):
        letters.letter_html(actor, detail.id)
    rq.withdraw_request(actor, detail.id, "By e-mail")
    for attempt in (lambda: rq.verify_identity(actor, detail.id, "x"),
                    lambda: rq.reject_request(actor, detail.id, "unfounded", "x"),
                    lambda: rq.withdraw_request(actor, detail.id),
                    lambda: rq.extend_deadline(actor, detail.id, 1, "x", dt.date.today())):
        with pytest.raises(ValidationError, match="closed request cannot change"):
            attempt()
    waiting = start(instance, "access")
    rq.wait_for_requester(actor, waiting.id, "Which period?")
    with pytest.raises(ValidationError, match="resume it first"):
        rq.complete_request(actor, waiting.id)
    with pytest.raises(ValidationError, match="already waiting"):
        rq.wait_for_requester(actor, waiting.id, "Again")
    assert rq.resume(actor, waiting.id).row.state == "in_progress"


def test_support_gets_permission_denied(instance: Instance) -> None:
    support = instance.support
    detail = rq.create_request(instance.compliance, "access", "Peter Kováč")
    attempts = [
        lambda: rq.create_request(support, "access", "X"),
        lambda: rq.list_requests(support),
        lambda: rq.get_request(support, detail.id),
        lambda: rq.verify_identity(support, detail.id, "x"),
        lambda: rq.start_verification(support, detail.id),
        lambda: rq.wait_for_requester(support, detail.id, "x"),
        lambda: rq.extend_deadline(support, detail.id, 1, "x", dt.date.today()),
        lambda: rq.reject_request(support, detail.id, "unfounded", "x"),
        lambda: rq.withdraw_request(support, detail.id),
        lambda: rq.complete_request(support, detail.id),
        lambda: rq.add_note(support, detail.id, "x"),
        lambda: letters.letter_html(support, detail.id),
        lambda: children.list_children(support),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied, match="may not do this"):
            attempt()
    # Administrators manage operators, not rights requests.
    with pytest.raises(PermissionDenied):
        rq.list_requests(instance.admin)
    assert RightsRequest.get_by_id(detail.id).version == 1


def test_rejection_grounds(instance: Instance) -> None:
    actor = instance.compliance
    detail = rq.create_request(actor, "erasure", "Peter Kováč")
    with pytest.raises(ValidationError, match="not grounds"):
        rq.reject_request(actor, detail.id, "boring", "x")
    with pytest.raises(ValidationError, match="reason for the refusal is required"):
        rq.reject_request(actor, detail.id, "unfounded", "")
    with pytest.raises(ValidationError, match="Name the exemption"):
        rq.reject_request(actor, detail.id, "exemption", "Needed for a court case")
    verified = start(instance, "erasure")
    with pytest.raises(ValidationError, match="identity was verified"):
        rq.reject_request(actor, verified.id, "identity", "No answer")
    rejected = rq.reject_request(actor, detail.id, "identity", "No answer to two requests for ID")
    assert rejected.row.state == "rejected" and rejected.rejection_grounds == "identity"
    other = rq.reject_request(actor, verified.id, "exemption", "Court case pending",
                              exemption="Art. 17(3)(e): legal claims")
    assert other.rejection_exemption == "Art. 17(3)(e): legal claims"
    html = letters.letter_html(actor, other.id)
    assert "Art. 17(3)(e): legal claims" in html and "Court case pending" in html and "Article 77" in html


def test_optimistic_concurrency(instance: Instance) -> None:
    actor = instance.compliance
    detail = rq.create_request(actor, "access", "Peter Kováč")
    seen = detail.row.version
    rq.start_verification(actor, detail.id, expected_version=seen)  # another workstation moves first
    with pytest.raises(ConflictError) as err:
        rq.verify_identity(actor, detail.id, "Passport", expected_version=seen)
    assert err.value.current["state"] == "identity_verification"
    assert err.value.current["version"] == seen + 1
    assert "Identity verification" in err.value.message
    assert rq.verify_identity(actor, detail.id, "Passport", expected_version=seen + 1).row.state == "in_progress"


def test_step_failure_is_recorded_and_request_unchanged(instance: Instance) -> None:
    detail = start(instance, "access")
    rq.record_step_failure(instance.compliance, detail.id, "Building the access package", "disk full.")
    fresh = rq.get_request(instance.compliance, detail.id)
    assert fresh.row.state == "in_progress" and fresh.row.version == detail.row.version
    assert fresh.timeline[-1].kind == "step_failed" and "tried again" in (fresh.timeline[-1].detail or "")


def test_unmatched_request_is_matched_or_completed_with_a_note(instance: Instance) -> None:
    actor = instance.compliance
    detail = start(instance, "access")
    assert detail.row.subject_id is None
    assert detail.actions["package"] and "not matched" in (detail.actions["package"] or "")
    with pytest.raises(ValidationError, match="no data about the requester"):
        rq.complete_request(actor, detail.id)
    done = rq.complete_request(actor, detail.id, "No account found for this e-mail address.")
    assert "found no personal data" in letters.letter_html(actor, done.id)
    other = start(instance, "access")
    data = make_subject(actor.operator_id, recordings=0, crash_events=0)
    linked = rq.link_subject(actor, other.id, data.subject.id)
    assert linked.row.subject_user_id == data.subject.user_id and linked.timeline[-1].kind == "matched"
    with pytest.raises(ValidationError, match="already matched"):
        rq.link_subject(actor, other.id, data.subject.id)


# ================================================================ listing


def test_list_sorts_by_deadline_filters_and_pages(instance: Instance) -> None:
    actor = instance.compliance
    today = dt.date.today()
    made = {}
    for days_ago in (0, 10, 25, 29, 40, 60):
        received = today - dt.timedelta(days=days_ago)
        made[days_ago] = rq.create_request(actor, "access", f"Requester {days_ago}", received_on=received).id
    closed = rq.create_request(actor, "erasure", "Closed one", received_on=today - dt.timedelta(days=70))
    rq.withdraw_request(actor, closed.id)
    rows = rq.list_requests(actor)
    assert [r.id for r in rows] == [made[60], made[40], made[29], made[25], made[10], made[0]]
    assert [r.effective_due for r in rows] == sorted(r.effective_due for r in rows)
    overdue = rq.list_requests(actor, rq.RequestFilter(overdue_only=True))
    assert {r.id for r in overdue} == {r.id for r in rows if r.deadline_status(today) == "overdue"}
    assert {made[60], made[40]} <= {r.id for r in overdue}
    soon = rq.list_requests(actor, rq.RequestFilter(due_within_days=7))
    assert {r.id for r in soon} == {r.id for r in rows if r.deadline_status(today) == "due_soon"}
    counts = dashboard_counts(actor)
    assert counts.requests_overdue == len(overdue) and counts.requests_due_soon == len(soon)
    assert counts.requests_open == 6
    assert [r.id for r in rq.list_requests(actor, rq.RequestFilter(state=None))][-1] == made[0]
    assert [r.id for r in rq.list_requests(actor, rq.RequestFilter(state="closed"))] == [closed.id]
    assert [r.id for r in rq.list_requests(actor, rq.RequestFilter(type="erasure", state=None))] == [closed.id]
    # Keyset pages: two at a time, same order, nothing repeated or skipped.
    paged: list[int] = []
    after = None
    while True:
        page = rq.list_requests(actor, after=after, limit=2)
        paged += [r.id for r in page]
        if len(page) < 2:
            break
        after = rq.page_key(page[-1])
    assert paged == [r.id for r in rows]
    assert rq.count_requests(actor) == 6
    with pytest.raises(ValidationError):
        rq.list_requests(actor, rq.RequestFilter(state="lost"))


def test_search_by_requester_subject_number_and_former_user_id(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=0, crash_events=0)
    linked = rq.create_request(actor, "access", "Ing. Šťastný Ľubomír", contact="lubo@example.cz",
                               subject_id=data.subject.id)
    other = rq.create_request(actor, "erasure", "Mária Horváthová")

    def found(text: str) -> set[int]:
        return {r.id for r in rq.list_requests(actor, rq.RequestFilter(search=text, state=None))}

    assert found("stastny") == {linked.id}
    assert found("LUBO@EXAMPLE") == {linked.id}
    assert found("novakova") == {linked.id}  # the linked account's name
    assert found(data.subject.user_id) == {linked.id}
    assert found(f"#{other.id}") == {other.id}
    assert found("horvathova") == {other.id}
    assert found("nobody") == set()
    # A request without the folded key (written by a bulk insert) is still found by its name.
    RightsRequest.update(requester_key=None).where(RightsRequest.id == other.id).execute()
    assert found("horváthová") == {other.id}


# ================================================================ rectification, restriction, objection


def test_rectification_links_the_change_to_the_request(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=0, crash_events=0)
    detail = start(instance, "rectification", subject_id=data.subject.id)
    with pytest.raises(ValidationError, match="Correct the data first"):
        rq.complete_request(actor, detail.id)
    with pytest.raises(PermissionDenied):
        rq.rectify_for_request(instance.support, detail.id, "email", "x@example.sk", "typo")
    row = rq.rectify_for_request(actor, detail.id, "email", "jana.n@example.sk", "Requester's new address",
                                 subject_version=Subject.get_by_id(data.subject.id).version)
    assert row.email == "jana.n@example.sk"
    change = SubjectChange.get((SubjectChange.subject == data.subject.id) & (SubjectChange.request == detail.id))
    assert (change.old_value, change.new_value) == ("jana.novakova@example.sk", "jana.n@example.sk")
    fresh = rq.get_request(actor, detail.id)
    assert [c.field for c in fresh.changes] == ["email"] and fresh.timeline[-1].kind == "rectified"
    other = start(instance, "access", subject_id=data.subject.id)
    with pytest.raises(ValidationError, match="rectification request"):
        rq.rectify_for_request(actor, other.id, "email", "y@example.sk", "x")
    done = rq.complete_request(actor, detail.id)
    html = letters.letter_html(actor, done.id)
    assert "jana.n@example.sk" in html and "Article 16" in html and "Articles 19" in html


def test_restriction_and_objection_set_and_lifted(instance: Instance) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=0, crash_events=0)
    restriction = start(instance, "restriction", subject_id=data.subject.id)
    with pytest.raises(PermissionDenied):
        rq.restrict_subject(instance.support, restriction.id, "x")
    with pytest.raises(ValidationError, match="reason"):
        rq.restrict_subject(actor, restriction.id, " ")
    detail = rq.restrict_subject(actor, restriction.id, "Accuracy contested (Art. 18(1)(a))")
    subject = Subject.get_by_id(data.subject.id)
    assert subject.restricted and subject.restricted_reason == "Accuracy contested (Art. 18(1)(a))"
    assert detail.row.subject_restricted and detail.actions["restrict"] == "The user account is already restricted."
    with pytest.raises(ValidationError, match="already restricted"):
        rq.restrict_subject(actor, restriction.id, "again")
    done = rq.complete_request(actor, restriction.id)
    assert "Article 18(3)" in letters.letter_html(actor, done.id)
    with pytest.raises(PermissionDenied):
        rq.lift_restriction(instance.support, data.subject.id, "x")
    with pytest.raises(ValidationError, match="reason"):
        rq.lift_restriction(actor, data.subject.id, "")
    row = rq.lift_restriction(actor, data.subject.id, "Accuracy verified; requester told beforehand",
                              request_id=restriction.id)
    assert not row.restricted and Subject.get_by_id(data.subject.id).restricted_reason is None
    with pytest.raises(ValidationError, match="not restricted"):
        rq.lift_restriction(actor, data.subject.id, "again")
    objection = start(instance, "objection", subject_id=data.subject.id)
    rq.object_subject(actor, objection.id, "No analytics")
    assert Subject.get_by_id(data.subject.id).objected
    assert not rq.lift_objection(actor, data.subject.id, "Compelling legitimate grounds shown").objected
    history = [(c.field, c.old_value, c.new_value, c.request) for c in
               SubjectChange.select().where(SubjectChange.subject == data.subject.id).order_by(SubjectChange.id)]
    assert ("restricted", "no", "yes", restriction.id) in history
    assert ("restricted", "yes", "no", restriction.id) in history
    assert ("objected", "no", "yes", objection.id) in history and ("objected", "yes", "no", None) in history
    actions = [a.action for a in AuditEvent.select().where(AuditEvent.target_type == "subject")]
    assert {"subject.restrict", "subject.unrestrict", "subject.object", "subject.unobject"} <= set(actions)
    kinds = [e.kind for e in RequestEvent.select().where(RequestEvent.request == restriction.id)]
    assert "restricted" in kinds and "lifted" in kinds


# ================================================================ children


def test_children_report_and_bulk_erasure_requests(instance: Instance) -> None:
    actor = instance.compliance
    today = dt.date(2026, 6, 15)
    born = {
        "U-c1": dt.date(2012, 6, 16),   # 13, turns 14 tomorrow
        "U-c2": dt.date(2010, 6, 16),   # 15 (16 tomorrow): still a child
        "U-c3": dt.date(2010, 6, 15),   # 16 today: not a child any more
        "U-c4": dt.date(1990, 1, 1),
    }
    ids = {}
    for n, (user_id, birth) in enumerate(born.items()):
        ids[user_id] = make_subject(actor.operator_id, user_id=user_id, name=f"Child {n}", email=None, phone=None,
                                    recordings=1 if n == 0 else 0, crash_events=0, birth_date=birth).subject.id
    Subject.create(user_id="U-c5", name="No birth date", name_key="no birth date", search_key="x")
    rows = children.list_children(actor, today=today)
    assert [r.user_id for r in rows] == ["U-c1", "U-c2"]
    assert rows[0].age == 13 and rows[0].recordings == 1 and rows[1].age == 15
    assert [r.user_id for r in children.list_children(actor, 15, today=today)] == ["U-c1"]
    with pytest.raises(ValidationError, match="between 13 and 16"):
        children.list_children(actor, 12, today=today)
    set_setting(instance.admin, "child_consent_age", "14")
    assert [r.user_id for r in children.list_children(actor, today=today)] == ["U-c1"]
    set_setting(instance.admin, "child_consent_age", "16")
    result = children.open_erasure_requests(actor, [ids["U-c1"], ids["U-c2"], ids["U-c3"]], today=today)
    assert len(result.created) == 2 and [s for s, _ in result.skipped] == [ids["U-c3"]]
    created = [RightsRequest.get_by_id(i) for i in result.created]
    assert {r.type for r in created} == {"erasure"} and {r.channel for r in created} == {"internal"}
    assert {r.subject_id for r in created} == {ids["U-c1"], ids["U-c2"]}
    again = children.open_erasure_requests(actor, [ids["U-c1"]], today=today)
    assert again.created == [] and "already open" in again.skipped[0][1]
    assert children.list_children(actor, today=today)[0].open_erasure_request == result.created[0]
    with pytest.raises(PermissionDenied):
        children.open_erasure_requests(instance.support, [ids["U-c1"]])


# ================================================================ letters


def test_letters_for_every_closed_state(instance: Instance) -> None:
    actor = instance.compliance
    withdrawn = rq.withdraw_request(actor, rq.create_request(actor, "access", "Peter <b>Kováč</b>").id,
                                    "Requester wrote that it was a mistake")
    html = letters.letter_html(actor, withdrawn.id)
    assert "withdrew your request" in html and "Peter &lt;b&gt;Kováč&lt;/b&gt;" in html
    assert "<b>Kováč" not in html and "Requester wrote that it was a mistake" in html
    received = dt.date.today() - dt.timedelta(days=20)
    extended = rq.create_request(actor, "access", "Anna Malá", received_on=received)
    rq.extend_deadline(actor, extended.id, 2, "Two call centres", received + dt.timedelta(days=3))
    rejected = rq.reject_request(actor, extended.id, "excessive", "Fifth identical request this month")
    html = letters.letter_html(actor, rejected.id)
    assert "further months" in html and "Two call centres" in html and "Manifestly excessive" in html
    assert "Article 77" in html and "Articles 19 and 15(1)(c)" in html
    assert AuditEvent.select().where(AuditEvent.action == "request.letter").count() == 2


def test_render_letter_states_lateness() -> None:
    data = letters.LetterData(request_id=3, type="erasure", state="completed", controller="ACME s.r.o.",
                              requester_name="Jana", requester_contact=None, received_on=dt.date(2026, 1, 5),
                              channel="email", due_on=dt.date(2026, 2, 5), closed_on=dt.date(2026, 2, 8),
                              today=dt.date(2026, 2, 9))
    html = letters.render_letter(data)
    assert "3 day(s) after the deadline" in html and "erased your user account" in html
    assert html.startswith("<!DOCTYPE html>")
