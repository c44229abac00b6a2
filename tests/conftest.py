"""Test set-up shared by every test.

* Qt runs offscreen (set before anything imports Qt).
* ``RCRM_HOME`` points every platformdirs location (data, config, log, cache)
  at the test's own ``tmp_path``, so no test touches the real instance.
* ``instance`` gives a fresh, migrated instance on each engine: SQLite always;
  PostgreSQL and MariaDB when ``RCRM_TEST_POSTGRES_URL`` / ``RCRM_TEST_MYSQL_URL``
  name a server (CI sets both; without them those cases skip with the reason).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["RCRM_FAST_HASHES"] = "1"
os.environ.pop("RCRM_DATABASE_URL", None)
os.environ.pop("RCRM_OPERATOR", None)
os.environ.pop("RCRM_PASSWORD", None)

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rcrm_desktop.core import operators  # noqa: E402
from rcrm_desktop.core.instance import open_instance  # noqa: E402
from rcrm_desktop.core.permissions import Actor, Role  # noqa: E402
from rcrm_desktop.db import connection  # noqa: E402
from rcrm_desktop.db.models import ALL_MODELS, database  # noqa: E402

PASSWORD = "correct horse battery"

SERVER_URLS = {
    "postgres": os.environ.get("RCRM_TEST_POSTGRES_URL"),
    "mysql": os.environ.get("RCRM_TEST_MYSQL_URL"),
}


def engine_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    for engine, mark in (("postgres", pytest.mark.postgres), ("mysql", pytest.mark.mysql)):
        url = SERVER_URLS[engine]
        skip = pytest.mark.skipif(
            not url,
            reason=f"no {engine} server: set RCRM_TEST_{engine.upper()}_URL (CI sets it)",
        )
        params.append(pytest.param(engine, id=engine, marks=[mark, skip]))
    return params


def drop_all_tables() -> None:
    engine = connection.engine_name()
    tables = set(database.get_tables())
    if engine == "mysql":
        database.execute_sql("SET FOREIGN_KEY_CHECKS=0")
    for model in reversed(ALL_MODELS):
        name = model._meta.table_name
        if name in tables:
            cascade = " CASCADE" if engine == "postgresql" else ""
            quote = "`" if engine == "mysql" else '"'
            database.execute_sql(f"DROP TABLE IF EXISTS {quote}{name}{quote}{cascade}")
    for leftover in set(database.get_tables()) - {m._meta.table_name for m in ALL_MODELS}:
        if leftover.startswith("test_"):
            quote = "`" if engine == "mysql" else '"'
            database.execute_sql(f"DROP TABLE IF EXISTS {quote}{leftover}{quote}")
    if engine == "mysql":
        database.execute_sql("SET FOREIGN_KEY_CHECKS=1")


@pytest.fixture(autouse=True)
def rcrm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RCRM_HOME", str(home))
    return home


@dataclass
class Instance:
    engine: str
    url: str
    admin: Actor
    compliance: Actor
    support: Actor


_session_databases: dict[str, str] = {}


def server_url(engine: str) -> str:
    """A database of this test process's own on the server, so parallel runs never collide.

    Created on first use from the base URL (which names an existing database to
    connect to) and dropped when the session ends.
    """
    if engine in _session_databases:
        return _session_databases[engine]
    base = SERVER_URLS[engine]
    assert base
    name = f"rcrm_test_{os.getpid()}"
    connection.connect(base)
    try:
        if engine == "postgres":
            database.execute_sql(f"DROP DATABASE IF EXISTS {name}")
            database.execute_sql(f"CREATE DATABASE {name}")
        else:
            database.execute_sql(f"DROP DATABASE IF EXISTS `{name}`")
            database.execute_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    finally:
        connection.close()
    head, _, tail = base.rpartition("/")
    query = ""
    if "?" in tail:
        query = "?" + tail.split("?", 1)[1]
    _session_databases[engine] = f"{head}/{name}{query}"
    return _session_databases[engine]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine, url in _session_databases.items():
        base = SERVER_URLS[engine]
        assert base
        name = url.rpartition("/")[2].split("?")[0]
        try:
            connection.connect(base)
            quote = "`" if engine == "mysql" else ""
            database.execute_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}")
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass
        finally:
            connection.close()


def instance_url(engine: str, home: Path) -> str:
    if engine == "sqlite":
        return "sqlite:///" + (home / "data" / "instance.sqlite3").as_posix()
    return server_url(engine)


def make_instance(engine: str, home: Path) -> Instance:
    url = instance_url(engine, home)
    if engine != "sqlite":
        connection.connect(url)
        drop_all_tables()
        connection.close()
    open_instance(url)
    operators.bootstrap_admin("admin", PASSWORD, "Ada Admin")
    admin = operators.authenticate("admin", PASSWORD)
    operators.create_operator(admin, "eva", "Eva Compliance", Role.COMPLIANCE, PASSWORD)
    operators.create_operator(admin, "tomas", "Tomáš Support", Role.SUPPORT, PASSWORD)
    return Instance(engine, url, admin, operators.authenticate("eva", PASSWORD),
                    operators.authenticate("tomas", PASSWORD))


@pytest.fixture(params=engine_params())
def instance(request: pytest.FixtureRequest, rcrm_home: Path) -> Iterator[Instance]:
    """A fresh instance with an admin, a compliance officer and a support operator, on each engine."""
    inst = make_instance(request.param, rcrm_home)
    yield inst
    connection.close()


@pytest.fixture
def sqlite_instance(rcrm_home: Path) -> Iterator[Instance]:
    """The same, on SQLite only (for tests about files, the GUI and the CLI)."""
    inst = make_instance("sqlite", rcrm_home)
    yield inst
    connection.close()
