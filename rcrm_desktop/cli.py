"""The command-line front door: no sub-command starts the GUI; sub-commands run headless jobs.

Every sub-command that reads or changes personal data runs as an operator
(``--operator NAME`` or ``RCRM_OPERATOR``; password from ``RCRM_PASSWORD`` or a
prompt) and goes through the same ``core`` functions — so the same permissions
and the same audit events — as the GUI. Every sub-command has ``--json``.
Errors meant for people (``RcrmError``) print one clear line and exit non-zero;
they never print a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rcrm_desktop import APP_NAME, EXECUTABLE, __version__, paths, settings
from rcrm_desktop.errors import AuthenticationError, RcrmError, ValidationError

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- output helpers


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, data: Any, text: str | Callable[[], str]) -> None:
        if self.as_json:
            print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            print(text() if callable(text) else text)


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) if c is not None else "—" for c in row] for row in rows]
    widths = [len(h) for h in header]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(header))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(cell[:60].ljust(widths[i]) for i, cell in enumerate(row)))
    return "\n".join(lines)


# ---------------------------------------------------------------- instance and operator


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from rcrm_desktop.core.instance import open_instance

    return open_instance(args.database, create=create)


def _read_secret(env_name: str, prompt: str, *, confirm: bool = False) -> str:
    value = os.environ.get(env_name)
    if value:
        return value
    if not sys.stdin.isatty():
        raise ValidationError(f"No password: set {env_name} or run in a terminal to be asked for it.")
    first = getpass.getpass(prompt)
    if confirm:
        second = getpass.getpass("Repeat the password: ")
        if first != second:
            raise ValidationError("The two passwords differ.")
    return first


def _login(args: argparse.Namespace) -> Any:
    from rcrm_desktop.core import operators

    name = args.operator or os.environ.get("RCRM_OPERATOR")
    if not name:
        raise AuthenticationError(
            "This command reads or changes personal data and runs as an operator: "
            "give --operator NAME or set RCRM_OPERATOR (password from RCRM_PASSWORD or a prompt)."
        )
    password = _read_secret("RCRM_PASSWORD", f"Password for operator {name}: ")
    return operators.authenticate(name, password)


def _iso(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text + "Z" if hasattr(value, "hour") and value.tzinfo is None else text
    return value


# ---------------------------------------------------------------- init / demo


def cmd_init(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import operators
    from rcrm_desktop.db import migrations

    opened = _open(args, create=True)
    out = Output(args.json)
    created_admin = None
    if operators.operator_count() == 0:
        password = _read_secret("RCRM_ADMIN_PASSWORD", f"New password for administrator {args.admin}: ",
                                confirm=True)
        created_admin = operators.bootstrap_admin(args.admin, password)
    version = migrations.schema_version()
    data = {
        "instance": opened.redacted_url,
        "engine": opened.engine,
        "schema_version": version,
        "migrated_from": opened.migrated_from,
        "created": opened.migrated_from == 0,
        "admin_created": created_admin.username if created_admin else None,
    }

    def text() -> str:
        lines = []
        if opened.migrated_from == 0:
            lines.append(f"Created a new instance at {opened.redacted_url} (schema version {version}).")
        elif opened.migrated_from is not None:
            lines.append(f"Migrated {opened.redacted_url} from schema version {opened.migrated_from} to {version}.")
        else:
            lines.append(f"{opened.redacted_url} is up to date (schema version {version}).")
        if created_admin:
            lines.append(f"Created the administrator “{created_admin.username}”.")
        return "\n".join(lines)

    out.emit(data, text)
    return 0


def _print_progress(stage: str, done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\r  {stage}: {done}/{total}   ", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import demo, operators

    _open(args, create=True)
    out = Output(args.json)
    credentials: list[tuple[str, str, str]] = []
    if operators.operator_count() == 0:
        credentials = demo.create_demo_operators(os.environ.get("RCRM_ADMIN_PASSWORD") or None)
    else:
        from rcrm_desktop.core.permissions import Permission, require

        require(_login(args), Permission.DEMO_CREATE)
    summary: Any
    if args.scale:
        from rcrm_desktop.core import scale

        summary = scale.populate_scale(args.scale, progress=None if args.json else _print_progress)
    else:
        summary = demo.populate_demo(subjects=args.subjects, recordings=args.recordings,
                                     with_audio=not args.no_audio, progress=None if args.json else _print_progress)
    data = {"summary": summary.as_json() if hasattr(summary, "as_json") else str(summary),
            "operators": [{"username": u, "role": r, "password": p} for u, r, p in credentials]}

    def text() -> str:
        lines = [f"Demo data added: {summary}"]
        lines += _credential_lines(credentials)
        return "\n".join(lines)

    out.emit(data, text)
    return 0


def _credential_lines(credentials: list[tuple[str, str, str]]) -> list[str]:
    if not credentials:
        return []
    lines = ["", "Demo operators (this is a demo instance; the log-in screen shows them too):"]
    for username, role, password in credentials:
        lines.append(f"  {username:<12} {role:<11} password: {password}")
    return lines


# ---------------------------------------------------------------- users


def cmd_users_list(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import subjects

    _open(args)
    actor = _login(args)
    rows: list[Any] = []
    after = None
    while len(rows) < args.limit:
        page = subjects.list_subjects(actor, args.search, sort=args.sort, after=after,
                                      limit=min(settings.PAGE_SIZE, args.limit - len(rows)))
        rows.extend(page)
        if len(page) < settings.PAGE_SIZE:
            break
        after = subjects.page_key(page[-1], args.sort)
    Output(args.json).emit(
        [r.as_json() for r in rows],
        lambda: _table([(r.user_id, r.name, r.email, r.phone, _iso(r.birth_date),
                         "restricted" if r.restricted else ("objected" if r.objected else ""))
                        for r in rows], ["USER ID", "NAME", "E-MAIL", "PHONE", "BORN", "STATUS"])
        + f"\n{len(rows)} user account{'s' if len(rows) != 1 else ''}",
    )
    return 0


def cmd_users_show(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import subjects

    _open(args)
    actor = _login(args)
    detail = subjects.get_subject(actor, user_id=args.user_id)
    data = detail.as_json()

    def text() -> str:
        s = detail.subject
        lines = [
            f"User ID:        {s.user_id}",
            f"Name:           {s.name}",
            f"E-mail:         {s.email or '—'}",
            f"Phone:          {s.phone or '—'}",
            f"Date of birth:  {_iso(s.birth_date) or '—'}",
            f"Created:        {_iso(s.created_at)}",
            f"Last active:    {_iso(s.last_active_at) or '—'}",
            f"Restricted:     {'yes (GDPR Art. 18)' if s.restricted else 'no'}",
            f"Objected:       {'yes (GDPR Art. 21)' if s.objected else 'no'}",
            f"Recordings: {detail.recordings}   Crash reports: {detail.crash_events}   "
            f"Requests: {detail.requests} ({detail.open_requests} open)   Legal holds: {detail.active_holds}",
        ]
        if detail.changes:
            lines.append("Change history:")
            for c in detail.changes:
                lines.append(f"  {_iso(c.changed_at)}  {c.field}: “{c.old_value or ''}” → “{c.new_value or ''}”"
                             f"  by {c.operator} ({c.reason})")
        return "\n".join(lines)

    Output(args.json).emit(data, text)
    return 0


def cmd_users_import(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import subjects

    _open(args)
    actor = _login(args)
    report = subjects.import_subjects_csv(actor, Path(args.file))

    def text() -> str:
        lines = [f"Created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
                 f"refused {len(report.refused)}."]
        for line, reason in report.refused:
            lines.append(f"  line {line}: {reason}")
        return "\n".join(lines)

    Output(args.json).emit(report.as_json(), text)
    return 1 if report.refused else 0


def cmd_users_rectify(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import subjects

    _open(args)
    actor = _login(args)
    current = subjects.get_subject(actor, user_id=args.user_id).subject
    row = subjects.rectify_subject(actor, current.id, args.field, args.value, args.reason,
                                   expected_version=current.version)
    Output(args.json).emit(row.as_json(), f"Corrected {args.field} of {row.user_id}.")
    return 0


# ---------------------------------------------------------------- operators


def _operator_json(op: Any) -> dict[str, Any]:
    return {"id": op.id, "username": op.username, "display_name": op.display_name, "role": op.role.value,
            "active": op.active, "locked_until": _iso(op.locked_until), "last_login_at": _iso(op.last_login_at)}


def cmd_operators_list(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import operators

    _open(args)
    ops = operators.list_operators(_login(args))
    Output(args.json).emit([_operator_json(o) for o in ops], lambda: _table(
        [(o.username, o.display_name, o.role.value, "yes" if o.active else "no", _iso(o.last_login_at))
         for o in ops], ["OPERATOR", "NAME", "ROLE", "ACTIVE", "LAST LOG-IN"]))
    return 0


def cmd_operators_add(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import operators

    _open(args)
    actor = _login(args)
    password = _read_secret("RCRM_NEW_PASSWORD", f"Password for the new operator {args.username}: ", confirm=True)
    op = operators.create_operator(actor, args.username, args.display_name or args.username, args.role, password)
    Output(args.json).emit(_operator_json(op), f"Created operator “{op.username}” ({op.role.value}).")
    return 0


def cmd_operators_role(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import operators

    _open(args)
    actor = _login(args)
    target = operators.get_operator(actor, args.username)
    op = operators.set_role(actor, target.id, args.role)
    Output(args.json).emit(_operator_json(op), f"“{op.username}” is now {op.role.value}.")
    return 0


def cmd_operators_active(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import operators

    _open(args)
    actor = _login(args)
    target = operators.get_operator(actor, args.username)
    op = operators.set_active(actor, target.id, args.action == "enable")
    Output(args.json).emit(_operator_json(op), f"“{op.username}” is {'enabled' if op.active else 'disabled'}.")
    return 0


# ---------------------------------------------------------------- audit


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import audit

    _open(args, create=False)
    report = audit.verify_chain()
    Output(args.json).emit(
        {"ok": report.ok, "events": report.count, "broken_seq": report.broken_seq,
         "broken_id": report.broken_id, "problem": report.problem},
        report.summary(),
    )
    return 0 if report.ok else 1


def _audit_filter(args: argparse.Namespace, actor: Any) -> Any:
    from rcrm_desktop.core import audit, operators

    operator_id = None
    if args.by:
        operator_id = operators.get_operator(actor, args.by).id
    return audit.AuditFilter(operator_id=operator_id, action=args.action, target_type=args.target_type,
                             target_id=args.target_id, since=audit.parse_time_bound(args.since),
                             until=audit.parse_time_bound(args.until, end=True))


def cmd_audit_list(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import audit

    _open(args, create=False)
    actor = _login(args)
    rows = audit.list_events(actor, _audit_filter(args, actor), limit=args.limit)
    Output(args.json).emit(
        [{"seq": r.seq, "at": _iso(r.at), "operator": r.operator, "operator_id": r.operator_id,
          "action": r.action, "target_type": r.target_type, "target_id": r.target_id,
          "details": json.loads(r.details), "hash": r.hash} for r in rows],
        lambda: _table([(r.seq, _iso(r.at), r.operator, r.action, f"{r.target_type or ''} {r.target_id or ''}",
                         r.details) for r in rows], ["SEQ", "TIME (UTC)", "OPERATOR", "ACTION", "TARGET",
                                                     "DETAILS"]),
    )
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import audit

    _open(args, create=False)
    actor = _login(args)
    target = Path(args.out)
    tmp = target.with_name(target.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            count = audit.export_csv(actor, _audit_filter(args, actor), fh)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"Cannot write {target}: {exc.strerror}.") from exc
    Output(args.json).emit({"file": str(target), "events": count}, f"Wrote {count} events to {target}.")
    return 0


# ---------------------------------------------------------------- settings, info


def cmd_settings(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import instance

    _open(args)
    actor = _login(args)
    if args.key and args.value is not None:
        instance.set_setting(actor, args.key, args.value)
    keys = [args.key] if args.key else [k for k in settings.INSTANCE_OPTIONS if k != "demo_login_hint"]
    values = {k: instance.get_setting(k) for k in keys}
    Output(args.json).emit(values, lambda: "\n".join(f"{k} = {v}" for k, v in values.items()))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    data = {"name": APP_NAME, "version": __version__, "data_dir": str(paths.data_dir()),
            "config_dir": str(paths.config_dir()), "log_dir": str(paths.log_dir()),
            "default_database": paths.default_database_url(),
            "database": settings.database_url(args.database)}
    Output(args.json).emit(data, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))
    return 0


# ---------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    import tempfile

    from rcrm_desktop.benchmarks import BenchContext, format_table, run_suites

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    with tempfile.TemporaryDirectory(prefix="rcrm-bench-") as tmp:
        ctx = BenchContext(workdir=Path(tmp), database_url=args.database, quick=args.quick,
                           log=lambda text: print(text, file=sys.stderr))
        figures = run_suites(ctx, only)
    data = [f.as_json() for f in figures]
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(data, indent=2), encoding="utf-8")
    Output(args.json).emit(data, lambda: format_table(figures))
    return 0


# ---------------------------------------------------------------- self-test


def cmd_self_test(args: argparse.Namespace) -> int:
    from rcrm_desktop import selftest

    if args.startup_probe:
        return selftest.startup_probe(args.database)
    return selftest.run_self_test(args.only.split(",") if args.only else None, as_json=args.json)


# ---------------------------------------------------------------- GUI


def first_run_demo(args: argparse.Namespace) -> None:
    """``make run`` on a fresh machine: create the embedded instance with demo data and print the log-ins.

    Only for the embedded default instance (no ``--database``, no
    ``RCRM_DATABASE_URL``) when its file does not exist yet.
    """
    if args.database or os.environ.get("RCRM_DATABASE_URL") or args.no_demo:
        return
    if paths.default_database_path().exists():
        return
    from rcrm_desktop.core import demo
    from rcrm_desktop.core.instance import open_instance

    print(f"First start: creating the demo instance at {paths.default_database_path()} …", file=sys.stderr)
    open_instance(None, create=True)
    credentials = demo.create_demo_operators(None)
    summary = demo.populate_demo(progress=_print_progress)
    print(f"Demo data added: {summary}", file=sys.stderr)
    print("\n".join(_credential_lines(credentials)), file=sys.stderr)
    from rcrm_desktop.db import connection

    connection.close()


def _check_display() -> None:
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RcrmError(
            "No display: start RCRM Desktop from a desktop session, or under a virtual screen with "
            "“xvfb-run make run”. The command-line tools (rcrm-desktop --help) need no display."
        )


def cmd_gui(args: argparse.Namespace) -> int:
    _check_display()
    first_run_demo(args)
    from rcrm_desktop.ui.app import run_gui

    return run_gui(args.database)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", metavar="URL", default=argparse.SUPPRESS,
                        help="instance URL: sqlite:///path, postgresql://… or mysql://… "
                             "(default: $RCRM_DATABASE_URL, else the embedded instance)")
    common.add_argument("--operator", metavar="NAME", default=argparse.SUPPRESS,
                        help="operator to act as (default: $RCRM_OPERATOR; password from $RCRM_PASSWORD)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON")

    parser = argparse.ArgumentParser(
        prog=EXECUTABLE, parents=[common],
        description=f"{APP_NAME} {__version__}. Without a command, starts the application window.")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--no-demo", action="store_true",
                        help="do not create the demo instance on the first start")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str, parent: Any = sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = add("init", cmd_init, "create or migrate an instance and its first administrator")
    p.add_argument("--admin", default="admin", metavar="NAME", help="name of the first administrator")

    p = add("demo", cmd_demo, "fill an instance with believable demo data")
    p.add_argument("--subjects", type=int, default=300)
    p.add_argument("--recordings", type=int, default=60)
    p.add_argument("--no-audio", action="store_true", help="recording metadata only, no audio files")
    p.add_argument("--scale", type=int, metavar="N",
                   help="a synthetic large instance instead: N × (100,000 accounts, 20,000 recordings, "
                        "100,000 crash events, 2,000 requests, 60,000 audit events)")

    users = sub.add_parser("users", help="the CRM's user accounts (data subjects)")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = add("list", cmd_users_list, "list or search user accounts", users_sub)
    p.add_argument("--search", metavar="TEXT", help="substring of name or user ID (case and accents ignored)")
    p.add_argument("--sort", default="name", choices=["name", "user_id", "created_at", "last_active_at"])
    p.add_argument("--limit", type=int, default=1000)
    p = add("show", cmd_users_show, "show one user account with everything linked to it", users_sub)
    p.add_argument("user_id")
    p = add("import", cmd_users_import,
            "load accounts from CSV (user_id,name,email,phone,birth_date,created_at,last_active_at)", users_sub)
    p.add_argument("file")
    p = add("rectify", cmd_users_rectify, "correct one field of a user account (GDPR Art. 16)", users_sub)
    p.add_argument("user_id")
    p.add_argument("--field", required=True, choices=["name", "email", "phone", "birth_date"])
    p.add_argument("--value", required=True)
    p.add_argument("--reason", required=True)

    ops = sub.add_parser("operators", help="operators of RCRM Desktop and their roles")
    ops_sub = ops.add_subparsers(dest="operators_command", metavar="ACTION", required=True)
    add("list", cmd_operators_list, "list operators", ops_sub)
    p = add("add", cmd_operators_add, "add an operator (password from $RCRM_NEW_PASSWORD or a prompt)", ops_sub)
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["admin", "compliance", "support"])
    p.add_argument("--display-name")
    p = add("role", cmd_operators_role, "change an operator's role", ops_sub)
    p.add_argument("username")
    p.add_argument("role", choices=["admin", "compliance", "support"])
    for action in ("enable", "disable"):
        p = add(action, cmd_operators_active, f"{action} an operator", ops_sub)
        p.add_argument("username")
        p.set_defaults(action=action)

    aud = sub.add_parser("audit", help="the audit log")
    aud_sub = aud.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    add("verify", cmd_audit_verify, "check the audit log's hash chain; exit 1 at the first break", aud_sub)
    for name, handler, help_text in (("list", cmd_audit_list, "list audit events, newest first"),
                                     ("export", cmd_audit_export, "export audit events as CSV")):
        p = add(name, handler, help_text, aud_sub)
        p.add_argument("--by", metavar="OPERATOR", help="only events of this operator")
        p.add_argument("--action", help="action, or a prefix ending in * (subject.*)")
        p.add_argument("--target-type")
        p.add_argument("--target-id")
        p.add_argument("--since", metavar="DATE")
        p.add_argument("--until", metavar="DATE")
        if name == "list":
            p.add_argument("--limit", type=int, default=100)
        else:
            p.add_argument("--out", required=True, metavar="FILE.csv")

    p = add("settings", cmd_settings, "show or change instance settings (administrators)")
    p.add_argument("key", nargs="?", choices=sorted(settings.INSTANCE_OPTIONS))
    p.add_argument("value", nargs="?")

    add("info", cmd_info, "show where the program keeps its files")

    from rcrm_desktop import cli_crashes, cli_recordings, cli_requests, cli_retention

    cli_requests.add_commands(sub, add)
    cli_retention.add_commands(sub, add)
    cli_recordings.add_commands(sub, add)
    cli_crashes.add_commands(sub, add)

    p = add("bench", cmd_bench, "measure the speed targets next to their limits")
    p.add_argument("--only", metavar="SUITES", help="comma-separated suites to run")
    p.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    p.add_argument("--json-file", "--out", dest="json_file", metavar="FILE", help="also write the figures as JSON")

    p = add("self-test", cmd_self_test, "check that this installation works (Qt, database, audio); no display needed")
    p.add_argument("--only", metavar="CHECKS", help="comma-separated checks to run")
    p.add_argument("--startup-probe", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from rcrm_desktop.logs import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("database", None), ("operator", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    setup_logging(args.verbose)
    handler: Handler = getattr(args, "handler", cmd_gui)
    try:
        return handler(args)
    except RcrmError as exc:
        log.info("%s failed: %s", getattr(args, "command", "gui"), exc.__class__.__name__)
        if args.json:
            print(json.dumps({"error": exc.message, "kind": exc.__class__.__name__}, ensure_ascii=False))
        print(f"{EXECUTABLE}: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{EXECUTABLE}: interrupted", file=sys.stderr)
        return 130
    finally:
        from rcrm_desktop.db import connection

        connection.close()


if __name__ == "__main__":
    sys.exit(main())
