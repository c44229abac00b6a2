"""Search as you type stays exact whichever plan ``core.search_index.narrowing`` picks.

The reference is the plain scan the program used to run for every search:
every folded word a substring of ``search_key``, ordered by (name_key, id),
one page. Short words (one or two characters), user-ID fragments, pairs that
occur only at the very end of a key, several words and keyset paging all give
the same rows in the same order as that scan.
"""

from __future__ import annotations

import random

import pytest

from rcrm_desktop.core import search_index, subjects
from rcrm_desktop.core.text import like_escape
from rcrm_desktop.db.models import Subject, database
from tests.conftest import Instance

FIRST = ["Jan", "Jana", "Petr", "Eva", "Zoë", "Łukasz", "Šimon", "Anna", "Oskar", "Smila", "Ondřej", "Ho"]
LAST = ["Novák", "Nováková", "Horváth", "Kováčová", "Smith", "Dvořák", "Ňo", "Müller", "Øster", "Qi", "Noskov"]
TERMS = [
    "n", "no", "ov", "sm", "ho", "q", "zq", "ab", "xy", "k-", "7", "07", "-0", "ň", "Ø", "oe",
    "nov", "novak", "smith", "horvath", "kovacova", "stastny", "u-00", "u-001", "0012", "cust-ab", "-ab",
    "jan nov", "ana ov", "zz", "%", "_a", "no sm", "mu",
]


def _reference(words: list[str], limit: int) -> list[int]:
    query = Subject.select(Subject.id)
    for word in words:
        query = query.where(Subject.search_key.contains(word))
    return [r.id for r in query.order_by(Subject.name_key, Subject.id).limit(limit)]


def _fill(count: int = 400) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        user_id = f"U-{i:05d}" if i % 5 else f"CUST-{rng.choice(['AB', 'XY', 'QA', 'N7'])}{i}"
        if i % 17 == 0:
            user_id = f"C{i}-AB"  # a pair only at the very end of the key
        rows.append({"user_id": user_id, "name": name, "name_key": subjects.fold(name)[:200],
                     "search_key": subjects.make_search_key(name, user_id)})
    with database.atomic():
        for row in rows:
            Subject.create(**row)


@pytest.mark.parametrize("plan", ["chosen", "ids", "member"])
def test_every_term_gives_the_rows_of_the_plain_scan(instance: Instance, monkeypatch: pytest.MonkeyPatch,
                                                     plan: str) -> None:
    if plan != "chosen":
        monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)
        monkeypatch.setattr(search_index, "SORT_CANDIDATES_MAX", 10**9 if plan == "ids" else 0)
    _fill()
    for term in TERMS:
        words = subjects.fold(term).split(" ")
        for limit in (5, 200):
            got = [r.id for r in subjects.list_subjects(instance.support, term, audit_view=False, limit=limit)]
            assert got == _reference(words, limit), (term, limit)


def test_keyset_pages_of_a_short_term_neither_skip_nor_repeat(instance: Instance) -> None:
    _fill()
    for term in ("no", "sm", "-ab", "u-0"):
        seen: list[int] = []
        after = None
        while True:
            page = subjects.list_subjects(instance.support, term, audit_view=False, limit=9, after=after)
            seen += [r.id for r in page]
            if len(page) < 9:
                break
            after = subjects.page_key(page[-1], "name")
        assert seen == _reference(subjects.fold(term).split(" "), 10_000), term


def test_a_pair_is_narrowed_by_trigrams_on_both_sides(sqlite_instance: Instance,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-character word is narrowed through the trigram index, including an occurrence at a key's end."""
    monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)
    _fill()
    plan = search_index.narrowing(["ab"])
    assert plan is not None and plan.strategy == "ids"
    matches = {r[0] for r in database.execute_sql(
        "SELECT id FROM subject WHERE search_key LIKE ?", (f"%{like_escape('ab')}%",)).fetchall()}
    ends = {r[0] for r in database.execute_sql("SELECT id FROM subject WHERE search_key LIKE '%ab'").fetchall()}
    assert ends and ends <= matches
    candidates = {r[0] for r in database.execute_sql(
        f"SELECT rowid FROM {search_index.FTS_TABLE} WHERE {search_index.FTS_TABLE} MATCH ?",
        (plan.match,)).fetchall()}
    assert matches <= candidates
    nothing = search_index.narrowing(["zq"])
    assert nothing is not None and nothing.strategy == "none"


def test_a_new_character_is_seen_by_the_next_pair_search(sqlite_instance: Instance,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached characters that start a trigram follow the index: a new subject's key is found at once."""
    monkeypatch.setattr(search_index, "DENSE_SHARE", 2.0)
    _fill(50)
    assert subjects.list_subjects(sqlite_instance.support, "ab", audit_view=False)
    Subject.create(user_id="Ж9AB", name="Борис", name_key=subjects.fold("Борис"),
                   search_key=subjects.make_search_key("Борис", "Ж9AB"))
    ids = [r.user_id for r in subjects.list_subjects(sqlite_instance.support, "9a", audit_view=False)]
    assert ids == ["Ж9AB"]


@pytest.mark.parametrize("plan", ["trigram", "walk"])
def test_postgres_plans_give_the_rows_of_the_plain_scan(instance: Instance, monkeypatch: pytest.MonkeyPatch,
                                                        plan: str) -> None:
    """On PostgreSQL each forced plan (pg_trgm bitmap, or the name-index walk) returns the plain scan's page."""
    if instance.engine != "postgres" or search_index.kind() != "pg_trgm":
        pytest.skip("the pg_trgm plans are PostgreSQL's")
    _fill()
    monkeypatch.setattr(subjects, "_postgres_plan", lambda search, sort: plan if search else None)
    for term in TERMS:
        words = subjects.fold(term).split(" ")
        if not all(words):
            continue
        got = [r.id for r in subjects.list_subjects(instance.compliance, term, limit=50, audit_view=False)]
        assert got == _reference(words, 50), term
    assert database.execute_sql("SHOW enable_seqscan").fetchone()[0] == "on"  # nothing leaks past the page


def test_postgres_plan_choice_follows_the_key_sample(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    if instance.engine != "postgres" or search_index.kind() != "pg_trgm":
        pytest.skip("the pg_trgm plans are PostgreSQL's")
    _fill()
    # 400 subjects: the bounds scaled down from a million (15,000 and 2,000 matches).
    monkeypatch.setattr(subjects, "PG_TRIGRAM_MAX_MATCHES", 6)
    monkeypatch.setattr(subjects, "PG_TRIGRAM_SURE_MATCHES", 1)
    assert subjects._postgres_plan("u-0", "name") == "walk"  # most keys hold it
    assert subjects._postgres_plan("zzqx", "name") == "trigram"  # none does
    assert subjects._postgres_plan("zq", "name") is None  # two letters: no trigram to ask
    assert subjects._postgres_plan(None, "name") is None


def test_mysql_table_scan_gives_the_rows_of_the_plain_scan(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """On MariaDB a rare word reads the table instead of walking the name index: the same page either way."""
    if instance.engine != "mysql":
        pytest.skip("the index hint is MariaDB's")
    _fill()
    assert subjects._MYSQL_FROM in subjects.Subject.select(subjects.Subject.id).sql()[0]  # the hint has its place
    for scan in (True, False):
        monkeypatch.setattr(subjects, "_mysql_scan", lambda search, sort, scan=scan: scan and bool(search))
        for term in TERMS:
            words = subjects.fold(term).split(" ")
            if not all(words):
                continue
            got = [r.id for r in subjects.list_subjects(instance.compliance, term, limit=50, audit_view=False)]
            assert got == _reference(words, 50), (term, scan)


def _reference_pages(words: list[str], descending: bool) -> list[int]:
    query = Subject.select(Subject.id)
    for word in words:
        query = query.where(Subject.search_key.contains(word))
    if descending:
        query = query.order_by(Subject.name_key.desc(), Subject.id.desc())
    else:
        query = query.order_by(Subject.name_key, Subject.id)
    return [r.id for r in query]


@pytest.mark.parametrize("analyzed", [True, False])
def test_postgres_name_bands_give_the_rows_of_the_plain_scan(instance: Instance, monkeypatch: pytest.MonkeyPatch,
                                                             analyzed: bool) -> None:
    """The band plan reads a page range by range of names: every page, both directions, equals the plain scan.

    Narrow first bands (1 % of the names, growing fourfold) make most pages span several bands; without
    statistics the one band is the whole name order.
    """
    if instance.engine != "postgres" or search_index.kind() != "pg_trgm":
        pytest.skip("the pg_trgm plans are PostgreSQL's")
    _fill()
    if analyzed:
        database.execute_sql("ANALYZE subject")
        assert subjects._pg_name_points(None, False)
    else:
        monkeypatch.setattr(subjects, "_pg_name_points", lambda after, descending: [])
    monkeypatch.setattr(subjects, "_postgres_plan", lambda search, sort: "band" if search else None)
    monkeypatch.setattr(subjects, "_pg_band_share", lambda search, limit: 0.01)
    bands: list[int] = []
    pages = 0
    fetch = subjects._pg_fetch

    def counted(query: object, plan: str) -> list[tuple[object, ...]]:
        bands.append(1)
        return fetch(query, plan)  # type: ignore[arg-type]

    monkeypatch.setattr(subjects, "_pg_fetch", counted)
    for term in TERMS + ["a\\", "ho", "ab"]:
        words = subjects.fold(term).split(" ")
        if not all(words):
            continue
        for descending in (False, True):
            expected = _reference_pages(words, descending)
            for limit in (7, 200):
                seen: list[int] = []
                after = None
                while True:
                    page = subjects.list_subjects(instance.compliance, term, limit=limit, audit_view=False,
                                                  after=after, descending=descending)
                    pages += 1
                    seen += [r.id for r in page]
                    if len(page) < limit:
                        break
                    after = subjects.page_key(page[-1], "name")
                assert seen == expected, (term, descending, limit)
    assert (len(bands) > pages) == analyzed  # several bands a page only where statistics size them
    assert database.execute_sql("SHOW enable_seqscan").fetchone()[0] == "on"  # nothing leaks past the page
    assert database.execute_sql("SHOW jit").fetchone()[0] == "on"


def test_postgres_band_plan_is_for_middling_words_sorted_by_name(instance: Instance,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if instance.engine != "postgres" or search_index.kind() != "pg_trgm":
        pytest.skip("the pg_trgm plans are PostgreSQL's")
    _fill()
    # 400 subjects: the bounds scaled down from a million (8,000 to 40,000 matches).
    monkeypatch.setattr(subjects, "PG_BAND_FROM_MATCHES", 3)
    monkeypatch.setattr(subjects, "PG_BAND_MAX_MATCHES", 16)
    monkeypatch.setattr(subjects, "PG_TRIGRAM_MAX_MATCHES", 6)
    monkeypatch.setattr(subjects, "PG_TRIGRAM_SURE_MATCHES", 1)
    sample = search_index.gram_sample()
    candidates = [f"u-00{i}" for i in range(10)] + ["cust", "xy", "dvorak", "muller", "oskar", "noskov"]
    middling = next(w for w in candidates if len(w) >= 3 and 3 < sample.share(w) * sample.top_id <= 16)
    assert subjects._postgres_plan(middling, "name") == "band"
    assert subjects._postgres_plan(middling, "user_id") != "band"  # bands follow the name index only
    assert subjects._postgres_plan("zzqx", "name") == "trigram"
    assert subjects._postgres_plan("u-0", "name") == "walk"
    assert subjects._postgres_plan("zq", "name") is None  # two letters never use the trigram index
