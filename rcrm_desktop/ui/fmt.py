"""How times, durations and counts are shown.

Stored times are naive UTC; people see local time with a relative hint
("3 days ago") and the exact UTC time in a tooltip (ARCHITECTURE.md, UI conventions).
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from PySide6.QtCore import QCoreApplication

#: LEFT-TO-RIGHT MARK: a strong left-to-right character that shows nothing.
LRM = "\u200e"


def tr(text: str, context: str = "fmt") -> str:
    return QCoreApplication.translate(context, text)


def ltr(text: str) -> str:
    """``text`` laid out left to right in this left-to-right program, whatever script a name in it is written in.

    A label takes its direction from its first strong letter, so "فاطمة الزهراء · U-215268" became a
    right-aligned right-to-left line reading "U-215268 · فاطمة الزهراء". A leading LRM keeps the
    program's order and alignment; the name itself still reads right to left. Text without right-to-left
    letters is returned unchanged.
    """
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        return LRM + text
    return text


def to_local(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC).astimezone()


def local_time(value: dt.datetime | None, *, seconds: bool = False) -> str:
    if value is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return to_local(value).strftime(fmt)


def utc_tooltip(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def age_tooltip(value: dt.datetime | None) -> str:
    """How long ago, then the exact UTC time: the tooltip of a column that shows only the local time."""
    if value is None:
        return ""
    return f"{relative(value)}\n{utc_tooltip(value)}"


def relative(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A short relative hint: "just now", "5 minutes ago", "3 days ago", "in 2 days"."""
    if value is None:
        return ""
    current = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    delta = current - value
    future = delta.total_seconds() < 0
    secs = abs(delta.total_seconds())
    if secs < 60:
        return tr("just now")
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600),
                       ("minute", 60)):
        if secs >= size:
            n = int(secs // size)
            label = f"{n} {unit}{'s' if n != 1 else ''}"
            return tr("in %1").replace("%1", label) if future else tr("%1 ago").replace("%1", label)
    return ""


def local_with_relative(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return f"{local_time(value)} ({relative(value)})"


def date_text(value: dt.date | None) -> str:
    return value.isoformat() if value else "—"


def duration(ms: int | None) -> str:
    """``mm:ss`` below an hour, ``h:mm:ss`` from an hour on."""
    if ms is None:
        return "—"
    total = int(round(ms / 1000))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def count(n: int) -> str:
    return f"{n:,}"
