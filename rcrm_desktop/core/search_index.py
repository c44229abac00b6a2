"""Substring search of subjects through an index, chosen per engine.

``core.subjects`` searches ``subject.search_key`` (folded name + user ID) with
``LIKE '%word%'``. Without help that is a full scan: ≈ 1.7 s at a million
subjects on SQLite for a rare word. This module adds, where the engine has one,
an index that answers substring queries, and keeps the ``LIKE`` condition the
final judge, so results are exact on every engine whatever the index says.

* **SQLite**: an external-content FTS5 table ``subject_fts`` with the
  ``trigram`` tokenizer (``detail=none``: rowids only, the smallest index) over
  ``subject.search_key``, kept in step by triggers. ``candidate_ids`` asks it
  for the rows whose key holds the longest typed word (``LIKE`` on a trigram
  table uses the index for words of 3 characters or more) and stops at
  ``CANDIDATE_CAP + 1``. Few candidates (a rare word, ≈ 2 ms): the list query
  fetches exactly those rows and sorts them. Many (a common word): ``None``, and
  the list walks its sort index checking ``LIKE`` row by row, which finds a page
  of 200 in a few ms because every other row matches. Measured on this machine
  at 1 M rows: id-list for 5,000 candidates ≈ 50 ms, walk for a word matching
  5,000 rows ≈ 70 ms, so the cap sits near the crossing point.
* **PostgreSQL**: ``pg_trgm`` and a GIN index ``subject_search_trgm`` on
  ``search_key``; the planner uses it for ``LIKE``/``ILIKE '%word%'`` by itself.
  ``CREATE EXTENSION`` needs rights the instance user may lack: then the index
  is not made, a warning is logged and search scans (correct, slower).
* **MariaDB**: no trigram index exists (FULLTEXT/ngram is InnoDB word search
  and cannot answer an arbitrary substring), so search walks the sort index
  with ``LIKE``: fast for common words, a table scan for a rare one (see the
  README's benchmark table for the measured cost).

Privacy (erasure must leave no trace of a name): FTS5 in SQLite 3.40 has no
``secure-delete`` option; a deleted row's trigrams stay in older index segments
until they are merged. ``purge_deleted_terms`` merges every segment into one
(``'optimize'``, ≈ 1.1–1.4 s at 1 M subjects on this machine); with
``PRAGMA secure_delete=1`` the old segment pages are overwritten, so after it no
trigram of an erased subject remains in the file (``tests/unit/test_search_index.py``).
Erasure and retention call it after their commit.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import Iterator, Sequence

import peewee

from rcrm_desktop.db.connection import engine_name
from rcrm_desktop.db.models import database

log = logging.getLogger(__name__)

FTS_TABLE = "subject_fts"
PG_INDEX = "subject_search_trgm"

#: Candidate lists up to this size are fetched by id; more, and the list walks its sort index instead.
CANDIDATE_CAP = 5000

#: The trigram index answers ``LIKE`` only for words at least this long.
MIN_INDEXED_LENGTH = 3

_KINDS: weakref.WeakKeyDictionary[peewee.Database, str] = weakref.WeakKeyDictionary()

_SQLITE_OBJECTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "search_key, content='subject', content_rowid='id', tokenize='trigram', detail='none')",
    f"CREATE TRIGGER IF NOT EXISTS subject_fts_ai AFTER INSERT ON subject BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, search_key) VALUES (new.id, new.search_key); END",
    f"CREATE TRIGGER IF NOT EXISTS subject_fts_ad AFTER DELETE ON subject BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_key) VALUES ('delete', old.id, old.search_key); END",
    f"CREATE TRIGGER IF NOT EXISTS subject_fts_au AFTER UPDATE OF search_key ON subject BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_key) VALUES ('delete', old.id, old.search_key); "
    f"INSERT INTO {FTS_TABLE}(rowid, search_key) VALUES (new.id, new.search_key); END",
)


def create_objects() -> str:
    """Create the engine's search index objects for a new schema; returns the kind made.

    Runs inside the migration's transaction. On PostgreSQL the extension is
    tried in a savepoint, so refusing it does not abort the schema creation.
    """
    engine = engine_name()
    kind = "scan"
    if engine == "sqlite":
        if sqlite3.sqlite_version_info >= (3, 34, 0):
            for sql in _SQLITE_OBJECTS:
                database.execute_sql(sql)
            kind = "fts5"
        else:
            log.warning("SQLite %s has no FTS5 trigram tokenizer; subject search scans", sqlite3.sqlite_version)
    elif engine == "postgresql":
        try:
            with database.atomic():
                database.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                database.execute_sql(f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON subject "
                                     "USING gin (search_key gin_trgm_ops)")
            kind = "pg_trgm"
        except peewee.DatabaseError as exc:
            log.warning("pg_trgm is not available to this user (%s); subject search scans the table",
                        str(exc).splitlines()[0])
    _KINDS.pop(database.obj, None)
    return kind


def kind() -> str:
    """``"fts5"``, ``"pg_trgm"`` or ``"scan"``: what answers substring search on the connected instance.

    Looked up once per database object (an instance made before the index
    existed simply scans).
    """
    db = database.obj
    known = _KINDS.get(db)
    if known is not None:
        return known
    engine = engine_name()
    found = "scan"
    if engine == "sqlite":
        row = database.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                   (FTS_TABLE,)).fetchone()
        found = "fts5" if row else "scan"
    elif engine == "postgresql":
        row = database.execute_sql("SELECT 1 FROM pg_indexes WHERE indexname = %s", (PG_INDEX,)).fetchone()
        found = "pg_trgm" if row else "scan"
    _KINDS[db] = found
    return found


def _indexable(word: str) -> bool:
    return len(word) >= MIN_INDEXED_LENGTH and not any(ch in word for ch in "%_\\")


def candidate_ids(words: Sequence[str], cap: int = CANDIDATE_CAP) -> list[int] | None:
    """Ids of the subjects whose ``search_key`` may hold all ``words`` (folded), or ``None``: no narrowing.

    Only SQLite's FTS5 index is asked here (PostgreSQL's planner uses its own
    index). Uses the longest indexable word; ``None`` when no word is
    indexable, there is no index, or more than ``cap`` rows match (the caller
    then walks its sort index). The list is a superset: callers keep their
    ``LIKE`` conditions.
    """
    usable = [w for w in words if _indexable(w)]
    if not usable or kind() != "fts5":
        return None
    if cap == CANDIDATE_CAP:
        # Fetching n candidates by id costs ≈ 25 µs each, walking the sort index ≈ 1.5 µs a row and
        # 200 × rows / n rows: they cross near n = sqrt(12 × rows) (≈ 1,100 at 100k, 3,500 at 1 M).
        top = database.execute_sql("SELECT MAX(id) FROM subject").fetchone()
        cap = max(500, min(CANDIDATE_CAP, int((12 * int(top[0] or 0)) ** 0.5)))
    word = max(usable, key=len)
    # MATCH on every trigram of the word (AND) stays inside the index; LIKE on the FTS table would also
    # read each candidate's content row to re-check it (≈ 30 ms for 5,000 candidates).
    grams = sorted({word[i:i + 3] for i in range(len(word) - 2)})
    expression = " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)
    cursor = database.execute_sql(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? LIMIT ?",
                                  (expression, cap + 1))
    ids = [int(r[0]) for r in cursor.fetchall()]
    if len(ids) > cap:
        return None
    return ids


def purge_deleted_terms() -> float:
    """Merge the FTS index so no trigram of a deleted subject survives; returns the seconds it took.

    Call after the commit that deleted subjects (erasure, retention). A no-op
    (0.0) on engines and instances without the FTS5 index. Guarantee, with
    ``secure_delete`` on: afterwards the index holds only the trigrams of
    subjects that exist, and the pages of the old segments are zeroed.
    """
    if engine_name() != "sqlite" or kind() != "fts5":
        return 0.0
    started = time.perf_counter()
    from rcrm_desktop.db.models import InstanceSetting

    with database.atomic():
        database.execute_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
        InstanceSetting.delete().where(InstanceSetting.key == PURGE_PENDING_KEY).execute()
    return time.perf_counter() - started


PURGE_PENDING_KEY = "_search_index_purge_pending"


def mark_purge_needed() -> None:
    """Record, inside the transaction that deletes subjects, that the index must be purged.

    If the process dies between that commit and ``purge_deleted_terms``, the
    next ``open_instance`` sees the mark and purges (``purge_if_needed``), so
    an erased subject's trigrams never outlive a restart.
    """
    if engine_name() != "sqlite" or kind() != "fts5":
        return
    from rcrm_desktop.db.models import InstanceSetting, utcnow

    (InstanceSetting.insert(key=PURGE_PENDING_KEY, value="1", updated_at=utcnow(), updated_by=None)
     .on_conflict_replace().execute())


def purge_if_needed() -> bool:
    """Purge when a committed deletion left the mark; clears the mark in the same transaction."""
    if engine_name() != "sqlite" or kind() != "fts5":
        return False
    from rcrm_desktop.db.models import InstanceSetting

    if InstanceSetting.get_or_none(InstanceSetting.key == PURGE_PENDING_KEY) is None:
        return False
    with database.atomic():
        database.execute_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
        InstanceSetting.delete().where(InstanceSetting.key == PURGE_PENDING_KEY).execute()
    return True


@contextlib.contextmanager
def bulk_insert() -> Iterator[None]:
    """Around a bulk insert of subjects (in one transaction): index the new rows in one statement at the end.

    Row-by-row indexing by the insert trigger costs ≈ 140 µs a row on this
    machine, one ``INSERT … SELECT`` into the FTS table ≈ 20 µs. The trigger is
    dropped and re-created inside the caller's transaction (SQLite DDL is
    transactional), so a failure leaves it as it was.
    """
    if engine_name() != "sqlite" or kind() != "fts5":
        yield
        return
    row = database.execute_sql("SELECT MAX(id) FROM subject").fetchone()
    last = int(row[0]) if row and row[0] is not None else 0
    database.execute_sql("DROP TRIGGER IF EXISTS subject_fts_ai")
    yield
    database.execute_sql(_SQLITE_OBJECTS[1])
    database.execute_sql(f"INSERT INTO {FTS_TABLE}(rowid, search_key) SELECT id, search_key FROM subject "
                         "WHERE id > ?", (last,))


def rebuild() -> None:
    """Rebuild the FTS index from ``subject`` (after bulk work done with the triggers bypassed)."""
    if engine_name() == "sqlite" and kind() == "fts5":
        database.execute_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
