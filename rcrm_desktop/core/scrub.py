"""Scrubbing crash reports at the door: personal data and secrets never reach the database.

The rules follow Sentry's server-side defaults (DOMAIN.md, "Crash reports
(Sentry event format)", *Scrubbing*), and go further where this product must:

* **Key rules.** A value whose key (in a dict, or the first item of a
  ``[key, value]`` pair such as request headers) contains one of ``password``,
  ``passwd``, ``secret``, ``api_key``, ``apikey``, ``auth``, ``authorization``,
  ``credentials``, ``token``, ``session``, ``cookie``, ``private_key``,
  ``mysql_pwd`` is replaced, whole, by ``"[Filtered]"``. Keys are compared
  lower-cased with ``-``/``_``/spaces removed (``X-Api-Key``, ``apiKey`` and
  ``api_key`` all match ``apikey``), as substrings (``access_token``,
  ``sessionid``, ``Set-Cookie`` match) — the same generous matching as Sentry.
* **Value rules.** Inside every string, anywhere in the event (breadcrumbs,
  extra, request data, contexts, exception values, messages, frame vars,
  source context lines, file paths, tags, even dict keys), the parts that look
  like e-mail addresses, IPv4/IPv6 addresses, card numbers (13–19 digits,
  issuer prefix 2–6 and Luhn-valid), IBANs (ISO 13616 mod-97 valid), phone
  numbers, the user name in home paths (``/home/alice`` → ``/home/[Filtered]``),
  bearer tokens, JWTs, ``key=value`` secrets in free text, URL credentials and
  PEM private keys are replaced by ``"[Filtered]"``. Whole numbers that are
  Luhn-valid card numbers are replaced too.
* **The user object.** Every field of ``user`` except ``id`` (e-mail, IP
  address, user name, name, geo, ...) is replaced: the event is linked to its
  subject by id before scrubbing, and the id itself still passes the value
  rules (an id that is an e-mail address is filtered).
* **Extra rules.** An administrator may add rules (``settings`` option
  ``scrub_extra_rules``, see ``core.crashes.add_scrub_rule``): a *value* rule is
  a regular expression whose matches are filtered, a *key* rule a key fragment.

Guarantees:

* Scrubbing is idempotent: text already reading ``[Filtered]`` is never
  matched again, so re-scrubbing stored events (``core.crashes.rescrub_events``)
  changes only what a new rule finds.
* Strings come out storable on every engine: lone surrogates (from JSON escapes
  or non-UTF-8 bytes) and NUL characters become U+FFFD.
* Fields that identify the event rather than a person (``event_id``,
  ``timestamp``, ``platform``, ``level``, ``release``, ``dist``,
  ``environment``) are left as they are, so a release such as ``1.2.3.4`` is
  not mistaken for an IP address.
* No Qt, no I/O: a ``Scrubber`` is a pure function of its rules.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

FILTERED = "[Filtered]"

#: Sentry's default sensitive key fragments (DOMAIN.md, Scrubbing).
DEFAULT_SENSITIVE_KEYS: tuple[str, ...] = (
    "password", "passwd", "secret", "api_key", "apikey", "auth", "authorization", "credentials", "token",
    "session", "cookie", "private_key", "mysql_pwd",
)

#: Top-level event fields that identify the event, not a person: never value-scrubbed.
EXEMPT_TOP_LEVEL = frozenset({"event_id", "timestamp", "platform", "level", "release", "dist", "environment"})

#: Fields of ``user`` kept (value rules still apply): the id links the event to its subject.
USER_KEPT_FIELDS = frozenset({"id"})

#: Deepest nesting accepted; deeper events are refused (``DepthError``), never half-scrubbed.
MAX_DEPTH = 64

#: Longest pattern an administrator may add.
MAX_PATTERN_LENGTH = 500
MAX_RULE_NAME_LENGTH = 100


class DepthError(ValueError):
    """The event nests deeper than ``MAX_DEPTH``."""


@dataclass(frozen=True)
class ScrubRule:
    """One scrubbing rule as shown to operators.

    ``kind`` is ``"key"`` (``pattern`` is a key fragment) or ``"value"``
    (``pattern`` is a regular expression; when it has a group named ``v`` only
    that group is replaced). ``builtin`` rules cannot be removed.
    """

    name: str
    kind: str
    pattern: str
    description: str
    builtin: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "pattern": self.pattern, "description": self.description,
                "builtin": self.builtin}


# ---------------------------------------------------------------- validators


def luhn_valid(digits: str) -> bool:
    """The Luhn check every payment card number passes (ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def looks_like_card(text: str) -> bool:
    """13–19 digits, an issuer prefix of 2–6 (Mastercard 2-series, Amex, Visa, Mastercard, Discover) and Luhn."""
    digits = "".join(ch for ch in text if ch.isdigit())
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and len(set(digits)) > 1 and luhn_valid(digits)


def iban_valid(text: str) -> bool:
    """ISO 13616: 15–34 characters, country letters, check digits, and the number mod 97 is 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _ipv6_valid(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _phone_valid(text: str) -> bool:
    return 8 <= _digit_count(text) <= 15


# ---------------------------------------------------------------- built-in rules

_KEY_STEMS = r"(?:password|passwd|secret|api[_-]?key|auth\w*|credentials|token|session(?:[_-]?id)?|cookie|" \
             r"private[_-]?key|mysql_pwd)"


@dataclass(frozen=True, slots=True)
class _ValueRule:
    rule: ScrubRule
    regex: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    #: A cheap necessary condition on (text, ``_folded`` text, digit count); ``None``: always try the rule.
    needs: Callable[[str, str, int], bool] | None = None
    #: A pattern that every match of ``regex`` contains, quick to search (a literal start, no backtracking):
    #: text it is not found in is left alone without running ``regex``.
    hint: re.Pattern[str] | None = None


def _rule(name: str, pattern: str, description: str, needs: Callable[[str, str, int], bool], flags: int = 0,
          check: Callable[[str], bool] | None = None, hint: str | None = None, fast: str | None = None
          ) -> _ValueRule:
    """A built-in rule; ``fast`` is an equivalent spelling of ``pattern`` that the regex engine runs quicker."""
    return _ValueRule(ScrubRule(name, "value", pattern, description), re.compile(fast or pattern, flags), check,
                      needs, re.compile(hint) if hint is not None else None)


_KEY_STEM_PLAIN = re.compile(r"passw|secret|api.?key|auth|credential|token|session|cookie|private.?key|mysql_pwd")


#: Value rules in the order they run (private keys and tokens before the shorter patterns inside them).
BUILTIN_VALUE_RULES: tuple[_ValueRule, ...] = (
    _rule("private_key", r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)",
          "PEM private key blocks", lambda t, low, d: "PRIVATE KEY" in t),
    _rule("bearer_token", r"(?i)\b(?:bearer|basic|token)\s+(?P<v>[A-Za-z0-9._~+/=-]{8,})",
          "Bearer/Basic credentials in headers and messages",
          lambda t, low, d: "bearer" in low or "basic" in low or "token" in low),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", "JSON Web Tokens",
          lambda t, low, d: "eyJ" in t),
    _rule("url_credentials", r"(?i)\b[a-z][a-z0-9+.-]*://(?P<v>[^\s/:@]+:[^\s/@]+)@",
          "user:password in URLs", lambda t, low, d: "://" in t and "@" in t, hint=r"://[^\s/:@]+:[^\s/@]+@"),
    _rule("secret_assignment",
          r"(?i)" + _KEY_STEMS + r"[\w.-]*[\"']?\s*[=:]\s*(?P<v>\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)",
          "key=value and key: value secrets in free text (password=…, token: …)",
          lambda t, low, d: ("=" in t or ":" in t) and _KEY_STEM_PLAIN.search(low) is not None,
          fast=r"(?i)(?=[pasctm])" + _KEY_STEMS + r"[\w.-]*[\"']?\s*[=:]\s*(?P<v>\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)"),
    _rule("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "E-mail addresses",
          lambda t, low, d: "@" in t, hint=r"(?<=[A-Za-z0-9._%+-])@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2}",
          fast=r"[A-Za-z0-9._%+-]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    _rule("card_number", r"(?<![\d.])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,7}|\d{4}[ -]\d{6}[ -]\d{4,5}"
                         r"|\d{4}(?:[ -]\d{4}){3}[ -]\d{1,3})(?!\d)",
          "Payment card numbers (13–19 digits, Luhn-valid)", lambda t, low, d: d >= 13, check=looks_like_card,
          hint=r"\d{4}[ -]?\d{4}"),
    _rule("iban", r"(?i)\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
          "IBANs (ISO 13616, mod-97 valid)", lambda t, low, d: d >= 8, check=iban_valid),
    _rule("ipv4", r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                  r"(?![\w]|\.\d)", "IPv4 addresses",
          lambda t, low, d: d >= 4 and t.count(".") >= 3, hint=r"\d\.\d{1,3}\.\d{1,3}\.\d"),
    _rule("ipv6", r"(?i)(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])",
          "IPv6 addresses", lambda t, low, d: t.count(":") >= 2, check=_ipv6_valid, hint=r"(?i):[0-9a-f]{0,4}:"),
    _rule("phone_number",
          r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"
          r"|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}|\b0\d{2,4}[ /-]\d{3}[ -]?\d{3,4})(?![\w])",
          "Phone numbers (international +…, (555) 123-4567, 0905 123 456)",
          lambda t, low, d: d >= 8 and ("+" in t or " " in t or "-" in t or "/" in t or "." in t),
          check=_phone_valid, hint=r"\+\d|\d{3}\)?[ .-]\d{3}[ .-]\d{4}|0\d{2,4}[ /-]\d{3}"),
    _rule("home_path", r"(?i)(?:/home/|/Users/|\b[A-Z]:[\\/](?:Users|Documents and Settings)[\\/])"
                       r"(?P<v>[^/\\\s\"':]+)", "The user name in home folder paths",
          lambda t, low, d: "/home/" in low or "users" in low or "documents and settings" in low,
          hint=r"(?i)/home/|/users/|[\\/](?:users|documents and settings)[\\/]"),
)

_SURROGATE_OR_NUL = re.compile("[\ud800-\udfff\x00]")
_DIGITS = b"0123456789"
_ANY_DIGIT = re.compile(r"\d")

#: The characters other than ASCII letters that a case-insensitive pattern matches to an ASCII letter
#: (Python's ``re`` folds each character on its own: ``(?i)s`` matches ``ſ``), and those letters.
#: ``str.lower`` leaves ``ſ`` and ``ı`` as they are and turns ``İ`` into two characters.
_ASCII_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def _folded(text: str) -> str:
    """``text`` lower-cased so that ``word in _folded(text)`` holds wherever ``(?i)word`` matches it."""
    return text.lower() if text.isascii() else text.translate(_ASCII_FOLD).lower()


def _digit_count(text: str) -> int:
    """How many digits (``\\d``: any script's decimal digits) ``text`` holds; it has no lone surrogates.

    ASCII text goes through ``bytes.translate``, which deletes in one C loop;
    ``str.translate`` with a deleting table looks up every character in a dict
    and took about five times as long.
    """
    if not text.isascii():
        return len(_ANY_DIGIT.findall(text))
    raw = text.encode("ascii")
    return len(raw) - len(raw.translate(None, _DIGITS))

#: Whole numbers below this cannot be card numbers (fewer than 13 digits).
_CARD_MIN = 10**12

#: Texts that are only a time stamp (breadcrumbs carry many): never personal data.
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?")

#: Scrubbed short texts remembered per scrubber (cleared when full).
TEXT_CACHE_SIZE = 50_000


def builtin_rules() -> list[ScrubRule]:
    """Every built-in rule, key rules first (what the GUI and ``crashes rules`` list)."""
    keys = [ScrubRule(f"key:{k}", "key", k, f"Values of keys containing “{k}”") for k in DEFAULT_SENSITIVE_KEYS]
    keys.append(ScrubRule("user_fields", "key", "user.*",
                          "Every field of the event's user object except its id (e-mail, IP address, name, …)"))
    return keys + [r.rule for r in BUILTIN_VALUE_RULES]


def _norm_key(key: str) -> str:
    return re.sub(r"[\s_\-.]", "", key.lower())


# ---------------------------------------------------------------- extra rules


def validate_extra_rule(name: str, pattern: str, kind: str) -> ScrubRule:
    """Check an administrator's rule; raise ``ValueError`` with a sentence saying what is wrong."""
    name = " ".join(name.split())
    if not name:
        raise ValueError("A scrub rule needs a name.")
    if len(name) > MAX_RULE_NAME_LENGTH:
        raise ValueError(f"The rule name is {len(name)} characters long; at most {MAX_RULE_NAME_LENGTH} are allowed.")
    if kind not in {"key", "value"}:
        raise ValueError(f"“{kind}” is not a kind of scrub rule; use “value” (a pattern) or “key” (a key name).")
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"The pattern must be 1 to {MAX_PATTERN_LENGTH} characters long.")
    if kind == "key":
        if not _norm_key(pattern):
            raise ValueError("A key rule needs letters or digits to match.")
        return ScrubRule(name, "key", pattern, f"Values of keys containing “{pattern}”", builtin=False)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"The pattern is not a valid regular expression: {exc}.") from exc
    if regex.search("") is not None:
        raise ValueError("The pattern matches empty text, so it would filter between every character.")
    return ScrubRule(name, "value", pattern, "Added by an administrator", builtin=False)


def parse_extra_rules(text: str) -> list[ScrubRule]:
    """The ``scrub_extra_rules`` option (a JSON list); broken entries are skipped, never fatal."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    rules = []
    if not isinstance(data, list):
        return []
    for item in data:
        if not isinstance(item, dict):
            continue
        try:
            rules.append(validate_extra_rule(str(item.get("name", "")), str(item.get("pattern", "")),
                                             str(item.get("kind", "value"))))
        except ValueError:
            continue
    return rules


def dump_extra_rules(rules: Iterable[ScrubRule]) -> str:
    return json.dumps([{"name": r.name, "kind": r.kind, "pattern": r.pattern} for r in rules],
                      ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- the scrubber


@dataclass
class Scrubber:
    """Applies the built-in rules plus ``extra`` administrator rules. Reusable and thread-safe."""

    extra: Sequence[ScrubRule] = ()
    _key_fragments: tuple[str, ...] = field(init=False)
    _value_rules: tuple[_ValueRule, ...] = field(init=False)

    def __post_init__(self) -> None:
        keys = [_norm_key(k) for k in DEFAULT_SENSITIVE_KEYS]
        extra_values: list[_ValueRule] = []
        for rule in self.extra:
            if rule.kind == "key":
                keys.append(_norm_key(rule.pattern))
            else:
                extra_values.append(_ValueRule(rule, re.compile(rule.pattern), None, None))
        self._key_fragments = tuple(dict.fromkeys(k for k in keys if k))
        self._value_rules = BUILTIN_VALUE_RULES + tuple(extra_values)
        self._key_cache: dict[str, bool] = {}
        self._text_cache: dict[str, str] = {}
        self._key_info: dict[str, tuple[str, bool]] = {}

    # -- keys

    def is_sensitive_key(self, key: str) -> bool:
        """Whether a value under ``key`` is filtered whole (cached: keys repeat across events)."""
        hit = self._key_cache.get(key)
        if hit is None:
            norm = _norm_key(key)
            hit = any(fragment in norm for fragment in self._key_fragments)
            if len(self._key_cache) < 50_000:
                self._key_cache[key] = hit
        return hit

    # -- strings

    def scrub_text(self, text: str) -> str:
        """``text`` with every value-rule match replaced by ``[Filtered]`` (idempotent).

        Results for short texts are cached per scrubber (names of modules,
        functions and files, source lines and categories repeat in every event).
        """
        cached = self._text_cache.get(text)
        if cached is not None:
            return cached
        out = self._scrub_text(text)
        if len(text) <= 300:
            if len(self._text_cache) >= TEXT_CACHE_SIZE:
                self._text_cache.clear()
            self._text_cache[text] = out
        return out

    def _scrub_text(self, text: str) -> str:
        if _SURROGATE_OR_NUL.search(text):
            text = _SURROGATE_OR_NUL.sub("\ufffd", text)
        if _ISO_TIME.fullmatch(text):
            return text
        low = _folded(text)
        digits = _digit_count(text)
        for vr in self._value_rules:
            if vr.needs is not None and not vr.needs(text, low, digits):
                continue
            if vr.hint is not None and vr.hint.search(text) is None:
                continue
            if FILTERED in text:
                parts = text.split(FILTERED)
                new = FILTERED.join(_apply(vr, part) for part in parts)
            else:
                new = _apply(vr, text)
            if new != text:
                text = new
                low = _folded(text)
                digits = _digit_count(text)
        return text

    # -- values

    def scrub_value(self, value: Any, depth: int = 0) -> Any:
        """A scrubbed copy of any JSON value. Raises ``DepthError`` beyond ``MAX_DEPTH``."""
        kind = type(value)
        if kind is str:
            return self.scrub_text(value)
        if kind is dict:
            return self._scrub_dict(value, depth)
        if kind is list or kind is tuple:
            return self._scrub_list(value, depth)
        return self._scrub_scalar(value)

    def _scrub_scalar(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            if -_CARD_MIN < value < _CARD_MIN:
                return value
            digits = str(abs(value))
            return FILTERED if len(digits) <= 19 and looks_like_card(digits) else value
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return self._scrub_dict(value, 0)
        if isinstance(value, list | tuple):
            return self._scrub_list(value, 0)
        return self.scrub_text(str(value))

    def _item(self, value: Any, depth: int) -> Any:
        """One child value: the walk's hot path, kept free of method calls for cached texts."""
        kind = type(value)
        if kind is str:
            cached = self._text_cache.get(value)
            return cached if cached is not None else self.scrub_text(value)
        if kind is dict:
            return self._scrub_dict(value, depth)
        if kind is list:
            return self._scrub_list(value, depth)
        if kind is int and -_CARD_MIN < value < _CARD_MIN:
            return value
        return self._scrub_scalar(value) if kind is not tuple else self._scrub_list(value, depth)

    def _filter_whole(self, key: str, value: Any) -> bool:
        return value not in (None, "", [], {}) and self.is_sensitive_key(key)

    def _scrub_list(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        if depth >= MAX_DEPTH:
            raise DepthError(f"nested more than {MAX_DEPTH} levels deep")
        depth += 1
        if value and type(value[0]) in (list, tuple) and all(
                type(p) in (list, tuple) and len(p) == 2 and type(p[0]) is str for p in value):
            # [key, value] pairs (request headers, cookies, query strings): key rules apply.
            return [[self.scrub_text(k), FILTERED if self._filter_whole(k, v) else self._item(v, depth)]
                    for k, v in value]
        texts = self._text_cache
        out: list[Any] = []
        append = out.append
        for child in value:
            kind = type(child)
            if kind is str:
                cached = texts.get(child)
                append(cached if cached is not None else self.scrub_text(child))
            elif kind is dict:
                append(self._scrub_dict(child, depth))
            else:
                append(self._item(child, depth))
        return out

    def _key(self, key: str) -> tuple[str, bool]:
        """(scrubbed key, whether its value is filtered whole), cached."""
        entry = (self.scrub_text(key), self.is_sensitive_key(key))
        if len(self._key_info) >= TEXT_CACHE_SIZE:
            self._key_info.clear()
        self._key_info[key] = entry
        return entry

    def _scrub_dict(self, value: dict[Any, Any], depth: int) -> dict[str, Any]:
        if depth >= MAX_DEPTH:
            raise DepthError(f"nested more than {MAX_DEPTH} levels deep")
        depth += 1
        out: dict[str, Any] = {}
        texts = self._text_cache
        key_info = self._key_info
        item = self._item
        renamed = False
        for raw_key, child in value.items():
            key = raw_key if type(raw_key) is str else str(raw_key)
            info = key_info.get(key)
            if info is None:
                info = self._key(key)
            clean_key = info[0]
            if clean_key is not key or renamed:
                renamed = True
                if clean_key in out:
                    n = 2
                    while f"{clean_key} ({n})" in out:
                        n += 1
                    clean_key = f"{clean_key} ({n})"
            if info[1] and child not in (None, "", [], {}):
                out[clean_key] = FILTERED
            else:
                kind = type(child)
                if kind is str:
                    cached = texts.get(child)
                    out[clean_key] = cached if cached is not None else self.scrub_text(child)
                elif kind is dict:
                    out[clean_key] = self._scrub_dict(child, depth)
                elif kind is int and -_CARD_MIN < child < _CARD_MIN or child is None or kind is bool:
                    out[clean_key] = child
                else:
                    out[clean_key] = item(child, depth)
        return out

    def scrub_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A scrubbed copy of a whole event (see the module docstring for what is kept)."""
        out: dict[str, Any] = {}
        for key, value in event.items():
            if key in EXEMPT_TOP_LEVEL:
                out[key] = self.scrub_text(value) if isinstance(value, str) and _SURROGATE_OR_NUL.search(value) \
                    else value
            elif key == "user" and isinstance(value, dict):
                out[key] = self._scrub_user(value)
            elif self._filter_whole(key, value):
                out[key] = FILTERED
            else:
                out[key] = self.scrub_value(value, 1)
        return out

    def _scrub_user(self, user: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in user.items():
            if key in USER_KEPT_FIELDS and not isinstance(value, dict | list):
                out[key] = self.scrub_value(value if isinstance(value, str) else str(value), 2)
            else:
                out[self.scrub_text(str(key))] = None if value in (None, "") else FILTERED
        return out


def _apply(vr: _ValueRule, text: str) -> str:
    """``text`` with each match of the rule (its group ``v``, when it has one and that took part) filtered.

    A built-in rule never matches empty text, so its matches are found by
    searching on from the end of the last one, which is what ``re.sub`` does,
    and the text is put together from slices: a Python call back from
    ``re.sub`` for every match cost more than the search itself. An
    administrator's pattern may match empty text between characters, so it
    goes through ``re.sub``, whose rules for empty matches it then follows.
    """
    if not text:
        return text
    regex = vr.regex
    match = regex.search(text)
    if match is None:
        return text
    has_group = "v" in regex.groupindex
    check = vr.check
    if vr.rule.builtin:
        pieces: list[str] = []
        last = 0
        while match is not None:
            start, end = match.span()
            if check is None or check(match.group(0).strip()):
                if has_group and match.group("v") is not None:
                    start, end_v = match.span("v")
                else:
                    end_v = end
                pieces.append(text[last:start])
                pieces.append(FILTERED)
                last = end_v
            match = regex.search(text, end)
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if check is not None and not check(whole.strip()):
            return whole
        if has_group and match.group("v") is not None:
            start, end = match.span("v")
            base = match.start()
            return whole[: start - base] + FILTERED + whole[end - base:]
        return FILTERED

    return regex.sub(replace, text)


_DEFAULT: Scrubber | None = None


def default_scrubber() -> Scrubber:
    """The built-in rules only (tests, samples)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Scrubber()
    return _DEFAULT
