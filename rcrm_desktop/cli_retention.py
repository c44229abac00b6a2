"""Retention and legal-hold commands of the command line: ``retention …`` and ``holds …``.

Thin front door onto ``core.retention`` and ``core.holds`` (same permissions,
same audit events, same numbers as the GUI's Retention area).
``rcrm_desktop.cli.build_parser`` wires them with::

    from rcrm_desktop import cli_retention
    cli_retention.add_commands(sub, add)

Commands (every one has ``--json``):

* ``retention rules`` — every category's rule (maximum age, action, enabled, last change).
* ``retention set CATEGORY [--max-age DAYS] [--action delete|anonymise] [--enabled yes|no]``
  — DAYS also as ``8w`` or ``2y`` (365-day years).
* ``retention preview [--items CATEGORY [--held] [--limit N]]`` — what every
  enabled rule would remove now, what is held back and why; ``--items`` lists
  the items of one rule (or, with ``--held``, those it holds back).
* ``retention apply [--resume]`` — apply the rules now (what a schedule runs,
  see ``packaging/systemd`` and ``packaging/windows``); an interrupted run is
  resumed first. ``--resume`` only finishes an interrupted run. Exit code 0
  when the run completed; a run interrupted with Ctrl+C is resumed by the next apply.
* ``retention runs [--limit N]``, ``retention report RUN_ID`` — past runs and their reports.
* ``holds add (--subject USER_ID | --recording ID | --crash-group ID) --reason TEXT``
* ``holds list [--released | --all]``, ``holds release ID --reason TEXT``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from rcrm_desktop.errors import ValidationError

Handler = Callable[[argparse.Namespace], int]
AddFn = Callable[..., argparse.ArgumentParser]


def _table(rows: list[list[object]], header: list[str]) -> str:
    from rcrm_desktop.cli import _table as cli_table

    return cli_table(rows, header)


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def _progress() -> Callable[[int, int, str], bool]:
    """One progress line on stderr when it is a terminal (never in ``--json`` output or a schedule's log)."""
    def show(done: int, total: int, text: str) -> bool:
        if sys.stderr.isatty():
            pct = f"{100 * done // total:3d}%" if total else ""
            print(f"\r  {pct} {text:<60}", end="", file=sys.stderr, flush=True)
            if text == "Done":
                print(file=sys.stderr)
        return True

    return show


def _yes_no(text: str) -> bool:
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1", "on"):
        return True
    if value in ("no", "n", "false", "0", "off"):
        return False
    raise ValidationError(f"“{text[:20]}” is not yes or no.")


# ================================================================ retention


def _rule_rows(rules: list[Any]) -> str:
    from rcrm_desktop.core import retention

    states = {"active": "enabled", "disabled": "disabled", "no_max_age": "keep forever",
              "not_applicable": "not stored", "fixed": "kept forever (fixed)"}
    rows: list[list[object]] = []
    for r in rules:
        rows.append([r.category, r.info.basis, retention.describe_age(r.max_age_days) if r.applicable else "—",
                     r.action if r.applicable else "—", states[r.status],
                     f"{_time(r.updated_at)} by {r.updated_by_name}" if r.updated_at else "—"])
    return _table(rows, ["CATEGORY", "COUNTED FROM", "MAXIMUM AGE", "ACTION", "STATE", "LAST CHANGED (UTC)"])


def cmd_rules(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    _open(args)
    actor = _login(args)
    rules = retention.list_rules(actor)
    notes = "\n".join(f"  {r.category}: {r.info.note}" for r in rules if not r.applicable)
    Output(args.json).emit([r.as_json() for r in rules], lambda: _rule_rows(rules) + "\n\n" + notes)
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    if args.max_age is None and args.action is None and args.enabled is None:
        raise ValidationError("Nothing to change: give --max-age, --action or --enabled.")
    max_age = retention.parse_age(args.max_age) if args.max_age is not None else None
    enabled = _yes_no(args.enabled) if args.enabled is not None else None
    _open(args)
    actor = _login(args)
    rule = retention.set_rule(actor, args.category, max_age_days=max_age, action=args.action, enabled=enabled)
    state = "enabled" if rule.enabled else "disabled"
    Output(args.json).emit(rule.as_json(), f"{rule.label}: {rule.action} after "
                                           f"{retention.describe_age(rule.max_age_days)}, {state}.")
    return 0


def _preview_text(preview: Any) -> str:
    from rcrm_desktop.core import retention

    rows: list[list[object]] = []
    for p in preview.rules:
        if p.rule.status in ("not_applicable", "fixed"):
            continue
        if not p.rule.active:
            rows.append([p.category, retention.describe_age(p.rule.max_age_days), "—", "disabled", "—", "—"])
            continue
        rows.append([p.category, retention.describe_age(p.rule.max_age_days), p.rule.action, f"{p.due:,}",
                     _time(p.oldest), f"{p.held:,}"])
    lines = [f"Preview as of {preview.as_of:%Y-%m-%d %H:%M:%S} UTC (nothing has been changed):",
             _table(rows, ["CATEGORY", "MAXIMUM AGE", "ACTION", "DUE NOW", "OLDEST DUE (UTC)", "HELD BACK"]),
             f"{preview.total_due:,} items due, {preview.total_held:,} held back."]
    for p in preview.rules:
        if p.held_back:
            lines.append(f"\nHeld back from {p.rule.label.lower()}:")
            for h in p.held_back[:50]:
                lines.append(f"  {h.label} ({h.count:,}): {h.detail}")
            if len(p.held_back) > 50:
                lines.append(f"  … and {len(p.held_back) - 50:,} more (--json lists them).")
    if preview.interrupted_run is not None:
        lines.append(f"\nRun #{preview.interrupted_run} was interrupted; “retention apply” resumes it first.")
    return "\n".join(lines)


def cmd_preview(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    _open(args)
    actor = _login(args)
    if args.items:
        items: list[Any] = []
        while len(items) < args.limit:
            want = min(200, args.limit - len(items))
            page = retention.preview_items(actor, args.items, held=args.held, after_id=items[-1].id if items else 0,
                                           limit=want)
            items.extend(page)
            if len(page) < want:
                break
        held = args.held

        def text() -> str:
            rows = [[i.id, _time(i.at), i.title, "; ".join(i.held_by) if held else i.detail] for i in items]
            what = "held back" if held else "due"
            return (_table(rows, ["ID", "COUNTED FROM (UTC)", "ITEM", "HELD BY" if held else "DETAIL"])
                    + f"\n{len(items):,} item{'s' if len(items) != 1 else ''} {what} listed")

        Output(args.json).emit([i.as_json() for i in items], text)
        return 0
    preview = retention.preview_retention(actor)
    Output(args.json).emit(preview.as_json(), lambda: _preview_text(preview))
    return 0


def _report_text(report: Any) -> str:
    parts = []
    if report.previous is not None:
        parts.append(report.previous.text())
        parts.append("")
    parts.append(report.text())
    return "\n".join(parts)


def cmd_apply(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    _open(args)
    actor = _login(args)
    progress = None if args.json else _progress()
    if args.resume:
        report = retention.resume_retention(actor, progress=progress)
        if report is None:
            Output(args.json).emit({"resumed": None}, "No retention run was interrupted; nothing to resume.")
            return 0
    else:
        report = retention.apply_retention(actor, progress=progress, origin="command")
    Output(args.json).emit(report.as_json(), lambda: _report_text(report))
    return 0 if report.state == "completed" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    _open(args)
    actor = _login(args)
    runs = retention.list_runs(actor, limit=args.limit)

    def text() -> str:
        if not runs:
            return "No retention run yet. Apply the rules with “retention apply”."
        rows: list[list[object]] = [[f"#{r.id}", r.state_label, _time(r.started_at), _time(r.finished_at), r.operator,
                 f"{r.deleted:,}", f"{r.anonymised:,}", f"{r.held:,}"] for r in runs]
        return _table(rows, ["RUN", "STATE", "STARTED (UTC)", "FINISHED (UTC)", "BY", "DELETED", "ANONYMISED",
                             "HELD BACK"])

    Output(args.json).emit([r.as_json() for r in runs], text)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import retention

    _open(args)
    actor = _login(args)
    report = retention.run_report(actor, args.run)
    Output(args.json).emit(report.as_json(), report.text)
    return 0


# ================================================================ holds


def _hold_rows(rows: list[Any]) -> str:
    table: list[list[object]] = [
        [f"#{h.id}", "on hold" if h.active else f"released {_time(h.released_at)}", h.target_label, h.reason,
         h.owner, _time(h.created_at)] for h in rows]
    return _table(table, ["HOLD", "STATE", "ON", "REASON", "OWNER", "PLACED (UTC)"])


def cmd_holds_add(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import holds

    _open(args)
    actor = _login(args)
    row = holds.add_hold(actor, args.reason, user_id=args.subject, recording_id=args.recording,
                         crash_group_id=args.crash_group)
    Output(args.json).emit(row.as_json(), f"Placed legal hold #{row.id} on {row.target_label}. Retention and erasure "
                                          "keep it until the hold is released.")
    return 0


def cmd_holds_list(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import holds

    _open(args)
    actor = _login(args)
    status = "all" if args.all else "released" if args.released else "active"
    rows: list[Any] = []
    while True:
        page = holds.list_holds(actor, status, before_id=rows[-1].id if rows else None, limit=500)
        rows.extend(page)
        if len(page) < 500:
            break

    def text() -> str:
        if not rows:
            return {"active": "No active legal hold.", "released": "No released legal hold.",
                    "all": "No legal hold yet."}[status] + " Place one with “holds add … --reason TEXT”."
        return _hold_rows(rows) + f"\n{len(rows):,} hold{'s' if len(rows) != 1 else ''}"

    Output(args.json).emit([r.as_json() for r in rows], text)
    return 0


def cmd_holds_release(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import holds

    _open(args)
    actor = _login(args)
    row = holds.release_hold(actor, args.hold, args.reason)
    note = (" The recording belonged to an erased account: it is now due for deletion (retention removes it)."
            if row.subject_ref and row.target == "recording" else "")
    Output(args.json).emit(row.as_json(), f"Released legal hold #{row.id} on {row.target_label}.{note}")
    return 0


# ================================================================ wiring


def add_commands(sub: Any, add: AddFn) -> None:
    """Add ``retention …`` and ``holds …`` to the top-level sub-parsers (``add`` is ``cli.build_parser``'s)."""
    from rcrm_desktop.core.retention import CATEGORIES

    ret = sub.add_parser("retention", help="retention rules, preview and runs (GDPR Art. 5(1)(e))")
    ret_sub = ret.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    add("rules", cmd_rules, "show every category's retention rule", ret_sub)
    p = add("set", cmd_set, "change one category's rule (audited)", ret_sub)
    p.add_argument("category", choices=list(CATEGORIES), metavar="CATEGORY",
                   help="one of: " + ", ".join(CATEGORIES))
    p.add_argument("--max-age", metavar="DAYS", help="maximum age in days (also 8w, 2y)")
    p.add_argument("--action", choices=["delete", "anonymise"], help="what happens to expired items")
    p.add_argument("--enabled", metavar="yes|no", help="whether runs apply the rule")
    p = add("preview", cmd_preview, "what the rules would remove now, and what is held back (changes nothing)",
            ret_sub)
    p.add_argument("--items", metavar="CATEGORY", choices=list(CATEGORIES), help="list one rule's items")
    p.add_argument("--held", action="store_true", help="with --items: list the items held back, with the reasons")
    p.add_argument("--limit", type=int, default=200)
    p = add("apply", cmd_apply, "apply the enabled rules now (resumes an interrupted run first)", ret_sub)
    p.add_argument("--resume", action="store_true", help="only finish an interrupted run")
    p = add("runs", cmd_runs, "past retention runs, newest first", ret_sub)
    p.add_argument("--limit", type=int, default=50)
    p = add("report", cmd_report, "the report of one run", ret_sub)
    p.add_argument("run", metavar="RUN_ID")

    hl = sub.add_parser("holds", help="legal holds (GDPR Art. 17(3)): kept from retention and erasure")
    hl_sub = hl.add_subparsers(dest="holds_command", metavar="ACTION", required=True)
    p = add("add", cmd_holds_add, "place a legal hold on a user account, a recording or a crash group", hl_sub)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--subject", metavar="USER_ID", help="the user account's user ID")
    target.add_argument("--recording", metavar="ID", type=int)
    target.add_argument("--crash-group", metavar="ID", type=int)
    p.add_argument("--reason", required=True, metavar="TEXT")
    p = add("list", cmd_holds_list, "list legal holds (active ones unless told otherwise)", hl_sub)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--released", action="store_true", help="only released holds")
    which.add_argument("--all", action="store_true", help="active and released holds")
    p = add("release", cmd_holds_release, "release a legal hold, with a reason", hl_sub)
    p.add_argument("hold", metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT")
