"""Data-subject rights requests (GDPR Art. 12, 15–21): intake, deadlines, workflow, timeline.

What is guaranteed here, for the GUI and the command line alike:

* **Deadlines** come from ``core.deadlines`` with the instance's holiday
  calendar (``public_holidays``): due one month after receipt (Art. 12(3),
  Reg. 1182/71), extendable once by one or two further months, with a reason
  and the date the requester was told — only up to the original due date
  (``deadlines.can_extend``) and with the requester told by then.
* **Workflow**: ``received`` → ``identity_verification`` → ``in_progress`` →
  ``completed``; ``awaiting_requester`` while more information is needed
  (Art. 12(6): the clock keeps running, the due date does not move);
  ``rejected`` with grounds (manifestly unfounded or excessive, Art. 12(5);
  identity not verified, Art. 12(6)/11(2); an exemption, named) and a reason;
  ``withdrawn``. Any other move is refused with a sentence that says why and
  what is possible instead (``ValidationError``). The same rules drive
  ``available_actions`` so a front door can explain a disabled button.
* Every step is one transaction: the row changes with its ``version`` checked
  (optimistic concurrency: ``ConflictError`` carrying the current state when
  another workstation moved first), one ``RequestEvent`` on the timeline
  (operator and time), and one audit event with ids only.
* A failed step (an unreadable file, a lost server) changes nothing but a
  ``step_failed`` event on the timeline; the same step can be run again.
* The request keeps a pseudonymous reference of its subject (``subject_ref``,
  an HMAC-SHA-256 of the user ID under a per-instance secret, never the user
  ID itself), which outlives an erasure (Art. 5(2): the controller can show
  what it did) and lets an officer find the requests of a former subject
  whose user ID they are given again.
* Type-specific work — the access package (``core.access_package``),
  rectification (``rectify_for_request``, through
  ``core.subjects.rectify_subject`` with the request linked), erasure
  (``core.erasure``), restriction and objection (``restrict_subject``,
  ``object_subject`` and their lifting) — is checked before a request may be
  completed.

Permissions: reading needs ``requests.view``; every change ``requests.manage``
(plus ``subjects.rectify`` / ``subjects.restrict`` for the subject itself).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee

from rcrm_desktop import settings
from rcrm_desktop.core import audit, deadlines, subjects
from rcrm_desktop.core.pages import BOOL, DATE, DT, INT, RowsBuilder, Statements, fetch_tuples, keyset_after
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import (
    InstanceSetting,
    Operator,
    PackageExclusion,
    RequestEvent,
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, ValidationError

# ================================================================ vocabulary

TYPES: dict[str, str] = {
    "access": "Access (Art. 15)",
    "rectification": "Rectification (Art. 16)",
    "erasure": "Erasure (Art. 17)",
    "restriction": "Restriction (Art. 18)",
    "portability": "Portability (Art. 20)",
    "objection": "Objection (Art. 21)",
}

#: The article each type is answered under (for letters and the timeline).
TYPE_ARTICLES: dict[str, str] = {"access": "15", "rectification": "16", "erasure": "17", "restriction": "18",
                                 "portability": "20", "objection": "21"}

STATES: dict[str, str] = {
    "received": "Received",
    "identity_verification": "Identity verification",
    "in_progress": "In progress",
    "awaiting_requester": "Waiting for requester",
    "completed": "Completed",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
}

#: States in which the deadline runs (``core.instance.dashboard_counts`` counts the same ones).
OPEN_STATES = ("received", "identity_verification", "in_progress", "awaiting_requester")
CLOSED_STATES = ("completed", "rejected", "withdrawn")

CHANNELS: dict[str, str] = {
    "email": "E-mail",
    "web_form": "Web form",
    "letter": "Letter",
    "phone": "Phone",
    "in_person": "In person",
    "internal": "Internal review",
}

#: Grounds of a refusal and where the law allows them.
REJECTION_GROUNDS: dict[str, str] = {
    "unfounded": "Manifestly unfounded (Art. 12(5))",
    "excessive": "Manifestly excessive, e.g. repetitive (Art. 12(5))",
    "identity": "Identity not verified (Art. 11(2), 12(2), 12(6))",
    "exemption": "An exemption applies (e.g. Art. 17(3), Art. 23 national law)",
}

#: Request types answered with an access package.
PACKAGE_TYPES = ("access", "portability")

#: Actions a front door offers, in the order the detail pane lists them.
ACTIONS = ("start_verification", "verify", "wait", "resume", "extend", "link_subject", "package", "rectify",
           "erase", "restrict", "object", "complete", "reject", "withdraw", "letter", "note")

MAX_DETAILS_LENGTH = 4000
MAX_SEARCH_LENGTH = 200

_SALT_KEY = "erasure.subject_ref_salt"
_ID_RE = re.compile(r"^#?\s*(\d{1,12})$")


# ================================================================ rows


@dataclass(frozen=True)
class RequestRow:
    """One request as a list shows it (small and immutable, for table models)."""

    id: int
    type: str
    state: str
    subject_id: int | None
    subject_user_id: str | None
    subject_name: str | None
    subject_restricted: bool
    subject_objected: bool
    subject_ref: str | None
    requester_name: str
    requester_contact: str | None
    channel: str
    received_on: dt.date
    due_on: dt.date
    extended_due_on: dt.date | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    version: int

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def effective_due(self) -> dt.date:
        return deadlines.effective_due(self.due_on, self.extended_due_on)

    def days_left(self, today: dt.date | None = None) -> int:
        return deadlines.days_left(self.effective_due, today or dt.date.today())

    def deadline_status(self, today: dt.date | None = None) -> str:
        """``overdue``, ``due_soon``, ``ok`` for an open request; ``closed`` once it is closed."""
        if not self.is_open:
            return "closed"
        return deadlines.status(self.effective_due, today or dt.date.today())

    def as_json(self, today: dt.date | None = None) -> dict[str, Any]:
        day = today or dt.date.today()
        return {
            "id": self.id, "type": self.type, "state": self.state,
            "subject": {"id": self.subject_id, "user_id": self.subject_user_id, "name": self.subject_name,
                        "restricted": self.subject_restricted, "objected": self.subject_objected}
            if self.subject_id is not None else None,
            "subject_ref": self.subject_ref,
            "requester": {"name": self.requester_name, "contact": self.requester_contact},
            "channel": self.channel,
            "received_on": self.received_on.isoformat(), "due_on": self.due_on.isoformat(),
            "extended_due_on": _date(self.extended_due_on), "effective_due_on": self.effective_due.isoformat(),
            "days_left": self.days_left(day) if self.is_open else None,
            "deadline_status": self.deadline_status(day),
            "closed_at": _iso(self.closed_at), "version": self.version,
        }


@dataclass(frozen=True)
class EventRow:
    id: int
    at: dt.datetime
    operator: str
    operator_name: str
    kind: str
    detail: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": _iso(self.at), "operator": self.operator, "kind": self.kind,
                "detail": self.detail}


@dataclass(frozen=True)
class ExclusionRow:
    item: str
    reason: str
    operator: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {"item": self.item, "reason": self.reason, "operator": self.operator,
                "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class RequestDetail:
    """Everything about one request: its row, the rest of its fields, timeline, linked changes, exclusions."""

    row: RequestRow
    details: str | None
    extension_months: int | None
    extension_reason: str | None
    extension_notified_on: dt.date | None
    rejection_grounds: str | None
    rejection_reason: str | None
    rejection_exemption: str | None
    awaiting_since: dt.datetime | None
    awaiting_reason: str | None
    resume_state: str | None
    verified_at: dt.datetime | None
    verified_by: str | None
    verification_method: str | None
    package_sha256: str | None
    package_built_at: dt.datetime | None
    package_size: int | None
    erased_at: dt.datetime | None
    created_by: str
    can_extend: bool
    timeline: list[EventRow] = field(default_factory=list)
    changes: list[subjects.ChangeRow] = field(default_factory=list)
    exclusions: list[ExclusionRow] = field(default_factory=list)
    actions: dict[str, str | None] = field(default_factory=dict)

    @property
    def id(self) -> int:
        return self.row.id

    def allowed(self, action: str) -> bool:
        return self.actions.get(action, "") is None

    def as_json(self, today: dt.date | None = None) -> dict[str, Any]:
        data = self.row.as_json(today)
        data.update({
            "details": self.details,
            "extension": {"months": self.extension_months, "reason": self.extension_reason,
                          "requester_told_on": _date(self.extension_notified_on)}
            if self.row.extended_due_on else None,
            "can_extend": self.can_extend,
            "rejection": {"grounds": self.rejection_grounds, "reason": self.rejection_reason,
                          "exemption": self.rejection_exemption} if self.rejection_grounds else None,
            "awaiting": {"since": _iso(self.awaiting_since), "reason": self.awaiting_reason}
            if self.row.state == "awaiting_requester" else None,
            "identity_verification": {"at": _iso(self.verified_at), "by": self.verified_by,
                                      "method": self.verification_method} if self.verified_at else None,
            "package": {"sha256": self.package_sha256, "built_at": _iso(self.package_built_at),
                        "size_bytes": self.package_size} if self.package_sha256 else None,
            "erased_at": _iso(self.erased_at),
            "created_by": self.created_by,
            "timeline": [e.as_json() for e in self.timeline],
            "changes": [{"field": c.field, "old_value": c.old_value, "new_value": c.new_value,
                         "reason": c.reason, "operator": c.operator, "changed_at": _iso(c.changed_at)}
                        for c in self.changes],
            "exclusions": [x.as_json() for x in self.exclusions],
            "actions": {k: ("allowed" if v is None else v) for k, v in self.actions.items()},
        })
        return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _fk(row: Any, name: str) -> int | None:
    """The id a foreign-key column holds (peewee's ``<name>_id``), typed."""
    value = getattr(row, f"{name}_id")
    return None if value is None else int(value)


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (peewee's stubs cannot name the columns)."""
    return list(query.tuples())


def _day(value: Any) -> dt.date:
    day = _as_date(value)
    assert day is not None
    return day


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


# ================================================================ small helpers


def state_label(state: str) -> str:
    return STATES.get(state, state)


def type_label(kind: str) -> str:
    return TYPES.get(kind, kind)


def parse_request_id(text: str | int) -> int:
    """``12`` or ``#12`` → 12; anything else is a ``ValidationError``."""
    if isinstance(text, int):
        return text
    match = _ID_RE.match((text or "").strip())
    if not match:
        raise ValidationError(f"“{str(text)[:40]}” is not a request number (such as 12 or #12).")
    return int(match.group(1))


def parse_date(text: str | None, what: str = "date") -> dt.date | None:
    """``YYYY-MM-DD`` (or ``today``) → date; empty → ``None``."""
    raw = (text or "").strip()
    if not raw:
        return None
    if raw.lower() == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError(f"The {what} “{raw[:40]}” is not a date; use YYYY-MM-DD.") from exc


def _text(value: str | None, what: str, *, required: bool = False, limit: int = settings.MAX_REASON_LENGTH,
          single_line: bool = False) -> str | None:
    raw = (value or "").strip()
    if single_line:
        raw = " ".join(raw.split())
    if not raw:
        if required:
            raise ValidationError(f"{what} is required.")
        return None
    if len(raw) > limit:
        raise ValidationError(f"{what} is {len(raw):,} characters long; at most {limit:,} are allowed.")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in raw):
        raise ValidationError(f"{what} contains control characters.")
    return raw


def requester_key(name: str, contact: str | None) -> str:
    """The folded text a search matches (name and contact, case and accents ignored)."""
    return f"{fold(name)} {fold(contact or '')}".strip()[:600]


def _instance_salt(create: bool) -> str | None:
    row = InstanceSetting.get_or_none(InstanceSetting.key == _SALT_KEY)
    if row is not None:
        return str(row.value)
    if not create:
        return None
    InstanceSetting.insert(key=_SALT_KEY, value=secrets.token_hex(32), updated_at=utcnow(),
                           updated_by=None).on_conflict_ignore().execute()
    return str(InstanceSetting.get(InstanceSetting.key == _SALT_KEY).value)


def reference_for(user_id: str, salt: str) -> str:
    """The pseudonymous reference of a user ID under ``salt``: ``ref-`` and 32 hex digits of an HMAC-SHA-256.

    Not the user ID and not reversible without the instance's secret; the same
    user ID always gives the same reference on one instance.
    """
    digest = hmac.new(salt.encode("utf-8"), user_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return "ref-" + digest[:32]


def _subject_ref(user_id: str) -> str:
    salt = _instance_salt(create=True)
    assert salt is not None
    return reference_for(user_id, salt)


def subject_reference(user_id: str) -> str:
    """The instance's pseudonymous reference for a user ID (what a request keeps instead of the ID)."""
    return _subject_ref(user_id)


def _get(request_id: int | None) -> RightsRequest:
    if request_id is None:
        raise NotFoundError("No request was given.")
    with database_errors():
        req = RightsRequest.get_or_none(RightsRequest.id == int(request_id))
    if req is None:
        raise NotFoundError(f"There is no rights request #{request_id}.")
    return req


def _subject_of(req: RightsRequest) -> Subject | None:
    if _fk(req, "subject") is None:
        return None
    return Subject.get_or_none(Subject.id == _fk(req, "subject"))


def _conflict(req: RightsRequest) -> ConflictError:
    due = deadlines.effective_due(req.due_on, req.extended_due_on)
    return ConflictError(
        f"Request #{req.id} was changed on another workstation: it is now “{state_label(req.state)}” "
        f"(revision {req.version}, due {due.isoformat()}). The current state is shown; check it and try again.",
        current={"state": req.state, "version": req.version, "due_on": _date(req.due_on),
                 "extended_due_on": _date(req.extended_due_on), "subject_id": _fk(req, "subject")},
    )


def _check_version(req: RightsRequest, expected_version: int | None) -> None:
    if expected_version is not None and req.version != expected_version:
        raise _conflict(req)


def _update(req: RightsRequest, changes: dict[Any, Any]) -> None:
    """Write ``changes`` only if the row is still at the version read; bump the version."""
    values = {**changes, RightsRequest.version: RightsRequest.version + 1}
    updated = (RightsRequest.update(values)
               .where((RightsRequest.id == req.id) & (RightsRequest.version == req.version)).execute())
    if updated != 1:
        raise _conflict(_get(req.id))


def _event(actor: Actor, request_id: int, kind: str, detail: str | None) -> None:
    RequestEvent.create(request=request_id, operator=actor.operator_id, at=utcnow(), kind=kind, detail=detail)


def _calendar() -> deadlines.HolidayCalendar:
    return deadlines.instance_calendar()


# ================================================================ why an action is (not) possible


def _a_kind(req: RightsRequest) -> str:
    return f"{'an' if req.type[:1] in 'aeiou' else 'a'} {req.type} request"


def _why_not(action: str, req: RightsRequest, subject: Subject | None, today: dt.date) -> str | None:
    """``None`` when ``action`` is possible on ``req`` now, else the sentence that says why not."""
    state = req.state
    number = f"Request #{req.id}"
    closed = state in CLOSED_STATES
    if closed and action not in ("letter", "note"):
        return f"{number} is {state_label(state).lower()}; a closed request cannot change any more."
    if action == "note":
        return None
    if action == "letter":
        return None if closed else (f"{number} is still open; the response letter is written once it is "
                                    "completed, rejected or withdrawn.")
    if action == "start_verification":
        return None if state == "received" else (
            f"{number} is {state_label(state).lower()}; identity verification starts from “Received”.")
    if action == "verify":
        return None if state in ("received", "identity_verification") else (
            f"{number} is {state_label(state).lower()}; the identity is verified while the request is "
            "received or in identity verification" + (" (resume it first)." if state == "awaiting_requester"
                                                       else "."))
    if action == "wait":
        return None if state in ("received", "identity_verification", "in_progress") else (
            f"{number} is already waiting for the requester.")
    if action == "resume":
        return None if state == "awaiting_requester" else f"{number} is not waiting for the requester."
    if action == "extend":
        if req.extended_due_on is not None:
            return (f"{number} was already extended to {req.extended_due_on.isoformat()}; GDPR Art. 12(3) allows "
                    "one extension of at most two further months.")
        if not deadlines.can_extend(req.received_on, today, _calendar()):
            return (f"The original deadline of {number} ({req.due_on.isoformat()}) has passed; an extension must be "
                    "notified within the first month (GDPR Art. 12(3)).")
        return None
    if action in ("link_subject", "reject", "withdraw"):
        return None
    # The remaining actions do the request's work: identity verified, not waiting.
    if state != "in_progress":
        if state == "awaiting_requester":
            return f"{number} is waiting for the requester; resume it first."
        return f"{number} is {state_label(state).lower()}; verify the requester's identity first (Art. 12(6))."
    needs_subject = f"{number} is not matched to a user account yet; match it first (Match user account…)."
    if action == "package":
        if req.type not in PACKAGE_TYPES:
            return f"An access package answers access and portability requests; this is {_a_kind(req)}."
        return needs_subject if subject is None else None
    if action == "rectify":
        if req.type != "rectification":
            return f"Data is corrected through a rectification request; this is {_a_kind(req)}."
        return needs_subject if subject is None else None
    if action == "erase":
        if req.type != "erasure":
            return f"A user account is erased through an erasure request; this is {_a_kind(req)}."
        return needs_subject if subject is None else None
    if action == "restrict":
        if req.type != "restriction":
            return f"Processing is restricted through a restriction request; this is {_a_kind(req)}."
        if subject is None:
            return needs_subject
        return "The user account is already restricted." if subject.restricted else None
    if action == "object":
        if req.type != "objection":
            return f"An objection is recorded through an objection request; this is {_a_kind(req)}."
        if subject is None:
            return needs_subject
        return "The user account is already marked as objected." if subject.objected else None
    if action == "complete":
        if subject is None:
            return None  # allowed with a note saying that no data is held (checked by complete_request)
        if req.type in PACKAGE_TYPES and not req.package_sha256:
            return "Build the access package first: the requester is owed a copy of their data (Art. 15(3))."
        if req.type == "rectification" and not SubjectChange.select().where(
                SubjectChange.request == req.id).exists():
            return ("Correct the data first (Correct data…), or reject the request with the reason when the data "
                    "is already correct.")
        if req.type == "erasure":
            return "An erasure request is completed by the erasure itself (Erasure preview…)."
        if req.type == "restriction" and not subject.restricted:
            return "Restrict the user account first (Restrict)."
        if req.type == "objection" and not subject.objected:
            return "Record the objection on the user account first (Object)."
        return None
    return f"“{action}” is not an action on a rights request."


def _actions(req: RightsRequest, subject: Subject | None, today: dt.date) -> dict[str, str | None]:
    return {action: _why_not(action, req, subject, today) for action in ACTIONS}


def _require_action(action: str, req: RightsRequest, subject: Subject | None, today: dt.date | None = None) -> None:
    why = _why_not(action, req, subject, today or dt.date.today())
    if why is not None:
        raise ValidationError(why)


# ================================================================ reading


@dataclass(frozen=True)
class RequestFilter:
    """What a list shows. ``state``: a state, ``"open"``, ``"closed"`` or ``None`` (all)."""

    search: str | None = None
    type: str | None = None
    state: str | None = "open"
    overdue_only: bool = False
    due_within_days: int | None = None
    subject_id: int | None = None


@dataclass(frozen=True)
class RequestPageKey:
    value: Any
    id: int


SORTS = ("due", "received", "id")

_ROW_COLUMNS = (RightsRequest.id, RightsRequest.type, RightsRequest.state, RightsRequest.subject,
                RightsRequest.subject_ref, RightsRequest.requester_name, RightsRequest.requester_contact,
                RightsRequest.channel, RightsRequest.received_on, RightsRequest.due_on,
                RightsRequest.extended_due_on, RightsRequest.closed_at, RightsRequest.created_at,
                RightsRequest.version, Subject.user_id, Subject.name, Subject.restricted, Subject.objected)


def _due_expr() -> Any:
    return peewee.fn.COALESCE(RightsRequest.extended_due_on, RightsRequest.due_on)


def _row_from(r: Any) -> RequestRow:
    return RequestRow(
        id=int(r["id"]), type=r["type"], state=r["state"], subject_id=r["subject"],
        subject_user_id=r["user_id"], subject_name=r["name"], subject_restricted=bool(r["restricted"]),
        subject_objected=bool(r["objected"]), subject_ref=r["subject_ref"], requester_name=r["requester_name"],
        requester_contact=r["requester_contact"], channel=r["channel"], received_on=_day(r["received_on"]),
        due_on=_day(r["due_on"]), extended_due_on=_as_date(r["extended_due_on"]),
        closed_at=r["closed_at"], created_at=r["created_at"], version=int(r["version"]),
    )


#: ``RequestRow``s from driver tuples in ``_ROW_COLUMNS`` order: the same values as ``_row_from`` over
#: ``.dicts()``, without a model or dict per row (peewee's per-value conversion cost several times the query).
_rows_from = RowsBuilder(RequestRow, len(_ROW_COLUMNS), (
    INT(0), 1, 2, 3, 14, 15, BOOL(16), BOOL(17), 4, 5, 6, 7, DATE(8), DATE(9), DATE(10), DT(11), DT(12), INT(13)))
_PAGES = Statements()


def _base_query() -> Any:
    return (RightsRequest.select(*_ROW_COLUMNS)
            .join(Subject, peewee.JOIN.LEFT_OUTER, on=(RightsRequest.subject == Subject.id)))


def _apply_filter(query: peewee.ModelSelect, flt: RequestFilter, today: dt.date) -> peewee.ModelSelect:
    if flt.type:
        if flt.type not in TYPES:
            raise ValidationError(f"“{flt.type[:40]}” is not a request type; choose one of {', '.join(TYPES)}.")
        query = query.where(RightsRequest.type == flt.type)
    state = flt.state
    if flt.overdue_only or flt.due_within_days is not None:
        state = state if state in OPEN_STATES else "open"
    if state == "open":
        query = query.where(RightsRequest.state.in_(OPEN_STATES))
    elif state == "closed":
        query = query.where(RightsRequest.state.in_(CLOSED_STATES))
    elif state:
        if state not in STATES:
            raise ValidationError(f"“{state[:40]}” is not a request state; choose open, closed or one of "
                                  f"{', '.join(STATES)}.")
        query = query.where(RightsRequest.state == state)
    due = _due_expr()
    if flt.overdue_only and flt.due_within_days is not None:
        query = query.where(due <= today + dt.timedelta(days=flt.due_within_days))
    elif flt.overdue_only:
        query = query.where(due < today)
    elif flt.due_within_days is not None:
        if flt.due_within_days < 0:
            raise ValidationError("“Due within” takes a number of days of 0 or more.")
        query = query.where((due >= today) & (due <= today + dt.timedelta(days=flt.due_within_days)))
    if flt.subject_id is not None:
        query = query.where(RightsRequest.subject == flt.subject_id)
    search = (flt.search or "").strip()
    if search:
        if len(search) > MAX_SEARCH_LENGTH:
            raise ValidationError(f"The search text is too long ({len(search):,} characters; at most "
                                  f"{MAX_SEARCH_LENGTH} are allowed).")
        conditions = []
        id_match = _ID_RE.match(search)
        if id_match:
            conditions.append(RightsRequest.id == int(id_match.group(1)))
        words = [w for w in fold(search).split(" ") if w]
        raw_words = search.lower().split()
        if len(raw_words) != len(words):
            raw_words = words
        if words:
            text_cond = None
            for word, raw in zip(words, raw_words, strict=True):
                # Rows without the folded key (bulk inserts) are matched on their name as typed.
                cond = (RightsRequest.requester_key.contains(word) | Subject.search_key.contains(word)
                        | (RightsRequest.requester_key.is_null()
                           & peewee.fn.LOWER(RightsRequest.requester_name).contains(raw)))
                text_cond = cond if text_cond is None else (text_cond & cond)
            assert text_cond is not None
            conditions.append(text_cond)
        salt = _instance_salt(create=False)
        if salt is not None and " " not in search:
            conditions.append(RightsRequest.subject_ref == reference_for(search, salt))
        combined = conditions[0]
        for cond in conditions[1:]:
            combined = combined | cond
        query = query.where(combined)
    return query


def _sort_column(sort: str) -> Any:
    if sort == "due":
        return _due_expr()
    if sort == "received":
        return RightsRequest.received_on
    if sort == "id":
        return RightsRequest.id
    raise ValidationError(f"Cannot sort requests by “{sort}”; choose one of {', '.join(SORTS)}.")


def list_requests(actor: Actor, flt: RequestFilter | None = None, *, sort: str = "due", descending: bool = False,
                  after: RequestPageKey | None = None, limit: int = settings.PAGE_SIZE, today: dt.date | None = None,
                  audit_view: bool = True) -> list[RequestRow]:
    """One keyset page of requests, by default open ones sorted by the deadline in force (earliest first).

    ``search`` matches the requester's name or contact, the linked account's
    name or user ID (case and accents ignored), ``#12`` the request number, and
    a former subject's user ID through the pseudonymous reference. Each page
    shown is audited with the ids listed (requesters' names are personal data).
    """
    require(actor, Permission.REQUESTS_VIEW)
    flt = flt or RequestFilter()
    day = today or dt.date.today()
    column = _sort_column(sort)
    values = () if after is None else (after.value, after.id)

    def build(*key: Any) -> Any:
        query = _apply_filter(_base_query(), flt, day)
        if key:
            query = query.where(keyset_after(column, RightsRequest.id, key[0], key[1], descending))
        order = (column.desc(), RightsRequest.id.desc()) if descending else (column.asc(), RightsRequest.id.asc())
        return query.order_by(*order).limit(limit)

    with database_errors():
        if flt.search or flt.overdue_only or flt.due_within_days is not None or flt.subject_id is not None:
            raw = fetch_tuples(build(*values))
        else:  # the list as opened (by type and state) and scrolled: one SQL text per shape
            raw = database.execute_sql(*_PAGES.sql((flt.type, flt.state, sort, descending, limit, after is None),
                                                   build, values)).fetchall()
        rows = _rows_from(raw)
        if audit_view and rows:
            with database.atomic():
                audit.record(actor, "requests.list", "request", None, ids=[r.id for r in rows],
                             query_length=len(flt.search or ""))
    return rows


def page_key(row: RequestRow, sort: str = "due") -> RequestPageKey:
    value = {"due": row.effective_due, "received": row.received_on, "id": row.id}[sort]
    return RequestPageKey(value, row.id)


def count_requests(actor: Actor, flt: RequestFilter | None = None, *, today: dt.date | None = None) -> int:
    """How many requests match ``flt`` (numbers only: not audited)."""
    require(actor, Permission.REQUESTS_VIEW)
    with database_errors():
        return int(_apply_filter(_base_query(), flt or RequestFilter(), today or dt.date.today()).count())


def _detail(req: RightsRequest, today: dt.date) -> RequestDetail:
    row = _row_from(_base_query().where(RightsRequest.id == req.id).dicts().get())
    subject = _subject_of(req)
    operators: dict[int | None, tuple[str, str]] = {op.id: (op.username, op.display_name) for op in Operator.select(
        Operator.id, Operator.username, Operator.display_name)}
    timeline = [EventRow(e.id, e.at, operators.get(_fk(e, "operator"), ("—", "—"))[0],
                         operators.get(_fk(e, "operator"), ("—", "—"))[1], e.kind, e.detail)
                for e in RequestEvent.select().where(RequestEvent.request == req.id)
                .order_by(RequestEvent.at, RequestEvent.id)]
    changes = [subjects.ChangeRow(c.field, c.old_value, c.new_value, c.reason,
                                  operators.get(_fk(c, "operator"), ("—", "—"))[0], c.changed_at, c.request)
               for c in SubjectChange.select().where(SubjectChange.request == req.id)
               .order_by(SubjectChange.changed_at, SubjectChange.id)]
    exclusions = [ExclusionRow(x.item, x.reason, operators.get(_fk(x, "operator"), ("—", "—"))[0], x.created_at)
                  for x in PackageExclusion.select().where(PackageExclusion.request == req.id)
                  .order_by(PackageExclusion.id)]
    return RequestDetail(
        row=row, details=req.details, extension_months=req.extension_months,
        extension_reason=req.extension_reason, extension_notified_on=_as_date(req.extension_notified_on),
        rejection_grounds=req.rejection_grounds, rejection_reason=req.rejection_reason,
        rejection_exemption=req.rejection_exemption, awaiting_since=req.awaiting_since,
        awaiting_reason=req.awaiting_reason, resume_state=req.resume_state, verified_at=req.verified_at,
        verified_by=operators.get(_fk(req, "verified_by"), ("—", "—"))[0] if _fk(req, "verified_by") else None,
        verification_method=req.verification_method, package_sha256=req.package_sha256,
        package_built_at=req.package_built_at, package_size=req.package_size, erased_at=req.erased_at,
        created_by=operators.get(_fk(req, "created_by"), ("—", "—"))[0],
        can_extend=_why_not("extend", req, subject, today) is None,
        timeline=timeline, changes=changes, exclusions=exclusions, actions=_actions(req, subject, today),
    )


def get_request(actor: Actor, request_id: int, *, today: dt.date | None = None) -> RequestDetail:
    """One request with its timeline, linked corrections and package exclusions. Audited as a view."""
    require(actor, Permission.REQUESTS_VIEW)
    req = _get(request_id)
    with database_errors():
        detail = _detail(req, today or dt.date.today())
        with database.atomic():
            audit.record(actor, "request.view", "request", req.id)
    return detail


def _fresh(request_id: int, today: dt.date | None = None) -> RequestDetail:
    return _detail(_get(request_id), today or dt.date.today())


def available_actions(actor: Actor, request_id: int, *, today: dt.date | None = None) -> dict[str, str | None]:
    """Each action → ``None`` when possible now, else why not (the GUI's tooltips, ``requests show``)."""
    require(actor, Permission.REQUESTS_VIEW)
    req = _get(request_id)
    with database_errors():
        return _actions(req, _subject_of(req), today or dt.date.today())


# ================================================================ intake


def create_request(actor: Actor, type: str, requester_name: str, *, contact: str | None = None,
                   channel: str = "email", received_on: dt.date | None = None, subject_id: int | None = None,
                   details: str | None = None, today: dt.date | None = None) -> RequestDetail:
    """Record a new request as received; its due date is one month after receipt (Art. 12(3)).

    ``subject_id`` links the user account it concerns (``None``: not yet
    matched; ``link_subject`` does it later). A receipt date in the future is
    refused; one in the past is allowed (a letter opened late), and the
    deadline still counts from it.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    kind = (type or "").strip().lower()
    if kind not in TYPES:
        raise ValidationError(f"“{(type or '')[:40]}” is not a request type; choose one of {', '.join(TYPES)}.")
    name = _text(requester_name, "The requester's name", required=True, limit=settings.MAX_NAME_LENGTH,
                 single_line=True)
    assert name is not None
    contact_text = _text(contact, "The requester's contact", limit=settings.MAX_FIELD_LENGTH, single_line=True)
    channel_key = (channel or "email").strip().lower()
    if channel_key not in CHANNELS:
        raise ValidationError(f"“{channel[:40]}” is not a channel; choose one of {', '.join(CHANNELS)}.")
    day = today or dt.date.today()
    received = received_on or day
    if received > day:
        raise ValidationError(f"The request cannot have been received in the future ({received.isoformat()}).")
    if received < day - dt.timedelta(days=3 * 366):
        raise ValidationError(f"{received.isoformat()} is more than three years ago; check the date of receipt.")
    details_text = _text(details, "The details", limit=MAX_DETAILS_LENGTH)
    with database_errors(), database.atomic():
        subject = None
        if subject_id is not None:
            subject = Subject.get_or_none(Subject.id == subject_id)
            if subject is None:
                raise NotFoundError(f"There is no user account #{subject_id}.")
        due = deadlines.due_date(received, deadlines.ANSWER_MONTHS, _calendar())
        now = utcnow()
        req = RightsRequest.create(
            type=kind, state="received", subject=subject.id if subject else None,
            subject_ref=_subject_ref(subject.user_id) if subject else None, requester_name=name,
            requester_contact=contact_text, requester_key=requester_key(name, contact_text), channel=channel_key,
            received_on=received, due_on=due, details=details_text, awaiting_requester=False,
            created_by=actor.operator_id, created_at=now, version=1,
        )
        _event(actor, req.id, "created",
               f"{TYPES[kind]} request received on {received.isoformat()} ({CHANNELS[channel_key].lower()}); "
               f"due on {due.isoformat()}." + ("" if subject else " Not yet matched to a user account."))
        audit.record(actor, "request.create", "request", req.id, type=kind,
                     subject=subject.id if subject else None, channel=channel_key)
        return _fresh(req.id, day)


def link_subject(actor: Actor, request_id: int, subject_id: int, *, expected_version: int | None = None
                 ) -> RequestDetail:
    """Match an open request to the user account it concerns (or to another one, when matched wrongly)."""
    require(actor, Permission.REQUESTS_MANAGE)
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("link_subject", req, None)
        subject = Subject.get_or_none(Subject.id == subject_id)
        if subject is None:
            raise NotFoundError(f"There is no user account #{subject_id}.")
        if _fk(req, "subject") == subject.id:
            raise ValidationError(f"Request #{req.id} is already matched to this user account.")
        _update(req, {RightsRequest.subject: subject.id, RightsRequest.subject_ref: _subject_ref(subject.user_id)})
        _event(actor, req.id, "matched", "Matched to a user account." if _fk(req, "subject") is None
               else "Matched to a different user account (the earlier match was wrong).")
        audit.record(actor, "request.link", "request", req.id, subject=subject.id, previous=_fk(req, "subject"))
        return _fresh(req.id)


# ================================================================ workflow


def start_verification(actor: Actor, request_id: int, note: str | None = None, *,
                       expected_version: int | None = None) -> RequestDetail:
    """Received → identity verification (e.g. the requester was asked to confirm the e-mail on file)."""
    require(actor, Permission.REQUESTS_MANAGE)
    note_text = _text(note, "The note")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("start_verification", req, _subject_of(req))
        _update(req, {RightsRequest.state: "identity_verification"})
        _event(actor, req.id, "state", "Received → Identity verification" + (f": {note_text}" if note_text else "."))
        audit.record(actor, "request.state", "request", req.id, state="identity_verification", previous=req.state)
        return _fresh(req.id)


def verify_identity(actor: Actor, request_id: int, method: str, *, expected_version: int | None = None
                    ) -> RequestDetail:
    """Record how the requester's identity was verified (method, operator, time) and start the work.

    Art. 12(6): where there is reasonable doubt, the controller may ask for more
    information; the method says what convinced the operator.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    method_text = _text(method, "The verification method", required=True, limit=500)
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("verify", req, _subject_of(req))
        now = utcnow()
        _update(req, {RightsRequest.state: "in_progress", RightsRequest.verified_at: now,
                      RightsRequest.verified_by: actor.operator_id, RightsRequest.verification_method: method_text})
        _event(actor, req.id, "verified", f"Identity verified: {method_text}")
        _event(actor, req.id, "state", f"{state_label(req.state)} → In progress.")
        audit.record(actor, "request.verify", "request", req.id, previous=req.state)
        return _fresh(req.id)


def wait_for_requester(actor: Actor, request_id: int, reason: str, *, expected_version: int | None = None
                       ) -> RequestDetail:
    """Wait for information from the requester (Art. 12(6)). The deadline keeps running and does not move."""
    require(actor, Permission.REQUESTS_MANAGE)
    reason_text = _text(reason, "What the requester was asked for", required=True)
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("wait", req, _subject_of(req))
        _update(req, {RightsRequest.state: "awaiting_requester", RightsRequest.awaiting_requester: True,
                      RightsRequest.awaiting_since: utcnow(), RightsRequest.awaiting_reason: reason_text,
                      RightsRequest.resume_state: req.state})
        _event(actor, req.id, "waiting", f"Waiting for the requester: {reason_text} (the deadline keeps running).")
        audit.record(actor, "request.wait", "request", req.id, previous=req.state)
        return _fresh(req.id)


def resume(actor: Actor, request_id: int, note: str | None = None, *, expected_version: int | None = None
           ) -> RequestDetail:
    """The requester answered: back to the state the request was waiting in."""
    require(actor, Permission.REQUESTS_MANAGE)
    note_text = _text(note, "The note")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("resume", req, _subject_of(req))
        back = req.resume_state if req.resume_state in ("received", "identity_verification", "in_progress") \
            else "in_progress"
        _update(req, {RightsRequest.state: back, RightsRequest.awaiting_requester: False,
                      RightsRequest.awaiting_since: None, RightsRequest.resume_state: None})
        _event(actor, req.id, "resumed",
               f"The requester answered; back to {state_label(back)}" + (f": {note_text}" if note_text else "."))
        audit.record(actor, "request.resume", "request", req.id, state=back)
        return _fresh(req.id)


def extend_deadline(actor: Actor, request_id: int, months: int, reason: str, notified_on: dt.date | None, *,
                    expected_version: int | None = None, today: dt.date | None = None) -> RequestDetail:
    """Extend the deadline by one or two further months (GDPR Art. 12(3)).

    Allowed once, only up to the original due date (``deadlines.can_extend``),
    with the reasons, and with the date the requester was told of them — which
    must lie between receipt and the original due date (the law's "within one
    month of receipt"), and not in the future.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    day = today or dt.date.today()
    if months not in (1, 2):
        raise ValidationError(f"A deadline may be extended by 1 or 2 further months (GDPR Art. 12(3)), not {months}.")
    reason_text = _text(reason, "The reason for the extension", required=True)
    if notified_on is None:
        raise ValidationError("Give the date the requester was told of the extension and its reasons "
                              "(GDPR Art. 12(3)).")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("extend", req, _subject_of(req), day)
        if notified_on > day:
            raise ValidationError(f"The requester cannot have been told on {notified_on.isoformat()}: that is in "
                                  "the future.")
        if notified_on < req.received_on:
            raise ValidationError(f"The requester was told on {notified_on.isoformat()}, before the request was "
                                  f"received ({req.received_on.isoformat()}); check the date.")
        if notified_on > req.due_on:
            raise ValidationError(f"The requester must be told within the first month, by {req.due_on.isoformat()}; "
                                  f"{notified_on.isoformat()} is too late for an extension (GDPR Art. 12(3)).")
        new_due = deadlines.extended_due_date(req.received_on, months, _calendar())
        _update(req, {RightsRequest.extended_due_on: new_due, RightsRequest.extension_months: months,
                      RightsRequest.extension_reason: reason_text, RightsRequest.extension_notified_on: notified_on})
        _event(actor, req.id, "extended",
               f"Deadline extended by {months} month{'s' if months > 1 else ''} to {new_due.isoformat()}; requester "
               f"told on {notified_on.isoformat()}. Reason: {reason_text}")
        audit.record(actor, "request.extend", "request", req.id, months=months, due=new_due.isoformat())
        return _fresh(req.id, day)


def complete_request(actor: Actor, request_id: int, note: str | None = None, *,
                     expected_version: int | None = None) -> RequestDetail:
    """In progress → completed, once the request's work is done (see ``available_actions``).

    A request that matched no user account is completed with a note saying so
    (no data held: the answer to the requester is exactly that).
    """
    require(actor, Permission.REQUESTS_MANAGE)
    note_text = _text(note, "The note")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        subject = _subject_of(req)
        _require_action("complete", req, subject)
        if subject is None and not note_text:
            raise ValidationError(f"Request #{req.id} is not matched to a user account. Match it, or complete it "
                                  "with a note saying that no data about the requester is held.")
        _update(req, {RightsRequest.state: "completed", RightsRequest.closed_at: utcnow(),
                      RightsRequest.awaiting_requester: False})
        _event(actor, req.id, "state", "In progress → Completed" + (f": {note_text}" if note_text else "."))
        audit.record(actor, "request.complete", "request", req.id, type=req.type)
        return _fresh(req.id)


def reject_request(actor: Actor, request_id: int, grounds: str, reason: str, *, exemption: str | None = None,
                   expected_version: int | None = None) -> RequestDetail:
    """Refuse the request with grounds and reasons (Art. 12(4): the requester is told why, and of the right
    to complain to a supervisory authority; the response letter says both).

    ``identity`` is only possible while the identity is not verified;
    ``exemption`` needs the exemption named.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    key = (grounds or "").strip().lower()
    if key not in REJECTION_GROUNDS:
        raise ValidationError(f"“{(grounds or '')[:40]}” are not grounds for a refusal; choose one of "
                              f"{', '.join(REJECTION_GROUNDS)}.")
    reason_text = _text(reason, "The reason for the refusal", required=True)
    exemption_text = _text(exemption, "The exemption", limit=500)
    if key == "exemption" and not exemption_text:
        raise ValidationError("Name the exemption that applies (for example “Art. 17(3)(e): legal claims”).")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("reject", req, _subject_of(req))
        if key == "identity" and req.verified_at is not None:
            raise ValidationError(f"The requester's identity was verified on {req.verified_at:%Y-%m-%d}; the "
                                  "request cannot be refused for an unverified identity.")
        _update(req, {RightsRequest.state: "rejected", RightsRequest.closed_at: utcnow(),
                      RightsRequest.rejection_grounds: key, RightsRequest.rejection_reason: reason_text,
                      RightsRequest.rejection_exemption: exemption_text if key == "exemption" else None,
                      RightsRequest.awaiting_requester: False})
        _event(actor, req.id, "state", f"{state_label(req.state)} → Rejected ({REJECTION_GROUNDS[key]}"
               + (f": {exemption_text}" if key == "exemption" else "") + f"). Reason: {reason_text}")
        audit.record(actor, "request.reject", "request", req.id, grounds=key, previous=req.state)
        return _fresh(req.id)


def withdraw_request(actor: Actor, request_id: int, note: str | None = None, *,
                     expected_version: int | None = None) -> RequestDetail:
    """The requester withdrew the request; it closes without further work."""
    require(actor, Permission.REQUESTS_MANAGE)
    note_text = _text(note, "The note")
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        _require_action("withdraw", req, _subject_of(req))
        _update(req, {RightsRequest.state: "withdrawn", RightsRequest.closed_at: utcnow(),
                      RightsRequest.awaiting_requester: False})
        _event(actor, req.id, "state", f"{state_label(req.state)} → Withdrawn by the requester"
               + (f": {note_text}" if note_text else "."))
        audit.record(actor, "request.withdraw", "request", req.id, previous=req.state)
        return _fresh(req.id)


def add_note(actor: Actor, request_id: int, note: str) -> RequestDetail:
    """A free note on the timeline (a call with the requester, a decision); any state, closed too."""
    require(actor, Permission.REQUESTS_MANAGE)
    note_text = _text(note, "The note", required=True)
    req = _get(request_id)
    with database_errors(), database.atomic():
        _event(actor, req.id, "note", note_text)
        audit.record(actor, "request.note", "request", req.id)
        return _fresh(req.id)


def record_step_failure(actor: Actor, request_id: int, step: str, message: str) -> None:
    """Put a failed step on the timeline (best effort: a lost server cannot record its own loss).

    The request itself does not change, so the same step can be run again.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    text = f"{step} failed: {message[:900]} Nothing changed; the step can be tried again."
    try:
        with database_errors(), database.atomic():
            _event(actor, int(request_id), "step_failed", text)
            audit.record(actor, "request.step_failed", "request", request_id, step=step[:60])
    except Exception:  # noqa: BLE001 - the original failure is what the operator must see
        return


# ================================================================ the subject's side


def rectify_for_request(actor: Actor, request_id: int, field_name: str, new_value: str | None, reason: str, *,
                        subject_version: int | None = None, expected_version: int | None = None
                        ) -> subjects.SubjectRow:
    """Correct one field of the request's user account (Art. 16), linked to the request.

    Runs ``core.subjects.rectify_subject`` (old and new value into the subject's
    change history, with ``request`` set) and puts the step on the request's
    timeline, in one transaction.
    """
    require(actor, Permission.REQUESTS_MANAGE)
    require(actor, Permission.SUBJECTS_RECTIFY)
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        subject = _subject_of(req)
        _require_action("rectify", req, subject)
        assert subject is not None
        row = subjects.rectify_subject(actor, subject.id, field_name, new_value, reason,
                                       expected_version=subject_version, request_id=req.id)
        label = subjects.RECTIFIABLE_FIELDS.get(field_name, field_name).lower()
        _update(req, {})
        _event(actor, req.id, "rectified", f"Corrected the {label} of the user account (old and new values are "
                                           "in its change history, Art. 16).")
        return row


def _set_mark(actor: Actor, subject: Subject, column: str, value: bool, reason: str, request_id: int | None) -> None:
    changes: dict[Any, Any] = {getattr(Subject, column): value,
                               getattr(Subject, f"{column}_reason"): reason if value else None,
                               Subject.updated_at: utcnow(), Subject.version: Subject.version + 1}
    Subject.update(changes).where(Subject.id == subject.id).execute()
    SubjectChange.create(subject=subject.id, field=column, old_value="yes" if not value else "no",
                         new_value="yes" if value else "no", reason=reason, operator=actor.operator_id,
                         request=request_id, changed_at=utcnow())


def restrict_subject(actor: Actor, request_id: int, reason: str, *, expected_version: int | None = None
                     ) -> RequestDetail:
    """Mark the request's user account as restricted (GDPR Art. 18): kept, but not used.

    Every view shows the mark; playback, export and changes of the account's
    recordings are then for compliance officers only (``core.recordings``).
    """
    require(actor, Permission.SUBJECTS_RESTRICT)
    require(actor, Permission.REQUESTS_MANAGE)
    reason_text = _text(reason, "The reason for the restriction", required=True)
    assert reason_text is not None
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        subject = _subject_of(req)
        _require_action("restrict", req, subject)
        assert subject is not None
        _set_mark(actor, subject, "restricted", True, reason_text, req.id)
        _update(req, {})
        _event(actor, req.id, "restricted", f"User account restricted (Art. 18): {reason_text}")
        audit.record(actor, "subject.restrict", "subject", subject.id, request=req.id)
        return _fresh(req.id)


def object_subject(actor: Actor, request_id: int, reason: str, *, expected_version: int | None = None
                   ) -> RequestDetail:
    """Record the objection (GDPR Art. 21): the account leaves usage analytics and review queues."""
    require(actor, Permission.SUBJECTS_RESTRICT)
    require(actor, Permission.REQUESTS_MANAGE)
    reason_text = _text(reason, "The reason recorded with the objection", required=True)
    assert reason_text is not None
    req = _get(request_id)
    with database_errors(), database.atomic():
        _check_version(req, expected_version)
        subject = _subject_of(req)
        _require_action("object", req, subject)
        assert subject is not None
        _set_mark(actor, subject, "objected", True, reason_text, req.id)
        _update(req, {})
        _event(actor, req.id, "objected", f"Objection recorded (Art. 21): {reason_text}")
        audit.record(actor, "subject.object", "subject", subject.id, request=req.id)
        return _fresh(req.id)


def _lift(actor: Actor, subject_id: int, column: str, reason: str, request_id: int | None) -> subjects.SubjectRow:
    reason_text = _text(reason, "The reason for lifting it", required=True)
    assert reason_text is not None
    with database_errors(), database.atomic():
        subject = Subject.get_or_none(Subject.id == subject_id)
        if subject is None:
            raise NotFoundError(f"There is no user account #{subject_id}.")
        if not getattr(subject, column):
            raise ValidationError("The user account is not restricted." if column == "restricted"
                                  else "The user account has no objection recorded.")
        _set_mark(actor, subject, column, False, reason_text, request_id)
        if request_id is not None:
            req = _get(request_id)
            _update(req, {})
            _event(actor, req.id, "lifted", ("Restriction lifted" if column == "restricted"
                                            else "Objection lifted") + f": {reason_text}")
        audit.record(actor, "subject.unrestrict" if column == "restricted" else "subject.unobject", "subject",
                     subject.id, request=request_id)
        return subjects._row(Subject.get_by_id(subject.id))


def lift_restriction(actor: Actor, subject_id: int, reason: str, *, request_id: int | None = None
                     ) -> subjects.SubjectRow:
    """Lift a restriction with a reason (Art. 18(3): the data subject is told before it is lifted)."""
    require(actor, Permission.SUBJECTS_RESTRICT)
    return _lift(actor, subject_id, "restricted", reason, request_id)


def lift_objection(actor: Actor, subject_id: int, reason: str, *, request_id: int | None = None
                   ) -> subjects.SubjectRow:
    """Lift an objection with a reason (e.g. compelling legitimate grounds shown, Art. 21(1))."""
    require(actor, Permission.SUBJECTS_RESTRICT)
    return _lift(actor, subject_id, "objected", reason, request_id)


def requests_of_subject(actor: Actor, subject_id: int) -> list[RequestRow]:
    """Every request of one user account, newest first (the subject's detail pane)."""
    require(actor, Permission.REQUESTS_VIEW)
    with database_errors():
        return [_row_from(r) for r in _base_query().where(RightsRequest.subject == subject_id)
                .order_by(RightsRequest.received_on.desc(), RightsRequest.id.desc()).dicts()]


def open_request_ids(subject_ids: Iterable[int], kind: str | None = None) -> dict[int, int]:
    """subject id → the id of one of its open requests (of ``kind``), for reports. Reads ids only."""
    ids = list(subject_ids)
    found: dict[int, int] = {}
    for start in range(0, len(ids), 400):
        query = RightsRequest.select(RightsRequest.subject, RightsRequest.id).where(
            RightsRequest.subject.in_(ids[start:start + 400]) & RightsRequest.state.in_(OPEN_STATES))
        if kind:
            query = query.where(RightsRequest.type == kind)
        for subject, rid in _tuples(query):
            found.setdefault(int(subject), int(rid))
    return found


__all__ = [
    "ACTIONS", "CHANNELS", "CLOSED_STATES", "EventRow", "ExclusionRow", "OPEN_STATES", "PACKAGE_TYPES",
    "REJECTION_GROUNDS", "RequestDetail", "RequestFilter", "RequestPageKey", "RequestRow", "STATES", "TYPES",
    "add_note", "available_actions", "complete_request", "count_requests", "create_request", "extend_deadline",
    "get_request", "lift_objection", "lift_restriction", "link_subject", "list_requests", "object_subject",
    "page_key", "parse_date", "parse_request_id", "rectify_for_request", "reference_for", "reject_request",
    "requests_of_subject", "restrict_subject", "resume", "start_verification", "state_label", "type_label",
    "verify_identity", "wait_for_requester", "withdraw_request",
]
