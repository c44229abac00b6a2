"""Retention (GDPR Art. 5(1)(e), storage limitation): rules per category, preview, and runs that apply them.

**Rules** (``RetentionPolicy``, one per category, edited by compliance officers,
every change audited as ``retention.rule``). An item is *expired* when the
time it is counted from is **strictly older** than the rule's maximum age:
an item exactly ``max_age_days`` old stays, one a second older goes
(``cutoff = as_of − max_age_days``; expired ⇔ ``time < cutoff``). A rule
that is disabled or has no maximum age keeps everything (Stroom's "keep
forever" default). Categories (``CATEGORIES``):

* ``recordings`` — by call start; **delete** only (rows and audio files
  together; a voice cannot be anonymised by removing fields);
* ``crash_events`` — by time received; **delete**, or **anonymise**: the link
  to the account is cut and the personal parts of the payload (``user``,
  ``request``, ``breadcrumbs``, ``extra``, ``server_name``, the frames' local
  ``vars``) are removed; the event keeps counting in its group;
* ``inactive_accounts`` — by last activity (the creation time when the account
  never was active); **erased through the erasure path** (``core.erasure``):
  the run opens an internal erasure request per account (channel
  ``internal``), verifies it as controller-initiated and erases — the same
  code, the same guarantees, the same pseudonymous request record (Art. 5(2));
* ``annotations`` — by the time they were written; delete;
* ``closed_requests`` — rights requests by the time they closed; delete (with
  their timelines and exclusions). They are the controller's proof of how
  requests were answered, so officers typically keep them for years;
* ``access_packages`` — **not applicable**: the instance keeps no access
  package. ``core.access_package`` writes each package to a file the officer
  chooses and records only its SHA-256, size and time on the request; the
  delivered copy is outside the instance and its retention is the officer's.
  A rule for it cannot be enabled (``set_rule`` says why);
* ``audit_log`` — **kept forever, by design**: the log holds internal ids and
  counts only (no personal data, ARCHITECTURE.md privacy rules), so storage
  limitation does not reach it; it is the controller's accountability record
  (Art. 5(2), 30); and its hash chain is verified from the genesis event
  (``core.audit.verify_chain``), so removing a prefix would make a truthful log
  look tampered with. Deleting it would need an anchor (the removed prefix's
  last hash and count, itself audited) that ``verify_chain`` starts from;
  until that exists a rule for it cannot be enabled.

**What is never removed** (Google Vault: holds always win; DOMAIN.md: a purge
must never outrun an open rights request for the same subject):

* anything an active **legal hold** covers (``core.holds``: an account and all
  its data, a recording and its annotations, a crash group's events);
* anything of a subject with an **open rights request** (states
  ``core.requests.OPEN_STATES``) — frozen until the request closes, because
  the requester is entitled to the data as it was when they asked. The
  internal erasure requests retention opens itself do not freeze anything.

Held items are not anonymised either: a hold preserves the item as it is.

**Preview and apply agree exactly**: both build their item sets from the same
functions (``_expired``, ``_blocked``, ``_due``); a run records the
preview's numbers at its start (``due_at_start``, ``held_at_start``), and the
rules are applied in an order where no rule changes another's set
(annotations, recordings, crash events, accounts, requests). A preview reads
only; nothing changes, not even the audit log.

**Runs** (``apply_retention``): one ``RetentionRun`` with a row per rule
(``RetentionRunCategory``). Items go in batches, by id; each batch is one
transaction that re-checks its items (after locking them on the server
engines, see ``core.holds``), removes them and moves the rule's resume
cursor. Recordings use ``core.pending.FileBatch`` exactly as erasure does:
files to the pending-delete area first (intent committed), rows and the
batch's "committed" mark in one transaction, files deleted after the commit —
so a crash or ``kill -9`` at any instant leaves, after
``core.pending.recover_pending`` (run at the start of every apply), no row
without its file and no file without its row. A killed run stays ``running``;
the next apply (or ``resume_retention``) takes it over and continues from its
cursors with its original ``as_of`` time. A Cancel stops after the current
batch. One audit event per run (``retention.run``) is appended when the run
ends, with the counts per category and no personal data; the run row is the
durable record of each batch in between, and ``run_report`` shows it later.

**Crash groups** keep describing their events exactly: a batch decrements the
counters, per-day counts and facets by what it removed (the aggregates
``core.crashes`` keeps on import), looks first/last seen up again from the
(group, occurred_at) index where a removed event held it, corrects the
affected-accounts count, and deletes a group left empty as ``core.crashes``
does after an erasure (unless a hold record, a merge or an original grouping
still names it). An anonymised event's payload starts with
``{"rcrm_anonymised":true`` so "not yet anonymised" is a plain SQL condition.

**Limits**: on PostgreSQL and MariaDB a batch locks the rows a legal hold
would name (accounts, recordings, crash groups) before its re-check, so a hold
placed meanwhile is never outrun; a rights request opened on another
workstation during the very transaction of a batch is not locked against
(``core.requests`` does not lock the account), a window of milliseconds.

**Batch sizes** (``Category.batch``) trade a Cancel's latency against the
fixed cost of a batch: for recordings, the folder ``fsync`` that makes the
renames durable before the commit (it also commits the file system's journal
with the deletions of the batch before); for crash events, the groups'
first/last seen and facet times looked up again per batch, which depends on
the groups a batch touches, not on its events. A Cancel waits for the end of
the current batch.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, cast

import peewee
from peewee import fn

from rcrm_desktop.core import audit, holds
from rcrm_desktop.core import requests as core_requests
from rcrm_desktop.core.pending import (
    FileBatch,
    _hostname,
    _pid_alive,
    recover_pending,
    sweep_waveform_cache,
    waveform_cache_dir,
)
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import (
    Annotation,
    CrashDailyCount,
    CrashEvent,
    CrashGroup,
    CrashGroupFacet,
    LegalHold,
    Operator,
    PackageExclusion,
    Recording,
    RecordingTag,
    Redaction,
    RequestEvent,
    RetentionErasure,
    RetentionPolicy,
    RetentionRun,
    RetentionRunCategory,
    RightsRequest,
    Subject,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, RcrmError, ValidationError

log = logging.getLogger(__name__)

#: ``progress(done, total, text)``; returning ``False`` asks the run to stop after the current batch.
Progress = Callable[[int, int, str], bool | None]

#: The longest maximum age a rule accepts (100 years).
MAX_AGE_LIMIT_DAYS = 36_500

#: Ids per ``IN (…)`` list.
CHUNK = 500

#: First key of an anonymised crash event's payload; lets "not yet anonymised" be asked in SQL.
ANONYMISED_KEY = "rcrm_anonymised"
_ANONYMISED_PREFIX = '{"' + ANONYMISED_KEY + '":true'

#: Payload parts of a crash event that anonymisation removes (Sentry's personal fields).
ANONYMISED_FIELDS = ("user", "request", "breadcrumbs", "extra", "server_name")

#: A run started on another host counts as abandoned once its heartbeat is this old.
STALE_AFTER = dt.timedelta(hours=1)

#: Run states.
RUNNING, COMPLETED, CANCELLED, FAILED = "running", "completed", "cancelled", "failed"
RUN_STATES: dict[str, str] = {RUNNING: "Running", COMPLETED: "Completed", CANCELLED: "Cancelled", FAILED: "Failed"}

#: Requester name and channel of the internal erasure requests of ``inactive_accounts``.
INTERNAL_REQUESTER = "RCRM retention rule (controller-initiated)"


@dataclass(frozen=True)
class Category:
    """A kind of data a rule can govern, in the words the rules table and reports use."""

    key: str
    label: str
    item: str
    items: str
    basis: str
    actions: tuple[str, ...]
    applicable: bool
    note: str
    batch: int
    verb: str = "Deleting"


#: Every category, in the order the rules table lists them.
CATEGORIES: dict[str, Category] = {c.key: c for c in (
    Category("recordings", "Recordings", "recording", "recordings", "call start", ("delete",), True,
             "The recording, its audio file, tags, annotations and redaction records are deleted together. "
             "Recordings can only be deleted: a voice cannot be anonymised by removing fields.", 2000),
    Category("crash_events", "Crash events", "crash event", "crash events", "time received",
             ("delete", "anonymise"), True,
             "Delete the events, or anonymise them: the link to the user account and the personal parts of the "
             "report (user, request, breadcrumbs, extra data, local variables) are removed and the event keeps "
             "counting in its group.", 50_000),
    Category("inactive_accounts", "Inactive user accounts", "user account", "user accounts", "last activity",
             ("delete",), True,
             "An account with no activity for longer than the maximum age (never active: since it was created) is "
             "erased exactly as an erasure request would erase it, through an internal erasure request that "
             "documents it: its recordings, crash events and change history go with it.", 1, "Erasing"),
    Category("annotations", "Annotations", "annotation", "annotations", "when written", ("delete",), True,
             "Notes on recordings older than the maximum age are deleted; the recordings stay.", 5000),
    Category("access_packages", "Access packages", "access package", "access packages",
             "request closing", (), False,
             "The instance does not keep access packages: each package is written to a file the officer chooses "
             "and only its SHA-256, size and build time are recorded on the request (kept with the request). "
             "Delete delivered copies where you saved them.", 0),
    Category("closed_requests", "Closed rights requests", "rights request", "rights requests", "closing",
             ("delete",), True,
             "Completed, rejected and withdrawn requests are deleted with their timelines once older than the "
             "maximum age. They prove how requests were answered (GDPR Art. 5(2)); keep them for years.", 1000),
    Category("audit_log", "Audit log", "audit event", "audit events", "—", (), False,
             "Kept forever by design: it holds internal ids only (no personal data), it is the controller's "
             "accountability record (GDPR Art. 5(2)), and its hash chain is verified from the first event, so "
             "deleting old events would make a truthful log look tampered with.", 0),
)}

#: The order a run applies the rules in: no rule changes the item set of a later one (see the module docstring).
APPLY_ORDER = ("annotations", "recordings", "crash_events", "inactive_accounts", "closed_requests")

ACTION_LABELS = {"delete": "Delete", "anonymise": "Anonymise"}


def describe_age(days: int | None) -> str:
    """``730`` → ``"730 days (2 years)"``; ``None`` → ``"keep forever"``."""
    if days is None:
        return "keep forever"
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return f"{days:,} days ({years} year{'s' if years != 1 else ''})"
    return f"{days:,} day{'s' if days != 1 else ''}"


def parse_age(text: str | int) -> int:
    """A maximum age from ``"730"``, ``"730d"``, ``"2y"`` (365-day years) or ``"8w"``; ``ValidationError`` else."""
    raw = str(text).strip().lower().replace(" ", "")
    units = {"d": 1, "w": 7, "y": 365}
    factor = 1
    if raw[-1:] in units:
        factor = units[raw[-1]]
        raw = raw[:-1]
    if not raw.isdigit() or len(raw) > 6:
        raise ValidationError(f"“{str(text)[:20]}” is not a maximum age: give days (730), weeks (8w) or "
                              "365-day years (2y).")
    days = int(raw) * factor
    if not 1 <= days <= MAX_AGE_LIMIT_DAYS:
        raise ValidationError(f"A maximum age is between 1 day and {MAX_AGE_LIMIT_DAYS:,} days (100 years); "
                              f"{days:,} days is outside.")
    return days


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


# ================================================================ rules


@dataclass(frozen=True)
class RetentionRule:
    """One category's rule as the rules table shows it."""

    category: str
    max_age_days: int | None
    action: str
    enabled: bool
    updated_at: dt.datetime | None
    updated_by: int | None
    updated_by_name: str | None

    @property
    def info(self) -> Category:
        return CATEGORIES[self.category]

    @property
    def label(self) -> str:
        return self.info.label

    @property
    def applicable(self) -> bool:
        return self.info.applicable

    @property
    def active(self) -> bool:
        """Whether a run applies it: applicable, enabled and with a maximum age."""
        return self.applicable and self.enabled and self.max_age_days is not None

    @property
    def status(self) -> str:
        """``active``, ``disabled``, ``no_max_age``, ``not_applicable`` (audit log: ``fixed``)."""
        if self.category == "audit_log":
            return "fixed"
        if not self.applicable:
            return "not_applicable"
        if self.max_age_days is None:
            return "no_max_age"
        return "active" if self.enabled else "disabled"

    def cutoff(self, as_of: dt.datetime) -> dt.datetime | None:
        return as_of - dt.timedelta(days=self.max_age_days) if self.max_age_days is not None else None

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "label": self.label, "counted_from": self.info.basis,
                "max_age_days": self.max_age_days, "action": self.action if self.applicable else None,
                "actions": list(self.info.actions), "enabled": self.enabled and self.applicable,
                "status": self.status, "applicable": self.applicable, "note": self.info.note,
                "updated_at": _iso(self.updated_at), "updated_by": self.updated_by_name}


def _operator_names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    return {int(o.id): str(o.username) for o in Operator.select(Operator.id, Operator.username)
            .where(Operator.id.in_(wanted))}


def _load_rules() -> list[RetentionRule]:
    rows = {str(r.category): r for r in RetentionPolicy.select()}
    names = _operator_names(r.updated_by for r in rows.values())
    out = []
    for key, info in CATEGORIES.items():
        row = rows.get(key)
        if row is None:
            out.append(RetentionRule(key, None, info.actions[0] if info.actions else "delete", False, None, None,
                                     None))
            continue
        action = str(row.action or "delete")
        if info.actions and action not in info.actions:
            action = info.actions[0]
        out.append(RetentionRule(key, int(row.max_age_days) if row.max_age_days is not None else None, action,
                                 bool(row.enabled) and info.applicable, row.updated_at,
                                 int(row.updated_by) if row.updated_by is not None else None,
                                 names.get(int(row.updated_by)) if row.updated_by is not None else None))
    return out


def list_rules(actor: Actor) -> list[RetentionRule]:
    """Every category's rule, in ``CATEGORIES`` order (a category without a row keeps everything)."""
    require(actor, Permission.RETENTION_MANAGE)
    with database_errors():
        return _load_rules()


def _category(key: str | None) -> Category:
    info = CATEGORIES.get(str(key or "").strip().lower().replace("-", "_"))
    if info is None:
        raise ValidationError(f"“{str(key)[:40]}” is not a retention category; choose one of "
                              f"{', '.join(CATEGORIES)}.")
    return info


def set_rule(actor: Actor, category: str, *, max_age_days: int | None = None, action: str | None = None,
             enabled: bool | None = None, expected: RetentionRule | None = None) -> RetentionRule:
    """Change one category's rule; ``None`` leaves a field as it is. Audited as ``retention.rule``.

    Refused (``ValidationError``) for a category that cannot have a rule
    (access packages, the audit log: the sentence says why), an action the
    category does not allow (recordings are deleted only), a maximum age
    outside 1 day … 100 years, and enabling a rule without a maximum age.
    ``expected`` is the rule as the editor read it; a rule changed meanwhile
    (on another workstation) raises ``ConflictError`` with the current rule.
    """
    require(actor, Permission.RETENTION_MANAGE)
    info = _category(category)
    if not info.applicable:
        raise ValidationError(f"{info.label} cannot have a retention rule. {info.note}")
    if max_age_days is not None and not 1 <= int(max_age_days) <= MAX_AGE_LIMIT_DAYS:
        raise ValidationError(f"A maximum age is between 1 day and {MAX_AGE_LIMIT_DAYS:,} days (100 years).")
    if action is not None:
        action = action.strip().lower().replace("anonymize", "anonymise")
        if action not in info.actions:
            allowed = " or ".join(info.actions)
            raise ValidationError(f"{info.label} can only be handled with: {allowed}. {info.note}")
    with database_errors(), database.atomic():
        current = next(r for r in _load_rules() if r.category == info.key)
        if expected is not None and (current.updated_at, current.max_age_days, current.action, current.enabled) != (
                expected.updated_at, expected.max_age_days, expected.action, expected.enabled):
            when = f" at {current.updated_at:%Y-%m-%d %H:%M} UTC" if current.updated_at else ""
            raise ConflictError(
                f"The {info.label.lower()} rule was changed by {current.updated_by_name or 'another operator'}"
                f"{when}; the current rule is shown. Check it and edit again.", current=current.as_json())
        new_age = int(max_age_days) if max_age_days is not None else current.max_age_days
        new_action = action or current.action
        new_enabled = current.enabled if enabled is None else bool(enabled)
        if new_enabled and new_age is None:
            raise ValidationError(f"Set a maximum age for {info.label.lower()} before enabling the rule.")
        now = utcnow()
        values = {"max_age_days": new_age, "action": new_action, "enabled": new_enabled, "updated_at": now,
                  "updated_by": actor.operator_id}
        if RetentionPolicy.update(values).where(RetentionPolicy.category == info.key).execute() == 0:
            RetentionPolicy.create(category=info.key, **values)
        audit.record(actor, "retention.rule", "retention_rule", info.key, max_age_days=new_age, rule_action=new_action,
                     enabled=new_enabled, previous={"max_age_days": current.max_age_days, "action": current.action,
                                                    "enabled": current.enabled})
        return next(r for r in _load_rules() if r.category == info.key)


# ================================================================ which items: the one definition


def _retention_request_ids() -> peewee.SelectQuery:
    return RetentionErasure.select(RetentionErasure.request_id)


def frozen_subject_ids() -> peewee.SelectQuery:
    """Subquery: accounts with an open rights request (never NULL); retention's own requests do not count."""
    return RightsRequest.select(RightsRequest.subject).where(
        RightsRequest.subject.is_null(False) & RightsRequest.state.in_(core_requests.OPEN_STATES)
        & RightsRequest.id.not_in(_retention_request_ids()))


def _subject_blocked(column: Any) -> Any:
    """``column`` (a subject id, maybe NULL) names a held or frozen account; never NULL itself."""
    return column.is_null(False) & (column.in_(holds.held_subject_ids()) | column.in_(frozen_subject_ids()))


def _time(category: str) -> Any:
    """The time an item of ``category`` is counted from (for ``MIN`` and display)."""
    if category == "recordings":
        return Recording.started_at
    if category == "crash_events":
        return CrashEvent.received_at
    if category == "inactive_accounts":
        return fn.COALESCE(Subject.last_active_at, Subject.created_at)
    if category == "annotations":
        return Annotation.created_at
    return fn.COALESCE(RightsRequest.closed_at, RightsRequest.created_at)


def _model(category: str) -> Any:
    return {"recordings": Recording, "crash_events": CrashEvent, "inactive_accounts": Subject,
            "annotations": Annotation, "closed_requests": RightsRequest}[category]


def _expired(category: str, cutoff: dt.datetime, action: str, *, by_id: bool = False) -> Any:
    """Items strictly older than ``cutoff`` (and, to anonymise, not anonymised yet).

    ``by_id`` writes the same condition so that no index on the time column
    can serve it (``COALESCE(t, t)``): a run's batches walk the table by id
    from their cursor, and a planner that chose the time index instead would
    re-read every expired row for each batch (quadratic on a big purge).
    """
    def old(column: Any) -> Any:
        return (fn.COALESCE(column, column) if by_id else column) < cutoff

    if category == "recordings":
        return old(Recording.started_at)
    if category == "crash_events":
        expired = old(CrashEvent.received_at)
        if action == "anonymise":
            expired &= ~CrashEvent.payload.startswith(_ANONYMISED_PREFIX)
        return expired
    if category == "inactive_accounts":
        return old(Subject.last_active_at) | (Subject.last_active_at.is_null() & old(Subject.created_at))
    if category == "annotations":
        return old(Annotation.created_at)
    if category == "closed_requests":
        return RightsRequest.state.in_(core_requests.CLOSED_STATES) & (
            old(RightsRequest.closed_at) | (RightsRequest.closed_at.is_null() & old(RightsRequest.created_at)))
    raise ValidationError(f"{CATEGORIES[category].label} cannot have a retention rule.")


def _blocked(category: str) -> Any:
    """Items a legal hold or an open rights request keeps (an expression that is never NULL)."""
    if category == "recordings":
        return Recording.id.in_(holds.held_recording_ids()) | _subject_blocked(Recording.subject)
    if category == "crash_events":
        return (CrashEvent.group.in_(holds.held_group_ids())
                | (CrashEvent.original_group.is_null(False) & CrashEvent.original_group.in_(holds.held_group_ids()))
                | _subject_blocked(CrashEvent.subject))
    if category == "inactive_accounts":
        return Subject.id.in_(holds.held_subject_ids()) | Subject.id.in_(frozen_subject_ids())
    if category == "annotations":
        of_held_accounts = Recording.select(Recording.id).where(_subject_blocked(Recording.subject))
        return Annotation.recording.in_(holds.held_recording_ids()) | Annotation.recording.in_(of_held_accounts)
    if category == "closed_requests":
        return _subject_blocked(RightsRequest.subject)
    raise ValidationError(f"{CATEGORIES[category].label} cannot have a retention rule.")


def _due(category: str, cutoff: dt.datetime, action: str, *, by_id: bool = False) -> Any:
    """Expired and not held: what a run removes now."""
    return _expired(category, cutoff, action, by_id=by_id) & ~_blocked(category)


def _held(category: str, cutoff: dt.datetime, action: str) -> Any:
    """Expired but held back by a legal hold or an open request."""
    return _expired(category, cutoff, action) & _blocked(category)


# ================================================================ preview


@dataclass(frozen=True)
class HeldBack:
    """One reason why expired items stay: a legal hold or an open rights request, and how many it keeps."""

    kind: str  # "hold" | "request"
    ref_id: int
    label: str
    detail: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.ref_id, "label": self.label, "detail": self.detail,
                "count": self.count}


@dataclass(frozen=True)
class RulePreview:
    """What one rule would do now: counts, the oldest due item, and what is held back and why."""

    rule: RetentionRule
    as_of: dt.datetime
    cutoff: dt.datetime | None
    due: int = 0
    oldest: dt.datetime | None = None
    held: int = 0
    held_back: tuple[HeldBack, ...] = ()

    @property
    def category(self) -> str:
        return self.rule.category

    @property
    def action(self) -> str:
        return self.rule.action

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "label": self.rule.label, "status": self.rule.status,
                "max_age_days": self.rule.max_age_days, "action": self.rule.action if self.rule.applicable else None,
                "cutoff": _iso(self.cutoff), "due": self.due, "oldest": _iso(self.oldest), "held": self.held,
                "held_back": [h.as_json() for h in self.held_back]}


@dataclass(frozen=True)
class RetentionPreview:
    """Every rule's preview at one moment (``as_of``), and an interrupted run waiting to be resumed."""

    as_of: dt.datetime
    rules: tuple[RulePreview, ...]
    interrupted_run: int | None = None

    @property
    def total_due(self) -> int:
        return sum(r.due for r in self.rules)

    @property
    def total_held(self) -> int:
        return sum(r.held for r in self.rules)

    def rule(self, category: str) -> RulePreview:
        return next(r for r in self.rules if r.category == category)

    def as_json(self) -> dict[str, Any]:
        return {"as_of": _iso(self.as_of), "total_due": self.total_due, "total_held": self.total_held,
                "interrupted_run": self.interrupted_run, "rules": [r.as_json() for r in self.rules]}


def _count(query: Any) -> int:
    return int(query.count())


def _base(category: str, condition: Any) -> Any:
    model = _model(category)
    return model.select(model.id).where(condition)


def _oldest(category: str, condition: Any) -> dt.datetime | None:
    model = _model(category)
    value = model.select(fn.MIN(_time(category))).where(condition).scalar()
    return _as_datetime(value)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dt.datetime.fromisoformat(str(value))


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (typed loosely: peewee's stubs cannot name the columns)."""
    return list(query.tuples())


def _fk(row: Any, name: str) -> int | None:
    """The id a foreign key of ``row`` holds, without loading the referenced row."""
    value = getattr(row, f"{name}_id")
    return int(value) if value is not None else None


def _grouped(query: Any) -> dict[int, int]:
    return {int(k): int(n) for k, n in _tuples(query) if k is not None}


def _held_back(category: str, cutoff: dt.datetime, action: str) -> list[HeldBack]:
    """Expired items kept, per legal hold and per open request (an item kept by two reasons counts in both)."""
    expired = _expired(category, cutoff, action)
    by_subject: dict[int, int] = {}
    by_recording: dict[int, int] = {}
    by_group: dict[int, int] = {}
    held_subjects = holds.held_subject_ids()
    frozen = frozen_subject_ids()
    if category == "recordings":
        subject_col: Any = Recording.subject
        base: Any = Recording.select(Recording.subject, fn.COUNT(Recording.id)).where(expired)
        by_recording = {int(r): 1 for (r,) in _tuples(Recording.select(Recording.id).where(
            expired & Recording.id.in_(holds.held_recording_ids())))}
    elif category == "annotations":
        subject_col = Recording.subject
        base = Annotation.select(Recording.subject, fn.COUNT(Annotation.id)).join(
            Recording, on=(Annotation.recording == Recording.id)).where(expired)
        by_recording = _grouped(Annotation.select(Annotation.recording, fn.COUNT(Annotation.id)).where(
            expired & Annotation.recording.in_(holds.held_recording_ids())).group_by(Annotation.recording))
    elif category == "crash_events":
        subject_col = CrashEvent.subject
        base = CrashEvent.select(CrashEvent.subject, fn.COUNT(CrashEvent.id)).where(expired)
        for column in (CrashEvent.group, CrashEvent.original_group):
            for gid, n in _grouped(CrashEvent.select(column, fn.COUNT(CrashEvent.id)).where(
                    expired & column.in_(holds.held_group_ids())).group_by(column)).items():
                by_group[gid] = by_group.get(gid, 0) + n
    elif category == "inactive_accounts":
        subject_col = Subject.id
        base = Subject.select(Subject.id, fn.COUNT(Subject.id)).where(expired)
    else:
        subject_col = RightsRequest.subject
        base = RightsRequest.select(RightsRequest.subject, fn.COUNT(RightsRequest.id)).where(expired)
    by_subject = _grouped(base.where(subject_col.in_(held_subjects)).group_by(subject_col))
    frozen_counts = _grouped(base.where(subject_col.in_(frozen)).group_by(subject_col))

    out: list[HeldBack] = []
    active = holds.active_holds_by_target()
    names = _subject_names(set(by_subject) | set(frozen_counts))
    for kind, counts in (("subject", by_subject), ("recording", by_recording), ("crash_group", by_group)):
        for target_id, n in counts.items():
            for hold_id, reason in active[kind].get(target_id, []):
                if kind == "subject":
                    on = f"user account {names.get(target_id, f'#{target_id}')}"
                elif kind == "recording":
                    on = f"recording #{target_id}"
                else:
                    on = f"crash group #{target_id}"
                out.append(HeldBack("hold", hold_id, f"Legal hold #{hold_id}", f"On {on}: {reason}", n))
    merged: dict[int, HeldBack] = {}
    for held in out:
        prior = merged.get(held.ref_id)
        merged[held.ref_id] = held if prior is None else replace(prior, count=prior.count + held.count)
    result = sorted(merged.values(), key=lambda h: (-h.count, h.ref_id))
    if frozen_counts:
        requests: dict[int, list[RightsRequest]] = {}
        ids = sorted(frozen_counts)
        for start in range(0, len(ids), CHUNK):
            for req in (RightsRequest.select(RightsRequest.id, RightsRequest.subject, RightsRequest.type,
                                             RightsRequest.state, RightsRequest.received_on)
                        .where(RightsRequest.subject.in_(ids[start:start + CHUNK])
                               & RightsRequest.state.in_(core_requests.OPEN_STATES)
                               & RightsRequest.id.not_in(_retention_request_ids()))
                        .order_by(RightsRequest.id)):
                requests.setdefault(int(_fk(req, "subject") or 0), []).append(req)
        frozen_out = []
        for subject_id, n in frozen_counts.items():
            for req in requests.get(subject_id, []):
                state = ("" if req.state == "received"
                         else f", {core_requests.state_label(req.state).lower()}")
                frozen_out.append(HeldBack(
                    "request", int(req.id), f"Open request #{req.id}",
                    f"{core_requests.type_label(req.type)} of user account {names.get(subject_id, f'#{subject_id}')}, "
                    f"received {req.received_on:%Y-%m-%d}{state}: its data is frozen until the request closes", n))
        result += sorted(frozen_out, key=lambda h: (-h.count, h.ref_id))
    return result


def _subject_names(ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    out: dict[int, str] = {}
    for start in range(0, len(wanted), CHUNK):
        for sid, user_id in _tuples(Subject.select(Subject.id, Subject.user_id).where(
                Subject.id.in_(wanted[start:start + CHUNK]))):
            out[int(sid)] = str(user_id)
    return out


def _rule_preview(rule: RetentionRule, as_of: dt.datetime) -> RulePreview:
    cutoff = rule.cutoff(as_of)
    if not rule.active or cutoff is None:
        return RulePreview(rule, as_of, cutoff)
    due = _due(rule.category, cutoff, rule.action)
    return RulePreview(rule, as_of, cutoff, _count(_base(rule.category, due)), _oldest(rule.category, due),
                       _count(_base(rule.category, _held(rule.category, cutoff, rule.action))),
                       tuple(_held_back(rule.category, cutoff, rule.action)))


def preview_retention(actor: Actor, *, now: dt.datetime | None = None) -> RetentionPreview:
    """What every enabled rule would remove at ``now`` (default: this moment), and what it holds back, and why.

    Reads only: nothing changes, the audit log included. ``apply_retention``
    with the same ``now`` on unchanged data removes exactly these counts.
    """
    require(actor, Permission.RETENTION_MANAGE)
    as_of = now or utcnow()
    with database_errors():
        _ensure_tables()
        rules = _load_rules()
        previews = tuple(_rule_preview(rule, as_of) for rule in rules)
        interrupted = _interrupted()
    return RetentionPreview(as_of, previews, interrupted.id if interrupted is not None else None)


def preview_rule(actor: Actor, category: str, max_age_days: int | None, action: str, *,
                 now: dt.datetime | None = None) -> RulePreview:
    """The preview of a rule as it *would* be (the rule editor's "N items would be due"); reads only."""
    require(actor, Permission.RETENTION_MANAGE)
    info = _category(category)
    if not info.applicable:
        raise ValidationError(f"{info.label} cannot have a retention rule. {info.note}")
    if action not in info.actions:
        raise ValidationError(f"{info.label} can only be handled with: {' or '.join(info.actions)}.")
    rule = RetentionRule(info.key, max_age_days, action, max_age_days is not None, None, None, None)
    with database_errors():
        _ensure_tables()
        return _rule_preview(rule, now or utcnow())


@dataclass(frozen=True)
class PreviewItem:
    """One item a rule would remove (or holds back), as the preview list shows it."""

    category: str
    id: int
    at: dt.datetime | None
    title: str
    detail: str
    held_by: tuple[str, ...] = ()

    @property
    def on_hold(self) -> bool:
        return any(h.startswith("Legal hold") for h in self.held_by)

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "id": self.id, "at": _iso(self.at), "title": self.title,
                "detail": self.detail, "held_by": list(self.held_by)}


def preview_items(actor: Actor, category: str, *, held: bool = False, after_id: int = 0, limit: int = 200,
                  now: dt.datetime | None = None) -> list[PreviewItem]:
    """One keyset page (by id) of the items the category's rule would remove at ``now`` — or, with
    ``held``, of the expired items it holds back, each with its reasons. Reads only.

    Uses the same conditions as the counts (``_due``/``_held``), so paging to
    the end lists exactly ``RulePreview.due`` (or ``held``) items. A rule that
    is not active lists nothing.
    """
    require(actor, Permission.RETENTION_MANAGE)
    info = _category(category)
    as_of = now or utcnow()
    with database_errors():
        _ensure_tables()
        rule = next(r for r in _load_rules() if r.category == info.key)
        cutoff = rule.cutoff(as_of)
        if not rule.active or cutoff is None:
            return []
        condition = (_held if held else _due)(info.key, cutoff, rule.action)
        return _items(info.key, condition, after_id, max(1, min(int(limit), 1000)), held)


def _items(category: str, condition: Any, after_id: int, limit: int, with_reasons: bool) -> list[PreviewItem]:
    model = _model(category)
    query = model.select().where(condition & (model.id > after_id)).order_by(model.id).limit(limit)
    rows = list(query)
    subject_of: dict[int, int | None] = {}
    out: list[PreviewItem] = []
    if category == "recordings":
        users = _subject_names(int(r.subject_id) for r in rows if r.subject_id is not None)
        for r in rows:
            subject_of[r.id] = r.subject_id
            whose = users.get(int(r.subject_id), "—") if r.subject_id is not None else "no account"
            out.append(PreviewItem(category, int(r.id), r.started_at,
                                   f"{str(r.direction).capitalize()} call, {_mmss(r.duration_ms)} · {whose}",
                                   f"Agent {r.agent or '—'} · {r.path} ({int(r.size_bytes or 0):,} bytes)"))
    elif category == "annotations":
        recs = {int(rid): sid for rid, sid in _tuples(Recording.select(Recording.id, Recording.subject).where(
            Recording.id.in_(sorted({int(a.recording_id) for a in rows}) or [0])))}
        for a in rows:
            subject_of[a.id] = recs.get(int(a.recording_id))
            text = " ".join(str(a.text).split())
            out.append(PreviewItem(category, int(a.id), a.created_at,
                                   f"Annotation on recording #{a.recording_id} at {_mmss(a.position_ms)}",
                                   text[:160] + ("…" if len(text) > 160 else "")))
    elif category == "crash_events":
        users = _subject_names(int(e.subject_id) for e in rows if e.subject_id is not None)
        for e in rows:
            subject_of[e.id] = e.subject_id
            whose = users.get(int(e.subject_id), "—") if e.subject_id is not None else "no account"
            what = (e.exception_type or e.message or "event")[:120]
            out.append(PreviewItem(category, int(e.id), e.received_at, f"{what}",
                                   f"Event {str(e.event_id)[:12]} · group #{e.group_id} · {e.platform}"
                                   f"{' · ' + e.release if e.release else ''} · {whose}"))
    elif category == "inactive_accounts":
        for s in rows:
            subject_of[s.id] = s.id
            last = (f"last active {s.last_active_at:%Y-%m-%d}" if s.last_active_at is not None
                    else f"never active, created {s.created_at:%Y-%m-%d}")
            out.append(PreviewItem(category, int(s.id), s.last_active_at or s.created_at, f"{s.user_id} · {s.name}",
                                   last))
    else:
        users = _subject_names(int(q.subject_id) for q in rows if q.subject_id is not None)
        for q in rows:
            subject_of[q.id] = q.subject_id
            whose = (users.get(int(q.subject_id), "—") if q.subject_id is not None
                     else f"former account {q.subject_ref[:12]}" if q.subject_ref else "no account")
            out.append(PreviewItem(category, int(q.id), q.closed_at or q.created_at,
                                   f"Request #{q.id} · {core_requests.type_label(q.type)}",
                                   f"{core_requests.state_label(q.state)} · {whose} · received "
                                   f"{q.received_on:%Y-%m-%d}"))
    if with_reasons and out:
        reasons = _item_reasons(category, rows, subject_of)
        out = [replace(item, held_by=tuple(reasons.get(item.id, ()))) for item in out]
    return out


def _item_reasons(category: str, rows: Sequence[Any], subject_of: dict[int, int | None]) -> dict[int, list[str]]:
    active = holds.active_holds_by_target()
    subjects = sorted({int(s) for s in subject_of.values() if s is not None})
    open_requests: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(subjects), CHUNK):
        for rid, sid, kind in _tuples(
                RightsRequest.select(RightsRequest.id, RightsRequest.subject, RightsRequest.type)
                .where(RightsRequest.subject.in_(subjects[start:start + CHUNK])
                       & RightsRequest.state.in_(core_requests.OPEN_STATES)
                       & RightsRequest.id.not_in(_retention_request_ids()))
                .order_by(RightsRequest.id)):
            open_requests.setdefault(int(sid), []).append((int(rid), str(kind)))
    out: dict[int, list[str]] = {}
    for row in rows:
        reasons: list[str] = []
        subject = subject_of.get(int(row.id))
        if subject is not None:
            reasons += [f"Legal hold #{h} on the account: {why}" for h, why in active["subject"].get(int(subject), [])]
        recording = (int(row.id) if category == "recordings" else
                     int(row.recording_id) if category == "annotations" else None)
        if recording is not None:
            reasons += [f"Legal hold #{h} on recording #{recording}: {why}"
                        for h, why in active["recording"].get(recording, [])]
        if category == "crash_events":
            for gid in {row.group_id, row.original_group_id} - {None}:
                reasons += [f"Legal hold #{h} on crash group #{gid}: {why}"
                            for h, why in active["crash_group"].get(int(gid), [])]
        if subject is not None:
            reasons += [f"Open {kind} request #{rid}: frozen until it closes"
                        for rid, kind in open_requests.get(int(subject), [])]
        out[int(row.id)] = reasons
    return out


def _mmss(ms: int | None) -> str:
    total = int(round((ms or 0) / 1000))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ================================================================ run reports


@dataclass(frozen=True)
class RunCategoryReport:
    category: str
    label: str
    max_age_days: int
    action: str
    cutoff: dt.datetime
    due_at_start: int
    held_at_start: int
    oldest_at_start: dt.datetime | None
    deleted: int
    anonymised: int
    files_deleted: int
    skipped: int
    done: bool

    @property
    def removed(self) -> int:
        return self.deleted + self.anonymised

    def as_json(self) -> dict[str, Any]:
        return {"category": self.category, "label": self.label, "max_age_days": self.max_age_days,
                "action": self.action, "cutoff": _iso(self.cutoff), "due_at_start": self.due_at_start,
                "held_at_start": self.held_at_start, "oldest_at_start": _iso(self.oldest_at_start),
                "deleted": self.deleted, "anonymised": self.anonymised, "files_deleted": self.files_deleted,
                "skipped": self.skipped, "done": self.done}


@dataclass(frozen=True)
class RunReport:
    """A retention run as the officer opens it later (``run_report``): what was due, held and done, per rule."""

    id: int
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    as_of: dt.datetime
    operator_id: int | None
    operator: str
    origin: str
    resumed: int
    error: str | None
    audit_seq: int | None
    interrupted: bool
    categories: tuple[RunCategoryReport, ...]
    #: An interrupted run this apply finished first (``apply_retention``).
    previous: RunReport | None = None

    @property
    def deleted(self) -> int:
        return sum(c.deleted for c in self.categories)

    @property
    def anonymised(self) -> int:
        return sum(c.anonymised for c in self.categories)

    @property
    def held(self) -> int:
        return sum(c.held_at_start for c in self.categories)

    @property
    def files_deleted(self) -> int:
        return sum(c.files_deleted for c in self.categories)

    @property
    def state_label(self) -> str:
        return "Interrupted" if self.interrupted else RUN_STATES.get(self.state, self.state)

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    def as_json(self) -> dict[str, Any]:
        data = {"id": self.id, "state": self.state, "interrupted": self.interrupted,
                "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at), "as_of": _iso(self.as_of),
                "operator": {"id": self.operator_id, "username": self.operator}, "origin": self.origin,
                "resumed": self.resumed, "error": self.error, "audit_seq": self.audit_seq,
                "totals": {"deleted": self.deleted, "anonymised": self.anonymised, "held": self.held,
                           "files_deleted": self.files_deleted},
                "categories": [c.as_json() for c in self.categories]}
        if self.previous is not None:
            data["previous"] = self.previous.as_json()
        return data

    def text(self) -> str:
        """The report as plain text (the CLI's ``retention report`` and the GUI's Runs tab show the same)."""
        lines = [f"Retention run #{self.id} — {self.state_label}",
                 f"Rules as of {self.as_of:%Y-%m-%d %H:%M:%S} UTC; started {self.started_at:%Y-%m-%d %H:%M:%S} UTC"
                 + (f", finished {self.finished_at:%Y-%m-%d %H:%M:%S} UTC" if self.finished_at else "")
                 + f" by {self.operator} ({'command line' if self.origin == 'command' else 'application'})."]
        if self.resumed:
            lines.append(f"Resumed {self.resumed} time{'s' if self.resumed != 1 else ''} after an interruption.")
        if self.error:
            lines.append(f"Stopped by an error: {self.error}")
        if not self.categories:
            lines.append("No rule was enabled: nothing was removed.")
        for c in self.categories:
            verb = "anonymised" if c.action == "anonymise" else (
                "erased" if c.category == "inactive_accounts" else "deleted")
            line = (f"• {c.label}: {c.removed:,} of {c.due_at_start:,} due {verb} (rule: {c.action} after "
                    f"{describe_age(c.max_age_days)}, i.e. {CATEGORIES[c.category].basis} before "
                    f"{c.cutoff:%Y-%m-%d %H:%M} UTC)")
            if c.files_deleted:
                line += f", {c.files_deleted:,} audio file{'s' if c.files_deleted != 1 else ''} deleted"
            if c.skipped:
                line += f", {c.skipped:,} skipped (changed meanwhile)"
            if c.held_at_start:
                line += f"; {c.held_at_start:,} held back (legal holds, open requests)"
            if not c.done:
                line += "; not finished"
            lines.append(line + ".")
        if self.audit_seq is not None:
            lines.append(f"Recorded in the audit log as event {self.audit_seq}.")
        return "\n".join(lines)


def _run_reports(runs: Sequence[RetentionRun]) -> list[RunReport]:
    if not runs:
        return []
    cats: dict[int, list[RetentionRunCategory]] = {}
    for c in (RetentionRunCategory.select().where(RetentionRunCategory.run.in_([r.id for r in runs]))
              .order_by(RetentionRunCategory.ordinal)):
        cats.setdefault(int(_fk(c, "run") or 0), []).append(c)
    names = _operator_names(r.operator_id for r in runs)
    now = utcnow()
    out = []
    for r in runs:
        out.append(RunReport(
            int(r.id), str(r.state), r.started_at, r.finished_at, r.as_of, r.operator_id,
            names.get(int(r.operator_id), "—") if r.operator_id is not None else "system", str(r.origin),
            int(r.resumed or 0), r.error, int(r.audit_seq) if r.audit_seq is not None else None,
            r.state == RUNNING and _abandoned(r, now),
            tuple(RunCategoryReport(str(c.category), CATEGORIES[str(c.category)].label, int(c.max_age_days),
                                    str(c.action), c.cutoff, int(c.due_at_start), int(c.held_at_start),
                                    c.oldest_at_start, int(c.deleted), int(c.anonymised), int(c.files_deleted),
                                    int(c.skipped), bool(c.done))
                  for c in cats.get(int(r.id), []))))
    return out


def list_runs(actor: Actor, *, before_id: int | None = None, limit: int = 50) -> list[RunReport]:
    """Past runs, newest first, one keyset page (``before_id`` = the last id of the previous page)."""
    require(actor, Permission.RETENTION_MANAGE)
    with database_errors():
        _ensure_tables()
        query = RetentionRun.select()
        if before_id is not None:
            query = query.where(RetentionRun.id < before_id)
        return _run_reports(list(query.order_by(RetentionRun.id.desc()).limit(max(1, min(int(limit), 500)))))


def run_report(actor: Actor, run_id: int) -> RunReport:
    """One run's report (what was due, held and done per rule); ``NotFoundError`` for an unknown id."""
    require(actor, Permission.RETENTION_MANAGE)
    text = str(run_id).strip().lstrip("#")
    if not text.isdigit():
        raise ValidationError(f"“{str(run_id)[:40]}” is not a run number.")
    with database_errors():
        _ensure_tables()
        run = RetentionRun.get_or_none(RetentionRun.id == int(text))
        if run is None:
            raise NotFoundError(f"There is no retention run #{text}.")
        return _run_reports([run])[0]


def interrupted_run(actor: Actor) -> RunReport | None:
    """The run a crash or ``kill`` left ``running`` (its process is gone), which the next apply resumes."""
    require(actor, Permission.RETENTION_MANAGE)
    with database_errors():
        _ensure_tables()
        run = _interrupted()
        return _run_reports([run])[0] if run is not None else None


# ================================================================ runs: bookkeeping

_tables_checked: set[int] = set()
#: Runs this process is executing (so recovery in the same process leaves them alone).
_active_runs: set[int] = set()


def _ensure_tables() -> None:
    """Create the run tables on an instance made before they existed (schema 1 grew them; creating is safe)."""
    key = id(database.obj)
    if key in _tables_checked:
        return
    missing = [m for m in (RetentionRun, RetentionRunCategory, RetentionErasure)
               if not database.table_exists(m._meta.table_name)]
    if missing:
        database.create_tables(missing, safe=True)
    _tables_checked.add(key)


def _abandoned(run: RetentionRun, now: dt.datetime) -> bool:
    if run.host is None or run.pid is None:
        return True
    if run.host == _hostname():
        if int(run.pid) == os.getpid():
            return int(run.id) not in _active_runs
        return not _pid_alive(int(run.pid))
    return now - (run.heartbeat_at or run.started_at) > STALE_AFTER


def _interrupted() -> RetentionRun | None:
    run = RetentionRun.select().where(RetentionRun.state == RUNNING).order_by(RetentionRun.id).first()
    if run is None or not _abandoned(run, utcnow()):
        return None
    return cast(RetentionRun, run)


def _claim(run: RetentionRun) -> RetentionRun:
    """Take over an interrupted run for this process (refused if another process took it first)."""
    with database.atomic():
        taken = (RetentionRun.update(host=_hostname(), pid=os.getpid(), heartbeat_at=utcnow(),
                                     resumed=RetentionRun.resumed + 1)
                 .where((RetentionRun.id == run.id) & (RetentionRun.state == RUNNING)
                        & (RetentionRun.host == run.host) & (RetentionRun.pid == run.pid)).execute())
    if taken != 1:
        raise ConflictError(f"Retention run #{run.id} was taken over by another workstation meanwhile.")
    _active_runs.add(int(run.id))
    return RetentionRun.get_by_id(run.id)


def _busy_error() -> ValidationError:
    running = RetentionRun.select().where(RetentionRun.state == RUNNING).order_by(RetentionRun.id).first()
    if running is None:
        return ValidationError("Another retention run started at the same moment; try again when it has finished.")
    return ValidationError(
        f"Retention run #{running.id} is already running (on {running.host or 'another workstation'}, started "
        f"{running.started_at:%Y-%m-%d %H:%M} UTC). Only one run at a time applies the rules; wait for it to "
        "finish.")


def _start(actor: Actor, as_of: dt.datetime, origin: str) -> RetentionRun:
    """Record a new run with every active rule, and the preview's numbers, in one transaction."""
    rules = [r for r in _load_rules() if r.active]
    order = {key: i for i, key in enumerate(APPLY_ORDER)}
    rules.sort(key=lambda r: order[r.category])
    if any(r.category == "inactive_accounts" for r in rules):
        require(actor, Permission.SUBJECTS_ERASE)
        require(actor, Permission.REQUESTS_MANAGE)
    previews = [_rule_preview(r, as_of) for r in rules]
    if RetentionRun.select().where(RetentionRun.state == RUNNING).exists():
        raise _busy_error()
    try:
        with database.atomic():
            run = RetentionRun.create(started_at=utcnow(), heartbeat_at=utcnow(), as_of=as_of, state=RUNNING,
                                      operator_id=actor.operator_id, origin=origin, host=_hostname(),
                                      pid=os.getpid(), active=1, resumed=0)
            for i, p in enumerate(previews):
                assert p.cutoff is not None and p.rule.max_age_days is not None
                RetentionRunCategory.create(run=run.id, category=p.category, ordinal=i,
                                            max_age_days=p.rule.max_age_days, action=p.rule.action, cutoff=p.cutoff,
                                            due_at_start=p.due, held_at_start=p.held, oldest_at_start=p.oldest)
    except peewee.IntegrityError as exc:
        raise _busy_error() from exc
    _active_runs.add(int(run.id))
    return RetentionRun.get_by_id(run.id)


def _finish(actor: Actor, run_id: int, state: str, error: str | None = None) -> None:
    """End the run: state, time, the active slot freed, and the run's one audit event — in one transaction."""
    with database.atomic():
        cats = list(RetentionRunCategory.select().where(RetentionRunCategory.run == run_id)
                    .order_by(RetentionRunCategory.ordinal))
        run = RetentionRun.get_by_id(run_id)
        counts = {str(c.category): {"max_age_days": int(c.max_age_days), "action": str(c.action),
                                    "due": int(c.due_at_start), "held": int(c.held_at_start),
                                    "deleted": int(c.deleted), "anonymised": int(c.anonymised),
                                    "files_deleted": int(c.files_deleted), "skipped": int(c.skipped)}
                  for c in cats}
        event = audit.record(actor, "retention.run", "retention_run", run_id, state=state, origin=str(run.origin),
                             as_of=_iso(run.as_of), resumed=int(run.resumed or 0), categories=counts,
                             failed=error is not None)
        RetentionRun.update(state=state, finished_at=utcnow(), heartbeat_at=utcnow(), active=None,
                            error=error, audit_seq=event.seq).where(RetentionRun.id == run_id).execute()


def _advance(cat_id: int, run_id: int, last_id: int, *, deleted: int = 0, anonymised: int = 0, files: int = 0,
             skipped: int = 0) -> None:
    """Move a rule's cursor and counts (call inside the batch's transaction, so they commit with it)."""
    greatest = fn.MAX if engine_name() == "sqlite" else fn.GREATEST
    RetentionRunCategory.update({
        RetentionRunCategory.last_id: greatest(RetentionRunCategory.last_id, last_id),
        RetentionRunCategory.deleted: RetentionRunCategory.deleted + deleted,
        RetentionRunCategory.anonymised: RetentionRunCategory.anonymised + anonymised,
        RetentionRunCategory.files_deleted: RetentionRunCategory.files_deleted + files,
        RetentionRunCategory.skipped: RetentionRunCategory.skipped + skipped,
    }).where(RetentionRunCategory.id == cat_id).execute()
    RetentionRun.update(heartbeat_at=utcnow()).where(RetentionRun.id == run_id).execute()


# ================================================================ runs: the work


class _Replan(Exception):
    """A batch's items changed between planning and the transaction (a hold, a request): plan it again."""


@dataclass
class _Ticker:
    """Progress across the whole run; remembers a cancel request until the current batch is done."""

    progress: Progress | None
    total: int
    done: int = 0
    cancel_requested: bool = False
    category_done: int = 0
    category_total: int = 0
    info: Category | None = None

    def start(self, info: Category, already: int, total: int) -> None:
        self.info, self.category_done, self.category_total = info, already, total

    def tell(self, index: int) -> None:
        """Report that item ``index`` (1-based, within the rule) is being handled: "Deleting recording 37 of 500"."""
        if self.progress is None or self.info is None:
            return
        overall = self.done + max(0, index - 1 - self.category_done)
        text = f"{self.info.verb} {self.info.item} {index:,} of {max(self.category_total, index):,}"
        if self.progress(overall, max(self.total, overall + 1), text) is False:
            self.cancel_requested = True

    def add(self, n: int) -> None:
        self.done += n
        self.category_done += n


def apply_retention(actor: Actor, *, now: dt.datetime | None = None, progress: Progress | None = None,
                    store: RecordingsStore | None = None, origin: str = "manual",
                    batch_sizes: dict[str, int] | None = None) -> RunReport:
    """Apply every enabled rule as of ``now`` (default: this moment), in batches; returns the run's report.

    First finishes the file work of any interrupted erasure or purge
    (``core.pending.recover_pending``) and resumes an interrupted run (its
    report is ``RunReport.previous``; when that run is cancelled again, no new
    run starts). ``progress`` returning ``False`` stops the run after the
    current batch (state ``cancelled``). Raises ``ValidationError`` while
    another workstation's run is active. See the module docstring for what is
    guaranteed.
    """
    require(actor, Permission.RETENTION_MANAGE)
    if origin not in ("manual", "command"):
        raise ValidationError("A run is started from the application (manual) or the command line (command).")
    recordings_store = store if store is not None else open_store()
    with database_errors():
        _ensure_tables()
        recover_pending(recordings_store, sweep_cache=False)
        previous = None
        interrupted = _interrupted()
        if interrupted is not None:
            previous = _execute(actor, _claim(interrupted), progress, recordings_store, batch_sizes)
            if previous.state == CANCELLED:
                return previous
        run = _start(actor, now or utcnow(), origin)
        report = _execute(actor, run, progress, recordings_store, batch_sizes)
    return replace(report, previous=previous)


def resume_retention(actor: Actor, *, progress: Progress | None = None, store: RecordingsStore | None = None,
                     batch_sizes: dict[str, int] | None = None) -> RunReport | None:
    """Finish an interrupted run (``None`` when there is none); no new run is started."""
    require(actor, Permission.RETENTION_MANAGE)
    recordings_store = store if store is not None else open_store()
    with database_errors():
        _ensure_tables()
        recover_pending(recordings_store, sweep_cache=False)
        interrupted = _interrupted()
        if interrupted is None:
            return None
        return _execute(actor, _claim(interrupted), progress, recordings_store, batch_sizes)


def _execute(actor: Actor, run: RetentionRun, progress: Progress | None, store: RecordingsStore,
             batch_sizes: dict[str, int] | None) -> RunReport:
    run_id = int(run.id)
    try:
        cats = list(RetentionRunCategory.select().where(RetentionRunCategory.run == run_id)
                    .order_by(RetentionRunCategory.ordinal))
        total = sum(int(c.due_at_start) for c in cats)
        ticker = _Ticker(progress, total, done=sum(int(c.deleted) + int(c.anonymised) + int(c.skipped) for c in cats))
        for cat in cats:
            if ticker.cancel_requested:
                break
            if cat.done:
                continue
            fresh = RetentionRunCategory.get_by_id(cat.id)
            info = CATEGORIES[str(fresh.category)]
            size = max(1, int((batch_sizes or {}).get(info.key, info.batch)))
            already = int(fresh.deleted) + int(fresh.anonymised) + int(fresh.skipped)
            ticker.start(info, already, int(fresh.due_at_start))
            worker = {"recordings": _run_recordings, "crash_events": _run_crash_events,
                      "inactive_accounts": _run_accounts}.get(info.key, _run_rows)
            worker(actor, run_id, fresh, size, ticker, store)
        state = CANCELLED if ticker.cancel_requested else COMPLETED
        if any(c.category in ("recordings", "inactive_accounts") for c in cats):
            sweep_waveform_cache()  # this workstation's cached waveforms of audio that is gone
        if state == COMPLETED and progress is not None:
            progress(max(ticker.total, ticker.done), max(ticker.total, ticker.done), "Done")
        _finish(actor, run_id, state)
    except BaseException as exc:
        if isinstance(exc, Exception):
            message = exc.message if isinstance(exc, RcrmError) else f"unexpected {type(exc).__name__}"
            try:
                _finish(actor, run_id, FAILED, message[:2000])
            except Exception:  # noqa: BLE001 - the database may be gone; the run stays "running" and is resumed
                log.warning("Retention run #%d failed and could not be marked so; it will be resumed", run_id)
        raise
    finally:
        _active_runs.discard(run_id)
    log.info("Retention run #%d %s", run_id, state)
    return _run_reports([RetentionRun.get_by_id(run_id)])[0]


def _raw(query: Any) -> list[tuple[Any, ...]]:
    """Run a peewee query and return the driver's rows as they come (no per-value conversion: batches are big)."""
    sql, params = query.sql()
    return list(database.execute_sql(sql, params).fetchall())


_SLOT_A, _SLOT_B = -7_100_000_001, -7_100_000_002


class _Compiled:
    """A batch query rendered to SQL once, with its bounds as parameters.

    Peewee renders an ``IN (subquery)`` twice (to check it is not empty), so
    the nested hold and request conditions cost milliseconds to render each
    time; a run asks the same question hundreds of times with other bounds.
    """

    def __init__(self, query: Any, slots: int) -> None:
        self.sql, params = query.sql()
        self.params = list(params)
        self.slots = [self.params.index(value) for value in (_SLOT_A, _SLOT_B)[:slots]]

    def rows(self, *values: Any) -> list[tuple[Any, ...]]:
        params = list(self.params)
        for slot, value in zip(self.slots, values, strict=True):
            params[slot] = value
        return list(database.execute_sql(self.sql, params).fetchall())


@dataclass
class _Batches:
    """The two questions a rule's batches ask: the next batch after the cursor, and which are still due."""

    plan: _Compiled
    check: _Compiled

    def next(self, cat: RetentionRunCategory) -> list[tuple[Any, ...]]:
        return self.plan.rows(int(cat.last_id))

    def still_due(self, ids: Sequence[int]) -> set[int]:
        """Which of a planned batch are still due now (inside the batch's transaction, after its locks)."""
        return {int(r[0]) for r in self.check.rows(min(ids), max(ids))} & set(ids)


def _batches(category: str, cat: RetentionRunCategory, size: int, *columns: Any) -> _Batches:
    """Batches of due items by id (id first, then ``columns``): the same ``_due`` the preview counts."""
    model = _model(category)
    due = _due(category, cat.cutoff, str(cat.action), by_id=True)
    plan = model.select(model.id, *columns).where(due & (model.id > _SLOT_A)).order_by(model.id).limit(size)
    check = model.select(model.id).where(due & (model.id >= _SLOT_A) & (model.id <= _SLOT_B))
    return _Batches(_Compiled(plan, 1), _Compiled(check, 2))


#: Ids per ``DELETE … IN (…)`` (SQLite before 3.32 allows 999 parameters per statement).
DELETE_CHUNK = 2000 if sqlite3.sqlite_version_info >= (3, 32) else 900


def _delete_in(model: Any, column: str, ids: Sequence[int]) -> int:
    """``DELETE FROM model WHERE column IN (ids)`` in chunks, with the statement built once per chunk size."""
    _, p, table, q = _sql(model)
    deleted = 0
    for start in range(0, len(ids), DELETE_CHUNK):
        chunk = list(ids[start:start + DELETE_CHUNK])
        cursor = database.execute_sql(f"DELETE FROM {table} WHERE {q(column)} IN ({', '.join([p] * len(chunk))})",
                                      chunk)
        deleted += max(0, int(cursor.rowcount))
    return deleted


def _mark_done(cat_id: int) -> None:
    with database.atomic():
        RetentionRunCategory.update(done=True).where(RetentionRunCategory.id == cat_id).execute()


def _run_rows(actor: Actor, run_id: int, cat: RetentionRunCategory, size: int, ticker: _Ticker,
              store: RecordingsStore) -> None:
    """Annotations and closed requests: rows only, one transaction per batch."""
    category = str(cat.category)
    batches = _batches(category, cat, size, Annotation.recording if category == "annotations"
                       else RightsRequest.subject)
    while True:
        planned = batches.next(cat)
        if not planned:
            _mark_done(int(cat.id))
            return
        ids = [int(r[0]) for r in planned]
        ticker.tell(ticker.category_done + 1)
        with database.atomic():
            if category == "annotations":
                holds.lock_rows(Recording, {int(r[1]) for r in planned})
            else:
                holds.lock_rows(Subject, {int(r[1]) for r in planned if r[1] is not None})
            fresh = sorted(batches.still_due(ids))
            if category == "annotations":
                deleted = _delete_in(Annotation, "id", fresh)
            else:
                _delete_in(RequestEvent, "request_id", fresh)
                _delete_in(PackageExclusion, "request_id", fresh)
                deleted = _delete_in(RightsRequest, "id", fresh)
            _advance(int(cat.id), run_id, ids[-1], deleted=deleted, skipped=len(ids) - deleted)
        ticker.add(len(ids))
        cat = RetentionRunCategory.get_by_id(cat.id)
        if ticker.cancel_requested:
            return


def _cached_hashes() -> set[str]:
    """SHA-256 prefixes of this workstation's waveform cache entries (read once per run)."""
    folder = waveform_cache_dir()
    try:
        return {name[:64] for name in os.listdir(folder)}
    except OSError:
        return set()


def _run_recordings(actor: Actor, run_id: int, cat: RetentionRunCategory, size: int, ticker: _Ticker,
                    store: RecordingsStore) -> None:
    """Recordings with their files: ``FileBatch`` per batch (files aside, rows + mark in one transaction).

    Cached waveforms are deleted after the commit for the hashes this
    workstation has in its cache (``sweep_waveform_cache`` at the end of the
    run, and at every start, catches the rest).
    """
    replans = 0
    cached = _cached_hashes()
    batches = _batches("recordings", cat, size, Recording.path, Recording.sha256, Recording.original_sha256,
                       Recording.subject)
    while True:
        rows = batches.next(cat)
        if not rows:
            _mark_done(int(cat.id))
            return
        ids = [int(r[0]) for r in rows]
        files = [(int(r[0]), str(r[1])) for r in rows]
        hashes = sorted({str(h) for r in rows for h in (r[2], r[3]) if h and str(h) in cached})
        subjects = {int(r[4]) for r in rows if r[4] is not None}
        batch = FileBatch(store, "retention")
        first = ticker.category_done + 1

        def stage_progress(moved: int, _total: int, _path: str, first: int = first, last: int = len(ids)) -> None:
            ticker.tell(first + min(moved, last - 1))  # a cancel waits for the end of the batch

        batch.stage(files, hashes, stage_progress)
        try:
            with database.atomic():
                holds.lock_rows(Subject, subjects)
                holds.lock_rows(Recording, ids)
                if batches.still_due(ids) != set(ids):
                    raise _Replan
                for model in (Annotation, RecordingTag, Redaction, LegalHold):
                    _delete_in(model, "recording_id", ids)
                deleted = _delete_in(Recording, "id", ids)
                if deleted != len(ids):
                    raise _Replan
                moved = sum(1 for f in batch.files if f.moved)
                _advance(int(cat.id), run_id, ids[-1], deleted=deleted, files=moved)
                batch.mark_committed()
        except _Replan:
            batch.rollback()
            replans += 1
            if replans > 20:
                raise ConflictError("Recordings kept changing while retention ran (holds or requests placed on "
                                    "them); the run stopped. Run it again.") from None
            continue
        except BaseException:
            batch.rollback()
            raise
        batch.finish()
        ticker.add(len(ids))
        cat = RetentionRunCategory.get_by_id(cat.id)
        if ticker.cancel_requested:
            return


# ---------------------------------------------------------------- crash events


def anonymised_payload(payload: str) -> str:
    """A crash event's payload without its personal parts (see the module docstring), marked as anonymised."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    out: dict[str, Any] = {ANONYMISED_KEY: True}
    for key, value in data.items():
        if key in ANONYMISED_FIELDS or key == ANONYMISED_KEY:
            continue
        out[key] = _without_vars(value) if key in ("exception", "threads", "stacktrace") else value
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _without_vars(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_vars(v) for k, v in value.items() if k != "vars"}
    if isinstance(value, list):
        return [_without_vars(v) for v in value]
    return value


def _sql(model: Any) -> tuple[Any, str, str, Callable[[str], str]]:
    db = database.obj
    open_q, close_q = db.quote[0], db.quote[-1]

    def q(name: str) -> str:
        return f"{open_q}{name}{close_q}"

    return db, db.param, q(model._meta.table_name), q


def _executemany(sql: str, rows: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), 500):
        database.cursor().executemany(sql, rows[start:start + 500])


def _day(value: Any) -> Any:
    """The UTC day of a stored time as the driver gave it (SQLite: text, whose first 10 characters are the day)."""
    if isinstance(value, str):
        return value[:10]
    stamp = _as_datetime(value)
    return stamp.date() if stamp is not None else None


def _may_hold(removed: tuple[Any, Any] | None, stored: dt.datetime | None) -> bool:
    """Whether a stored first/last seen time may have come from a removed event (it lies in their time span)."""
    if removed is None:
        return False
    if stored is None:
        return True
    low, high = _as_datetime(removed[0]), _as_datetime(removed[1])
    return low is not None and high is not None and low <= stored <= high


def _forget_events(rows: Sequence[tuple[Any, ...]], *, deleted: bool) -> None:
    """Correct the groups' counters, days and facets for events removed (or unlinked, ``deleted=False``).

    ``rows``: (id, group, subject, occurred_at, release, environment, platform, os_name), as the driver
    returned them. Decrements what the events added (``core.crashes`` keeps the same aggregates on import);
    a group's or facet's first or last seen time is looked up again (from the index on (group,
    occurred_at)) whenever it lies within the time span of the group's removed events, so the aggregates
    describe the remaining events exactly.
    """
    _, p, group_t, q = _sql(CrashGroup)
    event_t = q(CrashEvent._meta.table_name)
    touched = sorted({int(r[1]) for r in rows})
    if deleted:
        gids = [int(r[1]) for r in rows]
        span: dict[int, tuple[Any, Any]] = {}
        for gid, occurred in zip(gids, (r[3] for r in rows), strict=True):
            known = span.get(gid)
            if known is None:
                span[gid] = (occurred, occurred)
            elif occurred < known[0]:
                span[gid] = (occurred, known[1])
            elif occurred > known[1]:
                span[gid] = (known[0], occurred)
        per_group = Counter(gids)
        times = [r[3] for r in rows]
        day_of = itemgetter(slice(0, 10)) if times and isinstance(times[0], str) else _day
        per_day = Counter(zip(gids, map(day_of, times), strict=True))
        facets: Counter[tuple[int, str, str]] = Counter()
        for kind, position in (("release", 4), ("environment", 5), ("platform", 6), ("os", 7)):
            for (gid, value), n in Counter(zip(gids, map(itemgetter(position), rows), strict=True)).items():
                if value:
                    facets[(gid, kind, str(value)[:200])] += n
        _executemany(f"UPDATE {group_t} SET {q('event_count')} = {q('event_count')} - {p} WHERE {q('id')} = {p}",
                     [(n, gid) for gid, n in sorted(per_group.items())])
        stored: dict[int, tuple[dt.datetime | None, dt.datetime | None]] = {}
        for start in range(0, len(touched), CHUNK):
            stored.update({int(g): (_as_datetime(a), _as_datetime(b)) for g, a, b in _tuples(
                CrashGroup.select(CrashGroup.id, CrashGroup.first_seen, CrashGroup.last_seen)
                .where(CrashGroup.id.in_(touched[start:start + CHUNK])))})
        for column, order, index in (("first_seen", "ASC", 0), ("last_seen", "DESC", 1)):
            stale = [gid for gid in touched if gid in stored and _may_hold(span.get(gid), stored[gid][index])]
            _executemany(
                f"UPDATE {group_t} SET {q(column)} = COALESCE((SELECT e.{q('occurred_at')} FROM {event_t} e "
                f"WHERE e.{q('group_id')} = {p} ORDER BY e.{q('occurred_at')} {order} LIMIT 1), {q(column)}) "
                f"WHERE {q('id')} = {p}", [(gid, gid) for gid in stale])
        day_t = q(CrashDailyCount._meta.table_name)
        day_value = cast(Any, CrashDailyCount.day).db_value
        _executemany(f"UPDATE {day_t} SET {q('count')} = {q('count')} - {p} WHERE {q('group_id')} = {p} "
                     f"AND {q('day')} = {p}",
                     [(n, gid, day if isinstance(day, str) else day_value(day))
                      for (gid, day), n in sorted(per_day.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))])
        facet_t = q(CrashGroupFacet._meta.table_name)
        _executemany(f"UPDATE {facet_t} SET {q('event_count')} = {q('event_count')} - {p} WHERE {q('group_id')} = {p} "
                     f"AND {q('kind')} = {p} AND {q('value')} = {p}",
                     [(n, gid, kind, value) for (gid, kind, value), n in sorted(facets.items())])
        facet_times: dict[tuple[int, str, str], tuple[dt.datetime | None, dt.datetime | None]] = {}
        for start in range(0, len(touched), CHUNK):
            for gid, kind, value, first, last in _tuples(
                    CrashGroupFacet.select(CrashGroupFacet.group, CrashGroupFacet.kind, CrashGroupFacet.value,
                                           CrashGroupFacet.first_seen, CrashGroupFacet.last_seen)
                    .where(CrashGroupFacet.group.in_(touched[start:start + CHUNK]))):
                facet_times[(int(gid), str(kind), str(value))] = (_as_datetime(first), _as_datetime(last))
        columns = {"release": "release", "environment": "environment", "platform": "platform", "os": "os_name"}
        for kind, column in columns.items():
            for target, order, index in (("first_seen", "ASC", 0), ("last_seen", "DESC", 1)):
                keys = [(gid, value) for (gid, k, value) in sorted(facets)
                        if k == kind and (gid, k, value) in facet_times
                        and _may_hold(span.get(gid), facet_times[(gid, k, value)][index])]
                _executemany(
                    f"UPDATE {facet_t} SET {q(target)} = COALESCE((SELECT e.{q('occurred_at')} FROM {event_t} e "
                    f"WHERE e.{q('group_id')} = {p} AND e.{q(column)} = {p} ORDER BY e.{q('occurred_at')} {order} "
                    f"LIMIT 1), {q(target)}) WHERE {q('group_id')} = {p} AND {q('kind')} = {p} AND {q('value')} = {p}",
                    [(gid, value, gid, kind, value) for gid, value in keys])
        for start in range(0, len(touched), CHUNK):
            chunk = touched[start:start + CHUNK]
            CrashDailyCount.delete().where(CrashDailyCount.group.in_(chunk) & (CrashDailyCount.count <= 0)).execute()
            CrashGroupFacet.delete().where(CrashGroupFacet.group.in_(chunk)
                                           & (CrashGroupFacet.event_count <= 0)).execute()
    pairs = sorted({(int(r[1]), int(r[2])) for r in rows if r[2] is not None})
    if pairs:
        subjects = sorted({s for _, s in pairs})
        groups = sorted({g for g, _ in pairs})
        remaining: set[tuple[int, int]] = set()
        for start in range(0, len(subjects), CHUNK):
            remaining |= {(int(g), int(s)) for g, s in _tuples(
                CrashEvent.select(CrashEvent.group, CrashEvent.subject)
                .where(CrashEvent.subject.in_(subjects[start:start + CHUNK]) & CrashEvent.group.in_(groups))
                .distinct())}
        lost: dict[int, int] = {}
        for pair in pairs:
            if pair not in remaining:
                lost[pair[0]] = lost.get(pair[0], 0) + 1
        _executemany(f"UPDATE {group_t} SET {q('subject_count')} = {q('subject_count')} - {p} WHERE {q('id')} = {p}",
                     [(n, gid) for gid, n in sorted(lost.items())])
    if deleted:
        _drop_empty_groups(touched)


def _drop_empty_groups(group_ids: Sequence[int]) -> None:
    """Delete groups left without events, as ``core.crashes`` does after an erasure — unless a legal
    hold (active or released: its record stays) names them, other groups are merged into them, or
    events were first grouped into them."""
    for start in range(0, len(group_ids), CHUNK):
        chunk = list(group_ids[start:start + CHUNK])
        emptied = [int(g) for (g,) in _tuples(CrashGroup.select(CrashGroup.id).where(
            CrashGroup.id.in_(chunk) & (CrashGroup.event_count <= 0)))]
        if not emptied:
            continue
        keep = {int(g) for (g,) in _tuples(LegalHold.select(LegalHold.crash_group).where(
            LegalHold.crash_group.in_(emptied)))}
        keep |= {int(g) for (g,) in _tuples(CrashGroup.select(CrashGroup.merged_into).where(
            CrashGroup.merged_into.in_(emptied)))}
        keep |= {int(g) for (g,) in _tuples(CrashEvent.select(CrashEvent.original_group).where(
            CrashEvent.original_group.in_(emptied)).distinct())}
        removable = [g for g in emptied if g not in keep]
        if removable:
            CrashGroup.delete().where(CrashGroup.id.in_(removable)).execute()


def _run_crash_events(actor: Actor, run_id: int, cat: RetentionRunCategory, size: int, ticker: _Ticker,
                      store: RecordingsStore) -> None:
    """Crash events, deleted or anonymised, with the groups' aggregates corrected in the same transaction.

    On SQLite the batch is chosen inside its own transaction (``BEGIN
    IMMEDIATE``: no other writer can place a hold or open a request until it
    commits), so it needs no second look; on the server engines it is chosen
    first, then its groups are locked and its items checked again.
    """
    anonymise = str(cat.action) == "anonymise"
    fields = (CrashEvent.group, CrashEvent.subject, CrashEvent.occurred_at, CrashEvent.release,
              CrashEvent.environment, CrashEvent.platform, CrashEvent.os_name, CrashEvent.original_group)
    batches = _batches("crash_events", cat, size, *fields)
    serialised = engine_name() == "sqlite"
    while True:
        if not serialised:
            planned = batches.next(cat)
            if not planned:
                _mark_done(int(cat.id))
                return
            ticker.tell(ticker.category_done + 1)
        with database.atomic():
            if serialised:
                planned = batches.next(cat)
                if not planned:
                    RetentionRunCategory.update(done=True).where(RetentionRunCategory.id == cat.id).execute()
                    return
                ticker.tell(ticker.category_done + 1)
                fresh = {int(r[0]) for r in planned}
            else:
                holds.lock_rows(CrashGroup, {int(g) for r in planned for g in (r[1], r[8]) if g is not None})
                fresh = batches.still_due([int(r[0]) for r in planned])
            ids = [int(r[0]) for r in planned]
            rows = [r[:8] for r in planned if int(r[0]) in fresh]
            done = sorted(fresh)
            if anonymise:
                _, p, event_t, q = _sql(CrashEvent)
                payloads: list[tuple[Any, ...]] = []
                for start in range(0, len(done), CHUNK):
                    chunk = done[start:start + CHUNK]
                    payloads += list(database.execute_sql(
                        f"SELECT {q('id')}, {q('payload')} FROM {event_t} WHERE {q('id')} IN "
                        f"({', '.join([p] * len(chunk))})", chunk).fetchall())
                _executemany(f"UPDATE {event_t} SET {q('payload')} = {p}, {q('subject_id')} = NULL "
                             f"WHERE {q('id')} = {p}", [(anonymised_payload(str(pl)), int(i)) for i, pl in payloads])
                _forget_events(rows, deleted=False)
                _advance(int(cat.id), run_id, ids[-1], anonymised=len(done), skipped=len(ids) - len(done))
            else:
                deleted = _delete_in(CrashEvent, "id", done)
                _forget_events(rows, deleted=True)
                _advance(int(cat.id), run_id, ids[-1], deleted=deleted, skipped=len(ids) - deleted)
        ticker.add(len(ids))
        cat = RetentionRunCategory.get_by_id(cat.id)
        if ticker.cancel_requested:
            return


# ---------------------------------------------------------------- inactive accounts (the erasure path)


def _settle(run_id: int, cat_id: int, item: RetentionErasure) -> bool:
    """Record an internal erasure whose request already closed (erased, or withdrawn); ``False`` if still open.

    Covers a kill between the erasure's commit and the run's own record of
    it, and requests left by a run that failed: the erasure is counted once,
    by the run that finds it.
    """
    req = RightsRequest.get_or_none(RightsRequest.id == item.request_id)
    if req is not None and req.state in core_requests.OPEN_STATES:
        return False
    erased = req is not None and req.state == "completed" and req.erased_at is not None
    with database.atomic():
        RetentionErasure.update(state="erased" if erased else "skipped", run=run_id).where(
            RetentionErasure.id == item.id).execute()
        _advance(cat_id, run_id, int(item.subject_id), deleted=int(erased), skipped=int(not erased))
    return True


def _run_accounts(actor: Actor, run_id: int, cat: RetentionRunCategory, size: int, ticker: _Ticker,
                  store: RecordingsStore) -> None:
    """Inactive accounts, one at a time, each erased by ``core.erasure.erase_subject`` through an internal request.

    An internal request left open by an interrupted or failed run is taken
    over first, so no account gets a second request and none stays open.
    """
    from rcrm_desktop.core import erasure

    batches = _batches("inactive_accounts", cat, 1)
    while True:
        pending = (RetentionErasure.select().where(RetentionErasure.state == "pending")
                   .order_by(RetentionErasure.id).first())
        if pending is not None:
            if _settle(run_id, int(cat.id), pending):
                ticker.add(1)
                cat = RetentionRunCategory.get_by_id(cat.id)
                continue
            subject_id, request_id = int(pending.subject_id), int(pending.request_id)
            RetentionErasure.update(run=run_id).where(RetentionErasure.id == pending.id).execute()
        else:
            planned = batches.next(cat)
            if not planned:
                _mark_done(int(cat.id))
                return
            subject_id = int(planned[0][0])
            request_id = _open_internal_request(actor, run_id, subject_id, cat)
        ticker.tell(ticker.category_done + 1)
        subject = Subject.get_or_none(Subject.id == subject_id)
        erased = False
        reason = ""
        try:
            if subject is None:
                raise ValidationError("The user account no longer exists.")
            if not batches.still_due([subject_id]):
                raise ValidationError("The account became active, or a legal hold or a rights request now keeps "
                                      "it.")
            erasure.erase_subject(actor, request_id, str(subject.user_id), store=store)
            erased = True
        except (ValidationError, ConflictError, NotFoundError) as exc:
            reason = exc.message
        with database.atomic():
            if not erased:
                req = RightsRequest.get_or_none(RightsRequest.id == request_id)
                if req is not None and req.state in core_requests.OPEN_STATES:
                    core_requests.withdraw_request(actor, request_id, f"Retention run #{run_id} did not erase the "
                                                                      f"account: {reason}"[:1900])
            RetentionErasure.update(state="erased" if erased else "skipped").where(
                RetentionErasure.request_id == request_id).execute()
            _advance(int(cat.id), run_id, subject_id, deleted=1 if erased else 0, skipped=0 if erased else 1)
        ticker.add(1)
        cat = RetentionRunCategory.get_by_id(cat.id)
        if ticker.cancel_requested:
            return


def _open_internal_request(actor: Actor, run_id: int, subject_id: int, cat: RetentionRunCategory) -> int:
    """Create, verify and record the internal erasure request of one account — one transaction."""
    subject = Subject.get_by_id(subject_id)
    last = subject.last_active_at
    since = f"no activity since {last:%Y-%m-%d}" if last is not None else (
        f"never active since it was created on {subject.created_at:%Y-%m-%d}")
    with database.atomic():
        detail = core_requests.create_request(
            actor, "erasure", INTERNAL_REQUESTER, channel="internal", subject_id=subject_id,
            details=f"Erasure under the retention rule for inactive user accounts (GDPR Art. 5(1)(e)), retention "
                    f"run #{run_id}: {since}; the rule keeps accounts for {describe_age(int(cat.max_age_days))}.")
        core_requests.verify_identity(actor, detail.id, "Not applicable: the controller erases the account under "
                                                        "its own retention rule; there is no requester to identify.")
        RetentionErasure.create(run=run_id, subject_id=subject_id, request_id=detail.id, state="pending")
    return int(detail.id)


__all__ = [
    "ACTION_LABELS", "ANONYMISED_FIELDS", "APPLY_ORDER", "CATEGORIES", "Category", "HeldBack", "MAX_AGE_LIMIT_DAYS",
    "PreviewItem", "RUN_STATES", "RetentionPreview", "RetentionRule", "RulePreview", "RunCategoryReport",
    "RunReport", "anonymised_payload", "apply_retention", "describe_age", "frozen_subject_ids", "interrupted_run",
    "list_rules", "list_runs", "parse_age", "preview_items", "preview_retention", "preview_rule",
    "resume_retention", "run_report", "set_rule",
]
