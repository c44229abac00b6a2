"""Children's data (GDPR Art. 8): accounts of subjects under the age of digital consent.

The age is the instance option ``child_consent_age`` (16 by default; member
states may lower it to 13 — 15 in the Czech Republic, 16 in Slovakia). The
report lists every account whose date of birth makes its holder younger than
that today, with what the instance holds about them and whether an erasure
request is already open. One action opens an erasure request for each listed
account (the controller reviewing consent it could not rely on): each request
is its own transaction, so one refusal does not undo the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from peewee import fn

from rcrm_desktop.core import audit, deadlines
from rcrm_desktop.core import requests as core_requests
from rcrm_desktop.core.instance import get_int_setting
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.requests import _tuples
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import CrashEvent, Recording, Subject, database
from rcrm_desktop.errors import RcrmError, ValidationError

MIN_AGE, MAX_AGE = 13, 16

#: What the bulk action writes into each request it opens.
BULK_REQUESTER = "Controller review: child's account (GDPR Art. 8)"
BULK_DETAILS = ("Opened from the “Children's data” report: the account holder is younger than the age of digital "
                "consent ({age}) and consent given for them cannot be relied on (GDPR Art. 8, Art. 17(1)(f)).")


@dataclass(frozen=True)
class ChildRow:
    subject_id: int
    user_id: str
    name: str
    birth_date: dt.date
    age: int
    recordings: int
    crash_events: int
    restricted: bool
    open_erasure_request: int | None

    def as_json(self) -> dict[str, Any]:
        return {"subject_id": self.subject_id, "user_id": self.user_id, "name": self.name,
                "birth_date": self.birth_date.isoformat(), "age": self.age, "recordings": self.recordings,
                "crash_events": self.crash_events, "restricted": self.restricted,
                "open_erasure_request": self.open_erasure_request}


@dataclass
class BulkResult:
    created: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"created": list(self.created),
                "skipped": [{"subject_id": s, "reason": why} for s, why in self.skipped]}


def _born(subject: Subject) -> dt.date:
    born = subject.birth_date
    assert born is not None  # the query selects accounts with a date of birth only
    return born


def age_on(born: dt.date, today: dt.date) -> int:
    """Age in whole years on ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def consent_age(age: int | None = None) -> int:
    """The age of digital consent: ``age`` when given (13–16), else the instance option."""
    value = age if age is not None else get_int_setting("child_consent_age")
    if not MIN_AGE <= value <= MAX_AGE:
        raise ValidationError(f"GDPR Art. 8 allows an age of consent between {MIN_AGE} and {MAX_AGE}, not {value}.")
    return value


def list_children(actor: Actor, age: int | None = None, *, today: dt.date | None = None, limit: int = 10_000
                  ) -> list[ChildRow]:
    """Accounts of subjects younger than the age of consent, youngest last birthday first. Audited (ids)."""
    require(actor, Permission.REQUESTS_VIEW)
    threshold = consent_age(age)
    day = today or dt.date.today()
    born_after = deadlines.add_months(day, -12 * threshold)  # born on this day: turned ``threshold`` today
    with database_errors():
        subjects = list(Subject.select(Subject.id, Subject.user_id, Subject.name, Subject.birth_date,
                                       Subject.restricted)
                        .where(Subject.birth_date.is_null(False) & (Subject.birth_date > born_after))
                        .order_by(Subject.birth_date.desc(), Subject.id).limit(limit))
        ids = [s.id for s in subjects]
        recordings: dict[int, int] = {}
        crashes: dict[int, int] = {}
        for start in range(0, len(ids), 400):
            chunk = ids[start:start + 400]
            for sid, n in _tuples(Recording.select(Recording.subject, fn.COUNT(Recording.id))
                                  .where(Recording.subject.in_(chunk)).group_by(Recording.subject)):
                recordings[int(sid)] = int(n)
            for sid, n in _tuples(CrashEvent.select(CrashEvent.subject, fn.COUNT(CrashEvent.id))
                                  .where(CrashEvent.subject.in_(chunk)).group_by(CrashEvent.subject)):
                crashes[int(sid)] = int(n)
        erasures = core_requests.open_request_ids(ids, "erasure")
        rows = [ChildRow(s.id, s.user_id, s.name, _born(s), age_on(_born(s), day), recordings.get(s.id, 0),
                         crashes.get(s.id, 0), bool(s.restricted), erasures.get(s.id)) for s in subjects]
        if rows:
            with database.atomic():
                audit.record(actor, "children.report", "subject", None, ids=audit.audited_ids(ids), age=threshold)
    return rows


def open_erasure_requests(actor: Actor, subject_ids: Sequence[int], *, age: int | None = None,
                          today: dt.date | None = None,
                          progress: Callable[[int, int, str], bool | None] | None = None) -> BulkResult:
    """Open one erasure request per account (one transaction each); accounts with one open already are skipped.

    Only accounts that are still under the age of consent are accepted (a
    stale list cannot open requests for adults). ``progress`` may return
    ``False`` to stop after the current request.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    threshold = consent_age(age)
    day = today or dt.date.today()
    born_after = deadlines.add_months(day, -12 * threshold)
    result = BulkResult()
    wanted = list(dict.fromkeys(int(s) for s in subject_ids))
    with database_errors():
        existing = core_requests.open_request_ids(wanted, "erasure")
    for number, subject_id in enumerate(wanted, 1):
        if progress is not None and progress(number - 1, len(wanted), f"Opening request {number} of "
                                                                      f"{len(wanted)}") is False:
            break
        if subject_id in existing:
            result.skipped.append((subject_id, f"erasure request #{existing[subject_id]} is already open"))
            continue
        with database_errors():
            subject = Subject.get_or_none(Subject.id == subject_id)
        if subject is None:
            result.skipped.append((subject_id, "the account no longer exists"))
            continue
        if subject.birth_date is None or subject.birth_date <= born_after:
            result.skipped.append((subject_id, f"the account holder is not under {threshold}"))
            continue
        try:
            detail = core_requests.create_request(
                actor, "erasure", BULK_REQUESTER, channel="internal", received_on=day, subject_id=subject_id,
                details=BULK_DETAILS.format(age=threshold), today=day)
        except RcrmError as exc:
            result.skipped.append((subject_id, exc.message))
            continue
        result.created.append(detail.id)
    if progress is not None:
        progress(len(wanted), len(wanted), "Done")
    return result


__all__ = ["BulkResult", "ChildRow", "age_on", "consent_age", "list_children", "open_erasure_requests"]
