"""Legal holds (GDPR Art. 17(3)(e)): placed on one target with a reason, released with a reason, audited
without the reason's text — and they keep their targets from erasure as well as retention."""

from __future__ import annotations

import json

import pytest

from rcrm_desktop.core import erasure, holds
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.store import open_store
from rcrm_desktop.db.models import AuditEvent, LegalHold
from rcrm_desktop.errors import NotFoundError, PermissionDenied, ValidationError
from tests.conftest import Instance
from tests.unit.test_retention import NOW, make_event, make_group, make_recording, make_subject


def test_place_list_and_release_holds_on_each_kind_of_target(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-810001")
    rec = make_recording(open_store(), NOW, subject)
    group = make_group("TimeoutError")
    on_account = holds.add_hold(officer, "Litigation 2026/17 (Jana Nováková)", user_id="U-810001")
    on_recording = holds.add_hold(officer, "Complaint to the regulator", recording_id=rec.id)
    on_group = holds.add_hold(officer, "  Incident review  ", crash_group_id=group.id)
    by_id = holds.add_hold(officer, "Second matter", subject_id=subject.id)

    assert (on_account.target, on_account.target_id, on_account.owner) == ("subject", subject.id, "eva")
    assert on_account.target_label == f"U-810001 · {subject.name}" and on_account.active
    assert on_recording.target_label.startswith(f"Recording #{rec.id} · ")
    assert on_recording.subject_user_id == "U-810001"
    assert on_group.target_label == f"Crash group #{group.id} · TimeoutError" and on_group.reason == "Incident review"
    assert [h.id for h in holds.list_holds(officer)] == [by_id.id, on_group.id, on_recording.id, on_account.id]
    assert holds.count_holds(officer) == (4, 0)

    released = holds.release_hold(officer, on_group.id, "Review finished")
    assert not released.active and released.release_reason == "Review finished"
    assert [h.id for h in holds.list_holds(officer, "released")] == [on_group.id]
    assert len(holds.list_holds(officer, "all")) == 4 and holds.count_holds(officer) == (3, 1)
    with pytest.raises(ValidationError, match="already released"):
        holds.release_hold(officer, on_group.id, "Again")
    page = holds.list_holds(officer, "all", limit=2)
    assert [h.id for h in holds.list_holds(officer, "all", before_id=page[-1].id)] == [on_recording.id,
                                                                                      on_account.id]
    assert holds.get_hold(officer, f"#{on_recording.id}").id == on_recording.id
    assert on_account.as_json()["target"] == "subject"

    events = list(AuditEvent.select().where(AuditEvent.action.in_(["hold.add", "hold.release"]))
                  .order_by(AuditEvent.seq))
    assert [e.action for e in events] == ["hold.add"] * 4 + ["hold.release"]
    assert json.loads(events[0].details) == {"on": "subject", "on_id": subject.id}
    assert not any("Litigation" in e.details or "Nováková" in e.details or "Review" in e.details for e in events)


def test_placing_a_hold_checks_its_input(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-820001")
    with pytest.raises(ValidationError, match="exactly one target"):
        holds.add_hold(officer, "x")
    with pytest.raises(ValidationError, match="exactly one target"):
        holds.add_hold(officer, "x", subject_id=subject.id, recording_id=1)
    with pytest.raises(ValidationError, match="reason for the hold is required"):
        holds.add_hold(officer, "   ", subject_id=subject.id)
    with pytest.raises(ValidationError, match="at most"):
        holds.add_hold(officer, "x" * 2001, subject_id=subject.id)
    with pytest.raises(NotFoundError, match="no user account “U-nobody”"):
        holds.add_hold(officer, "x", user_id="U-nobody")
    with pytest.raises(NotFoundError, match="no recording #999"):
        holds.add_hold(officer, "x", recording_id=999)
    with pytest.raises(NotFoundError, match="no crash group #999"):
        holds.add_hold(officer, "x", crash_group_id=999)
    with pytest.raises(NotFoundError):
        holds.release_hold(officer, 999, "x")
    with pytest.raises(ValidationError, match="not a legal hold number"):
        holds.get_hold(officer, "abc")
    with pytest.raises(ValidationError, match="not a hold status"):
        holds.list_holds(officer, "open")
    with pytest.raises(PermissionDenied):
        holds.release_hold(instance.support, 1, "x")
    assert LegalHold.select().count() == 0


def test_a_hold_placed_here_blocks_erasure_too(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-830001")
    make_event(make_group(), NOW, subject)
    hold = holds.add_hold(officer, "Litigation", user_id="U-830001")
    detail = rq.create_request(officer, "erasure", "Person", subject_id=subject.id)
    detail = rq.verify_identity(officer, detail.id, "Known e-mail address")
    preview = erasure.preview_erasure(officer, detail.id)
    assert not preview.can_erase and f"Legal hold #{hold.id}" in preview.blockers[0]
    holds.release_hold(officer, hold.id, "Settled")
    assert erasure.preview_erasure(officer, detail.id).can_erase
