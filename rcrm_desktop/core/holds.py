"""Legal holds (GDPR Art. 17(3)(e)): exceptions to erasure and retention, placed and released with a reason.

A hold names exactly one target — a user account (``Subject``), a recording or
a crash group — with a reason and an owner (the officer who placed it).
What a hold covers (Google Vault's rule, DOMAIN.md: **holds always win** over
retention rules):

* a hold on a **user account** covers the account and everything linked to it:
  its recordings (with their annotations), its crash events and its rights
  requests. Erasure refuses to run while it is active (``core.erasure``);
* a hold on a **recording** covers the recording, its audio file and its
  annotations (erasure keeps it, unlinked from the account);
* a hold on a **crash group** covers every event counted in it or first grouped
  into it (``group`` or ``original_group``), so a merge does not lift it.

``core.retention`` builds its "held back" conditions from the subqueries here
(``held_subject_ids``, ``held_recording_ids``, ``held_group_ids``), so the rule
that decides what a hold covers lives in one place. A released hold stays as a
record (who placed it, why, when it was released and why) until the target
itself is deleted.

Guarantees: placing and releasing need ``holds.manage`` (compliance
officers); a reason is required; each is one transaction with one audit event
holding ids only (the reason is free text and may name people, so it is never
copied into the audit log). On PostgreSQL and MariaDB the target row is locked
(``SELECT … FOR UPDATE``) while the hold is placed, and a retention batch locks
the same rows before it re-checks its items, so a hold placed while a purge
runs either lands first (the item is kept) or finds the item already gone (the
placement is refused). SQLite serialises writers anyway (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee

from rcrm_desktop import settings
from rcrm_desktop.core import audit
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import CrashGroup, LegalHold, Operator, Recording, Subject, database, utcnow
from rcrm_desktop.errors import NotFoundError, ValidationError

#: What a hold can be placed on, with the words a person uses.
TARGETS: dict[str, str] = {
    "subject": "User account",
    "recording": "Recording",
    "crash_group": "Crash group",
}

#: ``list_holds`` filters.
STATUSES = ("active", "released", "all")


@dataclass(frozen=True)
class HoldRow:
    """One legal hold as lists and reports show it (small and immutable, for table models)."""

    id: int
    target: str
    target_id: int | None
    target_label: str
    subject_user_id: str | None
    reason: str
    owner_id: int
    owner: str
    created_at: dt.datetime
    released_at: dt.datetime | None
    release_reason: str | None
    #: The pseudonymous reference of an erased account whose held recording this is (see ``core.erasure``).
    subject_ref: str | None

    @property
    def active(self) -> bool:
        return self.released_at is None

    @property
    def short_label(self) -> str:
        """``Legal hold #3`` — how previews and reports refer to it."""
        return f"Legal hold #{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "target": self.target, "target_id": self.target_id, "target_label": self.target_label,
            "subject_user_id": self.subject_user_id, "reason": self.reason,
            "owner": {"id": self.owner_id, "username": self.owner},
            "created_at": _iso(self.created_at), "released_at": _iso(self.released_at),
            "release_reason": self.release_reason, "subject_ref": self.subject_ref, "active": self.active,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (typed loosely: peewee's stubs cannot name the columns)."""
    return list(query.tuples())


def _fk(row: Any, name: str) -> int | None:
    """The id a foreign key of ``row`` holds, without loading the referenced row."""
    value = getattr(row, f"{name}_id")
    return int(value) if value is not None else None


# ================================================================ what holds cover (used by retention)


def held_subject_ids() -> peewee.SelectQuery:
    """Subquery: ids of user accounts under an active hold (never NULL, so ``NOT IN`` is safe)."""
    return LegalHold.select(LegalHold.subject).where(LegalHold.subject.is_null(False) & LegalHold.released_at.is_null())


def held_recording_ids() -> peewee.SelectQuery:
    """Subquery: ids of recordings under an active hold of their own (never NULL)."""
    return LegalHold.select(LegalHold.recording).where(
        LegalHold.recording.is_null(False) & LegalHold.released_at.is_null())


def held_group_ids() -> peewee.SelectQuery:
    """Subquery: ids of crash groups under an active hold (never NULL)."""
    return LegalHold.select(LegalHold.crash_group).where(
        LegalHold.crash_group.is_null(False) & LegalHold.released_at.is_null())


def active_holds_by_target() -> dict[str, dict[int, list[tuple[int, str]]]]:
    """``{"subject"|"recording"|"crash_group": {target id: [(hold id, reason), …]}}`` of every active hold.

    Holds are few (a handful per matter), so previews look reasons up here
    instead of joining per item. Reads ids and reasons only; no permission:
    callers are core functions that checked theirs.
    """
    found: dict[str, dict[int, list[tuple[int, str]]]] = {key: {} for key in TARGETS}
    query = (LegalHold.select(LegalHold.id, LegalHold.subject, LegalHold.recording, LegalHold.crash_group,
                              LegalHold.reason)
             .where(LegalHold.released_at.is_null()).order_by(LegalHold.id))
    for hold_id, subject, recording, group, reason in _tuples(query):
        for key, value in (("subject", subject), ("recording", recording), ("crash_group", group)):
            if value is not None:
                found[key].setdefault(int(value), []).append((int(hold_id), str(reason)))
    return found


def lock_rows(model: type[peewee.Model], ids: Iterable[int]) -> None:
    """Lock rows of ``model`` for the rest of the transaction (``FOR UPDATE`` on the server engines).

    SQLite needs nothing: its transactions start with ``BEGIN IMMEDIATE``, so
    writers are serialised already. Must run inside a transaction.
    """
    wanted = sorted({int(i) for i in ids})
    if not wanted or engine_name() == "sqlite":
        return
    key: Any = model._meta.primary_key
    for start in range(0, len(wanted), 400):
        _tuples(model.select(key).where(key.in_(wanted[start:start + 400])).order_by(key).for_update())


# ================================================================ reading


@dataclass(frozen=True)
class _Target:
    subject: int | None
    recording: int | None
    group: int | None


def _target(hold: LegalHold) -> _Target:
    return _Target(_fk(hold, "subject"), _fk(hold, "recording"), _fk(hold, "crash_group"))


def _labels(rows: list[LegalHold]) -> dict[int, tuple[str, str | None]]:
    """hold id → (target label, the account's user ID where the target is an account or its recording)."""
    targets = {int(r.id): _target(r) for r in rows}
    subject_ids = {t.subject for t in targets.values() if t.subject is not None}
    recording_ids = {t.recording for t in targets.values() if t.recording is not None}
    group_ids = {t.group for t in targets.values() if t.group is not None}
    recordings = {int(rec.id): rec for rec in Recording.select(Recording.id, Recording.subject, Recording.started_at,
                                                               Recording.direction)
                  .where(Recording.id.in_(sorted(recording_ids) or [0]))}
    owner_of = {rid: _fk(rec, "subject") for rid, rec in recordings.items()}
    subject_ids |= {sid for sid in owner_of.values() if sid is not None}
    subjects = {int(s.id): s for s in Subject.select(Subject.id, Subject.user_id, Subject.name)
                .where(Subject.id.in_(sorted(subject_ids) or [0]))}
    groups = {int(g.id): g for g in CrashGroup.select(CrashGroup.id, CrashGroup.title)
              .where(CrashGroup.id.in_(sorted(group_ids) or [0]))}
    out: dict[int, tuple[str, str | None]] = {}
    for row in rows:
        target = targets[int(row.id)]
        if target.subject is not None:
            subject = subjects.get(target.subject)
            out[row.id] = ((f"{subject.user_id} · {subject.name}", str(subject.user_id)) if subject is not None
                           else (f"User account #{target.subject}", None))
        elif target.recording is not None:
            rec = recordings.get(target.recording)
            if rec is None:
                out[row.id] = (f"Recording #{target.recording}", None)
                continue
            owner_id = owner_of.get(target.recording)
            owner = subjects.get(owner_id) if owner_id is not None else None
            if owner is not None:
                whose = f" · {owner.user_id}"
            elif row.subject_ref:
                whose = f" · former account {str(row.subject_ref)[:12]}"
            else:
                whose = ""
            out[row.id] = (f"Recording #{rec.id} · {rec.started_at:%Y-%m-%d %H:%M} · {rec.direction}{whose}",
                           str(owner.user_id) if owner is not None else None)
        elif target.group is not None:
            group = groups.get(target.group)
            title = str(group.title) if group is not None else ""
            out[row.id] = (f"Crash group #{target.group}" + (f" · {title[:120]}" if title else ""), None)
        else:
            out[row.id] = ("(target deleted)", None)
    return out


def _rows(holds: list[LegalHold]) -> list[HoldRow]:
    if not holds:
        return []
    labels = _labels(holds)
    owner_ids = {int(h.id): int(_fk(h, "owner") or 0) for h in holds}
    owners = {int(o.id): str(o.username) for o in Operator.select(Operator.id, Operator.username)
              .where(Operator.id.in_(sorted(set(owner_ids.values()))))}
    out = []
    for h in holds:
        target = _target(h)
        kind, target_id = (("subject", target.subject) if target.subject is not None
                           else ("recording", target.recording) if target.recording is not None
                           else ("crash_group", target.group))
        label, user_id = labels[h.id]
        owner = owner_ids[int(h.id)]
        out.append(HoldRow(int(h.id), kind, target_id, label, user_id, str(h.reason), owner, owners.get(owner, "—"),
                           h.created_at, h.released_at, h.release_reason, h.subject_ref))
    return out


def list_holds(actor: Actor, status: str = "active", *, before_id: int | None = None, limit: int = 200
               ) -> list[HoldRow]:
    """Holds, newest first, one keyset page (``before_id`` = the last id of the previous page).

    ``status`` is ``active``, ``released`` or ``all``. Reading holds is part of
    managing them (``holds.manage``); labels name the accounts, so the list is
    for compliance officers only.
    """
    require(actor, Permission.HOLDS_MANAGE)
    if status not in STATUSES:
        raise ValidationError(f"“{str(status)[:40]}” is not a hold status; choose one of {', '.join(STATUSES)}.")
    with database_errors():
        query = LegalHold.select()
        if status == "active":
            query = query.where(LegalHold.released_at.is_null())
        elif status == "released":
            query = query.where(LegalHold.released_at.is_null(False))
        if before_id is not None:
            query = query.where(LegalHold.id < before_id)
        return _rows(list(query.order_by(LegalHold.id.desc()).limit(max(1, min(int(limit), 1000)))))


def count_holds(actor: Actor) -> tuple[int, int]:
    """(active, released) hold counts, for tab titles and the empty state."""
    require(actor, Permission.HOLDS_MANAGE)
    with database_errors():
        active = int(LegalHold.select().where(LegalHold.released_at.is_null()).count())
        released = int(LegalHold.select().where(LegalHold.released_at.is_null(False)).count())
    return active, released


def get_hold(actor: Actor, hold_id: int) -> HoldRow:
    require(actor, Permission.HOLDS_MANAGE)
    with database_errors():
        hold = LegalHold.get_or_none(LegalHold.id == _hold_id(hold_id))
        if hold is None:
            raise NotFoundError(f"There is no legal hold #{hold_id}.")
        return _rows([hold])[0]


def _hold_id(value: Any) -> int:
    text = str(value).strip().lstrip("#").strip()
    if not text.isdigit() or len(text) > 12:
        raise ValidationError(f"“{str(value)[:40]}” is not a legal hold number.")
    return int(text)


def _reason(text: str | None, what: str) -> str:
    value = (text or "").strip()
    if not value:
        raise ValidationError(f"{what} is required: say why (a matter, a complaint, an authority's order).")
    if len(value) > settings.MAX_REASON_LENGTH:
        raise ValidationError(f"{what} is {len(value):,} characters long; at most {settings.MAX_REASON_LENGTH:,} "
                              "are allowed.")
    return value


# ================================================================ placing and releasing


def add_hold(actor: Actor, reason: str, *, subject_id: int | None = None, user_id: str | None = None,
             recording_id: int | None = None, crash_group_id: int | None = None) -> HoldRow:
    """Place a legal hold on exactly one target, with a reason; the actor becomes its owner.

    The account can be named by its internal id or by its user ID. From the
    commit on, retention and erasure keep the target (see the module
    docstring). Audited as ``hold.add`` with the hold and target ids.
    """
    require(actor, Permission.HOLDS_MANAGE)
    named = [v for v in (subject_id, user_id, recording_id, crash_group_id) if v not in (None, "")]
    if len(named) != 1 or (subject_id is not None and user_id):
        raise ValidationError("Name exactly one target for the hold: a user account, a recording or a crash group.")
    why = _reason(reason, "The reason for the hold")
    with database_errors(), database.atomic():
        values: dict[str, Any] = {"reason": why, "owner": actor.operator_id, "created_at": utcnow()}
        if subject_id is not None or user_id:
            subject = (Subject.get_or_none(Subject.id == int(subject_id)) if subject_id is not None
                       else Subject.get_or_none(Subject.user_id == str(user_id).strip()))
            if subject is None:
                named_as = f"#{subject_id}" if subject_id is not None else f"“{str(user_id)[:64]}”"
                raise NotFoundError(f"There is no user account {named_as}.")
            lock_rows(Subject, [subject.id])
            if Subject.get_or_none(Subject.id == subject.id) is None:
                raise NotFoundError("The user account was erased meanwhile; no hold was placed.")
            values["subject"] = subject.id
            target_type, target_id = "subject", int(subject.id)
        elif recording_id is not None:
            lock_rows(Recording, [int(recording_id)])
            if Recording.get_or_none(Recording.id == int(recording_id)) is None:
                raise NotFoundError(f"There is no recording #{recording_id} (it may have been deleted by retention "
                                    "or erasure).")
            values["recording"] = int(recording_id)
            target_type, target_id = "recording", int(recording_id)
        else:
            assert crash_group_id is not None
            lock_rows(CrashGroup, [int(crash_group_id)])
            if CrashGroup.get_or_none(CrashGroup.id == int(crash_group_id)) is None:
                raise NotFoundError(f"There is no crash group #{crash_group_id}.")
            values["crash_group"] = int(crash_group_id)
            target_type, target_id = "crash_group", int(crash_group_id)
        hold = LegalHold.create(**values)
        audit.record(actor, "hold.add", "legal_hold", hold.id, on=target_type, on_id=target_id)
        return _rows([LegalHold.get_by_id(hold.id)])[0]


def release_hold(actor: Actor, hold_id: int, reason: str) -> HoldRow:
    """Release an active hold, with a reason; from then on retention and erasure may remove the target.

    The hold stays as a record. Releasing a hold that was released already is
    refused (``ValidationError``), also when another workstation released it a
    moment ago. Audited as ``hold.release``.
    """
    require(actor, Permission.HOLDS_MANAGE)
    why = _reason(reason, "The reason for releasing the hold")
    ident = _hold_id(hold_id)
    with database_errors(), database.atomic():
        hold = LegalHold.get_or_none(LegalHold.id == ident)
        if hold is None:
            raise NotFoundError(f"There is no legal hold #{ident}.")
        changed = (LegalHold.update(released_at=utcnow(), release_reason=why)
                   .where((LegalHold.id == ident) & LegalHold.released_at.is_null()).execute())
        if changed != 1:
            fresh = LegalHold.get_by_id(ident)
            raise ValidationError(f"Legal hold #{ident} was already released on "
                                  f"{fresh.released_at:%Y-%m-%d %H:%M} UTC.")
        audit.record(actor, "hold.release", "legal_hold", ident)
        return _rows([LegalHold.get_by_id(ident)])[0]


__all__ = ["HoldRow", "STATUSES", "TARGETS", "active_holds_by_target", "add_hold", "count_holds", "get_hold",
           "held_group_ids", "held_recording_ids", "held_subject_ids", "list_holds", "lock_rows", "release_hold"]
