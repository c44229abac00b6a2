"""Call recordings: import, browse, listen, export, annotate, tag, redact, verify.

The rules this module enforces for every front door (GUI and CLI alike):

* **Permissions** (``core.permissions``): every public function that takes an
  ``actor`` calls ``require`` before it reads or writes anything. Import and
  annotation are support's work (``recordings.import``, ``recordings.annotate``);
  redaction is compliance's (``recordings.redact``); both may list, view, play
  and (compliance) export.
* **Restriction** (GDPR Art. 18): a restricted subject's data is kept but not
  used. Their recordings cannot be played, exported, annotated, tagged or
  redacted, and their waveform is not computed, except by a compliance officer
  (``Permission.SUBJECTS_RESTRICT``); the refusal is a ``PermissionDenied``
  that names the restriction.
* **Files and rows together**: a file is copied into the store atomically
  (``core.store``) before its row is written in one transaction with its tags
  and its audit event; if the transaction fails the copy is removed, so there
  is never a row without its file or a file without its row. Importing the
  same audio twice (same SHA-256, current or original) does not duplicate it.
* **Redaction really removes the sound** (PCI DSS): the audio is rewritten by
  ``audio.redact`` into a new file, checked (same format, same duration), and
  renamed over the stored one in the transaction that records the new hash,
  the ``Redaction`` row and the audit event; the old file is kept aside until
  the commit and then deleted; the waveform cache of the old audio is dropped.
* **Who listened**: viewing a recording, starting playback, exporting it,
  annotating, tagging and redacting are audit events with ``target_type``
  ``"recording"`` and the recording's id, so ``access_history`` and the Audit
  view can show them per recording. Details hold ids, region milliseconds and
  the reason's *length* — never names, annotation text, tags or audio.
* **Lists scale**: keyset pages on (sort column, id) with composite indexes
  (``db.models.Recording``); tags and annotation counts are fetched for the
  page's ids only; counting is capped and meant for a background task.
* **Start-up**: ``audio.peaks`` (numpy) is imported by the functions that draw
  or drop a waveform, not by this module: the main window imports it, and
  numpy alone cost 0.1–0.2 s of start-up.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import json
import os
import secrets
import shutil
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee
from peewee import JOIN

from rcrm_desktop import settings
from rcrm_desktop.audio.probe import SUPPORTED_FORMATS, AudioError, AudioInfo, probe
from rcrm_desktop.core import audit
from rcrm_desktop.core.instance import get_int_setting
from rcrm_desktop.core.pages import BOOL, DT, INT, Expr, RowsBuilder, Statements, fetch_tuples
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.store import PENDING_DIR_NAME, TEMP_SUFFIX, RecordingsStore, open_store, sha256_of
from rcrm_desktop.core.subjects import PageKey
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import (
    Annotation,
    AuditEvent,
    LegalHold,
    Operator,
    Recording,
    RecordingTag,
    Redaction,
    Subject,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, PermissionDenied, RcrmError, ValidationError

if TYPE_CHECKING:
    from rcrm_desktop.audio import peaks as peaks_mod

DIRECTIONS = ("inbound", "outbound")
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("file", "user_id", "started_at", "direction", "agent", "tags")
#: File names an import looks at (besides every file the manifest names); the content decides the format.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".mp4", ".aac"})
#: Store extension per probed format.
EXTENSIONS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "opus": "opus", "flac": "flac", "m4a": "m4a"}

MAX_TAG_LENGTH = 100
MAX_TAGS = 20
MAX_AGENT_LENGTH = 200
MAX_ANNOTATION_LENGTH = 2000
MAX_SEARCH_LENGTH = 200
#: The shortest region a redaction accepts (a region of a few samples is almost surely a slip).
MIN_REDACTION_MS = 10

#: Sort keys a list accepts → the indexed column (each has a composite index with ``id``).
SORT_COLUMNS: dict[str, peewee.Field] = {
    "started_at": Recording.started_at,
    "duration_ms": Recording.duration_ms,
    "agent": Recording.agent,
    "id": Recording.id,
}

#: Matching recordings are counted up to this many; beyond it the count says "more than".
COUNT_CAP = 100_000

#: Audit actions that make up a recording's access history ("who listened").
ACCESS_ACTIONS = ("recording.view", "recording.play", "recording.export", "recording.annotate", "recording.tag",
                  "recording.redact", "recordings.import")

#: ``progress(done, total, what)``; returning ``False`` stops after the current file.
Progress = Callable[[int, int, str], bool | None]


# ================================================================ rows


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class RecordingRow:
    """One line of the recordings table (what the list, the CLI and the detail header show)."""

    id: int
    started_at: dt.datetime
    subject_id: int | None
    user_id: str | None
    subject_name: str | None
    restricted: bool
    direction: str
    duration_ms: int
    agent: str | None
    tags: tuple[str, ...]
    annotations: int
    redacted: bool
    format: str
    sample_rate: int
    channels: int
    size_bytes: int
    sha256: str
    path: str
    file_present: bool
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "started_at": _iso(self.started_at), "subject_id": self.subject_id,
            "user_id": self.user_id, "subject_name": self.subject_name, "restricted": self.restricted,
            "direction": self.direction, "duration_ms": self.duration_ms, "agent": self.agent,
            "tags": list(self.tags), "annotations": self.annotations, "redacted": self.redacted,
            "format": self.format, "sample_rate": self.sample_rate, "channels": self.channels,
            "size_bytes": self.size_bytes, "sha256": self.sha256, "path": self.path,
            "file_present": self.file_present, "version": self.version,
        }


@dataclass(frozen=True)
class AnnotationRow:
    id: int
    recording_id: int
    position_ms: int
    end_ms: int | None
    text: str
    operator_id: int
    operator: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "position_ms": self.position_ms, "end_ms": self.end_ms, "text": self.text,
                "operator": self.operator, "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class RedactionRow:
    id: int
    recording_id: int
    start_ms: int
    end_ms: int
    mode: str
    reason: str
    operator: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "start_ms": self.start_ms, "end_ms": self.end_ms, "mode": self.mode,
                "reason": self.reason, "operator": self.operator, "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class AccessEvent:
    """One audit event about a recording: who did what when (details: ids and numbers only)."""

    seq: int
    at: dt.datetime
    operator_id: int | None
    operator: str
    action: str
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": _iso(self.at), "operator": self.operator, "action": self.action,
                "details": self.details}


@dataclass(frozen=True)
class RecordingDetail:
    """Everything the detail pane and ``recordings show`` display about one recording.

    ``blocked`` is the sentence that explains why this operator may not play,
    export or change the recording (a restricted subject), or ``None``.
    """

    row: RecordingRow
    original_sha256: str
    imported_at: dt.datetime
    annotations: list[AnnotationRow]
    redactions: list[RedactionRow]
    active_holds: int
    blocked: str | None

    def as_json(self) -> dict[str, Any]:
        data = self.row.as_json()
        data.update({"original_sha256": self.original_sha256, "imported_at": _iso(self.imported_at),
                     "annotations_list": [a.as_json() for a in self.annotations],
                     "redactions": [r.as_json() for r in self.redactions],
                     "active_legal_holds": self.active_holds, "blocked": self.blocked})
        return data


@dataclass(frozen=True)
class PlaybackGrant:
    """What a player needs once playback was allowed and audited."""

    recording_id: int
    path: Path
    format: str
    duration_ms: int
    sample_rate: int
    channels: int
    sha256: str


@dataclass(frozen=True)
class ExportResult:
    recording_id: int
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class ImportReport:
    """What an import did: ids imported, files skipped as duplicates, files refused with the reason."""

    imported: list[int] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"imported": len(self.imported), "duplicates": len(self.duplicates),
                "refused": [{"file": name, "reason": reason} for name, reason in self.refused],
                "imported_ids": list(self.imported),
                "duplicate_of": [{"file": name, "recording_id": rid} for name, rid in self.duplicates],
                "cancelled": self.cancelled}

    def summary(self) -> str:
        return (f"Imported {len(self.imported)} recording{'s' if len(self.imported) != 1 else ''}, "
                f"{len(self.duplicates)} duplicate{'s' if len(self.duplicates) != 1 else ''} skipped, "
                f"{len(self.refused)} refused" + (" (cancelled)" if self.cancelled else "") + ".")


@dataclass
class IntegrityReport:
    """``verify_recordings``: rows whose file is missing, files whose hash changed, files no row knows."""

    checked: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)
    mismatched: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched or self.unknown)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "missing": [{"recording_id": rid, "path": p} for rid, p in self.missing],
                "hash_mismatch": [{"recording_id": rid, "path": p} for rid, p in self.mismatched],
                "unknown_files": list(self.unknown), "cancelled": self.cancelled}


@dataclass(frozen=True)
class RecordingFilter:
    """What a list shows. Every field narrows; ``None`` (or empty) means "any".

    ``subject`` is a substring of the subject's name or user ID (case and
    accents ignored, as in the Users area); ``subject_id`` and ``user_id``
    (exact) pin one subject.
    Times are naive UTC; ``until`` is exclusive.
    """

    subject_id: int | None = None
    user_id: str | None = None
    subject: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    direction: str | None = None
    min_ms: int | None = None
    max_ms: int | None = None
    agent: str | None = None
    tag: str | None = None
    has_annotations: bool | None = None
    redacted: bool | None = None

    def used(self) -> list[str]:
        """Names of the filters in use (what the audit event records instead of their values)."""
        return [name for name, value in self.__dict__.items() if value not in (None, "")]


@dataclass(frozen=True)
class RecordingCount:
    matching: int
    capped: bool
    total: int


# ================================================================ helpers


def _store(store: RecordingsStore | None) -> RecordingsStore:
    return store if store is not None else open_store()


def _get(recording_id: int) -> Recording:
    with database_errors():
        rec = Recording.get_or_none(Recording.id == recording_id)
    if rec is None:
        raise NotFoundError(f"There is no recording #{recording_id}.")
    return rec


def may_use_restricted(operator: Actor) -> bool:
    """Whether ``operator`` may use a restricted subject's recordings (compliance officers: GDPR Art. 18)."""
    return operator.can(Permission.SUBJECTS_RESTRICT)


def _outside_review(query: peewee.ModelSelect, actor: Actor) -> peewee.ModelSelect:
    """Leave out the calls of subjects who objected (GDPR Art. 21) from support's review lists.

    An objection excludes the subject from review queues and usage analytics;
    compliance officers, who handle the objection, still see the calls. The
    query must already be joined to ``Subject`` (a left outer join: calls of
    unidentified callers stay).
    """
    if may_use_restricted(actor):
        return query
    return query.where((Subject.objected == False) | Subject.id.is_null())  # noqa: E712


def _restriction_text(recording_id: int, what: str) -> str:
    return (f"Recording #{recording_id} belongs to a restricted user account (GDPR Art. 18: its data is kept "
            f"but not used), so it cannot be {what}. Only a compliance officer may do that while the "
            "restriction lasts.")


def _check_restriction(actor: Actor, rec: Recording, what: str) -> None:
    if rec.subject_id is None or may_use_restricted(actor):
        return
    with database_errors():
        restricted = Subject.select(Subject.restricted).where(Subject.id == rec.subject_id).scalar()
    if restricted:
        raise PermissionDenied(_restriction_text(rec.id, what))


def _resolve_file(store: RecordingsStore, rec: Recording) -> Path:
    """The recording's file, or a ``NotFoundError`` that says it is missing from the store."""
    path = store.resolve(rec.path)
    if not path.is_file():
        raise NotFoundError(
            f"The audio file of recording #{rec.id} is missing from the recordings store ({rec.path}). It was "
            "deleted or moved outside RCRM Desktop; run “rcrm-desktop verify-recordings” to list every problem.")
    return path


def _file_present(store: RecordingsStore, relative: str) -> bool:
    try:
        return store.resolve(relative).is_file()
    except ValidationError:
        return False


def normalise_tag(text: str) -> str:
    """A tag as stored: trimmed, inner spaces collapsed, lower case; refused when empty or too long."""
    tag = " ".join((text or "").split()).lower()
    if not tag:
        raise ValidationError("A tag cannot be empty.")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationError(f"A tag may have at most {MAX_TAG_LENGTH} characters.")
    if any(ord(ch) < 32 for ch in tag):
        raise ValidationError("A tag cannot contain control characters.")
    return tag


def drop_waveform_cache(sha256: str) -> int:
    """Delete the cached waveform (and derived playback copies) of the audio with this SHA-256.

    The cache lives in ``paths.cache_dir()/"waveforms"`` and every file in it
    starts with the audio's SHA-256, so erasing a subject can call this with
    each of its recordings' ``sha256`` and ``original_sha256``. Returns the
    number of files removed; an empty or malformed hash removes nothing.
    """
    from rcrm_desktop.audio import peaks as peaks_mod

    try:
        return peaks_mod.drop_cached(sha256)
    except ValueError:
        return 0


# ================================================================ listing


_LIST_FIELDS = (Recording.id, Recording.started_at, Recording.subject, Subject.user_id, Subject.name,
                Subject.restricted, Recording.direction, Recording.duration_ms, Recording.agent,
                Recording.redacted, Recording.format, Recording.sample_rate, Recording.channels,
                Recording.size_bytes, Recording.sha256, Recording.path, Recording.version,
                # the page's annotation counts in the same statement: one round trip fewer per page
                Annotation.select(peewee.fn.COUNT(Annotation.id)).where(Annotation.recording == Recording.id)
                .alias("annotation_count"))


def check_filter(flt: RecordingFilter) -> None:
    """Refuse a filter that cannot match sensibly (``ValidationError`` with the reason), before any query."""
    if flt.subject is not None and len(flt.subject) > MAX_SEARCH_LENGTH:
        raise ValidationError(f"The search text is too long (at most {MAX_SEARCH_LENGTH} characters).")
    if flt.direction not in (None, "", *DIRECTIONS):
        raise ValidationError(f"“{flt.direction}” is not a direction; choose inbound or outbound.")
    if flt.min_ms is not None and flt.max_ms is not None and flt.min_ms > flt.max_ms:
        raise ValidationError("The shortest duration is longer than the longest.")
    if flt.since is not None and flt.until is not None and flt.since >= flt.until:
        raise ValidationError("The date range ends before it starts.")


def _apply_filter(query: peewee.ModelSelect, flt: RecordingFilter) -> peewee.ModelSelect:
    if flt.subject_id is not None:
        query = query.where(Recording.subject == flt.subject_id)
    if flt.user_id:
        query = query.where(Recording.subject.in_(Subject.select(Subject.id)
                                                  .where(Subject.user_id == flt.user_id.strip())))
    if flt.subject:
        folded = fold(flt.subject)
        if folded:
            people = Subject.select(Subject.id)
            for word in folded.split(" "):
                people = people.where(Subject.search_key.contains(word))
            query = query.where(Recording.subject.in_(people))
    if flt.since is not None:
        query = query.where(Recording.started_at >= flt.since)
    if flt.until is not None:
        query = query.where(Recording.started_at < flt.until)
    if flt.direction:
        query = query.where(Recording.direction == flt.direction)
    if flt.min_ms is not None:
        query = query.where(Recording.duration_ms >= flt.min_ms)
    if flt.max_ms is not None:
        query = query.where(Recording.duration_ms <= flt.max_ms)
    if flt.agent:
        query = query.where(Recording.agent == flt.agent)
    if flt.tag:
        query = query.where(Recording.id.in_(
            RecordingTag.select(RecordingTag.recording).where(RecordingTag.tag == normalise_tag(flt.tag))))
    if flt.has_annotations is True:
        query = query.where(Recording.id.in_(Annotation.select(Annotation.recording)))
    elif flt.has_annotations is False:
        query = query.where(Recording.id.not_in(Annotation.select(Annotation.recording)))
    if flt.redacted is not None:
        query = query.where(Recording.redacted == flt.redacted)
    return query


def _keyset(query: peewee.ModelSelect, column: peewee.Field, after: PageKey | None,
            descending: bool) -> peewee.ModelSelect:
    """Order by (column, id) and start after ``after``, with a plain ``ORDER BY`` so the composite index serves it.

    The one nullable sort column (``agent``) keeps each engine's own place for
    NULL — lowest on SQLite and MariaDB, highest on PostgreSQL — and the
    keyset condition follows it, so pages neither skip nor repeat rows and no
    ``COALESCE`` or ``IS NULL`` ordering term defeats the index (the list must
    stay fast at 200,000 recordings).
    """
    rid = Recording.id
    ahead = (lambda a, b: a < b) if descending else (lambda a, b: a > b)
    if after is not None:
        if column is rid:
            query = query.where(ahead(rid, after.id))
        elif column is Recording.agent:
            nulls_low = engine_name() != "postgresql"
            nulls_first = nulls_low != descending
            if nulls_first:
                if after.value is None:
                    query = query.where((column.is_null() & ahead(rid, after.id)) | column.is_null(False))
                else:
                    query = query.where(column.is_null(False) & (ahead(column, after.value)
                                                                 | ((column == after.value) & ahead(rid, after.id))))
            elif after.value is None:
                query = query.where(column.is_null() & ahead(rid, after.id))
            else:
                query = query.where(column.is_null() | ahead(column, after.value)
                                    | ((column == after.value) & ahead(rid, after.id)))
        else:
            # (column >= v) AND (column > v OR id > last): the same rows as the usual OR form, but the
            # composite index can start at v instead of scanning from the first row
            at_or_ahead = (column <= after.value) if descending else (column >= after.value)
            query = query.where(at_or_ahead & (ahead(column, after.value) | ahead(rid, after.id)))
    if column is rid:
        return query.order_by(rid.desc() if descending else rid.asc())
    if descending:
        return query.order_by(column.desc(), rid.desc())
    return query.order_by(column.asc(), rid.asc())


def page_key(row: RecordingRow, sort: str) -> PageKey:
    """Where the page after ``row`` starts, for ``list_recordings(after=...)``."""
    value = {"started_at": row.started_at, "duration_ms": row.duration_ms, "agent": row.agent,
             "id": row.id}[sort]
    return PageKey(value, row.id)


def _page_tags_sql(count: int) -> str:
    """The tag query for ``count`` recording ids, written directly.

    Through the query builder, an ``IN`` of 200 parameters cost more to
    build than to run (≈ 1 ms a page on SQLite).
    """
    quote, param = database.obj.quote, database.obj.param

    def q(name: str) -> str:
        return f"{quote[0]}{name}{quote[1]}"

    return (f"SELECT {q('recording_id')}, {q('tag')} FROM {q(RecordingTag._meta.table_name)} "
            f"WHERE {q('recording_id')} IN ({', '.join([param] * count)}) ORDER BY {q('tag')}")


#: ``RecordingRow``s from driver tuples in ``_LIST_FIELDS`` order, given the page's tags by id and whether
#: a path's file is present.
_build_rows = RowsBuilder(RecordingRow, len(_LIST_FIELDS), (
    0, DT(1), 2, 3, 4, BOOL(5), 6, INT(7), 8, Expr("tuple(tags[c0])"), Expr("int(c17 or 0)"), BOOL(9), 10, INT(11),
    INT(12), INT(13), 14, 15, Expr("present(c15)"), INT(16)), params=("tags", "present"))


def _rows(raw: list[tuple[Any, ...]], store: RecordingsStore | None) -> list[RecordingRow]:
    """Rows from driver tuples in ``_LIST_FIELDS`` order, with their tags (one query for the page)."""
    ids = [r[0] for r in raw]
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for rid, tag in database.execute_sql(_page_tags_sql(len(ids)), ids).fetchall():
            tags[rid].append(tag)
    present: Callable[[str], bool] = ((lambda path: True) if store is None
                                      else functools.partial(_file_present, store))
    return _build_rows(raw, tags, present)


#: Page SQL per shape (sort, order, size, whether the role sees objected subjects, keyset or first page):
#: what opening, refreshing and scrolling the view ask every time, so peewee builds each once.
_PAGES = Statements()


def list_recordings(actor: Actor, flt: RecordingFilter | None = None, *, sort: str = "started_at",
                    descending: bool = True, after: PageKey | None = None, limit: int = settings.PAGE_SIZE,
                    audit_view: bool = True, check_files: bool = True,
                    store: RecordingsStore | None = None) -> list[RecordingRow]:
    """One keyset page of recordings matching ``flt`` (newest first by default).

    Each row says whether its file is present in the store (``check_files``),
    so a deleted file shows as "file missing" instead of failing later.
    Audited as ``recordings.list`` (no filter) or ``recordings.search`` with
    the ids shown and the names of the filters used (never their values).
    """
    require(actor, Permission.RECORDINGS_VIEW)
    flt = flt or RecordingFilter()
    check_filter(flt)
    column = SORT_COLUMNS.get(sort)
    if column is None:
        raise ValidationError(f"Cannot sort recordings by “{sort}”; choose one of {', '.join(SORT_COLUMNS)}.")
    limit = max(1, min(int(limit), 5000))
    values = () if after is None else (after.value, after.id)

    def build(*key: Any) -> Any:
        query = (Recording.select(*_LIST_FIELDS)
                 .join(Subject, JOIN.LEFT_OUTER, on=(Recording.subject == Subject.id)))
        return _keyset(_outside_review(_apply_filter(query, flt), actor), column, PageKey(*key) if key else None,
                       descending).limit(limit)

    if flt.used():
        statement = build(*values).sql()
    else:
        statement = _PAGES.sql((sort, descending, limit, may_use_restricted(actor), after is None), build, values)
    with database_errors():
        raw = database.execute_sql(*statement).fetchall()
        rows = _rows(raw, _store(store) if check_files else None)
        if audit_view and rows:
            used = flt.used()
            with database.atomic():
                audit.record(actor, "recordings.search" if used else "recordings.list", "recording", None,
                             ids=[r.id for r in rows], filters=used)
    return rows


def count_recordings(actor: Actor, flt: RecordingFilter | None = None, *, cap: int = COUNT_CAP) -> RecordingCount:
    """Matching (capped) and total recordings, for the row-count label; run it off the UI thread."""
    require(actor, Permission.RECORDINGS_VIEW)
    flt = flt or RecordingFilter()
    check_filter(flt)
    with database_errors():
        total = Recording.select().count()
        if not flt.used() and may_use_restricted(actor):
            return RecordingCount(total, False, total)
        query = _outside_review(_apply_filter(Recording.select(Recording.id)
                                              .join(Subject, JOIN.LEFT_OUTER, on=(Recording.subject == Subject.id)),
                                              flt), actor)
        matching = query.limit(cap + 1).count()
    return RecordingCount(min(matching, cap), matching > cap, total)


def list_agents(actor: Actor) -> list[str]:
    """Distinct agent names, for the filter's choices."""
    require(actor, Permission.RECORDINGS_VIEW)
    with database_errors():
        return [a for (a,) in Recording.select(Recording.agent).where(Recording.agent.is_null(False))
                .distinct().order_by(Recording.agent).tuples()]


def list_tags(actor: Actor) -> list[str]:
    """Distinct tags in use, for the filter's choices and the tag editor's completion."""
    require(actor, Permission.RECORDINGS_VIEW)
    with database_errors():
        return [t for (t,) in RecordingTag.select(RecordingTag.tag).distinct().order_by(RecordingTag.tag).tuples()]


def subject_reference(actor: Actor, subject_id: int) -> tuple[str, bool]:
    """(user ID, restricted) of a subject, for "Recordings of U-123456" (the user ID only: no name)."""
    require(actor, Permission.RECORDINGS_VIEW)
    with database_errors():
        subject = Subject.get_or_none(Subject.id == subject_id)
    if subject is None:
        raise NotFoundError(f"There is no user account #{subject_id}.")
    return subject.user_id, bool(subject.restricted)


# ================================================================ one recording


def _annotation_rows(recording_id: int) -> list[AnnotationRow]:
    return [AnnotationRow(a.id, recording_id, a.position_ms, a.end_ms, a.text, a.operator_id,
                          a.operator.username, a.created_at)
            for a in Annotation.select(Annotation, Operator).join(Operator)
            .where(Annotation.recording == recording_id).order_by(Annotation.position_ms, Annotation.id)]


def _redaction_rows(recording_id: int) -> list[RedactionRow]:
    return [RedactionRow(r.id, recording_id, r.start_ms, r.end_ms, r.mode or "silence", r.reason,
                         r.operator.username, r.created_at)
            for r in Redaction.select(Redaction, Operator).join(Operator)
            .where(Redaction.recording == recording_id).order_by(Redaction.start_ms, Redaction.id)]


def _active_holds(rec: Recording) -> int:
    covers = LegalHold.recording == rec.id
    if rec.subject_id is not None:
        covers = covers | (LegalHold.subject == rec.subject_id)
    return LegalHold.select().where(LegalHold.released_at.is_null() & covers).count()


def _one_row(recording_id: int, store: RecordingsStore | None) -> RecordingRow:
    raw = fetch_tuples(Recording.select(*_LIST_FIELDS)
                       .join(Subject, JOIN.LEFT_OUTER, on=(Recording.subject == Subject.id))
                       .where(Recording.id == recording_id))
    if not raw:
        raise NotFoundError(f"There is no recording #{recording_id}.")
    return _rows(raw, store)[0]


def get_recording(actor: Actor, recording_id: int, *, audit_view: bool = True,
                  store: RecordingsStore | None = None) -> RecordingDetail:
    """One recording with its annotations, redactions and holds; audited as ``recording.view``.

    ``audit_view=False`` is for refreshing a detail already shown after the
    operator's own change (the change is its own audit event).
    """
    require(actor, Permission.RECORDINGS_VIEW)
    rec = _get(recording_id)
    with database_errors():
        row = _one_row(rec.id, _store(store))
        blocked = None
        if row.restricted and not may_use_restricted(actor):
            blocked = _restriction_text(rec.id, "played, exported or changed")
        detail = RecordingDetail(row, rec.original_sha256, rec.imported_at, _annotation_rows(rec.id),
                                 _redaction_rows(rec.id), _active_holds(rec), blocked)
        if audit_view:
            with database.atomic():
                audit.record(actor, "recording.view", "recording", rec.id)
    return detail


def access_history(actor: Actor, recording_id: int, *, limit: int = 200) -> list[AccessEvent]:
    """Who viewed, played, exported, annotated or redacted this recording, newest first ("who listened")."""
    require(actor, Permission.RECORDINGS_VIEW)
    _get(recording_id)
    with database_errors():
        names = {op.id: op.username for op in Operator.select(Operator.id, Operator.username)}
        events = (AuditEvent.select().where((AuditEvent.target_type == "recording")
                                            & (AuditEvent.target_id == str(recording_id)))
                  .order_by(AuditEvent.seq.desc()).limit(max(1, min(limit, 5000))))
        out = []
        for ev in events:
            try:
                details = json.loads(ev.details or "{}")
            except ValueError:
                details = {}
            who = names.get(ev.operator_id, "—") if ev.operator_id is not None else "system"
            out.append(AccessEvent(ev.seq, ev.at, ev.operator_id, who, ev.action, details))
    return out


# ================================================================ listening and copies


def record_play(actor: Actor, recording_id: int, *, store: RecordingsStore | None = None) -> PlaybackGrant:
    """Allow and audit the start of playback (``recording.play``); returns the file to play.

    A player calls this before it loads the audio: the permission, the
    restriction and the file's presence are checked here, and the event is
    written before a single sample is heard.
    """
    require(actor, Permission.RECORDINGS_PLAY)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "played")
    path = _resolve_file(_store(store), rec)
    with database_errors(), database.atomic():
        audit.record(actor, "recording.play", "recording", rec.id)
    return PlaybackGrant(rec.id, path, rec.format, rec.duration_ms, rec.sample_rate, rec.channels, rec.sha256)


def playback_copy(actor: Actor, recording_id: int, audible: tuple[bool, ...], *,
                  store: RecordingsStore | None = None) -> Path:
    """A WAV copy with the lanes whose ``audible`` flag is ``False`` silenced (mute/solo in the player).

    Kept in the waveform cache under the audio's SHA-256 (so erasure drops it
    with the waveform); not a new listen, but refused exactly as playback is.
    """
    require(actor, Permission.RECORDINGS_PLAY)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "played")
    source = _resolve_file(_store(store), rec)
    if len(audible) != rec.channels:
        raise ValidationError(f"Recording #{rec.id} has {rec.channels} channel(s), not {len(audible)}.")
    from rcrm_desktop.audio import decode
    from rcrm_desktop.audio import peaks as peaks_mod

    mask = "".join("1" if a else "0" for a in audible)
    folder = peaks_mod.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = peaks_mod.cache_path(rec.sha256).with_name(f"{rec.sha256}.lanes-{mask}.wav")
    if not target.is_file():
        decode.lanes_wav(source, target, tuple(audible))
    return target


def export_recording(actor: Actor, recording_id: int, out: Path | str, *,
                     store: RecordingsStore | None = None) -> ExportResult:
    """Copy a recording's audio to ``out`` (atomically), checked against its stored hash; audited.

    Refused for a restricted subject (except compliance), a missing file, a
    file whose content no longer matches its hash (run ``verify-recordings``),
    and a target inside the recordings store.
    """
    require(actor, Permission.RECORDINGS_EXPORT)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "exported")
    recordings = _store(store)
    source = _resolve_file(recordings, rec)
    target = Path(out).expanduser()
    if target.is_dir():
        target = target / f"recording-{rec.id}.{EXTENSIONS.get(rec.format, rec.format)}"
    real_parent = Path(os.path.realpath(target.parent))
    if real_parent == recordings.root or real_parent.is_relative_to(recordings.root):
        raise ValidationError("Choose a folder outside the recordings store for an exported copy.")
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.")
    temp = target.parent / f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, temp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != rec.sha256:
            raise ValidationError(
                f"The audio file of recording #{rec.id} no longer matches its recorded hash: it was changed "
                "outside RCRM Desktop, so no copy was made. Run “rcrm-desktop verify-recordings”.")
        with database_errors(), database.atomic():
            audit.record(actor, "recording.export", "recording", rec.id, bytes=size)
            os.replace(temp, target)
    except OSError as exc:
        raise ValidationError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return ExportResult(rec.id, target, size, rec.sha256)


def waveform(actor: Actor, recording_id: int, progress: peaks_mod.Progress | None = None, *,
             store: RecordingsStore | None = None) -> peaks_mod.Peaks:
    """The recording's min/max peaks from the cache, else computed from the file and cached.

    Not an audit event (no sound is heard), but refused for a restricted
    subject like playback: computing it is processing the audio (Art. 18).
    """
    require(actor, Permission.RECORDINGS_VIEW)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "shown as a waveform")
    from rcrm_desktop.audio import peaks as peaks_mod

    cached = peaks_mod.load_cached(rec.sha256)
    if cached is not None:
        return cached
    path = _resolve_file(_store(store), rec)
    result = peaks_mod.compute_peaks(path, progress, expected_ms=rec.duration_ms, fmt=rec.format,
                                     rate=rec.sample_rate, channels=rec.channels)
    with contextlib.suppress(OSError):
        peaks_mod.store_cached(rec.sha256, result)
    return result


def read_samples(actor: Actor, recording_id: int, start_frame: int, frames: int, *,
                 store: RecordingsStore | None = None) -> tuple[Any, int]:
    """``frames`` samples from ``start_frame`` (``int16``, ``(frames, channels)``) for a deeply zoomed waveform."""
    require(actor, Permission.RECORDINGS_VIEW)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "shown as a waveform")
    from rcrm_desktop.audio import decode

    return decode.read_window(_resolve_file(_store(store), rec), start_frame, min(int(frames), 4_000_000))


# ================================================================ annotations and tags


def _check_change(actor: Actor, rec: Recording) -> None:
    _check_restriction(actor, rec, "annotated or tagged")


def add_annotation(actor: Actor, recording_id: int, position_ms: int, text: str,
                   end_ms: int | None = None) -> AnnotationRow:
    """A note at ``position_ms`` (optionally the region up to ``end_ms``); audited without its text."""
    require(actor, Permission.RECORDINGS_ANNOTATE)
    rec = _get(recording_id)
    _check_change(actor, rec)
    body = (text or "").strip()
    if not body:
        raise ValidationError("An annotation needs a text.")
    if len(body) > MAX_ANNOTATION_LENGTH:
        raise ValidationError(f"An annotation may have at most {MAX_ANNOTATION_LENGTH:,} characters.")
    position = int(position_ms)
    if not 0 <= position <= rec.duration_ms:
        raise ValidationError(f"The position {position / 1000:.1f} s is outside the recording "
                              f"(0–{rec.duration_ms / 1000:.1f} s).")
    end = None if end_ms is None else int(end_ms)
    if end is not None and not position < end <= rec.duration_ms:
        raise ValidationError("An annotated region must end after it starts and within the recording.")
    with database_errors(), database.atomic():
        note = Annotation.create(recording=rec.id, operator=actor.operator_id, position_ms=position, end_ms=end,
                                 text=body)
        audit.record(actor, "recording.annotate", "recording", rec.id, op="add", annotation=note.id,
                     position_ms=position, end_ms=end, length=len(body))
    return AnnotationRow(note.id, rec.id, position, end, body, actor.operator_id, actor.username, note.created_at)


def delete_annotation(actor: Actor, annotation_id: int) -> None:
    """Remove an annotation (its author or any operator who may annotate); audited."""
    require(actor, Permission.RECORDINGS_ANNOTATE)
    with database_errors():
        note = Annotation.get_or_none(Annotation.id == annotation_id)
    if note is None:
        raise NotFoundError(f"There is no annotation #{annotation_id}.")
    rec = _get(note.recording_id)
    _check_change(actor, rec)
    with database_errors(), database.atomic():
        Annotation.delete().where(Annotation.id == note.id).execute()
        audit.record(actor, "recording.annotate", "recording", rec.id, op="delete", annotation=note.id)


def add_tag(actor: Actor, recording_id: int, tag: str) -> list[str]:
    """Tag a recording (idempotent); returns its tags. Audited without the tag's text."""
    require(actor, Permission.RECORDINGS_ANNOTATE)
    rec = _get(recording_id)
    _check_change(actor, rec)
    value = normalise_tag(tag)
    with database_errors(), database.atomic():
        existing = [t for (t,) in RecordingTag.select(RecordingTag.tag).where(RecordingTag.recording == rec.id)
                    .tuples()]
        if value not in existing:
            if len(existing) >= MAX_TAGS:
                raise ValidationError(f"A recording can have at most {MAX_TAGS} tags.")
            RecordingTag.create(recording=rec.id, tag=value)
            audit.record(actor, "recording.tag", "recording", rec.id, op="add")
            existing.append(value)
    return sorted(existing)


def remove_tag(actor: Actor, recording_id: int, tag: str) -> list[str]:
    """Remove a tag from a recording (nothing happens when it is not there); returns its tags."""
    require(actor, Permission.RECORDINGS_ANNOTATE)
    rec = _get(recording_id)
    _check_change(actor, rec)
    value = normalise_tag(tag)
    with database_errors(), database.atomic():
        removed = RecordingTag.delete().where((RecordingTag.recording == rec.id)
                                              & (RecordingTag.tag == value)).execute()
        if removed:
            audit.record(actor, "recording.tag", "recording", rec.id, op="remove")
        return sorted(t for (t,) in RecordingTag.select(RecordingTag.tag)
                      .where(RecordingTag.recording == rec.id).tuples())


# ================================================================ redaction


def redact_recording(actor: Actor, recording_id: int, start_ms: int, end_ms: int, reason: str, *,
                     tone: bool = False, expected_version: int | None = None,
                     store: RecordingsStore | None = None) -> RedactionRow:
    """Replace ``start_ms … end_ms`` of the stored audio with silence (or a 1 kHz tone), for good.

    Order of work (module docstring, "Redaction really removes the sound"):
    the redacted copy is written and checked beside the stored file; then, in
    one transaction, the row gets the new hash and size (``version`` checked
    against ``expected_version``: another workstation's redaction wins and
    this one is refused with ``ConflictError``), the ``Redaction`` row and the
    audit event (operator, region, reason *length*) are written, the old file
    is set aside in the pending-delete area and the new one renamed into
    place. After the commit the old file and the old waveform cache are
    deleted; if the commit fails the old file is put back.

    Refused under an active legal hold on the recording or its subject
    (evidence is preserved as it is until the hold is released).
    """
    require(actor, Permission.RECORDINGS_REDACT)
    rec = _get(recording_id)
    _check_restriction(actor, rec, "redacted")
    text = " ".join((reason or "").split())
    if not text:
        raise ValidationError("A redaction needs a reason (it is kept with the redaction).")
    if len(text) > settings.MAX_REASON_LENGTH:
        raise ValidationError(f"The reason may have at most {settings.MAX_REASON_LENGTH:,} characters.")
    start, end = int(start_ms), int(end_ms)
    if start < 0 or end > rec.duration_ms or end - start < MIN_REDACTION_MS:
        raise ValidationError(
            f"Choose a region of at least {MIN_REDACTION_MS} ms within the recording "
            f"(0–{rec.duration_ms / 1000:.3f} s); {start / 1000:.3f}–{end / 1000:.3f} s is not.")
    if expected_version is not None and rec.version != expected_version:
        raise ConflictError("This recording was changed on another workstation; look at it again before "
                            "redacting.", current={"version": rec.version, "sha256": rec.sha256})
    with database_errors():
        holds = _active_holds(rec)
    if holds:
        raise ValidationError(
            f"Recording #{rec.id} is under an active legal hold (GDPR Art. 17(3)): it is preserved as it is. "
            "Release the hold first if the redaction must go ahead.")
    recordings = _store(store)
    source = _resolve_file(recordings, rec)
    current = probe(source)
    if current.sha256 != rec.sha256:
        raise ValidationError(
            f"The audio file of recording #{rec.id} no longer matches its recorded hash (changed outside "
            "RCRM Desktop); it was not redacted. Run “rcrm-desktop verify-recordings”.")
    from rcrm_desktop.audio import redact

    redacted = redact.redact_file(source, start, end, with_tone=tone, original=current)
    backup = recordings.pending_dir / f"redact-{rec.id}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
    moved = False
    try:
        with database_errors(), database.atomic():
            updated = (Recording.update(sha256=redacted.info.sha256, size_bytes=redacted.info.size_bytes,
                                        redacted=True, version=Recording.version + 1)
                       .where((Recording.id == rec.id) & (Recording.version == rec.version)).execute())
            if updated != 1:
                raise ConflictError("This recording was changed on another workstation while it was being "
                                    "redacted; nothing was changed. Look at it again and redact again if needed.")
            row = Redaction.create(recording=rec.id, operator=actor.operator_id, start_ms=start, end_ms=end,
                                   reason=text, mode="tone" if tone else "silence", sha256_before=rec.sha256,
                                   sha256_after=redacted.info.sha256)
            audit.record(actor, "recording.redact", "recording", rec.id, redaction=row.id, start_ms=start,
                         end_ms=end, mode="tone" if tone else "silence", reason_length=len(text))
            _set_aside(source, backup)
            moved = True
            os.replace(redacted.path, source)
    except BaseException:
        if moved and backup.exists():
            with contextlib.suppress(OSError):
                os.replace(backup, source)
        with contextlib.suppress(OSError):
            redacted.path.unlink()
        raise
    with contextlib.suppress(OSError):
        backup.unlink()
    drop_waveform_cache(rec.sha256)
    return RedactionRow(row.id, rec.id, start, end, "tone" if tone else "silence", text, actor.username,
                        row.created_at)


def _set_aside(source: Path, backup: Path) -> None:
    """Keep the pre-redaction file until the commit (a hard link, or a copy where links are not possible)."""
    try:
        os.link(source, backup)
    except OSError:
        shutil.copy2(source, backup)


# ================================================================ import


@dataclass(frozen=True)
class _Meta:
    user_id: str | None
    started_at: dt.datetime
    direction: str
    agent: str | None
    tags: tuple[str, ...]


def _parse_started(text: str) -> dt.datetime:
    raw = (text or "").strip()
    if not raw:
        raise ValidationError("started_at is missing (an ISO 8601 time such as 2025-03-14T09:30:00Z).")
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"started_at “{raw[:40]}” is not an ISO 8601 time.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # a time without a zone is UTC, as in the users CSV
    value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if value.year < 1990 or value > utcnow() + dt.timedelta(days=1):
        raise ValidationError(f"started_at {raw[:40]} is not a plausible time for a call.")
    return value


def _parse_meta(values: dict[str, Any]) -> _Meta:
    user_id = str(values.get("user_id") or "").strip() or None
    if user_id is not None and len(user_id) > 64:
        raise ValidationError("user_id is longer than 64 characters.")
    started = _parse_started(str(values.get("started_at") or ""))
    direction = str(values.get("direction") or "").strip().lower()
    if direction not in DIRECTIONS:
        raise ValidationError(f"direction “{direction[:20]}” must be inbound or outbound.")
    agent = " ".join(str(values.get("agent") or "").split()) or None
    if agent is not None and len(agent) > MAX_AGENT_LENGTH:
        raise ValidationError(f"agent is longer than {MAX_AGENT_LENGTH} characters.")
    raw_tags = values.get("tags") or ""
    parts = raw_tags if isinstance(raw_tags, list) else str(raw_tags).split(";")
    tags: list[str] = []
    for part in parts:
        if str(part).strip():
            tag = normalise_tag(str(part))
            if tag not in tags:
                tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"A recording can have at most {MAX_TAGS} tags.")
    return _Meta(user_id, started, direction, agent, tuple(tags))


def _read_manifest(folder: Path, report: ImportReport) -> dict[str, dict[str, str]]:
    """Rows of ``manifest.csv`` keyed by file name; bad rows go to ``report.refused``."""
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        return {}
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{MANIFEST_NAME} is not a UTF-8 file; save it as “CSV UTF-8”. Nothing was "
                              "imported.") from exc
    except OSError as exc:
        raise ValidationError(f"{MANIFEST_NAME} cannot be read: {exc.strerror or exc}.") from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [h for h in ("file", "started_at", "direction") if h not in header]
    if missing:
        raise ValidationError(f"{MANIFEST_NAME} has no {', '.join(missing)} column; its header must be "
                              + ",".join(MANIFEST_HEADER) + ". Nothing was imported.")
    reader.fieldnames = header
    rows: dict[str, dict[str, str]] = {}
    for raw in reader:
        name = (raw.get("file") or "").strip()
        where = f"{MANIFEST_NAME} line {reader.line_num}"
        if not name:
            report.refused.append((where, "The row names no file."))
            continue
        if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
            report.refused.append((name, f"{where} names a file outside the import folder; only plain file "
                                         "names are accepted."))
            continue
        if name in rows:
            report.refused.append((name, f"{where} repeats a file named on an earlier line."))
            continue
        rows[name] = {k: (v or "") for k, v in raw.items() if isinstance(k, str)}
    return rows


def _sidecar(path: Path) -> dict[str, Any] | None:
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"its sidecar {side.name} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"its sidecar {side.name} must hold one JSON object.")
    return data


def _candidates(folder: Path, manifest: dict[str, dict[str, str]]) -> list[str]:
    names = set(manifest)
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.name == MANIFEST_NAME or entry.suffix.lower() == ".json":
            continue
        if entry.suffix.lower() in AUDIO_EXTENSIONS:
            names.add(entry.name)
    return sorted(names)


def _max_bytes() -> int:
    try:
        megabytes = get_int_setting("recordings_max_file_mb")
    except RcrmError:
        megabytes = int(settings.INSTANCE_OPTIONS["recordings_max_file_mb"].default)
    return max(1, megabytes) * 1024 * 1024


def _size_text(size: int) -> str:
    if size >= 1024 ** 3:
        return f"{size / 1024 ** 3:.1f} GiB"
    return f"{size / 1024 ** 2:.0f} MiB"


def import_recordings(actor: Actor, folder: Path | str, *, progress: Progress | None = None,
                      store: RecordingsStore | None = None) -> ImportReport:
    """Import the audio files of ``folder`` with their metadata (``manifest.csv`` and ``<file>.json``).

    For each file: metadata checked (a ``user_id`` must name a known user
    account; empty means "caller not identified"), size within
    ``recordings_max_file_mb``, content probed (format, duration, rate,
    channels, SHA-256; a corrupt, truncated, empty or non-audio file is
    refused with the reason), skipped when the same audio is already stored,
    else copied into the store and its row, tags and ``recordings.import``
    event written in one transaction (the copy is removed if that fails).
    One file's problem never stops the others; ``progress(done, total, name)``
    returning ``False`` stops after the current file.
    """
    require(actor, Permission.RECORDINGS_IMPORT)
    source = Path(folder).expanduser()
    if not source.is_dir():
        raise ValidationError(f"{source} is not a folder; choose the folder that holds the recordings.")
    report = ImportReport()
    manifest = _read_manifest(source, report)
    names = _candidates(source, manifest)
    recordings = _store(store)
    limit = _max_bytes()
    with database_errors():
        wanted = {str(row.get("user_id") or "").strip() for row in manifest.values()} - {""}
        subjects = _subject_ids(wanted)
    seen: dict[str, int] = {}
    total = len(names)
    for index, name in enumerate(names):
        if progress is not None and progress(index, total, name) is False:
            report.cancelled = True
            break
        try:
            _import_one(actor, source / name, name, manifest.get(name), subjects, recordings, limit, seen, report)
        except ValidationError as exc:  # AudioError is one: the file is refused, the rest goes on
            report.refused.append((name, exc.message))
        except OSError as exc:
            report.refused.append((name, f"It cannot be read: {exc.strerror or exc}."))
    if progress is not None and not report.cancelled:
        progress(total, total, "")
    return report


def _subject_ids(user_ids: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    wanted = list(user_ids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        found.update({u: i for u, i in Subject.select(Subject.user_id, Subject.id)
                      .where(Subject.user_id.in_(chunk)).tuples()})
    return found


def _import_one(actor: Actor, path: Path, name: str, row: dict[str, str] | None, subjects: dict[str, int],
                recordings: RecordingsStore, limit: int, seen: dict[str, int], report: ImportReport) -> None:
    if not path.is_file():
        raise ValidationError("It is named in manifest.csv but is not in the folder.")
    values: dict[str, Any] = dict(row or {})
    side = _sidecar(path)
    if side is not None:
        values.update({k: v for k, v in side.items() if k in MANIFEST_HEADER and k != "file"})
    if row is None and side is None:
        raise ValidationError(f"It has no metadata: no line in {MANIFEST_NAME} and no {name}.json sidecar.")
    meta = _parse_meta(values)
    subject_id = None
    if meta.user_id is not None:
        if meta.user_id not in subjects:
            with database_errors():
                subjects.update(_subject_ids([meta.user_id]))
        subject_id = subjects.get(meta.user_id)
        if subject_id is None:
            raise ValidationError(f"user_id {meta.user_id} names no known user account; import the account "
                                  "first (Users → Import users…) or correct the manifest.")
    size = path.stat().st_size
    if size > limit:
        raise AudioError(f"{name} is {_size_text(size)}; the largest recording this instance accepts is "
                         f"{_size_text(limit)} (instance option recordings_max_file_mb).", "too_large", path)
    info = _probe(path)
    if info.format not in SUPPORTED_FORMATS:
        raise AudioError(f"{name} is in a format RCRM Desktop does not take.", "unsupported", path)
    if info.sha256 in seen:
        report.duplicates.append((name, seen[info.sha256]))
        return
    with database_errors():
        known = _known_id(info.sha256)
    if known is not None:
        seen[info.sha256] = known
        report.duplicates.append((name, known))
        return
    relative = (f"{meta.started_at:%Y/%m/%d}/call-{meta.started_at:%Y%m%d-%H%M%S}-{info.sha256[:16]}."
                f"{EXTENSIONS[info.format]}")
    stored = recordings.add_file(path, relative, overwrite=True)
    try:
        if stored.sha256 != info.sha256:
            raise ValidationError("It changed while it was being imported; import it again.")
        with database_errors(), database.atomic():
            again = _known_id(info.sha256)
            if again is not None:  # another workstation imported it meanwhile
                seen[info.sha256] = again
                report.duplicates.append((name, again))
                return
            rec = _create_row(subject_id, stored.relative, info, meta)
            audit.record(actor, "recordings.import", "recording", rec.id, format=info.format,
                         duration_ms=info.duration_ms, bytes=info.size_bytes, tags=len(meta.tags))
    except BaseException:
        with contextlib.suppress(Exception):
            if not Recording.select().where(Recording.path == stored.relative).exists():
                recordings.remove(stored.relative)
        raise
    seen[info.sha256] = rec.id
    report.imported.append(rec.id)


def _probe(path: Path) -> AudioInfo:
    """``audio.probe`` with any parser failure on a damaged file turned into a refusal with a reason."""
    try:
        return probe(path)
    except (RuntimeError, ValueError, EOFError, struct.error) as exc:  # the wave module on nonsense headers
        raise AudioError(f"{path.name} is damaged: its header cannot be read ({type(exc).__name__}).", "corrupt",
                         path) from exc


def _known_id(sha256: str) -> int | None:
    return Recording.select(Recording.id).where(
        (Recording.sha256 == sha256) | (Recording.original_sha256 == sha256)).scalar()


def _create_row(subject_id: int | None, relative: str, info: AudioInfo, meta: _Meta) -> Recording:
    rec = Recording.create(subject=subject_id, path=relative, sha256=info.sha256, original_sha256=info.sha256,
                           format=info.format, duration_ms=info.duration_ms, sample_rate=info.sample_rate,
                           channels=info.channels, size_bytes=info.size_bytes, started_at=meta.started_at,
                           direction=meta.direction, agent=meta.agent)
    for tag in meta.tags:
        RecordingTag.create(recording=rec.id, tag=tag)
    return rec


# ================================================================ integrity


def verify_recordings(actor: Actor, *, progress: Progress | None = None,
                      store: RecordingsStore | None = None, batch: int = 1000) -> IntegrityReport:
    """Compare the store with the rows: files missing, hashes changed, files no row knows.

    The pending-delete area and temporary files of interrupted copies are not
    "unknown" files. Reads every file (hashing): run it in the background.
    Audited as ``recordings.verify`` with the counts.
    """
    require(actor, Permission.RECORDINGS_VIEW)
    recordings = _store(store)
    report = IntegrityReport()
    known: set[str] = set()
    with database_errors():
        total = Recording.select().count()
    last = 0
    while not report.cancelled:
        with database_errors():
            rows = list(Recording.select(Recording.id, Recording.path, Recording.sha256)
                        .where(Recording.id > last).order_by(Recording.id).limit(batch).tuples())
        if not rows:
            break
        for rid, relative, sha in rows:
            last = rid
            report.checked += 1
            if progress is not None and progress(report.checked, total, relative) is False:
                report.cancelled = True
                break
            try:
                path = recordings.resolve(relative)
            except ValidationError:
                report.missing.append((rid, relative))
                continue
            known.add(recordings.root.joinpath(*relative.replace("\\", "/").split("/")).as_posix())
            if not path.is_file():
                report.missing.append((rid, relative))
            elif sha256_of(path) != sha:
                report.mismatched.append((rid, relative))
    if not report.cancelled:
        for folder, dirs, files in os.walk(recordings.root):
            dirs[:] = [d for d in dirs if not (Path(folder) == recordings.root and d == PENDING_DIR_NAME)]
            for file_name in files:
                if file_name.startswith(".") and file_name.endswith(TEMP_SUFFIX):
                    continue
                full = Path(folder, file_name)
                if full.as_posix() not in known:
                    report.unknown.append(full.relative_to(recordings.root).as_posix())
        report.unknown.sort()
    with database_errors(), database.atomic():
        audit.record(actor, "recordings.verify", "recording", None, checked=report.checked,
                     missing=len(report.missing), hash_mismatch=len(report.mismatched),
                     unknown_files=len(report.unknown), missing_ids=audit.audited_ids(r for r, _ in report.missing),
                     mismatch_ids=audit.audited_ids(r for r, _ in report.mismatched))
    return report


__all__ = [
    "ACCESS_ACTIONS", "AccessEvent", "AnnotationRow", "DIRECTIONS", "ExportResult", "ImportReport",
    "IntegrityReport", "MANIFEST_HEADER", "PlaybackGrant", "RecordingCount", "RecordingDetail", "RecordingFilter",
    "RecordingRow", "RedactionRow", "access_history", "add_annotation", "add_tag", "check_filter",
    "count_recordings", "delete_annotation", "drop_waveform_cache", "export_recording", "get_recording",
    "import_recordings", "list_agents", "list_recordings", "list_tags", "may_use_restricted", "normalise_tag",
    "page_key", "playback_copy", "read_samples", "record_play", "redact_recording", "remove_tag",
    "subject_reference", "verify_recordings", "waveform",
]
