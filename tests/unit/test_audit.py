"""The audit log: hash chain verification catches every kind of tampering; no personal data in details."""

from __future__ import annotations

import io
import json

import pytest

from rcrm_desktop.core import audit, subjects
from rcrm_desktop.db.models import AuditEvent, AuditHead, Subject, database
from rcrm_desktop.errors import PermissionDenied
from tests.conftest import Instance


def _events(instance: Instance, n: int = 6) -> None:
    for i in range(n):
        with database.atomic():
            audit.record(instance.compliance, "test.event", "subject", i, index=i)


def test_intact_chain_verifies(instance: Instance) -> None:
    _events(instance)
    report = audit.verify_chain()
    assert report.ok
    assert report.summary() == f"OK {AuditEvent.select().count()} events"


def test_edited_row_is_named(instance: Instance) -> None:
    _events(instance)
    victim = AuditEvent.select().order_by(AuditEvent.seq).offset(4).get()
    AuditEvent.update(details='{"index":999}').where(AuditEvent.id == victim.id).execute()
    report = audit.verify_chain()
    assert not report.ok
    assert report.broken_seq == victim.seq
    assert "changed" in (report.problem or "")


def test_changed_operator_or_time_is_caught(instance: Instance) -> None:
    import datetime as dt

    _events(instance)
    victim = AuditEvent.select().order_by(AuditEvent.seq).offset(3).get()
    AuditEvent.update(at=victim.at + dt.timedelta(seconds=1)).where(AuditEvent.id == victim.id).execute()
    assert audit.verify_chain().broken_seq == victim.seq


def test_deleted_middle_row_is_caught(instance: Instance) -> None:
    _events(instance)
    victim = AuditEvent.select().order_by(AuditEvent.seq).offset(5).get()
    AuditEvent.delete().where(AuditEvent.id == victim.id).execute()
    report = audit.verify_chain()
    assert not report.ok
    assert report.broken_seq == victim.seq
    assert "deleted" in (report.problem or "")


def test_deleted_tail_is_caught_through_the_head(instance: Instance) -> None:
    _events(instance)
    last = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    AuditEvent.delete().where(AuditEvent.id == last.id).execute()
    report = audit.verify_chain()
    assert not report.ok
    assert "end" in (report.problem or "")


def test_reordered_rows_are_caught(instance: Instance) -> None:
    _events(instance)
    a, b = list(AuditEvent.select().order_by(AuditEvent.seq).offset(3).limit(2))
    fields = ("at", "operator_id", "action", "target_type", "target_id", "details", "prev_hash", "hash")
    va = {f: getattr(a, f) for f in fields}
    vb = {f: getattr(b, f) for f in fields}
    AuditEvent.update(**vb).where(AuditEvent.id == a.id).execute()
    AuditEvent.update(**va).where(AuditEvent.id == b.id).execute()
    report = audit.verify_chain()
    assert not report.ok
    assert report.broken_seq == a.seq


def test_rewritten_chain_without_the_head_is_caught(instance: Instance) -> None:
    """An attacker who recomputes every hash after deleting an event still disagrees with the head."""
    _events(instance)
    AuditHead.update(last_seq=AuditHead.last_seq + 1).execute()
    assert not audit.verify_chain().ok


def test_personal_data_keys_are_refused_in_details(instance: Instance) -> None:
    with pytest.raises(ValueError), database.atomic():
        audit.record(instance.admin, "test", "subject", 1, name="Jan Novák")


def test_subject_views_and_searches_are_audited_without_the_search_text(instance: Instance) -> None:
    Subject.create(user_id="U-1", name="Jana Dvořáková", name_key="jana dvorakova",
                   search_key=subjects.make_search_key("Jana Dvořáková", "U-1"))
    subjects.list_subjects(instance.support, "dvorak")
    detail = subjects.get_subject(instance.support, user_id="U-1")
    events = list(AuditEvent.select().where(AuditEvent.action.in_(["subjects.search", "subject.view"]))
                  .order_by(AuditEvent.seq))
    assert [e.action for e in events] == ["subjects.search", "subject.view"]
    assert json.loads(events[0].details)["ids"] == [detail.subject.id]
    for event in AuditEvent.select():
        assert "dvor" not in event.details.lower()
        assert "jana" not in event.details.lower()
        assert event.operator_id is None or event.operator_id > 0


def test_audit_list_filters_and_csv_export(instance: Instance) -> None:
    _events(instance, 3)
    rows = audit.list_events(instance.compliance, audit.AuditFilter(action="test.event"))
    assert [r.target_id for r in rows] == ["2", "1", "0"]
    page2 = audit.list_events(instance.compliance, audit.AuditFilter(action="test.*"), before_seq=rows[0].seq,
                              limit=1)
    assert page2[0].target_id == "1"
    by_op = audit.list_events(instance.compliance, audit.AuditFilter(operator_id=instance.compliance.operator_id))
    assert all(r.operator == "eva" for r in by_op)
    buffer = io.StringIO()
    assert audit.export_csv(instance.compliance, audit.AuditFilter(action="test.event"), buffer) == 3
    lines = buffer.getvalue().splitlines()
    assert lines[0].split(",")[:5] == ["seq", "time_utc", "operator", "operator_id", "action"]
    assert len(lines) == 4
    assert audit.list_events(instance.compliance, audit.AuditFilter(action="audit.export"))


def test_support_cannot_read_the_audit_log(instance: Instance) -> None:
    with pytest.raises(PermissionDenied):
        audit.list_events(instance.support)
    with pytest.raises(PermissionDenied):
        audit.export_csv(instance.support, audit.AuditFilter(), io.StringIO())
