"""List pages without the ORM's per-row and per-query costs: rows built by generated code, SQL built once per shape.

A list page is one ``SELECT … LIMIT 200``. Against the same SQL sent raw
through the driver (the limit ``rcrm-desktop bench`` prints beside every page,
scale-and-speed issue: "ORM and model overhead ≤ 2× the raw query"), a page
spends its extra time in two places:

* **Rows.** A page's 200 rows become frozen dataclasses with their times
  parsed. A helper call per value (``db_datetime``) and a generic
  ``make(values)`` per row cost as much as SQLite's own work: ≈ 360 µs a page
  of subjects against ≈ 400 µs for the query. :func:`rows_builder` writes one
  loop per row class (the way ``dataclasses`` and ``namedtuple`` write their
  methods), with each conversion inline: ≈ 170 µs.
* **SQL.** peewee compiles a page query in ≈ 150 µs, the same text every time
  for the same shape. :class:`Statements` keeps the text per shape (filters
  used, sort, order, page size, engine) and binds each call's values into it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from rcrm_desktop.db.connection import engine_name
from rcrm_desktop.db.models import Subject, database

T = TypeVar("T")


def db_datetime(value: Any) -> dt.datetime | None:
    """A ``DATETIME`` column as the driver returns it (text on SQLite, ``datetime`` on the servers).

    Same answer as peewee's ``DateTimeField.python_value`` for what this
    program stores, at a tenth of its cost (``fromisoformat`` instead of
    ``strptime`` over a list of formats).
    """
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    result: dt.datetime | None = Subject.created_at.python_value(value)  # type: ignore[no-untyped-call]
    return result


def db_date(value: Any) -> dt.date | None:
    """A ``DATE`` column as the driver returns it; the same answer as ``DateField.python_value``."""
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    result: dt.date | None = Subject.birth_date.python_value(value)  # type: ignore[no-untyped-call]
    return result


def fetch_tuples(query: Any) -> list[tuple[Any, ...]]:
    """The rows of a peewee query as the driver returns them: no per-value conversion, no row object.

    The caller converts the few columns that need it (times, booleans);
    peewee's ``.tuples()`` converts every value of every row through its field.
    """
    sql, params = query.sql()
    return database.execute_sql(sql, params).fetchall()  # type: ignore[no-any-return]


def keyset_after(column: Any, id_column: Any, value: Any, last_id: int, descending: bool) -> Any:
    """Rows after (``value``, ``last_id``) in (column, id) order, written so the column's index gives a range.

    ``column >= v AND (column > v OR id > last)`` selects the same rows as
    ``column > v OR (column = v AND id > last)``, but an index on ``column``
    can start at ``v`` instead of scanning from the first row (a page deep in
    a million subjects cost 50 ms the other way). Sorted by the id itself,
    the id alone decides.
    """
    if column is id_column:
        return (id_column < last_id) if descending else (id_column > last_id)
    if descending:
        return (column <= value) & ((column < value) | (id_column < last_id))
    return (column >= value) & ((column > value) | (id_column > last_id))


# ---------------------------------------------------------------- rows


@dataclasses.dataclass(frozen=True)
class Column:
    """Field value from driver column ``index``, converted as ``kind`` says (``None``: as the driver gave it)."""

    index: int
    kind: str | None = None


def DT(index: int) -> Column:  # noqa: N802 - reads like the column type it converts
    """A ``DATETIME`` column: text on SQLite, ``datetime`` on the servers; the answer of :func:`db_datetime`."""
    return Column(index, "datetime")


def DATE(index: int) -> Column:  # noqa: N802
    """A ``DATE`` column; the answer of :func:`db_date`."""
    return Column(index, "date")


def BOOL(index: int) -> Column:  # noqa: N802
    """A boolean column (0/1 on SQLite and MariaDB, ``bool`` on PostgreSQL)."""
    return Column(index, "bool")


def INT(index: int) -> Column:  # noqa: N802
    """An integer column that may come back as another number type (``Decimal`` sums, 0/1 flags)."""
    return Column(index, "int")


@dataclasses.dataclass(frozen=True)
class Expr:
    """Field value computed by a Python expression over ``c0``, ``c1``, … (the row's columns) and ``names``."""

    code: str


_FAST = {
    # Common case inline (no call for None or an already converted value); anything unusual goes to the helper.
    "datetime": "({c} if {c} is None or {c}.__class__ is _DTC else _fi({c}) if {c}.__class__ is str "
                "else _slow_dt({c}))",
    "date": "({c} if {c} is None or {c}.__class__ is _DC else _fd({c}) if {c}.__class__ is str "
            "else _slow_date({c}))",
    "bool": "bool({c})",
    "int": "int({c})",
}
_SLOW = {**_FAST, "datetime": "_slow_dt({c})", "date": "_slow_date({c})"}


class RowsBuilder(Generic[T]):
    """Builds a page of frozen dataclass rows from driver tuples with code written for the row class.

    ``fields`` gives, in the dataclass's field order, where each value comes
    from: a column index (the value as the driver gave it), a :class:`Column`
    with a conversion (:func:`DT`, :func:`DATE`, :func:`BOOL`, :func:`INT`) or
    an :class:`Expr`. ``names`` are extra names the expressions use, and
    ``params`` names the builder's call arguments after the rows (per-page
    context such as a page's tags).

    The rows are the same objects ``cls(...)`` makes (equality, hash, repr,
    immutability), built without its ``__init__``: a frozen dataclass sets each
    field through ``object.__setattr__``, here the instance gets its ``__dict__``
    whole. Times take the inline fast path; a text value ``fromisoformat``
    refuses makes the whole page go again through :func:`db_datetime` /
    :func:`db_date`, peewee's answer.
    """

    def __init__(self, cls: type[T], columns: int, fields: Sequence[int | Column | Expr],
                 names: dict[str, Any] | None = None, params: Sequence[str] = ()) -> None:
        field_names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if len(field_names) != len(fields):
            raise TypeError(f"{cls.__name__} has {len(field_names)} fields; {len(fields)} sources were given")
        namespace: dict[str, Any] = {
            "_cls": cls, "_new": object.__new__, "_setd": object.__setattr__, "_DTC": dt.datetime,
            "_DC": dt.date, "_fi": dt.datetime.fromisoformat, "_fd": dt.date.fromisoformat,
            "_slow_dt": db_datetime, "_slow_date": db_date, **(names or {}),
        }
        self._fast = self._compile(cls, columns, field_names, fields, params, _FAST, namespace)
        self._slow = self._compile(cls, columns, field_names, fields, params, _SLOW, namespace)

    @staticmethod
    def _compile(cls: type, columns: int, field_names: list[str], fields: Sequence[int | Column | Expr],
                 params: Sequence[str], conversions: dict[str, str], namespace: dict[str, Any]) -> Callable[..., Any]:
        values = []
        for name, source in zip(field_names, fields, strict=True):
            if isinstance(source, int):
                source = Column(source)
            if isinstance(source, Expr):
                code = source.code
            elif not 0 <= source.index < columns:
                raise TypeError(f"{cls.__name__}.{name}: column {source.index} is not among {columns} columns")
            elif source.kind is None:
                code = f"c{source.index}"
            else:
                code = conversions[source.kind].format(c=f"c{source.index}")
            values.append(f"{name!r}: {code}")
        unpack = ", ".join(f"c{i}" for i in range(columns)) + ("," if columns == 1 else "")
        args = "".join(f", {p}" for p in params)
        body = (f"def build(raw{args}):\n"
                "    out = []\n"
                "    append = out.append\n"
                f"    for ({unpack}) in raw:\n"
                "        obj = _new(_cls)\n"
                f"        _setd(obj, '__dict__', {{{', '.join(values)}}})\n"
                "        append(obj)\n"
                "    return out\n")
        local: dict[str, Any] = {}
        exec(compile(body, f"<rows of {cls.__name__}>", "exec"), dict(namespace), local)  # noqa: S102
        return local["build"]  # type: ignore[no-any-return]

    def __call__(self, raw: Sequence[Sequence[Any]], *args: Any) -> list[T]:
        try:
            return self._fast(raw, *args)  # type: ignore[no-any-return]
        except ValueError:
            return self._slow(raw, *args)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- statements

#: Stand-ins bound in place of a call's values when a shape is first compiled. Each survives peewee's
#: conversion unchanged and could not be a real value, so its place among the parameters is found by identity.
_PROBE_SEQ = itertools.count(1)


def _probe(value: Any) -> Any:
    n = next(_PROBE_SEQ)
    if isinstance(value, bool) or value is None:
        return None  # changes the SQL itself (IS NULL, literal booleans): not bindable
    if isinstance(value, int):
        return -(2 ** 62) - n
    if isinstance(value, str):
        return f"\x00rcrm-probe-{n}"
    if isinstance(value, dt.datetime):
        return dt.datetime(1, 1, 1, 0, 0, 0, n % 1_000_000)
    if isinstance(value, dt.date):
        return dt.date(1, 1, 1) + dt.timedelta(days=n % 365)
    return None


class Statements:
    """Page SQL compiled by peewee once per shape; a later call binds its own values into the same text.

    ``sql(key, build, values)``: ``build(*values)`` makes the peewee query;
    ``key`` names everything else that shapes its SQL (sort, order, filters
    used, page size, the actor's role where it adds a condition). The engine
    is added to the key. The first call for a key compiles the query twice,
    once with ``values`` and once with stand-ins for them, and keeps the text
    only if binding ``values`` at the stand-ins' places gives exactly what
    peewee made of them; otherwise that shape is always compiled.
    """

    def __init__(self) -> None:
        self._shapes: dict[Hashable, tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]] | None] = {}

    def sql(self, key: Hashable, build: Callable[..., Any], values: Sequence[Any] = ()) -> tuple[str, list[Any]]:
        full_key = (engine_name(), key, tuple(type(v) for v in values))
        if full_key not in self._shapes:
            sql, params = build(*values).sql()
            self._shapes[full_key] = self._learn(build, values, sql, params)
            return sql, list(params)
        shape = self._shapes[full_key]
        if shape is None:
            sql, params = build(*values).sql()
            return sql, list(params)
        text, template, slots = shape
        bound = list(template)
        for position, index in slots:
            bound[position] = values[index]
        return text, bound

    @staticmethod
    def _learn(build: Callable[..., Any], values: Sequence[Any], sql: str,
               params: Sequence[Any]) -> tuple[str, tuple[Any, ...], tuple[tuple[int, int], ...]] | None:
        probes = [_probe(v) for v in values]
        if any(p is None for p in probes):
            return None
        probe_sql, probe_params = build(*probes).sql()
        if probe_sql != sql or len(probe_params) != len(params):
            return None
        slots = []
        for position, param in enumerate(probe_params):
            for index, probe in enumerate(probes):
                if param is probe:
                    slots.append((position, index))
        bound = list(probe_params)
        for position, index in slots:
            bound[position] = values[index]
        if bound != list(params) or {index for _, index in slots} != set(range(len(values))):
            return None
        return sql, tuple(probe_params), tuple(slots)

    def clear(self) -> None:
        self._shapes.clear()
