"""Crash reports: import Sentry events, scrub them at the door, group them, and manage the groups.

What is guaranteed (issue "crash reports"; DOMAIN.md, "Crash reports (Sentry event format)"):

* **Input.** One Sentry event (JSON object), a JSON array of events, NDJSON (one
  event per line), or concatenated JSON objects; files, folders (``*.json``,
  ``*.ndjson``, ``*.jsonl``) or in-memory dicts. Each bad record — not JSON,
  not UTF-8, wrong types, neither exception nor message, larger than
  ``MAX_EVENT_BYTES``, nested deeper than ``scrub.MAX_DEPTH``, a timestamp
  before 2000 or in the future — is refused with its source, position and
  reason; the rest is imported. Nothing raises for bad data.
* **Idempotent.** ``event_id`` (32 hex digits; dashes and case normalised) is
  unique: importing a file twice adds nothing and counts duplicates.
* **Scrubbed before storage** (``core.scrub``): no payload, message, title,
  culprit or grouping explanation ever holds what a rule filters.
* **Linked to its subject.** ``user.id`` (else ``user.username``) matched
  against ``Subject.user_id`` sets ``CrashEvent.subject``; the link is made on
  the raw value, then the user object's personal fields are scrubbed.
* **Grouped** (``core.grouping``): the group's counters (events, affected
  subjects, first/last seen), its per-day counts (``CrashDailyCount``) and its
  releases/environments/platforms/OS (``CrashGroupFacet``) are updated in the
  same transaction as the events, never computed on view.
* **Atomic batches.** Events are written in batches; each batch — its events,
  group updates and one audit event holding counts and ids only (never personal
  data) — is one transaction, so no event is ever half-stored. A batch that
  collides with another workstation's import is retried.
* **Regression.** A group resolved "in release R" that receives an event from a
  later release (``release_is_later``), or resolved without a release and
  receiving an event that occurred after the resolution, becomes unresolved and
  is flagged regressed. Ignored groups stay ignored.
* **Merging.** ``merge_groups`` moves a group's events to another; new events of
  its fingerprint follow the merge (``CrashEvent.original_group`` remembers where
  they belong, so ``unmerge_group`` can move them back).
* **Permissions.** Reading needs ``crashes.view``; importing ``crashes.import``;
  state changes, merges and re-scrubbing ``crashes.manage``; adding scrub rules
  ``settings.edit``. The linked subject is shown only with ``subjects.view`` and
  each such view is audited.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import math
import multiprocessing
import os
import re
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

import orjson
import peewee
from peewee import Case, fn

from rcrm_desktop import settings
from rcrm_desktop.core import audit, grouping, scrub
from rcrm_desktop.core.instance import get_setting, set_setting
from rcrm_desktop.core.pages import BOOL, DT, Expr, RowsBuilder, Statements, fetch_tuples, keyset_after
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import (
    CrashDailyCount,
    CrashEvent,
    CrashGroup,
    CrashGroupFacet,
    LegalHold,
    Operator,
    Subject,
    database,
    utcnow,
)
from rcrm_desktop.errors import NotFoundError, ValidationError

#: Largest event accepted (its JSON text). Sentry's own limit for one event is 1 MB.
MAX_EVENT_BYTES = 1_000_000

#: Refusals kept in a report (the count goes on beyond it).
MAX_REFUSALS_KEPT = 10_000

#: Events written per transaction; an import prepared in worker processes writes larger batches (the
#: per-batch lookups and group updates are then what this process spends its time on).
BATCH_SIZE = 500
PARALLEL_BATCH_SIZE = 2000

#: An event's time must not lie before this (clients with a reset clock send 1970).
EARLIEST_TIME = dt.datetime(2000, 1, 1)

#: How far in the future an event's time may lie (clock skew) before it is refused.
FUTURE_TOLERANCE = dt.timedelta(minutes=10)

LEVELS = ("fatal", "error", "warning", "info", "debug")
_LEVEL_ALIASES = {"critical": "fatal", "warn": "warning", "log": "info", "err": "error"}

STATES = ("unresolved", "resolved", "ignored")

#: Filter values a group list accepts for its state ("regressed": unresolved and flagged regressed).
STATE_FILTERS = ("unresolved", "regressed", "resolved", "ignored")

#: Facet kinds kept per group.
FACET_KINDS = ("release", "environment", "platform", "os")

#: Columns a group list may be sorted by: the name a caller uses → the indexed column.
GROUP_SORTS: dict[str, peewee.Field] = {
    "last_seen": CrashGroup.last_seen,
    "first_seen": CrashGroup.first_seen,
    "event_count": CrashGroup.event_count,
    "subject_count": CrashGroup.subject_count,
    "id": CrashGroup.id,
}

#: Suffixes read from a folder.
EVENT_FILE_SUFFIXES = (".json", ".ndjson", ".jsonl")

#: Longest search text accepted.
MAX_SEARCH_LENGTH = 200

ProgressFn = Callable[[int, int, str], "bool | None"]


# ================================================================ results


@dataclass(frozen=True)
class Refusal:
    """A record that was not imported: where it is and why (the reason names no personal data)."""

    source: str
    position: int
    reason: str
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "position": self.position, "line": self.line, "reason": self.reason}

    def describe(self) -> str:
        where = f"record {self.position}" if self.position else "file"
        if self.line is not None and self.position:
            where += f" (line {self.line})"
        return f"{self.source}: {where}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did. ``refused`` keeps the first ``MAX_REFUSALS_KEPT``; ``refused_count`` counts all."""

    imported: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)
    refused_count: int = 0
    groups_created: int = 0
    regressed_group_ids: list[int] = field(default_factory=list)
    linked_events: int = 0
    sources: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    #: Processes that parsed, scrubbed and grouped (0: the importing process did, alone or after the
    #: workers could not start).
    workers: int = 0

    def refuse(self, refusal: Refusal) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REFUSALS_KEPT:
            self.refused.append(refusal)

    def as_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates,
                "refused": [r.as_json() for r in self.refused], "refused_count": self.refused_count,
                "groups_created": self.groups_created, "regressed_groups": self.regressed_group_ids,
                "linked_to_subjects": self.linked_events, "sources": self.sources, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3), "workers": self.workers}

    def summary(self) -> str:
        text = (f"Imported {self.imported:,} events, {self.duplicates:,} duplicates skipped, "
                f"{self.refused_count:,} refused; {self.groups_created:,} new groups")
        if self.regressed_group_ids:
            text += f", {len(self.regressed_group_ids):,} regressed"
        if self.cancelled:
            text += " (cancelled)"
        return text + "."


# ================================================================ reading


class _Refused(Exception):
    """A record is refused; ``str(exc)`` is the reason."""


@dataclass
class _Raw:
    """One record as read: a parsed ``value``, an unparsed NDJSON line (``text``), or an ``error``.

    NDJSON lines are parsed where they are prepared (possibly in a worker
    process), so ``position`` of an NDJSON record (``ndjson``) counts non-empty
    lines; the importer shifts it when an earlier line held an array of events.
    """

    source: str
    position: int
    line: int | None
    value: Any = None
    error: str | None = None
    text: bytes | None = None
    ndjson: bool = False


_JSON = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n\ufeff]*")
_SURROGATE = re.compile("[\udc80-\udcff]")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _size_text(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1000:
        return f"{n / 1000:.0f} kB"
    return f"{n} bytes"


def _too_big(n: int) -> str:
    return f"the event is {_size_text(n)}; the limit is {_size_text(MAX_EVENT_BYTES)}"


def _scan_value_end(text: str, pos: int) -> int | None:
    """Where the JSON value starting at ``pos`` ends, by brackets and strings only (after a parse error)."""
    if pos >= len(text):
        return None
    if text[pos] not in "[{\"":
        m = re.compile(r"[,\]\n]").search(text, pos)
        return m.start() if m else len(text)
    depth = 0
    i = pos
    while True:
        m = _TOKEN.search(text, i)
        if m is None:
            return None
        tok = m.group()
        if tok[0] == '"':
            if depth == 0:
                return m.end()
        elif tok in "[{":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return m.end()
        i = m.end()


def _decode_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return f"nested too deeply (more than {scrub.MAX_DEPTH} levels)"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return f"not valid JSON: {exc}"


def _read_text_values(source: str, text: str, array: bool, consumed: Callable[[int], None]) -> Iterator[_Raw]:
    """Records of a JSON array (``array``) or of one or more concatenated JSON documents."""
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if array:
        pos += 1  # the "["
    line = text.count("\n", 0, pos) + 1
    last = pos
    position = 0
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            if array:
                yield _Raw(source, position + 1, text.count("\n", 0, pos) + 1,
                           error="the JSON array is not closed with “]”; the file may be cut off")
            return
        if array and text[pos] == "]":
            rest = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if rest < len(text):
                yield _Raw(source, position + 1, text.count("\n", 0, rest) + 1,
                           error="unexpected text after the end of the JSON array")
            consumed(len(text))
            return
        position += 1
        line += text.count("\n", last, pos)
        last = pos
        start = pos
        try:
            value, end = _JSON.raw_decode(text, pos)
            error = None
        except (json.JSONDecodeError, RecursionError) as exc:
            error = _decode_error(exc)
            if isinstance(exc, json.JSONDecodeError):
                error = f"not valid JSON: {exc.msg}"
            value = None
            scanned = _scan_value_end(text, pos)
            if scanned is None:
                yield _Raw(source, position, line, error=error + "; the rest of the file cannot be read")
                consumed(len(text))
                return
            end = scanned
        if error is None and end - start > MAX_EVENT_BYTES:
            error = _too_big(end - start)
        if error is None and _SURROGATE.search(text, start, end):
            error = "contains bytes that are not UTF-8 text"
        yield _Raw(source, position, line, value=value if error is None else None, error=error)
        consumed(end)
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
        if array and pos < len(text):
            if text[pos] == ",":
                pos += 1
            elif text[pos] != "]":
                line += text.count("\n", last, pos)
                last = pos
                yield _Raw(source, position + 1, line,
                           error=f"expected “,” or “]” after record {position}; the rest of the file cannot be read")
                consumed(len(text))
                return


def _read_ndjson(source: str, handle: Any, consumed: Callable[[int], None]) -> Iterator[_Raw]:
    """One record per non-empty line; every line is read on its own, so one bad line spoils nothing else."""
    position = 0
    done = 0
    for lineno, raw_line in enumerate(handle, 1):
        done += len(raw_line)
        stripped = raw_line.strip()
        if not stripped:
            consumed(done)
            continue
        position += 1
        if len(stripped) > MAX_EVENT_BYTES:
            yield _Raw(source, position, lineno, error=_too_big(len(stripped)), ndjson=True)
        else:
            yield _Raw(source, position, lineno, text=stripped, ndjson=True)
        consumed(done)


def _parse_ndjson_line(data: bytes) -> tuple[list[Any], bool] | str:
    """The events of one NDJSON line (a line may hold an array of them) and whether orjson read them.

    orjson parses the common case several times faster than ``json``. It is
    strict (no ``NaN``, no integers beyond 64 bits, no lone surrogates), so
    whatever it accepts, ``json`` would have read to the same values; whatever
    it refuses goes through ``json`` as before, so refusals and their reasons
    do not change. ``True`` also means ``_dumps`` may use orjson for the event.
    """
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        return (parsed if isinstance(parsed, list) else [parsed]), True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {exc.start + 1})"
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = _decode_error(exc)
        if isinstance(exc, json.JSONDecodeError):
            reason = f"not valid JSON: {exc.msg} (column {exc.colno})"
        return reason
    return (value if isinstance(value, list) else [value]), False


def _read_file(path: Path, consumed: Callable[[int], None]) -> Iterator[_Raw]:
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield _Raw(source, 0, None, error=f"cannot be read: {exc.strerror or exc}")
        return
    with handle:
        head = handle.read(65536)
        stripped = head.lstrip(b" \t\r\n").removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
        if not stripped:
            return
        first = stripped[:1]
        ndjson = True
        if first in (b"[", b"{"):
            handle.seek(0)
            first_line = handle.readline(MAX_EVENT_BYTES + 2)
            if first == b"[":
                ndjson = False
                # A one-line array is still an array; NDJSON lines never start with "[" followed by more lines.
            elif len(first_line) <= MAX_EVENT_BYTES:
                try:
                    ndjson = isinstance(json.loads(first_line.decode("utf-8", "strict")), dict)
                except (ValueError, RecursionError):
                    ndjson = False
        handle.seek(0)
        if ndjson:
            yield from _read_ndjson(source, handle, consumed)
            return
        data = handle.read()
    text = data.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    yield from _read_text_values(source, text, first == b"[", consumed)


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EVENT_FILE_SUFFIXES))
        else:
            out.append(path)
    return out


# ================================================================ validation


_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
_PLATFORM = re.compile(r"^[a-z0-9_.-]{1,40}$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


def _check_str(value: Any, path: str, max_len: int | None = None, *, allow_number: bool = False) -> str | None:
    if value is None:
        return None
    if allow_number and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Refused(f"{path} must be text, not {_json_type(value)}")
    if max_len is not None and len(value) > max_len:
        raise _Refused(f"{path} is {len(value):,} characters long; at most {max_len} are allowed")
    return value


def _check_int(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Refused(f"{path} must be a whole number, not {_json_type(value)}")
    return value


def _check_dict(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Refused(f"{path} must be an object, not {_json_type(value)}")
    return value


def _check_list(value: Any, path: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _Refused(f"{path} must be an array, not {_json_type(value)}")
    return value


def parse_timestamp(value: Any, now: dt.datetime | None = None) -> dt.datetime:
    """An event time (RFC 3339 text or epoch seconds) as naive UTC; raises ``ValueError`` with the reason.

    Refused: before ``EARLIEST_TIME`` (2000-01-01, a client with a reset clock)
    and later than ``now`` plus ``FUTURE_TOLERANCE`` (a client clock set ahead).
    """
    if value is None:
        raise ValueError("no timestamp")
    if isinstance(value, bool):
        raise ValueError("timestamp must be RFC 3339 text or epoch seconds, not true/false")
    when: dt.datetime
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("timestamp is not a finite number")
        try:
            when = dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"timestamp {value} is out of range") from exc
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{1,12}(\.\d+)?", text):
            return parse_timestamp(float(text), now)
        candidate = _FRACTION.sub(r"\1", text.upper().replace("Z", "+00:00"))
        try:
            parsed = dt.datetime.fromisoformat(candidate)
        except ValueError as exc:
            raise ValueError(f"timestamp “{text[:40]}” is neither RFC 3339 nor epoch seconds") from exc
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        when = parsed
    else:
        raise ValueError(f"timestamp must be RFC 3339 text or epoch seconds, not {_json_type(value)}")
    current = now or utcnow()
    if when < EARLIEST_TIME:
        raise ValueError(f"timestamp {when:%Y-%m-%d} is before 2000, so the sender's clock was wrong")
    if when > current + FUTURE_TOLERANCE:
        raise ValueError(f"timestamp {when:%Y-%m-%d %H:%M} UTC is in the future, so the sender's clock was wrong")
    return when


_FRAME_STR = frozenset({"filename", "abs_path", "module", "function", "context_line", "package", "platform",
                        "instruction_addr", "symbol", "raw_function"})


def _check_frame(frame: Any, frames_path: str, index: int) -> dict[str, Any]:
    """Check a frame's field types (missing fields are fine); returns the frame, copied only when coerced.

    The frame's path (``frames_path[index]``) is spelled out only in a refusal:
    frames are the most numerous objects of an event.
    """
    if not isinstance(frame, dict):
        raise _Refused(f"{frames_path}[{index}] must be an object, not {_json_type(frame)}")
    out = frame
    for key, value in frame.items():
        if value is None:
            continue
        if key in _FRAME_STR:
            if type(value) is not str:
                raise _Refused(f"{frames_path}[{index}].{key} must be text, not {_json_type(value)}")
            if len(value) > 10_000:
                raise _Refused(f"{frames_path}[{index}].{key} is {len(value):,} characters long; "
                               "at most 10000 are allowed")
        elif key == "lineno" or key == "colno":
            if type(value) is not int:
                number = _check_int(value, f"{frames_path}[{index}].{key}")
                if out is frame:
                    out = dict(frame)
                out[key] = number
        elif key == "in_app":
            if type(value) is not bool:
                raise _Refused(f"{frames_path}[{index}].in_app must be true or false, not {_json_type(value)}")
        elif key == "pre_context" or key == "post_context":
            if not isinstance(value, list):
                raise _Refused(f"{frames_path}[{index}].{key} must be an array, not {_json_type(value)}")
            for i, item in enumerate(value):
                if item is not None and type(item) is not str:
                    raise _Refused(f"{frames_path}[{index}].{key}[{i}] must be text, not {_json_type(item)}")
        elif key == "vars" and not isinstance(value, dict | list):
            raise _Refused(f"{frames_path}[{index}].vars must be an object, not {_json_type(value)}")
    return out


def _check_exceptions(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        values = value.get("values")
        base = "exception.values"
        if values is None:
            return []
    else:
        values = value
        base = "exception"
    if not isinstance(values, list):
        raise _Refused(f"{base} must be an array, not {_json_type(values)}")
    out = []
    for i, exc in enumerate(values):
        path = f"{base}[{i}]"
        if not isinstance(exc, dict):
            raise _Refused(f"{path} must be an object, not {_json_type(exc)}")
        item = dict(exc)
        item["type"] = _check_str(item.get("type"), f"{path}.type", 300)
        if "value" in item and item["value"] is not None and not isinstance(item["value"], str):
            if isinstance(item["value"], int | float) and not isinstance(item["value"], bool):
                item["value"] = str(item["value"])
            else:
                raise _Refused(f"{path}.value must be text, not {_json_type(item['value'])}")
        item["module"] = _check_str(item.get("module"), f"{path}.module", 1000)
        _check_dict(item.get("mechanism"), f"{path}.mechanism")
        stack = _check_dict(item.get("stacktrace"), f"{path}.stacktrace")
        frames: list[dict[str, Any]] = []
        if stack is not None:
            frames_path = f"{path}.stacktrace.frames"
            raw_frames = _check_list(stack.get("frames"), frames_path) or []
            frames = [_check_frame(f, frames_path, j) for j, f in enumerate(raw_frames)]
            item["stacktrace"] = {**stack, "frames": frames}
        if not item.get("type") and not item.get("value") and not frames:
            raise _Refused(f"{path} has neither type, value nor stack frames")
        out.append({k: v for k, v in item.items() if v is not None})
    return out


def _check_message(event: dict[str, Any]) -> None:
    for key in ("message", "logentry"):
        value = event.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, dict):
            raise _Refused(f"{key} must be text or an object, not {_json_type(value)}")
        for sub in ("formatted", "message"):
            _check_str(value.get(sub), f"{key}.{sub}")
        _check_list(value.get("params"), f"{key}.params") if not isinstance(value.get("params"), dict) else None


def _plain_crumb(crumb: Any) -> bool:
    """Whether a breadcrumb plainly passes ``_check_breadcrumbs`` (exact JSON types, short texts).

    The common case, checked without building a path text per field; any
    other crumb goes through the full check, which accepts or names the fault.
    """
    if type(crumb) is not dict:
        return False
    get = crumb.get
    ts = get("timestamp")
    if ts is not None and type(ts) is not str and type(ts) is not float and type(ts) is not int:
        return False
    for key in ("category", "level", "type"):
        text = get(key)
        if text is not None and (type(text) is not str or len(text) > 200):
            return False
    message = get("message")
    data = get("data")
    return (message is None or type(message) is str) and (data is None or type(data) is dict)


def _check_breadcrumbs(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    crumbs = value.get("values") if isinstance(value, dict) else value
    if crumbs is None:
        return None
    if not isinstance(crumbs, list):
        raise _Refused(f"breadcrumbs.values must be an array, not {_json_type(crumbs)}")
    if all(_plain_crumb(crumb) for crumb in crumbs):
        return crumbs
    out = []
    for i, crumb in enumerate(crumbs):
        path = f"breadcrumbs.values[{i}]"
        if not isinstance(crumb, dict):
            raise _Refused(f"{path} must be an object, not {_json_type(crumb)}")
        ts = crumb.get("timestamp")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, str | int | float)):
            raise _Refused(f"{path}.timestamp must be text or a number, not {_json_type(ts)}")
        for key in ("category", "level", "type"):
            _check_str(crumb.get(key), f"{path}.{key}", 200)
        _check_str(crumb.get("message"), f"{path}.message", allow_number=True)
        _check_dict(crumb.get("data"), f"{path}.data")
        out.append(crumb)
    return out


def _check_tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    pairs: Iterable[Any]
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = value
    else:
        raise _Refused(f"tags must be an object or an array of pairs, not {_json_type(value)}")
    out: dict[str, str] = {}
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise _Refused(f"tags[{i}] must be a [key, value] pair")
        key, val = pair
        if not isinstance(key, str):
            raise _Refused(f"tags[{i}] has a key that is not text")
        if isinstance(val, dict | list):
            raise _Refused(f"tag “{key[:40]}” must have a text value, not {_json_type(val)}")
        out[key[:200]] = ("" if val is None else str(val).lower() if isinstance(val, bool) else str(val))[:200]
    return out


def _normalise(raw: Any, now: dt.datetime) -> tuple[dict[str, Any], dt.datetime]:
    """Check one record against the Sentry event format; return the cleaned event and its UTC time."""
    if not isinstance(raw, dict):
        raise _Refused(f"an event must be a JSON object, not {_json_type(raw)}")
    event = dict(raw)
    event_id = event.get("event_id")
    if event_id is None:
        raise _Refused("no event_id")
    if not isinstance(event_id, str):
        raise _Refused(f"event_id must be text, not {_json_type(event_id)}")
    normal_id = event_id.strip().replace("-", "").lower()
    if not _EVENT_ID.match(normal_id):
        raise _Refused("event_id is not 32 hexadecimal digits")
    event["event_id"] = normal_id
    try:
        occurred = parse_timestamp(event.get("timestamp"), now)
    except ValueError as exc:
        raise _Refused(str(exc)) from exc
    event["timestamp"] = occurred.isoformat(timespec="microseconds") + "Z"
    platform = event.get("platform")
    if platform is None:
        raise _Refused("no platform")
    if not isinstance(platform, str) or not _PLATFORM.match(platform.strip().lower()):
        raise _Refused("platform must be a short name such as python, javascript or java")
    event["platform"] = platform.strip().lower()
    level = _check_str(event.get("level"), "level", 20)
    if level is not None:
        level = _LEVEL_ALIASES.get(level.strip().lower(), level.strip().lower())
        if level not in LEVELS:
            raise _Refused(f"level “{level[:20]}” is not one of {', '.join(LEVELS)}")
        event["level"] = level
    for key, limit in (("release", 200), ("environment", 100), ("dist", 64), ("server_name", 200),
                       ("transaction", 200), ("culprit", 500), ("logger", 64)):
        _check_str(event.get(key), key, limit)
    if "tags" in event:
        event["tags"] = _check_tags(event.get("tags"))
    fingerprint = _check_list(event.get("fingerprint"), "fingerprint")
    if fingerprint is not None:
        for i, item in enumerate(fingerprint):
            if isinstance(item, dict | list) or item is None:
                raise _Refused(f"fingerprint[{i}] must be text, not {_json_type(item)}")
        event["fingerprint"] = [str(x)[:200] for x in fingerprint]
    exceptions = _check_exceptions(event.get("exception"))
    if exceptions:
        event["exception"] = {"values": exceptions}
    else:
        event.pop("exception", None)
    _check_message(event)
    if not exceptions and grouping.event_message(event)[0] is None:
        raise _Refused("neither an exception nor a message")
    contexts = _check_dict(event.get("contexts"), "contexts")
    if contexts is not None:
        for key, ctx in contexts.items():
            if ctx is not None and not isinstance(ctx, dict):
                _check_dict(ctx, f"contexts.{key}")
    user = _check_dict(event.get("user"), "user")
    if user is not None:
        _check_str(user.get("id"), "user.id", 200, allow_number=True)
        for key in ("username", "email", "ip_address", "name"):
            text = user.get(key)
            if text is not None and (type(text) is not str or len(text) > 500):
                _check_str(text, f"user.{key}", 500)
    crumbs = _check_breadcrumbs(event.get("breadcrumbs"))
    if crumbs is not None:
        event["breadcrumbs"] = {"values": crumbs}
    for key in ("request", "extra", "sdk"):
        _check_dict(event.get(key), key)
    return event, occurred


# ================================================================ releases and regression


_VERSION_NUMBERS = re.compile(r"\d+(?:\.\d+)*")
_PRERELEASE = re.compile(r"^[-.+]?(?:alpha|beta|rc|pre|dev|a\d|b\d|snapshot)", re.IGNORECASE)


def release_key(release: str) -> tuple[str, tuple[int, ...], int] | None:
    """A sortable key for ``package@1.2.3`` (or ``1.2.3``): package, numbers, 0 for pre-releases else 1."""
    package, _, version = release.rpartition("@")
    match = _VERSION_NUMBERS.search(version)
    if match is None:
        return None
    numbers = tuple(int(x) for x in match.group().split("."))[:6]
    numbers = numbers + (0,) * (6 - len(numbers))
    final = 0 if _PRERELEASE.match(version[match.end():]) else 1
    return package.strip().lower(), numbers, final


def release_is_later(release: str | None, than: str | None) -> bool | None:
    """Whether ``release`` is later than ``than`` (``None``: they cannot be compared)."""
    if not release or not than:
        return None
    if release == than:
        return False
    a, b = release_key(release), release_key(than)
    if a is None or b is None or (a[0] and b[0] and a[0] != b[0]):
        return None
    return (a[1], a[2]) > (b[1], b[2])


def _regresses(state: str, resolved_in: str | None, resolved_at: dt.datetime | None, release: str | None,
               occurred: dt.datetime) -> bool:
    """Whether a new event reopens a resolved group (the regression rule of the module docstring)."""
    if state != "resolved":
        return False
    if resolved_in:
        later = release_is_later(release, resolved_in)
        if later is not None:
            return later
    return resolved_at is None or occurred > resolved_at


# ================================================================ scrub rules


def current_scrubber() -> scrub.Scrubber:
    """A scrubber with the built-in rules and the instance's extra rules (read now)."""
    return scrub.Scrubber(scrub.parse_extra_rules(get_setting("scrub_extra_rules")))


def _require_any(actor: Actor, *permissions: Permission) -> Actor:
    """Pass when ``actor`` holds one of ``permissions``; otherwise refuse naming the first."""
    if actor is not None and any(actor.can(p) for p in permissions):
        return actor
    return require(actor, permissions[0])


def scrub_rules(actor: Actor) -> list[scrub.ScrubRule]:
    """Every rule that scrubs crash reports: the built-in ones, then the administrators'."""
    _require_any(actor, Permission.CRASHES_VIEW, Permission.SETTINGS_EDIT)
    return scrub.builtin_rules() + scrub.parse_extra_rules(get_setting("scrub_extra_rules"))


def add_scrub_rule(actor: Actor, name: str, pattern: str, kind: str = "value") -> scrub.ScrubRule:
    """Add an administrator's scrub rule (applies to new imports; ``rescrub_events`` applies it to stored ones).

    Audited with the rule's name and kind, never the pattern (it may spell out the data it filters).
    """
    require(actor, Permission.SETTINGS_EDIT)
    try:
        rule = scrub.validate_extra_rule(name, pattern, kind)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
    with database_errors(), database.atomic():
        rules = scrub.parse_extra_rules(get_setting("scrub_extra_rules"))
        if any(r.name.casefold() == rule.name.casefold() for r in rules) or any(
                r.name.casefold() == rule.name.casefold() for r in scrub.builtin_rules()):
            raise ValidationError(f"A scrub rule named “{rule.name}” exists already; choose another name.")
        set_setting(actor, "scrub_extra_rules", scrub.dump_extra_rules([*rules, rule]))
        audit.record(actor, "crash.scrub_rule_add", "scrub_rule", rule.name, kind=rule.kind, rules=len(rules) + 1)
    return rule


def remove_scrub_rule(actor: Actor, name: str) -> None:
    """Remove an administrator's rule (built-in rules stay). Stored events keep what was filtered."""
    require(actor, Permission.SETTINGS_EDIT)
    with database_errors(), database.atomic():
        rules = scrub.parse_extra_rules(get_setting("scrub_extra_rules"))
        kept = [r for r in rules if r.name.casefold() != name.strip().casefold()]
        if len(kept) == len(rules):
            raise NotFoundError(f"There is no added scrub rule named “{name[:100]}”.")
        set_setting(actor, "scrub_extra_rules", scrub.dump_extra_rules(kept))
        audit.record(actor, "crash.scrub_rule_remove", "scrub_rule", name.strip()[:100], rules=len(kept))


# ================================================================ import


class _Prepared(NamedTuple):
    """One event ready to store: only scrubbed text, plain values (cheap to send between processes)."""

    event_id: str
    occurred: dt.datetime
    platform: str
    level: str
    release: str | None
    environment: str | None
    os_name: str | None
    exception_type: str | None
    message: str | None
    payload: str
    fingerprint: str
    title: str
    culprit: str | None
    explanation: str
    user_ref: str | None
    user_name: str | None


@dataclass
class _GroupState:
    id: int
    merged_into: int | None
    state: str
    resolved_in_release: str | None
    resolved_at: dt.datetime | None
    regressed: bool


def _os_name(event: dict[str, Any]) -> str | None:
    contexts = event.get("contexts")
    if isinstance(contexts, dict):
        os_ctx = contexts.get("os")
        name = os_ctx.get("name") if isinstance(os_ctx, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip()[:100]
    return None


def _dumps(value: Any, strict: bool) -> str:
    """Compact JSON of a scrubbed event: orjson when the event came from orjson (``strict``), else ``json``.

    Both write the same values; only an event orjson parsed is known to hold
    nothing orjson would write differently (``NaN``, huge integers, non-string keys).
    """
    if strict:
        try:
            return orjson.dumps(value).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError):
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _prepare(value: Any, scrubber: scrub.Scrubber, now: dt.datetime, strict: bool = False) -> _Prepared:
    event, occurred = _normalise(value, now)
    raw_user = event.get("user")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    user_ref = user.get("id")
    user_ref = str(user_ref).strip()[:64] if user_ref not in (None, "") else None
    user_name = user.get("username")
    user_name = user_name.strip()[:64] if isinstance(user_name, str) and user_name.strip() else None
    try:
        clean = scrubber.scrub_event(event)
    except scrub.DepthError as exc:
        raise _Refused(str(exc)) from exc
    except RecursionError as exc:
        raise _Refused(f"nested more than {scrub.MAX_DEPTH} levels deep") from exc
    group = grouping.crash_fingerprint(clean)
    payload = _dumps(clean, strict)
    if len(payload) > MAX_EVENT_BYTES:
        raise _Refused(_too_big(len(payload)))
    exceptions = clean.get("exception", {}).get("values", []) if isinstance(clean.get("exception"), dict) else []
    last = exceptions[-1] if exceptions else {}
    message = grouping.event_message(clean)[0] or (last.get("value") if isinstance(last.get("value"), str) else None)
    return _Prepared(
        event_id=clean["event_id"], occurred=occurred, platform=clean["platform"],
        level=clean.get("level") or "error", release=clean.get("release") or None,
        environment=clean.get("environment") or None, os_name=_os_name(clean),
        exception_type=(last.get("type") or None) if isinstance(last.get("type"), str) else None,
        message=message[:10_000] if message else None, payload=payload, fingerprint=group.fingerprint,
        title=group.title, culprit=group.culprit, explanation=_dumps(group.explanation, True),
        user_ref=user_ref, user_name=user_name)


def _prepare_value(value: Any, scrubber: scrub.Scrubber, now: dt.datetime | None,
                   strict: bool = False) -> _Prepared | str:
    """The prepared event, or the reason it is refused."""
    try:
        return _prepare(value, scrubber, now or utcnow(), strict)
    except _Refused as exc:
        return str(exc)
    except RecursionError:
        return f"nested more than {scrub.MAX_DEPTH} levels deep"


#: What a reader hands to preparation: nothing (the record is already refused), an NDJSON line, or a value.
_Item = tuple[bytes | None, Any] | None
#: What preparation gives back per item: nothing, the reason a whole line is refused, or one outcome per event.
_Outcome = list[_Prepared | str] | str | None


def _item(raw: _Raw) -> _Item:
    if raw.error is not None:
        return None
    return (raw.text, raw.value)


def _prepare_items(items: Sequence[_Item], scrubber: scrub.Scrubber, now: dt.datetime | None) -> list[_Outcome]:
    """Parse, validate, scrub and group records; a pure function of its input, the rules and ``now``.

    The serial import and the worker processes run this same function, so
    both store exactly the same rows.
    """
    out: list[_Outcome] = []
    for item in items:
        if item is None:
            out.append(None)
            continue
        text, value = item
        strict = False
        if text is not None:
            parsed = _parse_ndjson_line(text)
            if isinstance(parsed, str):
                out.append(parsed)
                continue
            values, strict = parsed
        else:
            values = [value]
        out.append([_prepare_value(v, scrubber, now, strict) for v in values])
    return out


_WORKER: dict[str, Any] = {}


def _worker_init(extra_rules: list[scrub.ScrubRule], now: dt.datetime | None) -> None:
    """Set up one preparation process: its scrubber (the importer's rules) and a quieter garbage collector.

    Events are trees of fresh dicts and lists without reference cycles, so
    frequent cyclic collections only cost time in a process that does nothing else.
    """
    _WORKER["scrubber"] = scrub.Scrubber(extra_rules)
    _WORKER["now"] = now
    gc.freeze()
    gc.set_threshold(*IMPORT_GC_THRESHOLD)


def _worker_prepare(items: list[_Item]) -> list[_Outcome]:
    return _prepare_items(items, _WORKER["scrubber"], _WORKER["now"])


#: The cyclic garbage collector's thresholds during an import: events are trees of fresh dicts and lists
#: without reference cycles, so the default (a collection every 700 new objects) only costs time.
IMPORT_GC_THRESHOLD = (50_000, 50, 100)

#: Import inputs at least this large (file bytes plus in-memory events × 3,000) are prepared in worker processes.
PARALLEL_MIN_UNITS = 3_000_000

#: Records sent to a worker at once, and the fewest chunks in flight per worker (bounded read-ahead).
PARALLEL_CHUNK = 64
PARALLEL_AHEAD = 4


def import_workers(units: int) -> int:
    """How many preparation processes an import of ``units`` should use (0: prepare in this process).

    Worth it only for large inputs on a machine with more than one core. The
    installed (frozen) program starts its workers too: its entry point hands
    them to ``multiprocessing.freeze_support`` first (``rcrm_desktop.__main__``),
    and ``rcrm-desktop self-test`` checks that they run.
    """
    cores = os.cpu_count() or 1
    if units < PARALLEL_MIN_UNITS or cores < 2:
        return 0
    return min(cores, 4)


_Stamped = tuple[_Raw, int, str]


def read_ahead_chunks(workers: int, batch_size: int) -> int:
    """How many chunks an import keeps in flight: enough for more than one whole batch.

    Only the importing process writes, and while it writes a batch nobody
    collects results or hands out new records. With a window smaller than a
    batch (512 records against 2,000-event batches) the workers finished it
    early in the write and then waited for the write to end, which with WAL
    checkpoints includes waits for the disk. A batch and a half of records
    is a few megabytes.
    """
    return max(workers * PARALLEL_AHEAD, -(-batch_size * 3 // (2 * PARALLEL_CHUNK)))


def _prepared_stream(stream: Iterator[_Stamped], scrubber: scrub.Scrubber, now: dt.datetime | None,
                     workers: int, window: int = 0, report: ImportReport | None = None
                     ) -> Generator[tuple[_Stamped, _Outcome], None, None]:
    """Every record with its outcome, in input order; in ``workers`` processes when that is more than 0.

    Read-ahead is bounded (``window`` chunks of ``PARALLEL_CHUNK`` records, at
    least ``PARALLEL_AHEAD`` per worker), so memory stays flat for any input
    size, and closing the generator (cancel) stops the workers. When the
    workers cannot run, ``report.workers`` is set back to 0.
    """
    if workers <= 0:
        for stamped in stream:
            yield stamped, _prepare_items([_item(stamped[0])], scrubber, now)[0]
        return
    window = max(window, workers * PARALLEL_AHEAD)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                               initargs=(list(scrubber.extra), now))
    pending: deque[tuple[list[_Stamped], Future[list[_Outcome]]]] = deque()
    unsent: list[_Stamped] = []
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                chunk = list(itertools.islice(stream, PARALLEL_CHUNK))
                if not chunk:
                    exhausted = True
                    break
                try:
                    future = pool.submit(_worker_prepare, [_item(s[0]) for s in chunk])
                except BrokenProcessPool:
                    unsent = chunk
                    break
                pending.append((chunk, future))
            if unsent:
                break
            if not pending:
                return
            chunk, future = pending[0]
            try:
                outcomes = future.result()
            except BrokenProcessPool:
                break
            pending.popleft()
            yield from zip(chunk, outcomes, strict=True)
    finally:
        for _chunk, future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    # The workers could not run (a host program without the ``__main__`` guard, a killed process):
    # what they had not delivered is prepared here, in order, as in a serial import.
    if report is not None:
        report.workers = 0
    for chunk in [c for c, _future in pending] + ([unsent] if unsent else []):
        yield from zip(chunk, _prepare_items([_item(s[0]) for s in chunk], scrubber, now), strict=True)
    pending.clear()
    for stamped in stream:
        yield stamped, _prepare_items([_item(stamped[0])], scrubber, now)[0]


class _Importer:
    """One import run: a cache of fingerprint → group id and of (group, subject) pairs already counted."""

    def __init__(self, actor: Actor, report: ImportReport, now: dt.datetime | None) -> None:
        self.actor = actor
        self.report = report
        self.now = now
        self.scrubber = current_scrubber()
        self.group_ids: dict[str, int] = {}
        self.pairs: set[tuple[int, int]] = set()
        self.seen: set[str] = set()

    # -- writing a batch

    def flush(self, batch: list[_Prepared]) -> None:
        if not batch:
            return
        with database_errors():
            for attempt in range(3):
                try:
                    self._write(batch)
                    return
                except peewee.IntegrityError:
                    # Another workstation wrote the same event or group meanwhile (the batch was rolled
                    # back whole): forget the caches and write it again; duplicates are then counted.
                    self.group_ids.clear()
                    self.pairs.clear()
                    if attempt == 2:
                        raise

    def _write(self, batch: list[_Prepared]) -> None:
        ids = list({p.event_id for p in batch})
        existing: set[str] = set()
        for chunk in _chunks(ids, 500):
            existing.update(r[0] for r in _select_in("event_id", "crash_event", "event_id", chunk))
        fresh: list[_Prepared] = []
        duplicates = 0
        batch_seen: set[str] = set()
        for p in batch:
            if p.event_id in existing or p.event_id in batch_seen or p.event_id in self.seen:
                duplicates += 1
            else:
                batch_seen.add(p.event_id)
                fresh.append(p)
        if not fresh:
            self.report.duplicates += duplicates
            return
        refs = {r for p in fresh for r in (p.user_ref, p.user_name) if r}
        subject_of: dict[str, int] = {}
        for chunk in _chunks(sorted(refs), 500):
            for sid, user_id in _select_in("id, user_id", "subject", "user_id", chunk):
                subject_of[user_id] = sid
        with database.atomic():
            created, states = self._groups_for(fresh)
            regressed: list[int] = []
            # Per group and per facet: [events, first seen, last seen].
            per_group: dict[int, list[Any]] = {}
            facets: dict[tuple[int, str, str], list[Any]] = {}
            daily: dict[tuple[int, dt.date], int] = defaultdict(int)
            rows: list[tuple[Any, ...]] = []
            new_pairs: set[tuple[int, int]] = set()
            received = utcnow()
            linked = 0
            for p in fresh:
                own = self.group_ids[p.fingerprint]
                state = states[own]
                eff = states[state.merged_into] if state.merged_into in states else state
                if _regresses(eff.state, eff.resolved_in_release, eff.resolved_at, p.release, p.occurred):
                    eff.state, eff.regressed = "unresolved", True
                    regressed.append(eff.id)
                subject_id = subject_of.get(p.user_ref or "") or subject_of.get(p.user_name or "")
                if subject_id is not None:
                    linked += 1
                    new_pairs.add((eff.id, subject_id))
                gid, when = eff.id, p.occurred
                _tally(per_group, gid, when)
                for kind, value in (("release", p.release), ("environment", p.environment),
                                    ("platform", p.platform), ("os", p.os_name)):
                    if value:
                        _tally(facets, (gid, kind, value[:200]), when)
                daily[(gid, when.date())] += 1
                rows.append((p.event_id, gid, own, subject_id, when, received, p.platform, p.level, p.release,
                             p.environment, p.os_name, p.exception_type[:300] if p.exception_type else None,
                             p.message, p.payload))
            new_subjects = self._new_subject_pairs(new_pairs)
            _insert_events(rows)
            event_pks: list[int] = []
            for chunk in _chunks([p.event_id for p in fresh], 500):
                event_pks.extend(r[0] for r in _select_in("id", "crash_event", "event_id", chunk))
            for gid, agg in per_group.items():
                state = states[gid]
                update: dict[Any, Any] = {
                    CrashGroup.event_count: CrashGroup.event_count + agg[0],
                    CrashGroup.subject_count: CrashGroup.subject_count + new_subjects.get(gid, 0),
                    CrashGroup.first_seen: _least(CrashGroup.first_seen, agg[1]),
                    CrashGroup.last_seen: _greatest(CrashGroup.last_seen, agg[2]),
                }
                if gid in regressed:
                    update[CrashGroup.state] = "unresolved"
                    update[CrashGroup.regressed] = True
                CrashGroup.update(update).where(CrashGroup.id == state.id).execute()
            _upsert_facets(facets)
            _upsert_daily(daily)
            regressed_ids = sorted(set(regressed))
            audit.record(self.actor, "crash.import", "crash_batch", None, imported=len(fresh),
                         duplicates=duplicates, event_ids=audit.audited_ids(event_pks),
                         group_ids=sorted(per_group)[:500], groups_created=len(created),
                         regressed_group_ids=regressed_ids,
                         subject_ids=sorted({s for _, s in new_pairs})[:500])
        # Committed: now the report and caches may change.
        self.pairs.update(new_pairs)
        self.seen.update(p.event_id for p in fresh)
        self.report.imported += len(fresh)
        self.report.duplicates += duplicates
        self.report.groups_created += len(created)
        self.report.linked_events += linked
        for gid in regressed_ids:
            if gid not in self.report.regressed_group_ids:
                self.report.regressed_group_ids.append(gid)

    def _groups_for(self, batch: list[_Prepared]) -> tuple[list[int], dict[int, _GroupState]]:
        """Find or create the group of every fingerprint in ``batch``; load their (and targets') states."""
        wanted = {p.fingerprint: p for p in reversed(batch)}  # first event of each fingerprint wins
        missing = [fp for fp in wanted if fp not in self.group_ids]
        for chunk in _chunks(missing, 500):
            for g in CrashGroup.select(CrashGroup.id, CrashGroup.fingerprint).where(CrashGroup.fingerprint.in_(chunk)):
                self.group_ids[g.fingerprint] = g.id
        created: list[int] = []
        for fp in missing:
            if fp in self.group_ids:
                continue
            p = wanted[fp]
            title, culprit = p.title, p.culprit
            g = CrashGroup.create(
                fingerprint=fp, explanation=p.explanation, title=title,
                culprit=culprit, search_key=_search_key(title, culprit, fp, p.exception_type), level=p.level,
                platform=p.platform, state="unresolved", event_count=0, subject_count=0, first_seen=p.occurred,
                last_seen=p.occurred)
            self.group_ids[fp] = g.id
            created.append(g.id)
        own_ids = {self.group_ids[fp] for fp in wanted}
        states = _load_states(own_ids)
        targets = {s.merged_into for s in states.values() if s.merged_into is not None} - set(states)
        states.update(_load_states(targets))
        # Follow a chain of merges to its end (merges are flattened, so this is rare and short).
        for _ in range(5):
            further = {s.merged_into for s in states.values() if s.merged_into is not None} - set(states)
            if not further:
                break
            states.update(_load_states(further))
        for s in list(states.values()):
            target = s.merged_into
            hops = 0
            while target is not None and states[target].merged_into is not None and hops < 5:
                target = states[target].merged_into
                hops += 1
            if target is not None:
                s.merged_into = target
        return created, states

    def _new_subject_pairs(self, pairs: set[tuple[int, int]]) -> dict[int, int]:
        """How many (group, subject) pairs are new per group: the increase of its affected-subject count."""
        unknown = pairs - self.pairs
        if not unknown:
            return {}
        groups = sorted({g for g, _ in unknown})
        subjects = sorted({s for _, s in unknown})
        known: set[tuple[int, int]] = set()
        for gchunk in _chunks(groups, 300):
            for schunk in _chunks(subjects, 300):
                query = (CrashEvent.select(CrashEvent.group, CrashEvent.subject).distinct()
                         .where(CrashEvent.group.in_(gchunk) & CrashEvent.subject.in_(schunk)))
                known.update((int(g), int(sub)) for g, sub in cast(Iterable[tuple[int, int]], query.tuples()))
        self.pairs.update(known)
        counts: dict[int, int] = defaultdict(int)
        for g, _s in unknown - known:
            counts[g] += 1
        return counts


def _tally(table: dict[Any, list[Any]], key: Any, when: dt.datetime) -> None:
    """Count one event under ``key``: ``table[key]`` is [events, first seen, last seen]."""
    entry = table.get(key)
    if entry is None:
        table[key] = [1, when, when]
        return
    entry[0] += 1
    if when < entry[1]:
        entry[1] = when
    elif when > entry[2]:
        entry[2] = when


def _load_states(ids: Iterable[int]) -> dict[int, _GroupState]:
    out: dict[int, _GroupState] = {}
    for chunk in _chunks(sorted(ids), 500):
        query = CrashGroup.select(CrashGroup.id, CrashGroup.merged_into, CrashGroup.state,
                                  CrashGroup.resolved_in_release, CrashGroup.resolved_at, CrashGroup.regressed)
        for g in query.where(CrashGroup.id.in_(chunk)):
            out[g.id] = _GroupState(g.id, _fk(g, "merged_into"), g.state, g.resolved_in_release, g.resolved_at,
                                    bool(g.regressed))
    return out


def _select_in(columns: str, table: str, column: str, values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE column IN (values)`` through the driver.

    The import asks this for every batch with hundreds of values; peewee's
    query builder spent more time turning them into parameters than the
    database spent answering. Names here are the program's own, never input.
    """
    if not values:
        return []
    marks = ", ".join([database.param] * len(values))
    rows: list[tuple[Any, ...]] = database.execute_sql(
        f"SELECT {columns} FROM {table} WHERE {column} IN ({marks})", list(values)).fetchall()
    return rows


#: How each event column's value reaches the driver: as it is (text, numbers, ids, and datetimes, which
#: every driver adapts itself, as peewee's own fields pass them) — peewee's per-value ``db_value`` calls
#: were a tenth of the import's writing time.
_EVENT_COLUMNS = ("event_id", "group", "original_group", "subject", "occurred_at", "received_at", "platform",
                  "level", "release", "environment", "os_name", "exception_type", "message", "payload")


def _insert_events(rows: list[tuple[Any, ...]]) -> None:
    """Insert event rows (values in ``_EVENT_COLUMNS`` order) with one prepared statement (``executemany``):
    peewee's per-value work is the bottleneck of a fast import, and the values here are plain strings,
    numbers and datetimes."""
    fields = [CrashEvent._meta.fields[name] for name in _EVENT_COLUMNS]
    quote = '`' if engine_name() == "mysql" else '"'
    table = CrashEvent._meta.table_name
    columns = ", ".join(f"{quote}{f.column_name}{quote}" for f in fields)
    marks = ", ".join([database.param] * len(fields))
    sql = f"INSERT INTO {quote}{table}{quote} ({columns}) VALUES ({marks})"
    for chunk in _payload_chunks(rows, max_rows=200):
        with _driver_errors():
            database.cursor().executemany(sql, chunk)


def _upsert_sql(model: type[peewee.Model], columns: Sequence[str], keys: Sequence[str],
                updates: dict[str, str]) -> str:
    """An ``INSERT … ON CONFLICT DO UPDATE`` (MariaDB: ``ON DUPLICATE KEY UPDATE``) for ``executemany``.

    ``updates`` maps a column to an expression over ``{old}`` (the stored value) and
    ``{new}`` (the value this row tried to insert). Each row is atomic on every
    engine, so two workstations importing at once add up instead of overwriting.
    """
    mysql = engine_name() == "mysql"
    q = "`" if mysql else '"'
    table = model._meta.table_name
    cols = [model._meta.fields[c].column_name for c in columns]
    marks = ", ".join([database.param] * len(cols))
    head = f"INSERT INTO {q}{table}{q} ({', '.join(q + c + q for c in cols)}) VALUES ({marks})"
    sets = []
    for name, expression in updates.items():
        column = model._meta.fields[name].column_name
        old = f"{q}{column}{q}" if mysql else f"{q}{table}{q}.{q}{column}{q}"
        new = f"VALUES({q}{column}{q})" if mysql else f"excluded.{q}{column}{q}"
        sets.append(f"{q}{column}{q} = " + expression.format(old=old, new=new))
    if mysql:
        return f"{head} ON DUPLICATE KEY UPDATE {', '.join(sets)}"
    target = ", ".join(q + model._meta.fields[k].column_name + q for k in keys)
    return f"{head} ON CONFLICT ({target}) DO UPDATE SET {', '.join(sets)}"


def _driver_errors() -> Any:
    """Peewee's translation of driver errors (``IntegrityError`` …) for statements run on a raw cursor."""
    return vars(peewee)["__exception_wrapper__"]


def _executemany(sql: str, rows: list[tuple[Any, ...]]) -> None:
    for chunk in _chunks(rows, 500):
        with _driver_errors():
            database.cursor().executemany(sql, list(chunk))


def _upsert_facets(facets: dict[tuple[int, str, str], list[Any]]) -> None:
    """Add a batch's counts to ``CrashGroupFacet`` (one prepared statement, many rows)."""
    if not facets:
        return
    f = CrashGroupFacet
    sql = _upsert_sql(f, ["group", "kind", "value", "event_count", "first_seen", "last_seen"],
                      ["group", "kind", "value"], {
                          "event_count": "{old} + {new}",
                          "first_seen": "CASE WHEN {new} < {old} THEN {new} ELSE {old} END",
                          "last_seen": "CASE WHEN {new} > {old} THEN {new} ELSE {old} END"})
    when = cast(Any, f.first_seen).db_value
    rows = [(gid, kind, value, n, when(first), when(last))
            for (gid, kind, value), (n, first, last) in sorted(facets.items())]
    _executemany(sql, rows)


def _upsert_daily(daily: dict[tuple[int, dt.date], int]) -> None:
    """Add a batch's per-day counts to ``CrashDailyCount`` (one prepared statement, many rows)."""
    if not daily:
        return
    d = CrashDailyCount
    sql = _upsert_sql(d, ["group", "day", "count"], ["group", "day"], {"count": "{old} + {new}"})
    day_value = cast(Any, d.day).db_value
    rows = [(gid, day_value(day), n) for (gid, day), n in sorted(daily.items())]
    _executemany(sql, rows)


def _fk(row: peewee.Model, name: str) -> int | None:
    """The id a foreign key of ``row`` holds (``row.<name>_id``), without loading the referenced row."""
    value = getattr(row, f"{name}_id")
    return int(value) if value is not None else None


def _least(column: peewee.Field, value: Any) -> Case:
    return Case(None, [(column > value, value)], column)


def _greatest(column: peewee.Field, value: Any) -> Case:
    return Case(None, [(column < value, value)], column)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _payload_chunks(rows: list[tuple[Any, ...]], max_rows: int = 100, max_bytes: int = 4_000_000
                    ) -> Iterator[list[tuple[Any, ...]]]:
    """Insert chunks of event rows (payload last) small enough for every engine's statement limits
    (SQLite variables, MariaDB packets)."""
    chunk: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        n = len(row[-1]) * 4
        if chunk and (len(chunk) >= max_rows or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += n
    if chunk:
        yield chunk


def _search_key(title: str, culprit: str | None, fingerprint: str, exception_type: str | None) -> str:
    return " ".join(x for x in (fold(title), fold(culprit or ""), fold(exception_type or ""), fingerprint[:12]) if x)


def _records(sources: Sequence[Any], report: ImportReport, tick: Callable[[int, str], None]
             ) -> Iterator[_Raw]:
    """Every record of every source, in order; ``tick(units, label)`` reports progress."""
    for source in sources:
        if isinstance(source, dict):
            tick(1, "")
            yield _Raw("<events>", 1, None, value=source)
            continue
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.exists():
                report.sources += 1
                yield _Raw(str(path), 0, None, error="no such file or folder")
                continue
            for file in _expand([path]):
                report.sources += 1
                base = 0
                label = file.name

                def consumed(n: int, _label: str = label) -> None:
                    nonlocal base
                    if n > base:
                        tick(n - base, _label)
                        base = n

                yield from _read_file(file, consumed)
            continue
        if isinstance(source, Iterable):
            report.sources += 1
            for i, item in enumerate(source, 1):
                tick(1, "")
                yield _Raw("<events>", i, None, value=item)
            continue
        yield _Raw(repr(type(source).__name__), 0, None, error="not a file, folder or event")


def _total_units(sources: Sequence[Any]) -> int:
    total = 0
    for source in sources:
        if isinstance(source, dict):
            total += 1
        elif isinstance(source, str | Path):
            for file in _expand([Path(source)]) if Path(source).exists() else []:
                try:
                    total += file.stat().st_size
                except OSError:
                    pass
        elif isinstance(source, list | tuple):
            total += len(source)
    return total


def import_events(actor: Actor, *sources: Any, progress: ProgressFn | None = None,
                  batch_size: int | None = None, now: dt.datetime | None = None,
                  workers: int | None = None) -> ImportReport:
    """Import Sentry events from files, folders, event dicts or lists of them; see the module docstring.

    ``progress(done, total, text)`` is called after each batch (units: bytes of
    files plus in-memory events); returning ``False`` cancels after the batch
    being written — what was committed stays, ``report.cancelled`` is set.
    ``now`` replaces the current time for the future-timestamp check (tests).
    ``workers`` is the number of processes that parse, scrub and group
    (``None``: ``import_workers`` decides by the input's size; 0: this
    process). Only this process writes, in input order, so the stored rows
    are the same either way. ``batch_size`` (events per transaction)
    defaults to ``BATCH_SIZE``, or ``PARALLEL_BATCH_SIZE`` with workers.
    """
    require(actor, Permission.CRASHES_IMPORT)
    started = dt.datetime.now()
    report = ImportReport()
    importer = _Importer(actor, report, now)
    total = _total_units(sources)
    if workers is None:
        in_memory = sum(1 if isinstance(s, dict) else len(s) if isinstance(s, list | tuple) else 0 for s in sources)
        workers = import_workers(total - in_memory + in_memory * 3000)
    if batch_size is None:
        batch_size = PARALLEL_BATCH_SIZE if workers > 0 else BATCH_SIZE
    read = 0
    read_label = ""

    def tick(units: int, name: str) -> None:
        nonlocal read, read_label
        read += units
        if name:
            read_label = name

    def stamped() -> Iterator[_Stamped]:
        for raw in _records(sources, report, tick):
            yield raw, read, read_label

    done = 0
    label = ""

    def report_progress() -> bool:
        if progress is None:
            return True
        text = f"{label}: {report.imported:,} imported" if label else f"{report.imported:,} imported"
        return progress(min(done, total) if total else done, max(total, done), text) is not False

    batch: list[_Prepared] = []
    shift = 0
    report.workers = max(0, workers)
    stream = _prepared_stream(stamped(), importer.scrubber, now, workers, read_ahead_chunks(workers, batch_size),
                              report)
    gc_threshold = gc.get_threshold()
    gc.set_threshold(*IMPORT_GC_THRESHOLD)
    try:
        for (raw, read_then, label_then), outcome in stream:
            done, label = read_then, label_then
            if raw.ndjson and raw.position == 1:
                shift = 0
            position = raw.position + shift
            if outcome is None:
                report.refuse(Refusal(raw.source, position, raw.error or "", raw.line))
            elif isinstance(outcome, str):
                report.refuse(Refusal(raw.source, position, outcome, raw.line))
            else:
                for i, result in enumerate(outcome):
                    if isinstance(result, str):
                        report.refuse(Refusal(raw.source, position + i, result, raw.line))
                    else:
                        batch.append(result)
                if raw.ndjson:
                    shift += max(0, len(outcome) - 1)
            if len(batch) >= batch_size:
                importer.flush(batch)
                batch = []
                if not report_progress():
                    report.cancelled = True
                    break
    finally:
        stream.close()
        gc.set_threshold(*gc_threshold)
    if not report.cancelled:
        done, label = read, read_label
        importer.flush(batch)
        report_progress()
    report.seconds = (dt.datetime.now() - started).total_seconds()
    return report


# ================================================================ reading groups


@dataclass(frozen=True)
class GroupFilter:
    """What a group list is narrowed to. ``since``/``until``: groups seen in that range (naive UTC)."""

    state: str | None = None
    release: str | None = None
    environment: str | None = None
    platform: str | None = None
    os_name: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None


@dataclass(frozen=True)
class GroupRow:
    id: int
    title: str
    culprit: str | None
    level: str
    platform: str | None
    state: str
    regressed: bool
    resolved_in_release: str | None
    event_count: int
    subject_count: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    fingerprint: str
    merged_into: int | None = None
    merged_count: int = 0

    @property
    def status(self) -> str:
        """The state as people read it: "regressed", "resolved in 4.2.0", "ignored", "unresolved", "merged"."""
        if self.merged_into is not None:
            return "merged"
        if self.state == "unresolved" and self.regressed:
            return "regressed"
        if self.state == "resolved" and self.resolved_in_release:
            return f"resolved in {self.resolved_in_release}"
        return self.state

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "culprit": self.culprit, "level": self.level,
                "platform": self.platform, "state": self.state, "regressed": self.regressed,
                "resolved_in_release": self.resolved_in_release, "status": self.status,
                "event_count": self.event_count, "affected_subjects": self.subject_count,
                "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
                "fingerprint": self.fingerprint, "merged_into": self.merged_into, "merged_groups": self.merged_count}


@dataclass(frozen=True)
class GroupPageKey:
    value: Any
    id: int


@dataclass(frozen=True)
class FacetRow:
    kind: str
    value: str
    event_count: int
    first_seen: dt.datetime
    last_seen: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "events": self.event_count, "first_seen": _iso(self.first_seen),
                "last_seen": _iso(self.last_seen)}


@dataclass(frozen=True)
class GroupDetail:
    group: GroupRow
    explanation: dict[str, Any]
    facets: dict[str, list[FacetRow]]
    merged: list[GroupRow]
    merged_into: GroupRow | None
    resolved_at: dt.datetime | None
    resolved_by: str | None

    @property
    def releases(self) -> list[FacetRow]:
        return self.facets.get("release", [])

    def as_json(self) -> dict[str, Any]:
        data = self.group.as_json()
        data["explanation"] = self.explanation
        data["releases"] = [f.as_json() for f in self.releases]
        data["environments"] = [f.as_json() for f in self.facets.get("environment", [])]
        data["platforms"] = [f.as_json() for f in self.facets.get("platform", [])]
        data["os"] = [f.as_json() for f in self.facets.get("os", [])]
        data["merged_groups"] = [g.as_json() for g in self.merged]
        data["resolved_at"] = _iso(self.resolved_at)
        data["resolved_by"] = self.resolved_by
        return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


_GROUP_FIELDS = (CrashGroup.id, CrashGroup.title, CrashGroup.culprit, CrashGroup.level, CrashGroup.platform,
                 CrashGroup.state, CrashGroup.regressed, CrashGroup.resolved_in_release, CrashGroup.event_count,
                 CrashGroup.subject_count, CrashGroup.first_seen, CrashGroup.last_seen, CrashGroup.fingerprint,
                 CrashGroup.merged_into)


def _group_row(g: CrashGroup, merged_count: int = 0) -> GroupRow:
    return GroupRow(g.id, g.title, g.culprit, g.level, g.platform, g.state, bool(g.regressed),
                    g.resolved_in_release, g.event_count, g.subject_count, g.first_seen, g.last_seen,
                    g.fingerprint, _fk(g, "merged_into"), merged_count)


def _unmerged() -> Any:
    """``merged_into_id IS NULL`` as the engine's planner walks the sort index best with it.

    Almost every group is unmerged, so the index on ``merged_into_id`` narrows
    nothing, yet without statistics SQLite picks it and sorts all groups: on
    SQLite the unary ``+`` keeps it on the sort column's index (5 ms → under
    1 ms at 10,000 groups). PostgreSQL has statistics, but takes ``+col`` for an
    expression it knows nothing of and would scan and sort; it gets the column.
    """
    if engine_name() == "sqlite":
        return peewee.NodeList((peewee.SQL("+"), CrashGroup.merged_into), glue="").is_null()
    return CrashGroup.merged_into.is_null()


def _filtered_groups(flt: GroupFilter, fields: Sequence[Any] = _GROUP_FIELDS) -> peewee.ModelSelect[CrashGroup]:
    query = CrashGroup.select(*fields).where(_unmerged())
    if flt.state:
        if flt.state not in STATE_FILTERS:
            raise ValidationError(f"“{flt.state[:40]}” is not a state; choose one of {', '.join(STATE_FILTERS)}.")
        # Most groups are unresolved (the view's default filter): on SQLite "+state" keeps the planner on
        # the sort column's index (stop after a page) instead of fetching every unresolved group to sort it.
        # Unary plus is a no-op only in SQLite; elsewhere the planner has statistics.
        state: Any = (peewee.NodeList((peewee.SQL("+"), CrashGroup.state), glue="")
                      if engine_name() == "sqlite" else CrashGroup.state)
        if flt.state == "regressed":
            query = query.where((state == "unresolved") & (CrashGroup.regressed == True))  # noqa: E712
        else:
            query = query.where(state == flt.state)
    for kind, value in (("release", flt.release), ("environment", flt.environment), ("platform", flt.platform),
                        ("os", flt.os_name)):
        if value:
            sub = CrashGroupFacet.select(CrashGroupFacet.group).where(
                (CrashGroupFacet.kind == kind) & (CrashGroupFacet.value == value))
            query = query.where(CrashGroup.id.in_(sub))
    if flt.since is not None:
        query = query.where(CrashGroup.last_seen >= flt.since)
    if flt.until is not None:
        query = query.where(CrashGroup.first_seen < flt.until)
    if flt.text:
        if len(flt.text) > MAX_SEARCH_LENGTH:
            raise ValidationError(f"The search text is too long ({len(flt.text):,} characters; at most "
                                  f"{MAX_SEARCH_LENGTH} are allowed).")
        text = flt.text.strip()
        number = text.lstrip("#")
        words = fold(text).split()
        if number.isdigit() and text.startswith("#"):
            query = query.where(CrashGroup.id == int(number))
        else:
            for word in words:
                query = query.where(CrashGroup.search_key.contains(word))
    return query


def list_groups(actor: Actor, flt: GroupFilter = GroupFilter(), *, sort: str = "last_seen", descending: bool = True,
                after: GroupPageKey | None = None, limit: int = settings.PAGE_SIZE) -> list[GroupRow]:
    """One keyset page of groups (merged groups are hidden), ordered in the database by ``sort``, then id.

    A page costs an index walk and the rows it returns, whatever the number of
    events: counters live on the group row (kept by the import).
    """
    require(actor, Permission.CRASHES_VIEW)
    column = GROUP_SORTS.get(sort)
    if column is None:
        raise ValidationError(f"Cannot sort crash groups by “{sort}”; choose one of {', '.join(GROUP_SORTS)}.")
    values = () if after is None else (after.value, after.id)

    def build(*key: Any) -> Any:
        merged = CrashGroup.alias("merged_group")
        merged_count = (merged.select(fn.COUNT(merged.id)).where(merged.merged_into == CrashGroup.id)
                        .alias("merged_count"))
        query = _filtered_groups(flt, (*_GROUP_FIELDS, merged_count))
        if key:
            query = query.where(keyset_after(column, CrashGroup.id, key[0], key[1], descending))
        order = [column.desc(), CrashGroup.id.desc()] if descending else [column.asc(), CrashGroup.id.asc()]
        return query.order_by(*order).limit(limit)

    with database_errors():
        if flt.text or flt.since is not None or flt.until is not None:
            raw = fetch_tuples(build(*values))
        else:  # the list as opened, filtered by its choices and scrolled: one SQL text per shape
            raw = database.execute_sql(*_PAGES.sql((flt, sort, descending, limit, after is None), build,
                                                   values)).fetchall()
    return _group_rows(raw)


#: ``GroupRow``s from driver tuples in ``_GROUP_FIELDS`` order plus the merged count: times parsed once,
#: booleans made bool, no model object (a page of 200 groups is what the list shows on every keystroke).
_group_rows = RowsBuilder(GroupRow, len(_GROUP_FIELDS) + 1,
                          (0, 1, 2, 3, 4, 5, BOOL(6), 7, 8, 9, DT(10), DT(11), 12, 13, Expr("int(c14 or 0)")))
_PAGES = Statements()


def group_page_key(row: GroupRow, sort: str) -> GroupPageKey:
    value = {"last_seen": row.last_seen, "first_seen": row.first_seen, "event_count": row.event_count,
             "subject_count": row.subject_count, "id": row.id}[sort]
    return GroupPageKey(value, row.id)


def count_groups(actor: Actor, flt: GroupFilter = GroupFilter()) -> int:
    """How many groups match (groups, not events: a small table)."""
    require(actor, Permission.CRASHES_VIEW)
    with database_errors():
        return _filtered_groups(flt, (CrashGroup.id,)).count()


@dataclass(frozen=True)
class CrashTotals:
    events: int
    groups: int
    unresolved: int
    regressed: int


def crash_totals(actor: Actor) -> CrashTotals:
    """Instance-wide numbers for headers and dashboards (from group counters, not from events)."""
    require(actor, Permission.CRASHES_VIEW)
    with database_errors():
        top = CrashGroup.select().where(CrashGroup.merged_into.is_null())
        events = CrashGroup.select(fn.COALESCE(fn.SUM(CrashGroup.event_count), 0)).where(
            CrashGroup.merged_into.is_null()).scalar()
        return CrashTotals(int(events or 0), top.count(),
                           top.where(CrashGroup.state == "unresolved").count(),
                           top.where((CrashGroup.state == "unresolved") & (CrashGroup.regressed == True)).count())  # noqa: E712


@dataclass(frozen=True)
class FilterOptions:
    releases: list[str]
    environments: list[str]
    platforms: list[str]
    os_names: list[str]


def filter_options(actor: Actor) -> FilterOptions:
    """The distinct releases (newest first), environments, platforms and OS names seen in any group."""
    require(actor, Permission.CRASHES_VIEW)
    values: dict[str, list[str]] = {k: [] for k in FACET_KINDS}
    with database_errors():
        query = (CrashGroupFacet.select(CrashGroupFacet.kind, CrashGroupFacet.value).distinct()
                 .order_by(CrashGroupFacet.kind, CrashGroupFacet.value))
        for row in query:
            values.setdefault(row.kind, []).append(row.value)
    releases = sorted(values["release"], key=lambda r: (release_key(r) or ("", (), 0), r), reverse=True)
    return FilterOptions(releases, values["environment"], values["platform"], values["os"])


def _get_group(group_id: int) -> CrashGroup:
    group = CrashGroup.get_or_none(CrashGroup.id == group_id)
    if group is None:
        raise NotFoundError(f"There is no crash group #{group_id}.")
    return group


def find_group(actor: Actor, ref: str | int) -> GroupRow:
    """A group by id (``12`` or ``#12``) or by the first 8+ characters of its fingerprint."""
    require(actor, Permission.CRASHES_VIEW)
    text = str(ref).strip().lstrip("#")
    with database_errors():
        if text.isdigit():
            return _group_row(_get_group(int(text)))
        if re.fullmatch(r"[0-9a-fA-F]{8,64}", text):
            matches = list(CrashGroup.select().where(CrashGroup.fingerprint.startswith(text.lower())).limit(2))
            if len(matches) == 1:
                return _group_row(matches[0])
            if len(matches) > 1:
                raise ValidationError(f"“{text}” matches more than one fingerprint; give more characters or the id.")
    raise NotFoundError(f"There is no crash group “{str(ref)[:80]}” (give its number or fingerprint).")


def get_group(actor: Actor, group_id: int) -> GroupDetail:
    """One group with its explanation, releases/environments/platforms/OS and merged groups."""
    require(actor, Permission.CRASHES_VIEW)
    with database_errors():
        group = _get_group(group_id)
        facets: dict[str, list[FacetRow]] = {k: [] for k in FACET_KINDS}
        for f in CrashGroupFacet.select().where(CrashGroupFacet.group == group.id):
            facets.setdefault(f.kind, []).append(FacetRow(f.kind, f.value, f.event_count, f.first_seen, f.last_seen))
        facets["release"].sort(key=lambda f: (release_key(f.value) or ("", (), 0), f.first_seen), reverse=True)
        for kind in ("environment", "platform", "os"):
            facets[kind].sort(key=lambda f: -f.event_count)
        merged = [_group_row(g) for g in CrashGroup.select().where(CrashGroup.merged_into == group.id)
                  .order_by(CrashGroup.id)]
        target_id = _fk(group, "merged_into")
        target = _group_row(_get_group(target_id)) if target_id is not None else None
        resolved_by = None
        if group.resolved_by is not None:
            op = Operator.get_or_none(Operator.id == group.resolved_by)
            resolved_by = op.username if op else None
        try:
            explanation = json.loads(group.explanation or "{}")
        except ValueError:
            explanation = {}
        return GroupDetail(_group_row(group, len(merged)), explanation, facets, merged, target, group.resolved_at,
                           resolved_by)


def daily_counts(actor: Actor, group_id: int, days: int = 30, *, today: dt.date | None = None
                 ) -> list[tuple[dt.date, int]]:
    """Events per UTC day for the last ``days`` days up to ``today``, zero-filled (the group's chart)."""
    require(actor, Permission.CRASHES_VIEW)
    if not 1 <= days <= 3660:
        raise ValidationError("The chart covers between 1 and 3660 days.")
    end = today or utcnow().date()
    start = end - dt.timedelta(days=days - 1)
    with database_errors():
        found = {r.day if isinstance(r.day, dt.date) else dt.date.fromisoformat(str(r.day)): r.count
                 for r in CrashDailyCount.select(CrashDailyCount.day, CrashDailyCount.count)
                 .where((CrashDailyCount.group == group_id) & (CrashDailyCount.day >= start)
                        & (CrashDailyCount.day <= end))}
    return [(start + dt.timedelta(days=i), found.get(start + dt.timedelta(days=i), 0)) for i in range(days)]


# ================================================================ events


@dataclass(frozen=True)
class EventRow:
    id: int
    event_id: str
    group_id: int
    original_group_id: int | None
    occurred_at: dt.datetime
    received_at: dt.datetime
    platform: str
    level: str
    release: str | None
    environment: str | None
    os_name: str | None
    exception_type: str | None
    message: str | None
    linked: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "event_id": self.event_id, "group": self.group_id,
                "original_group": self.original_group_id, "occurred_at": _iso(self.occurred_at),
                "received_at": _iso(self.received_at), "platform": self.platform, "level": self.level,
                "release": self.release, "environment": self.environment, "os": self.os_name,
                "exception_type": self.exception_type, "message": self.message, "linked_to_subject": self.linked}


@dataclass(frozen=True)
class EventDetail:
    row: EventRow
    payload: dict[str, Any]


_EVENT_FIELDS = (CrashEvent.id, CrashEvent.event_id, CrashEvent.group, CrashEvent.original_group,
                 CrashEvent.occurred_at, CrashEvent.received_at, CrashEvent.platform, CrashEvent.level,
                 CrashEvent.release, CrashEvent.environment, CrashEvent.os_name, CrashEvent.exception_type,
                 CrashEvent.message, CrashEvent.subject)


def _event_row(e: CrashEvent) -> EventRow:
    return EventRow(e.id, e.event_id, _fk(e, "group") or 0, _fk(e, "original_group"), e.occurred_at, e.received_at,
                    e.platform,
                    e.level, e.release, e.environment, e.os_name, e.exception_type, e.message,
                    _fk(e, "subject") is not None)


@dataclass(frozen=True)
class EventPageKey:
    occurred_at: dt.datetime
    id: int


def list_group_events(actor: Actor, group_id: int, *, after: EventPageKey | None = None,
                      limit: int = settings.PAGE_SIZE) -> list[EventRow]:
    """One keyset page of a group's events, newest first (index ``(group, occurred_at)``)."""
    require(actor, Permission.CRASHES_VIEW)
    query = CrashEvent.select(*_EVENT_FIELDS).where(CrashEvent.group == group_id)
    if after is not None:
        query = query.where((CrashEvent.occurred_at < after.occurred_at)
                            | ((CrashEvent.occurred_at == after.occurred_at) & (CrashEvent.id < after.id)))
    with database_errors():
        return [_event_row(e) for e in
                query.order_by(CrashEvent.occurred_at.desc(), CrashEvent.id.desc()).limit(limit)]


def event_page_key(row: EventRow) -> EventPageKey:
    return EventPageKey(row.occurred_at, row.id)


def get_event(actor: Actor, event_pk: int) -> EventDetail:
    """One stored (scrubbed) event. The linked subject is not part of it: see ``event_subject``."""
    require(actor, Permission.CRASHES_VIEW)
    with database_errors():
        event = CrashEvent.select(*_EVENT_FIELDS, CrashEvent.payload).where(CrashEvent.id == event_pk).first()
    if event is None:
        raise NotFoundError(f"There is no crash event #{event_pk}.")
    try:
        payload = json.loads(event.payload)
    except ValueError:
        payload = {}
    return EventDetail(_event_row(event), payload)


@dataclass(frozen=True)
class LinkedSubject:
    id: int
    user_id: str
    name: str
    restricted: bool


def event_subject(actor: Actor, event_pk: int) -> LinkedSubject | None:
    """The user account a crash event belongs to; needs ``subjects.view`` and every look is audited."""
    require(actor, Permission.CRASHES_VIEW)
    require(actor, Permission.SUBJECTS_VIEW)
    with database_errors():
        event = CrashEvent.select(CrashEvent.id, CrashEvent.subject).where(CrashEvent.id == event_pk).first()
        if event is None:
            raise NotFoundError(f"There is no crash event #{event_pk}.")
        if _fk(event, "subject") is None:
            return None
        subject = Subject.get_by_id(_fk(event, "subject"))
        with database.atomic():
            audit.record(actor, "crash.subject_view", "crash_event", event.id, subject_id=subject.id)
    return LinkedSubject(subject.id, subject.user_id, subject.name, bool(subject.restricted))


def subject_crash_events(actor: Actor, subject_id: int) -> list[EventDetail]:
    """Every crash event of one subject (for an access or portability package, GDPR Art. 15/20); audited."""
    require(actor, Permission.SUBJECTS_VIEW)
    with database_errors():
        events = list(CrashEvent.select(*_EVENT_FIELDS, CrashEvent.payload)
                      .where(CrashEvent.subject == subject_id).order_by(CrashEvent.occurred_at, CrashEvent.id))
        with database.atomic():
            audit.record(actor, "crash.subject_events", "subject", subject_id, events=len(events))
    out = []
    for e in events:
        try:
            payload = json.loads(e.payload)
        except ValueError:
            payload = {}
        out.append(EventDetail(_event_row(e), payload))
    return out


def erase_subject_crash_events(actor: Actor, subject_id: int) -> int:
    """Delete one subject's crash events (GDPR Art. 17) and correct the counters of their groups.

    A group left without events is deleted too, unless a legal hold names it or
    other groups are merged into it. Returns the number of events deleted.
    """
    require(actor, Permission.SUBJECTS_ERASE)
    with database_errors(), database.atomic():
        groups = sorted({_fk(e, "group") or 0 for e in CrashEvent.select(CrashEvent.group).distinct()
                         .where(CrashEvent.subject == subject_id)})
        deleted = CrashEvent.delete().where(CrashEvent.subject == subject_id).execute()
        _rebuild_aggregates(groups)
        emptied = [g.id for g in CrashGroup.select(CrashGroup.id).where(CrashGroup.id.in_(groups)
                                                                           & (CrashGroup.event_count == 0))]
        held = {_fk(h, "crash_group") for h in LegalHold.select(LegalHold.crash_group)
                .where(LegalHold.crash_group.in_(emptied) & LegalHold.released_at.is_null())} if emptied else set()
        parents = {_fk(g, "merged_into") for g in CrashGroup.select(CrashGroup.merged_into)
                   .where(CrashGroup.merged_into.in_(emptied))} if emptied else set()
        removable = [g for g in emptied if g not in held and g not in parents
                     and not CrashEvent.select().where(CrashEvent.original_group == g).exists()]
        if removable:
            CrashGroup.delete().where(CrashGroup.id.in_(removable)).execute()
        audit.record(actor, "crash.subject_erase", "subject", subject_id, events=deleted, group_ids=groups[:500],
                     deleted_group_ids=removable[:500])
    return int(deleted)


# ================================================================ managing groups


def _top_group(group_id: int) -> CrashGroup:
    group = _get_group(group_id)
    target = _fk(group, "merged_into")
    if target is not None:
        raise ValidationError(f"Group #{group.id} is merged into #{target}; change that group, or "
                              f"unmerge #{group.id} first.")
    return group


def set_group_state(actor: Actor, group_id: int, state: str, *, release: str | None = None) -> GroupRow:
    """Resolve (optionally "in release R"), ignore or unresolve a group; clears the regressed flag. Audited."""
    require(actor, Permission.CRASHES_MANAGE)
    if state not in STATES:
        raise ValidationError(f"“{state[:40]}” is not a state; choose one of {', '.join(STATES)}.")
    release = (release or "").strip() or None
    if release is not None and (state != "resolved" or len(release) > 200):
        raise ValidationError("A release can only be given when resolving, and is at most 200 characters long.")
    with database_errors(), database.atomic():
        group = _top_group(group_id)
        values: dict[str, Any] = {"state": state, "regressed": False}
        if state == "resolved":
            values.update(resolved_in_release=release, resolved_at=utcnow(), resolved_by=actor.operator_id)
        CrashGroup.update(values).where(CrashGroup.id == group.id).execute()
        action = {"resolved": "crash.resolve", "ignored": "crash.ignore"}.get(state, "crash.unresolve")
        audit.record(actor, action, "crash_group", group.id, state=state, release=release, previous=group.state)
        return _group_row(_get_group(group.id))


def resolve_group(actor: Actor, group_id: int, release: str | None = None) -> GroupRow:
    """Mark a group resolved; with ``release``, only events from later releases reopen it."""
    return set_group_state(actor, group_id, "resolved", release=release)


def ignore_group(actor: Actor, group_id: int) -> GroupRow:
    return set_group_state(actor, group_id, "ignored")


def unresolve_group(actor: Actor, group_id: int) -> GroupRow:
    return set_group_state(actor, group_id, "unresolved")


def _rebuild_aggregates(group_ids: Iterable[int]) -> None:
    """Recompute counters, per-day counts and facets of groups from their events (after merge/unmerge/erase)."""
    for gid in sorted(set(group_ids)):
        agg = cast(dict[str, Any], CrashEvent.select(
            fn.COUNT(CrashEvent.id).alias("n"), fn.MIN(CrashEvent.occurred_at).alias("first"),
            fn.MAX(CrashEvent.occurred_at).alias("last"), fn.COUNT(CrashEvent.subject.distinct()).alias("subjects"))
            .where(CrashEvent.group == gid).dicts().get())
        values: dict[str, Any] = {"event_count": agg["n"] or 0, "subject_count": agg["subjects"] or 0}
        if agg["n"]:
            values.update(first_seen=_as_datetime(agg["first"]), last_seen=_as_datetime(agg["last"]))
        CrashGroup.update(values).where(CrashGroup.id == gid).execute()
        CrashGroupFacet.delete().where(CrashGroupFacet.group == gid).execute()
        CrashDailyCount.delete().where(CrashDailyCount.group == gid).execute()
        if not agg["n"]:
            continue
        facet_rows = []
        for kind, column in (("release", CrashEvent.release), ("environment", CrashEvent.environment),
                             ("platform", CrashEvent.platform), ("os", CrashEvent.os_name)):
            query = (CrashEvent.select(column.alias("value"), fn.COUNT(CrashEvent.id).alias("n"),
                                       fn.MIN(CrashEvent.occurred_at).alias("first"),
                                       fn.MAX(CrashEvent.occurred_at).alias("last"))
                     .where((CrashEvent.group == gid) & column.is_null(False)).group_by(column).dicts())
            for r in cast(Iterable[dict[str, Any]], query):
                facet_rows.append({"group": gid, "kind": kind, "value": str(r["value"])[:200], "event_count": r["n"],
                                   "first_seen": _as_datetime(r["first"]), "last_seen": _as_datetime(r["last"])})
        for chunk in _chunks(facet_rows, 100):
            CrashGroupFacet.insert_many(list(chunk)).execute()
        day = fn.DATE(CrashEvent.occurred_at)
        per_day = (CrashEvent.select(day, fn.COUNT(CrashEvent.id)).where(CrashEvent.group == gid)
                   .group_by(day).tuples())
        daily = [{"group": gid, "day": _as_date(d), "count": n} for d, n in cast(Iterable[tuple[Any, int]], per_day)]
        for chunk in _chunks(daily, 100):
            CrashDailyCount.insert_many(list(chunk)).execute()


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else \
            value.astimezone(dt.UTC).replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def merge_groups(actor: Actor, group_id: int, into_id: int) -> GroupRow:
    """Merge group ``group_id`` (and groups already merged into it) into ``into_id``.

    Their events move to the target, keep ``original_group``, and new events of
    their fingerprints follow the merge; the target's counters, chart and
    releases are recomputed. Returns the target. Audited with ids and counts.
    """
    require(actor, Permission.CRASHES_MANAGE)
    if group_id == into_id:
        raise ValidationError("A group cannot be merged into itself.")
    with database_errors(), database.atomic():
        source = _top_group(group_id)
        target = _top_group(into_id)
        children = [g.id for g in CrashGroup.select(CrashGroup.id).where(CrashGroup.merged_into == source.id)]
        moving = [source.id, *children]
        moved = CrashEvent.update(group=target.id).where(CrashEvent.group.in_(moving)).execute()
        CrashGroup.update(merged_into=target.id).where(CrashGroup.id.in_(moving)).execute()
        _rebuild_aggregates([*moving, target.id])
        audit.record(actor, "crash.merge", "crash_group", source.id, into=target.id, group_ids=moving,
                     events=moved)
        return _group_row(_get_group(target.id), len(moving))


def unmerge_group(actor: Actor, group_id: int) -> list[int]:
    """Split merged groups apart again: their own events (``original_group``) go back to them.

    ``group_id`` may be a merged group (it alone is split off) or a merge target
    (every group merged into it is split off). Returns the ids split off.
    """
    require(actor, Permission.CRASHES_MANAGE)
    with database_errors(), database.atomic():
        group = _get_group(group_id)
        if _fk(group, "merged_into") is not None:
            split = [group.id]
            target_id = _fk(group, "merged_into") or 0
        else:
            split = [g.id for g in CrashGroup.select(CrashGroup.id).where(CrashGroup.merged_into == group.id)]
            target_id = group.id
            if not split:
                raise ValidationError(f"Group #{group.id} is not merged and has no groups merged into it.")
        moved = 0
        for gid in split:
            moved += CrashEvent.update(group=gid).where((CrashEvent.original_group == gid)
                                                        & (CrashEvent.group == target_id)).execute()
        CrashGroup.update(merged_into=None).where(CrashGroup.id.in_(split)).execute()
        _rebuild_aggregates([*split, target_id])
        audit.record(actor, "crash.unmerge", "crash_group", target_id, group_ids=split, events=moved)
    return split


# ================================================================ re-scrubbing


@dataclass
class RescrubReport:
    scanned: int = 0
    changed: int = 0
    groups_changed: int = 0
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"scanned": self.scanned, "changed": self.changed, "groups_changed": self.groups_changed,
                "cancelled": self.cancelled}


def rescrub_events(actor: Actor, *, progress: ProgressFn | None = None, batch_size: int = BATCH_SIZE
                   ) -> RescrubReport:
    """Apply the current scrub rules to every stored event and group text (after a rule was added).

    Works in keyset batches of ``batch_size`` events; each batch's updates and
    its audit event (counts and ids) are one transaction. Scrubbing is
    idempotent, so only what a new rule finds changes. ``progress(done, total,
    text)`` returning ``False`` stops after the current batch. Allowed to
    operators who manage crashes and to administrators (who add the rules).
    """
    _require_any(actor, Permission.CRASHES_MANAGE, Permission.SETTINGS_EDIT)
    scrubber = current_scrubber()
    report = RescrubReport()
    with database_errors():
        total = CrashEvent.select().count() + CrashGroup.select().count()
    last_id = 0
    while True:
        with database_errors():
            rows = list(CrashEvent.select(CrashEvent.id, CrashEvent.payload, CrashEvent.message,
                                          CrashEvent.exception_type)
                        .where(CrashEvent.id > last_id).order_by(CrashEvent.id).limit(batch_size))
        if not rows:
            break
        last_id = rows[-1].id
        updates = []
        for row in rows:
            try:
                payload = json.loads(row.payload)
                clean = scrubber.scrub_event(payload) if isinstance(payload, dict) else scrubber.scrub_value(payload)
                new_payload = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
            except (ValueError, RecursionError):
                new_payload = json.dumps({"payload": scrub.FILTERED})
            message = scrubber.scrub_text(row.message) if row.message else row.message
            etype = scrubber.scrub_text(row.exception_type) if row.exception_type else row.exception_type
            if new_payload != row.payload or message != row.message or etype != row.exception_type:
                updates.append((row.id, new_payload, message, etype))
        report.scanned += len(rows)
        if updates:
            with database_errors(), database.atomic():
                for pk, payload_text, message, etype in updates:
                    CrashEvent.update(payload=payload_text, message=message, exception_type=etype).where(
                        CrashEvent.id == pk).execute()
                audit.record(actor, "crash.rescrub", "crash_batch", None, scanned=len(rows), changed=len(updates),
                             event_ids=audit.audited_ids(u[0] for u in updates))
            report.changed += len(updates)
        if progress is not None and progress(report.scanned, total, f"{report.scanned:,} events checked") is False:
            report.cancelled = True
            return report
    report.groups_changed = _rescrub_groups(actor, scrubber)
    if progress is not None:
        progress(total, total, f"{report.scanned:,} events checked")
    return report


def _rescrub_groups(actor: Actor, scrubber: scrub.Scrubber) -> int:
    changed = 0
    last_id = 0
    while True:
        with database_errors():
            groups = list(CrashGroup.select(CrashGroup.id, CrashGroup.title, CrashGroup.culprit,
                                            CrashGroup.explanation, CrashGroup.fingerprint)
                          .where(CrashGroup.id > last_id).order_by(CrashGroup.id).limit(500))
        if not groups:
            return changed
        last_id = groups[-1].id
        updates = []
        for g in groups:
            title = scrubber.scrub_text(g.title)
            culprit = scrubber.scrub_text(g.culprit) if g.culprit else g.culprit
            try:
                explanation = json.loads(g.explanation or "{}")
                digest = explanation.get("hash") if isinstance(explanation, dict) else None
                explanation = scrubber.scrub_value(explanation)
                if digest and isinstance(explanation, dict):
                    explanation["hash"] = digest
                text = json.dumps(explanation, ensure_ascii=False)
            except (ValueError, RecursionError):
                text = "{}"
            if title != g.title or culprit != g.culprit or text != g.explanation:
                updates.append((g.id, title, culprit, text, _search_key(title, culprit, g.fingerprint, None)))
        if updates:
            with database_errors(), database.atomic():
                for gid, title, culprit, text, key in updates:
                    CrashGroup.update(title=title, culprit=culprit, explanation=text, search_key=key).where(
                        CrashGroup.id == gid).execute()
                audit.record(actor, "crash.rescrub_groups", "crash_group", None, changed=len(updates),
                             group_ids=[u[0] for u in updates][:500])
            changed += len(updates)
