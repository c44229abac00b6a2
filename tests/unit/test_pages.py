"""List pages: generated row builders and page SQL compiled once per shape (``core.pages``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from rcrm_desktop.core import audit, crashes, requests, subjects
from rcrm_desktop.core.audit import AuditFilter
from rcrm_desktop.core.pages import BOOL, DATE, DT, INT, Expr, RowsBuilder, Statements, db_date, db_datetime
from rcrm_desktop.db.models import Subject
from tests.conftest import Instance


@dataclasses.dataclass(frozen=True)
class Row:
    id: int
    name: str
    born: dt.date | None
    at: dt.datetime | None
    flag: bool
    count: int
    label: str


BUILD = RowsBuilder(Row, 6, (0, 1, DATE(2), DT(3), BOOL(4), INT(5), Expr("prefix + c1")), names={"prefix": "#"})


def expected(raw: list[tuple[Any, ...]]) -> list[Row]:
    return [Row(t[0], t[1], db_date(t[2]), db_datetime(t[3]), bool(t[4]), int(t[5]), "#" + t[1]) for t in raw]


def test_rows_are_the_objects_the_constructor_makes() -> None:
    raw = [
        (1, "Šťastný", "1990-02-03", "2026-01-02 03:04:05.123456", 1, 7),  # text, as SQLite returns it
        (2, "Novák", None, None, 0, 0),
        (3, "Smith", dt.date(1985, 5, 6), dt.datetime(2025, 1, 1, 12), True, 3),  # as the servers return it
        (4, "Kováč", "2001-12-31", "2026-11-28 09:00:00", False, 1),
    ]
    rows = BUILD(raw)
    assert rows == expected(raw)
    assert [hash(r) for r in rows] == [hash(r) for r in expected(raw)]
    assert repr(rows[0]) == repr(expected(raw)[0])
    assert rows[0].at == dt.datetime(2026, 1, 2, 3, 4, 5, 123456) and rows[0].born == dt.date(1990, 2, 3)
    assert rows[2].flag is True and rows[1].flag is False and rows[0].label == "#Šťastný"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].name = "changed"  # type: ignore[misc]
    assert dataclasses.replace(rows[0], name="x").name == "x"


def test_text_that_fromisoformat_refuses_gets_peeweeʼs_answer() -> None:
    """A value the fast path cannot parse sends the page through ``db_datetime`` / ``db_date``: never an error."""
    raw = [
        (1, "a", "1990-02-03 00:00:00", "2026-01-02 03:04:05", 1, 1),  # a DATE column holding a time
        (2, "b", "1990-02-03", "not a time", 0, 2),
        (3, "c", None, "2026-01-02", 0, 3),
    ]
    assert BUILD(raw) == expected(raw)
    assert BUILD(raw)[0].born == dt.date(1990, 2, 3)


def test_a_builder_names_each_field_once() -> None:
    with pytest.raises(TypeError, match="7 fields; 6 sources"):
        RowsBuilder(Row, 6, (0, 1, 2, 3, 4, 5))
    with pytest.raises(TypeError, match="column 9"):
        RowsBuilder(Row, 6, (0, 1, 2, 3, 4, 9, 5))


def test_a_shape_is_compiled_once_and_binds_each_callʼs_values(instance: Instance) -> None:
    statements = Statements()
    calls = []

    def build(*key: Any) -> Any:
        calls.append(key)
        query = Subject.select(Subject.id).order_by(Subject.name_key, Subject.id).limit(50)
        if key:
            query = query.where((Subject.name_key >= key[0]) & ((Subject.name_key > key[0]) | (Subject.id > key[1])))
        return query

    compiles = []
    for value, last in (("novak", 10), ("kovac", 3), ("", 0), ("o'brien %_\\", 2 ** 40)):
        before = len(calls)
        sql, params = statements.sql("by name", build, (value, last))
        compiles.append(len(calls) - before)
        fresh_sql, fresh_params = build(value, last).sql()
        assert (sql, params) == (fresh_sql, list(fresh_params))
    # learned on the first call (its own compile plus one with stand-ins); every later call reused the text
    assert compiles == [2, 0, 0, 0]


def test_a_value_that_changes_the_sql_is_never_bound(instance: Instance) -> None:
    statements = Statements()

    def build(*key: Any) -> Any:
        return Subject.select(Subject.id).where(Subject.last_active_at == key[0]).limit(5)

    assert statements.sql("nullable", build, (None,))[0] == build(None).sql()[0]  # IS NULL, no parameter
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert statements.sql("nullable", build, (when,)) == (build(when).sql()[0], list(build(when).sql()[1]))


def _walk(fetch: Any, key_of: Any) -> list[Any]:
    seen, after = [], None
    while True:
        page = fetch(after)
        if not page:
            return seen
        seen.extend(page)
        after = key_of(page[-1])


@pytest.mark.parametrize("descending", [False, True])
def test_cached_pages_walk_every_list_like_a_fresh_compile(instance: Instance, descending: bool) -> None:
    """Users, crash groups, requests and the audit log, paged through cached SQL: the rows of a fresh compile."""
    from rcrm_desktop.core import demo

    demo.populate_demo(subjects=45, recordings=0, seed=5, with_audio=False)
    eva = instance.compliance

    for sort in subjects.SORT_COLUMNS:
        subjects._PAGES.clear()  # noqa: SLF001 - each sort's shapes learned afresh
        cached = _walk(lambda after, sort=sort: subjects.list_subjects(eva, sort=sort, descending=descending,
                                                                        after=after, limit=7, audit_view=False),
                       lambda r, sort=sort: subjects.page_key(r, sort))
        every = subjects.list_subjects(eva, sort=sort, descending=descending, limit=10_000, audit_view=False)
        assert [r.id for r in cached] == [r.id for r in every] and len(every) == 45, sort

    support = instance.support
    groups = _walk(lambda after: crashes.list_groups(support, descending=descending, after=after, limit=3),
                   lambda r: crashes.group_page_key(r, "last_seen"))
    assert [g.id for g in groups] == [g.id for g in crashes.list_groups(support, descending=descending,
                                                                        limit=10_000)]
    assert len(groups) > 3

    reqs = _walk(lambda after: requests.list_requests(eva, requests.RequestFilter(state=None), sort="received",
                                                      descending=descending, after=after, limit=4,
                                                      audit_view=False),
                 lambda r: requests.RequestPageKey(r.received_on, r.id))
    assert [r.id for r in reqs] == [r.id for r in requests.list_requests(
        eva, requests.RequestFilter(state=None), sort="received", descending=descending, limit=10_000,
        audit_view=False)]
    assert len(reqs) > 4

    events = []
    before = None
    while True:
        page = audit.list_events(eva, AuditFilter(), before_seq=before, limit=5)
        if not page:
            break
        events.extend(page)
        before = page[-1].seq
    every = audit.list_events(eva, AuditFilter(), limit=100_000)
    assert [e.seq for e in events] == [e.seq for e in every] and len(events) > 5
