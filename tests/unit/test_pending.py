"""The pending-delete protocol (``core.pending.FileBatch``) as recovery and the store rely on it.

What is checked:

* a batch records one row for itself and one per file; the commit marks only
  the batch's row, and recovery finishes such a batch after a kill just as it
  finishes one whose every row is marked (rows an older program wrote);
* a batch killed before its commit is undone from the per-file rows alone;
* paths are checked once per folder, yet every path the store refuses is
  refused here too (``..``, control characters, absolute paths, a folder that
  is a link leading out of the store) and nothing moves;
* a pending-delete area that leads out of the store is refused before any
  file moves;
* a batch with nothing to do writes no row.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from rcrm_desktop.core import pending
from rcrm_desktop.core.pending import BATCH, COMMITTED, MOVING, STORE, FileBatch, recover_pending
from rcrm_desktop.core.store import RecordingsStore, open_store
from rcrm_desktop.db.models import PendingFileOperation, Recording, database
from rcrm_desktop.errors import ValidationError
from tests.conftest import Instance
from tests.unit.test_retention import NOW, make_recording


def _abandon(batch: FileBatch) -> None:
    """Make a batch look like the work of a process that died (what kill -9 leaves)."""
    pending._active_batches.discard(batch.id)
    PendingFileOperation.update(pid=2**22 + 12345).where(PendingFileOperation.batch == batch.id).execute()


def _recordings(store: RecordingsStore, n: int) -> list[Recording]:
    return [make_recording(store, NOW) for _ in range(n)]


def test_the_commit_marks_one_row_and_recovery_finishes_the_batch(instance: Instance) -> None:
    store = open_store()
    recs = _recordings(store, 5)
    batch = FileBatch(store, "retention")
    batch.stage([(r.id, r.path) for r in recs])
    rows = list(PendingFileOperation.select().where(PendingFileOperation.batch == batch.id))
    assert sorted(str(r.kind) for r in rows) == [BATCH] + [STORE] * 5
    assert {r.state for r in rows} == {MOVING}
    assert not any(store.resolve(r.path).exists() for r in recs)
    assert len(list(batch.folder.iterdir())) == 5
    with database.atomic():
        Recording.delete().where(Recording.id.in_([r.id for r in recs])).execute()
        batch.mark_committed()
    marked = {str(r.kind): str(r.state) for r in PendingFileOperation.select().where(
        PendingFileOperation.state == COMMITTED)}
    assert marked == {BATCH: COMMITTED}
    _abandon(batch)  # killed after the commit, before the files were deleted
    report = recover_pending(store)
    assert report.finished_batches == 1 and report.files_deleted == 5
    assert PendingFileOperation.select().count() == 0 and not batch.folder.exists()


def test_a_batch_whose_every_row_is_marked_is_finished_too(sqlite_instance: Instance) -> None:
    store = open_store()
    recs = _recordings(store, 3)
    batch = FileBatch(store, "erasure")
    batch.stage([(r.id, r.path) for r in recs])
    with database.atomic():
        Recording.delete().execute()
        PendingFileOperation.delete().where(PendingFileOperation.kind == BATCH).execute()
        PendingFileOperation.update(state=COMMITTED).execute()  # as an older program marked its batches
    _abandon(batch)
    report = recover_pending(store)
    assert report.finished_batches == 1 and report.files_deleted == 3
    assert not any(store.root.rglob("*.wav"))


def test_an_uncommitted_batch_is_undone_from_the_file_rows(instance: Instance) -> None:
    store = open_store()
    recs = _recordings(store, 4)
    content = {r.path: store.resolve(r.path).read_bytes() for r in recs}
    batch = FileBatch(store, "retention")
    batch.stage([(r.id, r.path) for r in recs])
    _abandon(batch)  # killed before the rows changed
    report = recover_pending(store)
    assert report.undone_batches == 1 and report.files_restored == 4
    assert {p: store.resolve(p).read_bytes() for p in content} == content
    assert PendingFileOperation.select().count() == 0 and not batch.folder.exists()


def test_finish_and_rollback_without_a_kill(sqlite_instance: Instance) -> None:
    store = open_store()
    recs = _recordings(store, 6)
    kept, gone = recs[:3], recs[3:]
    undone = FileBatch(store, "retention")
    undone.stage([(r.id, r.path) for r in kept])
    undone.rollback()
    assert all(store.resolve(r.path).exists() for r in kept) and not undone.folder.exists()
    done = FileBatch(store, "retention")
    done.stage([(r.id, r.path) for r in gone] + [(None, "calls/never-there.wav")])
    assert [f.missing for f in done.files] == [False, False, False, True]
    with database.atomic():
        Recording.delete().where(Recording.id.in_([r.id for r in gone])).execute()
        done.mark_committed()
    assert done.finish() == 3
    assert not any(store.resolve(r.path).exists() for r in gone) and not done.folder.exists()
    assert PendingFileOperation.select().count() == 0


@pytest.mark.parametrize("bad", ["calls/../../outside.wav", "calls/a\x01b.wav", "/etc/passwd", "calls/..",
                                 "calls/x/" + "a" * 600 + ".wav", "C:/calls/x.wav"])
def test_a_path_the_store_refuses_is_refused_and_nothing_moves(sqlite_instance: Instance, bad: str) -> None:
    store = open_store()
    recs = _recordings(store, 2)
    batch = FileBatch(store, "retention")
    with pytest.raises(ValidationError):
        batch.stage([(recs[0].id, recs[0].path), (None, bad), (recs[1].id, recs[1].path)])
    assert all(store.resolve(r.path).exists() for r in recs)
    assert PendingFileOperation.select().count() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_folder_that_links_out_of_the_store_is_refused(sqlite_instance: Instance, tmp_path: Path) -> None:
    store = open_store()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"not the store's")
    os.symlink(outside, store.root / "linked")
    recs = _recordings(store, 1)
    batch = FileBatch(store, "retention")
    with pytest.raises(ValidationError, match="outside the recordings store"):
        batch.stage([(recs[0].id, recs[0].path), (None, "linked/secret.wav")])
    assert (outside / "secret.wav").exists() and store.resolve(recs[0].path).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_pending_area_leading_out_of_the_store_is_refused(sqlite_instance: Instance, tmp_path: Path) -> None:
    store = open_store()
    recs = _recordings(store, 2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    area = store.root / ".pending-delete"
    if area.exists():
        area.rmdir()
    os.symlink(elsewhere, area)
    batch = FileBatch(store, "retention")
    with pytest.raises(ValidationError, match="pending-delete area"):
        batch.stage([(r.id, r.path) for r in recs])
    assert all(store.resolve(r.path).exists() for r in recs) and not any(elsewhere.iterdir())
    assert PendingFileOperation.select().count() == 0


def test_an_empty_batch_writes_nothing(sqlite_instance: Instance) -> None:
    store = open_store()
    batch = FileBatch(store, "erasure")
    batch.stage([])
    with database.atomic():
        batch.mark_committed()
    assert PendingFileOperation.select().count() == 0
    assert batch.finish() == 0


def test_staged_names_are_unique_and_tell_what_the_file_was(sqlite_instance: Instance) -> None:
    store = open_store()
    store.write_bytes("a/call one.wav", b"RIFF1")
    store.write_bytes("b/call one.wav", b"RIFF2")
    store.write_bytes("c/zvonár\u00e1.wav", b"RIFF3")
    batch = FileBatch(store, "retention")
    batch.stage([(None, "a/call one.wav"), (None, "b/call one.wav"), (None, "c/zvonár\u00e1.wav")])
    names = sorted(p.name for p in batch.folder.iterdir())
    assert names == ["000001-call_one.wav", "000002-call_one.wav", "000003-zvonár\u00e1.wav"]
    batch.rollback()
    assert store.resolve("b/call one.wav").read_bytes() == b"RIFF2"
