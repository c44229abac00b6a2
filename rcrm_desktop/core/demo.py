"""Demo instances: operators with a printed password, and believable data in every area.

What a demo fill guarantees (and the tests check):

* every ``Recording`` row has its file in the recordings store, written
  atomically through ``core.store``; its format, duration, rate, channels and
  size are what ``audio.probe`` reads from that file and its ``sha256`` is the
  file's (``original_sha256`` is the same except for redacted recordings, whose
  redacted region really is silence);
* rights requests exist of every type in every state, with ``due_on``
  computed by ``core.deadlines`` (GDPR Art. 12(3), Reg. 1182/71): some
  overdue, some due within seven days, one extended in time with its reason;
* crash events are scrubbed Sentry-format JSON whose group counters and
  first/last seen match the events;
* files and rows go together: the audio is written first, the rows in one
  transaction; if anything fails or the caller cancels, the transaction rolls
  back and the files written so far are removed;
* the audit log gets one system event with counts only (no names), and its
  chain stays verifiable.

Demo data only goes into an instance without user accounts, recordings,
crash reports or requests, so it is never mixed into real data.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import functools
import hashlib
import random
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcrm_desktop.core import audit, deadlines, demo_names, operators
from rcrm_desktop.core.instance import set_system_setting
from rcrm_desktop.core.permissions import ROLE_PERMISSIONS, Permission, Role
from rcrm_desktop.core.store import RecordingsStore, StoredFile, open_store
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import (
    Annotation,
    BaseModel,
    CrashEvent,
    CrashGroup,
    LegalHold,
    Operator,
    Recording,
    RecordingTag,
    Redaction,
    RequestEvent,
    RetentionPolicy,
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import RcrmError, ValidationError

#: ``progress(stage, done, total)``; returning ``False`` cancels (everything is rolled back).
Progress = Callable[[str, int, int], bool | None]

REQUEST_TYPES = ("access", "rectification", "erasure", "restriction", "portability", "objection")
REQUEST_STATES = ("received", "identity_verification", "in_progress", "awaiting_requester", "completed",
                  "rejected", "withdrawn")
OPEN_STATES = ("received", "identity_verification", "in_progress", "awaiting_requester")

#: Retention rules of a demo instance: (category, max_age_days, enabled). The audit log is never purged.
RETENTION_DEFAULTS = (
    ("recordings", 730, True),
    ("crash_events", 180, True),
    ("inactive_accounts", 1095, False),
    ("annotations", 730, False),
    ("access_packages", 30, True),
    ("closed_requests", 1825, True),
    ("audit_log", None, False),
)

DEMO_USERNAMES = (("admin", Role.ADMIN, "Demo Administrator"),
                  ("compliance", Role.COMPLIANCE, "Eva Horváthová"),
                  ("support", Role.SUPPORT, "Tomáš Novák"))

_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_EXTENSIONS = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "opus": "opus", "flac": "flac", "m4a": "m4a"}


class DemoCancelled(RcrmError):
    """The caller cancelled the demo fill; nothing was kept."""


@dataclass
class DemoSummary:
    """What a demo fill added (numbers only)."""

    subjects: int = 0
    children: int = 0
    restricted: int = 0
    objected: int = 0
    subject_changes: int = 0
    recordings: int = 0
    audio_seconds: float = 0.0
    formats: dict[str, int] = field(default_factory=dict)
    tags: int = 0
    annotations: int = 0
    redactions: int = 0
    crash_groups: int = 0
    crash_events: int = 0
    requests: int = 0
    request_events: int = 0
    overdue: int = 0
    due_soon: int = 0
    extended: int = 0
    legal_holds: int = 0
    retention_policies: int = 0
    store_root: str = ""
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}

    def __str__(self) -> str:
        formats = ", ".join(f"{count} {fmt.upper()}" for fmt, count in sorted(self.formats.items()))
        minutes = self.audio_seconds / 60
        parts = [
            f"{self.subjects:,} user accounts ({self.children} children, {self.restricted} restricted, "
            f"{self.objected} objected)",
            f"{self.recordings} recordings ({minutes:.1f} min of audio{': ' + formats if formats else ''})",
            f"{self.crash_events} crash events in {self.crash_groups} groups",
            f"{self.requests} rights requests ({self.overdue} overdue, {self.due_soon} due within 7 days, "
            f"{self.extended} extended)",
            f"{self.legal_holds} legal holds",
        ]
        return "; ".join(parts) + f" — in {self.seconds:.1f} s"


# ================================================================ operators


def readable_password(groups: int = 3) -> str:
    """A random password like ``k3xm-9fpa-tr7w`` (from ``secrets.token_urlsafe``, no look-alike characters)."""
    chars: list[str] = []
    while len(chars) < 4 * groups:
        chars.extend(c for c in secrets.token_urlsafe(32).lower() if c in _PASSWORD_ALPHABET)
    return "-".join("".join(chars[i * 4:(i + 1) * 4]) for i in range(groups))


def create_demo_operators(password: str | None = None) -> list[tuple[str, str, str]]:
    """Create ``admin``, ``compliance`` (Eva Horváthová) and ``support`` (Tomáš Novák) on a new instance.

    All three get ``password`` or one random readable password. Marks the
    instance as a demo (``demo_instance=1``) and stores the log-in hint the
    log-in screen of a demo instance shows. Refused (``ValidationError``) when
    the instance already has operators. Returns ``(username, role, password)``.
    """
    secret = password or readable_password()
    with database_errors(), database.atomic():
        admin = operators.bootstrap_admin(DEMO_USERNAMES[0][0], secret, DEMO_USERNAMES[0][2])
        actor = operators.actor_of(Operator.get_by_id(admin.id))
        for username, role, display_name in DEMO_USERNAMES[1:]:
            operators.create_operator(actor, username, display_name, role, secret)
        names = ", ".join(u for u, _, _ in DEMO_USERNAMES)
        set_system_setting("demo_instance", "1")
        set_system_setting("demo_login_hint", f"log in as {names}; password: {secret}")
    return [(username, role.value, secret) for username, role, _ in DEMO_USERNAMES]


def _demo_staff() -> tuple[int, int]:
    """(compliance operator id, support operator id) to sign the demo's work; falls back along the roles."""
    ops = list(Operator.select().where(Operator.active == True).order_by(Operator.id))  # noqa: E712
    if not ops:
        raise ValidationError("The instance has no operators yet: create them first (rcrm-desktop demo does).")

    def first(*roles: Role) -> int:
        for role in roles:
            for op in ops:
                if op.role == role.value:
                    return int(op.id)
        return int(ops[0].id)

    # The crash reports go through the real import and triage, which only some roles may do: say so before
    # any audio is made, rather than fail (and roll everything back) halfway.
    crash_roles = [r for r in Role if {Permission.CRASHES_IMPORT, Permission.CRASHES_MANAGE} <= ROLE_PERMISSIONS[r]]
    if not any(op.role == r.value for op in ops for r in crash_roles):
        raise ValidationError(
            "The demo imports and triages crash reports as a support operator, and this instance has no active "
            "one: add one first (rcrm-desktop operators add --role support NAME), then run the demo again.")
    return first(Role.COMPLIANCE, Role.ADMIN), first(*crash_roles)


# ================================================================ helpers


class _Tick:
    """Progress reporting with cancellation."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None and self.progress(stage, done, total) is False:
            raise DemoCancelled("The demo fill was cancelled; nothing was added.")


def _chunk_size(columns: int) -> int:
    if engine_name() == "sqlite":
        limit = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
        return max(1, min(500, limit // max(1, columns)))
    return 500


def _insert(model: type[BaseModel], rows: Sequence[dict[str, Any]], tick: _Tick | None = None,
            stage: str = "") -> None:
    """Insert ``rows`` (dicts keyed by field name, all with the same keys) in multi-row statements.

    The same parameterised ``INSERT … VALUES (…), (…)`` that ``insert_many``
    sends, with every value converted by its field's ``db_value``, but built
    once per chunk instead of node by node: peewee's per-value SQL generation
    was most of the time of a 50,000-account fill.
    """
    if not rows:
        return
    db = database.obj
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    opening, closing = db.quote[0], db.quote[-1]  # '""' or '``': the engine's identifier quotes
    columns = ", ".join(f"{opening}{f.column_name}{closing}" for f in fields)
    table = f"{opening}{model._meta.table_name}{closing}"
    row_sql = "(" + ", ".join([db.param] * len(fields)) + ")"
    size = _chunk_size(len(fields))
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        params = [field.db_value(row[name]) for row in chunk for name, field in zip(names, fields, strict=True)]
        database.execute_sql(f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_sql] * len(chunk)),
                             params)
        if tick is not None:
            tick(stage, min(len(rows), start + size), len(rows))


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (typed loosely: peewee's stubs cannot name the columns)."""
    return list(query.tuples())


def _at(day: dt.date, rng: random.Random, now: dt.datetime, start_hour: int = 7, end_hour: int = 16) -> dt.datetime:
    moment = dt.datetime.combine(day, dt.time(rng.randint(start_hour, end_hour), rng.randint(0, 59),
                                              rng.randint(0, 59), rng.randint(0, 999_999)))
    return min(moment, now)


def _between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    if end <= start:
        return start
    return start + dt.timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))


@functools.lru_cache(maxsize=65536)
def _folded(text: str) -> str:
    """``fold`` memoised: demo names repeat (a few thousand distinct ones in any number of accounts)."""
    return fold(text)


def _search_key_function() -> Callable[[str, str], str]:
    """``subjects.make_search_key`` with the name's folding memoised, if that gives the very same keys.

    Checked against the real function on sample names, so a change to how
    ``core.subjects`` builds search keys can never make demo rows disagree with it.
    """
    def fast(name: str, user_id: str) -> str:
        return f"{_folded(name)} {fold(user_id)}"[:300]

    samples = [("Šťastný Ľubomír", "U-104233"), ("王伟", "U-1"), ("Seán O'Brien-Łukasz", "X_9")]
    if all(fast(n, u) == make_search_key(n, u) for n, u in samples):
        return fast
    return make_search_key


@functools.lru_cache(maxsize=65536)
def _ascii_local(text: str) -> str:
    folded = fold(text)
    return "".join(ch for ch in folded.replace(" ", ".") if ch.isascii() and (ch.isalnum() or ch in ".-"))


# ================================================================ subjects


@dataclass
class _Person:
    name: str
    email_local: str
    country: str  # SK, CZ, INT
    female: bool


def _person(rng: random.Random) -> _Person:
    roll = rng.random()
    if roll < 0.75:
        country = "SK" if roll < 0.45 else "CZ"
        female = rng.random() < 0.5
        if country == "SK":
            first = rng.choice(demo_names.SK_FEMALE_FIRST if female else demo_names.SK_MALE_FIRST)
            surname = rng.choice(demo_names.SK_SURNAMES)[1 if female else 0]
        else:
            first = rng.choice(demo_names.CZ_FEMALE_FIRST if female else demo_names.CZ_MALE_FIRST)
            surname = rng.choice(demo_names.CZ_SURNAMES)[1 if female else 0]
        name = f"{first} {surname}"
        if rng.random() < 0.04:
            name = f"{rng.choice(demo_names.TITLES)} {name}"
        style = rng.random()
        local = (f"{_ascii_local(first)}.{_ascii_local(surname)}" if style < 0.6
                 else f"{_ascii_local(first)[:1]}{_ascii_local(surname)}" if style < 0.85
                 else f"{_ascii_local(surname)}{rng.randint(1, 99)}")
        return _Person(name, local, country, female)
    name, local = rng.choice(demo_names.INTERNATIONAL)
    return _Person(name, local, "INT", rng.random() < 0.5)


def _phone(rng: random.Random, country: str) -> str:
    if country == "SK" or (country == "INT" and rng.random() < 0.3):
        return f"+421 9{rng.choice('0145')}{rng.randint(0, 9)} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    if country == "CZ":
        return f"+420 {rng.choice('67')}{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    return f"+44 20 7946 0{rng.randint(0, 999):03d}"  # Ofcom's range reserved for drama


def _birth_date(rng: random.Random, today: dt.date, child: bool) -> dt.date:
    age_days = rng.randint(10 * 365 + 3, 15 * 365 + 300) if child else int(rng.triangular(18, 86, 38) * 365.25)
    return today - dt.timedelta(days=age_days)


def _user_ids(rng: random.Random, count: int) -> list[str]:
    low = 100_000
    high = max(999_999, low + count * 3)
    digits = len(str(high))
    return [f"U-{n:0{digits}d}" for n in rng.sample(range(low, high + 1), count)]


def _subject_rows(rng: random.Random, count: int, now: dt.datetime, today: dt.date,
                  tick: _Tick) -> tuple[list[dict[str, Any]], list[_Person]]:
    rows: list[dict[str, Any]] = []
    people: list[_Person] = []
    user_ids = _user_ids(rng, count)
    emails: set[str] = set()
    three_years = dt.timedelta(days=3 * 365)
    search_key = _search_key_function()
    for i, user_id in enumerate(user_ids):
        person = _person(rng)
        child = i % 20 == 7  # GDPR Art. 8: some account holders are under 16
        email = None
        if rng.random() < 0.88:
            local = person.email_local or f"user{rng.randint(100, 9999)}"
            email = f"{local}@{rng.choice(demo_names.EMAIL_DOMAINS)}"
            while email in emails:
                email = f"{local}{rng.randint(2, 999)}@{rng.choice(demo_names.EMAIL_DOMAINS)}"
            emails.add(email)
        created = now - three_years + dt.timedelta(seconds=rng.uniform(0, three_years.total_seconds()))
        roll = rng.random()
        if roll < 0.05:
            last_active: dt.datetime | None = None  # never came back after signing up
        elif roll < 0.2 and created < now - dt.timedelta(days=700):
            last_active = created + dt.timedelta(days=rng.uniform(1, 180))  # inactive for a long time
        else:
            last_active = now - dt.timedelta(days=rng.expovariate(1 / 40))
            last_active = max(last_active, created)
        restricted = i % 50 == 11
        objected = i % 33 == 5
        rows.append({
            "user_id": user_id,
            "name": person.name,
            "name_key": _folded(person.name)[:200],
            "search_key": search_key(person.name, user_id),
            "email": email,
            "phone": _phone(rng, person.country) if rng.random() < 0.82 else None,
            "birth_date": None if (not child and rng.random() < 0.08) else _birth_date(rng, today, child),
            "created_at": created,
            "last_active_at": last_active,
            "restricted": restricted,
            "restricted_reason": rng.choice(demo_names.RESTRICTION_REASONS) if restricted else None,
            "objected": objected,
            "objected_reason": rng.choice(demo_names.OBJECTION_REASONS) if objected else None,
            "updated_at": max(created, last_active or created),
            "version": 1,
        })
        people.append(person)
        if (i + 1) % 5000 == 0:
            tick("Preparing user accounts", i + 1, count)
    return rows, people


def _old_value(rng: random.Random, field_name: str, row: dict[str, Any], person: _Person) -> str | None:
    if field_name == "email" and row["email"]:
        local, _, domain = row["email"].partition("@")
        return f"{local[:-1] if len(local) > 3 else local + 'x'}@{domain}"
    if field_name == "phone" and row["phone"]:
        digits = list(row["phone"])
        digits[-1] = str((int(digits[-1]) + 3) % 10) if digits[-1].isdigit() else "0"
        digits[-5] = str((int(digits[-5]) + 7) % 10) if digits[-5].isdigit() else "0"
        return "".join(digits)
    if field_name == "name":
        if person.country in ("SK", "CZ") and person.female:
            surnames = demo_names.SK_SURNAMES if person.country == "SK" else demo_names.CZ_SURNAMES
            first = row["name"].split(" ")[-2] if " " in row["name"] else row["name"]
            return f"{first} {rng.choice(surnames)[1]}"
        return fold(row["name"]).title() if fold(row["name"]) != row["name"].lower() else None
    if field_name == "birth_date" and row["birth_date"]:
        moved: dt.date = row["birth_date"] + dt.timedelta(days=rng.choice((-1, 1, 365, -365)))
        return moved.isoformat()
    return None


def _change_rows(rng: random.Random, rows: list[dict[str, Any]], people: list[_Person],
                 compliance: int, now: dt.datetime) -> list[dict[str, Any]]:
    """Rectification history (GDPR Art. 16) for about one account in 25, planned before the accounts are written.

    Each changed account's ``version`` and ``updated_at`` are set in its row;
    a change's ``subject`` holds the account's position in ``rows`` until the
    ids are known.
    """
    changes: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        if i % 25 != 3:
            continue
        fields = rng.sample(["email", "phone", "name", "birth_date"], k=rng.randint(1, 2))
        when = _between(rng, row["created_at"], now - dt.timedelta(days=1))
        for field_name in fields:
            old = _old_value(rng, field_name, row, people[i])
            new = row[field_name]
            if old is None or new is None:
                continue
            new_text = new.isoformat() if isinstance(new, dt.date) else str(new)
            if old == new_text:
                continue
            married = people[i].female and people[i].country in ("SK", "CZ")
            reason = {"email": 0, "phone": 1, "name": 2 if married else 4, "birth_date": 3}[field_name]
            changes.append({"subject": i, "field": field_name, "old_value": old,
                            "new_value": new_text, "reason": demo_names.RECTIFICATION_REASONS[reason],
                            "operator": compliance, "request": None, "changed_at": when})
            row["version"] += 1
            row["updated_at"] = max(row["updated_at"], when)
            when = min(now, when + dt.timedelta(minutes=rng.randint(1, 30)))
    return changes


# ================================================================ recordings


@dataclass
class _PlannedRecording:
    index: int
    fmt: str
    rate: int
    stereo: bool
    seconds: float
    started_at: dt.datetime
    redact: bool
    relative: str = ""


@dataclass
class _MadeRecording:
    plan: _PlannedRecording
    stored: StoredFile
    info_format: str
    duration_ms: int
    sample_rate: int
    channels: int
    original_sha256: str
    turns: list[tuple[str, int, int]]
    redaction: tuple[int, int] | None


def _plan_recordings(rng: random.Random, count: int, now: dt.datetime, have_ffmpeg: bool) -> list[_PlannedRecording]:
    extra_formats = ("mp3", "ogg", "flac", "m4a", "opus")
    non_wav = min(count // 2, max(len(extra_formats) - 1, count // 12)) if have_ffmpeg else 0
    non_wav_at = set(rng.sample(range(count), non_wav)) if non_wav else set()
    plans: list[_PlannedRecording] = []
    format_cycle = 0
    wav_indices: list[int] = []
    for i in range(count):
        day = (now - dt.timedelta(days=rng.uniform(0.2, 365))).date()
        while day.weekday() >= 5 and rng.random() < 0.85:
            day -= dt.timedelta(days=1)
        started = _at(day, rng, now - dt.timedelta(minutes=45), 6, 16)
        seconds = round(rng.triangular(5.0, 40.0, 8.0), 2)
        if i in non_wav_at:
            fmt = extra_formats[format_cycle % len(extra_formats)]
            format_cycle += 1
            rate = 16000 if rng.random() < 0.5 else 8000
        else:
            fmt = "wav"
            rate = 16000 if rng.random() < 0.12 else 8000
            if seconds >= 12:
                wav_indices.append(i)
        plans.append(_PlannedRecording(i, fmt, rate, rng.random() > 0.08, seconds, started, False))
    for i in wav_indices[:2 if count >= 10 else 1]:
        plans[i].redact = True
        plans[i].stereo = True
    return plans


def _make_recording(plan: _PlannedRecording, store: RecordingsStore, seed: int, workdir: Path) -> _MadeRecording:
    """Synthesise one call, store it (redacted if planned), and probe the stored file."""
    from rcrm_desktop.audio import probe as probe_mod
    from rcrm_desktop.audio import synth

    call = synth.synth_call_detailed(plan.seconds, plan.rate, plan.stereo, seed=seed * 100_003 + plan.index)
    samples = call.samples
    turns = [(t.speaker, t.start_ms, t.end_ms) for t in call.turns]
    redaction: tuple[int, int] | None = None
    data = synth.wav_bytes(samples, plan.rate)
    original_sha = hashlib.sha256(data).hexdigest()
    if plan.fmt == "wav":
        if plan.redact:
            customer = [t for t in call.turns if t.speaker == synth.CUSTOMER and t.end_ms - t.start_ms >= 1500]
            turn = customer[0] if customer else call.turns[-1] if call.turns else synth.Turn(synth.CUSTOMER, 1000,
                                                                                             3000)
            start_ms = turn.start_ms
            end_ms = min(turn.end_ms, start_ms + 6000, call.duration_ms)
            redacted = samples.copy()
            redacted[start_ms * plan.rate // 1000:end_ms * plan.rate // 1000] = 0  # the sound really is removed
            data = synth.wav_bytes(redacted, plan.rate)
            redaction = (start_ms, end_ms)
        stored = _store_unique(store, plan.relative, data=data)
    else:
        source = workdir / f"{plan.index}.wav"
        source.write_bytes(data)
        target = workdir / f"{plan.index}.{_EXTENSIONS[plan.fmt]}"
        synth.encode(source, target, plan.fmt)
        stored = _store_unique(store, plan.relative, source=target)
        source.unlink()
        target.unlink()
    if redaction is None:
        original_sha = stored.sha256
    try:
        info = probe_mod.probe(stored.path)
        if info.sha256 != stored.sha256:
            raise RcrmError(f"The demo recording {stored.relative} changed while it was written.")
    except BaseException:
        store.remove(stored.relative)
        raise
    return _MadeRecording(plan, stored, info.format, info.duration_ms, info.sample_rate, info.channels,
                          original_sha, turns, redaction)


def _store_unique(store: RecordingsStore, relative: str, *, data: bytes | None = None,
                  source: Path | None = None) -> StoredFile:
    candidate = relative
    for _ in range(5):
        if not store.resolve(candidate).exists():
            break
        stem, dot, ext = relative.rpartition(".")
        candidate = f"{stem}-{secrets.token_hex(3)}{dot}{ext}"
    if data is not None:
        return store.write_bytes(candidate, data)
    assert source is not None
    return store.add_file(source, candidate)


def _generate_audio(plans: list[_PlannedRecording], store: RecordingsStore, seed: int, tick: _Tick,
                    written: list[str]) -> list[_MadeRecording]:
    """Write every planned recording; compressed ones are encoded on worker threads (ffmpeg processes)."""
    made: dict[int, _MadeRecording] = {}
    for plan in plans:
        ext = _EXTENSIONS[plan.fmt]
        plan.relative = (f"{plan.started_at:%Y/%m/%d}/call-{plan.started_at:%Y%m%d-%H%M%S}-"
                         f"{plan.index + 1:05d}.{ext}")
    total = len(plans)
    tick("Recording calls", 0, total)
    with tempfile.TemporaryDirectory(prefix="rcrm-demo-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        workdir = Path(tmp)
        futures = {pool.submit(_make_recording, plan, store, seed, workdir): plan
                   for plan in plans if plan.fmt != "wav"}
        try:
            for plan in plans:
                if plan.fmt != "wav":
                    continue
                result = _make_recording(plan, store, seed, workdir)
                made[plan.index] = result
                written.append(result.stored.relative)
                tick("Recording calls", len(made), total)
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                made[result.plan.index] = result
                written.append(result.stored.relative)
                tick("Recording calls", len(made), total)
        except BaseException:
            for future in futures:
                future.cancel()
            for future in futures:
                with contextlib.suppress(BaseException):
                    result = future.result()
                    written.append(result.stored.relative)
            raise
    return [made[i] for i in sorted(made)]


def _weighted_tags(rng: random.Random, k: int) -> list[str]:
    names = [t for t, _ in demo_names.TAGS]
    weights = [w for _, w in demo_names.TAGS]
    chosen: list[str] = []
    while len(chosen) < k:
        tag = rng.choices(names, weights)[0]
        if tag not in chosen:
            chosen.append(tag)
    return chosen


# ================================================================ crash reports


@dataclass
class _CrashOut:
    groups: int = 0
    events: int = 0


def _crash_data(rng: random.Random, scale: float, subjects: list[tuple[int, str]], now: dt.datetime,
                tick: _Tick, support: int) -> _CrashOut:
    """Crash reports through the real import pipeline (scrubbing, grouping, counters, daily counts).

    Two imports: everything older than 20 days first; then one group is
    resolved in its current release, one is ignored and one resolved in the
    newest release; then the recent events arrive, so a resolved group that
    gets an event from a later release regresses exactly as it would in use.
    """
    from rcrm_desktop.core import crashes
    from rcrm_desktop.core.crash_samples import sample_events
    from rcrm_desktop.core.operators import actor_of

    actor = actor_of(Operator.get_by_id(support))
    user_ids = [user_id for _, user_id in subjects]
    events = sample_events(max(60, round(200 * scale)), seed=rng.randrange(1 << 30), user_ids=user_ids, now=now)
    cutoff = now - dt.timedelta(days=20)

    def when(event: dict[str, Any]) -> dt.datetime:
        return crashes.parse_timestamp(event["timestamp"], now)

    early = [e for e in events if when(e) < cutoff]
    late = [e for e in events if when(e) >= cutoff]
    tick("Crash reports", 0, 2)
    first = crashes.import_events(actor, early, now=now)
    groups = list(CrashGroup.select().order_by(CrashGroup.event_count.desc()))
    regressing = _group_that_regresses(groups, late)
    others = [g for g in groups if regressing is None or g.id != regressing[0].id]
    if regressing is not None:
        crashes.resolve_group(actor, regressing[0].id, release=regressing[1])
    if len(others) >= 2:
        crashes.ignore_group(actor, others[-1].id)
        crashes.resolve_group(actor, others[1].id)
    tick("Crash reports", 1, 2)
    second = crashes.import_events(actor, late, now=now)
    tick("Crash reports", 2, 2)
    out = _CrashOut()
    out.groups = CrashGroup.select().count()
    out.events = first.imported + second.imported
    return out


def _group_that_regresses(groups: list[CrashGroup], late: list[dict[str, Any]]) -> tuple[CrashGroup, str] | None:
    """A group with early events in some release and late events in a later one, and that earlier release."""
    from rcrm_desktop.core import crashes
    from rcrm_desktop.core.grouping import crash_fingerprint

    late_releases: dict[str, set[str]] = {}
    for event in late:
        release = event.get("release")
        if isinstance(release, str):
            late_releases.setdefault(crash_fingerprint(event).fingerprint, set()).add(release)
    for group in groups[1:] + groups[:1]:
        early = {e.release for e in CrashEvent.select(CrashEvent.release).where(CrashEvent.group == group.id)
                 if e.release}
        for resolved_in in sorted(early, key=lambda r: crashes.release_key(r) or ("", (), 0)):
            if any(crashes.release_is_later(r, resolved_in) for r in late_releases.get(group.fingerprint, ())):
                return group, resolved_in
    return None


# ================================================================ rights requests


@dataclass
class _RequestPlan:
    type: str
    state: str
    profile: str  # overdue | due_soon | ok | closed | extended


def _received_for(profile: str, today: dt.date, rng: random.Random) -> dt.date:
    """A receipt date whose Art. 12(3) deadline has the wanted status today."""
    wanted = {"overdue": "overdue", "due_soon": "due_soon", "ok": "ok"}.get(profile)
    ranges = {"overdue": (33, 75), "due_soon": (24, 30), "ok": (1, 20), "closed": (40, 700), "extended": (38, 50)}
    low, high = ranges[profile]
    for _ in range(200):
        received = today - dt.timedelta(days=rng.randint(low, high))
        if wanted is None or deadlines.status(deadlines.due_date(received), today) == wanted:
            return received
    for back in range(0, 120):  # deterministic fallback
        received = today - dt.timedelta(days=back)
        if wanted is None or deadlines.status(deadlines.due_date(received), today) == wanted:
            return received
    return today - dt.timedelta(days=low)


def _request_plans(rng: random.Random, extra: int) -> list[_RequestPlan]:
    plans: list[_RequestPlan] = []
    cycle = ("overdue", "due_soon", "ok", "ok", "due_soon", "overdue", "ok")
    position = 0
    for req_type in REQUEST_TYPES:
        for state in REQUEST_STATES:
            if state in OPEN_STATES:
                profile = cycle[position % len(cycle)]
                position += 1
            else:
                profile = "closed"
            plans.append(_RequestPlan(req_type, state, profile))
    plans.append(_RequestPlan("access", "in_progress", "extended"))
    weights = [(s, w) for s, w in zip(REQUEST_STATES, (3, 1, 3, 1, 8, 1, 1), strict=True)]
    for _ in range(extra):
        state = rng.choices([s for s, _ in weights], [w for _, w in weights])[0]
        profile = rng.choice(("ok", "ok", "due_soon", "overdue")) if state in OPEN_STATES else "closed"
        plans.append(_RequestPlan(rng.choice(REQUEST_TYPES), state, profile))
    return plans


VERIFICATION_METHODS = (
    "Customer portal log-in (two-factor)",
    "Call-back to the phone number on the account",
    "Copy of an identity card checked at the branch",
    "Reply from the e-mail address on the account",
)

_STATE_PATH = {
    "received": [],
    "identity_verification": ["identity_verification"],
    "in_progress": ["identity_verification", "in_progress"],
    "awaiting_requester": ["identity_verification", "in_progress", "awaiting_requester"],
    "completed": ["identity_verification", "in_progress", "completed"],
    "rejected": ["identity_verification", "rejected"],
    "withdrawn": ["withdrawn"],
}

_COMPLETION_NOTES = {
    "access": "Access package delivered through the secure download link (Art. 15(3)).",
    "rectification": "Account corrected; the change history lists old and new values (Art. 16).",
    "erasure": "Account, recordings and crash events erased (Art. 17); requester informed.",
    "restriction": "Account marked as restricted (Art. 18); requester informed.",
    "portability": "subject.json delivered (Art. 20).",
    "objection": "Account excluded from analytics and review queues (Art. 21).",
}


def _request_data(rng: random.Random, plans: list[_RequestPlan], subject_rows: list[dict[str, Any]],
                  ids: dict[str, int], compliance: int, now: dt.datetime, today: dt.date,
                  tick: _Tick) -> tuple[int, int, dict[str, int], list[tuple[int, int, dt.datetime]]]:
    from rcrm_desktop.core.requests import requester_key, subject_reference
    """Insert the requests and their timelines. Returns (requests, events, status counts, rectification links)."""
    restricted = [r for r in subject_rows if r["restricted"]]
    objected = [r for r in subject_rows if r["objected"]]
    others = [r for r in subject_rows if not r["restricted"]] or subject_rows
    used_ids = set(ids)
    counts = {"overdue": 0, "due_soon": 0, "extended": 0}
    rectified: list[tuple[int, int, dt.datetime]] = []
    request_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []  # "request" holds the request's position until the ids are known
    for number, plan in enumerate(plans):
        received = _received_for(plan.profile, today, rng)
        due = deadlines.due_date(received)
        subject_row: dict[str, Any] | None = None
        pool = (restricted if plan.type == "restriction" and plan.state == "completed" and restricted
                else objected if plan.type == "objection" and plan.state == "completed" and objected
                else others)
        if pool and not (plan.state == "identity_verification" and rng.random() < 0.5):
            subject_row = rng.choice(pool)
        erased = plan.type == "erasure" and plan.state == "completed"
        if subject_row is not None:
            requester_name = subject_row["name"]
            contact = subject_row["email"] or subject_row["phone"]
            subject_ref: str | None = subject_reference(subject_row["user_id"])
        else:
            person = _person(rng)
            requester_name = person.name
            contact = f"{person.email_local or 'requester'}@{rng.choice(demo_names.EMAIL_DOMAINS)}"
            subject_ref = None
        if erased:  # the account is gone; the request keeps the former user ID as proof of what was done
            subject_row = None
            former = f"U-{rng.randint(100_000, 999_999)}"
            while former in used_ids:
                former = f"U-{rng.randint(100_000, 999_999)}"
            used_ids.add(former)
            subject_ref = subject_reference(former)
            person = _person(rng)
            requester_name = person.name
            contact = f"{person.email_local or 'requester'}@{rng.choice(demo_names.EMAIL_DOMAINS)}"
        created_at = _at(received, rng, now, 7, 15)
        closed = plan.state in ("completed", "rejected", "withdrawn")
        closed_at = None
        if closed:
            closed_at = _between(rng, created_at + dt.timedelta(days=2),
                                 min(now, dt.datetime.combine(due, dt.time(15))))
        extended_due = extension_reason = notified = None
        if plan.profile == "extended":
            extended_due = deadlines.extended_due_date(received, 2)
            notified = received + dt.timedelta(days=rng.randint(14, 21))
            if not deadlines.can_extend(received, notified):
                notified = due
            extension_reason = demo_names.EXTENSION_REASON
            counts["extended"] += 1
        if plan.state in OPEN_STATES:
            effective = deadlines.effective_due(due, extended_due)
            status = deadlines.status(effective, today)
            if status in counts:
                counts[status] += 1
        path = _STATE_PATH[plan.state]
        verified = "in_progress" in path
        verified_at = created_at + dt.timedelta(hours=rng.uniform(4, 60)) if verified else None
        awaiting_since = (_between(rng, verified_at or created_at, now)
                          if plan.state == "awaiting_requester" else None)
        request_rows.append({
            "requester_key": requester_key(requester_name, contact),
            "verified_at": verified_at, "verified_by": compliance if verified else None,
            "verification_method": rng.choice(VERIFICATION_METHODS) if verified else None,
            "awaiting_since": awaiting_since,
            "awaiting_reason": "Asked the requester which phone numbers the calls were made from"
            if awaiting_since else None,
            "type": plan.type, "state": plan.state,
            "subject": ids[subject_row["user_id"]] if subject_row is not None else None,
            "subject_ref": subject_ref, "requester_name": requester_name, "requester_contact": contact,
            "channel": rng.choice(demo_names.CHANNELS), "received_on": received, "due_on": due,
            "extended_due_on": extended_due, "extension_reason": extension_reason,
            "extension_notified_on": notified, "details": rng.choice(demo_names.REQUEST_DETAILS[plan.type]),
            "rejection_reason": rng.choice(demo_names.REJECTION_REASONS) if plan.state == "rejected" else None,
            "awaiting_requester": plan.state == "awaiting_requester", "package_sha256": None,
            "created_by": compliance, "created_at": created_at, "closed_at": closed_at,
            "version": 1 + len(_STATE_PATH[plan.state]),
        })
        event_rows.extend(_timeline(rng, number, plan, compliance, created_at, closed_at, now, notified))
        if plan.type == "rectification" and plan.state == "completed" and subject_row is not None:
            rectified.append((ids[subject_row["user_id"]], number, closed_at or now))
    _insert(RightsRequest, request_rows, tick, "Rights requests")
    # The table was empty (``_check_empty``), so ids in order are the rows in insertion order.
    request_ids = [int(row[0]) for row in _tuples(RightsRequest.select(RightsRequest.id).order_by(RightsRequest.id))]
    if len(request_ids) != len(request_rows):
        raise RcrmError("Another workstation added rights requests during the demo fill; nothing was kept.")
    for event in event_rows:
        event["request"] = request_ids[event["request"]]
    _insert(RequestEvent, event_rows)
    rectified = [(subject_id, request_ids[position], when) for subject_id, position, when in rectified]
    return len(plans), len(event_rows), counts, rectified


def _timeline(rng: random.Random, request_id: int, plan: _RequestPlan, operator: int, created_at: dt.datetime,
              closed_at: dt.datetime | None, now: dt.datetime, notified: dt.date | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"request": request_id, "operator": operator, "at": created_at,
                                     "kind": "created", "detail": f"Request received ({plan.type})."}]
    steps = _STATE_PATH[plan.state]
    end = closed_at or now
    previous = "received"
    moments = sorted(_between(rng, created_at, end) for _ in steps)
    if closed_at is not None and moments:
        moments[-1] = closed_at
    for moment, state in zip(moments, steps, strict=True):
        detail = f"{previous} → {state}"
        if state == "identity_verification":
            detail += ": asked the requester to confirm the e-mail address on file (Art. 12(6))."
        elif state == "awaiting_requester":
            detail += ": asked which period of calls the requester means."
        elif state == "completed":
            detail += ": " + _COMPLETION_NOTES[plan.type]
        elif state == "rejected":
            detail += ": requester informed of the reasons and of the right to complain (Art. 12(4))."
        elif state == "withdrawn":
            detail += ": the requester withdrew the request by e-mail."
        events.append({"request": request_id, "operator": operator, "at": min(moment, now),
                       "kind": "state", "detail": detail})
        previous = state
    if notified is not None:
        events.append({"request": request_id, "operator": operator,
                       "at": min(now, dt.datetime.combine(notified, dt.time(10, 30))), "kind": "extended",
                       "detail": "Deadline extended by two months; requester told the reasons (Art. 12(3))."})
    if rng.random() < 0.3:
        events.append({"request": request_id, "operator": operator,
                       "at": min(now, _between(rng, created_at, end)), "kind": "note",
                       "detail": "Called the requester to confirm the scope."})
    events.sort(key=lambda e: e["at"])
    for before, after in zip(events, events[1:], strict=False):  # strictly increasing: the order is unambiguous
        if after["at"] <= before["at"]:
            after["at"] = before["at"] + dt.timedelta(milliseconds=1)
    return events


# ================================================================ the fill


def _check_empty() -> None:
    for model, what in ((Subject, "user accounts"), (Recording, "recordings"), (CrashGroup, "crash reports"),
                        (RightsRequest, "rights requests")):
        if model.select().limit(1).exists():
            raise ValidationError(
                f"This instance already has {what}; demo data only goes into an empty instance, so that it is "
                "never mixed with real personal data."
            )


def populate_demo(*, subjects: int = 300, recordings: int = 60, with_audio: bool = True, seed: int = 7,
                  progress: Progress | None = None, store: RecordingsStore | None = None) -> DemoSummary:
    """Fill the connected, migrated, still empty instance with believable demo data (see the module docstring).

    ``recordings`` are only made ``with_audio`` (a recording row never exists
    without its file); without audio the fill is rows only and scales to tens
    of thousands of ``subjects``. ``progress(stage, done, total)`` is called as
    it goes and may return ``False`` to cancel: then nothing is kept and
    ``DemoCancelled`` is raised. ``store`` defaults to the instance's store.
    """
    started = time.monotonic()
    if subjects < 0 or recordings < 0:
        raise ValidationError("The numbers of demo user accounts and recordings cannot be negative.")
    if subjects > 2_000_000 or recordings > 20_000:
        raise ValidationError("A demo has at most 2,000,000 user accounts and 20,000 recordings.")
    tick = _Tick(progress)
    rng = random.Random(seed)
    now = utcnow()
    today = dt.date.today()
    summary = DemoSummary()
    with database_errors():
        _check_empty()
        compliance, support = _demo_staff()
    recordings_store = store if store is not None else open_store()
    summary.store_root = str(recordings_store.root)

    subject_rows, people = _subject_rows(rng, subjects, now, today, tick)
    plans: list[_PlannedRecording] = []
    made: list[_MadeRecording] = []
    written: list[str] = []
    try:
        if with_audio and recordings:
            from rcrm_desktop.audio.probe import find_tool

            have_ffmpeg = find_tool("ffmpeg") is not None and find_tool("ffprobe") is not None
            plans = _plan_recordings(random.Random(seed + 1), recordings, now, have_ffmpeg)
            made = _generate_audio(plans, recordings_store, seed, tick, written)
        with database_errors(), database.atomic():
            _fill_rows(rng, summary, subject_rows, people, made, compliance, support, now, today, tick, seed)
    except BaseException:
        for relative in dict.fromkeys(written):
            with contextlib.suppress(Exception):
                recordings_store.remove(relative)
        raise
    summary.seconds = round(time.monotonic() - started, 2)
    if progress is not None:
        progress("Done", 1, 1)  # after the commit: no longer cancellable
    return summary


def _fill_rows(rng: random.Random, summary: DemoSummary, subject_rows: list[dict[str, Any]], people: list[_Person],
               made: list[_MadeRecording], compliance: int, support: int, now: dt.datetime, today: dt.date,
               tick: _Tick, seed: int) -> None:
    changes = _change_rows(rng, subject_rows, people, compliance, now)
    _insert(Subject, subject_rows, tick, "User accounts")
    ids: dict[str, int] = {}
    if subject_rows:
        ids = {str(user_id): int(sid) for user_id, sid in _tuples(Subject.select(Subject.user_id, Subject.id))}
    for change in changes:
        change["subject"] = ids[subject_rows[change["subject"]]["user_id"]]
    _insert(SubjectChange, changes)
    summary.subjects = len(subject_rows)
    summary.children = sum(1 for r in subject_rows if r["birth_date"] and _age(r["birth_date"], today) < 16)
    summary.restricted = sum(1 for r in subject_rows if r["restricted"])
    summary.objected = sum(1 for r in subject_rows if r["objected"])

    subject_list = [(ids[r["user_id"]], r["user_id"]) for r in subject_rows]
    recording_ids = _recording_rows(rng, summary, made, subject_list, compliance, support, now, tick)

    scale = min(5.0, max(0.15, len(subject_rows) / 300))
    crash = _crash_data(rng, scale, subject_list, now, tick, support)
    summary.crash_groups, summary.crash_events = crash.groups, crash.events

    extra_requests = min(2000, len(subject_rows) // 30)
    plans = _request_plans(rng, extra_requests)
    requests, events, counts, rectified = _request_data(rng, plans, subject_rows, ids, compliance, now, today,
                                                        tick)
    summary.requests, summary.request_events = requests, events
    summary.overdue, summary.due_soon, summary.extended = counts["overdue"], counts["due_soon"], counts["extended"]
    linked = _rectification_links(rng, rectified, subject_rows, people, ids, compliance)
    summary.subject_changes = len(changes) + linked

    summary.legal_holds = _legal_holds(rng, subject_list, recording_ids, compliance, now)
    summary.retention_policies = _retention_policies(compliance)
    tick("Finishing", 0, 1)
    audit.record(None, "demo.populate", "instance", None, subjects=summary.subjects,
                 recordings=summary.recordings, crash_events=summary.crash_events, requests=summary.requests,
                 legal_holds=summary.legal_holds, seed=seed)


def _age(born: dt.date, today: dt.date) -> int:
    """Age in whole years (GDPR Art. 8 counts children by age)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _bump_versions(changes: Iterable[tuple[int, dt.datetime]]) -> None:
    latest: dict[int, tuple[int, dt.datetime]] = {}
    for subject_id, when in changes:
        count, last = latest.get(subject_id, (0, when))
        latest[subject_id] = (count + 1, max(last, when))
    for subject_id, (count, when) in latest.items():
        Subject.update(version=Subject.version + count, updated_at=when).where(Subject.id == subject_id).execute()


def _rectification_links(rng: random.Random, rectified: list[tuple[int, int, dt.datetime]],
                         subject_rows: list[dict[str, Any]], people: list[_Person], ids: dict[str, int],
                         compliance: int) -> int:
    """Completed rectification requests get the change they made, linked by ``request``."""
    by_id = {ids[r["user_id"]]: (r, people[i]) for i, r in enumerate(subject_rows)}
    rows: list[dict[str, Any]] = []
    for subject_id, request_id, when in rectified:
        row, person = by_id[subject_id]
        for field_name in ("email", "phone", "name"):
            old = _old_value(rng, field_name, row, person)
            new = row[field_name]
            if old is not None and new is not None and old != str(new):
                rows.append({"subject": subject_id, "field": field_name, "old_value": old, "new_value": str(new),
                             "reason": f"Rectification request #{request_id}.", "operator": compliance,
                             "request": request_id, "changed_at": when})
                break
    _insert(SubjectChange, rows)
    _bump_versions((r["subject"], r["changed_at"]) for r in rows)
    return len(rows)


def _recording_rows(rng: random.Random, summary: DemoSummary, made: list[_MadeRecording],
                    subjects: list[tuple[int, str]], compliance: int, support: int, now: dt.datetime,
                    tick: _Tick) -> list[tuple[int, set[str]]]:
    if not made:
        return []
    rows: list[dict[str, Any]] = []
    for rec in made:
        plan = rec.plan
        subject_id = rng.choice(subjects)[0] if subjects and rng.random() < 0.9 else None
        rows.append({
            "subject": subject_id, "path": rec.stored.relative, "sha256": rec.stored.sha256,
            "original_sha256": rec.original_sha256, "format": rec.info_format, "duration_ms": rec.duration_ms,
            "sample_rate": rec.sample_rate, "channels": rec.channels, "size_bytes": rec.stored.size_bytes,
            "started_at": plan.started_at, "direction": "inbound" if rng.random() < 0.7 else "outbound",
            "agent": rng.choice(demo_names.AGENTS),
            "imported_at": min(now, plan.started_at + dt.timedelta(minutes=rng.uniform(1, 40))),
            "redacted": rec.redaction is not None, "version": 1,
        })
    _insert(Recording, rows, tick, "Call details")
    path_ids = {str(path): int(rid) for path, rid in _tuples(Recording.select(Recording.path, Recording.id))}
    tag_rows: list[dict[str, Any]] = []
    annotation_rows: list[dict[str, Any]] = []
    redaction_rows: list[dict[str, Any]] = []
    out: list[tuple[int, set[str]]] = []
    for rec, row in zip(made, rows, strict=True):
        rid = path_ids[rec.stored.relative]
        tags = _weighted_tags(rng, rng.randint(1, 3))
        if rec.redaction is not None and "card-payment" not in tags:
            tags.append("card-payment")
        tag_rows.extend({"recording": rid, "tag": tag} for tag in tags)
        out.append((rid, set(tags)))
        imported = row["imported_at"]
        if rng.random() < 0.4 or rec.redaction is not None:
            for _ in range(rng.randint(1, 3)):
                speaker, start, end = rng.choice(rec.turns) if rec.turns else ("agent", 0, rec.duration_ms)
                region = rng.random() < 0.4
                annotation_rows.append({
                    "recording": rid, "operator": support, "position_ms": min(start, rec.duration_ms),
                    "end_ms": min(end, rec.duration_ms) if region else None,
                    "text": rng.choice(demo_names.ANNOTATIONS),
                    "created_at": min(now, imported + dt.timedelta(hours=rng.uniform(1, 96))),
                })
        if rec.redaction is not None:
            start_ms, end_ms = rec.redaction
            when = min(now, imported + dt.timedelta(hours=rng.uniform(2, 30)))
            redaction_rows.append({"recording": rid, "operator": compliance, "start_ms": start_ms, "end_ms": end_ms,
                                   "reason": demo_names.REDACTION_REASON, "created_at": when})
            annotation_rows.append({"recording": rid, "operator": support, "position_ms": start_ms,
                                    "end_ms": end_ms, "text": demo_names.REDACTION_NOTE,
                                    "created_at": min(now, imported + dt.timedelta(hours=1))})
        summary.formats[rec.info_format] = summary.formats.get(rec.info_format, 0) + 1
        summary.audio_seconds += rec.duration_ms / 1000
    _insert(RecordingTag, tag_rows)
    _insert(Annotation, annotation_rows)
    _insert(Redaction, redaction_rows)
    summary.recordings = len(rows)
    summary.tags = len(tag_rows)
    summary.annotations = len(annotation_rows)
    summary.redactions = len(redaction_rows)
    summary.audio_seconds = round(summary.audio_seconds, 1)
    return out


def _legal_holds(rng: random.Random, subjects: list[tuple[int, str]], recordings: list[tuple[int, set[str]]],
                 compliance: int, now: dt.datetime) -> int:
    """A hold on an account, one on a recording (a complaint), and a released one (GDPR Art. 17(3))."""
    rows: list[dict[str, Any]] = []
    if subjects:
        with_calls = [int(row[0]) for row in _tuples(Recording.select(Recording.subject).where(
            Recording.subject.is_null(False)).distinct())]
        held = rng.choice(with_calls) if with_calls else rng.choice(subjects)[0]
        rows.append({"subject": held, "recording": None, "crash_group": None,
                     "reason": demo_names.HOLD_REASONS["subject"], "owner": compliance,
                     "created_at": now - dt.timedelta(days=rng.uniform(30, 90)), "released_at": None,
                     "release_reason": None})
        other = rng.choice(subjects)[0]
        opened = now - dt.timedelta(days=rng.uniform(120, 200))
        rows.append({"subject": other, "recording": None, "crash_group": None,
                     "reason": demo_names.HOLD_REASONS["released"], "owner": compliance, "created_at": opened,
                     "released_at": opened + dt.timedelta(days=rng.uniform(20, 60)),
                     "release_reason": demo_names.HOLD_RELEASE_REASON})
    if recordings:
        complaints = [rid for rid, tags in recordings if "complaint" in tags] or [recordings[0][0]]
        rows.append({"subject": None, "recording": rng.choice(complaints), "crash_group": None,
                     "reason": demo_names.HOLD_REASONS["recording"], "owner": compliance,
                     "created_at": now - dt.timedelta(days=rng.uniform(5, 40)), "released_at": None,
                     "release_reason": None})
    _insert(LegalHold, rows)
    return len(rows)


def _retention_policies(operator_id: int) -> int:
    """The controller's retention rules (GDPR Art. 5(1)(e)); existing rules are left as they are."""
    now = utcnow()
    rows = [{"category": category, "max_age_days": days, "action": "delete", "enabled": enabled,
             "updated_at": now, "updated_by": operator_id} for category, days, enabled in RETENTION_DEFAULTS]
    existing = {str(row[0]) for row in _tuples(RetentionPolicy.select(RetentionPolicy.category))}
    new_rows = [r for r in rows if r["category"] not in existing]
    _insert(RetentionPolicy, new_rows)
    return len(new_rows)


__all__ = [
    "DemoCancelled",
    "DemoSummary",
    "RETENTION_DEFAULTS",
    "create_demo_operators",
    "populate_demo",
    "readable_password",
]
