"""Crash-report commands of the command line: ``import-crashes`` and ``crashes …``.

Thin front door onto ``core.crashes`` (same permissions, same audit events as
the GUI). ``rcrm_desktop.cli.build_parser`` wires them with::

    from rcrm_desktop import cli_crashes
    cli_crashes.add_commands(sub, add)

Commands (every one has ``--json``):

* ``import-crashes FILE_OR_DIR…`` — Sentry events (one event, a JSON array or
  NDJSON; folders are searched for ``*.json``, ``*.ndjson``, ``*.jsonl``).
  Exit code 1 when some record was refused (the rest is imported).
* ``crashes groups [--state S] [--release R] [--environment E] [--platform P]
  [--os NAME] [--search TEXT] [--sort KEY] [--limit N]``
* ``crashes show GROUP [--events N]`` — GROUP is a number (``12`` or ``#12``) or
  the first 8+ characters of a fingerprint.
* ``crashes resolve|ignore|unresolve GROUP [--release R]``
* ``crashes merge GROUP INTO``, ``crashes unmerge GROUP``
* ``crashes rescrub`` — apply the current scrub rules to stored events.
* ``crashes rules [--add PATTERN --name NAME [--key]] [--remove NAME]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rcrm_desktop import settings
from rcrm_desktop.errors import ValidationError

Handler = Callable[[argparse.Namespace], int]
AddFn = Callable[..., argparse.ArgumentParser]


def _progress(stage: str) -> Callable[[int, int, str], bool]:
    """A progress line on stderr when it is a terminal (never in ``--json`` output)."""
    def show(done: int, total: int, text: str) -> bool:
        if sys.stderr.isatty():
            pct = f"{100 * done // total:3d}%" if total else ""
            print(f"\r  {stage}: {pct} {text}   ", end="", file=sys.stderr, flush=True)
            if total and done >= total:
                print(file=sys.stderr)
        return True

    return show


def _iso(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def cmd_import_crashes(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    report = crashes.import_events(actor, *[Path(p) for p in args.paths],
                                   progress=None if args.json else _progress("Importing crash reports"))

    def text() -> str:
        lines = [report.summary()]
        if report.linked_events:
            lines.append(f"{report.linked_events:,} events belong to known user accounts.")
        for refusal in report.refused[:50]:
            lines.append(f"  refused: {refusal.describe()}")
        if report.refused_count > 50:
            lines.append(f"  … and {report.refused_count - 50:,} more refused records (--json lists them).")
        return "\n".join(lines)

    Output(args.json).emit(report.as_json(), text)
    return 1 if report.refused_count else 0


def _table(rows: list[list[object]], header: list[str]) -> str:
    from rcrm_desktop.cli import _table as cli_table

    return cli_table(rows, header)


def cmd_groups(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    flt = crashes.GroupFilter(state=args.state, release=args.release, environment=args.environment,
                              platform=args.platform, os_name=args.os, text=args.search)
    rows: list[Any] = []
    after = None
    while len(rows) < args.limit:
        page = crashes.list_groups(actor, flt, sort=args.sort, descending=not args.ascending, after=after,
                                   limit=min(settings.PAGE_SIZE, args.limit - len(rows)))
        rows.extend(page)
        if len(page) < settings.PAGE_SIZE:
            break
        after = crashes.group_page_key(page[-1], args.sort)
    Output(args.json).emit(
        [r.as_json() for r in rows],
        lambda: _table([[f"#{r.id}", r.status.upper() if r.status == "regressed" else r.status, r.event_count,
                         r.subject_count, _iso(r.last_seen), r.title] for r in rows],
                       ["GROUP", "STATE", "EVENTS", "USERS", "LAST SEEN (UTC)", "TITLE"])
        + f"\n{len(rows)} group{'s' if len(rows) != 1 else ''}",
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes, grouping

    _open(args)
    actor = _login(args)
    row = crashes.find_group(actor, args.group)
    detail = crashes.get_group(actor, row.id)
    events = crashes.list_group_events(actor, row.id, limit=args.events)
    data = detail.as_json()
    data["events"] = [e.as_json() for e in events]

    def text() -> str:
        g = detail.group
        lines = [f"#{g.id}  {g.title}",
                 f"Culprit:      {g.culprit or '—'}",
                 f"State:        {g.status}" + (f" (merged into #{g.merged_into})" if g.merged_into else ""),
                 f"Events:       {g.event_count:,}    Affected users: {g.subject_count:,}",
                 f"First seen:   {_iso(g.first_seen)} UTC    Last seen: {_iso(g.last_seen)} UTC",
                 f"Fingerprint:  {g.fingerprint}"]
        if detail.merged:
            lines.append("Merged in:    " + ", ".join(f"#{m.id}" for m in detail.merged))
        if detail.releases:
            lines.append("Releases:     " + ", ".join(f"{f.value} ({f.event_count:,})" for f in detail.releases))
        lines.append("")
        lines.extend(grouping.explain_text(detail.explanation))
        lines.append("")
        lines.append(_table([[e.id, _iso(e.occurred_at), e.release or "—", e.environment or "—", e.os_name or "—",
                              "yes" if e.linked else "", (e.message or "")[:60]] for e in events],
                            ["EVENT", "TIME (UTC)", "RELEASE", "ENVIRONMENT", "OS", "USER", "MESSAGE"]))
        return "\n".join(lines)

    Output(args.json).emit(data, text)
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    group = crashes.find_group(actor, args.group)
    row = crashes.set_group_state(actor, group.id, args.state, release=getattr(args, "release", None))
    Output(args.json).emit(row.as_json(), f"#{row.id} is now {row.status}.")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    source = crashes.find_group(actor, args.group)
    target = crashes.find_group(actor, args.into)
    row = crashes.merge_groups(actor, source.id, target.id)
    Output(args.json).emit(row.as_json(), f"Merged #{source.id} into #{row.id}, which now has "
                                          f"{row.event_count:,} events.")
    return 0


def cmd_unmerge(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    group = crashes.find_group(actor, args.group)
    split = crashes.unmerge_group(actor, group.id)
    Output(args.json).emit({"unmerged": split}, "Split off " + ", ".join(f"#{g}" for g in split) + ".")
    return 0


def cmd_rescrub(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    report = crashes.rescrub_events(actor, progress=None if args.json else _progress("Re-scrubbing"))
    Output(args.json).emit(report.as_json(), f"Checked {report.scanned:,} events: {report.changed:,} changed, "
                                             f"{report.groups_changed:,} group texts changed.")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import crashes

    _open(args)
    actor = _login(args)
    if args.add is not None:
        if not args.name:
            raise ValidationError("Give the new rule a name with --name.")
        crashes.add_scrub_rule(actor, args.name, args.add, "key" if args.key else "value")
    if args.remove:
        crashes.remove_scrub_rule(actor, args.remove)
    rules = crashes.scrub_rules(actor)
    Output(args.json).emit(
        [r.as_json() for r in rules],
        lambda: _table([[r.name, r.kind, "built-in" if r.builtin else "added", r.pattern if not r.builtin
                         else r.description] for r in rules], ["RULE", "KIND", "ORIGIN", "WHAT IT FILTERS"])
        + ("\nRun “crashes rescrub” to apply new rules to stored events." if args.add else ""),
    )
    return 0


def add_commands(sub: Any, add: AddFn) -> None:
    """Add ``import-crashes`` and the ``crashes`` group to the program's sub-commands."""
    from rcrm_desktop.core.crashes import GROUP_SORTS, STATE_FILTERS

    p = add("import-crashes", cmd_import_crashes,
            "import Sentry crash events (JSON, JSON array or NDJSON files, or folders of them)")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")

    group = sub.add_parser("crashes", help="crash reports: groups, states, merges, scrub rules")
    group_sub = group.add_subparsers(dest="crashes_command", metavar="ACTION", required=True)

    p = add("groups", cmd_groups, "list crash groups (most recently seen first)", group_sub)
    p.add_argument("--state", choices=STATE_FILTERS)
    p.add_argument("--release")
    p.add_argument("--environment")
    p.add_argument("--platform")
    p.add_argument("--os", metavar="NAME", help="operating system name (Linux, Windows, Android, …)")
    p.add_argument("--search", metavar="TEXT", help="words of the title, culprit or exception type")
    p.add_argument("--sort", default="last_seen", choices=list(GROUP_SORTS))
    p.add_argument("--ascending", action="store_true")
    p.add_argument("--limit", type=int, default=1000)

    p = add("show", cmd_show, "show one group: counts, releases, why its events group together, latest events",
            group_sub)
    p.add_argument("group", metavar="GROUP", help="group number or fingerprint prefix")
    p.add_argument("--events", type=int, default=20, help="how many of the latest events to list")

    for name, state, help_text in (("resolve", "resolved", "mark a group resolved (optionally in a release)"),
                                   ("ignore", "ignored", "ignore a group (new events do not reopen it)"),
                                   ("unresolve", "unresolved", "reopen a group")):
        p = add(name, cmd_state, help_text, group_sub)
        p.add_argument("group", metavar="GROUP")
        if name == "resolve":
            p.add_argument("--release", metavar="R",
                           help="resolved in this release: only events from later releases reopen it")
        p.set_defaults(state=state)

    p = add("merge", cmd_merge, "merge a group into another (new events follow the merge)", group_sub)
    p.add_argument("group", metavar="GROUP")
    p.add_argument("into", metavar="INTO")

    p = add("unmerge", cmd_unmerge, "split a merged group off again (or every group merged into GROUP)", group_sub)
    p.add_argument("group", metavar="GROUP")

    add("rescrub", cmd_rescrub, "apply the current scrub rules to every stored crash event", group_sub)

    p = add("rules", cmd_rules, "list the scrub rules; administrators add or remove their own", group_sub)
    p.add_argument("--add", metavar="PATTERN", help="a regular expression whose matches are filtered "
                                                    "(with --key: a key name whose values are filtered)")
    p.add_argument("--name", metavar="NAME", help="the new rule's name")
    p.add_argument("--key", action="store_true", help="the pattern is a key name, not a value pattern")
    p.add_argument("--remove", metavar="NAME", help="remove an added rule")
