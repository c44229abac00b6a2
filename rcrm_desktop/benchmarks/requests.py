"""Rights-request benchmarks: the access package against ``cp``, and the erasure of a subject.

On a scratch SQLite instance under ``ctx.workdir`` (never the operator's
instance), one subject with 500 recordings (``ctx.quick``: 100) of 10 s
8 kHz mono WAV (160 kB each):

* **access package** — ``build_access_package`` (subject.json, index.html,
  every audio file hashed and stored, manifest, fsync, rename) against ``cp -r``
  of the same audio files (the floor: the bytes must be read and written once);
  target ≤ 1.5× ``cp``;
* **erasure** — ``erase_subject`` of that subject (files to the pending-delete
  area, one transaction, files deleted), a fresh copy of the subject each
  run; target < 2 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from rcrm_desktop.benchmarks import BenchContext, Figure
from rcrm_desktop.core.permissions import Actor, Role

SUITE = "requests"
SECONDS_PER_CALL = 10.0


def _make_subject(store_root: Path, store: object, actor: Actor, index: int, count: int,
                  base: bytes) -> tuple[int, Path]:
    """A subject with ``count`` recordings under ``bench-<index>/`` in the store; returns (subject id, folder)."""
    from rcrm_desktop.core.subjects import make_search_key
    from rcrm_desktop.core.text import fold
    from rcrm_desktop.db.models import Annotation, Recording, Subject, database, utcnow

    user_id = f"U-BENCH-{index:04d}"
    name = f"Bench Subject {index}"
    now = utcnow()
    rows = []
    for i in range(count):
        data = bytearray(base)
        data[44:48] = i.to_bytes(4, "little")  # first samples differ: every file has its own hash
        stored = store.write_bytes(f"bench-{index}/{i // 100:02d}/call-{i:05d}.wav", bytes(data))  # type: ignore[attr-defined]
        rows.append({"path": stored.relative, "sha256": stored.sha256, "original_sha256": stored.sha256,
                     "format": "wav", "duration_ms": int(SECONDS_PER_CALL * 1000), "sample_rate": 8000,
                     "channels": 1, "size_bytes": stored.size_bytes,
                     "started_at": now - dt.timedelta(days=1, minutes=i), "direction": "inbound",
                     "agent": "Agent", "imported_at": now, "redacted": False, "version": 1})
    with database.atomic():
        subject = Subject.create(user_id=user_id, name=name, name_key=fold(name), search_key=make_search_key(
            name, user_id), email=f"bench{index}@example.org", created_at=now)
        for row in rows:
            row["subject"] = subject.id
        for start in range(0, len(rows), 50):
            Recording.insert_many(rows[start:start + 50]).execute()
        ids = [r.id for r in Recording.select(Recording.id).where(Recording.subject == subject.id)]
        Annotation.insert_many([{"recording": rid, "operator": actor.operator_id, "position_ms": 500,
                                 "text": "Note", "created_at": now} for rid in ids[: count // 4]]).execute()
    return subject.id, store_root / f"bench-{index}"


def _request(actor: Actor, kind: str, subject_id: int) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.create_request(actor, kind, "Bench Requester", subject_id=subject_id)
    return rq.verify_identity(actor, detail.id, "bench").id


def run(ctx: BenchContext) -> list[Figure]:
    from rcrm_desktop.audio import synth
    from rcrm_desktop.core import access_package, erasure
    from rcrm_desktop.core.instance import open_instance
    from rcrm_desktop.core.store import RecordingsStore
    from rcrm_desktop.db import connection
    from rcrm_desktop.db.models import Operator

    count = 100 if ctx.quick else 500
    repeat = 1 if ctx.quick else max(1, min(ctx.repeat, 5))
    folder = ctx.workdir / "requests-bench"
    folder.mkdir(parents=True, exist_ok=True)
    open_instance("sqlite:///" + (folder / "instance.sqlite3").as_posix())
    figures: list[Figure] = []
    try:
        operator = Operator.create(username="bench", display_name="Bench", role="compliance", password_hash="!")
        actor = Actor(operator.id, "bench", "Bench", Role.COMPLIANCE)
        store_root = folder / "recordings"
        store = RecordingsStore(store_root)
        base = synth.wav_bytes(synth.synth_call(SECONDS_PER_CALL, 8000, stereo=False, seed=1), 8000)
        ctx.log(f"  preparing a subject with {count} recordings of {len(base) // 1024} kB …")
        subject_id, subject_dir = _make_subject(store_root, store, actor, 0, count, base)
        request_id = _request(actor, "access", subject_id)

        package_times = []
        cp_times = []
        cp = shutil.which("cp")
        # Interleaved, so both see the same load on a shared machine; the first round warms the caches.
        for n in range(repeat + 1):
            target = folder / f"package-{n}.zip"
            start = time.perf_counter()
            result = access_package.build_access_package(actor, request_id, target, store=store)
            elapsed = time.perf_counter() - start
            target.unlink()
            copy = folder / f"cp-{n}"
            start = time.perf_counter()
            if cp:
                subprocess.run([cp, "-r", str(subject_dir), str(copy)], check=True)
            else:  # pragma: no cover - Windows
                shutil.copytree(subject_dir, copy)
            copied = time.perf_counter() - start
            shutil.rmtree(copy)
            if n:
                package_times.append(elapsed)
                cp_times.append(copied)
        package = statistics.median(package_times)
        floor = statistics.median(cp_times)
        figures.append(Figure(SUITE, f"access package, {count} recordings ({result.size_bytes / 1e6:.0f} MB)",
                              package, "s", limit=floor, limit_label="cp -r" if cp else "shutil.copytree",
                              target="≤ 1.5× cp", met=package <= 1.5 * floor))

        erase_times = []
        for n in range(repeat):
            sid = subject_id if n == 0 else _make_subject(store_root, store, actor, n, count, base)[0]
            rid = _request(actor, "erasure", sid)
            user_id = f"U-BENCH-{n:04d}"
            start = time.perf_counter()
            erasure.erase_subject(actor, rid, user_id, store=store)
            erase_times.append(time.perf_counter() - start)
        erase = statistics.median(erase_times)
        figures.append(Figure(SUITE, f"erase a subject with {count} recordings (SQLite)", erase, "s",
                              target="< 2 s", met=erase < 2.0))
    finally:
        connection.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
    return figures
