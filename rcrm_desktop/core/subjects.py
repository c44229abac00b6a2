"""Subjects: the CRM's user accounts, their search, detail and rectification.

* Search ignores case and accents (``stastny`` finds ``Šťastný``) through the
  folded ``search_key`` column and matches a substring of the name or user ID;
  ``core.search_index`` makes it an index lookup instead of a scan where the
  engine allows (SQLite FTS5 trigram, PostgreSQL pg_trgm).
* Lists are keyset-paged on (sort key, id): a page never costs more than the
  rows it returns plus an index walk, at a million subjects as at ten. They can
  be narrowed to restricted (Art. 18) or objected (Art. 21) subjects.
* Counting is for a background task, never per keystroke on the UI thread:
  ``subject_counts`` stops counting matches at a cap and, on a server with a
  large table, takes the total from the planner's estimate instead of a full
  ``count(*)``.
* Showing personal data is audited: every page of a list or search records the
  ids shown; opening a subject records the view (issue: "every view of personal
  data ... is an event"). Search text itself is never written to the audit log.
* Rectification (GDPR Art. 16): each corrected field keeps old and new value,
  the reason and the operator in ``SubjectChange``, which belongs to the
  subject and is erased with it; the audit event names only the field.
* Two workstations editing the same subject: the update names the ``version``
  it read; when another edit got there first, ``ConflictError`` carries the
  current value instead of overwriting it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import peewee

from rcrm_desktop import settings
from rcrm_desktop.core import audit, search_index
from rcrm_desktop.core.pages import BOOL, DATE, DT, RowsBuilder, Statements, fetch_tuples, keyset_after
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import (
    CrashEvent,
    LegalHold,
    Operator,
    Recording,
    RightsRequest,
    Subject,
    SubjectChange,
    database,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, ValidationError

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{3,30}$")
USER_ID_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

#: Fields an operator may correct, with their labels (the audit stores only the key).
RECTIFIABLE_FIELDS: dict[str, str] = {
    "name": "Name",
    "email": "E-mail",
    "phone": "Phone",
    "birth_date": "Date of birth",
}

#: Columns a list may be sorted by: the name a caller uses → the indexed column.
SORT_COLUMNS: dict[str, peewee.Field] = {
    "name": Subject.name_key,
    "user_id": Subject.user_id,
    "created_at": Subject.created_at,
    "last_active_at": Subject.last_active_at,
    "id": Subject.id,
}

CSV_HEADER = ["user_id", "name", "email", "phone", "birth_date", "created_at", "last_active_at"]

#: Status filters a list or count accepts (``None``: every subject).
STATUS_FILTERS: dict[str, str] = {
    "restricted": "Restricted (GDPR Art. 18)",
    "objected": "Objected (GDPR Art. 21)",
}

#: Longest search text accepted (a name or user ID is never longer).
MAX_SEARCH_LENGTH = 200

#: Matching subjects are counted up to this many; beyond it the count says "more than".
COUNT_CAP = 100_000

#: From this many rows on, a server's table-size estimate replaces an exact total count.
ESTIMATE_FROM = 200_000


@dataclass(frozen=True)
class SubjectRow:
    id: int
    user_id: str
    name: str
    email: str | None
    phone: str | None
    birth_date: dt.date | None
    created_at: dt.datetime
    last_active_at: dt.datetime | None
    restricted: bool
    objected: bool
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "created_at": _iso(self.created_at),
            "last_active_at": _iso(self.last_active_at),
            "restricted": self.restricted,
            "objected": self.objected,
            "version": self.version,
        }


@dataclass(frozen=True)
class ChangeRow:
    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    operator: str
    changed_at: dt.datetime
    request_id: int | None


@dataclass(frozen=True)
class SubjectDetail:
    subject: SubjectRow
    recordings: int
    crash_events: int
    requests: int
    open_requests: int
    active_holds: int
    changes: list[ChangeRow] = field(default_factory=list)
    restricted_reason: str | None = None
    objected_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = self.subject.as_json()
        data["counts"] = {
            "recordings": self.recordings,
            "crash_events": self.crash_events,
            "requests": self.requests,
            "open_requests": self.open_requests,
            "active_legal_holds": self.active_holds,
        }
        data["restricted_reason"] = self.restricted_reason
        data["objected_reason"] = self.objected_reason
        data["change_history"] = [
            {"field": c.field, "old_value": c.old_value, "new_value": c.new_value, "reason": c.reason,
             "operator": c.operator, "changed_at": _iso(c.changed_at), "request_id": c.request_id}
            for c in self.changes
        ]
        return data


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z") if value else None


# ---------------------------------------------------------------- light rows


_ROW_FIELDS = (Subject.id, Subject.user_id, Subject.name, Subject.email, Subject.phone, Subject.birth_date,
               Subject.created_at, Subject.last_active_at, Subject.restricted, Subject.objected,
               Subject.version)

#: ``SubjectRow``s from driver tuples in ``_ROW_FIELDS`` order.
_subject_rows = RowsBuilder(SubjectRow, len(_ROW_FIELDS),
                            (0, 1, 2, 3, 4, DATE(5), DT(6), DT(7), BOOL(8), BOOL(9), 10))
_PAGES = Statements()


def _row(s: Subject) -> SubjectRow:
    return SubjectRow(s.id, s.user_id, s.name, s.email, s.phone, s.birth_date, s.created_at, s.last_active_at,
                      bool(s.restricted), bool(s.objected), s.version)


def make_search_key(name: str, user_id: str) -> str:
    return f"{fold(name)} {fold(user_id)}"[:300]


# ---------------------------------------------------------------- validation


def _clean_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())


def validate_user_id(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValidationError("A user ID is required.")
    if len(text) > 64:
        raise ValidationError(f"The user ID is {len(text):,} characters long; at most 64 are allowed.")
    if not USER_ID_RE.match(text):
        raise ValidationError("The user ID contains control characters.")
    return text


def validate_field(name: str, value: str | None) -> Any:
    """Check and normalise one subject field; raise ``ValidationError`` naming what is wrong."""
    raw = (value or "").strip()
    if name == "name":
        text = _clean_text(raw)
        if not text:
            raise ValidationError("A name is required.")
        if len(text) > settings.MAX_NAME_LENGTH:
            raise ValidationError(
                f"The name is {len(text):,} characters long; at most {settings.MAX_NAME_LENGTH} are allowed."
            )
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise ValidationError("The name contains control characters.")
        return text
    if not raw:
        return None
    if name == "email":
        if len(raw) > settings.MAX_FIELD_LENGTH or not EMAIL_RE.match(raw):
            raise ValidationError(f"“{raw[:80]}” is not an e-mail address.")
        return raw
    if name == "phone":
        if not PHONE_RE.match(raw):
            raise ValidationError(f"“{raw[:80]}” is not a phone number (digits, spaces, + ( ) . / -).")
        return raw
    if name == "birth_date":
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError as exc:
            raise ValidationError(f"“{raw[:40]}” is not a date; use YYYY-MM-DD.") from exc
        if day > dt.date.today() or day.year < 1890:
            raise ValidationError(f"{day.isoformat()} is not a plausible date of birth.")
        return day
    if name in {"created_at", "last_active_at"}:
        return _parse_utc(raw, name)
    raise ValidationError(f"“{name}” is not a field of a user account.")


def _parse_utc(raw: str, name: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(f"{name} “{raw[:40]}” is not an ISO 8601 time.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _display(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class PageKey:
    """Where the next keyset page starts: the last row's sort value and id."""

    value: Any
    id: int


def _contains(word: str) -> peewee.Expression:
    """``search_key`` holds ``word``: a case-sensitive ``LIKE`` on the servers, peewee's ``ILIKE`` on SQLite.

    Key and word are both folded (``fold``: case-folded, accents dropped), so
    case-insensitivity adds nothing, and it costs every key checked:
    PostgreSQL's ``ILIKE`` lower-cases each key (a scan for ``%sm%`` at a
    million subjects took 1.08 s with ``ILIKE``, 0.37 s with ``LIKE``), and
    MariaDB's ``LIKE`` compares character by character even under the
    ``utf8mb4_bin`` collation of ``search_key``, where peewee's ``LIKE BINARY``
    compares bytes (a scan for a rare word: 0.34–0.74 s against 0.13 s). The
    pg_trgm recheck and the name-index walks pay the same per row. The pattern
    is ``%word%`` with ``word``'s own wildcards escaped, so matching bytes
    instead of characters finds the same rows. SQLite renders ``ILIKE`` as
    ``LIKE``.
    """
    contains = Subject.search_key.contains(word)  # peewee escapes the wildcards in ``word``
    if engine_name() == "sqlite":
        return contains
    return peewee.Expression(contains.lhs, peewee.OP.LIKE, contains.rhs)


def _apply_search(query: peewee.ModelSelect[Subject], text: str | None) -> peewee.ModelSelect[Subject]:
    """Every folded word must be a substring of ``search_key``; the engine's index narrows where it can.

    The ``LIKE`` conditions always stay, so the result is exact whatever the
    index answers. On SQLite, ``search_index.narrowing`` counts the FTS5
    candidates and picks the plan: few, the query fetches them by id and
    sorts them; a middling number, it walks its sort index keeping rows in
    the candidate set (``+id IN (…)``: the unary plus keeps SQLite from
    turning the ``IN`` into id lookups, which would sort every candidate);
    many, it walks its sort index checking ``LIKE`` (a page is near the start).
    On PostgreSQL ``_postgres_plan`` steers the planner around its ``pg_trgm`` index.
    """
    if text:
        folded = fold(text)
        if folded:
            words = folded.split(" ")
            for word in words:
                query = query.where(_contains(word))
            plan = search_index.narrowing(words)
            if plan is not None:
                if plan.strategy == "none":
                    query = query.where(Subject.id.in_([]))
                elif plan.strategy == "ids":
                    query = query.where(Subject.id.in_(search_index.match_subquery(plan.match)))
                else:
                    member = peewee.NodeList((peewee.SQL("+"), Subject.id), glue="")
                    query = query.where(member.in_(search_index.match_subquery(plan.match)))
    return query


def _apply_status(query: peewee.ModelSelect[Subject], status: str | None) -> peewee.ModelSelect[Subject]:
    if status is None or status == "":
        return query
    if status == "restricted":
        return query.where(Subject.restricted == True)  # noqa: E712
    if status == "objected":
        return query.where(Subject.objected == True)  # noqa: E712
    raise ValidationError(f"“{status[:40]}” is not a status filter; choose one of {', '.join(STATUS_FILTERS)}.")


def _check_search(search: str | None) -> None:
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        raise ValidationError(
            f"The search text is too long ({len(search):,} characters; at most {MAX_SEARCH_LENGTH} are allowed)."
        )


#: PostgreSQL: a search whose rarest word the key sample puts at no more than this many subjects is answered
#: through the pg_trgm index (bitmap scan, then sort the matches); a commoner one walks the name index.
#: (Sorted by name, the band plan below takes over most of this range.)
PG_TRIGRAM_MAX_MATCHES = 15_000
#: ... and a longer word whose chained estimate (``GramSample.chain_share``) is below this goes there too.
PG_TRIGRAM_SURE_MATCHES = 2_000
#: Sorted by name, a search the sample puts at up to this many subjects reads and sorts all its matches
#: (≈ 3 µs a match on the heap: ≈ 24 ms). Fewer matches make the first band wider (``PG_BAND_MARGIN``
#: pages' worth), and its bitmap of names costs ≈ 0.1 µs a name: both ≈ 15–25 ms near 5,000–8,000 matches
#: at a million subjects (``smith``, 4,500 matches, all late in the name order: 56 ms sorted, 85 ms in bands,
#: measured with the machine's two cores shared).
PG_BAND_FROM_MATCHES = 8_000
#: ... and up to this many, it reads the matches band by band in name order (``_pg_band_rows``); above it,
#: a page lies within a few thousand rows of the name index and the walk is cheaper. The walk costs
#: ≈ 3–5 µs a row over ``limit / share`` rows, a band the word's trigram postings (≈ 0.3 µs each) plus
#: ≈ 0.1 µs a name in the band: equal near 40,000 matches at a million subjects (``nov``, 52,000
#: matches: walk 33 ms, first band 32 ms; ``kov``, 180,000: walk 39 ms, band 77 ms).
PG_BAND_MAX_MATCHES = 40_000
#: The first band is sized to hold this many pages' worth of matches by the sample's estimate (names are
#: not spread evenly: ``kovacova`` has none in the first 2 % of names) ...
PG_BAND_MARGIN = 4
#: ... and each further band, if the page is not full yet, is this many times wider than the one before.
PG_BAND_GROWTH = 4

#: What each plan forbids the planner for the one page query (``SET LOCAL``: this transaction only). JIT
#: compilation (≈ 50–70 ms, started by the planner's cost guess for a walk) never pays off for one page.
_PG_PLAN_SETTINGS = {
    "trigram": ("SET LOCAL enable_indexscan = off", "SET LOCAL enable_seqscan = off", "SET LOCAL jit = off"),
    "walk": ("SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off", "SET LOCAL jit = off"),
}
_PG_PLAN_RESET = ("enable_indexscan", "enable_bitmapscan", "enable_seqscan", "jit")


def _sampled_words(search: str | None) -> tuple[list[str], search_index.GramSample] | None:
    """The folded words of a search and the instance's key sample, or ``None`` when there is nothing to plan."""
    words = [w for w in fold(search).split(" ") if w] if search else []
    if not words:
        return None
    sample = search_index.gram_sample()
    return (words, sample) if sample.size else None


def _postgres_plan(search: str | None, sort: str) -> str | None:
    """On PostgreSQL, the plan for a search page: ``"trigram"``, ``"band"``, ``"walk"`` or ``None`` (the planner's).

    PostgreSQL estimates ``LIKE '%word%'`` from fixed guesses, not from the
    data: at a million subjects it walked the name index through every row for
    a rare word (``zzq``: 2 s; the trigram index answers in 1 ms) and used the
    trigram index for a word every key holds (``s-00``: 0.8 s; the walk finds a
    page in 2 ms). The key sample that plans SQLite's searches
    (``search_index.gram_sample``) tells them apart. In between (≈ 8,000 to
    40,000 matches, ``horvath`` or ``novak``) both cost ≈ 45 ms: reading every
    match from the heap to sort them, or walking ``limit / share`` rows of the
    name index; the band plan (``_pg_band_rows``) reads only the matches of the
    first few percent of names (≈ 10–20 ms).

    Words under three letters have no trigram, so a rare one is left to the
    planner (a scan: ``sm`` at a million subjects, ≈ 0.2–0.4 s). pg_trgm
    cannot narrow them exactly: an occurrence inside a word lies in the
    trigram of the letter before it (``asm``, ``ism``, ``жsm``), and in a
    database whose ctype is not C every Unicode letter is a word character,
    trigrams holding a non-ASCII one are stored as hashes, and nothing short
    of a scan lists the letters the keys hold, so no finite set of trigrams is
    known to cover every key (SQLite reads them from its FTS5 vocabulary).
    """
    if engine_name() != "postgresql" or search_index.kind() != "pg_trgm":
        return None
    sampled = _sampled_words(search)
    if sampled is None:
        return None
    words, sample = sampled
    indexed = all(len(w) >= search_index.MIN_INDEXED_LENGTH for w in words)
    bound = min(sample.share(w) for w in words) * sample.top_id  # exact share up to 3 letters, else a bound
    chain = min(sample.chain_share(w) for w in words) * sample.top_id  # an estimate, often low for names
    if sort == "name" and indexed and PG_BAND_FROM_MATCHES < bound <= PG_BAND_MAX_MATCHES:
        return "band"
    if bound <= PG_TRIGRAM_MAX_MATCHES or chain <= PG_TRIGRAM_SURE_MATCHES:
        return "trigram" if indexed else None
    # Common, or in between (matches spread over the name order: a page is within a few percent of it).
    return "walk" if sort == "name" else None


def _pg_band_share(search: str | None, limit: int) -> float:
    """The share of the name order the first band spans: ``PG_BAND_MARGIN`` pages by the sample's estimate."""
    sampled = _sampled_words(search)
    if sampled is None:
        return 1.0
    words, sample = sampled
    share = min(sample.share(w) for w in words)  # the rarest trigram's: an upper bound, so the band errs small
    return 1.0 if share <= 0 else min(1.0, PG_BAND_MARGIN * limit / (share * sample.top_id))


#: The name order as PostgreSQL's statistics see it (``ANALYZE``: 100 histogram buckets and the most common
#: names): each point with the share of subjects up to it since the one before, in the column's collation.
_PG_NAME_POINTS = """
WITH s AS (SELECT most_common_vals::text::text[] AS m, most_common_freqs AS f,
                  histogram_bounds::text::text[] AS h, null_frac AS n
           FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'subject' AND attname = 'name_key'),
p AS (SELECT u.v, u.w::float8 AS w FROM s, unnest(s.m, s.f) AS u(v, w)
      UNION ALL
      SELECT u.v, CASE WHEN u.i = 1 THEN 0
                  ELSE (1 - s.n - coalesce((SELECT sum(x) FROM unnest(s.f) AS x), 0))
                       / nullif(cardinality(s.h) - 1, 0) END
      FROM s, unnest(s.h) WITH ORDINALITY AS u(v, i))
SELECT v, coalesce(w, 0) FROM p
"""


def _pg_name_points(after: PageKey | None, descending: bool) -> list[tuple[str, float]]:
    """Points of the name order past ``after`` in the page's direction (no statistics: none, one band)."""
    sql = _PG_NAME_POINTS
    params: tuple[Any, ...] = ()
    if after is not None:
        sql += " WHERE v < %s" if descending else " WHERE v > %s"
        params = (after.value,)
    sql += " ORDER BY v DESC" if descending else " ORDER BY v"
    return [(str(v), float(w)) for v, w in database.execute_sql(sql, params).fetchall()]


def _pg_band_rows(query: peewee.ModelSelect[Subject], search: str | None, after: PageKey | None,
                  descending: bool, limit: int) -> list[tuple[Any, ...]]:
    """A name-sorted page read band by band: each band is a range of names, and only its matches are read.

    ``query`` is the page query (search, status, keyset and order by name,
    id). Each band adds ``name_key`` bounds, so PostgreSQL intersects the
    trigram bitmap with a bitmap of the band's names (``BitmapAnd``; ≈ 0.1 µs
    a name) and reads and sorts only the matches inside it. The bands follow
    one another in name order from the page's start, and a band's matches all
    sort before the next band's, so the page is the first ``limit`` matches
    exactly as the plain query gives them, whatever the statistics (which only
    size the bands). Measured at a million subjects: ``horv`` (12,744 matches)
    16 ms in a band of 2 % of names against 54 ms sorting every match.
    """
    column = Subject.name_key
    points = _pg_name_points(after, descending)
    width = _pg_band_share(search, limit)
    target = width
    reached = 0.0
    index = 0
    lower: str | None = None
    raw: list[tuple[Any, ...]] = []
    while len(raw) < limit:
        upper: str | None = None
        while index < len(points) and upper is None:
            value, share = points[index]
            index += 1
            reached += share
            if reached >= target:
                upper = value
        band = query
        if lower is not None:
            band = band.where(column < lower if descending else column > lower)
        if upper is not None:
            band = band.where(column >= upper if descending else column <= upper)
        raw += _pg_fetch(band.limit(limit - len(raw)), "trigram")  # each band: the trigram plan
        if upper is None:
            break
        lower = upper
        width *= PG_BAND_GROWTH
        target = reached + width
    return raw


def _pg_fetch(query: peewee.ModelSelect[Subject], plan: str) -> list[tuple[Any, ...]]:
    """Run one page query with a plan's ``SET LOCAL`` settings, reset before the transaction goes on."""
    with database.atomic():
        for statement in _PG_PLAN_SETTINGS[plan]:
            database.execute_sql(statement)
        try:
            return fetch_tuples(query)
        finally:
            for name in _PG_PLAN_RESET:
                database.execute_sql(f"SET LOCAL {name} TO DEFAULT")


#: MariaDB has no substring index. A search whose words the key sample puts at under this share of subjects
#: reads the table once and sorts the matches (≈ 0.9 s at a million subjects) instead of walking the name
#: index with a row lookup per entry until a page is found (27 s for a word nobody holds).
MYSQL_SCAN_SHARE = 0.01
_MYSQL_FROM = "FROM `subject` AS `t1`"
_MYSQL_NO_WALK = " IGNORE INDEX (`subject_name_key`)"


def _mysql_scan(search: str | None, sort: str) -> bool:
    """On MariaDB, whether a search page should scan the table rather than walk the name index."""
    if sort != "name" or engine_name() != "mysql":
        return False
    sampled = _sampled_words(search)
    if sampled is None:
        return False
    words, sample = sampled
    return min(min(sample.share(w), sample.chain_share(w)) for w in words) < MYSQL_SCAN_SHARE


def list_subjects(actor: Actor, search: str | None = None, *, sort: str = "name", descending: bool = False,
                  after: PageKey | None = None, limit: int = settings.PAGE_SIZE,
                  audit_view: bool = True, status: str | None = None) -> list[SubjectRow]:
    """One keyset page of subjects matching ``search`` (substring of name or user ID, any case/accents).

    ``status`` narrows the list to ``"restricted"`` or ``"objected"`` subjects.
    ``%``, ``_`` and ``\\`` in ``search`` match themselves (the ``LIKE`` pattern is escaped).
    """
    require(actor, Permission.SUBJECTS_VIEW)
    _check_search(search)
    column = SORT_COLUMNS.get(sort)
    if column is None:
        raise ValidationError(f"Cannot sort by “{sort}”; choose one of {', '.join(SORT_COLUMNS)}.")
    with database_errors():
        if not search:
            # the list as opened and scrolled: one SQL text per shape, each page binds its key
            values = () if after is None else (after.value, after.id)

            def build(*key: Any) -> Any:
                return _page_query(None, column, status, descending, key or None).limit(limit)

            sql, params = _PAGES.sql((sort, descending, status, limit, after is None), build, values)
            rows = _subject_rows(database.execute_sql(sql, params).fetchall())
            _audit_page(actor, rows, search, audit_view)
            return rows
        query = _page_query(search, column, status, descending, None if after is None else (after.value, after.id))
        plan = _postgres_plan(search, sort)
        if plan is None and _mysql_scan(search, sort):
            sql, params = query.limit(limit).sql()
            raw = database.execute_sql(sql.replace(_MYSQL_FROM, _MYSQL_FROM + _MYSQL_NO_WALK, 1), params).fetchall()
        elif plan is None:
            raw = fetch_tuples(query.limit(limit))
        elif plan == "band":  # only ever chosen for the name sort
            raw = _pg_band_rows(query, search, after, descending, limit)
        else:
            raw = _pg_fetch(query.limit(limit), plan)
        rows = _subject_rows(raw)
        _audit_page(actor, rows, search, audit_view)
    return rows


def _page_query(search: str | None, column: Any, status: str | None, descending: bool,
                after: tuple[Any, int] | None) -> peewee.ModelSelect[Subject]:
    """A page's query in (column, id) order, after the keyset ``after`` = (value, id) when given."""
    query = _apply_status(_apply_search(Subject.select(*_ROW_FIELDS), search), status)
    key = None if after is None else PageKey(after[0], after[1])
    if column is Subject.last_active_at:
        return _keyset_nullable(query, column, key, descending)
    if key is not None:
        query = query.where(_after(column, key, descending))
    if descending:
        return query.order_by(column.desc(), Subject.id.desc())
    return query.order_by(column.asc(), Subject.id.asc())


def _audit_page(actor: Actor, rows: list[SubjectRow], search: str | None, audit_view: bool) -> None:
    if audit_view and rows:
        with database.atomic():
            audit.record(actor, "subjects.search" if search else "subjects.list", "subject", None,
                         ids=[r.id for r in rows], query_length=len(search or ""))


def _after(column: Any, after: PageKey, descending: bool) -> Any:
    """Rows after ``after`` in (column, id) order, through the column's index (``pages.keyset_after``)."""
    return keyset_after(column, Subject.id, after.value, after.id, descending)


def _keyset_nullable(query: peewee.ModelSelect[Subject], column: peewee.Field, after: PageKey | None,
                     descending: bool) -> peewee.ModelSelect[Subject]:
    """Keyset order on a column that may be NULL: NULL sorts first ascending, last descending.

    Spelled out with ``IS NULL`` rather than ``COALESCE(column, sentinel)``:
    MariaDB types ``COALESCE(DATETIME, '…')`` as text, and a text comparison
    with a differently formatted time skips or repeats rows between pages.
    """
    present = column.is_null(False)
    if after is not None:
        if descending:
            if after.value is None:
                query = query.where(column.is_null() & (Subject.id < after.id))
            else:
                query = query.where(column.is_null() | _after(column, after, True))
        elif after.value is None:
            query = query.where((column.is_null() & (Subject.id > after.id)) | column.is_null(False))
        else:
            query = query.where(column.is_null(False) & _after(column, after, False))
    if descending:
        return query.order_by(present.desc(), column.desc(), Subject.id.desc())
    return query.order_by(present.asc(), column.asc(), Subject.id.asc())


def page_key(row: SubjectRow, sort: str) -> PageKey:
    value = {"name": fold(row.name)[:200], "user_id": row.user_id, "created_at": row.created_at,
             "last_active_at": row.last_active_at, "id": row.id}[sort]
    return PageKey(value, row.id)


def count_subjects(actor: Actor, search: str | None = None, *, status: str | None = None) -> int:
    """The exact number of matching subjects (a full count: run it off the UI thread)."""
    require(actor, Permission.SUBJECTS_VIEW)
    _check_search(search)
    with database_errors():
        return _apply_status(_apply_search(Subject.select(), search), status).count()


@dataclass(frozen=True)
class SubjectCount:
    """How many subjects match a filter, out of how many.

    ``matching_capped``: counting stopped at the cap, so more than ``matching``
    match. ``total_approximate``: ``total`` is the server's table-size estimate.
    """

    matching: int
    matching_capped: bool
    total: int
    total_approximate: bool


def _estimated_total() -> int | None:
    """The planner's row estimate for the subject table on a server engine (``None``: unknown)."""
    table = Subject._meta.table_name
    engine = engine_name()
    if engine == "postgresql":
        cursor = database.execute_sql("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (table,))
    elif engine == "mysql":
        cursor = database.execute_sql(
            "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            (table,),
        )
    else:
        return None
    row = cursor.fetchone()
    if not row or row[0] is None or float(row[0]) < 0:
        return None
    return int(float(row[0]))


def subject_counts(actor: Actor, search: str | None = None, *, status: str | None = None,
                   cap: int = COUNT_CAP) -> SubjectCount:
    """Matching and total subject counts, bounded in cost so a workstation can ask on every search.

    The matching count stops at ``cap``. The total is exact below
    ``ESTIMATE_FROM`` rows; above it, PostgreSQL and MariaDB give their table
    statistics (``pg_class.reltuples``, ``information_schema.TABLES``), which
    cost nothing. SQLite always counts exactly. Not audited: numbers only.
    """
    require(actor, Permission.SUBJECTS_VIEW)
    _check_search(search)
    with database_errors():
        estimate = _estimated_total()
        if estimate is not None and estimate >= ESTIMATE_FROM:
            total, approximate = estimate, True
        else:
            total, approximate = Subject.select().count(), False
        folded = fold(search or "")
        if not folded and not status:
            return SubjectCount(total, False, total, approximate)
        query = _apply_status(_apply_search(Subject.select(Subject.id), search), status)
        matching = query.limit(cap + 1).count()
    capped = matching > cap
    return SubjectCount(min(matching, cap), capped, total, approximate)


def _get(subject_id: int | None = None, user_id: str | None = None) -> Subject:
    with database_errors():
        if subject_id is not None:
            subject = Subject.get_or_none(Subject.id == subject_id)
        else:
            subject = Subject.get_or_none(Subject.user_id == (user_id or "").strip())
    if subject is None:
        what = f"#{subject_id}" if subject_id is not None else f"“{(user_id or '')[:64]}”"
        raise NotFoundError(f"There is no user account {what}.")
    return subject


def get_subject(actor: Actor, *, subject_id: int | None = None, user_id: str | None = None) -> SubjectDetail:
    """Everything linked to one subject, for the detail pane and ``users show``. Audited as a view."""
    require(actor, Permission.SUBJECTS_VIEW)
    subject = _get(subject_id, user_id)
    open_states = ("received", "identity_verification", "in_progress", "awaiting_requester")
    with database_errors():
        changes = [
            ChangeRow(c.field, c.old_value, c.new_value, c.reason, c.operator.username, c.changed_at, c.request)
            for c in SubjectChange.select(SubjectChange, Operator).join(Operator)
            .where(SubjectChange.subject == subject.id).order_by(SubjectChange.changed_at.desc(),
                                                                 SubjectChange.id.desc())
        ]
        detail = SubjectDetail(
            subject=_row(subject),
            recordings=Recording.select().where(Recording.subject == subject.id).count(),
            crash_events=CrashEvent.select().where(CrashEvent.subject == subject.id).count(),
            requests=RightsRequest.select().where(RightsRequest.subject == subject.id).count(),
            open_requests=RightsRequest.select().where((RightsRequest.subject == subject.id)
                                                       & RightsRequest.state.in_(open_states)).count(),
            active_holds=LegalHold.select().where((LegalHold.subject == subject.id)
                                                  & LegalHold.released_at.is_null()).count(),
            changes=changes,
            restricted_reason=subject.restricted_reason if subject.restricted else None,
            objected_reason=subject.objected_reason if subject.objected else None,
        )
        with database.atomic():
            audit.record(actor, "subject.view", "subject", subject.id)
    return detail


def rectify_subject(actor: Actor, subject_id: int, field_name: str, new_value: str | None, reason: str, *,
                    expected_version: int | None = None, request_id: int | None = None) -> SubjectRow:
    """Correct one field of a subject (GDPR Art. 16).

    Guarantees: the old and new values go to the subject's change history with
    the reason; the audit event records only which field changed; the update is
    refused with ``ConflictError`` (showing the current value) when another
    workstation changed the subject after ``expected_version`` was read.
    """
    require(actor, Permission.SUBJECTS_RECTIFY)
    if field_name not in RECTIFIABLE_FIELDS:
        raise ValidationError(f"“{field_name}” cannot be corrected; choose one of {', '.join(RECTIFIABLE_FIELDS)}.")
    reason_text = " ".join((reason or "").split())
    if not reason_text:
        raise ValidationError("A correction needs a reason (it goes to the subject's change history).")
    if len(reason_text) > settings.MAX_REASON_LENGTH:
        raise ValidationError(f"The reason may have at most {settings.MAX_REASON_LENGTH:,} characters.")
    value = validate_field(field_name, new_value)
    with database_errors(), database.atomic():
        subject = _get(subject_id)
        old = getattr(subject, field_name)
        if expected_version is not None and subject.version != expected_version:
            raise ConflictError(
                f"This user account was changed on another workstation. Its {RECTIFIABLE_FIELDS[field_name]} "
                f"is now “{_display(old) or '—'}”. Review the current value and correct again if needed.",
                current={field_name: _display(old), "version": subject.version},
            )
        if _display(old) == _display(value):
            raise ValidationError(f"The {RECTIFIABLE_FIELDS[field_name].lower()} already has this value.")
        changes: dict[Any, Any] = {field_name: value, "updated_at": utcnow(), "version": Subject.version + 1}
        if field_name == "name":
            changes["name_key"] = fold(value)[:200]
            changes["search_key"] = make_search_key(value, subject.user_id)
        updated = (Subject.update(changes)
                   .where((Subject.id == subject.id) & (Subject.version == subject.version)).execute())
        if updated != 1:
            current = _get(subject.id)
            raise ConflictError(
                "This user account was changed on another workstation while you edited it; "
                "review the current value and correct again if needed.",
                current={field_name: _display(getattr(current, field_name)), "version": current.version},
            )
        SubjectChange.create(subject=subject.id, field=field_name, old_value=_display(old),
                             new_value=_display(value), reason=reason_text, operator=actor.operator_id,
                             request=request_id)
        audit.record(actor, "subject.rectify", "subject", subject.id, field=field_name, request=request_id)
        return _row(_get(subject.id))


# ---------------------------------------------------------------- CSV import


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "refused": [{"line": line, "reason": reason} for line, reason in self.refused]}


IMPORT_BATCH = 500


def _parse_csv_row(raw: dict[str, str | None]) -> dict[str, Any]:
    values: dict[str, Any] = {"user_id": validate_user_id(raw.get("user_id") or "")}
    for name in ("name", "email", "phone", "birth_date", "created_at", "last_active_at"):
        values[name] = validate_field(name, raw.get(name))
    return values


def import_subjects_csv(actor: Actor, path: Path, *,
                        progress: Callable[[int], bool | None] | None = None) -> ImportReport:
    """Load accounts from a CSV with the header ``user_id,name,email,phone,birth_date,created_at,last_active_at``.

    Idempotent by user ID: a new ID is created, a known one is updated (each
    changed field goes to the subject's change history with the reason
    "import"). A bad row is refused with its line number and reason while the
    good rows load. Rows are written in atomic batches; ``progress`` gets the
    number of rows read and may return ``False`` to stop after the current batch.
    A file that is not UTF-8 anywhere in it is refused as a whole, before any
    row is written (a half-imported file in the wrong encoding would store
    garbled names).
    """
    require(actor, Permission.SUBJECTS_IMPORT)
    report = ImportReport()
    try:
        _check_utf8(path)
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise ValidationError(f"The file {path} does not exist.") from exc
    except IsADirectoryError as exc:
        raise ValidationError(f"{path} is a folder, not a CSV file.") from exc
    except OSError as exc:
        raise ValidationError(f"The file {path} cannot be read: {exc.strerror}.") from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValidationError(f"{path.name} is not a UTF-8 CSV file ({exc}).") from exc
        missing = [h for h in ("user_id", "name") if h not in header]
        if missing:
            raise ValidationError(
                f"{path.name} has no {' and '.join(missing)} column; the header must be "
                + ",".join(CSV_HEADER) + "."
            )
        reader.fieldnames = header
        batch: list[tuple[int, dict[str, Any]]] = []
        seen: dict[str, int] = {}
        rows_read = 0
        try:
            for raw in reader:
                rows_read += 1
                line = reader.line_num
                if None in raw:
                    surplus = raw[None]
                    extra = len(surplus) if isinstance(surplus, list) else 1
                    report.refused.append((line, f"The row has {len(header) + extra} fields; the header has "
                                                 f"{len(header)}."))
                    continue
                try:
                    values = _parse_csv_row(raw)
                except ValidationError as exc:
                    report.refused.append((line, exc.message))
                    continue
                if values["user_id"] in seen:
                    report.refused.append((line, f"The user ID {values['user_id']} appears earlier in the file "
                                                 f"(line {seen[values['user_id']]:,})."))
                    continue
                seen[values["user_id"]] = line
                batch.append((line, values))
                if len(batch) >= IMPORT_BATCH:
                    _write_import_batch(actor, batch, report)
                    batch = []
                    if progress is not None and progress(rows_read) is False:
                        return report
        except (UnicodeDecodeError, csv.Error) as exc:
            report.refused.append((reader.line_num + 1, f"the file cannot be read from here on ({exc})"))
        if batch:
            _write_import_batch(actor, batch, report)
        if progress is not None:
            progress(rows_read)
    return report


def _check_utf8(path: Path) -> None:
    """Raise ``ValidationError`` naming the first line whose bytes are not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: max(0, exc.start)].count(b"\n")
                raise ValidationError(
                    f"{path.name} is not a UTF-8 file: line {line:,} holds bytes that are not UTF-8. "
                    "Save it as “CSV UTF-8” and import it again; nothing was imported."
                ) from exc
            line += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{path.name} is not a UTF-8 file: it ends in the middle of a character. Nothing was imported."
            ) from exc


def _write_import_batch(actor: Actor, batch: list[tuple[int, dict[str, Any]]], report: ImportReport) -> None:
    ids = [values["user_id"] for _, values in batch]
    created_ids: list[int] = []
    updated_ids: list[int] = []
    with database_errors(), database.atomic():
        existing = {s.user_id: s for s in Subject.select().where(Subject.user_id.in_(ids))}
        new_rows = []
        now = utcnow()
        for _line, values in batch:
            current = existing.get(values["user_id"])
            if current is None:
                new_rows.append({
                    **values,
                    "created_at": values["created_at"] or now,
                    "name_key": fold(values["name"])[:200],
                    "search_key": make_search_key(values["name"], values["user_id"]),
                    "updated_at": now,
                })
                continue
            changed = {}
            for name in ("name", "email", "phone", "birth_date", "last_active_at"):
                if values[name] is not None and _display(getattr(current, name)) != _display(values[name]):
                    changed[name] = values[name]
            if not changed:
                report.unchanged += 1
                continue
            for name, value in changed.items():
                if name in RECTIFIABLE_FIELDS:
                    SubjectChange.create(subject=current.id, field=name, old_value=_display(getattr(current, name)),
                                         new_value=_display(value), reason="import", operator=actor.operator_id)
            if "name" in changed:
                changed["name_key"] = fold(changed["name"])[:200]
                changed["search_key"] = make_search_key(changed["name"], current.user_id)
            Subject.update(**changed, updated_at=now, version=Subject.version + 1).where(
                Subject.id == current.id).execute()
            updated_ids.append(current.id)
        if new_rows:
            Subject.insert_many(new_rows).execute()
            created_ids = [s.id for s in Subject.select(Subject.id).where(
                Subject.user_id.in_([r["user_id"] for r in new_rows]))]
        report.created += len(created_ids)
        report.updated += len(updated_ids)
        audit.record(actor, "subjects.import", "subject", None, created=audit.audited_ids(created_ids),
                     updated=audit.audited_ids(updated_ids))


def export_rows(rows: Iterable[SubjectRow]) -> list[dict[str, Any]]:
    return [r.as_json() for r in rows]
