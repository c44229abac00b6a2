"""Nothing leaves the instance: the main flows work with every network connection refused
except the one to the database server (privacy policy: "nothing is sent to external servers").

Every Python-level socket connection and name lookup is intercepted (a
``sys.addaudithook`` records them, and ``socket.socket.connect`` refuses any
address that is not the database server). libpq (psycopg2) opens its own C
socket, only ever to the configured server.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rcrm_desktop.core import audit, operators, subjects
from rcrm_desktop.core.instance import dashboard_counts, open_instance
from rcrm_desktop.db import connection
from tests.conftest import SERVER_URLS, server_url

_state: dict[str, Any] = {"active": False, "allowed": set(), "seen": []}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _state["active"]:
        return
    if event == "socket.connect":
        address = args[1]
        _state["seen"].append(address)
    elif event in {"socket.getaddrinfo", "socket.gethostbyname"}:
        host = args[0]
        if host not in {"127.0.0.1", "localhost", "::1", None}:
            _state["seen"].append(("lookup", host))


sys.addaudithook(_hook)


@pytest.fixture
def network_refused(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or tuple(address)[:2] in _state["allowed"]:
            return real_connect(self, address)
        raise ConnectionRefusedError(f"test: connection to {address} refused")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    _state.update(active=True, seen=[])
    yield _state
    _state["active"] = False


def _engines() -> list[Any]:
    params: list[Any] = ["sqlite"]
    params.append(pytest.param("mysql", marks=[pytest.mark.mysql, pytest.mark.skipif(
        not SERVER_URLS["mysql"], reason="no mysql server: set RCRM_TEST_MYSQL_URL (CI sets it)")]))
    return params


@pytest.mark.parametrize("engine", _engines())
def test_main_flows_work_with_the_network_refused(engine: str, network_refused: dict[str, Any], tmp_path: Path,
                                                  qtbot: Any) -> None:
    from rcrm_desktop.core import demo

    if engine == "sqlite":
        url = f"sqlite:///{tmp_path}/net.sqlite3"
    else:
        network_refused["allowed"] = {("127.0.0.1", 3306)}
        url = server_url(engine)
        connection.connect(url)
        from tests.conftest import drop_all_tables

        drop_all_tables()
        connection.close()
    open_instance(url)
    credentials = demo.create_demo_operators("network test pw")
    demo.populate_demo(subjects=40, recordings=4, with_audio=True)
    officer = operators.authenticate(next(u for u, r, _ in credentials if r == "compliance"), "network test pw")
    rows = subjects.list_subjects(officer, "a")
    detail = subjects.get_subject(officer, subject_id=rows[0].id)
    subjects.rectify_subject(officer, detail.subject.id, "phone", "+421 900 000 001", "caller asked",
                             expected_version=detail.subject.version)
    assert dashboard_counts(officer).subjects >= 40
    assert audit.verify_chain().ok

    from rcrm_desktop.ui import tasks
    from rcrm_desktop.ui.app import build_main_window
    from rcrm_desktop.ui.session import AppSession

    tasks.set_synchronous(True)
    try:
        opened = open_instance(url)
        window = build_main_window(AppSession(officer, opened))
        qtbot.addWidget(window)
        window.show()
        for index in range(window.area_count()):
            window.switch_area(index)
            qtbot.wait(10)
        window.close()
    finally:
        tasks.set_synchronous(False)
    foreign = [a for a in network_refused["seen"]
               if not (isinstance(a, tuple) and tuple(a)[:2] in network_refused["allowed"])
               and not isinstance(a, str)]
    assert foreign == [], f"connections attempted: {foreign}"
    connection.close()
