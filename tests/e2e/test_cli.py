"""The command line, run as a separate process the way scripts and installers run it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ADMIN_PW = "admin password 1"
OFFICER_PW = "officer password 1"


def run(home: Path, *args: str, env: dict[str, str] | None = None,
        check: bool = False) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RCRM_")}
    full_env.update({"RCRM_HOME": str(home), "RCRM_FAST_HASHES": "1", "QT_QPA_PLATFORM": "offscreen"})
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "rcrm_desktop", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    home = tmp_path / "cli"
    run(home, "init", "--json", env={"RCRM_ADMIN_PASSWORD": ADMIN_PW}, check=True)
    run(home, "operators", "add", "officer", "--role", "compliance", "--display-name", "Olga Officer",
        env={"RCRM_OPERATOR": "admin", "RCRM_PASSWORD": ADMIN_PW, "RCRM_NEW_PASSWORD": OFFICER_PW}, check=True)
    run(home, "operators", "add", "helper", "--role", "support",
        env={"RCRM_OPERATOR": "admin", "RCRM_PASSWORD": ADMIN_PW, "RCRM_NEW_PASSWORD": OFFICER_PW}, check=True)
    return home


OFFICER = {"RCRM_OPERATOR": "officer", "RCRM_PASSWORD": OFFICER_PW}
HELPER = {"RCRM_OPERATOR": "helper", "RCRM_PASSWORD": OFFICER_PW}

CSV = (
    "user_id,name,email,phone,birth_date,created_at,last_active_at\n"
    "U-1,Jan Šťastný,jan@example.sk,+421 900 123 456,1980-02-03,2024-01-01T10:00:00Z,2026-11-01T08:00:00Z\n"
    "U-2,Petra Nováková,not-an-email,,,,\n"
    "U-3,\"O'Brien, Seán\",sean@example.com,,2015-06-01,,\n"
    ",Nobody,,,,,\n"
)


def test_init_is_idempotent_and_reports_json(cli_home: Path) -> None:
    again = as_json(run(cli_home, "init", "--json", check=True))
    assert again["schema_version"] >= 1 and again["created"] is False and again["admin_created"] is None


def test_init_without_a_password_in_a_script_fails_clearly(tmp_path: Path) -> None:
    proc = run(tmp_path / "x", "init")
    assert proc.returncode == 2
    assert "RCRM_ADMIN_PASSWORD" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_users_import_list_show_rectify(cli_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text(CSV, encoding="utf-8")
    report = run(cli_home, "users", "import", str(source), "--json", env=OFFICER)
    assert report.returncode == 1  # some rows refused
    data = as_json(report)
    assert data["created"] == 2
    assert [r["line"] for r in data["refused"]] == [3, 5]
    assert "e-mail" in data["refused"][0]["reason"]
    again = as_json(run(cli_home, "users", "import", str(source), "--json", env=OFFICER))
    assert again["created"] == 0 and again["unchanged"] == 2

    found = as_json(run(cli_home, "users", "list", "--search", "STASTNY", "--json", env=HELPER, check=True))
    assert [u["user_id"] for u in found] == ["U-1"]
    text = run(cli_home, "users", "list", env=HELPER, check=True).stdout
    assert "O'Brien, Seán" in text and "2 user accounts" in text

    denied = run(cli_home, "users", "rectify", "U-1", "--field", "name", "--value", "X", "--reason", "r", env=HELPER)
    assert denied.returncode == 5 and "may not do this" in denied.stderr

    run(cli_home, "users", "rectify", "U-1", "--field", "name", "--value", "Ján Šťastný",
        "--reason", "spelling per ID card", env=OFFICER, check=True)
    shown = as_json(run(cli_home, "users", "show", "U-1", "--json", env=HELPER, check=True))
    assert shown["name"] == "Ján Šťastný"
    assert shown["change_history"][0]["old_value"] == "Jan Šťastný"
    assert shown["counts"]["recordings"] == 0


def test_commands_on_personal_data_need_an_operator(cli_home: Path) -> None:
    proc = run(cli_home, "users", "list")
    assert proc.returncode == 4
    assert "--operator" in proc.stderr
    wrong = run(cli_home, "users", "list", env={"RCRM_OPERATOR": "officer", "RCRM_PASSWORD": "wrong one!"})
    assert wrong.returncode == 4 and "Wrong operator name or password" in wrong.stderr


def test_audit_verify_catches_a_tampered_row(cli_home: Path) -> None:
    ok = run(cli_home, "audit", "verify")
    assert ok.returncode == 0 and ok.stdout.startswith("OK ") and ok.stdout.strip().endswith("events")
    db = cli_home / "data" / "instance.sqlite3"
    con = sqlite3.connect(db)
    con.execute("UPDATE audit_event SET details = '{\"ids\":[1]}' WHERE seq = 3")
    con.commit()
    con.close()
    broken = run(cli_home, "audit", "verify", "--json")
    assert broken.returncode == 1
    assert as_json(broken)["broken_seq"] == 3
    assert "BROKEN at event 3" in run(cli_home, "audit", "verify").stdout


def test_audit_list_and_export(cli_home: Path, tmp_path: Path) -> None:
    events = as_json(run(cli_home, "audit", "list", "--action", "operator.*", "--json", env=OFFICER, check=True))
    assert {e["action"] for e in events} == {"operator.create", "operator.bootstrap"}
    out = tmp_path / "audit.csv"
    run(cli_home, "audit", "export", "--out", str(out), env=OFFICER, check=True)
    assert out.read_text(encoding="utf-8").startswith("seq,time_utc,operator")
    denied = run(cli_home, "audit", "list", env=HELPER)
    assert denied.returncode == 5


@pytest.mark.parametrize(("url", "message"), [
    ("nonsense", "is not a database URL"),
    ("postgresql://postgres@127.0.0.1:1/test", "cannot be reached"),
    ("sqlite:///{tmp}/missing/instance.sqlite3", "no instance database"),
])
def test_bad_database_urls_exit_non_zero_without_traceback(tmp_path: Path, url: str, message: str) -> None:
    proc = run(tmp_path, "--database", url.format(tmp=tmp_path), "audit", "verify")
    assert proc.returncode == 3
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_corrupt_database_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.sqlite3"
    bad.write_bytes(b"\x00garbage" * 500)
    proc = run(tmp_path, "--database", f"sqlite:///{bad}", "init", env={"RCRM_ADMIN_PASSWORD": ADMIN_PW})
    assert proc.returncode == 3 and "not an RCRM instance database" in proc.stderr


def test_settings_admin_only(cli_home: Path) -> None:
    admin = {"RCRM_OPERATOR": "admin", "RCRM_PASSWORD": ADMIN_PW}
    shown = as_json(run(cli_home, "settings", "idle_lock_minutes", "5", "--json", env=admin, check=True))
    assert shown == {"idle_lock_minutes": "5"}
    denied = run(cli_home, "settings", "idle_lock_minutes", "60", env=OFFICER)
    assert denied.returncode == 5
    bad = run(cli_home, "settings", "idle_lock_minutes", "abc", env=admin)
    assert bad.returncode == 2 and "whole number" in bad.stderr


def test_log_file_holds_no_personal_data(cli_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "users.csv"
    source.write_text(CSV, encoding="utf-8")
    run(cli_home, "users", "import", str(source), env=OFFICER)
    run(cli_home, "users", "list", "--search", "Šťastný", env=HELPER, check=True)
    run(cli_home, "users", "show", "U-1", env=HELPER, check=True)
    log_text = "".join(p.read_text(encoding="utf-8") for p in (cli_home / "log").glob("*.log*"))
    for secret in ("Šťastný", "jan@example.sk", "900 123 456", "Seán", ADMIN_PW, OFFICER_PW):
        assert secret not in log_text
