"""Opening the instance database from a URL, with errors a person can act on.

Supported URLs (one code path, three engines):

* ``sqlite:///absolute/path/instance.sqlite3`` (the embedded default): WAL
  journal, foreign keys on, ``secure_delete`` (deleted rows are overwritten, so
  an erased subject does not survive in free pages), a busy timeout so that a
  second process waits for a lock instead of failing at once, and ``BEGIN
  IMMEDIATE`` transactions so two writers never deadlock on a lock upgrade.
* ``postgresql://user:password@host:port/dbname``
* ``mysql://user:password@host:port/dbname`` (MariaDB or MySQL; utf8mb4,
  ``DATETIME(6)`` so microseconds survive, strict SQL mode).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import peewee

from rcrm_desktop.db.models import database
from rcrm_desktop.errors import InstanceError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 10.0
SERVER_CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class InstanceUrl:
    """A parsed instance URL. ``redacted`` is safe to show and log (no password)."""

    engine: str  # "sqlite" | "postgresql" | "mysql"
    url: str
    path: Path | None
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    dbname: str | None
    options: dict[str, str]

    @property
    def redacted(self) -> str:
        if self.engine == "sqlite":
            return self.url
        auth = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.engine}://{auth}{self.host or 'localhost'}{port}/{self.dbname}"


def parse_url(url: str) -> InstanceUrl:
    """Parse and check an instance URL; a malformed one raises ``InstanceError`` naming the problem."""
    if not url or "://" not in url:
        raise InstanceError(
            f"“{url}” is not a database URL. Use sqlite:///path/to/file.sqlite3, "
            "postgresql://user:password@host/dbname or mysql://user:password@host/dbname."
        )
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    options = dict(parse_qsl(parsed.query, keep_blank_values=True))
    if scheme == "sqlite":
        raw = unquote(parsed.path)
        if parsed.netloc:
            raise InstanceError(
                f"“{url}” has a host part; an SQLite URL has three slashes: sqlite:///path/to/file.sqlite3."
            )
        if not raw or raw == "/":
            raise InstanceError(f"“{url}” names no file. Use sqlite:///path/to/file.sqlite3.")
        return InstanceUrl("sqlite", url, Path(raw), None, None, None, None, None, options)
    engines = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql"}
    engine = engines.get(scheme)
    if engine is None:
        raise InstanceError(
            f"“{scheme}” is not a supported database. RCRM Desktop opens sqlite://, postgresql:// "
            "and mysql:// (MariaDB) URLs."
        )
    dbname = unquote(parsed.path.lstrip("/"))
    if not dbname:
        raise InstanceError(f"“{_strip_password(url)}” names no database; add /dbname after the host.")
    try:
        port = parsed.port
    except ValueError as exc:
        raise InstanceError(f"The port in “{_strip_password(url)}” is not a number.") from exc
    return InstanceUrl(
        engine,
        url,
        None,
        parsed.hostname or "localhost",
        port,
        unquote(parsed.username) if parsed.username else None,
        unquote(parsed.password) if parsed.password else None,
        dbname,
        options,
    )


def _strip_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(":" + parsed.password + "@", ":***@")
    return url


def make_database(info: InstanceUrl) -> peewee.Database:
    """Build (but do not open) the Peewee database object for ``info``."""
    if info.engine == "sqlite":
        assert info.path is not None
        return peewee.SqliteDatabase(
            str(info.path),
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "synchronous": "normal",
                # Erased personal data must not linger in free pages of the file.
                "secure_delete": 1,
                "busy_timeout": int(SQLITE_BUSY_TIMEOUT_S * 1000),
            },
            timeout=SQLITE_BUSY_TIMEOUT_S,
            lock_type="IMMEDIATE",
        )
    if info.engine == "postgresql":
        kwargs: dict[str, Any] = {
            "host": info.host,
            "connect_timeout": SERVER_CONNECT_TIMEOUT_S,
            "application_name": "rcrm-desktop",
        }
        if info.port:
            kwargs["port"] = info.port
        if info.user:
            kwargs["user"] = info.user
        if info.password:
            kwargs["password"] = info.password
        kwargs.update(info.options)
        return peewee.PostgresqlDatabase(info.dbname, **kwargs)
    kwargs = {
        "host": info.host,
        "charset": "utf8mb4",
        "connect_timeout": SERVER_CONNECT_TIMEOUT_S,
        "sql_mode": "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION",
    }
    if info.port:
        kwargs["port"] = info.port
    if info.user:
        kwargs["user"] = info.user
    if info.password:
        kwargs["password"] = info.password
    kwargs.update(info.options)
    return peewee.MySQLDatabase(
        info.dbname,
        field_types={"DATETIME": "DATETIME(6)"},
        **kwargs,
    )


def connect(url: str, *, create: bool = True) -> peewee.Database:
    """Open the instance at ``url`` and bind the model layer to it.

    ``create`` allows a new SQLite file (and its folder) to be made. Returns the
    database object, already connected; every failure raises ``InstanceError``
    with a message that names what was wrong.
    """
    info = parse_url(url)
    if info.engine == "sqlite":
        _check_sqlite_file(info, create=create)
    db = make_database(info)
    try:
        db.connect(reuse_if_open=True)
        if info.engine == "sqlite":
            # A corrupt or foreign file only fails on the first real read.
            db.execute_sql("SELECT count(*) FROM sqlite_master").fetchone()  # type: ignore[no-untyped-call]
        else:
            db.execute_sql("SELECT 1").fetchone()  # type: ignore[no-untyped-call]
    except peewee.PeeweeException as exc:
        with contextlib.suppress(Exception):
            db.close()
        raise describe_database_error(exc, info) from exc
    database.initialize(db)
    log.info("Opened instance %s", info.redacted)
    return db


def _check_sqlite_file(info: InstanceUrl, *, create: bool) -> None:
    assert info.path is not None
    path = info.path
    if path.is_dir():
        raise InstanceError(f"{path} is a folder, not a database file.")
    if path.exists():
        if not os.access(path, os.R_OK):
            raise InstanceError(f"The database file {path} cannot be read (permission denied).")
        with path.open("rb") as fh:
            head = fh.read(16)
        if path.stat().st_size > 0 and head != b"SQLite format 3\x00":
            raise InstanceError(
                f"{path} is not an RCRM instance database (it is not an SQLite file, or it is corrupt)."
            )
        return
    if not create:
        raise InstanceError(f"There is no instance database at {path}. Create one with “rcrm-desktop init”.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstanceError(f"Cannot create the folder {path.parent} for the database: {exc.strerror}.") from exc
    if not os.access(path.parent, os.W_OK):
        raise InstanceError(f"The folder {path.parent} is read-only; the database cannot be created there.")


def describe_database_error(exc: BaseException, info: InstanceUrl | None = None) -> InstanceError:
    """Turn a driver error into an ``InstanceError`` whose message says what happened."""
    text = str(exc).strip() or exc.__class__.__name__
    low = text.lower()
    where = info.redacted if info else "the instance database"
    if "database is locked" in low or "database table is locked" in low:
        return InstanceError(
            f"{where} is locked by another program and stayed locked for "
            f"{SQLITE_BUSY_TIMEOUT_S:.0f} seconds. Close the other program or try again."
        )
    if "file is not a database" in low or "malformed" in low or "file is encrypted" in low:
        return InstanceError(f"{where} is corrupt or is not an SQLite database ({text}).")
    if "readonly" in low or "read-only" in low or "attempt to write" in low:
        return InstanceError(f"{where} is read-only; RCRM Desktop cannot write to it.")
    if "unable to open database" in low:
        return InstanceError(f"{where} cannot be opened (missing folder or no permission).")
    if "password authentication failed" in low or "access denied" in low:
        return InstanceError(f"The database server refused the user name or password in {where}.")
    if (
        "could not connect" in low
        or "connection refused" in low
        or "can't connect" in low
        or "could not translate host" in low
        or "name or service not known" in low
        or "timeout expired" in low
        or "timed out" in low
    ):
        return InstanceError(f"The database server of {where} cannot be reached: {text.splitlines()[0]}")
    if "does not exist" in low or "unknown database" in low:
        return InstanceError(f"The database named in {where} does not exist on the server.")
    if "server has gone away" in low or "lost connection" in low or "server closed the connection" in low:
        return InstanceError(f"The connection to {where} was lost. Check the server and try again.")
    return InstanceError(f"The instance database reported an error: {text.splitlines()[0]}")


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Translate driver errors raised inside the block into ``InstanceError``."""
    try:
        yield
    except (peewee.OperationalError, peewee.InterfaceError, sqlite3.OperationalError) as exc:
        raise describe_database_error(exc) from exc
    except peewee.DatabaseError as exc:
        raise describe_database_error(exc) from exc


def engine_name(db: peewee.Database | None = None) -> str:
    target = db if db is not None else database.obj
    if isinstance(target, peewee.SqliteDatabase):
        return "sqlite"
    if isinstance(target, peewee.PostgresqlDatabase):
        return "postgresql"
    if isinstance(target, peewee.MySQLDatabase):
        return "mysql"
    return "unknown"


def close() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()
