"""Retention figures: a purge of expired recordings (rows and files) and of crash events, next to plain SQL.

Targets (retention issue): purging 100,000 expired recordings with their files
(quick: 10,000) and 1,000,000 crash events (quick: 100,000) through
``core.retention.apply_retention`` takes at most twice as long as a plain
``DELETE … WHERE time < cutoff`` plus ``unlink`` of the same files, run on a
copy of the same data in the same run. The retention run does more on
purpose — batches that are atomic across rows and files (``core.pending``),
re-checks of legal holds and open requests, crash groups' counters, per-day
counts and facets kept exact, a resumable cursor — so the ratio is the price
of those guarantees.

Data is made with bulk SQL on scratch SQLite instances under ``ctx.workdir``;
audio files are tiny (16 bytes), so the figure measures the bookkeeping, not
the disk's bandwidth. Both sides get the same data shape (same seed, same
count), start from the same state (database checkpointed, every file made
so far on disk: ``_settle``) and end in the same state (deletions made
durable with one folder ``fsync``). The purge and the plain SQL alternate
over several rounds (quick: one; ``ctx.extra["retention_rounds"]``) and the
figure is the median of each, so a disk that is busy for a while weighs on
both.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from rcrm_desktop.benchmarks import BenchContext, Figure

SUITE = "retention"
PASSWORD = "bench password 1"


def _instance(path: Path) -> Any:
    """A fresh instance at ``path`` with a compliance officer; returns the officer."""
    from rcrm_desktop.core import operators
    from rcrm_desktop.core.instance import open_instance
    from rcrm_desktop.core.permissions import Role
    from rcrm_desktop.db import connection

    connection.close()
    if path.exists():
        path.unlink()
    open_instance(f"sqlite:///{path}")
    operators.bootstrap_admin("bench-admin", PASSWORD)
    admin = operators.authenticate("bench-admin", PASSWORD)
    operators.create_operator(admin, "bench-officer", "Bench officer", Role.COMPLIANCE, PASSWORD)
    return operators.authenticate("bench-officer", PASSWORD)


def _reopen(path: Path) -> None:
    from rcrm_desktop.core.instance import open_instance
    from rcrm_desktop.db import connection

    connection.close()
    open_instance(f"sqlite:///{path}")


def _checkpoint_and_close() -> None:
    from rcrm_desktop.db import connection
    from rcrm_desktop.db.models import database

    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _fill_recordings(root: Path, count: int, now: dt.datetime, seed: int = 5) -> list[str]:
    """``count`` expired recordings (1 % young ones besides) as rows and 16-byte files; returns expired paths."""
    from rcrm_desktop.db.models import database

    rng = random.Random(seed)
    young = max(1, count // 100)
    rows: list[tuple[Any, ...]] = []
    expired: list[str] = []
    made: set[Path] = set()
    for i in range(count + young):
        relative = f"calls/{i // 1000:04d}/{i:07d}.wav"
        folder = root / "calls" / f"{i // 1000:04d}"
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        with open(root / relative, "wb") as fh:
            fh.write(i.to_bytes(16, "big"))
        old = i < count
        started = now - dt.timedelta(days=(400 + rng.randint(0, 900)) if old else rng.randint(0, 300),
                                     seconds=rng.randint(0, 86399))
        sha = f"{i:064x}"
        rows.append((relative, sha, sha, "wav", 61_000, 8000, 1, 16, started.isoformat(sep=" "), "inbound",
                     now.isoformat(sep=" ")))
        if old:
            expired.append(relative)
    sql = ("INSERT INTO recording (path, sha256, original_sha256, format, duration_ms, sample_rate, channels, "
           "size_bytes, started_at, direction, imported_at, redacted, version) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1)")
    with database.atomic():
        cursor = database.cursor()
        for start in range(0, len(rows), 20_000):
            cursor.executemany(sql, rows[start:start + 20_000])
    return expired


def _fill_crash_events(count: int, now: dt.datetime, groups: int = 1000, seed: int = 9) -> None:
    """``count`` expired crash events (1 % young ones besides) in ``groups`` groups, with their aggregates."""
    from rcrm_desktop.db.models import database

    rng = random.Random(seed)
    with database.atomic():
        cursor = database.cursor()
        cursor.executemany(
            "INSERT INTO crash_group (fingerprint, explanation, title, search_key, level, state, regressed, "
            "event_count, subject_count, first_seen, last_seen) VALUES (?, '{}', ?, '', 'error', 'unresolved', 0, "
            "0, 0, ?, ?)",
            [(f"{g:064x}", f"BenchError {g}", now.isoformat(sep=" "), now.isoformat(sep=" "))
             for g in range(groups)])
        ids = [int(r[0]) for r in database.execute_sql("SELECT id FROM crash_group ORDER BY id").fetchall()]
        sql = ("INSERT INTO crash_event (event_id, group_id, original_group_id, occurred_at, received_at, platform, "
               "level, release, environment, os_name, payload) VALUES (?, ?, ?, ?, ?, 'python', 'error', ?, "
               "'production', 'Linux', '{}')")
        batch: list[tuple[Any, ...]] = []
        total = count + max(1, count // 100)
        for i in range(total):
            gid = ids[int(rng.paretovariate(1.1)) % len(ids)]
            days = 200 + rng.randint(0, 500) if i < count else rng.randint(0, 100)
            at = (now - dt.timedelta(days=days, seconds=rng.randint(0, 86399))).isoformat(sep=" ")
            batch.append((f"{i:032x}", gid, gid, at, at, f"rcrm@1.{rng.randint(0, 9)}"))
            if len(batch) >= 50_000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
        database.execute_sql(
            "UPDATE crash_group SET event_count = (SELECT COUNT(*) FROM crash_event e "
            "WHERE e.group_id = crash_group.id), first_seen = COALESCE((SELECT MIN(occurred_at) FROM crash_event e "
            "WHERE e.group_id = crash_group.id), first_seen), "
            "last_seen = COALESCE((SELECT MAX(occurred_at) FROM crash_event e WHERE e.group_id = crash_group.id), "
            "last_seen)")
        database.execute_sql(
            "INSERT INTO crash_daily_count (group_id, day, count) SELECT group_id, DATE(occurred_at), COUNT(*) "
            "FROM crash_event GROUP BY group_id, DATE(occurred_at)")
        for kind, column in (("release", "release"), ("environment", "environment"), ("platform", "platform"),
                             ("os", "os_name")):
            database.execute_sql(
                f"INSERT INTO crash_group_facet (group_id, kind, value, event_count, first_seen, last_seen) "
                f"SELECT group_id, '{kind}', {column}, COUNT(*), MIN(occurred_at), MAX(occurred_at) FROM crash_event "
                f"WHERE {column} IS NOT NULL GROUP BY group_id, {column}")


def _settle(root: Path | None = None) -> None:
    """Put every file made so far on disk, so each measurement starts from the same state.

    Expired recordings in real use have been on disk for a year: deleting a
    file whose blocks are allocated costs far more (block bitmaps, and
    ``discard`` where the file system is mounted with it) than deleting one
    still in the page cache, which is what a measurement right after making
    the files would time on one side and not the other.
    """
    if hasattr(os, "sync"):
        os.sync()
    if root is not None:
        _fsync(root)


def _fsync(folder: Path) -> None:
    """Make the deletions durable (a journaling file system commits them all with one folder ``fsync``)."""
    from rcrm_desktop.core.store import _fsync_dir

    _fsync_dir(folder)


def _plain_recordings(ctx: BenchContext, count: int, now: dt.datetime, cutoff: dt.datetime, round_: int) -> float:
    """``SELECT`` the expired paths, ``DELETE`` their tags and rows in one transaction, ``unlink`` each file.

    The files go in the order they were made (by id), as the purge takes them:
    in the time index's order the same ``unlink`` calls hop between folders and
    cost more, which would flatter the purge.
    """
    from rcrm_desktop.db.models import database

    db = ctx.workdir / f"retention-rec-plain-{round_}.sqlite3"
    root = ctx.workdir / f"retention-rec-plain-store-{round_}"
    shutil.rmtree(root, ignore_errors=True)
    _instance(db)
    ctx.log(f"  making {count:,} recordings (rows and files) for plain SQL + rm …")
    _fill_recordings(root, count, now)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _settle(root)
    started = time.perf_counter()
    stamp = cutoff.isoformat(sep=" ")
    paths = [str(r[0]) for r in database.execute_sql(
        "SELECT path FROM recording WHERE started_at < ? ORDER BY id", (stamp,)).fetchall()]
    with database.atomic():
        database.execute_sql("DELETE FROM recording_tag WHERE recording_id IN (SELECT id FROM recording "
                             "WHERE started_at < ?)", (stamp,))
        database.execute_sql("DELETE FROM recording WHERE started_at < ?", (stamp,))
    for relative in paths:
        os.unlink(root / relative)
    _fsync(root / "calls")
    plain = time.perf_counter() - started
    _checkpoint_and_close()
    shutil.rmtree(root, ignore_errors=True)
    db.unlink()
    return plain


def _retention_recordings(ctx: BenchContext, count: int, now: dt.datetime, round_: int
                          ) -> tuple[float, bool, int, int, int]:
    """The same purge through ``apply_retention``; returns (seconds, consistent, deleted, rows left, files left)."""
    from rcrm_desktop.core import retention
    from rcrm_desktop.core.store import RecordingsStore
    from rcrm_desktop.db.models import database

    db = ctx.workdir / f"retention-rec-{round_}.sqlite3"
    root = ctx.workdir / f"retention-rec-store-{round_}"
    shutil.rmtree(root, ignore_errors=True)
    officer = _instance(db)
    ctx.log(f"  making {count:,} recordings (rows and files) for the retention run …")
    _fill_recordings(root, count, now)
    retention.set_rule(officer, "recordings", max_age_days=365, enabled=True)
    store = RecordingsStore(root)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    _settle(root)
    started = time.perf_counter()
    report = retention.apply_retention(officer, now=now, store=store)
    _fsync(root / "calls")
    took = time.perf_counter() - started
    left = int(database.execute_sql("SELECT COUNT(*) FROM recording").fetchone()[0])
    files_left = sum(1 for p in (root / "calls").rglob("*") if p.is_file())
    _checkpoint_and_close()
    ok = report.deleted == count and report.files_deleted == count and left == files_left
    shutil.rmtree(root, ignore_errors=True)
    db.unlink()
    return took, ok, report.files_deleted, left, files_left


def _rounds(ctx: BenchContext) -> int:
    return int(ctx.extra.get("retention_rounds", 1 if ctx.quick else 3))


def _recordings_figure(ctx: BenchContext, now: dt.datetime) -> Figure:
    """Median of alternating rounds (plain first in even rounds, the purge first in odd ones)."""
    count = 10_000 if ctx.quick else 100_000
    cutoff = now - dt.timedelta(days=365)
    plains: list[float] = []
    runs: list[tuple[float, bool, int, int, int]] = []
    for round_ in range(_rounds(ctx)):
        if round_ % 2 == 0:
            plains.append(_plain_recordings(ctx, count, now, cutoff, round_))
            runs.append(_retention_recordings(ctx, count, now, round_))
        else:
            runs.append(_retention_recordings(ctx, count, now, round_))
            plains.append(_plain_recordings(ctx, count, now, cutoff, round_))
        ctx.log(f"    round {round_ + 1}: purge {runs[-1][0]:.3f} s, plain {plains[-1]:.3f} s")
    plain = statistics.median(plains)
    took = statistics.median(r[0] for r in runs)
    ok = all(r[1] for r in runs)
    _, _, files_deleted, left, files_left = runs[-1]
    return Figure(SUITE, f"purge {count:,} expired recordings (rows + files)", took, "s", plain,
                  "plain DELETE + unlink", "≤ 2× plain", took <= 2 * plain and ok,
                  f"median of {len(runs)}; purge {', '.join(f'{r[0]:.2f}' for r in runs)} s, plain "
                  f"{', '.join(f'{p:.2f}' for p in plains)} s; {count / took:,.0f} recordings/s; "
                  f"{files_deleted:,} files deleted; {'consistent' if ok else 'INCONSISTENT'} "
                  f"({left:,} rows and {files_left:,} files left)")


def _crash_figure(ctx: BenchContext, now: dt.datetime) -> Figure:
    """Median of alternating rounds, each on a fresh copy of one filled instance."""
    from rcrm_desktop.core import retention
    from rcrm_desktop.core.store import RecordingsStore
    from rcrm_desktop.db.models import database

    count = 100_000 if ctx.quick else 1_000_000
    cutoff = now - dt.timedelta(days=180)
    db = ctx.workdir / "retention-crash.sqlite3"
    officer = _instance(db)
    ctx.log(f"  making {count:,} crash events …")
    _fill_crash_events(count, now)
    retention.set_rule(officer, "crash_events", max_age_days=180, enabled=True)
    _checkpoint_and_close()
    copy = ctx.workdir / "retention-crash-copy.sqlite3"

    def plain_round() -> float:
        shutil.copyfile(db, copy)
        _reopen(copy)
        _settle()
        started = time.perf_counter()
        with database.atomic():
            database.execute_sql("DELETE FROM crash_event WHERE received_at < ?", (cutoff.isoformat(sep=" "),))
        took = time.perf_counter() - started
        _checkpoint_and_close()
        copy.unlink()
        return took

    def retention_round() -> tuple[float, bool, tuple[int, int, int]]:
        shutil.copyfile(db, copy)
        _reopen(copy)
        store = RecordingsStore(ctx.workdir / "retention-crash-store")
        _settle()
        started = time.perf_counter()
        report = retention.apply_retention(officer, now=now, store=store)
        took = time.perf_counter() - started
        sums = database.execute_sql("SELECT (SELECT COUNT(*) FROM crash_event), (SELECT SUM(event_count) FROM "
                                    "crash_group), (SELECT SUM(count) FROM crash_daily_count)").fetchone()
        _checkpoint_and_close()
        copy.unlink()
        return took, report.deleted == count and sums[0] == sums[1] == sums[2], tuple(sums)

    plains: list[float] = []
    runs: list[tuple[float, bool, tuple[int, int, int]]] = []
    for round_ in range(_rounds(ctx)):
        if round_ % 2 == 0:
            plains.append(plain_round())
            runs.append(retention_round())
        else:
            runs.append(retention_round())
            plains.append(plain_round())
        ctx.log(f"    round {round_ + 1}: purge {runs[-1][0]:.3f} s, plain {plains[-1]:.3f} s")
    db.unlink()
    plain = statistics.median(plains)
    took = statistics.median(r[0] for r in runs)
    ok = all(r[1] for r in runs)
    sums = runs[-1][2]
    return Figure(SUITE, f"purge {count:,} expired crash events (with group counters)", took, "s", plain,
                  "plain DELETE", "≤ 2× plain", took <= 2 * plain and ok,
                  f"median of {len(runs)}; purge {', '.join(f'{r[0]:.2f}' for r in runs)} s, plain "
                  f"{', '.join(f'{p:.2f}' for p in plains)} s; {count / took:,.0f} events/s; counters "
                  f"{'exact' if ok else 'WRONG'} ({sums[0]:,} events left)")


def run(ctx: BenchContext) -> list[Figure]:
    from rcrm_desktop.db import connection
    from rcrm_desktop.db.models import utcnow

    ctx.workdir.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    figures: list[Figure] = []
    try:
        figures.append(_recordings_figure(ctx, now))
        figures.append(_crash_figure(ctx, now))
    finally:
        connection.close()
    return figures
