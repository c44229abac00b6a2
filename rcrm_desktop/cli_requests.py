"""Rights-request commands of the command line: ``requests …`` and ``children``.

A thin front door onto ``core.requests``, ``core.access_package``,
``core.erasure``, ``core.letters`` and ``core.children`` — the same
permissions and audit events as the GUI. ``rcrm_desktop.cli.build_parser``
wires them with::

    from rcrm_desktop import cli_requests
    cli_requests.add_commands(sub, add)

Commands (every one has ``--json``; ID is ``12`` or ``#12``):

* ``requests new --type TYPE --requester NAME [--subject USER_ID] [--contact C] [--channel CH]
  [--received DATE] [--details TEXT]`` — prints the new request's id
* ``requests list [--overdue] [--due-within DAYS] [--state S|open|closed|all] [--type T] [--search TEXT]``
* ``requests show ID`` — fields, deadline, timeline and what can be done next (and why not)
* ``requests match ID --subject USER_ID``, ``requests note ID TEXT``
* ``requests verify ID --method TEXT``, ``requests wait ID --reason TEXT``, ``requests resume ID``
* ``requests extend ID --months 1|2 --reason TEXT --notified DATE``
* ``requests items ID``, ``requests exclude ID ITEM --reason TEXT``, ``requests include ID ITEM``
* ``requests export ID --out FILE.zip`` — the access package
* ``requests rectify ID --field F --value V --reason TEXT``
* ``requests erase ID`` (prints the preview; exit 1 when blocked) and
  ``requests erase ID --confirm USER_ID [--letter FILE.html]`` (erases)
* ``requests restrict ID --reason TEXT``, ``requests object ID --reason TEXT``,
  ``requests lift-restriction USER_ID --reason TEXT``, ``requests lift-objection USER_ID --reason TEXT``
* ``requests close ID [--note TEXT]``, ``requests reject ID --grounds G --reason TEXT [--exemption TEXT]``,
  ``requests withdraw ID [--note TEXT]``
* ``requests letter ID --out FILE.html``
* ``children [--age N] [--open-erasure-requests]`` — the Art. 8 report
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rcrm_desktop.errors import ValidationError

Handler = Callable[[argparse.Namespace], int]
AddFn = Callable[..., argparse.ArgumentParser]


def _progress(stage: str) -> Callable[[int, int, str], bool]:
    """A progress line on stderr when it is a terminal (never in ``--json`` output)."""
    def show(done: int, total: int, text: str) -> bool:
        if sys.stderr.isatty():
            pct = f"{100 * done // total:3d}%" if total else ""
            print(f"\r  {stage}: {pct} {text[:60]:<60}", end="", file=sys.stderr, flush=True)
            if total and done >= total:
                print(file=sys.stderr)
        return True

    return show


def _session(args: argparse.Namespace) -> Any:
    from rcrm_desktop.cli import _login, _open

    _open(args)
    return _login(args)


def _id(args: argparse.Namespace) -> int:
    from rcrm_desktop.core.requests import parse_request_id

    return parse_request_id(args.id)


def _subject_id(actor: Any, user_id: str) -> int:
    from rcrm_desktop.core import subjects

    return subjects.get_subject(actor, user_id=user_id).subject.id


def _days(row: Any, today: dt.date) -> str:
    if not row.is_open:
        return "closed"
    left = row.days_left(today)
    if left < 0:
        return f"OVERDUE {-left} day{'s' if left != -1 else ''}"
    if left == 0:
        return "DUE TODAY"
    label = f"{left} day{'s' if left != 1 else ''}"
    return f"due soon: {label}" if row.deadline_status(today) == "due_soon" else label


def _write_text(path: Path, text: str) -> None:
    """Write a file atomically (temporary file beside it, then rename)."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ValidationError(f"Cannot write {path}: {exc.strerror}.") from exc


def _emit_detail(args: argparse.Namespace, detail: Any, message: str) -> int:
    from rcrm_desktop.cli import Output

    Output(args.json).emit(detail.as_json(), message)
    return 0


# ---------------------------------------------------------------- intake and listing


def cmd_new(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import requests as rq

    actor = _session(args)
    subject_id = _subject_id(actor, args.subject) if args.subject else None
    detail = rq.create_request(actor, args.type, args.requester, contact=args.contact, channel=args.channel,
                               received_on=rq.parse_date(args.received, "date of receipt"), subject_id=subject_id,
                               details=args.details)
    Output(args.json).emit(detail.as_json(), str(detail.id))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rcrm_desktop import settings
    from rcrm_desktop.cli import Output, _table
    from rcrm_desktop.core import requests as rq

    actor = _session(args)
    state = None if args.state == "all" else args.state
    flt = rq.RequestFilter(search=args.search, type=args.type, state=state, overdue_only=args.overdue,
                           due_within_days=args.due_within)
    rows: list[Any] = []
    after = None
    while len(rows) < args.limit:
        page = rq.list_requests(actor, flt, after=after, limit=min(settings.PAGE_SIZE, args.limit - len(rows)))
        rows.extend(page)
        if len(page) < settings.PAGE_SIZE:
            break
        after = rq.page_key(page[-1])
    today = dt.date.today()
    Output(args.json).emit(
        [r.as_json(today) for r in rows],
        lambda: _table([(f"#{r.id}", r.type, rq.state_label(r.state), r.requester_name,
                         r.subject_user_id or ("not matched" if r.is_open else "—"), r.received_on.isoformat(),
                         r.effective_due.isoformat() + (" (ext.)" if r.extended_due_on else ""), _days(r, today))
                        for r in rows], ["REQUEST", "TYPE", "STATE", "REQUESTER", "USER ID", "RECEIVED", "DUE",
                                         "DAYS LEFT"])
        + f"\n{len(rows)} request{'s' if len(rows) != 1 else ''}",
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import requests as rq

    actor = _session(args)
    detail = rq.get_request(actor, _id(args))
    today = dt.date.today()

    def text() -> str:
        r = detail.row
        lines = [f"Request #{r.id}: {rq.type_label(r.type)} — {rq.state_label(r.state)}",
                 f"Requester:      {r.requester_name}" + (f" <{r.requester_contact}>" if r.requester_contact else ""),
                 f"Channel:        {rq.CHANNELS.get(r.channel, r.channel)}",
                 "User account:   " + (f"{r.subject_user_id} ({r.subject_name})" if r.subject_id
                                       else "not matched" + (f" (former: {r.subject_ref})" if r.subject_ref else "")),
                 f"Received:       {r.received_on.isoformat()}",
                 f"Due:            {r.due_on.isoformat()}"
                 + (f", extended to {r.extended_due_on.isoformat()} (requester told on "
                    f"{detail.extension_notified_on.isoformat() if detail.extension_notified_on else '—'})"
                    if r.extended_due_on else "")
                 + (f" — {_days(r, today)}" if r.is_open else "")]
        if detail.verified_at:
            lines.append(f"Identity:       verified {detail.verified_at:%Y-%m-%d %H:%M} UTC by {detail.verified_by}: "
                         f"{detail.verification_method}")
        if r.state == "awaiting_requester":
            lines.append(f"Waiting for:    {detail.awaiting_reason} (since {detail.awaiting_since:%Y-%m-%d}; "
                         "the deadline keeps running)")
        if detail.package_sha256:
            lines.append(f"Package:        SHA-256 {detail.package_sha256} ({detail.package_size or 0:,} bytes)")
        if detail.rejection_grounds:
            lines.append(f"Rejected:       {rq.REJECTION_GROUNDS[detail.rejection_grounds]}"
                         + (f" — {detail.rejection_exemption}" if detail.rejection_exemption else "")
                         + f": {detail.rejection_reason}")
        if detail.details:
            lines.append(f"Details:        {detail.details}")
        lines.append("Timeline:")
        for event in detail.timeline:
            lines.append(f"  {event.at:%Y-%m-%d %H:%M} UTC  {event.operator:<12} {event.kind:<12} {event.detail or ''}")
        if detail.exclusions:
            lines.append("Withheld from the package:")
            for x in detail.exclusions:
                lines.append(f"  {x.item}: {x.reason}")
        possible = [a for a, why in detail.actions.items() if why is None]
        lines.append("Possible now:   " + (", ".join(possible) or "nothing"))
        return "\n".join(lines)

    Output(args.json).emit(detail.as_json(today), text)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    actor = _session(args)
    detail = rq.link_subject(actor, _id(args), _subject_id(actor, args.subject))
    return _emit_detail(args, detail, f"Request #{detail.id} is matched to {detail.row.subject_user_id}.")


def cmd_note(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.add_note(_session(args), _id(args), args.text)
    return _emit_detail(args, detail, f"Note added to request #{detail.id}.")


# ---------------------------------------------------------------- workflow


def cmd_verify(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.verify_identity(_session(args), _id(args), args.method)
    return _emit_detail(args, detail, f"Identity verified; request #{detail.id} is in progress.")


def cmd_wait(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.wait_for_requester(_session(args), _id(args), args.reason)
    return _emit_detail(args, detail, f"Request #{detail.id} waits for the requester; it is still due on "
                                      f"{detail.row.effective_due.isoformat()}.")


def cmd_resume(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.resume(_session(args), _id(args), args.note)
    return _emit_detail(args, detail, f"Request #{detail.id} is {rq.state_label(detail.row.state).lower()} again.")


def cmd_extend(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    notified = rq.parse_date(args.notified, "notification date")
    detail = rq.extend_deadline(_session(args), _id(args), args.months, args.reason, notified)
    return _emit_detail(args, detail, f"Request #{detail.id} is now due on {detail.row.effective_due.isoformat()}.")


def cmd_close(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.complete_request(_session(args), _id(args), args.note)
    return _emit_detail(args, detail, f"Request #{detail.id} is completed. Write the letter with "
                                      f"“requests letter {detail.id} --out FILE.html”.")


def cmd_reject(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.reject_request(_session(args), _id(args), args.grounds, args.reason, exemption=args.exemption)
    return _emit_detail(args, detail, f"Request #{detail.id} is rejected.")


def cmd_withdraw(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.withdraw_request(_session(args), _id(args), args.note)
    return _emit_detail(args, detail, f"Request #{detail.id} is withdrawn.")


# ---------------------------------------------------------------- access package


def cmd_items(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _table
    from rcrm_desktop.core import access_package

    items = access_package.package_items(_session(args), _id(args))
    Output(args.json).emit([i.as_json() for i in items], lambda: _table(
        [(i.item, "WITHHELD" if i.excluded else "", i.label, i.reason or i.detail) for i in items],
        ["ITEM", "", "WHAT", "DETAIL / WHY WITHHELD"]))
    return 0


def cmd_exclude(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import access_package

    detail = access_package.exclude_item(_session(args), _id(args), args.item, args.reason)
    return _emit_detail(args, detail, f"{args.item} is withheld from the package of request #{detail.id}.")


def cmd_include(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import access_package

    detail = access_package.include_item(_session(args), _id(args), args.item)
    return _emit_detail(args, detail, f"{args.item} goes into the package of request #{detail.id} again.")


def cmd_export(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import access_package

    actor = _session(args)
    result = access_package.build_access_package(actor, _id(args), Path(args.out),
                                                 progress=None if args.json else _progress("Access package"))
    Output(args.json).emit(result.as_json(), f"Wrote {result.path} ({result.size_bytes:,} bytes, "
                                             f"{result.audio_files} audio file(s), {result.withheld} item(s) "
                                             f"withheld).\nSHA-256 {result.sha256}")
    return 0


def cmd_rectify(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import requests as rq

    row = rq.rectify_for_request(_session(args), _id(args), args.field, args.value, args.reason)
    Output(args.json).emit(row.as_json(), f"Corrected {args.field} of {row.user_id} (request #{_id(args)}).")
    return 0


# ---------------------------------------------------------------- erasure


def cmd_erase(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import erasure

    actor = _session(args)
    request_id = _id(args)
    if not args.confirm:
        preview = erasure.preview_erasure(actor, request_id)

        def text() -> str:
            c = preview.counts
            lines = [f"Erasure of {preview.user_id} ({preview.subject_name}) for request #{preview.request_id}:",
                     "  will delete:",
                     "    the user account and its change history "
                     f"({c['changes']} entr{'y' if c['changes'] == 1 else 'ies'})",
                     f"    {c['recordings']} recording(s) with their audio files ({c['audio_bytes']:,} bytes), "
                     f"{c['annotations']} annotation(s), {c['tags']} tag(s), {c['redactions']} redaction record(s)",
                     f"    {c['crash_events']} crash event(s); {c['released_holds']} released legal hold(s); "
                     f"{c['waveform_cache_files']} waveform cache file(s) on this workstation",
                     "  will keep:"]
            lines += [f"    {k.label}: {k.why}" for k in preview.kept]
            if preview.warnings:
                lines.append("  note:")
                lines += [f"    {w}" for w in preview.warnings]
            if preview.blockers:
                lines.append("  CANNOT ERASE NOW:")
                lines += [f"    {b}" for b in preview.blockers]
            else:
                lines.append(f"To erase, run: requests erase {preview.request_id} --confirm {preview.user_id}")
            return "\n".join(lines)

        Output(args.json).emit(preview.as_json(), text)
        return 0 if preview.can_erase else 1
    result = erasure.erase_subject(actor, request_id, args.confirm,
                                   progress=None if args.json else _progress("Erasing"))
    if args.letter and result.letter_html:
        _write_text(Path(args.letter), result.letter_html)
    c = result.counts
    Output(args.json).emit(
        {**result.as_json(), "letter": args.letter},
        f"Erased: the account, {c['recordings']} recording(s), {c['annotations']} annotation(s), "
        f"{c['crash_events']} crash event(s), {c['changes']} change-history entr"
        f"{'y' if c['changes'] == 1 else 'ies'}; {result.files_deleted} file(s) deleted. "
        f"Request #{result.request_id} is completed and refers to the former account as {result.subject_ref}."
        + (f"\nThe letter to the requester is in {args.letter}." if args.letter else
           "\nThe requester's name and contact are no longer stored: give --letter FILE.html to keep the letter."),
    )
    return 0


# ---------------------------------------------------------------- restriction and objection


def cmd_restrict(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.restrict_subject(_session(args), _id(args), args.reason)
    return _emit_detail(args, detail, f"{detail.row.subject_user_id} is restricted (Art. 18).")


def cmd_object(args: argparse.Namespace) -> int:
    from rcrm_desktop.core import requests as rq

    detail = rq.object_subject(_session(args), _id(args), args.reason)
    return _emit_detail(args, detail, f"{detail.row.subject_user_id} is excluded from analytics and review "
                                      "queues (Art. 21).")


def cmd_lift(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import requests as rq

    actor = _session(args)
    subject_id = _subject_id(actor, args.user_id)
    request_id = rq.parse_request_id(args.request) if args.request else None
    if args.what == "restriction":
        row = rq.lift_restriction(actor, subject_id, args.reason, request_id=request_id)
    else:
        row = rq.lift_objection(actor, subject_id, args.reason, request_id=request_id)
    Output(args.json).emit(row.as_json(), f"The {args.what} of {row.user_id} is lifted.")
    return 0


# ---------------------------------------------------------------- letters and children


def cmd_letter(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output
    from rcrm_desktop.core import letters

    html = letters.letter_html(_session(args), _id(args))
    target = Path(args.out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValidationError("The letter is written as HTML; name the file …/letter.html (the application "
                              "window also saves it as PDF).")
    _write_text(target, html)
    Output(args.json).emit({"file": str(target), "bytes": len(html.encode("utf-8"))}, f"Wrote {target}.")
    return 0


def cmd_children(args: argparse.Namespace) -> int:
    from rcrm_desktop.cli import Output, _table
    from rcrm_desktop.core import children

    actor = _session(args)
    rows = children.list_children(actor, args.age)
    age = children.consent_age(args.age)
    created: Any = None
    if args.open_erasure_requests:
        created = children.open_erasure_requests(actor, [r.subject_id for r in rows], age=args.age)
    data: dict[str, Any] = {"age_of_consent": age, "children": [r.as_json() for r in rows]}
    if created is not None:
        data["erasure_requests"] = created.as_json()

    def text() -> str:
        lines = [f"Accounts of children under {age} (GDPR Art. 8):",
                 _table([(r.user_id, r.name, r.birth_date.isoformat(), r.age, r.recordings, r.crash_events,
                          f"#{r.open_erasure_request}" if r.open_erasure_request else "")
                         for r in rows], ["USER ID", "NAME", "BORN", "AGE", "RECORDINGS", "CRASHES",
                                          "OPEN ERASURE"]),
                 f"{len(rows)} account{'s' if len(rows) != 1 else ''}"]
        if created is not None:
            lines.append(f"Opened {len(created.created)} erasure request(s)"
                         + (": " + ", ".join(f"#{i}" for i in created.created) if created.created else "")
                         + (f"; skipped {len(created.skipped)}." if created.skipped else "."))
        return "\n".join(lines)

    Output(args.json).emit(data, text)
    return 0


# ---------------------------------------------------------------- parser


def add_commands(sub: Any, add: AddFn) -> None:
    """Add the ``requests`` group and ``children`` to the program's sub-commands."""
    from rcrm_desktop.core.access_package import EXCLUDABLE
    from rcrm_desktop.core.requests import CHANNELS, REJECTION_GROUNDS, STATES, TYPES
    from rcrm_desktop.core.subjects import RECTIFIABLE_FIELDS

    group = sub.add_parser("requests", help="data-subject rights requests (GDPR Art. 15–21)")
    rsub = group.add_subparsers(dest="requests_command", metavar="ACTION", required=True)

    p = add("new", cmd_new, "record a new rights request (prints its number)", rsub)
    p.add_argument("--type", required=True, choices=list(TYPES))
    p.add_argument("--requester", required=True, metavar="NAME")
    p.add_argument("--subject", metavar="USER_ID", help="the user account it concerns (omit: not yet matched)")
    p.add_argument("--contact", metavar="C", help="e-mail, phone or address to answer to")
    p.add_argument("--channel", default="email", choices=list(CHANNELS))
    p.add_argument("--received", metavar="DATE", help="date of receipt, YYYY-MM-DD (default: today)")
    p.add_argument("--details", metavar="TEXT")

    p = add("list", cmd_list, "list requests, the earliest deadline first (open ones by default)", rsub)
    p.add_argument("--overdue", action="store_true", help="only overdue requests")
    p.add_argument("--due-within", type=int, metavar="DAYS", help="only requests due within DAYS days")
    p.add_argument("--state", default="open", choices=["open", "closed", "all", *STATES])
    p.add_argument("--type", choices=list(TYPES))
    p.add_argument("--search", metavar="TEXT", help="requester, account name or user ID, #number")
    p.add_argument("--limit", type=int, default=1000)

    def with_id(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = add(name, handler, help_text, rsub)
        parser.add_argument("id", metavar="ID", help="request number (12 or #12)")
        return parser

    with_id("show", cmd_show, "show a request: fields, deadline, timeline, next possible steps")
    p = with_id("match", cmd_match, "match a request to the user account it concerns")
    p.add_argument("--subject", required=True, metavar="USER_ID")
    p = with_id("note", cmd_note, "add a note to a request's timeline")
    p.add_argument("text")
    p = with_id("verify", cmd_verify, "record how the requester's identity was verified (Art. 12(6))")
    p.add_argument("--method", required=True, metavar="TEXT")
    p = with_id("wait", cmd_wait, "wait for information from the requester (the deadline keeps running)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="what the requester was asked for")
    p = with_id("resume", cmd_resume, "the requester answered: go on with the request")
    p.add_argument("--note", metavar="TEXT")
    p = with_id("extend", cmd_extend, "extend the deadline by 1 or 2 months (before the original due date)")
    p.add_argument("--months", type=int, required=True, choices=[1, 2])
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--notified", required=True, metavar="DATE", help="when the requester was told (YYYY-MM-DD)")
    with_id("items", cmd_items, "list what the access package will hold (for review, Art. 15(4))")
    p = with_id("exclude", cmd_exclude, "withhold an item from the access package, with a reason (Art. 15(4))")
    p.add_argument("item", metavar="ITEM", help="KIND:ID, KIND one of " + ", ".join(EXCLUDABLE))
    p.add_argument("--reason", required=True, metavar="TEXT")
    p = with_id("include", cmd_include, "put a withheld item back into the access package")
    p.add_argument("item", metavar="ITEM")
    p = with_id("export", cmd_export, "build the access package (ZIP with subject.json, audio, index.html)")
    p.add_argument("--out", required=True, metavar="FILE.zip")
    p = with_id("rectify", cmd_rectify, "correct a field of the request's user account (Art. 16)")
    p.add_argument("--field", required=True, choices=list(RECTIFIABLE_FIELDS))
    p.add_argument("--value", required=True)
    p.add_argument("--reason", required=True, metavar="TEXT")
    p = with_id("erase", cmd_erase, "preview the erasure (Art. 17); with --confirm USER_ID, erase")
    p.add_argument("--confirm", metavar="USER_ID", help="the account's user ID, typed to confirm the erasure")
    p.add_argument("--letter", metavar="FILE.html", help="save the response letter after the erasure")
    p = with_id("restrict", cmd_restrict, "restrict the request's user account (Art. 18)")
    p.add_argument("--reason", required=True, metavar="TEXT")
    p = with_id("object", cmd_object, "record the objection on the request's user account (Art. 21)")
    p.add_argument("--reason", required=True, metavar="TEXT")
    for what in ("restriction", "objection"):
        p = add(f"lift-{what}", cmd_lift, f"lift the {what} of a user account, with a reason", rsub)
        p.add_argument("user_id", metavar="USER_ID")
        p.add_argument("--reason", required=True, metavar="TEXT")
        p.add_argument("--request", metavar="ID", help="the request that asked for it, to note it there")
        p.set_defaults(what=what)
    p = with_id("close", cmd_close, "complete a request once its work is done")
    p.add_argument("--note", metavar="TEXT")
    p = with_id("reject", cmd_reject, "reject a request with grounds and reasons (Art. 12(4), 12(5))")
    p.add_argument("--grounds", required=True, choices=list(REJECTION_GROUNDS))
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--exemption", metavar="TEXT", help="the exemption that applies (with --grounds exemption)")
    p = with_id("withdraw", cmd_withdraw, "the requester withdrew the request")
    p.add_argument("--note", metavar="TEXT")
    p = with_id("letter", cmd_letter, "write the response letter of a closed request (HTML)")
    p.add_argument("--out", required=True, metavar="FILE.html")

    p = add("children", cmd_children, "accounts of children under the age of digital consent (GDPR Art. 8)")
    p.add_argument("--age", type=int, choices=range(13, 17), metavar="N", help="age of consent, 13–16 "
                                                                             "(default: the instance option)")
    p.add_argument("--open-erasure-requests", action="store_true",
                   help="open an erasure request for every account listed (one transaction each)")
