"""A synthetic large instance, fast: ``rcrm-desktop demo --scale N``.

One unit of scale is 100,000 subjects, 20,000 recordings' metadata, 100,000
crash events (in 1,000 groups), 2,000 rights requests and 60,000 audit
events, so scale 10 is a million subjects and a million crash events, the size
the speed targets are stated for. Guarantees:

* **Consistent as the program would have written it**: subjects carry their
  folded ``name_key``/``search_key`` (``core.text.fold``, the same keys
  ``core.subjects`` writes; the FTS triggers index them); every recording row
  has its file in the store with the right SHA-256 and size — a few real WAV
  calls made with ``audio.synth`` and every other row a hard link
  (``os.link``) to one of them, so ``recordings verify`` stays clean; crash
  groups' ``event_count``, ``subject_count``, ``first_seen``/``last_seen`` and
  daily counts are computed from the events inserted; requests are due one
  month after receipt; audit events continue the hash chain from the head, so
  ``audit verify`` passes.
* **Fast**: rows go in through the driver as raw ``INSERT``s (``executemany``
  on SQLite, multi-row ``VALUES`` on the servers), one transaction per table,
  no ORM object per row; on SQLite the FTS index is filled in one statement
  after the subjects (``search_index.bulk_insert``); SQLite gets a large page
  cache for the fill, and recording paths are checked once per folder rather
  than once per file. Target: scale 10 in < 2 minutes on SQLite (the figure is
  in ``rcrm-desktop bench --only views`` and the README).
* **Additive**: an instance may already hold data (the demo, or an earlier
  scale fill); new user IDs, paths and fingerprints never collide with it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rcrm_desktop.core import audit, demo_names, search_index
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import AuditHead, CrashGroup, Operator, Subject, database, utcnow
from rcrm_desktop.errors import ValidationError

SUBJECTS_PER_UNIT = 100_000
RECORDINGS_PER_UNIT = 20_000
CRASH_EVENTS_PER_UNIT = 100_000
CRASH_GROUPS_PER_UNIT = 1_000
REQUESTS_PER_UNIT = 2_000
AUDIT_EVENTS_PER_UNIT = 60_000

#: Distinct real audio files the recording rows link to (each stays far below ext4's 65,000 links per file).
AUDIO_FILES = 8
MAX_SCALE = 50

Progress = Callable[[str, int, int], bool | None]


@dataclass
class ScaleSummary:
    scale: int
    subjects: int = 0
    recordings: int = 0
    audio_files: int = 0
    crash_groups: int = 0
    crash_events: int = 0
    requests: int = 0
    audit_events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        total = sum(self.seconds.values())
        return (f"scale {self.scale}: {self.subjects:,} user accounts, {self.recordings:,} recordings "
                f"({self.audio_files} audio files, the rest hard links), {self.crash_events:,} crash events in "
                f"{self.crash_groups:,} groups, {self.requests:,} requests, {self.audit_events:,} audit events "
                f"in {total:.1f} s")


# ---------------------------------------------------------------- raw inserts


def _bulk(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], chunk: int = 1000) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) through the driver; returns the number inserted."""
    engine = engine_name()
    quote = "`" if engine == "mysql" else '"'
    names = ", ".join(f"{quote}{c}{quote}" for c in columns)
    count = 0
    if engine == "sqlite":
        sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        batch: list[Sequence[Any]] = []
        conn = database.connection()
        for row in rows:
            batch.append(row)
            if len(batch) >= 20_000:
                conn.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            conn.executemany(sql, batch)
            count += len(batch)
        return count
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    head = f"INSERT INTO {quote}{table}{quote} ({names}) VALUES "
    pending: list[Any] = []
    size = 0
    cursor = database.cursor()
    for row in rows:
        pending.extend(row)
        size += 1
        if size >= chunk:
            cursor.execute(head + ", ".join([one] * size), pending)
            count += size
            pending, size = [], 0
    if size:
        cursor.execute(head + ", ".join([one] * size), pending)
        count += size
    return count


def _max_id(table: str) -> int:
    row = database.execute_sql(f"SELECT MAX(id) FROM {table}").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _bool(value: bool) -> Any:
    return value if engine_name() != "sqlite" else int(value)


# ---------------------------------------------------------------- the fill


def populate_scale(scale: int, *, seed: int = 42, progress: Progress | None = None,
                   store: RecordingsStore | None = None) -> ScaleSummary:
    """Add ``scale`` units of synthetic data to the connected, migrated instance (see the module docstring).

    Needs at least one operator (requests and audit events are signed by one).
    ``progress(stage, done, total)`` is told as each table starts.
    """
    if not 1 <= scale <= MAX_SCALE:
        raise ValidationError(f"The scale must be between 1 and {MAX_SCALE} (one unit is 100,000 user accounts).")
    with database_errors():
        operator = Operator.select(Operator.id).order_by(Operator.id).limit(1).scalar()
    if operator is None:
        raise ValidationError("The instance has no operators yet: create one first (rcrm-desktop init).")
    rng = random.Random(seed)
    now = utcnow().replace(microsecond=0)
    summary = ScaleSummary(scale)
    recordings_store = store if store is not None else open_store()
    stages: list[tuple[str, Callable[[], None]]] = [
        ("subjects", lambda: _subjects(rng, scale * SUBJECTS_PER_UNIT, now, summary)),
        ("recordings", lambda: _recordings(rng, scale * RECORDINGS_PER_UNIT, now, summary, recordings_store)),
        ("crash events", lambda: _crashes(rng, scale, now, summary)),
        ("requests", lambda: _requests(rng, scale * REQUESTS_PER_UNIT, now, int(operator), summary)),
        ("audit events", lambda: _audit(rng, scale * AUDIT_EVENTS_PER_UNIT, now, int(operator), summary)),
    ]
    with _bulk_load_cache():
        for number, (stage, work) in enumerate(stages):
            if progress is not None:
                progress(f"Scale fill: {stage}", number, len(stages))
            started = time.perf_counter()
            with database_errors(), database.atomic():
                work()
            summary.seconds[stage] = round(time.perf_counter() - started, 2)
    _analyze()
    if progress is not None:
        progress("Scale fill: done", len(stages), len(stages))
    return summary


#: The tables a fill grows, whose planner statistics are refreshed after it.
FILLED_TABLES = ("subject", "recording", "crash_group", "crash_event", "crash_daily_count", "rights_request",
                 "request_event", "audit_event")


def _analyze() -> None:
    """Refresh the server's planner statistics for the filled tables.

    A bulk fill leaves PostgreSQL believing, until autovacuum gets round to it,
    that the tables hold what they held before: it then scans and sorts 10,000
    crash groups for a first page (4.6 ms) instead of walking an index (0.85 ms).
    SQLite plans without statistics here (the program's queries are written for
    that), so it is left as it is.
    """
    engine = engine_name()
    with database_errors():
        if engine == "postgresql":
            database.execute_sql("ANALYZE " + ", ".join(f'"{t}"' for t in FILLED_TABLES))
        elif engine == "mysql":
            database.execute_sql("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in FILLED_TABLES)).fetchall()


#: SQLite page cache while filling (KiB, negative as SQLite wants it): a million rows go into B-trees keyed by
#: random names and ids; with the default 2 MB cache most inserts would wait for a page read.
BULK_CACHE_KIB = 512 * 1024


@contextlib.contextmanager
def _bulk_load_cache() -> Iterator[None]:
    """A large SQLite page cache for the fill, the instance's own setting again afterwards."""
    if engine_name() != "sqlite":
        yield
        return
    before = database.execute_sql("PRAGMA cache_size").fetchone()[0]
    database.execute_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        database.execute_sql(f"PRAGMA cache_size = {int(before)}")


@functools.lru_cache(maxsize=65536)
def _folded(text: str) -> str:
    return fold(text)


def _name_pool(rng: random.Random, size: int = 20_000) -> list[str]:
    """Believable, repeating names (as in a real customer base), with titles and accents."""
    pool = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.8:
            sk = roll < 0.45
            female = rng.random() < 0.5
            first_names = ((demo_names.SK_FEMALE_FIRST if female else demo_names.SK_MALE_FIRST) if sk
                           else (demo_names.CZ_FEMALE_FIRST if female else demo_names.CZ_MALE_FIRST))
            surname = rng.choice(demo_names.SK_SURNAMES if sk else demo_names.CZ_SURNAMES)[1 if female else 0]
            name = f"{rng.choice(first_names)} {surname}"
            if rng.random() < 0.04:
                name = f"{rng.choice(demo_names.TITLES)} {name}"
        else:
            name = rng.choice(demo_names.INTERNATIONAL)[0]
        pool.append(name)
    return pool


def _subjects(rng: random.Random, count: int, now: dt.datetime, summary: ScaleSummary) -> None:
    start = _max_id("subject") + 1
    names = _name_pool(rng)
    three_years = 3 * 365 * 86400
    false, true = _bool(False), _bool(True)

    def rows() -> Iterable[tuple[Any, ...]]:
        for i in range(count):
            number = start + i
            user_id = f"S-{number:08d}"
            name = names[rng.randrange(len(names))]
            folded = _folded(name)
            created = now - dt.timedelta(seconds=rng.randrange(three_years))
            active = None if rng.random() < 0.05 else created + (now - created) * rng.random()
            email = f"{user_id.lower()}@example.com" if rng.random() < 0.85 else None
            restricted = true if number % 50 == 11 else false
            objected = true if number % 33 == 5 else false
            yield (user_id, name, folded[:200], f"{folded} {user_id.lower()}"[:300], email, created, active,
                   restricted, objected, created, 1)

    with search_index.bulk_insert():
        summary.subjects = _bulk("subject", ["user_id", "name", "name_key", "search_key", "email", "created_at",
                                             "last_active_at", "restricted", "objected", "updated_at", "version"],
                                 rows())


def _subject_range() -> tuple[int, int]:
    row = database.execute_sql("SELECT MIN(id), MAX(id) FROM subject").fetchone()
    return (int(row[0] or 0), int(row[1] or 0))


def _recordings(rng: random.Random, count: int, now: dt.datetime, summary: ScaleSummary,
                store: RecordingsStore) -> None:
    from rcrm_desktop.audio import synth

    batch = f"scale-{now:%Y%m%d%H%M%S}-{rng.randrange(16 ** 6):06x}"
    sources = []
    files = max(AUDIO_FILES, count // 50_000 + 1)
    for k in range(files):
        seconds = 4.0 + k
        samples = synth.synth_call(seconds, 8000, stereo=k % 2 == 0, seed=1000 + k)
        stored = store.write_bytes(f"{batch}/audio/source-{k:02d}.wav", synth.wav_bytes(samples, 8000))
        sources.append((stored.relative, stored.sha256, stored.size_bytes, int(seconds * 1000),
                        2 if k % 2 == 0 else 1))
    summary.audio_files = files
    low, high = _subject_range()
    agents = demo_names.AGENTS
    five_years = 5 * 365 * 86400
    false = _bool(False)

    # Paths are checked against the store once per folder (``store.resolve``), not once per file: the names
    # inside a folder are made here from digits, so they cannot escape it (400,000 checks cost ~90 s at scale 10).
    source_paths = [os.fspath(store.resolve(source[0])) for source in sources]
    folder_path = ""

    def rows() -> Iterable[tuple[Any, ...]]:
        nonlocal folder_path
        for i in range(count):
            relative, sha, size, duration, channels = sources[i % files]
            if i >= files:
                folder = f"{batch}/{i // 1000:04d}"
                if i % 1000 == 0 or i == files:
                    folder_path = os.fspath(store.resolve(folder + "/x").parent)
                    os.makedirs(folder_path, exist_ok=True)
                name = f"call-{i:07d}.wav"
                os.link(source_paths[i % files], os.path.join(folder_path, name))
                relative = f"{folder}/{name}"
            started = now - dt.timedelta(seconds=rng.randrange(five_years))
            subject = rng.randint(low, high) if high and rng.random() < 0.9 else None
            yield (subject, relative, sha, sha, "wav", duration, 8000, channels, size, started,
                   "inbound" if rng.random() < 0.7 else "outbound", agents[rng.randrange(len(agents))],
                   started + dt.timedelta(minutes=5), false, 1)

    summary.recordings = _bulk("recording", ["subject_id", "path", "sha256", "original_sha256", "format",
                                             "duration_ms", "sample_rate", "channels", "size_bytes", "started_at",
                                             "direction", "agent", "imported_at", "redacted", "version"], rows())


def _crashes(rng: random.Random, scale: int, now: dt.datetime, summary: ScaleSummary) -> None:
    groups = scale * CRASH_GROUPS_PER_UNIT
    events = scale * CRASH_EVENTS_PER_UNIT
    first_group = _max_id("crash_group") + 1
    sizes = [max(1, int(rng.paretovariate(1.2))) for _ in range(groups)]
    factor = events / sum(sizes)
    sizes = [max(1, int(s * factor)) for s in sizes]
    sizes[0] += events - sum(sizes)
    if sizes[0] < 1:
        raise ValidationError("internal: crash group sizes do not add up")
    low, high = _subject_range()
    ninety_days = 90 * 86400
    stats: list[dict[str, Any]] = []
    event_rows: list[tuple[Any, ...]] = []
    daily: dict[tuple[int, dt.date], int] = {}
    prefix = f"{now:%y%m%d%H%M%S}{rng.randrange(16 ** 6):06x}"
    counter = 0
    for g, size in enumerate(sizes):
        gid = first_group + g
        first = last = None
        subjects: set[int] = set()
        for _ in range(size):
            counter += 1
            at = now - dt.timedelta(seconds=rng.randrange(ninety_days))
            first = at if first is None or at < first else first
            last = at if last is None or at > last else last
            subject = rng.randint(low, high) if high and rng.random() < 0.3 else None
            if subject is not None:
                subjects.add(subject)
            day = at.date()
            daily[(gid, day)] = daily.get((gid, day), 0) + 1
            event_rows.append((f"{prefix}{counter:014x}"[:32], gid, subject, at, at, "python", "error",
                               f"SyntheticError{g % 97}", "{}"))
        stats.append({"id": gid, "fingerprint": hashlib.sha256(f"{prefix}-{gid}".encode()).hexdigest(),
                      "title": f"SyntheticError{g % 97}: case {g}", "search_key": f"syntheticerror{g % 97} case {g}",
                      "event_count": size, "subject_count": len(subjects), "first_seen": first, "last_seen": last})
    group_columns = ["id", "fingerprint", "explanation", "title", "culprit", "search_key", "level", "platform",
                     "state", "regressed", "event_count", "subject_count", "first_seen", "last_seen"]
    false = _bool(False)
    _bulk("crash_group", group_columns, ((s["id"], s["fingerprint"], "{}", s["title"], "bench.module",
                                          s["search_key"], "error", "python", "unresolved", false,
                                          s["event_count"], s["subject_count"], s["first_seen"], s["last_seen"])
                                         for s in stats), chunk=500)
    if engine_name() == "postgresql":  # explicit ids: move the sequence past them
        database.execute_sql("SELECT setval(pg_get_serial_sequence('crash_group', 'id'), "
                             "(SELECT MAX(id) FROM crash_group))")
    summary.crash_groups = len(stats)
    summary.crash_events = _bulk("crash_event", ["event_id", "group_id", "subject_id", "occurred_at", "received_at",
                                                 "platform", "level", "exception_type", "payload"], event_rows)
    _bulk("crash_daily_count", ["group_id", "day", "count"], ((g, d, n) for (g, d), n in daily.items()))
    if CrashGroup.select().where(CrashGroup.id >= first_group).count() != groups:
        raise ValidationError("internal: crash groups were not all inserted")


def _requests(rng: random.Random, count: int, now: dt.datetime, operator: int, summary: ScaleSummary) -> None:
    from rcrm_desktop.core import deadlines
    from rcrm_desktop.core.requests import _calendar, _instance_salt, reference_for, requester_key

    low, high = _subject_range()
    calendar = _calendar()
    salt = _instance_salt(create=True)
    assert salt is not None
    today = now.date()
    open_states = ("received", "identity_verification", "in_progress", "awaiting_requester")
    types = ("access", "rectification", "erasure", "restriction", "portability", "objection")
    first_request = _max_id("rights_request") + 1
    picked = [rng.randint(low, high) for _ in range(count)] if high else []
    people: dict[int, tuple[str, str]] = {}
    for start in range(0, len(picked), 500):
        chunk = picked[start:start + 500]
        query: Any = Subject.select(Subject.id, Subject.user_id, Subject.name).where(Subject.id.in_(chunk))
        people.update((int(i), (str(u), str(n))) for i, u, n in query.tuples())
    rows = []
    for i in range(count):
        received = today - dt.timedelta(days=rng.randrange(3 * 365))
        due = deadlines.due_date(received, deadlines.ANSWER_MONTHS, calendar)
        closed = received < today - dt.timedelta(days=40) or rng.random() < 0.6
        state = "completed" if closed else open_states[rng.randrange(len(open_states))]
        sid = picked[i] if picked and picked[i] in people else None
        user_id = people[sid][0] if sid is not None else None
        name = people[sid][1] if sid is not None else "Requester " + str(i)
        contact = f"{(user_id or 'r' + str(i)).lower()}@example.com"
        created = dt.datetime.combine(received, dt.time(9, 0))
        rows.append((types[i % len(types)], state, sid, reference_for(user_id, salt) if user_id else None,
                     name, contact, requester_key(name, contact),
                     "email", received, due, operator, created, created + dt.timedelta(days=20) if closed else None,
                     _bool(state == "awaiting_requester"), 1))
    summary.requests = _bulk("rights_request", ["type", "state", "subject_id", "subject_ref", "requester_name",
                                                "requester_contact", "requester_key", "channel", "received_on",
                                                "due_on", "created_by_id", "created_at", "closed_at",
                                                "awaiting_requester", "version"], rows, chunk=500)
    _bulk("request_event", ["request_id", "operator_id", "at", "kind", "detail"],
          ((first_request + i, operator, r[11], "created", f"Request received ({r[0]}).")
           for i, r in enumerate(rows)))


def _audit(rng: random.Random, count: int, now: dt.datetime, operator: int, summary: ScaleSummary) -> None:
    """Audit events continuing the chain (hash over content and the previous hash), then the head moved on."""
    AuditHead.update(last_seq=AuditHead.last_seq).where(AuditHead.id == 1).execute()  # the chain's lock
    head = AuditHead.get_by_id(1)
    seq, prev = int(head.last_seq), str(head.last_hash)
    low, high = _subject_range()
    actions = (("subject.view", "subject"), ("subjects.list", "subject"), ("recording.play", "recording"),
               ("request.create", "rights_request"), ("crash_group.view", "crash_group"))
    start = now - dt.timedelta(days=365)
    step = dt.timedelta(seconds=365 * 86400 / max(1, count))
    rows = []
    for i in range(count):
        seq += 1
        action, target_type = actions[i % len(actions)]
        if action == "subjects.list":
            target_id = None
            details = json.dumps({"ids": [rng.randint(low, max(low, high)) for _ in range(3)], "query_length": 0},
                                 sort_keys=True, separators=(",", ":"))
        else:
            target_id = str(rng.randint(max(1, low), max(1, high)))
            details = "{}"
        at = start + step * i
        digest = audit.compute_hash(seq, at, operator, action, target_type, target_id, details, prev)
        rows.append((seq, at, operator, action, target_type, target_id, details, prev, digest))
        prev = digest
    summary.audit_events = _bulk("audit_event", ["seq", "at", "operator_id", "action", "target_type", "target_id",
                                                 "details", "prev_hash", "hash"], rows)
    AuditHead.update(last_seq=seq, last_hash=prev).where(AuditHead.id == 1).execute()
