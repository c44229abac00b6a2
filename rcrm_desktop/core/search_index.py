"""Substring search of subjects through an index, chosen per engine.

``core.subjects`` searches ``subject.search_key`` (folded name + user ID) with
``LIKE '%word%'``. Without help that is a full scan: ≈ 1.7 s at a million
subjects on SQLite for a rare word. This module adds, where the engine has one,
an index that answers substring queries, and keeps the ``LIKE`` condition the
final judge, so results are exact on every engine whatever the index says.

* **SQLite**: an external-content FTS5 table ``subject_fts`` with the
  ``trigram`` tokenizer (``detail=none``: rowids only, the smallest index) over
  ``subject.search_key``, kept in step by triggers. ``narrowing`` picks the
  cheapest exact plan for a page (measured at 1 M subjects on this machine):
  a word a sampled tenth of keys holds walks the sort index checking ``LIKE``
  (a page lies within ≈ 2,000 rows); otherwise the FTS match (each word's
  three rarest trigrams: a trigram every key holds, such as ``s-0``, costs
  ≈ 15 ms and narrows nothing) is counted: up to 12,000 candidates are
  fetched by id and sorted (≈ 2 µs each), more are kept while walking the
  sort index (``+id IN (…)``, built once, ≈ 0.2 µs a candidate). A word of
  two characters has no trigram of its own; it is narrowed by every trigram
  that starts or ends with it (from the index's vocabulary), so ``sm`` costs
  what ``smi`` does instead of a scan (1.4 s before). One character still
  walks (every letter but a rare one fills a page at once).
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
import random
import sqlite3
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import peewee

from rcrm_desktop.db.connection import engine_name
from rcrm_desktop.db.models import database

log = logging.getLogger(__name__)

FTS_TABLE = "subject_fts"
PG_INDEX = "subject_search_trgm"

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


#: Up to this many candidates, the list fetches them by id and sorts them (≈ 2 µs each at 1 M subjects).
SORT_CANDIDATES_MAX = 12_000

#: A search whose words the sample says at least this share of subjects hold walks the sort index checking
#: ``LIKE``: a page of 200 is then expected within ≈ 2,000 rows, cheaper than building any candidate set.
DENSE_SHARE = 0.10

#: Subjects sampled (spread over the id range) to estimate how common a word is.
SAMPLE_SIZE = 2000

#: Trigrams of one word used in the FTS match: its rarest ones. Trigrams every key holds (``s-0`` of a user
#: ID) make an FTS5 ``AND`` read their whole doclist (≈ 15 ms each at 1 M subjects) and narrow nothing.
TRIGRAMS_PER_WORD = 3

#: Trigrams at least this share of keys hold are left out of the match (unless a word has no other).
COMMON_TRIGRAM_SHARE = 0.3

VOCAB_TABLE = f"temp.{FTS_TABLE}_vocab"

#: Per database: (FTS structure record, the characters that start a trigram of the index).
_FIRST_CHARS: weakref.WeakKeyDictionary[peewee.Database, tuple[bytes, str]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class GramSample:
    """How many of ``size`` sampled subjects' keys hold each 1-, 2- and 3-character string.

    Counts only: no key (no name) is kept. An estimate for choosing a plan,
    never for deciding which rows match.
    """

    size: int
    top_id: int
    counts: dict[str, int]

    def share(self, word: str) -> float:
        """Estimated share of subjects whose key holds ``word`` (for a longer word: its rarest trigram's)."""
        if self.size == 0:
            return 0.0
        if len(word) <= 3:
            return self.counts.get(word, 0) / self.size
        return min(self.counts.get(word[i:i + 3], 0) for i in range(len(word) - 2)) / self.size

    def chain_share(self, word: str) -> float:
        """A closer estimate for a longer word: its first trigram's share, times, for each next trigram, the
        share of keys holding it among those holding the two letters it shares with the one before.

        ``share`` bounds a longer word by its rarest trigram, which for ``00001`` (``000``, ``001``) or
        ``novak`` is far too high; this chain (an n-gram model over the sample's key counts) is an estimate,
        not a bound, good enough to choose a plan — results never depend on it.
        """
        if self.size == 0 or len(word) <= 3:
            return self.share(word)
        estimate = self.counts.get(word[:3], 0) / self.size
        for i in range(1, len(word) - 2):
            pair = self.counts.get(word[i:i + 2], 0)
            estimate *= min(1.0, self.counts.get(word[i:i + 3], 0) / pair) if pair else 0.0
        return estimate


_SAMPLES: weakref.WeakKeyDictionary[peewee.Database, GramSample] = weakref.WeakKeyDictionary()


def gram_sample() -> GramSample:
    """The cached sample of the connected instance, taken again when the subject table has doubled or halved."""
    row = database.execute_sql("SELECT MAX(id) FROM subject").fetchone()
    top = int(row[0] or 0) if row else 0
    db = database.obj
    sample = _SAMPLES.get(db)
    if sample is not None and sample.top_id // 2 <= top <= max(1, sample.top_id) * 2:
        return sample
    rng = random.Random(top)
    ids = rng.sample(range(1, top + 1), min(top, SAMPLE_SIZE)) if top else []
    counts: dict[str, int] = {}
    size = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join([database.param] * len(chunk))
        for (key,) in database.execute_sql(f"SELECT search_key FROM subject WHERE id IN ({marks})", chunk):
            size += 1
            text = str(key)
            grams = {text[i:i + n] for n in (1, 2, 3) for i in range(len(text) - n + 1)}
            for gram in grams:
                counts[gram] = counts.get(gram, 0) + 1
    sample = GramSample(size, top, counts)
    _SAMPLES[db] = sample
    return sample


@dataclass(frozen=True)
class Narrowing:
    """How a search narrows the subjects through the index; the ``LIKE`` conditions stay the final judge.

    ``strategy``:

    * ``"ids"``: few candidates: fetch the rows whose id the FTS match returns and sort them;
    * ``"member"``: more: walk the sort index, keep rows in the FTS match (the set is built once, and the
      walk reads only index entries for rows that do not match);
    * ``"none"``: the FTS match is empty, so nothing matches.
    """

    strategy: str
    match: str
    candidates: int


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def _trigram_group(word: str, sample: GramSample) -> str | None:
    """An FTS5 expression every row whose key holds ``word`` matches (a superset), or ``None``: no index use.

    Three characters or more: its ``TRIGRAMS_PER_WORD`` rarest trigrams (AND). Two characters: any trigram
    that starts with the pair (read from the index's vocabulary) or ends with it (one per character that
    starts a trigram of the index): an occurrence at the very end of a key has the second kind, any other
    the first. ``""`` when no trigram holds the pair, so no row matches.
    """
    if any(ch in word for ch in "%_\\"):
        return None
    if len(word) >= MIN_INDEXED_LENGTH:
        grams = sorted(sorted({word[i:i + 3] for i in range(len(word) - 2)}), key=lambda g: sample.counts.get(g, 0))
        limit = COMMON_TRIGRAM_SHARE * sample.size
        chosen = [g for g in grams if sample.counts.get(g, 0) < limit][:TRIGRAMS_PER_WORD] or grams[:1]
        return " AND ".join(_quoted(g) for g in sorted(chosen))
    if len(word) != 2:
        return None
    first = _first_chars()
    found = {str(r[0]) for r in database.execute_sql(
        f"SELECT term FROM {VOCAB_TABLE} WHERE term >= ? AND term <= ?", (word, word + "\U0010ffff")).fetchall()}
    found = {g for g in found if g.startswith(word)}
    found.update(ch + word for ch in first)
    if not found:
        return ""
    return "(" + " OR ".join(_quoted(g) for g in sorted(found)) + ")"


def _first_chars() -> str:
    """Every character that starts a trigram of the index, recomputed when the index changed.

    A skip scan of the vocabulary (one term per character, ≈ 0.1 s at a million subjects); the FTS5
    structure record changes with every write to the index, so a cached answer is never stale.
    """
    database.execute_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {VOCAB_TABLE} USING fts5vocab(main, {FTS_TABLE}, "
                         "'row')")
    row = database.execute_sql(f"SELECT block FROM {FTS_TABLE}_data WHERE id = 10").fetchone()
    cookie = bytes(row[0]) if row and row[0] is not None else b""
    db = database.obj
    cached = _FIRST_CHARS.get(db)
    if cached is not None and cached[0] == cookie:
        return cached[1]
    chars: list[str] = []
    bound = ""
    while True:
        term = database.execute_sql(f"SELECT term FROM {VOCAB_TABLE} WHERE term >= ? LIMIT 1", (bound,)).fetchone()
        if term is None or not term[0]:
            break
        first = str(term[0])[0]
        chars.append(first)
        if ord(first) >= 0x10FFFF:
            break
        bound = chr(ord(first) + 1)
    found = "".join(chars)
    _FIRST_CHARS[db] = (cookie, found)
    return found


def narrowing(words: Sequence[str]) -> Narrowing | None:
    """How the SQLite FTS5 index narrows a search for ``words`` (folded), or ``None``: walk checking ``LIKE``.

    A word common enough (``DENSE_SHARE`` of a sample) means a page lies near the start of the sort order,
    so the plain walk wins (the sample's share is exact for words of up to three characters; for longer
    ones it is its rarest trigram's, an upper bound, so they are counted). Otherwise all words of two
    characters or more contribute trigrams (AND, so ``jan novak`` narrows by both), and the candidates are
    counted, up to the dense share of the table (the count stays inside the index), to choose between
    sorting them, the membership walk, and the plain walk.
    """
    if kind() != "fts5":
        return None
    unique = [w for w in dict.fromkeys(words) if w]
    sample = gram_sample()
    if not unique:
        return None
    if all(len(w) <= 3 for w in unique):
        share = min(sample.share(w) for w in unique)
        if share >= DENSE_SHARE:
            return None
        if share * sample.top_id > SORT_CANDIDATES_MAX and any(len(w) < MIN_INDEXED_LENGTH for w in unique):
            # a pair's candidate set is a union of ~100 trigram doclists: building it costs more than the walk
            return None
    groups = []
    for word in unique:
        group = _trigram_group(word, sample)
        if group == "":
            return Narrowing("none", "", 0)
        if group is not None:
            groups.append(group)
    if not groups:
        return None
    expression = " AND ".join(groups)
    dense = max(SORT_CANDIDATES_MAX, int(DENSE_SHARE * sample.top_id))
    row = database.execute_sql(f"SELECT count(*) FROM (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ? "
                               "LIMIT ?)", (expression, dense + 1)).fetchone()
    count = int(row[0])
    if count == 0:
        return Narrowing("none", expression, 0)
    if count <= SORT_CANDIDATES_MAX:
        return Narrowing("ids", expression, count)
    if count <= dense:
        return Narrowing("member", expression, count)
    return None


def match_subquery(expression: str) -> peewee.SQL:
    """``(SELECT rowid FROM subject_fts WHERE subject_fts MATCH ?)``, the right side of an ``IN``."""
    return peewee.SQL(f"(SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)", [expression])


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
