"""Ordered, version-gated schema migrations, written in code.

* A new, empty database gets every table of the current model layer in one
  transaction, plus the engine's substring-search index for subjects
  (``core.search_index``: FTS5 trigram table and triggers on SQLite, a
  ``pg_trgm`` GIN index on PostgreSQL when the extension may be created), and
  is stamped with ``CURRENT_VERSION``.
* An existing database at version *v* runs the steps *v+1 … CURRENT_VERSION*
  in order, each in its own transaction and recorded in ``SchemaVersion``.
  An SQLite file is copied (online backup API) before the first step runs.
* A database whose version is above ``CURRENT_VERSION`` was written by a newer
  program: it is refused with ``SchemaTooNewError`` and left untouched.

Steps are functions in this module (not SQL files) so they work unchanged
inside a PyInstaller bundle. ``SchemaMigrator.from_database`` picks the right
dialect for ``ALTER TABLE`` work in later steps.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import peewee

if TYPE_CHECKING:  # imported when a migration runs: it pulls in every engine's migrator (start-up time)
    from playhouse.migrate import SchemaMigrator

from rcrm_desktop import __version__
from rcrm_desktop.db.connection import database_errors, engine_name
from rcrm_desktop.db.models import ALL_MODELS, AuditHead, SchemaVersion, database
from rcrm_desktop.errors import InstanceError, SchemaTooNewError

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64

MigrationStep = Callable[["SchemaMigrator"], None]

#: Steps after the first schema, keyed by the version they bring the database to.
#: Version 1 is the initial schema, created from the models.
STEPS: dict[int, MigrationStep] = {}

CURRENT_VERSION = 1


def schema_version() -> int | None:
    """The database's schema version, or ``None`` for a database without RCRM tables."""
    with database_errors():
        if not database.table_exists(SchemaVersion._meta.table_name):
            return None
        row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def needs_migration() -> bool:
    version = schema_version()
    return version is None or version < CURRENT_VERSION


def migrate(*, backup_dir: Path | None = None) -> int:
    """Bring the connected database to ``CURRENT_VERSION``; returns the version it started at (0 = new).

    Raises ``SchemaTooNewError`` for a database newer than this program and
    ``InstanceError`` when a step fails (its transaction is rolled back, so the
    database stays at the last version that completed).
    """
    version = schema_version()
    if version is None:
        _refuse_foreign_database()
        from rcrm_desktop.core import search_index  # core builds on db; imported late to avoid a cycle

        with database_errors(), database.atomic():
            database.create_tables(ALL_MODELS)
            _convert_mysql_charset()
            search_index.create_objects()
            AuditHead.create(id=1, last_seq=0, last_hash=GENESIS_HASH)
            SchemaVersion.create(version=CURRENT_VERSION, program_version=__version__)
        log.info("Created a new instance schema at version %d", CURRENT_VERSION)
        return 0
    if version > CURRENT_VERSION:
        refuse_newer(version)
    if version == CURRENT_VERSION:
        return version
    backup = backup_sqlite(version, backup_dir)
    if backup is not None:
        log.info("Backed up the instance database to %s before migrating", backup)
    from playhouse.migrate import SchemaMigrator

    migrator = SchemaMigrator.from_database(database.obj)
    for target in range(version + 1, CURRENT_VERSION + 1):
        step = STEPS.get(target)
        if step is None:
            raise InstanceError(f"No migration step to schema version {target}; this program is incomplete.")
        try:
            with database_errors(), database.atomic():
                step(migrator)
                SchemaVersion.create(version=target, program_version=__version__)
        except InstanceError as exc:
            raise InstanceError(
                f"Migrating the instance database to schema version {target} failed and was "
                f"rolled back (it stays at version {target - 1}): {exc}"
            ) from exc
        log.info("Migrated the instance schema to version %d", target)
    return version


def refuse_newer(version: int) -> None:
    raise SchemaTooNewError(
        f"This instance database has schema version {version}, but this RCRM Desktop "
        f"({__version__}) understands versions up to {CURRENT_VERSION}. "
        "Install a newer RCRM Desktop; the database was not changed."
    )


def _refuse_foreign_database() -> None:
    """An empty database is fine; one full of somebody else's tables is not ours to add to."""
    tables = set(database.get_tables())
    ours = {m._meta.table_name for m in ALL_MODELS}
    foreign = tables - ours
    if tables & ours:
        raise InstanceError(
            "This database holds some RCRM tables but no schema version; it may be damaged. "
            "Restore it from a backup."
        )
    if foreign and engine_name() == "sqlite":
        raise InstanceError(
            "This SQLite file already holds other tables (" + ", ".join(sorted(foreign)[:5]) + "); "
            "it is not an RCRM instance."
        )


def _convert_mysql_charset() -> None:
    """Tables on MariaDB/MySQL use utf8mb4 with a binary collation.

    utf8mb4 stores any character (emoji included); the binary collation makes
    equality and ``LIKE`` behave as on SQLite and PostgreSQL. Case- and
    accent-insensitive search uses the folded ``*_key`` columns instead.
    """
    if engine_name() != "mysql":
        return
    for model in ALL_MODELS:
        database.execute_sql(
            f"ALTER TABLE `{model._meta.table_name}` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )


def backup_sqlite(version: int, backup_dir: Path | None = None) -> Path | None:
    """Copy an SQLite instance before migrating it. Returns the backup's path (``None`` for servers)."""
    if engine_name() != "sqlite":
        return None
    source = Path(database.obj.database)
    target_dir = backup_dir or source.parent
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"{source.stem}.schema{version}.{stamp}.bak.sqlite3"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        src = database.connection()
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    except (OSError, sqlite3.Error) as exc:
        raise InstanceError(
            f"Could not back up the database to {target} before migrating ({exc}); nothing was changed."
        ) from exc
    return target
