"""Grouping crash events by fingerprint, and explaining why (Sentry's grouping design).

The rule (DOMAIN.md, "Crash reports (Sentry event format)", *Grouping*):

1. An explicit ``fingerprint`` wins. ``{{ default }}`` inside it stands for the
   built-in hash's components; ``["{{ default }}"]`` alone is the built-in
   grouping itself.
2. Otherwise the stack traces of ``exception.values[]`` (oldest to newest):
   each exception's ``type`` plus, per frame, the module (else the file's
   basename, lower-cased) and the normalised function name — **never line or
   column numbers**, so the same crash on another line joins its group. Only
   in-app frames count when the event has any; otherwise all frames do.
3. An exception without usable frames counts with its type and its value, the
   value's variable parts masked.
4. With no exception at all, the message counts, its variable parts (numbers,
   hex, UUIDs, quoted strings, e-mail addresses) masked, so "Order 123 not
   found" and "Order 456 not found" group together.

Every decision is recorded in the explanation (JSON-ready dict) so the view can
show which frames and values made the fingerprint and why the others did not.
The explanation holds only scrubbed text: grouping runs on the scrubbed event.
The fingerprint is the SHA-256 of the components, hex (64 characters).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Why a frame or value did or did not count (codes; the English text is for the CLI).
WHY_TEXT: dict[str, str] = {
    "in_app": "in-app frame",
    "all_frames": "the event has no in-app frames, so every frame counts",
    "not_in_app": "not in-app (the event has in-app frames, and only those count)",
    "no_identity": "has no module, file name or function",
    "type": "the exception type always counts",
    "value_masked": "no usable stack frames, so the exception value counts, variable parts masked",
    "value_ignored": "stack frames decide; the value does not count",
    "message_masked": "no exception, so the message counts, variable parts masked",
    "fingerprint": "explicit fingerprint sent with the event",
    "default": "“{{ default }}” in the fingerprint: the built-in grouping",
}

METHOD_TEXT: dict[str, str] = {
    "in_app_frames": "exception type and in-app stack frames (line numbers never count)",
    "all_frames": "exception type and all stack frames (the event has no in-app frames; line numbers never count)",
    "exception_value": "exception type and value with variable parts masked (no usable stack frames)",
    "message": "message with variable parts masked (no exception)",
    "fingerprint": "explicit fingerprint sent with the event",
    "fingerprint_default": "explicit fingerprint including the built-in grouping",
    "nothing": "nothing to group by (every event without exception or message lands here)",
}

_DEFAULT_TOKEN = re.compile(r"^\{\{\s*default\s*\}\}$", re.IGNORECASE)

# Masks for messages and values: the order matters (UUIDs before hex before numbers).
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<email>"),
    (re.compile(r"\[Filtered\]"), "<filtered>"),
    (re.compile(r"'(?:[^'\\\n]|\\.){0,200}'|\"(?:[^\"\\\n]|\\.){0,200}\"|“[^”\n]{0,200}”|‘[^’\n]{0,200}’"), "<str>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b", re.I), "<hex>"),
    (re.compile(r"[-+]?\b\d+(?:[.,]\d+)*\b"), "<num>"),
)

# Function-name normalisation: generated parts that change between builds or runs.
_FN_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\$\$Lambda\$\d+/0x[0-9a-f]+", re.I), "$$Lambda$<n>"),
    (re.compile(r"\$\$Lambda\$\d+(?:/\d+)?"), "$$Lambda$<n>"),
    (re.compile(r"lambda\$(\w+?)\$\d+"), r"lambda$\1$<n>"),
    (re.compile(r"\$\d+\b"), "$<n>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<addr>"),
    (re.compile(r"<lambda_[0-9a-f]+>", re.I), "<lambda>"),
    (re.compile(r"\(anonymous function\)|<anonymous>"), "<anonymous>"),
)

_FILE_HASH = re.compile(r"(?<=[.\-_])(?=[0-9a-f]*\d)[0-9a-f]{6,}(?=[.\-_])", re.I)


@dataclass(frozen=True)
class Grouping:
    """The outcome for one event: fingerprint, method, explanation, and the group's title and culprit."""

    fingerprint: str
    method: str
    explanation: dict[str, Any]
    title: str
    culprit: str | None


@lru_cache(maxsize=20_000)
def mask_message(text: str) -> str:
    """The message with its variable parts masked (numbers, hex, UUIDs, quoted strings, e-mails)."""
    out = text.strip()
    for regex, token in _MASKS:
        out = regex.sub(token, out)
    return " ".join(out.split())[:1000]


@lru_cache(maxsize=20_000)
def normalise_function(name: str) -> str:
    """A function name without generated parts (lambda numbers, addresses, anonymous markers)."""
    out = name.strip()
    for regex, token in _FN_RULES:
        out = regex.sub(token, out)
    return out


@lru_cache(maxsize=20_000)
def _basename(path: str) -> str:
    base = re.split(r"[\\/]", path.split("?", 1)[0].split("#", 1)[0])[-1]
    return _FILE_HASH.sub("<hash>", base.lower())


@lru_cache(maxsize=20_000)
def _module_name(module: str) -> str:
    return _FILE_HASH.sub("<hash>", module)


def frame_identity(frame: dict[str, Any]) -> tuple[str | None, str | None]:
    """(module or lower-cased file basename, normalised function) — what a frame contributes."""
    module = frame.get("module")
    where: str | None = None
    if isinstance(module, str) and module.strip():
        where = _module_name(module.strip())
    else:
        for key in ("filename", "abs_path"):
            value = frame.get(key)
            if isinstance(value, str) and value.strip():
                where = _basename(value.strip()) or None
                if where:
                    break
    function = frame.get("function")
    fn = normalise_function(function) if isinstance(function, str) and function.strip() else None
    return where, fn


_SOURCE_PREFIX = re.compile(r"^(?:webpack|app|file)://+(?:\.?/)?", re.IGNORECASE)


def frame_label(frame: dict[str, Any]) -> str:
    """How a frame is named to people: ``module in function`` (or file, or ``?``); bundler prefixes dropped."""
    where = frame.get("module") or frame.get("filename") or frame.get("abs_path")
    if isinstance(where, str):
        where = _SOURCE_PREFIX.sub("", where)
    fn = frame.get("function")
    if where and fn:
        return f"{where} in {fn}"
    return str(where or fn or frame.get("instruction_addr") or "?")


def _exceptions(event: dict[str, Any]) -> list[dict[str, Any]]:
    exc = event.get("exception")
    values = exc.get("values") if isinstance(exc, dict) else exc
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def _frames(exc: dict[str, Any]) -> list[dict[str, Any]]:
    st = exc.get("stacktrace")
    frames = st.get("frames") if isinstance(st, dict) else None
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def event_message(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(formatted message, message template) of an event (``message`` or ``logentry``)."""
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, str) and value.strip():
            return value, None
        if isinstance(value, dict):
            formatted = value.get("formatted")
            template = value.get("message")
            formatted = formatted if isinstance(formatted, str) and formatted.strip() else None
            template = template if isinstance(template, str) and template.strip() else None
            if formatted or template:
                return formatted or template, template
    return None, None


def _default_components(event: dict[str, Any]) -> tuple[list[str], str, dict[str, Any]]:
    """The built-in grouping: (components hashed, method, explanation)."""
    exceptions = _exceptions(event)
    has_in_app = any(f.get("in_app") is True for exc in exceptions for f in _frames(exc))
    explained: list[dict[str, Any]] = []
    frame_parts: list[list[str]] = []
    for exc in exceptions:
        parts: list[str] = []
        frames_out: list[dict[str, Any]] = []
        for frame in _frames(exc):
            where, fn = frame_identity(frame)
            entry: dict[str, Any] = {"label": frame_label(frame), "module": where, "function": fn,
                                     "in_app": frame.get("in_app") is True, "lineno": frame.get("lineno")}
            if has_in_app and frame.get("in_app") is not True:
                entry.update(contributes=False, why="not_in_app")
            elif where is None and fn is None:
                entry.update(contributes=False, why="no_identity")
            else:
                entry.update(contributes=True, why="in_app" if has_in_app else "all_frames")
                parts.append(f"{where or '?'}:{fn or '?'}")
            frames_out.append(entry)
        frame_parts.append(parts)
        explained.append({"type": exc.get("type"), "value": exc.get("value"), "frames": frames_out})
    components: list[str] = []
    if any(frame_parts):
        method = "in_app_frames" if has_in_app else "all_frames"
        for exc, parts, info in zip(exceptions, frame_parts, explained, strict=True):
            components.append(f"type:{exc.get('type') or ''}")
            components.extend(f"frame:{p}" for p in parts)
            info["type_contributes"] = True
            info["value_contributes"] = False
            info["value_why"] = "value_ignored"
        return components, method, {"method": method, "exceptions": explained}
    if exceptions:
        method = "exception_value"
        for exc, info in zip(exceptions, explained, strict=True):
            value = exc.get("value")
            masked = mask_message(value) if isinstance(value, str) else ""
            components.append(f"type:{exc.get('type') or ''}")
            components.append(f"value:{masked}")
            info.update(type_contributes=True, value_contributes=bool(masked), value_masked=masked,
                        value_why="value_masked")
        return components, method, {"method": method, "exceptions": explained}
    formatted, template = event_message(event)
    if formatted or template:
        source = template or formatted or ""
        masked = mask_message(source)
        return [f"message:{masked}"], "message", {
            "method": "message", "exceptions": [],
            "message": {"text": source[:1000], "masked": masked, "from_template": template is not None,
                        "why": "message_masked"}}
    return ["nothing"], "nothing", {"method": "nothing", "exceptions": []}


def _hash(components: list[str]) -> str:
    return hashlib.sha256(json.dumps(components, ensure_ascii=False).encode("utf-8")).hexdigest()


def title_and_culprit(event: dict[str, Any]) -> tuple[str, str | None]:
    """Sentry's title ("Type: value" or the message) and culprit (``module in function`` of the crashing frame)."""
    exceptions = _exceptions(event)
    culprit: str | None = None
    if exceptions:
        last = exceptions[-1]
        etype = last.get("type") if isinstance(last.get("type"), str) else None
        value = last.get("value") if isinstance(last.get("value"), str) else None
        first_line = value.strip().splitlines()[0] if value and value.strip() else ""
        title = f"{etype}: {first_line}" if etype and first_line else (etype or first_line or "Error")
        frames = _frames(last)
        in_app = [f for f in frames if f.get("in_app") is True]
        crashing = (in_app or frames)[-1] if (in_app or frames) else None
        if crashing is not None:
            culprit = frame_label(crashing)
    else:
        formatted, template = event_message(event)
        text = (formatted or template or "").strip()
        title = text.splitlines()[0] if text else "<no message>"
    if culprit is None:
        for key in ("culprit", "transaction", "logger"):
            value = event.get(key)
            if isinstance(value, str) and value.strip():
                culprit = value.strip()
                break
    return title[:500], culprit[:500] if culprit else None


def crash_fingerprint(event: dict[str, Any]) -> Grouping:
    """Group one (validated, scrubbed) event: see the module docstring for the rule."""
    title, culprit = title_and_culprit(event)
    components, method, explanation = _default_components(event)
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint:
        items = [str(x) for x in fingerprint]
        uses_default = [bool(_DEFAULT_TOKEN.match(item.strip())) for item in items]
        if all(uses_default):
            explanation["fingerprint"] = {"values": items, "default_used": True, "why": "default"}
        else:
            expanded: list[str] = ["custom"]
            for item, is_default in zip(items, uses_default, strict=True):
                if is_default:
                    expanded.extend(components)
                else:
                    expanded.append(f"literal:{item}")
            components = expanded
            method = "fingerprint_default" if any(uses_default) else "fingerprint"
            explanation["fingerprint"] = {"values": items, "default_used": any(uses_default), "why": "fingerprint"}
            if not any(uses_default):
                for info in explanation.get("exceptions", []):
                    info["type_contributes"] = False
                    info["value_contributes"] = False
                    for frame in info.get("frames", []):
                        frame["contributes"] = False
                        frame["why"] = "fingerprint"
                if "message" in explanation:
                    explanation["message"]["why"] = "fingerprint"
    explanation["method"] = method
    explanation["summary"] = METHOD_TEXT[method]
    explanation["components"] = components
    explanation["line_numbers_count"] = False
    digest = _hash(components)
    explanation["hash"] = digest
    return Grouping(digest, method, explanation, title, culprit)


def explain_text(explanation: dict[str, Any]) -> list[str]:
    """The explanation as lines of English (the CLI's ``crashes show``)."""
    lines = [f"Grouped by: {explanation.get('summary') or METHOD_TEXT.get(explanation.get('method', ''), '?')}"]
    fp = explanation.get("fingerprint")
    if isinstance(fp, dict):
        lines.append(f"  fingerprint: {fp.get('values')} ({WHY_TEXT.get(str(fp.get('why')), '')})")
    for i, exc in enumerate(explanation.get("exceptions", []), 1):
        lines.append(f"  exception {i}: {exc.get('type') or '?'}"
                     + (" (type counts)" if exc.get("type_contributes") else ""))
        if exc.get("value_contributes"):
            lines.append(f"    value (masked): {exc.get('value_masked')}")
        for frame in exc.get("frames", []):
            mark = "+" if frame.get("contributes") else "-"
            lines.append(f"    {mark} {frame.get('label')}  [{WHY_TEXT.get(str(frame.get('why')), '')}]")
    msg = explanation.get("message")
    if isinstance(msg, dict):
        lines.append(f"  message (masked): {msg.get('masked')}")
    return lines
