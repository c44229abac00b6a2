"""The synthetic large-instance fill (core.scale), shrunk to a few hundred rows a unit, on every engine."""

from __future__ import annotations

import pytest

from rcrm_desktop.core import audit, recordings, scale, subjects
from rcrm_desktop.core.store import open_store
from rcrm_desktop.db.models import CrashDailyCount, CrashEvent, CrashGroup, Recording, RightsRequest, Subject
from tests.conftest import Instance


@pytest.fixture
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale, "SUBJECTS_PER_UNIT", 300)
    monkeypatch.setattr(scale, "RECORDINGS_PER_UNIT", 40)
    monkeypatch.setattr(scale, "CRASH_EVENTS_PER_UNIT", 500)
    monkeypatch.setattr(scale, "CRASH_GROUPS_PER_UNIT", 20)
    monkeypatch.setattr(scale, "REQUESTS_PER_UNIT", 15)
    monkeypatch.setattr(scale, "AUDIT_EVENTS_PER_UNIT", 200)


def test_scale_fill_is_consistent(instance: Instance, small_units: None) -> None:
    summary = scale.populate_scale(2)
    assert (summary.subjects, summary.recordings, summary.crash_events, summary.requests,
            summary.audit_events) == (600, 80, 1000, 30, 400)
    assert Subject.select().count() == 600
    # folded keys as core.subjects writes them, and search finds them through the index
    row = Subject.select().order_by(Subject.id.desc()).get()
    assert row.search_key == subjects.make_search_key(row.name, row.user_id)
    assert row.name_key == subjects.fold(row.name)[:200]
    found = subjects.list_subjects(instance.support, row.user_id, audit_view=False)
    assert [r.id for r in found] == [row.id]
    # every recording row has its file, unchanged: verify is clean
    report = recordings.verify_recordings(instance.compliance, store=open_store())
    assert report.checked == 80 and not report.missing and not report.mismatched and not report.unknown
    assert Recording.select().count() == 80
    # crash counters agree with the events
    assert CrashGroup.select().count() == 40
    for group in CrashGroup.select():
        events = CrashEvent.select().where(CrashEvent.group == group.id)
        assert group.event_count == events.count()
        assert group.subject_count == events.where(CrashEvent.subject.is_null(False)).distinct().select(
            CrashEvent.subject).count()
        daily = sum(d.count for d in CrashDailyCount.select().where(CrashDailyCount.group == group.id))
        assert daily == group.event_count
    assert RightsRequest.select().count() == 30
    # the audit chain continues unbroken, and later appends still chain on
    assert audit.verify_chain().ok
    subjects.get_subject(instance.support, subject_id=row.id)
    assert audit.verify_chain().ok
    # a second fill adds without collisions
    scale.populate_scale(1)
    assert Subject.select().count() == 900
    assert audit.verify_chain().ok
