"""The audit log: append-only, hash-chained, free of personal data.

Every change, and every view of personal data, appends one ``AuditEvent`` in the
same transaction as the work it records (ARCHITECTURE.md: "does its writes in
one transaction, and appends its audit event in the same transaction").

The chain: event *n* stores ``prev_hash`` = hash of event *n−1* (64 zeros for the
first) and ``hash`` = SHA-256 over its own canonical content plus ``prev_hash``.
``AuditHead`` holds the last sequence number and hash. Appending first updates
the head row, which takes a write lock on every engine (a row lock on
PostgreSQL/MariaDB, the database lock on SQLite), so workstations append one at
a time and the chain never forks. ``verify_chain`` recomputes every hash and
reports the first event that was edited, deleted, inserted or reordered, and a
tail cut off after the head was written.

Details hold ids, field names and counts only — never names, contact data,
search text or audio — so erasing a subject leaves nothing of them here
(privacy rules).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from peewee import JOIN

from rcrm_desktop.core.pages import DT, Expr, RowsBuilder, Statements
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.db.migrations import GENESIS_HASH
from rcrm_desktop.db.models import AuditEvent, AuditHead, Operator, database, utcnow
from rcrm_desktop.errors import ValidationError

#: Keys that must never appear in audit details (they would carry personal data).
FORBIDDEN_DETAIL_KEYS = frozenset(
    {"name", "email", "phone", "birth_date", "old_value", "new_value", "query", "search", "text", "password"}
)


def _canonical(seq: int, at: dt.datetime, operator_id: int | None, action: str,
               target_type: str | None, target_id: str | None, details: str, prev_hash: str) -> bytes:
    payload = [seq, at.strftime("%Y-%m-%dT%H:%M:%S.%f"), operator_id, action, target_type, target_id,
               details, prev_hash]
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def compute_hash(seq: int, at: dt.datetime, operator_id: int | None, action: str,
                 target_type: str | None, target_id: str | None, details: str, prev_hash: str) -> str:
    return hashlib.sha256(
        _canonical(seq, at, operator_id, action, target_type, target_id, details, prev_hash)
    ).hexdigest()


def _check_details(details: dict[str, Any]) -> str:
    bad = FORBIDDEN_DETAIL_KEYS.intersection(details)
    if bad:
        raise ValueError(f"audit details must not carry personal data (keys: {sorted(bad)})")
    return json.dumps(details, ensure_ascii=True, sort_keys=True, separators=(",", ":"), default=str)


@functools.lru_cache(maxsize=8)
def _append_sql(quote: str, param: str, returning: bool) -> tuple[str, str, str, str]:
    """The four statements of an append, written once per SQL dialect.

    Building them through the query builder on every call cost more than
    running them (about 0.3 ms of the 0.5 ms an append took on SQLite), and
    every audited page pays for one append.
    """
    def q(name: str) -> str:
        return f"{quote[0]}{name}{quote[1]}"

    head, event = q(AuditHead._meta.table_name), q(AuditEvent._meta.table_name)
    lock = f"UPDATE {head} SET {q('last_seq')} = {q('last_seq')} WHERE {q('id')} = 1"
    read = f"SELECT {q('last_seq')}, {q('last_hash')} FROM {head} WHERE {q('id')} = 1"
    columns = ("seq", "at", "operator_id", "action", "target_type", "target_id", "details", "prev_hash", "hash")
    insert = (f"INSERT INTO {event} ({', '.join(q(c) for c in columns)}) "
              f"VALUES ({', '.join([param] * len(columns))})" + (f" RETURNING {q('id')}" if returning else ""))
    advance = f"UPDATE {head} SET {q('last_seq')} = {param}, {q('last_hash')} = {param} WHERE {q('id')} = 1"
    return lock, read, insert, advance


def record(actor: Actor | None, action: str, target_type: str | None = None,
           target_id: object | None = None, **details: Any) -> AuditEvent:
    """Append one event. Call inside the transaction of the work it records.

    Returns the event as stored (an unsaved-looking model instance carrying
    the row's id; appends are never updated).
    """
    details_json = _check_details(details)
    db = database.obj
    lock, read, insert, advance = _append_sql(db.quote, db.param, bool(db.returning_clause))
    with database.atomic():
        # Taking the head's write lock first serialises appends across workstations.
        database.execute_sql(lock)
        row = database.execute_sql(read).fetchone()
        if row is None:
            raise cast(Any, AuditHead).DoesNotExist("the audit log's head record is missing")
        last_seq, last_hash = int(row[0]), str(row[1])
        seq = last_seq + 1
        at = utcnow()
        operator_id = actor.operator_id if actor else None
        tid = None if target_id is None else str(target_id)
        digest = compute_hash(seq, at, operator_id, action, target_type, tid, details_json, last_hash)
        at_db = AuditEvent.at.db_value(at)  # type: ignore[no-untyped-call]
        cursor = database.execute_sql(insert, (seq, at_db, operator_id, action, target_type, tid, details_json,
                                               last_hash, digest))
        event_id = cursor.fetchone()[0] if db.returning_clause else cursor.lastrowid
        database.execute_sql(advance, (seq, digest))
    return AuditEvent(id=event_id, seq=seq, at=at, operator_id=operator_id, action=action, target_type=target_type,
                      target_id=tid, details=details_json, prev_hash=last_hash, hash=digest)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return f"OK {self.count} events"
        return f"BROKEN at event {self.broken_seq} (row id {self.broken_id}): {self.problem}"


def verify_chain(batch: int = 5000) -> ChainReport:
    """Recompute the chain from the first event; report the first break.

    Needs no permission: it reads no personal data and is what an auditor runs.
    """
    expected_prev = GENESIS_HASH
    expected_seq = 1
    last_id = 0
    count = 0
    while True:
        rows = list(
            AuditEvent.select().where(AuditEvent.seq >= expected_seq).order_by(AuditEvent.seq).limit(batch)
        )
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainReport(False, count, expected_seq, ev.id,
                                   f"event {expected_seq} is missing (next is {ev.seq}): a row was deleted")
            if ev.prev_hash != expected_prev:
                return ChainReport(False, count, ev.seq, ev.id,
                                   "its link to the previous event does not match: rows were deleted, "
                                   "inserted or reordered")
            digest = compute_hash(ev.seq, ev.at, ev.operator_id, ev.action, ev.target_type, ev.target_id,
                                  ev.details, ev.prev_hash)
            if digest != ev.hash:
                return ChainReport(False, count, ev.seq, ev.id, "its content was changed after it was written")
            if ev.id <= last_id:
                return ChainReport(False, count, ev.seq, ev.id, "events were reordered")
            last_id = ev.id
            expected_prev = ev.hash
            expected_seq += 1
            count += 1
    head = AuditHead.get_or_none(AuditHead.id == 1)
    if head is None:
        return ChainReport(False, count, None, None, "the chain's head record is missing")
    if head.last_seq != count or head.last_hash != expected_prev:
        return ChainReport(False, count, count + 1, None,
                           f"the head says {head.last_seq} events but {count} were found: "
                           "events at the end were deleted")
    return ChainReport(True, count)


@dataclass(frozen=True)
class AuditFilter:
    operator_id: int | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: int
    seq: int
    at: dt.datetime
    operator_id: int | None
    operator: str
    action: str
    target_type: str | None
    target_id: str | None
    details: str
    hash: str
    prev_hash: str = ""


def _filtered(flt: AuditFilter):  # type: ignore[no-untyped-def]
    query = AuditEvent.select()
    if flt.operator_id is not None:
        query = query.where(AuditEvent.operator_id == flt.operator_id)
    if flt.action:
        if flt.action.endswith("*"):
            query = query.where(AuditEvent.action.startswith(flt.action[:-1]))
        else:
            query = query.where(AuditEvent.action == flt.action)
    if flt.target_type:
        query = query.where(AuditEvent.target_type == flt.target_type)
    if flt.target_id:
        query = query.where(AuditEvent.target_id == flt.target_id)
    if flt.since:
        query = query.where(AuditEvent.at >= flt.since)
    if flt.until:
        query = query.where(AuditEvent.at < flt.until)
    return query


def _operator_names() -> dict[int, str]:
    return {op.id: op.username for op in Operator.select(Operator.id, Operator.username)}


def list_events(actor: Actor, flt: AuditFilter = AuditFilter(), *, before_seq: int | None = None,
                limit: int = 200) -> list[AuditRow]:
    """Newest first, one keyset page (``before_seq`` = the last seq of the previous page)."""
    require(actor, Permission.AUDIT_VIEW)

    def build(*before: int) -> Any:
        # one query with the operator's name joined: no model object per row, no second query per page
        query = _filtered(flt).select(*_PAGE_FIELDS).join(Operator, JOIN.LEFT_OUTER,
                                                           on=(Operator.id == AuditEvent.operator_id))
        if before:
            query = query.where(AuditEvent.seq < before[0])
        return query.order_by(AuditEvent.seq.desc()).limit(limit)

    values = () if before_seq is None else (int(before_seq),)
    if flt == AuditFilter():  # the log as opened and scrolled: one SQL text per page size
        sql, params = _PAGES.sql((limit, before_seq is None), build, values)
    else:
        sql, params = build(*values).sql()
    return _page_rows(database.execute_sql(sql, params).fetchall())


_PAGE_FIELDS = (AuditEvent.id, AuditEvent.seq, AuditEvent.at, AuditEvent.operator_id, AuditEvent.action,
                AuditEvent.target_type, AuditEvent.target_id, AuditEvent.details, AuditEvent.hash,
                AuditEvent.prev_hash, Operator.username)
#: ``AuditRow``s from driver tuples in ``_PAGE_FIELDS`` order; an event without an operator was the system's.
_page_rows = RowsBuilder(AuditRow, len(_PAGE_FIELDS), (
    0, 1, DT(2), 3, Expr('"system" if c3 is None else "—" if c10 is None else c10'), 4, 5, 6, 7, 8, 9))
_PAGES = Statements()


def _row(ev: AuditEvent, names: dict[int, str]) -> AuditRow:
    operator = names.get(ev.operator_id, "—") if ev.operator_id is not None else "system"
    return AuditRow(ev.id, ev.seq, ev.at, ev.operator_id, operator, ev.action, ev.target_type, ev.target_id,
                    ev.details, ev.hash, ev.prev_hash)


def iter_events(actor: Actor, flt: AuditFilter = AuditFilter(), batch: int = 2000) -> Iterator[AuditRow]:
    """All matching events, oldest first, in keyset batches (for exports).

    The permission is checked when called, not when the first row is pulled.
    """
    require(actor, Permission.AUDIT_VIEW)
    return _iter_events(flt, batch)


def _iter_events(flt: AuditFilter, batch: int) -> Iterator[AuditRow]:
    names = _operator_names()
    after = 0
    while True:
        rows = list(_filtered(flt).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch))
        if not rows:
            return
        for ev in rows:
            yield _row(ev, names)
        after = rows[-1].seq


CSV_HEADER = ["seq", "time_utc", "operator", "operator_id", "action", "target_type", "target_id", "details",
              "hash"]


def export_csv(actor: Actor, flt: AuditFilter, out: io.TextIOBase | Any) -> int:
    """Write matching events as CSV; the export itself is audited. Returns the row count."""
    require(actor, Permission.AUDIT_VIEW)
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    count = 0
    for row in iter_events(actor, flt):
        writer.writerow([row.seq, row.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), row.operator, row.operator_id or "",
                         row.action, row.target_type or "", row.target_id or "", row.details, row.hash])
        count += 1
    with database.atomic():
        record(actor, "audit.export", "audit", None, rows=count)
    return count


def distinct_actions() -> list[str]:
    return [r.action for r in AuditEvent.select(AuditEvent.action).distinct().order_by(AuditEvent.action)]


def distinct_target_types() -> list[str]:
    return [str(r.target_type) for r in AuditEvent.select(AuditEvent.target_type).distinct()
            .where(AuditEvent.target_type.is_null(False)).order_by(AuditEvent.target_type)]


def recent_count(since: dt.datetime) -> int:
    return AuditEvent.select().where(AuditEvent.at >= since).count()


def parse_time_bound(text: str | None, *, end: bool = False) -> dt.datetime | None:
    """Parse ``YYYY-MM-DD`` or an ISO time (local time when no zone) into naive UTC."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"“{text}” is not a date (YYYY-MM-DD) or an ISO 8601 time.") from exc
    if len(text) == 10 and end:
        value += dt.timedelta(days=1)
    if value.tzinfo is None:
        value = value.astimezone()
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def audited_ids(ids: Iterable[int], limit: int = 500) -> list[int]:
    """The ids to store in a 'viewed' event (bounded so one event stays small)."""
    out = []
    for i in ids:
        out.append(int(i))
        if len(out) >= limit:
            break
    return out
