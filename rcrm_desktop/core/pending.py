"""Files and rows that change together: the pending-delete protocol and its start-up recovery.

ARCHITECTURE.md, privacy rules: "a crash half-way must never leave a row
without its file or a file without its row (move files to a pending-delete
area inside the store first, delete after commit, finish or undo pending work
at start-up)". Erasure (``core.erasure``) and retention use it like this::

    batch = FileBatch(store, "erasure")
    batch.stage(files, cache_sha256s)       # 1 + 2, refuses to run inside a transaction
    try:
        with database.atomic():
            ...delete or change the rows...
            batch.mark_committed()          # 3, in the same transaction
    except BaseException:
        batch.rollback()                    # files go back; nothing happened
        raise
    batch.finish()                          # 4, after the commit

1. One ``PendingFileOperation`` row for the batch (kind ``batch``, state
   ``moving``, the owning process) and one per file and cache entry are
   inserted and **committed** before any file moves: from then on the intent
   is durable.
2. Each file is renamed (``os.replace``, atomic on one file system) from the
   store into ``<store>/.pending-delete/<batch>/``; every folder a file left
   and the batch folder are fsynced once, so the renames are on disk before
   the rows change.
3. The transaction that changes the rows also marks the batch's row
   ``committed``: rows and mark commit together or not at all. One row is
   marked, not one per file: a batch counts as committed when any of its
   rows says so.
4. After the commit the pending files and the waveform cache entries are
   deleted, then the batch's rows.

``recover_pending(store)`` (called by ``core.instance.open_instance``) decides
each unfinished batch from the database alone: a batch marked ``committed`` is
finished (files deleted); otherwise the rows it was going to change are looked
up — a recording row that still exists with its path gets its file moved back,
one that is gone means the change committed and the file is deleted. Kill the
process at any instant and, after recovery, either every row and file of the
work is there or none is, and no file or ``PendingFileOperation`` row is left.

Several workstations may share one instance, so recovery never touches a batch
that may still be running: a batch belongs to a process (host name and pid);
it is *abandoned* when that process is this host's and no longer alive, or
when it was started on another host more than ``STALE_AFTER`` ago.

Waveform caches (``paths.cache_dir()/"waveforms"``, file names starting with
the audio's SHA-256) are deleted after the commit by the workstation that did
the work; ``sweep_waveform_cache`` (run by ``recover_pending``) deletes this
workstation's cache entries whose audio no recording has any more, so an
erasure done elsewhere leaves nothing in this cache after the next start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from rcrm_desktop import paths
from rcrm_desktop.core.store import TEMP_SUFFIX, RecordingsStore, _fsync_dir, sha256_of
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import PendingFileOperation, Recording, database, utcnow
from rcrm_desktop.errors import ValidationError

log = logging.getLogger(__name__)

#: Kinds of pending rows: a store file moved aside, a cache entry to delete after commit, and the
#: batch itself (its state and owner; the one row the commit marks).
STORE = "store"
CACHE = "cache"
BATCH = "batch"

#: Batch states: files are being moved (undo on recovery) / the rows changed (finish on recovery).
MOVING = "moving"
COMMITTED = "committed"

#: A batch started on another host is taken as abandoned after this long (an erasure takes seconds).
STALE_AFTER = dt.timedelta(hours=1)

#: Values looked up per ``IN (…)``, and rows inserted per statement: 9 values a row stay well under every
#: engine's limit on parameters (SQLite before 3.32: 999; later 32,766; the server engines 65,535).
CHUNK = 400
INSERT_CHUNK = 500 if sqlite3.sqlite_version_info >= (3, 32) else 100

_WAVEFORM_DIR = "waveforms"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

#: Batches this process is working on (recovery in the same process leaves them alone).
_active_batches: set[str] = set()

ProgressFn = Callable[[int, int, str], bool | None]


def waveform_cache_dir() -> Path:
    """Where the recordings' waveform cache lives (names start with the audio's SHA-256)."""
    return paths.cache_dir() / _WAVEFORM_DIR


def delete_waveform_cache(sha256: str) -> int:
    """Delete this workstation's cached waveforms of the audio with ``sha256``; returns files deleted.

    The same rule as ``core.recordings.drop_waveform_cache``, kept here so that
    erasure does not depend on that module.
    """
    if not _SHA_RE.match(sha256 or ""):
        return 0
    folder = waveform_cache_dir()
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(f"{sha256}*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_dir():
                continue
            path.unlink()
            removed += 1
    return removed


def _tuples(query: Any) -> list[tuple[Any, ...]]:
    """A query's rows as plain tuples (peewee's stubs cannot name the columns)."""
    return list(query.tuples())


def _hostname() -> str:
    return socket.gethostname()[:255]


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie counts as alive until reaped)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return False
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _abandoned(batch: str, rows: Sequence[PendingFileOperation], now: dt.datetime) -> bool:
    """Whether nobody is working on ``batch`` any more (see the module docstring)."""
    host = next((r.host for r in rows if r.host), None)
    pid = next((r.pid for r in rows if r.pid), None)
    if host is None or pid is None:
        return True  # written by an older program: nobody can be waiting for it
    if host == _hostname():
        if pid == os.getpid():
            return batch not in _active_batches
        return not _pid_alive(int(pid))
    oldest = min(r.created_at for r in rows)
    return now - oldest > STALE_AFTER


# ================================================================ a batch of file work


@dataclass(slots=True)
class StagedFile:
    """One store file of a batch: where it was, where it is now, which recording row owns it.

    ``source`` and ``target`` are absolute paths as text: a batch handles
    thousands of files, and ``os.replace``/``os.unlink`` take text directly.
    """

    recording_id: int | None
    original: str
    pending: str
    moved: bool = False
    missing: bool = False
    source: str | None = None
    target: str | None = None


#: Characters of a store path that the store refuses (``core.store._split``): control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Characters replaced in a staged file's name (it only has to tell an operator what the file was).
_UNSAFE_NAME = re.compile(r"[^\w.-]")


class _StorePaths:
    """Store paths with each folder resolved once (``RecordingsStore.resolve`` walks every component).

    The folder part goes through ``resolve`` (every rule of the store, and the
    real location inside it); the last component is checked here and never
    followed: ``os.replace`` renames a link itself, not what it points to.
    Anything unusual (no folder, a drive letter, a control character, a
    name that is ``.`` or ``..``, a path longer than the store allows) goes
    through ``resolve`` whole, so the store's own rule refuses it.
    """

    def __init__(self, store: RecordingsStore) -> None:
        self.store = store
        self.folders: dict[str, str] = {}

    def path(self, relative: str) -> str:
        key, _, name = relative.replace("\\", "/").rpartition("/")
        if (not key or name in ("", ".", "..") or ":" in relative or len(relative) > 500
                or _CONTROL.search(relative) is not None):
            return str(self.store.resolve(relative))
        folder = self.folders.get(key)
        if folder is None:
            folder = self.folders[key] = str(self.store.resolve(key))
        return folder + os.sep + name


@dataclass
class FileBatch:
    """Moves files aside before rows change, and deletes or restores them afterwards.

    Not thread-safe; one batch per operation. ``label`` starts the batch id
    (``erasure-…``) so an operator looking into the pending-delete folder knows
    what it was. Guarantees: see the module docstring.
    """

    store: RecordingsStore
    label: str = "erasure"
    id: str = ""
    files: list[StagedFile] = field(default_factory=list)
    cache_sha256: list[str] = field(default_factory=list)
    finished: bool = False
    _folder: Path | None = field(default=None, init=False, repr=False)
    _header: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = f"{self.label}-{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(5)}"

    @property
    def folder(self) -> Path:
        """``<store>/.pending-delete/<batch id>`` (worked out once: ``pending_dir`` creates the area)."""
        if self._folder is None:
            self._folder = self.store.pending_dir / self.id
        return self._folder

    def stage(self, files: Iterable[tuple[int | None, str]], cache_sha256: Iterable[str] = (),
              progress: ProgressFn | None = None) -> None:
        """Record the intent (committed), then move every file into the batch's pending folder.

        ``files`` are ``(recording id, store-relative path)``. A file already
        missing from the store is recorded and skipped (its row can still go).
        If a move fails, or ``progress`` returns ``False``, the files moved so
        far go back and ``ValidationError`` (or the cancellation) is raised:
        nothing changed. Must not run inside a transaction (the intent has to
        be committed before the first file moves).
        """
        if database.in_transaction():
            raise RuntimeError("FileBatch.stage must run outside a transaction: its intent is committed first")
        wanted = list(files)
        self.cache_sha256 = sorted({s for s in cache_sha256 if _SHA_RE.match(s or "")})
        width = max(6, len(str(len(wanted))))
        if wanted:
            folder = str(self.folder)
            relative_folder = f"{self.folder.parent.name}/{self.id}/"
            sub = _UNSAFE_NAME.sub
            for index, (recording_id, relative) in enumerate(wanted, 1):
                staged_name = f"{index:0{width}d}-" + sub("_", relative.replace("\\", "/").rpartition("/")[2][:120])
                self.files.append(StagedFile(recording_id, relative, relative_folder + staged_name,
                                             target=folder + os.sep + staged_name))
        _active_batches.add(self.id)
        try:
            self._write_intent()
            self._move_all(progress)
        except BaseException:
            self.rollback()
            raise

    def _write_intent(self) -> None:
        """One row for the batch (its state and owner) and one per file and cache entry, committed together.

        Only the batch's row changes state (``mark_committed``): recovery takes
        a batch as committed when any of its rows says so, which older programs
        reading the same instance do too.
        """
        if not self.files and not self.cache_sha256:
            return
        now = cast(Any, PendingFileOperation.created_at).db_value(utcnow())
        host, pid = _hostname(), os.getpid()
        rows = [(self.id, f.original, f.pending, now, STORE, MOVING, f.recording_id, host, pid) for f in self.files]
        rows += [(self.id, sha, "", now, CACHE, MOVING, None, host, pid) for sha in self.cache_sha256]
        with database_errors(), database.atomic():
            self._header = int(PendingFileOperation.insert(
                batch=self.id, original_path="", pending_path="", created_at=now, kind=BATCH, state=MOVING,
                recording=None, host=host, pid=pid).execute())
            _insert_rows(rows)

    def _move_all(self, progress: ProgressFn | None) -> None:
        if not self.files:
            return
        folder = self.folder
        area = os.path.realpath(folder.parent)
        if not Path(area).is_relative_to(self.store.root) or area == str(self.store.root):
            raise ValidationError(f"The pending-delete area {folder.parent} leads outside the recordings store; "
                                  "nothing was deleted.")
        folder.mkdir(exist_ok=True)
        touched = {str(folder)}
        total = len(self.files)
        store_paths = _StorePaths(self.store)
        replace = os.replace
        for done, staged in enumerate(self.files, 1):
            if progress is not None and done % 10 == 1 and progress(done - 1, total, staged.original) is False:
                raise StageCancelled("Cancelled before anything was deleted; every file is back in place.")
            source = staged.source = store_paths.path(staged.original)
            try:
                replace(source, cast(str, staged.target))
            except FileNotFoundError:
                staged.missing = True
                continue
            except OSError as exc:
                raise ValidationError(
                    f"The file of recording #{staged.recording_id} cannot be moved to the pending-delete area "
                    f"({exc.strerror or exc}); nothing was deleted. Check the recordings store's permissions "
                    "and try again."
                ) from exc
            staged.moved = True
            touched.add(os.path.dirname(source))
        for touched_folder in sorted(touched):
            _fsync_dir(Path(touched_folder))
        if progress is not None:
            progress(total, total, "")

    def mark_committed(self) -> None:
        """Call inside the transaction that changes the rows: the batch then commits with them."""
        if self._header is not None:
            PendingFileOperation.update(state=COMMITTED).where(PendingFileOperation.id == self._header).execute()
        else:  # nothing was staged: there is no row to mark, and none needed
            PendingFileOperation.update(state=COMMITTED).where(PendingFileOperation.batch == self.id).execute()

    def finish(self, progress: ProgressFn | None = None) -> int:
        """After the commit: delete the pending files and cache entries, then the batch's rows.

        Returns the number of files deleted. A failure here is harmless: the
        batch stays marked ``committed`` and the next ``recover_pending`` finishes it.
        """
        deleted = 0
        total = len(self.files)
        unlink = os.unlink
        for done, staged in enumerate(self.files, 1):
            if staged.moved and staged.target is not None:
                try:
                    unlink(staged.target)
                    deleted += 1
                except FileNotFoundError:
                    pass
            if progress is not None and done % 50 == 0:
                progress(done, total, staged.original)
        for sha in self.cache_sha256:
            delete_waveform_cache(sha)
        if self.files:
            with contextlib.suppress(OSError):
                self.folder.rmdir()
        if self._header is not None:
            with database_errors(), database.atomic():
                PendingFileOperation.delete().where(PendingFileOperation.batch == self.id).execute()
        self.finished = True
        _active_batches.discard(self.id)
        return deleted

    def rollback(self) -> None:
        """The rows did not change: move every moved file back, then forget the batch.

        Restoring the files never needs the database; if forgetting the batch
        fails (the server went away), the next recovery sees the rows still
        there and only deletes the batch's rows.
        """
        try:
            for staged in reversed(self.files):
                if not staged.moved:
                    continue
                source = staged.target or str(self.store.resolve(staged.pending))
                target = staged.source or str(self.store.resolve(staged.original))
                if not os.path.exists(target):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.replace(source, target)
                staged.moved = False
            if self.files:
                with contextlib.suppress(OSError):
                    self.folder.rmdir()
            with contextlib.suppress(Exception), database_errors(), database.atomic():
                PendingFileOperation.delete().where(PendingFileOperation.batch == self.id).execute()
        finally:
            _active_batches.discard(self.id)


#: The columns of the intent rows ``_insert_rows`` writes, in the order of its tuples.
_INTENT_COLUMNS = ("batch", "original_path", "pending_path", "created_at", "kind", "state", "recording", "host",
                   "pid")


def _insert_rows(rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert ``PendingFileOperation`` rows (``_INTENT_COLUMNS`` tuples of database values) in multi-row statements.

    The same parameterised ``INSERT … VALUES (…), (…)`` peewee's ``insert_many``
    sends, without its per-value SQL generation (most of a purge's CPU time
    for thousands of files); the statement is built once per chunk size.
    """
    if not rows:
        return
    db = database.obj
    opening, closing = db.quote[0], db.quote[-1]
    meta = PendingFileOperation._meta
    columns = ", ".join(f"{opening}{meta.fields[name].column_name}{closing}" for name in _INTENT_COLUMNS)
    head = f"INSERT INTO {opening}{meta.table_name}{closing} ({columns}) VALUES "
    row_sql = "(" + ", ".join([db.param] * len(_INTENT_COLUMNS)) + ")"
    statements: dict[int, str] = {}
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        sql = statements.get(len(chunk))
        if sql is None:
            sql = statements[len(chunk)] = head + ", ".join([row_sql] * len(chunk))
        database.execute_sql(sql, [value for row in chunk for value in row])


class StageCancelled(ValidationError):
    """The operator cancelled while files were being moved aside; everything was put back."""


# ================================================================ recovery at start-up


@dataclass
class RecoveryReport:
    """What ``recover_pending`` did (numbers only: it is logged)."""

    finished_batches: int = 0
    undone_batches: int = 0
    running_batches: int = 0
    files_deleted: int = 0
    files_restored: int = 0
    orphans_deleted: int = 0
    cache_files_deleted: int = 0

    @property
    def changed(self) -> bool:
        return any((self.finished_batches, self.undone_batches, self.files_deleted, self.files_restored,
                    self.orphans_deleted, self.cache_files_deleted))


def recover_pending(store: RecordingsStore, *, sweep_cache: bool = True) -> RecoveryReport:
    """Finish or undo the file work an interrupted erasure or purge left behind (see the module docstring).

    Safe to call at any time and idempotent: batches still being worked on by a
    live process are left alone. Needs no operator: it runs while an instance is
    opened and only completes work an authorised operator started.
    """
    report = RecoveryReport()
    now = utcnow()
    with database_errors():
        batches = [str(r[0]) for r in _tuples(PendingFileOperation.select(PendingFileOperation.batch).distinct())]
    for batch in batches:
        with database_errors():
            rows = list(PendingFileOperation.select().where(PendingFileOperation.batch == batch)
                        .order_by(PendingFileOperation.id))
        if not rows:
            continue
        if not _abandoned(batch, rows, now):
            report.running_batches += 1
            continue
        if any(r.state == COMMITTED for r in rows):
            _finish_rows(store, batch, rows, report)
            report.finished_batches += 1
        else:
            _undo_rows(store, batch, rows, report)
            report.undone_batches += 1
    _sweep_pending_folder(store, report)
    if sweep_cache:
        report.cache_files_deleted += sweep_waveform_cache()
    if report.changed:
        log.info("Recovered pending file work: %d finished, %d undone, %d files deleted, %d restored, "
                 "%d orphans, %d cache files", report.finished_batches, report.undone_batches,
                 report.files_deleted, report.files_restored, report.orphans_deleted, report.cache_files_deleted)
    return report


def _pending_file(store: RecordingsStore, relative: str) -> Path | None:
    try:
        return store.resolve(relative)
    except ValidationError:
        log.warning("A pending-delete row names a path outside the store; it is ignored")
        return None


def _finish_rows(store: RecordingsStore, batch: str, rows: Sequence[PendingFileOperation],
                 report: RecoveryReport) -> None:
    for row in rows:
        if row.kind == CACHE:
            report.cache_files_deleted += delete_waveform_cache(row.original_path)
            continue
        pending = _pending_file(store, row.pending_path) if row.pending_path else None
        if pending is not None:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
                report.files_deleted += 1
    with contextlib.suppress(OSError):
        (store.pending_dir / batch).rmdir()
    _forget(batch)


def _row_still_there(row: PendingFileOperation) -> bool:
    query = Recording.select(Recording.id).where(Recording.path == row.original_path)
    if row.recording is not None:
        query = query.where(Recording.id == row.recording)
    return bool(query.exists())


def _undo_rows(store: RecordingsStore, batch: str, rows: Sequence[PendingFileOperation],
               report: RecoveryReport) -> None:
    for row in rows:
        if row.kind == CACHE or not row.pending_path:
            continue  # cache entries are only deleted after a commit
        pending = _pending_file(store, row.pending_path)
        if pending is None or not pending.exists():
            continue  # never moved (or already back)
        with database_errors():
            kept = _row_still_there(row)
        if not kept:
            # The rows changed without the mark (an older writer): the file's row is gone, so is the file.
            pending.unlink()
            report.files_deleted += 1
            continue
        try:
            original = store.resolve(row.original_path)
        except ValidationError:
            continue
        if original.exists():
            pending.unlink()  # the row's file is in place; the pending copy is surplus
            report.files_deleted += 1
            continue
        original.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending, original)
        _fsync_dir(original.parent)
        report.files_restored += 1
    with contextlib.suppress(OSError):
        (store.pending_dir / batch).rmdir()
    _forget(batch)


def _forget(batch: str) -> None:
    with database_errors(), database.atomic():
        PendingFileOperation.delete().where(PendingFileOperation.batch == batch).execute()


def _sweep_pending_folder(store: RecordingsStore, report: RecoveryReport) -> None:
    """Delete batch folders of the pending-delete area that no ``PendingFileOperation`` row names.

    Every file is staged only after its row was committed, and rows are deleted
    only after their files, so such a folder can only be the remains of a
    finished batch (or something copied there by hand): nothing a row needs.
    """
    root = store.root / store.pending_dir.name
    if not root.is_dir():
        return
    with database_errors():
        known = {str(r[0]) for r in _tuples(PendingFileOperation.select(PendingFileOperation.batch).distinct())}
    for entry in root.iterdir():
        if entry.name in known:
            continue
        with database_errors():
            # A batch commits its rows before its folder exists: asked again now, a batch that
            # started after ``known`` was read is seen, so its files are never taken for remains.
            if PendingFileOperation.select().where(PendingFileOperation.batch == entry.name).exists():
                continue
        if entry.is_dir() and not entry.is_symlink():
            for path in sorted(entry.rglob("*"), reverse=True):
                with contextlib.suppress(OSError):
                    if path.is_dir() and not path.is_symlink():
                        path.rmdir()
                    else:
                        path.unlink()
                        report.orphans_deleted += 1
            with contextlib.suppress(OSError):
                entry.rmdir()
        else:
            if _restore_redaction_backup(store, entry):
                report.files_restored += 1
                continue
            with contextlib.suppress(OSError):
                entry.unlink()
                report.orphans_deleted += 1


_REDACTION_BACKUP = re.compile(r"^redact-(\d+)-[0-9a-f]+" + re.escape(TEMP_SUFFIX) + "$")


def _restore_redaction_backup(store: RecordingsStore, entry: Path) -> bool:
    """Put back the audio a redaction set aside when the process died before its transaction committed.

    Redaction keeps the old file in the pending-delete area as
    ``redact-<recording id>-<random>.part`` while its transaction runs and
    replaces the stored file. If the row still names the old hash and the
    stored file does not match it but the set-aside copy does, the rows were
    rolled back: the copy goes back. In every other case the copy is stale and
    is deleted by the caller (the redaction committed, or the recording is gone).
    """
    match = _REDACTION_BACKUP.match(entry.name)
    if match is None or not entry.is_file():
        return False
    with database_errors():
        row = Recording.get_or_none(Recording.id == int(match.group(1)))
    if row is None:
        return False
    try:
        target = store.resolve(row.path)
    except ValidationError:
        return False
    if target.is_file() and sha256_of(target) == row.sha256:
        return False
    if sha256_of(entry) != row.sha256:
        return False
    os.replace(entry, target)
    _fsync_dir(target.parent)
    log.warning("Restored recording #%d: a redaction was interrupted before it was committed", row.id)
    return True


def sweep_waveform_cache() -> int:
    """Delete this workstation's cached waveforms of audio that no recording has any more.

    Cache file names start with the audio's SHA-256; an entry whose hash is
    neither a recording's ``sha256`` nor its ``original_sha256`` belongs to
    audio that was erased or purged (perhaps on another workstation). It is a
    cache: anything deleted by mistake is simply computed again.
    """
    folder = waveform_cache_dir()
    if not folder.is_dir():
        return 0
    by_sha: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        sha = path.name[:64]
        if path.is_file() and _SHA_RE.match(sha):
            by_sha.setdefault(sha, []).append(path)
    if not by_sha:
        return 0
    known: set[str] = set()
    hashes = sorted(by_sha)
    with database_errors():
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start:start + CHUNK]
            for sha, original in _tuples(Recording.select(Recording.sha256, Recording.original_sha256).where(
                    Recording.sha256.in_(chunk) | Recording.original_sha256.in_(chunk))):
                known.add(str(sha))
                known.add(str(original))
    removed = 0
    for sha, files in by_sha.items():
        if sha in known:
            continue
        for path in files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


__all__ = [
    "BATCH",
    "CACHE",
    "COMMITTED",
    "FileBatch",
    "MOVING",
    "RecoveryReport",
    "STALE_AFTER",
    "STORE",
    "StageCancelled",
    "delete_waveform_cache",
    "recover_pending",
    "sweep_waveform_cache",
    "waveform_cache_dir",
]
