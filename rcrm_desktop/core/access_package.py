"""Access packages (GDPR Art. 15(3), Art. 20): everything the instance holds about one subject, in one ZIP.

Contents of the ZIP (every name fixed, so a requester's tools can rely on them):

``subject.json``
    Everything the instance holds about the subject, machine-readable (Art. 20:
    "structured, commonly used and machine-readable"). The schema, also shipped
    as ``subject.schema.json`` in the package and in
    ``resources/schemas/subject.schema.json`` (JSON Schema 2020-12)::

        format            "rcrm-subject-export"
        format_version    1
        generated_at      RFC 3339 UTC time the package was built
        controller        the instance's name (the data controller)
        request           {id, type, received_on}: the request this answers
        account           {user_id, name, email, phone, birth_date, created_at, last_active_at,
                           restricted, restricted_reason, objected, objected_reason}
        change_history    [{id, field, old_value, new_value, reason, changed_at, request_id}]
                          corrections of the account (Art. 16), oldest first
        recordings        [{id, started_at, direction, agent, duration_ms, format, sample_rate, channels,
                            size_bytes, sha256, redacted, file, audio_withheld, tags[],
                            annotations[{id, position_ms, end_ms, text, created_at}],
                            redactions[{start_ms, end_ms, reason, created_at}]}]
                          ``file`` is the audio's path inside the ZIP (``audio/…``), null when withheld;
                          ``redactions`` are regions whose sound was removed (card data, PCI DSS)
        crash_events      [{id, event_id, occurred_at, received_at, platform, level, release, environment,
                            os, exception_type, message, payload}]
                          ``payload`` is the stored (scrubbed) Sentry event as JSON
        requests          [{id, type, state, received_on, due_on, extended_due_on, closed_at,
                            timeline[{at, kind, detail}]}]: the subject's rights requests
        recipients        [] — the instance discloses nothing to recipients (Art. 15(1)(c))
        withheld          [{item, reason}]: items kept out to protect others (Art. 15(4))

    Times are RFC 3339 UTC (``…Z``), dates ``YYYY-MM-DD``, durations milliseconds.

``subject.schema.json``
    The JSON Schema of ``subject.json``.
``audio/<id>-<name>``
    The original audio of every recording not withheld, byte for byte as stored
    (the requester is entitled to the recording itself, DOMAIN.md).
``index.html``
    A readable summary that works offline (no script, no remote resource), with
    every recording playable in a browser through ``<audio>``.
``manifest.json``
    ``{format, generated_at, request_id, files: [{path, size, sha256}]}`` — the
    SHA-256 of every other file in the ZIP.

Guarantees:

* **Reviewed before delivery** (Art. 15(4)): ``package_items`` lists what will
  go in; ``exclude_item`` keeps an item out with a reason (recorded with the
  operator, listed in ``withheld`` and in the response letter); a change of the
  exclusions invalidates a package already built.
* **Written atomically**: into a temporary file beside the target, fsynced,
  renamed over the target at the very end; a failure or a cancel leaves no
  partial file and no change on the request — the same step can be run again.
  Every audio file is hashed as it is copied and must match the SHA-256 the
  instance recorded, so a damaged store is reported, never delivered.
* The package's own SHA-256 (computed while it is written) is recorded on the
  request and its timeline, and audited (ids and the hash only).
* A restricted subject's audio (Art. 18) is exported by compliance officers
  only (``subjects.restrict``); the build needs ``requests.manage`` and
  ``recordings.export``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import queue
import re
import secrets
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from rcrm_desktop import paths
from rcrm_desktop.core import audit
from rcrm_desktop.core import requests as core_requests
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.requests import _fk
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import (
    Annotation,
    CrashEvent,
    InstanceSetting,
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
from rcrm_desktop.errors import NotFoundError, RcrmError, ValidationError

FORMAT = "rcrm-subject-export"
FORMAT_VERSION = 1

#: Kinds of item a reviewer may withhold, with what withholding means.
EXCLUDABLE: dict[str, str] = {
    "recording": "the recording entirely (metadata, notes and audio)",
    "audio": "the recording's audio file only",
    "annotation": "one note on a recording",
    "crash_event": "one crash event",
    "change": "one entry of the change history",
}

#: ``progress(done, total, text)``; returning ``False`` cancels.
Progress = Callable[[int, int, str], bool | None]

_CHUNK = 1024 * 1024
_ITEM_RE = re.compile(r"^(recording|audio|annotation|crash_event|change):(\d{1,12})$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PackageCancelled(RcrmError):
    """The officer cancelled the build; nothing was written and the request did not change."""


@dataclass(frozen=True)
class PackageItem:
    """One reviewable item of a package."""

    item: str
    kind: str
    id: int
    label: str
    detail: str
    size_bytes: int
    excluded: bool
    reason: str | None

    def as_json(self) -> dict[str, Any]:
        return {"item": self.item, "kind": self.kind, "id": self.id, "label": self.label, "detail": self.detail,
                "size_bytes": self.size_bytes, "excluded": self.excluded, "reason": self.reason}


@dataclass(frozen=True)
class PackageResult:
    path: Path
    sha256: str
    size_bytes: int
    files: int
    recordings: int
    audio_files: int
    crash_events: int
    withheld: int

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "size_bytes": self.size_bytes, "files": self.files,
                "recordings": self.recordings, "audio_files": self.audio_files, "crash_events": self.crash_events,
                "withheld": self.withheld}


def schema_path() -> Path:
    """The JSON Schema of ``subject.json`` (bundled resource)."""
    return paths.resource("schemas", "subject.schema.json")


def parse_item(text: str) -> tuple[str, int]:
    """``recording:12`` → (``recording``, 12); a ``ValidationError`` names the accepted forms."""
    match = _ITEM_RE.match((text or "").strip().lower())
    if not match:
        raise ValidationError(f"“{(text or '')[:60]}” is not a package item; use KIND:ID with KIND one of "
                              f"{', '.join(EXCLUDABLE)} (for example recording:12).")
    return match.group(1), int(match.group(2))


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _date(value: Any) -> str | None:
    return value.isoformat() if value else None


# ================================================================ reading what goes in


def _request_subject(request_id: int) -> tuple[RightsRequest, Subject]:
    req = core_requests._get(request_id)
    subject = core_requests._subject_of(req)
    if subject is None:
        raise ValidationError(f"Request #{req.id} is not matched to a user account; match it first "
                              "(Match user account…).")
    return req, subject


def _exclusions(request_id: int) -> dict[str, str]:
    return {x.item: x.reason for x in PackageExclusion.select().where(PackageExclusion.request == request_id)}


def package_items(actor: Actor, request_id: int) -> list[PackageItem]:
    """Every item a reviewer may withhold, with whether (and why) it is withheld now."""
    require(actor, Permission.REQUESTS_MANAGE)
    with database_errors():
        req, subject = _request_subject(request_id)
        excluded = _exclusions(req.id)
        items: list[PackageItem] = []

        def add(kind: str, ident: int, label: str, detail: str, size: int = 0) -> None:
            key = f"{kind}:{ident}"
            items.append(PackageItem(key, kind, ident, label, detail, size, key in excluded, excluded.get(key)))

        for rec in Recording.select().where(Recording.subject == subject.id).order_by(Recording.started_at,
                                                                                    Recording.id):
            label = f"Call {rec.started_at:%Y-%m-%d %H:%M} ({rec.direction}, {_mmss(rec.duration_ms)})"
            add("recording", rec.id, label, f"Metadata, notes and audio · agent {rec.agent or '—'}", 0)
            add("audio", rec.id, f"Audio of the call {rec.started_at:%Y-%m-%d %H:%M}",
                f"{rec.format.upper()}, {rec.size_bytes:,} bytes", int(rec.size_bytes))
        for ann in (Annotation.select(Annotation, Recording.started_at).join(Recording)
                    .where(Recording.subject == subject.id).order_by(Annotation.recording, Annotation.position_ms)):
            add("annotation", ann.id, f"Note at {_mmss(ann.position_ms)} on the call of "
                                      f"{ann.recording.started_at:%Y-%m-%d %H:%M}", ann.text[:300])
        for event in CrashEvent.select().where(CrashEvent.subject == subject.id).order_by(CrashEvent.occurred_at):
            add("crash_event", event.id, f"Crash {event.occurred_at:%Y-%m-%d %H:%M} ({event.platform})",
                (event.exception_type or event.message or "")[:300])
        for change in SubjectChange.select().where(SubjectChange.subject == subject.id).order_by(SubjectChange.id):
            add("change", change.id, f"Correction of {change.field} on {change.changed_at:%Y-%m-%d}",
                change.reason[:300])
        with database.atomic():
            audit.record(actor, "request.package_review", "request", req.id, subject=subject.id, items=len(items))
    return items


def _mmss(ms: int | None) -> str:
    total = int(round((ms or 0) / 1000))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _belongs(kind: str, ident: int, subject_id: int) -> bool:
    if kind in ("recording", "audio"):
        return bool(Recording.select().where((Recording.id == ident) & (Recording.subject == subject_id)).exists())
    if kind == "annotation":
        return bool(Annotation.select().join(Recording).where(
            (Annotation.id == ident) & (Recording.subject == subject_id)).exists())
    if kind == "crash_event":
        return bool(CrashEvent.select().where((CrashEvent.id == ident) & (CrashEvent.subject == subject_id)).exists())
    return bool(SubjectChange.select().where((SubjectChange.id == ident)
                                             & (SubjectChange.subject == subject_id)).exists())


def exclude_item(actor: Actor, request_id: int, item: str, reason: str, *, expected_version: int | None = None
                 ) -> core_requests.RequestDetail:
    """Withhold one item from the package with a reason (Art. 15(4)); a package already built is invalidated."""
    require(actor, Permission.REQUESTS_MANAGE)
    kind, ident = parse_item(item)
    reason_text = core_requests._text(reason, "The reason for withholding it", required=True)
    req = core_requests._get(request_id)
    with database_errors(), database.atomic():
        core_requests._check_version(req, expected_version)
        subject = core_requests._subject_of(req)
        core_requests._require_action("package", req, subject)
        assert subject is not None
        if not _belongs(kind, ident, subject.id):
            raise NotFoundError(f"{kind}:{ident} is not part of this subject's data.")
        key = f"{kind}:{ident}"
        if PackageExclusion.select().where((PackageExclusion.request == req.id)
                                           & (PackageExclusion.item == key)).exists():
            raise ValidationError(f"{key} is already withheld.")
        PackageExclusion.create(request=req.id, item=key, reason=reason_text, operator=actor.operator_id,
                                created_at=utcnow())
        _invalidate(actor, req, f"Withheld {key} from the access package (Art. 15(4)): {reason_text}")
        audit.record(actor, "request.exclude", "request", req.id, item=key)
        return core_requests._fresh(req.id)


def include_item(actor: Actor, request_id: int, item: str, *, expected_version: int | None = None
                 ) -> core_requests.RequestDetail:
    """Put a withheld item back into the package."""
    require(actor, Permission.REQUESTS_MANAGE)
    kind, ident = parse_item(item)
    req = core_requests._get(request_id)
    with database_errors(), database.atomic():
        core_requests._check_version(req, expected_version)
        core_requests._require_action("package", req, core_requests._subject_of(req))
        key = f"{kind}:{ident}"
        removed = PackageExclusion.delete().where((PackageExclusion.request == req.id)
                                                  & (PackageExclusion.item == key)).execute()
        if not removed:
            raise ValidationError(f"{key} is not withheld.")
        _invalidate(actor, req, f"Put {key} back into the access package.")
        audit.record(actor, "request.include", "request", req.id, item=key)
        return core_requests._fresh(req.id)


def _invalidate(actor: Actor, req: RightsRequest, detail: str) -> None:
    changes: dict[Any, Any] = {}
    if req.package_sha256:
        changes = {RightsRequest.package_sha256: None, RightsRequest.package_built_at: None,
                   RightsRequest.package_size: None}
        detail += " The package built earlier no longer matches the review; build it again."
    core_requests._update(req, changes)
    core_requests._event(actor, req.id, "review", detail)


# ================================================================ subject.json


def _controller() -> str:
    row = InstanceSetting.get_or_none(InstanceSetting.key == "instance_name")
    return str(row.value) if row is not None and str(row.value).strip() else "RCRM instance"


def _recording_of(row: Any) -> int:
    """The recording id of a tag, note or redaction row (never NULL: the column is required)."""
    value = _fk(row, "recording")
    assert value is not None
    return value


def _audio_name(rec: Recording) -> str:
    base = rec.path.replace("\\", "/").rsplit("/", 1)[-1]
    safe = _SAFE_NAME.sub("_", base).strip("._") or f"recording.{rec.format}"
    return f"audio/{rec.id:06d}-{safe[:100]}"


def _subject_document(req: RightsRequest, subject: Subject, withheld: dict[str, str], generated_at: dt.datetime
                     ) -> tuple[dict[str, Any], list[tuple[Recording, str]]]:
    """``subject.json`` (as a dict) and the audio files to copy ``(recording, path in the ZIP)``.

    Reads the database only; honours ``withheld``. Callers check permissions.
    """
    account = {
        "user_id": subject.user_id, "name": subject.name, "email": subject.email, "phone": subject.phone,
        "birth_date": _date(subject.birth_date), "created_at": _iso(subject.created_at),
        "last_active_at": _iso(subject.last_active_at), "restricted": bool(subject.restricted),
        "restricted_reason": subject.restricted_reason if subject.restricted else None,
        "objected": bool(subject.objected), "objected_reason": subject.objected_reason if subject.objected else None,
    }
    changes = [{"id": c.id, "field": c.field, "old_value": c.old_value, "new_value": c.new_value,
                "reason": c.reason, "changed_at": _iso(c.changed_at), "request_id": c.request}
               for c in SubjectChange.select().where(SubjectChange.subject == subject.id)
               .order_by(SubjectChange.changed_at, SubjectChange.id) if f"change:{c.id}" not in withheld]
    recordings = [r for r in Recording.select().where(Recording.subject == subject.id)
                  .order_by(Recording.started_at, Recording.id) if f"recording:{r.id}" not in withheld]
    ids = [r.id for r in recordings]
    tags: dict[int, list[str]] = {}
    notes: dict[int, list[dict[str, Any]]] = {}
    cuts: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 400):
        chunk = ids[start:start + 400]
        for tag in RecordingTag.select().where(RecordingTag.recording.in_(chunk)).order_by(RecordingTag.tag):
            tags.setdefault(_recording_of(tag), []).append(tag.tag)
        for ann in Annotation.select().where(Annotation.recording.in_(chunk)).order_by(Annotation.position_ms,
                                                                                      Annotation.id):
            if f"annotation:{ann.id}" in withheld:
                continue
            notes.setdefault(_recording_of(ann), []).append(
                {"id": ann.id, "position_ms": ann.position_ms, "end_ms": ann.end_ms, "text": ann.text,
                 "created_at": _iso(ann.created_at)})
        for red in Redaction.select().where(Redaction.recording.in_(chunk)).order_by(Redaction.start_ms):
            cuts.setdefault(_recording_of(red), []).append(
                {"start_ms": red.start_ms, "end_ms": red.end_ms, "reason": red.reason,
                 "created_at": _iso(red.created_at)})
    audio: list[tuple[Recording, str]] = []
    rec_docs = []
    for rec in recordings:
        withhold_audio = f"audio:{rec.id}" in withheld
        name = None if withhold_audio else _audio_name(rec)
        if name is not None:
            audio.append((rec, name))
        rec_docs.append({
            "id": rec.id, "started_at": _iso(rec.started_at), "direction": rec.direction, "agent": rec.agent,
            "duration_ms": rec.duration_ms, "format": rec.format, "sample_rate": rec.sample_rate,
            "channels": rec.channels, "size_bytes": rec.size_bytes, "sha256": rec.sha256,
            "redacted": bool(rec.redacted), "file": name, "audio_withheld": withhold_audio,
            "tags": tags.get(rec.id, []), "annotations": notes.get(rec.id, []), "redactions": cuts.get(rec.id, []),
        })
    crash = []
    for event in CrashEvent.select().where(CrashEvent.subject == subject.id).order_by(CrashEvent.occurred_at,
                                                                                      CrashEvent.id):
        if f"crash_event:{event.id}" in withheld:
            continue
        try:
            payload = json.loads(event.payload)
        except ValueError:
            payload = event.payload
        crash.append({"id": event.id, "event_id": event.event_id, "occurred_at": _iso(event.occurred_at),
                      "received_at": _iso(event.received_at), "platform": event.platform, "level": event.level,
                      "release": event.release, "environment": event.environment, "os": event.os_name,
                      "exception_type": event.exception_type, "message": event.message, "payload": payload})
    reqs = []
    for other in RightsRequest.select().where(RightsRequest.subject == subject.id).order_by(RightsRequest.id):
        timeline = [{"at": _iso(e.at), "kind": e.kind, "detail": e.detail}
                    for e in RequestEvent.select().where(RequestEvent.request == other.id)
                    .order_by(RequestEvent.at, RequestEvent.id)]
        reqs.append({"id": other.id, "type": other.type, "state": other.state,
                     "received_on": _date(other.received_on), "due_on": _date(other.due_on),
                     "extended_due_on": _date(other.extended_due_on), "closed_at": _iso(other.closed_at),
                     "timeline": timeline})
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "generated_at": _iso(generated_at),
        "controller": _controller(),
        "request": {"id": req.id, "type": req.type, "received_on": _date(req.received_on)},
        "account": account, "change_history": changes, "recordings": rec_docs, "crash_events": crash,
        "requests": reqs, "recipients": [],
        "withheld": [{"item": item, "reason": reason} for item, reason in sorted(withheld.items())],
    }
    return doc, audio


# ================================================================ index.html


def _index_html(doc: dict[str, Any]) -> str:
    acc = doc["account"]
    e = escape

    def row(label: str, value: Any) -> str:
        return f"<tr><th>{e(label)}</th><td>{e('—' if value in (None, '') else str(value))}</td></tr>"

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Your data held by {e(doc['controller'])}</title>",
        "<style>body{font-family:system-ui,'Segoe UI',Arial,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
        "color:#1d1d1f;line-height:1.45}h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;"
        "padding-bottom:.2em}table{border-collapse:collapse;margin:.5em 0}th,td{text-align:left;padding:.25em .8em;"
        "border-bottom:1px solid #eee;vertical-align:top}th{color:#555;font-weight:600}.card{border:1px solid #ddd;"
        "border-radius:8px;padding:.8em 1em;margin:.8em 0}.muted{color:#666}audio{width:100%;margin:.4em 0}"
        "code{font-size:.9em}</style></head><body>",
        f"<h1>Your personal data held by {e(doc['controller'])}</h1>",
        f"<p class='muted'>Prepared {e(doc['generated_at'])} in answer to rights request #{doc['request']['id']} "
        f"({e(doc['request']['type'])}, received {e(doc['request']['received_on'])}). This page works offline; "
        "<code>subject.json</code> holds the same data in a machine-readable form (schema in "
        "<code>subject.schema.json</code>), and <code>manifest.json</code> lists the SHA-256 of every file.</p>",
        "<h2>Your account</h2><table>",
        row("User ID", acc["user_id"]), row("Name", acc["name"]), row("E-mail", acc["email"]),
        row("Phone", acc["phone"]), row("Date of birth", acc["birth_date"]), row("Created", acc["created_at"]),
        row("Last active", acc["last_active_at"]),
        row("Restricted (Art. 18)", ("yes — " + (acc["restricted_reason"] or "")) if acc["restricted"] else "no"),
        row("Objected (Art. 21)", ("yes — " + (acc["objected_reason"] or "")) if acc["objected"] else "no"),
        "</table>",
        f"<h2>Corrections ({len(doc['change_history'])})</h2>",
    ]
    if doc["change_history"]:
        parts.append("<table><tr><th>When</th><th>Field</th><th>Was</th><th>Is now</th><th>Reason</th></tr>")
        for c in doc["change_history"]:
            parts.append(f"<tr><td>{e(c['changed_at'] or '')}</td><td>{e(c['field'])}</td>"
                         f"<td>{e(c['old_value'] or '—')}</td><td>{e(c['new_value'] or '—')}</td>"
                         f"<td>{e(c['reason'])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>None.</p>")
    parts.append(f"<h2>Call recordings ({len(doc['recordings'])})</h2>")
    for rec in doc["recordings"]:
        minutes = _mmss(rec["duration_ms"])
        parts.append(f"<div class='card'><b>{e(rec['started_at'] or '')}</b> · {e(rec['direction'])} · "
                     f"{e(minutes)} · {e(rec['format'])}" + (" · <i>redacted</i>" if rec["redacted"] else ""))
        if rec["file"]:
            parts.append(f"<audio controls preload='none' src='{e(rec['file'], quote=True)}'></audio>"
                         f"<div class='muted'>File: <code>{e(rec['file'])}</code></div>")
        else:
            parts.append("<div class='muted'>The audio of this call was withheld (see “Withheld items”).</div>")
        if rec["tags"]:
            parts.append(f"<div class='muted'>Tags: {e(', '.join(rec['tags']))}</div>")
        for note in rec["annotations"]:
            parts.append(f"<div>Note at {e(_mmss(note['position_ms']))}: {e(note['text'])}</div>")
        for cut in rec["redactions"]:
            parts.append(f"<div class='muted'>Sound removed {e(_mmss(cut['start_ms']))}–{e(_mmss(cut['end_ms']))}: "
                         f"{e(cut['reason'])}</div>")
        parts.append("</div>")
    parts.append(f"<h2>Crash reports ({len(doc['crash_events'])})</h2>")
    if doc["crash_events"]:
        parts.append("<table><tr><th>When</th><th>Platform</th><th>Release</th><th>Problem</th></tr>")
        for ev in doc["crash_events"]:
            parts.append(f"<tr><td>{e(ev['occurred_at'] or '')}</td><td>{e(ev['platform'])}</td>"
                         f"<td>{e(ev['release'] or '—')}</td>"
                         f"<td>{e((ev['exception_type'] or '') + ': ' + (ev['message'] or ''))}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p class='muted'>None.</p>")
    parts.append(f"<h2>Your requests ({len(doc['requests'])})</h2><table>"
                 "<tr><th>#</th><th>Type</th><th>State</th><th>Received</th><th>Closed</th></tr>")
    for r in doc["requests"]:
        parts.append(f"<tr><td>{r['id']}</td><td>{e(r['type'])}</td><td>{e(r['state'])}</td>"
                     f"<td>{e(r['received_on'] or '')}</td><td>{e(r['closed_at'] or '—')}</td></tr>")
    parts.append("</table><h2>Recipients</h2><p>None: the system is operated on our own premises and your data "
                 "was not disclosed to anyone outside it (Art. 15(1)(c)).</p>")
    if doc["withheld"]:
        parts.append("<h2>Withheld items</h2><p>To protect the rights and freedoms of others (Art. 15(4)):</p>"
                     "<table><tr><th>Item</th><th>Reason</th></tr>")
        for w in doc["withheld"]:
            parts.append(f"<tr><td>{e(w['item'])}</td><td>{e(w['reason'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ================================================================ writing the ZIP


class _BackgroundHasher:
    """Applies queued ``(digest, chunk)`` updates in order on a helper thread (``hashlib`` releases the GIL).

    Hashing on the thread that reads and writes the audio added a full pass
    over it; queued, it overlaps the copying instead. Only immutable ``bytes``
    are queued. ``finish`` waits for the last update; call it before reading
    any digest.
    """

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, bytes] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._hash, name=name, daemon=True)
        self._thread.start()
        self._done = False

    def _hash(self) -> None:
        while (item := self._queue.get()) is not None:
            item[0].update(item[1])

    def update(self, digest: Any, chunk: bytes) -> None:
        self._queue.put((digest, chunk))

    def finish(self) -> None:
        if not self._done:
            self._done = True
            self._queue.put(None)
            self._thread.join()


class _HashingWriter:
    """A write-only, non-seekable file wrapper that hashes every byte (so the ZIP is hashed as it is written).

    ``zipfile`` writes to an unseekable file in streaming mode (data
    descriptors), so the bytes go out exactly once, in order. The SHA-256 runs
    on its own ``_BackgroundHasher``; ``hexdigest`` waits for it.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.position = 0
        self._digest = hashlib.sha256()
        self._hasher = _BackgroundHasher("package-sha256")

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self._hasher.update(self._digest, bytes(data) if not isinstance(data, bytes) else data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return False

    def seek(self, *_args: Any) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:  # the owner closes the raw file
        self.raw.flush()

    def finish(self) -> None:
        self._hasher.finish()

    def hexdigest(self) -> str:
        self.finish()
        return self._digest.hexdigest()


@dataclass
class _CopiedAudio:
    """One audio file in the ZIP whose SHA-256 is still being computed."""

    recording_id: int
    path: str
    expected_sha256: str
    name: str
    size: int
    digest: Any

    def checked(self) -> dict[str, Any]:
        """The manifest entry, once the file is known to match the SHA-256 recorded at import."""
        sha = self.digest.hexdigest()
        if sha != self.expected_sha256:
            raise ValidationError(
                f"The audio file of recording #{self.recording_id} ({self.path}) does not match the SHA-256 "
                "recorded when it was imported: the file was changed or damaged. Restore it from a backup, or "
                f"withhold the audio (audio:{self.recording_id}) with a reason, then build the package again.")
        return {"path": self.name, "size": self.size, "sha256": sha}


class _AudioOpener:
    """Opens store files for reading with the store's path rules, resolving each folder once.

    ``RecordingsStore.resolve`` follows every component with ``realpath``; for
    hundreds of files in a few folders, the folder is resolved (and checked to
    lie inside the store) once, and the file itself is opened with
    ``O_NOFOLLOW``, so a symbolic link in its place cannot lead outside. Where
    that flag does not exist, or the file is a link, the full ``resolve`` is used.
    """

    def __init__(self, store: RecordingsStore) -> None:
        self.store = store
        self.folders: dict[str, Path] = {}

    def open(self, relative: str) -> BinaryIO:
        flag = getattr(os, "O_NOFOLLOW", 0)
        parts = relative.replace("\\", "/").split("/")
        name = parts[-1]
        if flag and name not in ("", ".", "..") and not any(ord(ch) < 32 for ch in relative):
            folder_key = "/".join(parts[:-1])
            folder = self.folders.get(folder_key)
            if folder is None:
                folder = self.store.resolve(folder_key) if folder_key.strip("/") else self.store.root
                self.folders[folder_key] = folder
            try:
                fd = os.open(folder / name, os.O_RDONLY | flag | getattr(os, "O_BINARY", 0))
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.EMLINK):
                    raise
            else:
                return os.fdopen(fd, "rb", buffering=0)
        return self.store.resolve(relative).open("rb", buffering=0)


def _json_bytes(value: Any) -> bytes:
    """``value`` as indented UTF-8 JSON: orjson (``json`` with ``indent`` is its pure-Python encoder, ≈ 40 ms for
    a subject with 500 recordings), ``json`` for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"
    except (orjson.JSONEncodeError, TypeError):
        return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def build_access_package(actor: Actor, request_id: int, out_path: Path | str, *, progress: Progress | None = None,
                         store: RecordingsStore | None = None, expected_version: int | None = None
                         ) -> PackageResult:
    """Build the access package of the request's subject at ``out_path`` (see the module docstring).

    Raises ``PackageCancelled`` when ``progress`` returns ``False``,
    ``ValidationError`` for an audio file that cannot be read or does not match
    its recorded SHA-256 (name the recording; restore it or withhold it, then
    build again), ``ConflictError`` when the request changed meanwhile. In every
    failure the target is untouched and the request unchanged (a
    ``step_failed`` event says what happened).
    """
    require(actor, Permission.REQUESTS_MANAGE)
    require(actor, Permission.RECORDINGS_EXPORT)
    target = Path(out_path).expanduser()
    if target.suffix.lower() != ".zip":
        raise ValidationError(f"The access package is a ZIP file; name it …/something.zip, not “{target.name}”.")
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.")
    req = core_requests._get(request_id)
    with database_errors():
        core_requests._check_version(req, expected_version)
        subject = core_requests._subject_of(req)
        core_requests._require_action("package", req, subject)
        assert subject is not None
        if subject.restricted:
            require(actor, Permission.SUBJECTS_RESTRICT)  # Art. 18: a restricted subject's audio is compliance-only
        generated = utcnow()
        withheld = _exclusions(req.id)
        doc, audio = _subject_document(req, subject, withheld, generated)
    recordings_store = store if store is not None else open_store()
    temp = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
    total = len(audio) + 2
    try:
        result = _write_zip(temp, doc, audio, recordings_store, progress, total)
        os.replace(temp, target)
        _fsync_folder(target.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, ValidationError):
            core_requests.record_step_failure(actor, req.id, "Building the access package", exc.message)
        elif isinstance(exc, OSError):
            message = f"Could not write {target}: {exc.strerror or exc}."
            core_requests.record_step_failure(actor, req.id, "Building the access package", message)
            raise ValidationError(message + " Nothing was delivered; try again.") from exc
        raise
    sha, size, files = result
    try:
        with database_errors(), database.atomic():
            core_requests._update(req, {RightsRequest.package_sha256: sha, RightsRequest.package_built_at: generated,
                                        RightsRequest.package_size: size})
            core_requests._event(actor, req.id, "package",
                                 f"Access package built: {len(doc['recordings'])} recording(s), {len(audio)} audio "
                                 f"file(s), {len(doc['crash_events'])} crash event(s), {len(withheld)} item(s) "
                                 f"withheld; {size:,} bytes, SHA-256 {sha}.")
            audit.record(actor, "request.package", "request", req.id, subject=subject.id, sha256=sha, files=files,
                         withheld=len(withheld))
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()  # a package the request does not record is not left behind
        raise
    if progress is not None:
        progress(total, total, "Done")
    return PackageResult(target, sha, size, files, len(doc["recordings"]), len(audio), len(doc["crash_events"]),
                         len(withheld))


def _write_zip(temp: Path, doc: dict[str, Any], audio: list[tuple[Recording, str]], store: RecordingsStore,
               progress: Progress | None, total: int) -> tuple[str, int, int]:
    manifest: list[dict[str, Any]] = []
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    opener = _AudioOpener(store)
    with os.fdopen(fd, "wb", buffering=_CHUNK) as raw:
        writer = _HashingWriter(raw)
        try:
            digest = _fill_zip(writer, doc, audio, opener, progress, total, manifest)
        finally:
            writer.finish()
        raw.flush()
        os.fsync(raw.fileno())
        return digest, writer.position, len(manifest) + 1


def _fill_zip(writer: _HashingWriter, doc: dict[str, Any], audio: list[tuple[Recording, str]],
              opener: _AudioOpener, progress: Progress | None, total: int, manifest: list[dict[str, Any]]) -> str:
    with zipfile.ZipFile(writer, "w", allowZip64=True) as zf:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=_zip_time(doc))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compresslevel=6)
            manifest.append({"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})

        put("subject.json", _json_bytes(doc))
        schema = schema_path()
        put("subject.schema.json", schema.read_bytes() if schema.is_file() else b"{}\n")
        put("index.html", _index_html(doc).encode("utf-8"))
        if progress is not None and progress(1, total, "Writing subject.json and index.html") is False:
            raise PackageCancelled("Building the access package was cancelled; nothing was written.")
        # Each file must match the SHA-256 recorded at import; its hash runs beside the ZIP's, on a second
        # thread, and every file is checked before the manifest is written (a damaged file fails the build).
        hasher = _BackgroundHasher("package-file-sha256")
        copied: list[_CopiedAudio] = []
        try:
            for number, (rec, name) in enumerate(audio, 1):
                if progress is not None and progress(1 + number, total, f"Copying recording {number:,} of "
                                                                        f"{len(audio):,}") is False:
                    raise PackageCancelled("Building the access package was cancelled; nothing was written.")
                copied.append(_copy_audio(zf, rec, name, opener, doc, hasher))
        finally:
            hasher.finish()
        manifest.extend(c.checked() for c in copied)
        put("manifest.json", _json_bytes({"format": f"{FORMAT}-manifest", "format_version": FORMAT_VERSION,
                                          "generated_at": doc["generated_at"],
                                          "request_id": doc["request"]["id"], "files": manifest}))
    return writer.hexdigest()


def _zip_time(doc: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    moment = dt.datetime.fromisoformat(doc["generated_at"].replace("Z", ""))
    return (max(1980, moment.year), moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _copy_audio(zf: zipfile.ZipFile, rec: Recording, name: str, opener: _AudioOpener, doc: dict[str, Any],
                hasher: _BackgroundHasher) -> _CopiedAudio:
    try:
        handle = opener.open(rec.path)
    except (OSError, ValidationError) as exc:
        why = exc.message if isinstance(exc, ValidationError) else (exc.strerror or str(exc))
        raise ValidationError(
            f"The audio of recording #{rec.id} ({rec.path}) cannot be read: {why}. Restore the file, or withhold "
            f"the audio (audio:{rec.id}) with a reason, then build the package again.") from exc
    digest = hashlib.sha256()
    size = 0
    info = zipfile.ZipInfo(name, date_time=_zip_time(doc))
    info.compress_type = zipfile.ZIP_STORED  # audio is compressed already, or not worth the time
    info.external_attr = 0o644 << 16
    with handle, zf.open(info, "w", force_zip64=rec.size_bytes > 2**31) as out:
        try:
            while chunk := handle.read(_CHUNK):
                hasher.update(digest, chunk)
                out.write(chunk)
                size += len(chunk)
        except OSError as exc:
            raise ValidationError(f"The audio of recording #{rec.id} ({rec.path}) cannot be read: "
                                  f"{exc.strerror or exc}. Restore it or withhold it, then build again.") from exc
    return _CopiedAudio(rec.id, rec.path, rec.sha256, name, size, digest)


def verify_package(path: Path | str) -> list[str]:
    """Check a package against its own manifest; returns the problems found (empty: every hash matches).

    Reads only the ZIP (no database, no personal data leaves it).
    """
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "manifest.json" not in names:
                return ["manifest.json is missing"]
            manifest = json.loads(zf.read("manifest.json"))
            listed = set()
            for entry in manifest.get("files", []):
                listed.add(entry["path"])
                if entry["path"] not in names:
                    problems.append(f"{entry['path']} is listed but missing")
                    continue
                digest = hashlib.sha256()
                with zf.open(entry["path"]) as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != entry["sha256"]:
                    problems.append(f"{entry['path']} does not match its SHA-256")
            for extra in sorted(names - listed - {"manifest.json"}):
                problems.append(f"{extra} is not in the manifest")
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        problems.append(f"not a readable package: {exc}")
    return problems


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


__all__ = ["EXCLUDABLE", "FORMAT", "FORMAT_VERSION", "PackageCancelled", "PackageItem", "PackageResult",
           "build_access_package", "exclude_item", "include_item", "package_items", "parse_item", "schema_path",
           "sha256_file", "verify_package"]
