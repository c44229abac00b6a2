"""Crash-report figures: import throughput, the groups' first page and one group at a million events.

Targets (crash-reports issue): import ≥ 5,000 events/s on SQLite; the first
page of groups < 100 ms at a million events. Each view figure is printed next
to the same ``SELECT`` run as raw SQL through the driver in the same run.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from typing import Any

from rcrm_desktop.benchmarks import BenchContext, Figure, median_seconds

SUITE = "crashes"


def _scratch_instance(ctx: BenchContext) -> Any:
    from rcrm_desktop.core import operators
    from rcrm_desktop.core.instance import open_instance
    from rcrm_desktop.core.permissions import Role

    open_instance(f"sqlite:///{ctx.workdir}/crashes-bench.sqlite3")
    operators.bootstrap_admin("bench-admin", "bench password 1")
    admin = operators.authenticate("bench-admin", "bench password 1")
    operators.create_operator(admin, "bench-support", "Bench support", Role.SUPPORT, "bench password 1")
    return operators.authenticate("bench-support", "bench password 1")


def _fill_synthetic(groups: int, events: int, seed: int = 3) -> int:
    """Bulk-insert ``groups`` groups and ``events`` events (tiny payloads) through SQL; returns the biggest group."""
    from rcrm_desktop.db.models import CrashGroup, database, utcnow

    rng = random.Random(seed)
    now = utcnow()
    start_id = (CrashGroup.select(CrashGroup.id).order_by(CrashGroup.id.desc()).limit(1).scalar() or 0) + 1
    sizes = [max(1, int(rng.paretovariate(1.2))) for _ in range(groups)]
    scale = events / sum(sizes)
    sizes = [max(1, int(s * scale)) for s in sizes]
    sizes[0] += events - sum(sizes)
    with database.atomic():
        group_rows = []
        for i, size in enumerate(sizes):
            first = now - dt.timedelta(days=rng.uniform(1, 90))
            group_rows.append({
                "fingerprint": f"{start_id + i:064x}", "title": f"SyntheticError: case {i}", "culprit": "bench.module",
                "search_key": f"syntheticerror case {i}", "platform": "python", "state": "unresolved",
                "event_count": size, "subject_count": 0, "first_seen": first,
                "last_seen": first + dt.timedelta(days=rng.uniform(0, 1)),
            })
        for chunk in range(0, len(group_rows), 500):
            CrashGroup.insert_many(group_rows[chunk:chunk + 500]).execute()
        ids = [g.id for g in CrashGroup.select(CrashGroup.id).where(CrashGroup.id >= start_id).order_by(CrashGroup.id)]
        conn = database.connection()
        sql = ("INSERT INTO crash_event (event_id, group_id, occurred_at, received_at, platform, level, payload) "
               "VALUES (?, ?, ?, ?, 'python', 'error', '{}')")
        batch: list[tuple[Any, ...]] = []
        counter = 0
        for gid, size in zip(ids, sizes, strict=True):
            for _ in range(size):
                counter += 1
                at = (now - dt.timedelta(seconds=rng.uniform(0, 90 * 86400))).isoformat(sep=" ")
                batch.append((f"{counter:032x}", gid, at, at))
                if len(batch) >= 20_000:
                    conn.executemany(sql, batch)
                    batch = []
        if batch:
            conn.executemany(sql, batch)
    return ids[0]


def run(ctx: BenchContext) -> list[Figure]:
    from rcrm_desktop.core import crashes
    from rcrm_desktop.core.crash_samples import sample_events
    from rcrm_desktop.db import connection
    from rcrm_desktop.db.models import database, utcnow

    figures: list[Figure] = []
    actor = _scratch_instance(ctx)
    try:
        n = 10_000 if ctx.quick else 100_000
        events = sample_events(n, seed=11, user_ids=[], now=utcnow())
        source = ctx.workdir / "events.ndjson"
        with source.open("w", encoding="utf-8") as fh:
            for event in events:
                fh.write(json.dumps(event) + "\n")
        started = time.perf_counter()
        report = crashes.import_events(actor, source)
        elapsed = time.perf_counter() - started
        rate = report.imported / elapsed if elapsed else 0.0
        figures.append(Figure(SUITE, f"import {n:,} events (NDJSON, scrub + group)", rate, "events/s",
                              target="≥ 5,000 events/s", met=rate >= 5000))

        total = 100_000 if ctx.quick else 1_000_000
        ctx.log(f"  filling {total:,} synthetic events in 20,000 groups …")
        biggest = _fill_synthetic(20_000, total - report.imported)

        page = median_seconds(lambda: crashes.list_groups(actor), ctx.repeat)
        raw_sql = ("SELECT * FROM crash_group WHERE merged_into_id IS NULL "
                   "ORDER BY last_seen DESC, id DESC LIMIT 200")
        raw = median_seconds(lambda: database.execute_sql(raw_sql).fetchall(), ctx.repeat)
        figures.append(Figure(SUITE, f"groups first page at {total:,} events", page * 1000, "ms", raw * 1000,
                              "raw SQL", "< 100 ms", page < 0.1))

        def open_group() -> None:
            crashes.get_group(actor, biggest)
            crashes.list_group_events(actor, biggest)
            crashes.daily_counts(actor, biggest, 30)

        opened = median_seconds(open_group, ctx.repeat)
        raw_events = ("SELECT * FROM crash_event WHERE group_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 200")
        raw_open = median_seconds(lambda: database.execute_sql(raw_events, (biggest,)).fetchall(), ctx.repeat)
        figures.append(Figure(SUITE, "open the biggest group (detail, events page, 30-day chart)", opened * 1000,
                              "ms", raw_open * 1000, "raw SQL events page", "< 100 ms", opened < 0.1))
    finally:
        connection.close()
    return figures
