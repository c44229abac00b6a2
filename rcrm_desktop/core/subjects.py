"""Subjects: the CRM's user accounts, their search, detail and rectification.

* Search ignores case and accents (``stastny`` finds ``Šťastný``) through the
  folded ``search_key`` column and matches a substring of the name or user ID.
* Lists are keyset-paged on (sort key, id): a page never costs more than the
  rows it returns plus an index walk, at a million subjects as at ten.
* Showing personal data is audited: every page of a list or search records the
  ids shown; opening a subject records the view (issue: "every view of personal
  data ... is an event"). Search text itself is never written to the audit log.
* Rectification (GDPR Art. 16): each corrected field keeps old and new value,
  the reason and the operator in ``SubjectChange``, which belongs to the
  subject and is erased with it; the audit event names only the field.
* Two workstations editing the same subject: the update names the ``version``
  it read; when another edit got there first, ``ConflictError`` carries the
  current value instead of overwriting it.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee

from rcrm_desktop import settings
from rcrm_desktop.core import audit
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import (
    CrashEvent,
    LegalHold,
    Operator,
    Recording,
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, ValidationError

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")
USER_ID_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

#: Fields an operator may correct, with their labels (the audit stores only the key).
RECTIFIABLE_FIELDS: dict[str, str] = {
    "name": "Name",
    "email": "E-mail",
    "phone": "Phone",
    "birth_date": "Date of birth",
}

#: Columns a list may be sorted by: the name a caller uses → the indexed column.
SORT_COLUMNS: dict[str, peewee.Field] = {
    "name": Subject.name_key,
    "user_id": Subject.user_id,
    "created_at": Subject.created_at,
    "last_active_at": Subject.last_active_at,
    "id": Subject.id,
}

CSV_HEADER = ["user_id", "name", "email", "phone", "birth_date", "created_at", "last_active_at"]


@dataclass(frozen=True)
class SubjectRow:
    id: int
    user_id: str
    name: str
    email: str | None
    phone: str | None
    birth_date: dt.date | None
    created_at: dt.datetime
    last_active_at: dt.datetime | None
    restricted: bool
    objected: bool
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "created_at": _iso(self.created_at),
            "last_active_at": _iso(self.last_active_at),
            "restricted": self.restricted,
            "objected": self.objected,
            "version": self.version,
        }


@dataclass(frozen=True)
class ChangeRow:
    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    operator: str
    changed_at: dt.datetime
    request_id: int | None


@dataclass(frozen=True)
class SubjectDetail:
    subject: SubjectRow
    recordings: int
    crash_events: int
    requests: int
    open_requests: int
    active_holds: int
    changes: list[ChangeRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = self.subject.as_json()
        data["counts"] = {
            "recordings": self.recordings,
            "crash_events": self.crash_events,
            "requests": self.requests,
            "open_requests": self.open_requests,
            "active_legal_holds": self.active_holds,
        }
        data["change_history"] = [
            {"field": c.field, "old_value": c.old_value, "new_value": c.new_value, "reason": c.reason,
             "operator": c.operator, "changed_at": _iso(c.changed_at), "request_id": c.request_id}
            for c in self.changes
        ]
        return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


_ROW_FIELDS = (Subject.id, Subject.user_id, Subject.name, Subject.email, Subject.phone, Subject.birth_date,
               Subject.created_at, Subject.last_active_at, Subject.restricted, Subject.objected,
               Subject.version)


def _row(s: Subject) -> SubjectRow:
    return SubjectRow(s.id, s.user_id, s.name, s.email, s.phone, s.birth_date, s.created_at, s.last_active_at,
                      bool(s.restricted), bool(s.objected), s.version)


def make_search_key(name: str, user_id: str) -> str:
    return f"{fold(name)} {fold(user_id)}"[:300]


# ---------------------------------------------------------------- validation


def _clean_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def validate_user_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationError("A user ID is required.")
    if len(text) > 64:
        raise ValidationError(f"The user ID is {len(text):,} characters long; at most 64 are allowed.")
    if not USER_ID_RE.match(text):
        raise ValidationError("The user ID contains control characters.")
    return text


def validate_field(name: str, value: str | None) -> Any:
    """Check and normalise one subject field; raise ``ValidationError`` naming what is wrong."""
    raw = (value or "").strip()
    if name == "name":
        text = _clean_text(raw)
        if not text:
            raise ValidationError("A name is required.")
        if len(text) > settings.MAX_NAME_LENGTH:
            raise ValidationError(
                f"The name is {len(text):,} characters long; at most {settings.MAX_NAME_LENGTH} are allowed."
            )
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise ValidationError("The name contains control characters.")
        return text
    if not raw:
        return None
    if name == "email":
        if len(raw) > settings.MAX_FIELD_LENGTH or not EMAIL_RE.match(raw):
            raise ValidationError(f"“{raw[:80]}” is not an e-mail address.")
        return raw
    if name == "phone":
        if not PHONE_RE.match(raw):
            raise ValidationError(f"“{raw[:80]}” is not a phone number (digits, spaces, + ( ) . / -).")
        return raw
    if name == "birth_date":
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError as exc:
            raise ValidationError(f"“{raw[:40]}” is not a date; use YYYY-MM-DD.") from exc
        if day > dt.date.today() or day.year < 1890:
            raise ValidationError(f"{day.isoformat()} is not a plausible date of birth.")
        return day
    if name in {"created_at", "last_active_at"}:
        return _parse_utc(raw, name)
    raise ValidationError(f"“{name}” is not a field of a user account.")


def _parse_utc(raw: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{name} “{raw[:40]}” is not an ISO 8601 time.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _display(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class PageKey:
    """Where the next keyset page starts: the last row's sort value and id."""

    value: Any
    id: int


def _apply_search(query: peewee.ModelSelect, text: str | None) -> peewee.ModelSelect:
    if text:
        folded = fold(text)
        if folded:
            for word in folded.split(" "):
                query = query.where(Subject.search_key.contains(word))
    return query


def list_subjects(actor: Actor, search: str | None = None, *, sort: str = "name", descending: bool = False,
                  after: PageKey | None = None, limit: int = settings.PAGE_SIZE,
                  audit_view: bool = True) -> list[SubjectRow]:
    """One keyset page of subjects matching ``search`` (substring of name or user ID, any case/accents)."""
    require(actor, Permission.SUBJECTS_VIEW)
    if search is not None and len(search) > 200:
        raise ValidationError("The search text is too long (at most 200 characters).")
    column = SORT_COLUMNS.get(sort)
    if column is None:
        raise ValidationError(f"Cannot sort by “{sort}”; choose one of {', '.join(SORT_COLUMNS)}.")
    sort_expr: Any = column
    if sort == "last_active_at":
        sort_expr = peewee.fn.COALESCE(Subject.last_active_at, dt.datetime(1900, 1, 1))
    query = _apply_search(Subject.select(*_ROW_FIELDS), search)
    if after is not None:
        value = after.value
        if sort == "last_active_at" and value is None:
            value = dt.datetime(1900, 1, 1)
        if descending:
            query = query.where((sort_expr < value) | ((sort_expr == value) & (Subject.id < after.id)))
        else:
            query = query.where((sort_expr > value) | ((sort_expr == value) & (Subject.id > after.id)))
    if descending:
        query = query.order_by(sort_expr.desc(), Subject.id.desc())
    else:
        query = query.order_by(sort_expr.asc(), Subject.id.asc())
    with database_errors():
        rows = [_row(s) for s in query.limit(limit)]
        if audit_view and rows:
            with database.atomic():
                audit.record(actor, "subjects.search" if search else "subjects.list", "subject", None,
                             ids=[r.id for r in rows], query_length=len(search or ""))
    return rows


def page_key(row: SubjectRow, sort: str) -> PageKey:
    value = {"name": fold(row.name)[:200], "user_id": row.user_id, "created_at": row.created_at,
             "last_active_at": row.last_active_at, "id": row.id}[sort]
    return PageKey(value, row.id)


def count_subjects(actor: Actor, search: str | None = None) -> int:
    require(actor, Permission.SUBJECTS_VIEW)
    with database_errors():
        return _apply_search(Subject.select(), search).count()


def _get(subject_id: int | None = None, user_id: str | None = None) -> Subject:
    with database_errors():
        if subject_id is not None:
            subject = Subject.get_or_none(Subject.id == subject_id)
        else:
            subject = Subject.get_or_none(Subject.user_id == (user_id or "").strip())
    if subject is None:
        what = f"#{subject_id}" if subject_id is not None else f"“{(user_id or '')[:64]}”"
        raise NotFoundError(f"There is no user account {what}.")
    return subject


def get_subject(actor: Actor, *, subject_id: int | None = None, user_id: str | None = None) -> SubjectDetail:
    """Everything linked to one subject, for the detail pane and ``users show``. Audited as a view."""
    require(actor, Permission.SUBJECTS_VIEW)
    subject = _get(subject_id, user_id)
    open_states = ("received", "identity_verification", "in_progress", "awaiting_requester")
    with database_errors():
        changes = [
            ChangeRow(c.field, c.old_value, c.new_value, c.reason, c.operator.username, c.changed_at, c.request)
            for c in SubjectChange.select(SubjectChange, Operator).join(Operator)
            .where(SubjectChange.subject == subject.id).order_by(SubjectChange.changed_at.desc(),
                                                                 SubjectChange.id.desc())
        ]
        detail = SubjectDetail(
            subject=_row(subject),
            recordings=Recording.select().where(Recording.subject == subject.id).count(),
            crash_events=CrashEvent.select().where(CrashEvent.subject == subject.id).count(),
            requests=RightsRequest.select().where(RightsRequest.subject == subject.id).count(),
            open_requests=RightsRequest.select().where((RightsRequest.subject == subject.id)
                                                       & RightsRequest.state.in_(open_states)).count(),
            active_holds=LegalHold.select().where((LegalHold.subject == subject.id)
                                                  & LegalHold.released_at.is_null()).count(),
            changes=changes,
        )
        with database.atomic():
            audit.record(actor, "subject.view", "subject", subject.id)
    return detail


def rectify_subject(actor: Actor, subject_id: int, field_name: str, new_value: str | None, reason: str, *,
                    expected_version: int | None = None, request_id: int | None = None) -> SubjectRow:
    """Correct one field of a subject (GDPR Art. 16).

    Guarantees: the old and new values go to the subject's change history with
    the reason; the audit event records only which field changed; the update is
    refused with ``ConflictError`` (showing the current value) when another
    workstation changed the subject after ``expected_version`` was read.
    """
    require(actor, Permission.SUBJECTS_RECTIFY)
    if field_name not in RECTIFIABLE_FIELDS:
        raise ValidationError(f"“{field_name}” cannot be corrected; choose one of {', '.join(RECTIFIABLE_FIELDS)}.")
    reason_text = " ".join((reason or "").split())
    if not reason_text:
        raise ValidationError("A correction needs a reason (it goes to the subject's change history).")
    if len(reason_text) > settings.MAX_REASON_LENGTH:
        raise ValidationError(f"The reason may have at most {settings.MAX_REASON_LENGTH:,} characters.")
    value = validate_field(field_name, new_value)
    with database_errors(), database.atomic():
        subject = _get(subject_id)
        old = getattr(subject, field_name)
        if expected_version is not None and subject.version != expected_version:
            raise ConflictError(
                f"This user account was changed on another workstation. Its {RECTIFIABLE_FIELDS[field_name]} "
                f"is now “{_display(old) or '—'}”. Review the current value and correct again if needed.",
                current={field_name: _display(old), "version": subject.version},
            )
        if _display(old) == _display(value):
            raise ValidationError(f"The {RECTIFIABLE_FIELDS[field_name].lower()} already has this value.")
        changes: dict[Any, Any] = {field_name: value, "updated_at": utcnow(), "version": Subject.version + 1}
        if field_name == "name":
            changes["name_key"] = fold(value)[:200]
            changes["search_key"] = make_search_key(value, subject.user_id)
        updated = (Subject.update(changes)
                   .where((Subject.id == subject.id) & (Subject.version == subject.version)).execute())
        if updated != 1:
            current = _get(subject.id)
            raise ConflictError(
                "This user account was changed on another workstation while you edited it; "
                "review the current value and correct again if needed.",
                current={field_name: _display(getattr(current, field_name)), "version": current.version},
            )
        SubjectChange.create(subject=subject.id, field=field_name, old_value=_display(old),
                             new_value=_display(value), reason=reason_text, operator=actor.operator_id,
                             request=request_id)
        audit.record(actor, "subject.rectify", "subject", subject.id, field=field_name, request=request_id)
        return _row(_get(subject.id))


# ---------------------------------------------------------------- CSV import


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "refused": [{"line": line, "reason": reason} for line, reason in self.refused]}


IMPORT_BATCH = 500


def _parse_csv_row(raw: dict[str, str | None]) -> dict[str, Any]:
    values: dict[str, Any] = {"user_id": validate_user_id(raw.get("user_id") or "")}
    for name in ("name", "email", "phone", "birth_date", "created_at", "last_active_at"):
        values[name] = validate_field(name, raw.get(name))
    return values


def import_subjects_csv(actor: Actor, path: Path, *,
                        progress: Callable[[int], bool | None] | None = None) -> ImportReport:
    """Load accounts from a CSV with the header ``user_id,name,email,phone,birth_date,created_at,last_active_at``.

    Idempotent by user ID: a new ID is created, a known one is updated (each
    changed field goes to the subject's change history with the reason
    "import"). A bad row is refused with its line number and reason while the
    good rows load. Rows are written in atomic batches; ``progress`` gets the
    number of rows read and may return ``False`` to stop after the current batch.
    """
    require(actor, Permission.SUBJECTS_IMPORT)
    report = ImportReport()
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise ValidationError(f"The file {path} does not exist.") from exc
    except OSError as exc:
        raise ValidationError(f"The file {path} cannot be read: {exc.strerror}.") from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValidationError(f"{path.name} is not a UTF-8 CSV file ({exc}).") from exc
        missing = [h for h in ("user_id", "name") if h not in header]
        if missing:
            raise ValidationError(
                f"{path.name} has no {' and '.join(missing)} column; the header must be "
                + ",".join(CSV_HEADER) + "."
            )
        reader.fieldnames = header
        batch: list[tuple[int, dict[str, Any]]] = []
        seen: set[str] = set()
        rows_read = 0
        try:
            for raw in reader:
                rows_read += 1
                line = reader.line_num
                if None in raw:
                    report.refused.append((line, "the row has more fields than the header"))
                    continue
                try:
                    values = _parse_csv_row(raw)
                except ValidationError as exc:
                    report.refused.append((line, exc.message))
                    continue
                if values["user_id"] in seen:
                    report.refused.append((line, f"user ID {values['user_id']} appears earlier in the file"))
                    continue
                seen.add(values["user_id"])
                batch.append((line, values))
                if len(batch) >= IMPORT_BATCH:
                    _write_import_batch(actor, batch, report)
                    batch = []
                    if progress is not None and progress(rows_read) is False:
                        return report
        except (UnicodeDecodeError, csv.Error) as exc:
            report.refused.append((reader.line_num + 1, f"the file cannot be read from here on ({exc})"))
        if batch:
            _write_import_batch(actor, batch, report)
        if progress is not None:
            progress(rows_read)
    return report


def _write_import_batch(actor: Actor, batch: list[tuple[int, dict[str, Any]]], report: ImportReport) -> None:
    ids = [values["user_id"] for _, values in batch]
    created_ids: list[int] = []
    updated_ids: list[int] = []
    with database_errors(), database.atomic():
        existing = {s.user_id: s for s in Subject.select().where(Subject.user_id.in_(ids))}
        new_rows = []
        now = utcnow()
        for _line, values in batch:
            current = existing.get(values["user_id"])
            if current is None:
                new_rows.append({
                    **values,
                    "created_at": values["created_at"] or now,
                    "name_key": fold(values["name"])[:200],
                    "search_key": make_search_key(values["name"], values["user_id"]),
                    "updated_at": now,
                })
                continue
            changed = {}
            for name in ("name", "email", "phone", "birth_date", "last_active_at"):
                if values[name] is not None and _display(getattr(current, name)) != _display(values[name]):
                    changed[name] = values[name]
            if not changed:
                report.unchanged += 1
                continue
            for name, value in changed.items():
                if name in RECTIFIABLE_FIELDS:
                    SubjectChange.create(subject=current.id, field=name, old_value=_display(getattr(current, name)),
                                         new_value=_display(value), reason="import", operator=actor.operator_id)
            if "name" in changed:
                changed["name_key"] = fold(changed["name"])[:200]
                changed["search_key"] = make_search_key(changed["name"], current.user_id)
            Subject.update(**changed, updated_at=now, version=Subject.version + 1).where(
                Subject.id == current.id).execute()
            updated_ids.append(current.id)
        if new_rows:
            Subject.insert_many(new_rows).execute()
            created_ids = [s.id for s in Subject.select(Subject.id).where(
                Subject.user_id.in_([r["user_id"] for r in new_rows]))]
        report.created += len(created_ids)
        report.updated += len(updated_ids)
        audit.record(actor, "subjects.import", "subject", None, created=audit.audited_ids(created_ids),
                     updated=audit.audited_ids(updated_ids))


def export_rows(rows: Iterable[SubjectRow]) -> list[dict[str, Any]]:
    return [r.as_json() for r in rows]
