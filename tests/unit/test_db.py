"""The instance database: URLs, clear errors, migrations, backups, refusal of newer schemas."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SchemaMigrator

from rcrm_desktop.core import audit, subjects
from rcrm_desktop.core.instance import get_setting, open_instance, set_system_setting
from rcrm_desktop.db import connection, migrations
from rcrm_desktop.db.models import InstanceSetting, SchemaVersion, Subject, database
from rcrm_desktop.errors import InstanceError, SchemaTooNewError
from tests.conftest import SERVER_URLS, Instance


def test_every_model_roundtrips_on_each_engine(instance: Instance) -> None:
    """Emoji, accents and microseconds survive on SQLite, PostgreSQL and MariaDB alike."""
    import datetime as dt

    when = dt.datetime(2026, 3, 31, 23, 59, 58, 123456)
    Subject.create(user_id="U-😀-1", name="Ľubomír Šťastný 🎧", name_key="x", search_key="x", created_at=when)
    row = Subject.get(Subject.user_id == "U-😀-1")
    assert row.name == "Ľubomír Šťastný 🎧"
    assert row.created_at == when


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "is not a database URL"),
        ("nonsense", "is not a database URL"),
        ("oracle://host/db", "is not a supported database"),
        ("sqlite://", "names no file"),
        ("sqlite://host/file.db", "three slashes"),
        ("postgresql://localhost", "names no database"),
        ("mysql://root@localhost:notaport/test", "port"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, fragment: str) -> None:
    with pytest.raises(InstanceError) as err:
        connection.connect(url)
    assert fragment in str(err.value)


def test_sqlite_folder_corrupt_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InstanceError, match="is a folder"):
        connection.connect(f"sqlite:///{tmp_path}")
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InstanceError, match="not an RCRM instance database"):
        connection.connect(f"sqlite:///{bad}")
    truncated = tmp_path / "truncated.sqlite3"
    good = sqlite3.connect(truncated)
    good.execute("CREATE TABLE t (x)")
    good.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 50)
    good.commit()
    good.close()
    data = truncated.read_bytes()
    truncated.write_bytes(data[:100] + b"\xff" * 3000 + data[3100:6000])
    with pytest.raises(InstanceError):
        open_instance(f"sqlite:///{truncated}")
    foreign = tmp_path / "foreign.sqlite3"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(InstanceError, match="not an RCRM instance"):
        open_instance(f"sqlite:///{foreign}")
    connection.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_data_directory(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InstanceError, match="read-only"):
        connection.connect(f"sqlite:///{folder}/instance.sqlite3")


def test_read_only_database_file_is_reported(tmp_path: Path) -> None:
    """Even as root, a database opened read-only by SQLite refuses writes with a clear message."""
    url = f"sqlite:///{tmp_path}/ro.sqlite3"
    open_instance(url)
    connection.close()
    db = peewee.SqliteDatabase(f"file:{tmp_path}/ro.sqlite3?mode=ro", uri=True)
    database.initialize(db)
    with pytest.raises(InstanceError, match="read-only"), connection.database_errors():
        InstanceSetting.create(key="k", value="v")
    db.close()


def test_locked_sqlite_database_gives_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "SQLITE_BUSY_TIMEOUT_S", 0.3)
    path = tmp_path / "locked.sqlite3"
    open_instance(f"sqlite:///{path}")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(InstanceError, match="locked"):
            set_system_setting("instance_name", "Second workstation")
    finally:
        holder.rollback()
        holder.close()
    assert get_setting("instance_name") == "RCRM instance"
    connection.close()


def test_unreachable_server_and_wrong_credentials() -> None:
    with pytest.raises(InstanceError, match="cannot be reached"):
        connection.connect("postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(InstanceError, match="cannot be reached"):
        connection.connect("mysql://root@127.0.0.1:1/test")


@pytest.mark.mysql
@pytest.mark.skipif(not SERVER_URLS["mysql"], reason="no mysql server: set RCRM_TEST_MYSQL_URL (CI sets it)")
def test_wrong_password_for_the_database_server() -> None:
    with pytest.raises(InstanceError, match="refused the user name or password"):
        connection.connect("mysql://nobody:wrong-password@127.0.0.1:3306/test")


@pytest.mark.postgres
@pytest.mark.skipif(not SERVER_URLS["postgres"], reason="no postgres server: set RCRM_TEST_POSTGRES_URL")
def test_unknown_database_on_the_server() -> None:
    with pytest.raises(InstanceError, match="does not exist"):
        connection.connect("postgresql://postgres@127.0.0.1:5432/no_such_database_rcrm")


def test_password_never_appears_in_messages() -> None:
    info = connection.parse_url("postgresql://alice:s3cret@db.example:5433/crm")
    assert "s3cret" not in info.redacted
    with pytest.raises(InstanceError) as err:
        connection.connect("postgresql://alice:s3cret@127.0.0.1:1/crm")
    assert "s3cret" not in str(err.value)


def test_new_instance_is_stamped_and_reopening_changes_nothing(instance: Instance) -> None:
    assert migrations.schema_version() == migrations.CURRENT_VERSION
    opened = open_instance(instance.url)
    assert opened.migrated_from is None
    assert SchemaVersion.select().count() == 1


def test_schema_newer_than_the_program_is_refused_and_untouched(instance: Instance) -> None:
    SchemaVersion.create(version=migrations.CURRENT_VERSION + 5, program_version="99.0")
    before = audit.verify_chain().count
    connection.close()
    with pytest.raises(SchemaTooNewError) as err:
        open_instance(instance.url)
    assert f"schema version {migrations.CURRENT_VERSION + 5}" in str(err.value)
    assert "Install a newer RCRM Desktop" in str(err.value)
    assert audit.verify_chain().count == before


def _add_note_column(migrator: SchemaMigrator) -> None:
    from playhouse.migrate import migrate

    migrate(migrator.add_column("instance_setting", "note", peewee.CharField(max_length=50, null=True)))


def _failing_step(migrator: SchemaMigrator) -> None:
    InstanceSetting.create(key="half", value="written")
    raise peewee.OperationalError("simulated failure in step")


def test_upgrade_runs_ordered_steps_and_backs_up_sqlite(
        instance: Instance, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 2)
    monkeypatch.setattr(migrations, "STEPS", {2: _add_note_column})
    connection.close()
    opened = open_instance(instance.url)
    assert opened.migrated_from == 1
    assert migrations.schema_version() == 2
    columns = {c.name for c in database.get_columns("instance_setting")}
    assert "note" in columns
    if instance.engine == "sqlite":
        backups = list(Path(instance.url[len("sqlite:///"):]).parent.glob("*.schema1.*.bak.sqlite3"))
        assert len(backups) == 1
        con = sqlite3.connect(backups[0])
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 1
        con.close()


def test_failed_step_rolls_back_and_keeps_the_version(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    if instance.engine == "mysql":
        pytest.skip("transactional DDL is checked on SQLite and PostgreSQL; MariaDB commits DDL implicitly")
    monkeypatch.setattr(migrations, "CURRENT_VERSION", 2)
    monkeypatch.setattr(migrations, "STEPS", {2: _failing_step})
    connection.close()
    with pytest.raises(InstanceError, match="rolled back"):
        open_instance(instance.url)
    assert migrations.schema_version() == 1
    assert InstanceSetting.get_or_none(InstanceSetting.key == "half") is None


def test_concurrent_audit_appends_keep_one_chain(instance: Instance) -> None:
    """Four workstations appending at once: no fork, no gap (the head row serialises appends)."""
    db = database.obj
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with db.connection_context():
                for _ in range(15):
                    with database.atomic():
                        audit.record(instance.support, "test.concurrent", "subject", 1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = audit.verify_chain()
    assert report.ok, report.summary()
    assert subjects is not None


def test_sqlite_overwrites_deleted_rows(sqlite_instance: Instance) -> None:
    """Erasure must not leave a subject's name in the file's free pages (PRAGMA secure_delete)."""
    assert database.execute_sql("PRAGMA secure_delete").fetchone()[0] == 1
    marker = "Zdenka Unforgettable-Marker"
    Subject.create(user_id="U-SECURE", name=marker, name_key="x", search_key="x")
    Subject.delete().where(Subject.user_id == "U-SECURE").execute()
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(sqlite_instance.url[len("sqlite:///"):])
    blob = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                                if path.with_name(path.name + "-wal").exists() else b"")
    assert marker.encode() not in blob
