"""The response letter to the requester of a closed rights request (HTML; the GUI prints it to PDF).

For every completed, rejected or withdrawn request the letter states, in plain
words: what was asked and when; whether the deadline was extended, when the
requester was told and why (Art. 12(3)); what was done and when (the access
package and its SHA-256, the corrected fields, the erasure and what a legal
hold kept, the restriction or objection); what was refused or withheld and why
(Art. 12(4) with the right to complain to a supervisory authority and to a
judicial remedy, Art. 77 and 79; items withheld from a package to protect
others, Art. 15(4)); and where the data went (Art. 19 and 15(1)(c)): the
instance is operated on the controller's own premises and discloses nothing to
recipients, so there is no one to inform.

The HTML uses only what ``QTextDocument`` renders (``ui.letter_pdf`` prints it
with ``QPdfWriter``) and what any browser shows; every value is escaped. No Qt here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape

from rcrm_desktop.core import audit
from rcrm_desktop.core import requests as core_requests
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.core.requests import _fk
from rcrm_desktop.core.subjects import RECTIFIABLE_FIELDS
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import (
    InstanceSetting,
    PackageExclusion,
    RequestEvent,
    RightsRequest,
    SubjectChange,
    database,
)
from rcrm_desktop.errors import ValidationError

_ARTICLE_TEXT = {
    "access": "the right of access to your personal data (Article 15 GDPR)",
    "rectification": "the right to rectification of your personal data (Article 16 GDPR)",
    "erasure": "the right to erasure of your personal data (Article 17 GDPR)",
    "restriction": "the right to restriction of processing (Article 18 GDPR)",
    "portability": "the right to data portability (Article 20 GDPR)",
    "objection": "the right to object to processing (Article 21 GDPR)",
}

_FIELD_LABELS = {**RECTIFIABLE_FIELDS, "restricted": "Restriction of processing", "objected": "Objection"}


@dataclass
class LetterData:
    """What a letter says, gathered from the request (tests build it directly)."""

    request_id: int
    type: str
    state: str
    controller: str
    requester_name: str
    requester_contact: str | None
    received_on: dt.date
    channel: str
    due_on: dt.date
    extended_due_on: dt.date | None = None
    extension_months: int | None = None
    extension_reason: str | None = None
    extension_notified_on: dt.date | None = None
    closed_on: dt.date | None = None
    verified_on: dt.date | None = None
    rejection_grounds: str | None = None
    rejection_reason: str | None = None
    rejection_exemption: str | None = None
    package_sha256: str | None = None
    package_built_on: dt.date | None = None
    package_size: int | None = None
    exclusions: list[tuple[str, str]] = field(default_factory=list)
    changes: list[tuple[str, str | None, str | None, dt.date]] = field(default_factory=list)
    outcome_notes: list[str] = field(default_factory=list)
    subject_matched: bool = True
    subject_ref: str | None = None
    today: dt.date = field(default_factory=dt.date.today)


def _p(text: str) -> str:
    return f"<p>{text}</p>"


def _d(day: dt.date | None) -> str:
    return escape(day.strftime("%d %B %Y").lstrip("0")) if day else "—"


def _exclusion_label(item: str) -> str:
    kind, _, number = item.partition(":")
    return {"recording": f"Call recording #{number}", "audio": f"Audio of call recording #{number}",
            "annotation": f"A note on a call recording (#{number})", "crash_event": f"Crash report #{number}",
            "change": f"A correction record (#{number})"}.get(kind, item)


def render_letter(data: LetterData) -> str:
    """The letter as a complete HTML document (pure: the same data gives the same text)."""
    parts: list[str] = []
    what = _ARTICLE_TEXT.get(data.type, escape(data.type))
    parts.append(f"<p style='text-align:right'>{escape(data.controller)}<br>{_d(data.today)}</p>")
    addressee = escape(data.requester_name)
    if data.requester_contact:
        addressee += "<br>" + escape(data.requester_contact)
    parts.append(f"<p>{addressee}</p>")
    parts.append(f"<h2>Your request under {what}</h2>")
    parts.append(f"<p><b>Our reference:</b> rights request #{data.request_id}"
                 + (f" &nbsp;·&nbsp; <b>Account reference:</b> {escape(data.subject_ref)}" if data.subject_ref
                    and data.type == "erasure" else "") + "</p>")
    parts.append(_p(f"Dear {escape(data.requester_name)},"))
    channel = core_requests.CHANNELS.get(data.channel, data.channel).lower()
    parts.append(_p(f"we received your request on {_d(data.received_on)} ({escape(channel)}). The law gives us one "
                    f"month to answer (Article 12(3) GDPR); the deadline was {_d(data.due_on)}."))
    if data.extended_due_on:
        months = data.extension_months or 2
        parts.append(_p(
            f"On {_d(data.extension_notified_on)} we told you that we needed {months} further "
            f"month{'s' if months > 1 else ''} and why, which moved the deadline to {_d(data.extended_due_on)}. "
            f"The reason was: {escape(data.extension_reason or '—')}"))
    parts.append("<h3>What we did</h3>")
    parts.extend(_outcome(data))
    parts.append("<h3>Where your data went</h3>")
    parts.append(_p(
        "The system that holds your data is operated on our own premises; nothing is sent to external servers "
        "and your personal data was not disclosed to any recipient. There was therefore no recipient to inform "
        "of this request (Articles 19 and 15(1)(c) GDPR)."))
    if data.closed_on:
        due = data.extended_due_on or data.due_on
        timing = ("within the deadline" if data.closed_on <= due else
                  f"{(data.closed_on - due).days} day(s) after the deadline; we apologise for the delay")
        parts.append(_p(f"We closed your request on {_d(data.closed_on)}, {timing}."))
    parts.append(_p("If you are not satisfied with our answer, you have the right to lodge a complaint with a "
                    "supervisory authority (Article 77 GDPR) and to seek a judicial remedy (Article 79 GDPR)."))
    parts.append(_p(f"Yours sincerely,<br><br>Data protection team<br>{escape(data.controller)}"))
    body = "\n".join(parts)
    title = escape(f"Rights request #{data.request_id} — response")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{title}</title>"
            "<style>body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:11pt;line-height:1.4;max-width:46em;"
            "margin:2em auto;color:#222} h2{font-size:15pt;margin-top:1.2em} h3{font-size:12pt;margin-top:1.1em}"
            " table{border-collapse:collapse} td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
            " code{font-size:9pt}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _outcome(data: LetterData) -> list[str]:
    out: list[str] = []
    if data.state == "withdrawn":
        out.append(_p(f"You withdrew your request; we closed it on {_d(data.closed_on)} without further action."))
        out.extend(_p(escape(note)) for note in data.outcome_notes)
        return out
    if data.state == "rejected":
        grounds = core_requests.REJECTION_GROUNDS.get(data.rejection_grounds or "", data.rejection_grounds or "")
        out.append(_p(f"We could not comply with your request. <b>Grounds:</b> {escape(grounds)}"
                      + (f" — {escape(data.rejection_exemption)}" if data.rejection_exemption else "") + "."))
        out.append(_p(f"<b>Reasons:</b> {escape(data.rejection_reason or '—')}"))
        if data.rejection_grounds == "identity":
            out.append(_p("If you can confirm your identity, you are welcome to make the request again "
                          "(Articles 11(2) and 12(6) GDPR)."))
        return out
    if not data.subject_matched:
        out.append(_p("We searched our records and found no personal data about you, so there was nothing to "
                      "provide, correct, erase or restrict."))
        out.extend(_p(escape(note)) for note in data.outcome_notes)
        return out
    if data.verified_on:
        out.append(_p(f"We verified your identity on {_d(data.verified_on)}."))
    if data.type in ("access", "portability"):
        size = f" ({data.package_size / 1_048_576:.1f} MB)" if data.package_size else ""
        out.append(_p(
            f"On {_d(data.package_built_on)} we prepared a copy of all personal data we hold about you{size}: "
            "your account details, the history of corrections, your call recordings (the audio itself, with "
            "their notes), crash reports from your devices and your requests to us. <code>subject.json</code> "
            "in the package is a structured, machine-readable copy you may take to another controller "
            "(Article 20 GDPR); <code>index.html</code> shows it in a browser and plays the recordings."))
        if data.package_sha256:
            out.append(_p(f"The package's SHA-256 fingerprint is <code>{escape(data.package_sha256)}</code>; "
                          "it proves the file you received is the one we prepared."))
        if data.exclusions:
            rows = "".join(f"<tr><td>{escape(_exclusion_label(item))}</td><td>{escape(reason)}</td></tr>"
                           for item, reason in data.exclusions)
            out.append(_p("We withheld the following items to protect the rights and freedoms of other people "
                          "(Article 15(4) GDPR):"))
            out.append(f"<table><tr><th>Item</th><th>Why it was withheld</th></tr>{rows}</table>")
    elif data.type == "rectification":
        if data.changes:
            rows = "".join(
                f"<tr><td>{escape(_FIELD_LABELS.get(f, f))}</td><td>{escape(old or '—')}</td>"
                f"<td>{escape(new or '—')}</td><td>{_d(day)}</td></tr>" for f, old, new, day in data.changes)
            out.append(_p("We corrected your data as follows (Article 16 GDPR):"))
            out.append(f"<table><tr><th>Field</th><th>Was</th><th>Is now</th><th>Corrected on</th></tr>{rows}"
                       "</table>")
    elif data.type == "erasure":
        out.append(_p("We erased your user account and all personal data linked to it: your account details, "
                      "call recordings and their audio, notes on them, crash reports and the history of "
                      f"corrections (Article 17 GDPR), on {_d(data.closed_on)}."))
    elif data.type == "restriction":
        out.append(_p(f"Since {_d(data.closed_on)} your data is restricted (Article 18 GDPR): we keep it, but no "
                      "longer use it; your call recordings can be accessed only by our compliance officers. "
                      "We will tell you before the restriction is lifted (Article 18(3))."))
    elif data.type == "objection":
        out.append(_p(f"Since {_d(data.closed_on)} your data is no longer used for usage analytics or for call "
                      "review (Article 21 GDPR)."))
    out.extend(_p(escape(note)) for note in data.outcome_notes)
    return out


def _controller_name() -> str:
    row = InstanceSetting.get_or_none(InstanceSetting.key == "instance_name")
    return str(row.value) if row is not None and str(row.value).strip() else "RCRM instance"


def _collect(req: RightsRequest, requester: tuple[str, str | None] | None, today: dt.date) -> LetterData:
    events = list(RequestEvent.select().where(RequestEvent.request == req.id).order_by(RequestEvent.at,
                                                                                      RequestEvent.id))
    built = next((e.at.date() for e in reversed(events) if e.kind == "package"), None)
    notes: list[str] = []
    for event in events:
        if event.kind == "erased" and event.detail:
            notes.append(event.detail.split(" The request refers to")[0])
        if event.kind == "state" and event.detail and ": " in event.detail and \
                event.detail.split(":")[0].endswith(("Completed", "Withdrawn by the requester")):
            notes.append(event.detail.split(": ", 1)[1])
    changes = [(c.field, c.old_value, c.new_value, c.changed_at.date())
               for c in SubjectChange.select().where(SubjectChange.request == req.id).order_by(SubjectChange.id)]
    exclusions = [(x.item, x.reason) for x in PackageExclusion.select().where(PackageExclusion.request == req.id)
                  .order_by(PackageExclusion.id)]
    name, contact = requester if requester is not None else (req.requester_name, req.requester_contact)
    return LetterData(
        request_id=req.id, type=req.type, state=req.state, controller=_controller_name(),
        requester_name=name, requester_contact=contact, received_on=req.received_on, channel=req.channel,
        due_on=req.due_on, extended_due_on=req.extended_due_on, extension_months=req.extension_months,
        extension_reason=req.extension_reason, extension_notified_on=req.extension_notified_on,
        closed_on=req.closed_at.date() if req.closed_at else None,
        verified_on=req.verified_at.date() if req.verified_at else None,
        rejection_grounds=req.rejection_grounds, rejection_reason=req.rejection_reason,
        rejection_exemption=req.rejection_exemption, package_sha256=req.package_sha256,
        package_built_on=built or (req.package_built_at.date() if req.package_built_at else None),
        package_size=req.package_size, exclusions=exclusions, changes=changes, outcome_notes=notes,
        subject_matched=_fk(req, "subject") is not None or req.erased_at is not None, subject_ref=req.subject_ref,
        today=today,
    )


def letter_html(actor: Actor, request_id: int, *, requester: tuple[str, str | None] | None = None,
                today: dt.date | None = None) -> str:
    """The response letter of a closed request (``requester`` overrides the stored name and contact,
    which an erasure removes). Audited as ``request.letter``."""
    require(actor, Permission.REQUESTS_VIEW)
    req = core_requests._get(request_id)
    if req.state not in core_requests.CLOSED_STATES:
        raise ValidationError(f"Request #{req.id} is still open ({core_requests.state_label(req.state).lower()}); "
                              "the response letter is written once it is completed, rejected or withdrawn.")
    with database_errors():
        data = _collect(req, requester, today or dt.date.today())
        with database.atomic():
            audit.record(actor, "request.letter", "request", req.id)
    return render_letter(data)


__all__ = ["LetterData", "letter_html", "render_letter"]
