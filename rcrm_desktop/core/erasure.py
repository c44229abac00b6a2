"""Erasure of a data subject (GDPR Art. 17): preview first, then everything at once or nothing.

**What is erased** (``preview_erasure`` lists it with counts, ``preview_items``
item by item):

* the user account (``Subject``) and its rectification history (``SubjectChange``);
* its recordings — rows, tags, annotations, redaction records, released legal
  holds on them — and their audio files, and this workstation's waveform cache
  entries of that audio (other workstations drop theirs at their next start,
  ``core.pending.sweep_waveform_cache``);
* its crash events (deleted; the groups they counted in are kept — a group
  holds no personal data — and their counters, per-day counts and facets are
  recomputed in the same transaction);
* released legal holds on the account (active ones block the erasure).

**What is kept, and why** (shown in the preview):

* an **active legal hold on the account** blocks the erasure altogether
  (Art. 17(3)(e), "holds always win"): release it, or reject the request naming
  the exemption;
* a **recording under an active legal hold** is kept with its file,
  annotations and hold, but *unlinked* from the account (``subject`` set to
  NULL) — the account itself is erased; the hold records the erased subject's
  pseudonymous reference (``LegalHold.subject_ref``) so that whoever releases
  it knows the recording is then due for deletion;
* crash events of a **crash group under a legal hold** are kept but
  anonymised: unlinked, the ``user`` object removed from the payload, and the
  account's identifiers replaced in every text;
* **rights requests** of the account (this one included) stay as the
  controller's proof of what it did (Art. 5(2), 30): unlinked, with the
  pseudonymous ``subject_ref`` (a salted HMAC of the user ID, never the ID);
  the requester's name and contact are removed where they are the account's
  own, and the account's name, user ID, e-mail and phone are replaced in
  their texts and timelines;
* the **audit log**, which records operator actions by internal ids only and
  so holds nothing of the account.

**Atomic across database and files** (ARCHITECTURE.md privacy rules; the
protocol is ``core.pending``): the files are moved to the store's
pending-delete area with ``PendingFileOperation`` rows committed first; then
one transaction deletes and changes the rows, marks the file batch committed,
completes the request and appends the audit event; the files are deleted after
the commit. A crash or ``kill -9`` at any instant leaves, after
``core.pending.recover_pending`` at the next start, either the whole subject
(rows and files) or nothing of it — no orphan file, no orphan row
(``tests/unit/test_erasure_kill.py``). A failure before the commit (a file that
cannot be moved, a server that goes away) puts every file back and leaves the
request in progress, so the erasure can simply be run again.

The officer confirms by typing the account's user ID; the erasure needs
``subjects.erase`` (compliance officers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from peewee import fn

from rcrm_desktop.core import audit, letters, search_index
from rcrm_desktop.core import requests as core_requests
from rcrm_desktop.core.pending import FileBatch, delete_waveform_cache, waveform_cache_dir
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.requests import _fk, _tuples
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors
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
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, ValidationError

log = logging.getLogger(__name__)

#: ``progress(done, total, text)``; returning ``False`` cancels (only possible before the commit).
Progress = Callable[[int, int, str], bool | None]

#: Ids per ``IN (…)`` list.
CHUNK = 400

#: What replaces the account's identifiers in texts that are kept.
ERASED_MARK = "[erased]"
ERASED_REQUESTER = "[erased data subject]"

#: Kinds ``preview_items`` lists, with their labels.
ITEM_KINDS: dict[str, str] = {
    "recordings": "Recordings and their audio files",
    "annotations": "Annotations on those recordings",
    "crash_events": "Crash events",
    "changes": "Change history entries",
    "held_recordings": "Recordings kept under a legal hold",
    "requests": "Rights requests kept with a pseudonymous reference",
}


@dataclass(frozen=True)
class KeptItem:
    """Something the erasure keeps, and why (shown before the officer confirms)."""

    kind: str
    label: str
    why: str


@dataclass(frozen=True)
class PreviewItem:
    kind: str
    id: int
    label: str
    detail: str


@dataclass
class ErasurePreview:
    """Everything an erasure will do, before it is done (counts; ``preview_items`` gives the lists)."""

    request_id: int
    request_version: int
    subject_id: int
    user_id: str
    subject_name: str
    subject_ref: str
    counts: dict[str, int] = field(default_factory=dict)
    kept: list[KeptItem] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def can_erase(self) -> bool:
        return not self.blockers

    def as_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "request_version": self.request_version,
            "subject": {"id": self.subject_id, "user_id": self.user_id, "name": self.subject_name},
            "subject_ref": self.subject_ref, "counts": dict(self.counts),
            "kept": [{"kind": k.kind, "label": k.label, "why": k.why} for k in self.kept],
            "blockers": list(self.blockers), "warnings": list(self.warnings), "can_erase": self.can_erase,
        }


@dataclass(frozen=True)
class ErasureResult:
    request_id: int
    subject_ref: str
    counts: dict[str, int]
    files_deleted: int
    cache_files_deleted: int
    seconds: float
    #: The response letter, addressed with the requester's details as they were before the erasure.
    #: It exists only in memory: save it or send it now (the stored request no longer names them).
    letter_html: str

    def as_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "subject_ref": self.subject_ref, "counts": dict(self.counts),
                "files_deleted": self.files_deleted, "cache_files_deleted": self.cache_files_deleted,
                "seconds": round(self.seconds, 3)}


# ================================================================ planning


@dataclass
class _Plan:
    request: RightsRequest
    subject: Subject
    recordings: list[tuple[int, str, str, str, int]]  # id, path, sha256, original_sha256, size
    held: dict[int, list[int]]  # recording id → active hold ids on it
    crash_delete: list[int]
    crash_anonymise: list[int]
    groups: set[int]
    request_ids: list[int]
    subject_holds: list[LegalHold]

    @property
    def delete_ids(self) -> list[int]:
        return [r[0] for r in self.recordings if r[0] not in self.held]


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _count_in(model: Any, column: Any, ids: Sequence[int]) -> int:
    return sum(int(model.select().where(column.in_(list(chunk))).count()) for chunk in _chunks(ids))


def _request_and_subject(request_id: int) -> tuple[RightsRequest, Subject | None]:
    with database_errors():
        req = RightsRequest.get_or_none(RightsRequest.id == int(request_id))
        if req is None:
            raise NotFoundError(f"There is no rights request #{request_id}.")
        subject_id = _fk(req, "subject")
        subject = Subject.get_or_none(Subject.id == subject_id) if subject_id is not None else None
    return req, subject


def _plan(req: RightsRequest, subject: Subject) -> _Plan:
    recordings = [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4] or 0)) for r in _tuples(Recording.select(
        Recording.id, Recording.path, Recording.sha256, Recording.original_sha256, Recording.size_bytes)
        .where(Recording.subject == subject.id).order_by(Recording.id))]
    held: dict[int, list[int]] = {}
    ids = [r[0] for r in recordings]
    for chunk in _chunks(ids):
        for hold_id, rec_id in _tuples(LegalHold.select(LegalHold.id, LegalHold.recording).where(
                LegalHold.recording.in_(list(chunk)) & LegalHold.released_at.is_null())):
            held.setdefault(int(rec_id), []).append(int(hold_id))
    held_groups = {int(g) for (g,) in _tuples(LegalHold.select(LegalHold.crash_group).where(
        LegalHold.crash_group.is_null(False) & LegalHold.released_at.is_null()))}
    crash_delete: list[int] = []
    crash_anonymise: list[int] = []
    groups: set[int] = set()
    for event_id, group_id, original in _tuples(CrashEvent.select(CrashEvent.id, CrashEvent.group,
                                                                  CrashEvent.original_group).where(
            CrashEvent.subject == subject.id)):
        groups.add(int(group_id))
        if original is not None:
            groups.add(int(original))
        if int(group_id) in held_groups or (original is not None and int(original) in held_groups):
            crash_anonymise.append(int(event_id))
        else:
            crash_delete.append(int(event_id))
    request_ids = [int(r) for (r,) in _tuples(RightsRequest.select(RightsRequest.id).where(
        (RightsRequest.subject == subject.id) | (RightsRequest.subject_ref == subject.user_id)))]
    if req.id not in request_ids:
        request_ids.append(req.id)
    subject_holds = list(LegalHold.select().where((LegalHold.subject == subject.id)
                                                  & LegalHold.released_at.is_null()).order_by(LegalHold.id))
    return _Plan(req, subject, recordings, held, crash_delete, crash_anonymise, groups, sorted(request_ids),
                 subject_holds)


def _operator_name(operator_id: int | None) -> str:
    if operator_id is None:
        return "—"
    op = Operator.get_or_none(Operator.id == operator_id)
    return op.username if op is not None else "—"


def _blockers(plan: _Plan, today: dt.date) -> list[str]:
    out: list[str] = []
    why = core_requests._why_not("erase", plan.request, plan.subject, today)
    if why is not None:
        out.append(why)
    for hold in plan.subject_holds:
        out.append(
            f"Legal hold #{hold.id} on this account (placed {hold.created_at:%Y-%m-%d} by "
            f"{_operator_name(_fk(hold, 'owner'))}): {hold.reason} — holds win over erasure (GDPR Art. 17(3)). "
            "Release the hold first, or reject the request naming the exemption."
        )
    return out


def preview_erasure(actor: Actor, request_id: int, *, today: dt.date | None = None) -> ErasurePreview:
    """What erasing the request's subject would delete, keep (and why), and what blocks it now.

    Reads only; audited as a view of the subject (``erasure.preview``, ids only).
    """
    require(actor, Permission.SUBJECTS_ERASE)
    req, subject = _request_and_subject(request_id)
    if subject is None:
        raise ValidationError(f"Request #{req.id} is not matched to a user account: there is nothing to erase. "
                              "Match it first, or complete it with a note that no data is held.")
    day = today or dt.date.today()
    with database_errors():
        plan = _plan(req, subject)
        delete_ids = plan.delete_ids
        held_ids = sorted(plan.held)
        size = sum(r[4] for r in plan.recordings if r[0] not in plan.held)
        cache = waveform_cache_dir()
        cache_files = 0
        if cache.is_dir():
            hashes = {h for r in plan.recordings if r[0] not in plan.held for h in (r[2], r[3])}
            cache_files = sum(1 for p in cache.iterdir() if p.name[:64] in hashes)
        counts = {
            "account": 1,
            "recordings": len(delete_ids),
            "audio_bytes": size,
            "annotations": _count_in(Annotation, Annotation.recording, delete_ids),
            "tags": _count_in(RecordingTag, RecordingTag.recording, delete_ids),
            "redactions": _count_in(Redaction, Redaction.recording, delete_ids),
            "crash_events": len(plan.crash_delete),
            "crash_events_anonymised": len(plan.crash_anonymise),
            "crash_groups_recounted": len(plan.groups),
            "changes": int(SubjectChange.select().where(SubjectChange.subject == subject.id).count()),
            "released_holds": int(LegalHold.select().where(
                (LegalHold.subject == subject.id) & LegalHold.released_at.is_null(False)).count())
            + _count_in(LegalHold, LegalHold.recording, delete_ids),
            "waveform_cache_files": cache_files,
            "held_recordings": len(held_ids),
            "requests_kept": len(plan.request_ids),
        }
        ref = _peek_ref(subject.user_id)
        preview = ErasurePreview(req.id, req.version, subject.id, subject.user_id, subject.name, ref, counts)
        preview.blockers = _blockers(plan, day)
        for rec_id in held_ids:
            holds = list(LegalHold.select().where(LegalHold.id.in_(plan.held[rec_id])))
            reasons = "; ".join(f"hold #{h.id}: {h.reason.rstrip('. ')}" for h in holds)
            preview.kept.append(KeptItem(
                "held_recording", f"Recording #{rec_id}",
                f"Under a legal hold ({reasons}). Kept with its audio and annotations but unlinked from the "
                "account (GDPR Art. 17(3)(e)); delete it when the hold is released."))
        if plan.crash_anonymise:
            preview.kept.append(KeptItem(
                "crash_events", _plural(len(plan.crash_anonymise), "crash event", "crash events"),
                "Their crash group is under a legal hold: kept, but unlinked and stripped of the user object "
                "and of the account's identifiers."))
        if plan.groups:
            preview.kept.append(KeptItem(
                "crash_groups", _plural(len(plan.groups), "crash group", "crash groups"),
                "A group holds no personal data (titles are scrubbed); its counters are recomputed without "
                "this account's events."))
        preview.kept.append(KeptItem(
            "requests", ("This rights request" if len(plan.request_ids) == 1 else
                         f"{len(plan.request_ids)} rights requests, this one included"),
            f"Kept as proof of how the requests were answered (GDPR Art. 5(2)), unlinked and referring to the "
            f"account only by the pseudonymous reference {ref}; the requester's name and contact are removed "
            "where they are the account's own."))
        preview.kept.append(KeptItem(
            "audit", "The audit log",
            "It records what operators did by internal ids only and holds no name, contact data or audio."))
        others = [r for r in RightsRequest.select().where(
            (RightsRequest.subject == subject.id) & RightsRequest.state.in_(core_requests.OPEN_STATES)
            & (RightsRequest.id != req.id))]
        for other in others:
            preview.warnings.append(
                f"Request #{other.id} ({other.type}, {core_requests.state_label(other.state).lower()}) is open for "
                "this account; after the erasure it keeps only the pseudonymous reference.")
        if subject.restricted:
            preview.warnings.append("The account is restricted (Art. 18); erasure ends the restriction with the "
                                    "data.")
        with database.atomic():
            audit.record(actor, "erasure.preview", "subject", subject.id, request=req.id)
    return preview


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _peek_ref(user_id: str) -> str:
    """The reference the erasure will record (creating the instance secret on first use)."""
    with database.atomic():
        return core_requests._subject_ref(user_id)


def preview_items(actor: Actor, request_id: int, kind: str, *, after_id: int = 0, limit: int = 200
                  ) -> list[PreviewItem]:
    """One page (by id) of what ``kind`` of the preview holds — for a lazily filled list."""
    require(actor, Permission.SUBJECTS_ERASE)
    if kind not in ITEM_KINDS:
        raise ValidationError(f"“{kind[:40]}” is not a part of the preview; choose one of {', '.join(ITEM_KINDS)}.")
    req, subject = _request_and_subject(request_id)
    if subject is None:
        return []
    out: list[PreviewItem] = []
    with database_errors():
        held = {int(r) for (r,) in _tuples(LegalHold.select(LegalHold.recording).join(
            Recording, on=(LegalHold.recording == Recording.id)).where(
            (Recording.subject == subject.id) & LegalHold.released_at.is_null()))}
        if kind in ("recordings", "held_recordings"):
            query = (Recording.select().where((Recording.subject == subject.id) & (Recording.id > after_id))
                     .order_by(Recording.id))
            for rec in query:
                if (rec.id in held) != (kind == "held_recordings"):
                    continue
                out.append(PreviewItem(kind, rec.id, f"{rec.started_at:%Y-%m-%d %H:%M} · {rec.direction} · "
                                                     f"{_mmss(rec.duration_ms)}",
                                       f"{rec.path} ({rec.size_bytes:,} bytes)"))
                if len(out) >= limit:
                    break
        elif kind == "annotations":
            for ann in (Annotation.select(Annotation, Recording.id).join(Recording)
                        .where((Recording.subject == subject.id) & (Annotation.id > after_id))
                        .order_by(Annotation.id).limit(limit * 2)):
                if _fk(ann, "recording") in held:
                    continue
                out.append(PreviewItem(kind, ann.id, f"Recording #{_fk(ann, 'recording')} at {_mmss(ann.position_ms)}",
                                       ann.text[:200]))
                if len(out) >= limit:
                    break
        elif kind == "crash_events":
            for ev in (CrashEvent.select().where((CrashEvent.subject == subject.id) & (CrashEvent.id > after_id))
                       .order_by(CrashEvent.id).limit(limit)):
                out.append(PreviewItem(kind, ev.id, f"{ev.occurred_at:%Y-%m-%d %H:%M} · {ev.platform} · {ev.level}",
                                       (ev.exception_type or ev.message or "")[:200]))
        elif kind == "changes":
            for ch in (SubjectChange.select().where((SubjectChange.subject == subject.id)
                                                    & (SubjectChange.id > after_id))
                       .order_by(SubjectChange.id).limit(limit)):
                out.append(PreviewItem(kind, ch.id, f"{ch.changed_at:%Y-%m-%d %H:%M} · {ch.field}", ch.reason[:200]))
        else:
            for other in (RightsRequest.select().where(
                    ((RightsRequest.subject == subject.id) | (RightsRequest.id == req.id))
                    & (RightsRequest.id > after_id)).order_by(RightsRequest.id).limit(limit)):
                out.append(PreviewItem(kind, other.id, f"#{other.id} · {core_requests.type_label(other.type)}",
                                       f"{core_requests.state_label(other.state)}, received "
                                       f"{other.received_on:%Y-%m-%d}"))
    return out


def _mmss(ms: int | None) -> str:
    total = int(round((ms or 0) / 1000))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ================================================================ scrubbing kept texts


class _Scrubber:
    """Replaces the account's identifiers (name, user ID, e-mail, phone) in texts that are kept."""

    def __init__(self, subject: Subject) -> None:
        values = [subject.name, subject.user_id, subject.email, subject.phone]
        if subject.phone:
            digits = re.sub(r"\D", "", subject.phone)
            if len(digits) >= 6:
                values.append(digits)
        self.values = sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(v) for v in self.values), re.IGNORECASE) if self.values else None
        self.folded = [fold(v) for v in self.values]

    def text(self, value: str | None) -> str | None:
        if value is None or self.pattern is None:
            return value
        return self.pattern.sub(ERASED_MARK, value)

    def is_theirs(self, value: str | None) -> bool:
        """Whether a requester field names the account (its name, e-mail or phone, or contains one)."""
        if not value:
            return False
        folded = fold(value)
        return any(f and (f == folded or f in folded) for f in self.folded)

    def json(self, payload: str) -> str:
        try:
            data = json.loads(payload)
        except ValueError:
            return self.text(payload) or ""
        if isinstance(data, dict):
            data.pop("user", None)
        return json.dumps(self._walk(data), ensure_ascii=False, separators=(",", ":"))

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value


# ================================================================ the erasure


def erase_subject(actor: Actor, request_id: int, confirm_user_id: str, *, expected_version: int | None = None,
                  progress: Progress | None = None, store: RecordingsStore | None = None,
                  today: dt.date | None = None) -> ErasureResult:
    """Erase the subject of an erasure request, atomically across rows and files (see the module docstring).

    ``confirm_user_id`` must be the account's user ID exactly as typed by the
    officer. On success the request is completed (the erasure is its answer)
    and ``ErasureResult.letter_html`` holds the response letter. Raises
    ``ValidationError`` for what blocks the erasure (the same sentences as the
    preview), ``ConflictError`` when the request or the account changed since
    the officer looked (preview again), and leaves everything as it was on any
    failure.
    """
    require(actor, Permission.SUBJECTS_ERASE)
    started = time.monotonic()
    day = today or dt.date.today()
    req, subject = _request_and_subject(request_id)
    if subject is None:
        raise ValidationError(f"Request #{req.id} is not matched to a user account: there is nothing to erase.")
    if expected_version is not None and req.version != expected_version:
        raise core_requests._conflict(req)
    typed = (confirm_user_id or "").strip()
    if typed != subject.user_id:
        raise ValidationError("The user ID typed does not match the account to be erased; nothing was erased. "
                              "Type the user ID exactly as the preview shows it.")
    recordings_store = store if store is not None else open_store()
    with database_errors():
        plan = _plan(req, subject)
        blockers = _blockers(plan, day)
        if blockers:
            raise ValidationError(blockers[0])
        ref = _peek_ref(subject.user_id)
    requester = (req.requester_name, req.requester_contact)
    delete_ids = set(plan.delete_ids)
    files = [(r[0], r[1]) for r in plan.recordings if r[0] in delete_ids]
    hashes = sorted({h for r in plan.recordings if r[0] in delete_ids for h in (r[2], r[3]) if h})
    batch = FileBatch(recordings_store, "erasure")

    def stage_progress(done: int, total: int, _path: str) -> bool | None:
        if progress is None:
            return None
        return progress(done, total + 2, f"Moving recording {done + 1:,} of {total:,} to the pending-delete area")

    try:
        batch.stage(files, hashes, stage_progress)
    except BaseException as exc:
        if isinstance(exc, ValidationError):
            core_requests.record_step_failure(actor, req.id, "Erasure", exc.message)
        raise
    if progress is not None:
        progress(len(files) + 1, len(files) + 2, "Deleting the account's rows in one transaction")
    try:
        with database_errors(), database.atomic():
            counts = _apply(actor, plan, ref, day)
            search_index.mark_purge_needed()
            batch.mark_committed()
    except BaseException as exc:
        batch.rollback()
        if isinstance(exc, ConflictError | ValidationError):
            core_requests.record_step_failure(actor, req.id, "Erasure", exc.message)
        raise
    files_deleted = batch.finish()
    cache_deleted = sum(delete_waveform_cache(h) for h in hashes)  # entries written since staging
    try:
        search_index.purge_deleted_terms()  # no trigram of the erased name may survive in the search index
    except Exception:  # noqa: BLE001 - committed already; the mark makes the next start-up purge
        log.exception("Purging the search index after an erasure failed; it is retried at the next start")
    if progress is not None:
        progress(len(files) + 2, len(files) + 2, "Done")
    log.info("Erased subject #%d for request #%d: %d recordings, %d crash events", subject.id, req.id,
             counts["recordings"], counts["crash_events"])
    try:
        letter = letters.letter_html(actor, req.id, requester=requester, today=day)
    except Exception:  # noqa: BLE001 - the erasure is done; the letter can be written again from the request
        log.warning("The response letter of request #%d could not be written after the erasure", req.id)
        letter = ""
    return ErasureResult(req.id, ref, counts, files_deleted, cache_deleted, time.monotonic() - started, letter)


def _apply(actor: Actor, plan: _Plan, ref: str, today: dt.date) -> dict[str, int]:
    """The one transaction: re-check, delete and change every row, complete the request, audit."""
    subject = plan.subject
    req = plan.request
    # Lock the account first (a row lock on the servers), then check nothing moved since the plan.
    locked = Subject.update(version=Subject.version + 1).where(Subject.id == subject.id).execute()
    if locked != 1:
        raise ConflictError("The user account was erased or changed on another workstation meanwhile; nothing "
                            "was erased here. Open the request again.")
    fresh = RightsRequest.get_by_id(req.id)
    if fresh.version != req.version or fresh.state != req.state:
        raise core_requests._conflict(fresh)
    again = _plan(fresh, subject)
    if [r[0] for r in again.recordings] != [r[0] for r in plan.recordings] or again.held != plan.held \
            or sorted(again.crash_delete + again.crash_anonymise) != sorted(plan.crash_delete + plan.crash_anonymise):
        raise ConflictError("Recordings, legal holds or crash events of this account changed while the erasure "
                            "was being prepared; nothing was erased. Open the erasure preview again.")
    if again.subject_holds:
        raise ValidationError(_blockers(again, today)[-1])
    scrub = _Scrubber(subject)
    delete_ids = plan.delete_ids
    held_ids = sorted(plan.held)
    counts: dict[str, int] = {"account": 1, "recordings": len(delete_ids), "held_recordings": len(held_ids)}
    counts["annotations"] = counts["tags"] = counts["redactions"] = counts["recording_holds"] = 0
    for chunk in _chunks(delete_ids):
        ids = list(chunk)
        counts["annotations"] += Annotation.delete().where(Annotation.recording.in_(ids)).execute()
        counts["tags"] += RecordingTag.delete().where(RecordingTag.recording.in_(ids)).execute()
        counts["redactions"] += Redaction.delete().where(Redaction.recording.in_(ids)).execute()
        counts["recording_holds"] += LegalHold.delete().where(LegalHold.recording.in_(ids)).execute()
        Recording.delete().where(Recording.id.in_(ids)).execute()
    for chunk in _chunks(held_ids):
        Recording.update(subject=None, version=Recording.version + 1).where(Recording.id.in_(list(chunk))).execute()
        LegalHold.update(subject_ref=ref).where(LegalHold.recording.in_(list(chunk))
                                                & LegalHold.released_at.is_null()).execute()
    counts["crash_events"] = 0
    for chunk in _chunks(plan.crash_delete):
        counts["crash_events"] += CrashEvent.delete().where(CrashEvent.id.in_(list(chunk))).execute()
    for event in CrashEvent.select().where(CrashEvent.id.in_(plan.crash_anonymise or [0])):
        CrashEvent.update(subject=None, payload=scrub.json(event.payload), message=scrub.text(event.message),
                          exception_type=scrub.text(event.exception_type)).where(CrashEvent.id == event.id).execute()
    counts["crash_events_anonymised"] = len(plan.crash_anonymise)
    _recount_groups(plan.groups)
    counts["crash_groups_recounted"] = len(plan.groups)
    counts["changes"] = SubjectChange.delete().where(SubjectChange.subject == subject.id).execute()
    counts["released_holds"] = LegalHold.delete().where(LegalHold.subject == subject.id).execute()
    now = utcnow()
    core_requests._update(fresh, {RightsRequest.state: "completed", RightsRequest.closed_at: now,
                                  RightsRequest.erased_at: now, RightsRequest.awaiting_requester: False})
    counts["requests_kept"] = _pseudonymise_requests(plan.request_ids, ref, scrub)
    deleted = Subject.delete().where(Subject.id == subject.id).execute()
    if deleted != 1:
        raise ConflictError("The user account disappeared during the erasure; nothing was erased.")
    kept = (f" {len(held_ids)} recording(s) under a legal hold were kept, unlinked from the account "
            "(GDPR Art. 17(3)(e))." if held_ids else "")
    core_requests._event(actor, req.id, "erased",
                         f"User account erased: {counts['recordings']} recording(s) with their audio, "
                         f"{counts['annotations']} annotation(s), {counts['crash_events']} crash event(s) and "
                         f"{counts['changes']} change-history entr{'y' if counts['changes'] == 1 else 'ies'} "
                         f"deleted.{kept} The request refers to the former account as {ref}.")
    core_requests._event(actor, req.id, "state", "In progress → Completed (erasure done, Art. 17).")
    audit.record(actor, "subject.erase", "subject", subject.id, request=req.id, recordings=counts["recordings"],
                 held_recordings=len(held_ids), crash_events=counts["crash_events"],
                 crash_events_anonymised=counts["crash_events_anonymised"], changes=counts["changes"],
                 requests=counts["requests_kept"])
    return counts


def _pseudonymise_requests(request_ids: Sequence[int], ref: str, scrub: _Scrubber) -> int:
    for req in RightsRequest.select().where(RightsRequest.id.in_(list(request_ids) or [0])):
        name = ERASED_REQUESTER if scrub.is_theirs(req.requester_name) else scrub.text(req.requester_name)
        contact = None if scrub.is_theirs(req.requester_contact) else scrub.text(req.requester_contact)
        RightsRequest.update({
            RightsRequest.subject: None, RightsRequest.subject_ref: ref,
            RightsRequest.requester_name: name, RightsRequest.requester_contact: contact,
            RightsRequest.requester_key: core_requests.requester_key(name or "", contact),
            RightsRequest.details: scrub.text(req.details),
            RightsRequest.rejection_reason: scrub.text(req.rejection_reason),
            RightsRequest.rejection_exemption: scrub.text(req.rejection_exemption),
            RightsRequest.extension_reason: scrub.text(req.extension_reason),
            RightsRequest.awaiting_reason: scrub.text(req.awaiting_reason),
            RightsRequest.verification_method: scrub.text(req.verification_method),
            RightsRequest.version: RightsRequest.version + 1,
        }).where(RightsRequest.id == req.id).execute()
        for event in RequestEvent.select(RequestEvent.id, RequestEvent.detail).where(RequestEvent.request == req.id):
            cleaned = scrub.text(event.detail)
            if cleaned != event.detail:
                RequestEvent.update(detail=cleaned).where(RequestEvent.id == event.id).execute()
        for exclusion in PackageExclusion.select().where(PackageExclusion.request == req.id):
            cleaned = scrub.text(exclusion.reason) or ""
            if cleaned != exclusion.reason:
                PackageExclusion.update(reason=cleaned).where(PackageExclusion.id == exclusion.id).execute()
    return len(request_ids)


def _recount_groups(group_ids: Iterable[int]) -> None:
    """Recompute the counters (and per-day counts and facets) of crash groups that lost events.

    Uses ``core.crashes``' own rebuild when present, so both modules agree on
    what a group's aggregates are; otherwise recomputes counters, days and facets here.
    """
    ids = sorted(set(group_ids))
    if not ids:
        return
    try:
        from rcrm_desktop.core import crashes
        rebuild = getattr(crashes, "_rebuild_aggregates", None)
    except ImportError:  # pragma: no cover - crashes is part of the product
        rebuild = None
    if rebuild is not None:
        rebuild(ids)
        return
    for gid in ids:  # pragma: no cover - fallback
        agg = cast(dict[str, Any], CrashEvent.select(fn.COUNT(CrashEvent.id).alias("n"),
                                                 fn.MIN(CrashEvent.occurred_at).alias("first"),
                                                 fn.MAX(CrashEvent.occurred_at).alias("last"),
                                                 fn.COUNT(CrashEvent.subject.distinct()).alias("subjects"))
                   .where(CrashEvent.group == gid).dicts().get())
        values: dict[Any, Any] = {CrashGroup.event_count: agg["n"] or 0, CrashGroup.subject_count: agg["subjects"] or 0}
        if agg["n"]:
            values[CrashGroup.first_seen] = agg["first"]
            values[CrashGroup.last_seen] = agg["last"]
        CrashGroup.update(values).where(CrashGroup.id == gid).execute()
        CrashDailyCount.delete().where(CrashDailyCount.group == gid).execute()
        CrashGroupFacet.delete().where(CrashGroupFacet.group == gid).execute()


__all__ = ["ERASED_MARK", "ErasurePreview", "ErasureResult", "ITEM_KINDS", "KeptItem", "PreviewItem",
           "erase_subject", "preview_erasure", "preview_items"]
