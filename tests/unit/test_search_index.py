"""Substring search through the engine's index (core.search_index) stays exact, and erasure leaves no trigram."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcrm_desktop.core import search_index, subjects
from rcrm_desktop.db.models import Subject, database
from tests.conftest import Instance

#: A name whose first trigrams start with letters no other key of these tests starts a trigram with, so
#: FTS5's prefix compression of adjacent terms stores them verbatim (the raw-byte checks can see them).
RARE_NAME = "Qxžwyvk"
RARE_TRIGRAMS = [b"qxz", b"xzw"]


def _add(name: str, user_id: str) -> int:
    row = Subject.create(user_id=user_id, name=name, name_key=subjects.fold(name)[:200],
                         search_key=subjects.make_search_key(name, user_id))
    return int(row.id)


def _names(rows: list[subjects.SubjectRow]) -> list[str]:
    return [r.name for r in rows]


def _fill() -> None:
    with database.atomic():
        for i in range(60):
            _add(f"Novák {i:02d} Šťastný", f"U-{i:05d}")
        _add("Anna Nováková", "ANNA-1")
        _add("Petr Dvořák", "PD-2")


def test_index_kind_per_engine(instance: Instance) -> None:
    expected = {"sqlite": "fts5", "postgres": "pg_trgm", "mysql": "scan"}[instance.engine]
    assert search_index.kind() == expected


@pytest.mark.parametrize("plan", ["chosen", "ids", "member", "walk"])
def test_search_is_exact_through_candidates_and_walk(instance: Instance, monkeypatch: pytest.MonkeyPatch,
                                                     plan: str) -> None:
    """Candidates by id, the membership walk and the plain walk give the same, exact answer on every engine."""
    if plan == "ids":  # every candidate set is fetched by id and sorted
        monkeypatch.setattr(search_index, "SORT_CANDIDATES_MAX", 10**9)
        monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)
    elif plan == "member":  # every candidate set is walked for membership
        monkeypatch.setattr(search_index, "SORT_CANDIDATES_MAX", 0)
        monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)
    elif plan == "walk":  # every search walks the sort index checking LIKE
        monkeypatch.setattr(search_index, "DENSE_SHARE", 0.0)
        monkeypatch.setattr(search_index, "SORT_CANDIDATES_MAX", 0)
    _fill()
    actor = instance.support
    assert _names(subjects.list_subjects(actor, "DVORAK", audit_view=False)) == ["Petr Dvořák"]
    assert _names(subjects.list_subjects(actor, "novakova", audit_view=False)) == ["Anna Nováková"]
    assert len(subjects.list_subjects(actor, "novak", audit_view=False, limit=500)) == 61
    assert len(subjects.list_subjects(actor, "stastny novak", audit_view=False, limit=500)) == 60
    assert _names(subjects.list_subjects(actor, "u-0004", audit_view=False, limit=500)) == [
        f"Novák {i:02d} Šťastný" for i in range(40, 50)]
    assert subjects.list_subjects(actor, "zzzz", audit_view=False) == []
    # wildcards typed by a person match themselves, never everything
    assert subjects.list_subjects(actor, "%%%", audit_view=False) == []
    # keyset pages through a narrowed search do not skip or repeat
    seen: list[int] = []
    after = None
    while True:
        page = subjects.list_subjects(actor, "nov", audit_view=False, limit=7, after=after)
        seen += [r.id for r in page]
        if len(page) < 7:
            break
        after = subjects.page_key(page[-1], "name")
    assert len(seen) == len(set(seen)) == 61
    counts = subjects.subject_counts(actor, "novak")
    assert counts.matching == 61


def test_rectified_name_is_found_by_its_new_name_only(instance: Instance) -> None:
    _fill()
    target = subjects.list_subjects(instance.compliance, "dvorak", audit_view=False)[0]
    subjects.rectify_subject(instance.compliance, target.id, "name", "Petra Horáková", "married")
    assert _names(subjects.list_subjects(instance.support, "horakova", audit_view=False)) == ["Petra Horáková"]
    assert subjects.list_subjects(instance.support, "dvorak", audit_view=False) == []


def _fts_blob() -> bytes:
    rows = database.execute_sql(f"SELECT block FROM {search_index.FTS_TABLE}_data").fetchall()
    return b"".join(bytes(r[0]) for r in rows if r[0] is not None)


def test_deleted_subject_leaves_no_trigram_after_purge(sqlite_instance: Instance) -> None:
    """Privacy: after a subject is deleted and the hook runs, none of its trigrams is in the index or the file."""
    _fill()
    with database.atomic():
        for i in range(30):
            _add(f"Later Person {i}", f"L-{i}")
    search_index.purge_deleted_terms()  # one segment: no crisis merge below hides what FTS5 keeps
    gone = _add(RARE_NAME, "R-1")
    assert _names(subjects.list_subjects(sqlite_instance.support, "xzwyv", audit_view=False)) == [RARE_NAME]
    # the control: the raw-byte check sees the trigrams while the subject exists
    assert all(t in _fts_blob() for t in RARE_TRIGRAMS)
    # worst case: no automatic merging, so nothing but the purge can drop the deleted row's terms
    database.execute_sql(f"INSERT INTO {search_index.FTS_TABLE}({search_index.FTS_TABLE}, rank) "
                         "VALUES ('automerge', 0)")
    Subject.delete().where(Subject.id == gone).execute()
    # FTS5 (3.40, no secure-delete) keeps a deleted row's terms in older segments until they are merged
    assert all(t in _fts_blob() for t in RARE_TRIGRAMS)
    assert search_index.purge_deleted_terms() >= 0.0
    after = _fts_blob()
    assert not [t for t in RARE_TRIGRAMS if t in after]
    database.execute_sql(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.subject_fts_vocab USING fts5vocab(main, subject_fts, 'row')")
    vocab_terms = {r[0] for r in database.execute_sql("SELECT term FROM temp.subject_fts_vocab").fetchall()}
    assert not vocab_terms & {t.decode() for t in RARE_TRIGRAMS}
    assert "nov" in vocab_terms
    # and in the file itself (secure_delete zeroes the old segments' pages)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db_path = Path(database.obj.database)
    data = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    assert subjects.fold(RARE_NAME).encode() not in data
    assert not [t for t in RARE_TRIGRAMS if t in data]
    # search still works after the merge
    assert len(subjects.list_subjects(sqlite_instance.support, "novak", audit_view=False, limit=500)) == 61


def test_candidates_narrow_a_rare_word_and_give_up_on_a_common_one(sqlite_instance: Instance,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _fill()
    assert search_index.narrowing(["no"]) is None  # every key holds it: the sort index is walked
    monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)  # count every word's candidates
    rare = search_index.narrowing(["dvorak"])
    assert rare is not None and rare.strategy == "ids"
    matched = [int(r[0]) for r in database.execute_sql(
        f"SELECT rowid FROM {search_index.FTS_TABLE} WHERE {search_index.FTS_TABLE} MATCH ? ORDER BY rowid",
        (rare.match,)).fetchall()]
    assert matched == sorted(r.id for r in subjects.list_subjects(sqlite_instance.support, "dvorak",
                                                                 audit_view=False))
    monkeypatch.setattr(search_index, "SORT_CANDIDATES_MAX", 10)
    common = search_index.narrowing(["novak"])
    assert common is None or common.strategy != "ids"
    quoted = search_index.narrowing(['zz"q'])  # a quote in the word is quoted, not a syntax error
    assert quoted is not None and quoted.strategy == "none"


def test_purge_is_a_no_op_without_fts(instance: Instance) -> None:
    if instance.engine == "sqlite":
        pytest.skip("SQLite has the FTS index")
    assert search_index.purge_deleted_terms() == 0.0


def test_a_purge_interrupted_by_a_crash_runs_at_the_next_start(sqlite_instance: Instance) -> None:
    """The deletion's transaction leaves a mark; open_instance purges when it finds one."""
    from rcrm_desktop.core.instance import open_instance
    from rcrm_desktop.db import connection
    from rcrm_desktop.db.models import InstanceSetting

    _fill()
    search_index.purge_deleted_terms()
    gone = _add(RARE_NAME, "R-1")
    database.execute_sql(f"INSERT INTO {search_index.FTS_TABLE}({search_index.FTS_TABLE}, rank) "
                         "VALUES ('automerge', 0)")
    with database.atomic():
        Subject.delete().where(Subject.id == gone).execute()
        search_index.mark_purge_needed()
    # the process "dies" here: no purge_deleted_terms()
    assert all(t in _fts_blob() for t in RARE_TRIGRAMS)
    connection.close()
    open_instance(sqlite_instance.url)
    assert not [t for t in RARE_TRIGRAMS if t in _fts_blob()]
    assert InstanceSetting.get_or_none(InstanceSetting.key == search_index.PURGE_PENDING_KEY) is None
    assert search_index.purge_if_needed() is False
