"""Retention rules, preview and runs (GDPR Art. 5(1)(e)) on every engine.

What is checked, as the officer relies on it:

* a rule removes an item one second older than its maximum age and keeps one
  exactly that old — for every category;
* legal holds and open rights requests keep items (and the preview lists them
  as held, with the hold or request that keeps them);
* a preview changes nothing, and a run removes exactly what the preview
  counted (the same query functions);
* crash events are anonymised or deleted with their groups' counters, per-day
  counts and facets still describing the remaining events exactly;
* inactive accounts go through the erasure path (an internal erasure request);
* an interrupted run is resumed and finishes; a cancelled run stops after a batch;
* every change is audited once, without personal data; support may do none of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from rcrm_desktop.core import audit, crashes, holds, retention, subjects
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.models import (
    ALL_MODELS,
    Annotation,
    AuditEvent,
    CrashDailyCount,
    CrashEvent,
    CrashGroup,
    CrashGroupFacet,
    LegalHold,
    Recording,
    RecordingTag,
    RequestEvent,
    RetentionErasure,
    RetentionRun,
    RetentionRunCategory,
    RightsRequest,
    Subject,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, PermissionDenied, ValidationError
from tests.conftest import Instance

NOW = dt.datetime(2026, 3, 17, 12, 0, 0)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


# ================================================================ building data


def make_subject(user_id: str, *, last_active: dt.datetime | None = None,
                 created: dt.datetime | None = None) -> Subject:
    name = f"Person {user_id}"
    return Subject.create(user_id=user_id, name=name, name_key=fold(name), search_key=subjects.make_search_key(name,
                                                                                                                user_id),
                          email=f"{user_id.lower()}@example.sk", created_at=created or NOW - 1000 * DAY,
                          last_active_at=last_active if last_active is not None else NOW - 2 * DAY)


def make_recording(store: RecordingsStore, started: dt.datetime, subject: Subject | None = None,
                   operator_id: int | None = None) -> Recording:
    n = Recording.select().count() + random.randrange(1_000_000_000)
    stored = store.write_bytes(f"calls/{n % 7}/{n:010d}.wav", f"RIFF{n}".encode())
    rec = Recording.create(subject=subject.id if subject is not None else None, path=stored.relative,
                           sha256=stored.sha256, original_sha256=stored.sha256, format="wav", duration_ms=61_000,
                           sample_rate=8000, channels=1, size_bytes=stored.size_bytes, started_at=started,
                           direction="inbound", agent="Agent Smith")
    RecordingTag.create(recording=rec.id, tag="complaint")
    if operator_id is not None:
        Annotation.create(recording=rec.id, operator=operator_id, position_ms=1000, text="Asked about the invoice",
                          created_at=started)
    return rec


def make_group(title: str = "KeyError: 'plan'") -> CrashGroup:
    return CrashGroup.create(fingerprint=hashlib.sha256(f"{title}{random.random()}".encode()).hexdigest(),
                             title=title, event_count=0, subject_count=0, first_seen=NOW, last_seen=NOW)


def make_event(group: CrashGroup, received: dt.datetime, subject: Subject | None = None, *,
               release: str = "rcrm@1.0", occurred: dt.datetime | None = None) -> CrashEvent:
    n = random.randrange(10 ** 12)
    payload = {"event_id": f"{n:032x}", "platform": "python", "user": {"id": subject.user_id if subject else "x",
                                                                        "email": "jana@example.sk"},
               "request": {"url": "https://x/"}, "breadcrumbs": {"values": [{"message": "clicked"}]},
               "extra": {"note": "n"}, "exception": {"values": [{"type": "KeyError", "stacktrace": {
                   "frames": [{"function": "load", "vars": {"card": "4111"}}]}}]}}
    return CrashEvent.create(event_id=f"{n:032x}", group=group.id, original_group=group.id,
                             subject=subject.id if subject is not None else None,
                             occurred_at=occurred or received - dt.timedelta(minutes=5), received_at=received,
                             platform="python", release=release, environment="production", os_name="Linux",
                             exception_type="KeyError", message="'plan'", payload=json.dumps(payload))


def make_closed_request(inst: Instance, closed: dt.datetime, subject: Subject | None = None) -> int:
    detail = rq.create_request(inst.compliance, "access", "Jana Nováková",
                               subject_id=subject.id if subject is not None else None)
    rq.withdraw_request(inst.compliance, detail.id, "Requester withdrew by phone")
    RightsRequest.update(closed_at=closed).where(RightsRequest.id == detail.id).execute()
    return detail.id


def set_rules(inst: Instance, **rules: tuple[int, str]) -> None:
    for category, (days, action) in rules.items():
        retention.set_rule(inst.compliance, category, max_age_days=days, action=action, enabled=True)


def row_counts() -> dict[str, int]:
    return {m.__name__: m.select().count() for m in ALL_MODELS}


def store_files(store: RecordingsStore) -> set[str]:
    return {store.relative_path(p) for p in store.root.rglob("*") if p.is_file()}


def aggregates(group_ids: list[int]) -> dict[str, Any]:
    """Counters, per-day counts and facets of groups as stored (to compare with a rebuild)."""
    out: dict[str, Any] = {}
    for g in CrashGroup.select().where(CrashGroup.id.in_(group_ids)).order_by(CrashGroup.id):
        out[f"g{g.id}"] = (g.event_count, g.subject_count, g.first_seen, g.last_seen)
    out["days"] = sorted((d.group_id, str(d.day), d.count) for d in CrashDailyCount.select().where(
        CrashDailyCount.group.in_(group_ids)))
    out["facets"] = sorted((f.group_id, f.kind, f.value, f.event_count, f.first_seen, f.last_seen)
                           for f in CrashGroupFacet.select().where(CrashGroupFacet.group.in_(group_ids)))
    return out


# ================================================================ rules


def test_rules_list_every_category_and_edits_are_audited(instance: Instance) -> None:
    officer = instance.compliance
    rules = retention.list_rules(officer)
    assert [r.category for r in rules] == list(retention.CATEGORIES)
    assert all(not r.active for r in rules)
    rule = retention.set_rule(officer, "recordings", max_age_days=730, enabled=True)
    assert rule.active and rule.max_age_days == 730 and rule.action == "delete"
    assert rule.updated_by_name == "eva" and rule.updated_at is not None
    event = AuditEvent.select().where(AuditEvent.action == "retention.rule").order_by(AuditEvent.seq.desc()).get()
    details = json.loads(event.details)
    assert event.target_id == "recordings" and details["max_age_days"] == 730 and details["enabled"] is True
    assert details["previous"] == {"max_age_days": None, "action": "delete", "enabled": False}

    with pytest.raises(ValidationError, match="only be handled with: delete"):
        retention.set_rule(officer, "recordings", action="anonymise")
    assert retention.set_rule(officer, "crash_events", max_age_days=90, action="anonymize").action == "anonymise"
    with pytest.raises(ValidationError, match="Set a maximum age"):
        retention.set_rule(officer, "annotations", enabled=True)
    with pytest.raises(ValidationError, match="hash chain"):
        retention.set_rule(officer, "audit_log", max_age_days=3650, enabled=True)
    with pytest.raises(ValidationError, match="does not keep access packages"):
        retention.set_rule(officer, "access_packages", max_age_days=30, enabled=True)
    with pytest.raises(ValidationError, match="between 1 day"):
        retention.set_rule(officer, "recordings", max_age_days=0)
    with pytest.raises(ValidationError, match="not a retention category"):
        retention.set_rule(officer, "voicemail", max_age_days=3)
    stale = dataclasses.replace(rule, max_age_days=365)
    with pytest.raises(ConflictError, match="was changed by eva"):
        retention.set_rule(officer, "recordings", max_age_days=10, expected=stale)
    assert retention.set_rule(officer, "recordings", max_age_days=10, expected=rule).max_age_days == 10
    assert retention.parse_age("2y") == 730 and retention.parse_age("8w") == 56 and retention.parse_age("90") == 90
    with pytest.raises(ValidationError):
        retention.parse_age("soon")
    assert retention.describe_age(730) == "730 days (2 years)" and retention.describe_age(None) == "keep forever"


def test_support_may_not_see_or_change_retention_or_holds(instance: Instance) -> None:
    support = instance.support
    for call in (lambda: retention.list_rules(support),
                 lambda: retention.set_rule(support, "recordings", max_age_days=1, enabled=True),
                 lambda: retention.preview_retention(support),
                 lambda: retention.preview_items(support, "recordings"),
                 lambda: retention.apply_retention(support),
                 lambda: retention.resume_retention(support),
                 lambda: retention.list_runs(support),
                 lambda: holds.add_hold(support, "x", recording_id=1),
                 lambda: holds.list_holds(support)):
        with pytest.raises(PermissionDenied, match="may not do this"):
            call()


# ================================================================ boundaries


def test_each_rule_removes_one_second_older_and_keeps_exactly_max_age(instance: Instance) -> None:
    inst = instance
    store = open_store()
    limit = 30
    edge = NOW - limit * DAY
    keep_rec = make_recording(store, edge)
    drop_rec = make_recording(store, edge - SECOND)
    group = make_group()
    keep_ev, drop_ev = make_event(group, edge), make_event(group, edge - SECOND)
    young = make_recording(store, NOW - DAY)
    keep_ann = Annotation.create(recording=young.id, operator=inst.compliance.operator_id, position_ms=0, text="a",
                                 created_at=edge)
    drop_ann = Annotation.create(recording=young.id, operator=inst.compliance.operator_id, position_ms=0, text="b",
                                 created_at=edge - SECOND)
    keep_acc = make_subject("U-100001", last_active=edge)
    drop_acc = make_subject("U-100002", last_active=edge - SECOND)
    never_keep = Subject.update(last_active_at=None, created_at=edge).where(
        Subject.id == make_subject("U-100003").id).execute()
    assert never_keep == 1
    never_drop = make_subject("U-100004")
    Subject.update(last_active_at=None, created_at=edge - SECOND).where(Subject.id == never_drop.id).execute()
    keep_req = make_closed_request(inst, edge)
    drop_req = make_closed_request(inst, edge - SECOND)
    set_rules(inst, recordings=(limit, "delete"), crash_events=(limit, "delete"), annotations=(limit, "delete"),
              inactive_accounts=(limit, "delete"), closed_requests=(limit, "delete"))

    preview = retention.preview_retention(inst.compliance, now=NOW)
    assert {r.category: r.due for r in preview.rules if r.rule.active} == {
        "recordings": 1, "crash_events": 1, "annotations": 1, "inactive_accounts": 2, "closed_requests": 1}
    assert preview.rule("recordings").oldest == edge - SECOND
    assert preview.rule("recordings").cutoff == edge
    assert [i.id for i in retention.preview_items(inst.compliance, "recordings", now=NOW)] == [drop_rec.id]
    assert {i.id for i in retention.preview_items(inst.compliance, "inactive_accounts", now=NOW)} == {
        drop_acc.id, never_drop.id}

    report = retention.apply_retention(inst.compliance, now=NOW)
    assert report.state == "completed"
    assert Recording.get_or_none(Recording.id == drop_rec.id) is None
    assert Recording.get_or_none(Recording.id == keep_rec.id) is not None
    assert CrashEvent.get_or_none(CrashEvent.id == drop_ev.id) is None
    assert CrashEvent.get_or_none(CrashEvent.id == keep_ev.id) is not None
    assert Annotation.get_or_none(Annotation.id == drop_ann.id) is None
    assert Annotation.get_or_none(Annotation.id == keep_ann.id) is not None
    assert Subject.get_or_none(Subject.id == drop_acc.id) is None and Subject.get_or_none(
        Subject.id == never_drop.id) is None
    assert Subject.get_or_none(Subject.id == keep_acc.id) is not None
    assert Subject.get_or_none(Subject.user_id == "U-100003") is not None
    assert RightsRequest.get_or_none(RightsRequest.id == drop_req) is None
    assert RightsRequest.get_or_none(RightsRequest.id == keep_req) is not None
    assert RequestEvent.select().where(RequestEvent.request == drop_req).count() == 0
    assert store_files(store) == {r.path for r in Recording.select()}


# ================================================================ holds and open requests


def test_holds_and_open_requests_keep_items_and_the_preview_says_why(instance: Instance) -> None:
    inst = instance
    officer = inst.compliance
    store = open_store()
    old = NOW - 400 * DAY
    held_account = make_subject("U-200001", last_active=old)
    asking = make_subject("U-200002", last_active=old)
    free = make_subject("U-200003", last_active=old)
    recs = {name: make_recording(store, old, subject, officer.operator_id)
            for name, subject in (("of_held", held_account), ("of_asking", asking), ("free", free),
                                  ("held_itself", free), ("free2", None))}
    group_held, group_free = make_group("Held"), make_group("Free")
    events = {"in_held_group": make_event(group_held, old), "of_asking": make_event(group_free, old, asking),
              "free": make_event(group_free, old), "of_held_account": make_event(group_free, old, held_account)}
    crashes._rebuild_aggregates([group_held.id, group_free.id])
    old_request = make_closed_request(inst, old, asking)
    account_hold = holds.add_hold(officer, "Litigation 2026/17", user_id="U-200001")
    rec_hold = holds.add_hold(officer, "Complaint to the regulator", recording_id=recs["held_itself"].id)
    group_hold = holds.add_hold(officer, "Incident review", crash_group_id=group_held.id)
    open_req = rq.create_request(officer, "access", "Person U-200002", subject_id=asking.id)
    set_rules(inst, recordings=(365, "delete"), crash_events=(365, "delete"), annotations=(365, "delete"),
              inactive_accounts=(365, "delete"), closed_requests=(365, "delete"))

    preview = retention.preview_retention(officer, now=NOW)
    rec_rule = preview.rule("recordings")
    assert (rec_rule.due, rec_rule.held) == (2, 3)
    reasons = {(h.kind, h.ref_id): h.count for h in rec_rule.held_back}
    assert reasons == {("hold", account_hold.id): 1, ("hold", rec_hold.id): 1, ("request", open_req.id): 1}
    assert "U-200001" in next(h.detail for h in rec_rule.held_back if h.ref_id == account_hold.id)
    crash_rule = preview.rule("crash_events")
    assert (crash_rule.due, crash_rule.held) == (1, 3)
    assert {(h.kind, h.ref_id) for h in crash_rule.held_back} == {
        ("hold", group_hold.id), ("hold", account_hold.id), ("request", open_req.id)}
    acc_rule = preview.rule("inactive_accounts")
    assert (acc_rule.due, acc_rule.held) == (1, 2)
    assert (preview.rule("annotations").due, preview.rule("annotations").held) == (2, 3)
    assert (preview.rule("closed_requests").due, preview.rule("closed_requests").held) == (0, 1)

    held_items = retention.preview_items(officer, "recordings", held=True, now=NOW)
    by_id = {i.id: i for i in held_items}
    assert set(by_id) == {recs["of_held"].id, recs["of_asking"].id, recs["held_itself"].id}
    assert by_id[recs["of_held"].id].held_by == (f"Legal hold #{account_hold.id} on the account: Litigation 2026/17",)
    assert by_id[recs["of_held"].id].on_hold
    assert by_id[recs["of_asking"].id].held_by == (f"Open access request #{open_req.id}: frozen until it closes",)
    assert not by_id[recs["of_asking"].id].on_hold
    assert "Complaint to the regulator" in by_id[recs["held_itself"].id].held_by[0]

    report = retention.apply_retention(officer, now=NOW)
    for name in ("of_held", "of_asking", "held_itself"):
        assert Recording.get_or_none(Recording.id == recs[name].id) is not None, name
    for name in ("free", "free2"):
        assert Recording.get_or_none(Recording.id == recs[name].id) is None, name
    for name in ("in_held_group", "of_asking", "of_held_account"):
        assert CrashEvent.get_or_none(CrashEvent.id == events[name].id) is not None, name
    assert CrashEvent.get_or_none(CrashEvent.id == events["free"].id) is None
    assert Subject.get_or_none(Subject.id == held_account.id) is not None
    assert Subject.get_or_none(Subject.id == asking.id) is not None
    assert Subject.get_or_none(Subject.id == free.id) is None
    assert RightsRequest.get_or_none(RightsRequest.id == old_request) is not None
    by_category = {c.category: c for c in report.categories}
    assert by_category["recordings"].held_at_start == 3 and by_category["recordings"].deleted == 2

    # Once the request closes and the holds are released, the next run removes the rest.
    rq.withdraw_request(officer, open_req.id, "Withdrawn")
    for hold in (account_hold, rec_hold, group_hold):
        holds.release_hold(officer, hold.id, "Matter closed")
    after = retention.preview_retention(officer, now=NOW)
    assert after.rule("recordings").held == 0 and after.rule("recordings").due == 3
    retention.apply_retention(officer, now=NOW)
    assert Recording.select().count() == 0 and store_files(store) == set()


def test_the_internal_erasure_request_of_a_run_does_not_freeze_the_account(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-300001", last_active=NOW - 900 * DAY)
    store = open_store()
    rec = make_recording(store, NOW - DAY, subject)
    set_rules(instance, inactive_accounts=(365, "delete"))
    report = retention.apply_retention(officer, now=NOW)
    assert report.categories[0].deleted == 1
    assert Subject.get_or_none(Subject.id == subject.id) is None
    assert Recording.get_or_none(Recording.id == rec.id) is None and store_files(store) == set()
    erasure = RetentionErasure.get(RetentionErasure.subject_id == subject.id)
    request = RightsRequest.get_by_id(erasure.request_id)
    assert (request.type, request.channel, request.state) == ("erasure", "internal", "completed")
    assert request.erased_at is not None and request.subject_id is None and request.subject_ref
    assert f"retention run #{report.id}" in (request.details or "")
    assert erasure.state == "erased"
    assert AuditEvent.select().where(AuditEvent.action == "subject.erase").count() == 1


def test_an_internal_request_left_open_by_a_failed_run_is_taken_over(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-310001", last_active=NOW - 900 * DAY)
    set_rules(instance, inactive_accounts=(365, "delete"))
    failed = RetentionRun.create(as_of=NOW, state="failed", operator_id=officer.operator_id, started_at=utcnow(),
                                 heartbeat_at=utcnow())
    cat = RetentionRunCategory.create(run=failed.id, category="inactive_accounts", max_age_days=365,
                                      action="delete", cutoff=NOW - 365 * DAY)
    request_id = retention._open_internal_request(officer, failed.id, subject.id, cat)
    assert RightsRequest.get_by_id(request_id).state == "in_progress"
    assert retention.preview_retention(officer, now=NOW).rule("inactive_accounts").due == 1, "its own request froze it"
    report = retention.apply_retention(officer, now=NOW)
    assert report.categories[0].deleted == 1
    assert RightsRequest.select().where(RightsRequest.type == "erasure").count() == 1, "a second request was opened"
    assert RightsRequest.get_by_id(request_id).state == "completed"
    assert RetentionErasure.get().run_id == report.id and RetentionErasure.get().state == "erased"


# ================================================================ preview = apply


def _random_instance(inst: Instance, rng: random.Random) -> dict[str, Any]:
    store = open_store()
    officer = inst.compliance
    accounts = [make_subject(f"U-4{i:05d}", last_active=NOW - rng.randint(1, 900) * DAY) for i in range(14)]
    for acc in accounts[::5]:
        Subject.update(last_active_at=None).where(Subject.id == acc.id).execute()
    groups = [make_group(f"Error {i}") for i in range(3)]
    for _ in range(40):
        owner = rng.choice(accounts + [None, None])
        make_recording(store, NOW - rng.randint(0, 800) * DAY - rng.randint(0, 86399) * SECOND, owner,
                       officer.operator_id if rng.random() < 0.6 else None)
    for _ in range(80):
        make_event(rng.choice(groups), NOW - rng.randint(0, 400) * DAY, rng.choice(accounts + [None] * 4),
                   release=rng.choice(["rcrm@1.0", "rcrm@1.1", "rcrm@2.0"]),
                   occurred=NOW - rng.randint(0, 500) * DAY)
    crashes._rebuild_aggregates([g.id for g in groups])
    for _ in range(6):
        make_closed_request(inst, NOW - rng.randint(0, 900) * DAY, rng.choice(accounts))
    holds.add_hold(officer, "Matter A", subject_id=accounts[1].id)
    holds.add_hold(officer, "Matter B", recording_id=Recording.select().order_by(Recording.id).first().id)
    holds.add_hold(officer, "Matter C", crash_group_id=groups[0].id)
    rq.create_request(officer, "access", "Person", subject_id=accounts[2].id)
    return {"store": store, "groups": [g.id for g in groups]}


def test_preview_changes_nothing_and_apply_removes_exactly_what_it_counted(instance: Instance) -> None:
    inst = instance
    officer = inst.compliance
    made = _random_instance(inst, random.Random(20260317))
    set_rules(inst, recordings=(365, "delete"), crash_events=(200, "delete"), annotations=(300, "delete"),
              inactive_accounts=(500, "delete"), closed_requests=(400, "delete"))
    before = row_counts()
    preview = retention.preview_retention(officer, now=NOW)
    listed: dict[str, set[int]] = {}
    for rule in preview.rules:
        if not rule.rule.active:
            continue
        ids: list[int] = []
        while True:
            page = retention.preview_items(officer, rule.category, now=NOW, after_id=ids[-1] if ids else 0, limit=7)
            ids += [item.id for item in page]
            if len(page) < 7:
                break
        assert len(ids) == rule.due, rule.category
        listed[rule.category] = set(ids)
        held = retention.preview_items(officer, rule.category, held=True, now=NOW, limit=1000)
        assert len(held) == rule.held and all(item.held_by for item in held)
    assert row_counts() == before, "a preview changed rows (the audit log included)"
    assert preview.total_due > 20 and preview.total_held > 3

    existing = {c: {int(i) for (i,) in retention._model(c).select(retention._model(c).id).tuples()} for c in listed}
    report = retention.apply_retention(officer, now=NOW, batch_sizes={"recordings": 3, "crash_events": 4,
                                                                     "annotations": 2, "closed_requests": 2})
    assert report.state == "completed" and report.previous is None
    for c in report.categories:
        assert c.due_at_start == preview.rule(c.category).due
        assert c.held_at_start == preview.rule(c.category).held
        assert c.deleted == preview.rule(c.category).due, c.category
        assert c.skipped == 0
    for category in ("recordings", "crash_events", "closed_requests"):
        model = retention._model(category)
        gone = existing[category] - {int(i) for (i,) in model.select(model.id).tuples()}
        assert listed[category] <= gone, category
    store = made["store"]
    assert store_files(store) == {r.path for r in Recording.select()}
    assert aggregates(made["groups"]) == _rebuilt(made["groups"])
    assert audit.verify_chain().ok
    assert AuditEvent.select().where(AuditEvent.action == "retention.run").count() == 1
    again = retention.preview_retention(officer, now=NOW)
    assert again.total_due == 0 and again.total_held == preview.total_held


def _rebuilt(group_ids: list[int]) -> dict[str, Any]:
    """What the aggregates would be if recomputed from the remaining events (``core.crashes``' own rebuild)."""
    from rcrm_desktop.db.models import database

    with database.atomic() as txn:
        crashes._rebuild_aggregates([g for g in group_ids if CrashGroup.get_or_none(CrashGroup.id == g)])
        value = aggregates(group_ids)
        txn.rollback()
    return value


# ================================================================ crash events


def test_anonymising_crash_events_strips_personal_parts_and_keeps_counts(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-500001")
    group = make_group()
    old = [make_event(group, NOW - 100 * DAY, subject) for _ in range(3)]
    young = make_event(group, NOW - DAY, subject)
    crashes._rebuild_aggregates([group.id])
    assert CrashGroup.get_by_id(group.id).subject_count == 1
    set_rules(instance, crash_events=(30, "anonymise"))
    preview = retention.preview_retention(officer, now=NOW)
    assert preview.rule("crash_events").due == 3
    report = retention.apply_retention(officer, now=NOW)
    assert report.categories[0].anonymised == 3 and report.categories[0].deleted == 0
    for event in old:
        fresh = CrashEvent.get_by_id(event.id)
        payload = json.loads(fresh.payload)
        assert fresh.subject_id is None
        assert payload["rcrm_anonymised"] is True
        assert not {"user", "request", "breadcrumbs", "extra"} & set(payload)
        assert "vars" not in json.dumps(payload) and "jana@example.sk" not in fresh.payload
        assert payload["exception"]["values"][0]["type"] == "KeyError"
    assert CrashEvent.get_by_id(young.id).subject_id == subject.id
    assert aggregates([group.id]) == _rebuilt([group.id])
    assert retention.preview_retention(officer, now=NOW).rule("crash_events").due == 0, "anonymised twice"
    # Deleting later still removes anonymised events.
    retention.set_rule(officer, "crash_events", action="delete")
    assert retention.preview_retention(officer, now=NOW).rule("crash_events").due == 3


def test_deleting_crash_events_keeps_aggregates_exact_and_drops_emptied_groups(instance: Instance) -> None:
    officer = instance.compliance
    subject = make_subject("U-600001")
    emptied, kept_empty, mixed = make_group("A"), make_group("B"), make_group("C")
    for _ in range(3):
        make_event(emptied, NOW - 90 * DAY, subject)
        make_event(kept_empty, NOW - 90 * DAY)
    for i in range(6):
        make_event(mixed, NOW - (90 if i % 2 else 1) * DAY, subject if i < 4 else None,
                   release="rcrm@1.0" if i < 3 else "rcrm@2.0", occurred=NOW - (95 - i) * DAY)
    ids = [emptied.id, kept_empty.id, mixed.id]
    crashes._rebuild_aggregates(ids)
    hold = holds.add_hold(officer, "Incident", crash_group_id=kept_empty.id)
    holds.release_hold(officer, hold.id, "Review done")
    holds.add_hold(officer, "Second incident", crash_group_id=kept_empty.id)
    hold_two = LegalHold.select().order_by(LegalHold.id.desc()).get()
    set_rules(instance, crash_events=(30, "delete"))
    retention.apply_retention(officer, now=NOW)
    assert CrashGroup.get_or_none(CrashGroup.id == emptied.id) is None
    assert CrashGroup.get_by_id(kept_empty.id).event_count == 3, "a held group keeps its events"
    holds.release_hold(officer, hold_two.id, "Done")
    retention.apply_retention(officer, now=NOW)
    assert CrashGroup.get_by_id(kept_empty.id).event_count == 0  # emptied; its hold records are kept with it
    assert CrashGroup.get_by_id(mixed.id).event_count == 3
    assert aggregates([mixed.id]) == _rebuilt([mixed.id])


# ================================================================ runs


def test_an_interrupted_run_is_resumed_and_finishes(instance: Instance) -> None:
    officer = instance.compliance
    store = open_store()
    for i in range(12):
        make_recording(store, NOW - (400 + i) * DAY, operator_id=officer.operator_id)
    subject = make_subject("U-700001", last_active=NOW - 999 * DAY)
    set_rules(instance, recordings=(365, "delete"), annotations=(365, "delete"), inactive_accounts=(365, "delete"))
    preview = retention.preview_retention(officer, now=NOW)
    calls = 0

    def killer(done: int, total: int, text: str) -> bool:
        nonlocal calls
        calls += 1
        if text.startswith("Deleting recording 7 "):
            raise KeyboardInterrupt  # what a kill looks like from inside: nothing after this line runs
        return True

    with pytest.raises(KeyboardInterrupt):
        retention.apply_retention(officer, now=NOW, progress=killer, store=store,
                                  batch_sizes={"recordings": 3, "annotations": 5})
    run = RetentionRun.get()
    assert run.state == "running" and run.active == 1
    interrupted = retention.interrupted_run(officer)
    assert interrupted is not None and interrupted.id == run.id and interrupted.state_label == "Interrupted"
    assert retention.preview_retention(officer, now=NOW).interrupted_run == run.id
    assert AuditEvent.select().where(AuditEvent.action == "retention.run").count() == 0

    resumed = retention.resume_retention(officer, store=store, batch_sizes={"recordings": 3})
    assert resumed is not None and resumed.id == run.id and resumed.state == "completed" and resumed.resumed == 1
    assert {c.category: c.deleted for c in resumed.categories} == {
        r.category: r.due for r in preview.rules if r.rule.active}
    assert Recording.select().count() == 0 and store_files(store) == set()
    assert Subject.get_or_none(Subject.id == subject.id) is None
    assert retention.resume_retention(officer, store=store) is None
    assert AuditEvent.select().where(AuditEvent.action == "retention.run").count() == 1
    assert retention.run_report(officer, run.id).text().startswith(f"Retention run #{run.id} — Completed")


def test_the_next_apply_resumes_an_interrupted_run_first(instance: Instance) -> None:
    officer = instance.compliance
    store = open_store()
    for i in range(6):
        make_recording(store, NOW - (400 + i) * DAY)
    set_rules(instance, recordings=(365, "delete"))

    def killer(done: int, total: int, text: str) -> bool:
        if done >= 2:
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        retention.apply_retention(officer, now=NOW, progress=killer, batch_sizes={"recordings": 2})
    first = RetentionRun.get()
    report = retention.apply_retention(officer, now=NOW)
    assert report.previous is not None and report.previous.id == first.id and report.previous.state == "completed"
    assert report.id != first.id and report.deleted == 0
    assert report.previous.deleted == 6
    runs = retention.list_runs(officer)
    assert [r.id for r in runs] == [report.id, first.id]


def test_cancel_stops_after_the_current_batch(instance: Instance) -> None:
    officer = instance.compliance
    store = open_store()
    for i in range(10):
        make_recording(store, NOW - (400 + i) * DAY)
    set_rules(instance, recordings=(365, "delete"))
    report = retention.apply_retention(officer, now=NOW, progress=lambda d, t, x: d < 1,
                                       batch_sizes={"recordings": 4})
    assert report.state == "cancelled"
    assert report.categories[0].deleted == 4 and Recording.select().count() == 6
    assert store_files(store) == {r.path for r in Recording.select()}
    event = AuditEvent.select().where(AuditEvent.action == "retention.run").get()
    details = json.loads(event.details)
    assert details["state"] == "cancelled" and details["categories"]["recordings"]["deleted"] == 4
    assert "Person" not in event.details and "calls/" not in event.details
    assert retention.interrupted_run(officer) is None


def test_only_one_run_at_a_time(instance: Instance) -> None:
    officer = instance.compliance
    set_rules(instance, recordings=(365, "delete"))
    from rcrm_desktop.core.pending import _hostname

    RetentionRun.create(as_of=NOW, state="running", operator_id=officer.operator_id, host=_hostname(),
                        pid=os.getppid(), active=1, started_at=utcnow(), heartbeat_at=utcnow())
    assert retention.interrupted_run(officer) is None  # its process is alive
    with pytest.raises(ValidationError, match="already running"):
        retention.apply_retention(officer, now=NOW)


@dataclass
class _Totals:
    values: list[int] = field(default_factory=list)


def test_progress_says_what_is_deleted_and_totals_add_up(instance: Instance) -> None:
    officer = instance.compliance
    store = open_store()
    for i in range(5):
        make_recording(store, NOW - (400 + i) * DAY)
    set_rules(instance, recordings=(365, "delete"), closed_requests=(365, "delete"))
    texts: list[str] = []
    totals = _Totals()

    def progress(done: int, total: int, text: str) -> bool:
        texts.append(text)
        totals.values.append(total)
        return True

    report = retention.apply_retention(officer, now=NOW, progress=progress, batch_sizes={"recordings": 2})
    assert "Deleting recording 1 of 5" in texts and "Deleting recording 5 of 5" in texts
    assert texts[-1] == "Done" and set(totals.values) == {5}
    assert report.files_deleted == 5
    data = report.as_json()
    assert data["totals"]["deleted"] == 5 and data["categories"][0]["category"] == "recordings"
