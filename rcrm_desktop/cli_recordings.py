"""Call-recording commands of the command line: ``import-recordings``, ``recordings …``, ``verify-recordings``.

A thin front door onto ``core.recordings``: the same permissions, restriction
rules and audit events as the GUI. ``rcrm_desktop.cli.build_parser`` wires
them with::

    from rcrm_desktop import cli_recordings
    cli_recordings.add_commands(sub, add)

Commands (every one has ``--json``):

* ``import-recordings DIR`` — the folder's audio with ``manifest.csv``
  (``file,user_id,started_at,direction,agent,tags``) and optional
  ``<file>.json`` sidecars. Exit code 1 when some file was refused.
* ``recordings list [--subject USER_ID] [--search TEXT] [--since D] [--until D]
  [--direction inbound|outbound] [--agent NAME] [--tag TAG] [--min-seconds S]
  [--max-seconds S] [--annotated | --not-annotated] [--sort KEY] [--ascending] [--limit N]``
* ``recordings show ID`` — metadata, annotations, redactions and access history.
* ``recordings export ID --out FILE``
* ``recordings annotate ID --at SECONDS [--to SECONDS] --text TEXT``
* ``recordings tag ID (--add TAG | --remove TAG)``
* ``recordings redact ID --from S --to S --reason TEXT [--tone]``
* ``verify-recordings`` — exit code 1 when a file is missing, changed or unknown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rcrm_desktop.errors import ValidationError

Handler = Callable[[argparse.Namespace], int]
AddFn = Callable[..., argparse.ArgumentParser]


def _progress(stage: str) -> Callable[[int, int, str], bool]:
    """A progress line on stderr when it is a terminal (never in ``--json`` output)."""
    def show(done: int, total: int, _what: str) -> bool:
        if sys.stderr.isatty():
            print(f"\r  {stage}: {done}/{total}   ", end="", file=sys.stderr, flush=True)
            if total and done >= total:
                print(file=sys.stderr)
        return True

    return show


def _duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    total = int(round(ms / 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def _ms(seconds: float | None, what: str) -> int | None:
    if seconds is None:
        return None
    if seconds < 0:
        raise ValidationError(f"{what} cannot be negative.")
    return int(round(seconds * 1000))


def _status(row: Any) -> str:
    parts = []
    if not row.file_present:
        parts.append("FILE MISSING")
    if row.redacted:
        parts.append("redacted")
    if row.restricted:
        parts.append("restricted subject")
    return ", ".join(parts)


# ---------------------------------------------------------------- handlers


def cmd_import_recordings(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    report = recordings.import_recordings(actor, Path(args.folder),
                                          progress=None if args.json else _progress("Importing"))

    def text() -> str:
        lines = [report.summary()]
        for name, reason in report.refused:
            lines.append(f"  refused {name}: {reason}")
        return "\n".join(lines)

    Output(args.json).emit(report.as_json(), text)
    return 1 if report.refused else 0


def cmd_list(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open, _table
    from rcrm_desktop.core import audit, recordings
    from rcrm_desktop.settings import PAGE_SIZE

    _open(args)
    actor = _login(args)
    annotated = True if args.annotated else (False if args.not_annotated else None)
    flt = recordings.RecordingFilter(
        user_id=args.subject, subject=args.search, since=audit.parse_time_bound(args.since),
        until=audit.parse_time_bound(args.until, end=True), direction=args.direction, agent=args.agent,
        tag=args.tag, min_ms=_ms(args.min_seconds, "--min-seconds"), max_ms=_ms(args.max_seconds, "--max-seconds"),
        has_annotations=annotated)
    rows: list[Any] = []
    after = None
    descending = not args.ascending
    while len(rows) < args.limit:
        wanted = min(PAGE_SIZE, args.limit - len(rows))
        page = recordings.list_recordings(actor, flt, sort=args.sort, descending=descending, after=after,
                                          limit=wanted)
        rows.extend(page)
        if len(page) < wanted:
            break
        after = recordings.page_key(page[-1], args.sort)
    Output(args.json).emit(
        [r.as_json() for r in rows],
        lambda: _table([(r.id, _when(r.started_at), r.user_id or "—", r.direction, _duration(r.duration_ms),
                         r.agent, "; ".join(r.tags), r.annotations, _status(r)) for r in rows],
                       ["ID", "STARTED (UTC)", "USER ID", "DIRECTION", "DURATION", "AGENT", "TAGS", "NOTES",
                        "STATUS"])
        + f"\n{len(rows)} recording{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    detail = recordings.get_recording(actor, args.id)
    history = recordings.access_history(actor, args.id)
    data = detail.as_json()
    data["access_history"] = [e.as_json() for e in history]

    def text() -> str:
        r = detail.row
        lines = [
            f"Recording:      #{r.id}",
            f"Started:        {_when(r.started_at)} UTC",
            f"User account:   {r.user_id or '— (caller not identified)'}"
            + (f" ({r.subject_name})" if r.subject_name else ""),
            f"Direction:      {r.direction}",
            f"Duration:       {_duration(r.duration_ms)}",
            f"Agent:          {r.agent or '—'}",
            f"Audio:          {r.format.upper()}, {r.sample_rate} Hz, {r.channels} channel(s), {r.size_bytes:,} bytes",
            f"SHA-256:        {r.sha256}" + ("" if r.sha256 == detail.original_sha256
                                               else f" (original {detail.original_sha256})"),
            f"Stored as:      {r.path}" + ("" if r.file_present else "   — FILE MISSING"),
            f"Tags:           {', '.join(r.tags) or '—'}",
            f"Status:         {_status(r) or 'ok'}",
        ]
        if detail.blocked:
            lines.append(f"Restricted:     {detail.blocked}")
        if detail.active_holds:
            lines.append(f"Legal holds:    {detail.active_holds} active")
        if detail.annotations:
            lines.append("Annotations:")
            for a in detail.annotations:
                span = _duration(a.position_ms) + (f"–{_duration(a.end_ms)}" if a.end_ms is not None else "")
                lines.append(f"  {span:<13} {a.text}  ({a.operator})")
        if detail.redactions:
            lines.append("Redactions:")
            for x in detail.redactions:
                lines.append(f"  {x.start_ms / 1000:.3f}–{x.end_ms / 1000:.3f} s  {x.mode}  by {x.operator} "
                             f"on {_when(x.created_at)}: {x.reason}")
        lines.append("Access history:")
        for e in history:
            lines.append(f"  {_when(e.at)}  {e.operator:<12} {e.action}")
        return "\n".join(lines)

    Output(args.json).emit(data, text)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    result = recordings.export_recording(actor, args.id, Path(args.out))
    Output(args.json).emit({"recording_id": result.recording_id, "file": str(result.path),
                            "bytes": result.size_bytes, "sha256": result.sha256},
                           f"Exported recording #{result.recording_id} to {result.path} "
                           f"({result.size_bytes:,} bytes, SHA-256 {result.sha256}).")
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    note = recordings.add_annotation(actor, args.id, _ms(args.at, "--at") or 0, args.text,
                                     end_ms=_ms(args.to, "--to"))
    Output(args.json).emit(note.as_json(), f"Annotation #{note.id} added to recording #{args.id} at "
                           f"{_duration(note.position_ms)}.")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    if bool(args.add) == bool(args.remove):
        raise ValidationError("Give either --add TAG or --remove TAG.")
    tags = (recordings.add_tag(actor, args.id, args.add) if args.add
            else recordings.remove_tag(actor, args.id, args.remove))
    Output(args.json).emit({"recording_id": args.id, "tags": tags},
                           f"Recording #{args.id} tags: {', '.join(tags) or '—'}")
    return 0


def cmd_redact(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    row = recordings.redact_recording(actor, args.id, _ms(args.start, "--from") or 0,
                                      _ms(args.end, "--to") or 0, args.reason, tone=args.tone)
    what = "a 1 kHz tone" if args.tone else "silence"
    Output(args.json).emit(row.as_json(), f"Recording #{args.id}: {row.start_ms / 1000:.3f}–{row.end_ms / 1000:.3f} s "
                           f"replaced by {what}; the removed sound is gone from the stored file.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _login, _open
    from rcrm_desktop.core import recordings

    _open(args)
    actor = _login(args)
    report = recordings.verify_recordings(actor, progress=None if args.json else _progress("Checking"))

    def text() -> str:
        if report.ok:
            return f"OK: {report.checked} recordings, every file present and unchanged, no unknown files."
        lines = [f"Checked {report.checked} recordings: {len(report.missing)} missing, "
                 f"{len(report.mismatched)} changed, {len(report.unknown)} unknown files in the store."]
        lines += [f"  missing    #{rid}: {path}" for rid, path in report.missing]
        lines += [f"  changed    #{rid}: {path} (its SHA-256 no longer matches)" for rid, path in report.mismatched]
        lines += [f"  unknown    {path} (no recording refers to it)" for path in report.unknown]
        return "\n".join(lines)

    Output(args.json).emit(report.as_json(), text)
    return 0 if report.ok else 1


# ---------------------------------------------------------------- wiring


def add_commands(sub: Any, add: AddFn) -> None:
    """Add ``import-recordings``, ``verify-recordings`` and the ``recordings`` group to the sub-commands."""
    from rcrm_desktop.core.recordings import DIRECTIONS, SORT_COLUMNS

    p = add("import-recordings", cmd_import_recordings,
            "import call recordings from a folder (manifest.csv: file,user_id,started_at,direction,agent,tags)")
    p.add_argument("folder", metavar="DIR")

    add("verify-recordings", cmd_verify,
        "check the recordings store: missing files, changed files, files no recording knows (exit 1 if any)")

    group = sub.add_parser("recordings", help="call recordings: list, show, export, annotate, tag, redact")
    group_sub = group.add_subparsers(dest="recordings_command", metavar="ACTION", required=True)

    p = add("list", cmd_list, "list recordings (newest first)", group_sub)
    p.add_argument("--subject", metavar="USER_ID", help="only this user account's recordings")
    p.add_argument("--search", metavar="TEXT", help="part of the user's name or user ID (case and accents ignored)")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--until", metavar="DATE")
    p.add_argument("--direction", choices=DIRECTIONS)
    p.add_argument("--agent", metavar="NAME")
    p.add_argument("--tag")
    p.add_argument("--min-seconds", type=float)
    p.add_argument("--max-seconds", type=float)
    marks = p.add_mutually_exclusive_group()
    marks.add_argument("--annotated", action="store_true", help="only recordings with annotations")
    marks.add_argument("--not-annotated", action="store_true", help="only recordings without annotations")
    p.add_argument("--sort", default="started_at", choices=list(SORT_COLUMNS))
    p.add_argument("--ascending", action="store_true")
    p.add_argument("--limit", type=int, default=1000)

    p = add("show", cmd_show, "show one recording: metadata, annotations, redactions, access history", group_sub)
    p.add_argument("id", type=int, metavar="ID")

    p = add("export", cmd_export, "copy a recording's audio to a file (audited)", group_sub)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--out", required=True, metavar="FILE")

    p = add("annotate", cmd_annotate, "add a timestamped note (optionally a region)", group_sub)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--at", type=float, required=True, metavar="SECONDS")
    p.add_argument("--to", type=float, metavar="SECONDS")
    p.add_argument("--text", required=True)

    p = add("tag", cmd_tag, "add or remove a tag", group_sub)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--add", metavar="TAG")
    p.add_argument("--remove", metavar="TAG")

    p = add("redact", cmd_redact,
            "replace a region of the stored audio with silence or a tone, for good (compliance; PCI DSS)", group_sub)
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--from", dest="start", type=float, required=True, metavar="SECONDS")
    p.add_argument("--to", dest="end", type=float, required=True, metavar="SECONDS")
    p.add_argument("--reason", required=True)
    p.add_argument("--tone", action="store_true", help="a 1 kHz tone instead of silence")
