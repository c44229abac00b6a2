"""Scrubbing: no e-mail, IP, card number, IBAN, phone, token or secret survives anywhere in a stored event.

The rules are DOMAIN.md's "Crash reports (Sentry event format)", *Scrubbing*.
Pure rule tests first, then the promise itself: import events full of personal
data and scan every stored text (payload, message, group title/culprit/
explanation, facets, audit details) for each injected value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from rcrm_desktop.core import crash_samples, crashes
from rcrm_desktop.core.scrub import FILTERED, MAX_DEPTH, DepthError, Scrubber, builtin_rules, validate_extra_rule
from rcrm_desktop.db.models import AuditEvent, CrashEvent, CrashGroup, CrashGroupFacet
from tests.conftest import Instance

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"

S = Scrubber()


@pytest.mark.parametrize(("text", "expected"), [
    ("mail jan.novak@example.sk now", "mail [Filtered] now"),
    ("from 192.168.1.20 and 10.0.0.1:8080", "from [Filtered] and [Filtered]:8080"),
    ("ipv6 2001:db8::8a2e:370:7334 and ::1", "ipv6 [Filtered] and [Filtered]"),
    ("card 4111 1111 1111 1111 ok", "card [Filtered] ok"),
    ("card 4111-1111-1111-1111", "card [Filtered]"),
    ("amex 3782 822463 10005", "amex [Filtered]"),
    ("iban SK31 1200 0000 1987 4263 7541", "iban [Filtered]"),
    ("iban DE89370400440532013000.", "iban [Filtered]."),
    ("call +421 905 123 456", "call [Filtered]"),
    ("us (555) 123-4567", "us [Filtered]"),
    ("home 0905 123 456", "home [Filtered]"),
    ("/home/alice/src/app.py", "/home/[Filtered]/src/app.py"),
    ("/Users/bob/Library/x", "/Users/[Filtered]/Library/x"),
    ("C:\\Users\\Bob\\AppData\\x.dll", "C:\\Users\\[Filtered]\\AppData\\x.dll"),
    ("Authorization: Bearer abcdefgh12345678", "Authorization: [Filtered] [Filtered]"),
    ("GET /api?token=abc123&x=1", "GET /api?token=[Filtered]&x=1"),
    ("password=hunter2 user=x", "password=[Filtered] user=x"),
    ('{"api_key": "AKIA99"}', '{"api_key": [Filtered]}'),
    ("postgres://rcrm:s3cr3t@db.local/rcrm", "postgres://[Filtered]@db.local/rcrm"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF", "jwt [Filtered]"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[Filtered]"),
])
def test_value_rules_filter_what_they_should(text: str, expected: str) -> None:
    assert S.scrub_text(text) == expected
    assert S.scrub_text(expected) == expected  # idempotent


@pytest.mark.parametrize("text", [
    "Order 12345 not found", "date 2024-06-01T10:00:00Z", "2026-03-02T10:15:01.123456Z", "time 12:30:45",
    "version 1.2.3", "ts 1718000000000", "card-like 4111 1111 1111 1112", "std::vector<int>",
    "KeyError: 'session'", "rcrm.calls.service", "Timeout after 30000 ms", "lat 48.1486 lon 17.1077",
    "uuid 3f2b7a10-9c1e-4d2a-8e55-1a2b3c4d5e6f", "0x7f3a2c1d9e50", "x [Filtered] y", "ü ß Šťastný 😀",
])
def test_value_rules_leave_harmless_text_alone(text: str) -> None:
    assert S.scrub_text(text) == text


def test_key_rules_filter_whole_values_at_any_depth_and_in_pairs() -> None:
    event = {
        "event_id": "a" * 32, "release": "1.2.3.4", "environment": "production",
        "request": {"headers": [["Authorization", "Basic dXNlcjpwYXNz"], ["Accept", "text/html"],
                                ["X-Api-Key", "k-123"]],
                    "cookies": {"sid": "x"}, "query_string": [["session_id", "abc"], ["page", "2"]]},
        "extra": {"nested": {"Password": "x", "apiKey": {"deep": "value"}, "private-key": "---",
                             "n": 4111111111111111, "small": 42, "ok": True, "empty_token": None},
                  "mysql_pwd": "root", "credentials": ["a", "b"], "author": "kept? no: contains auth"},
        "contexts": {"app": {"session": "s-1", "app_name": "rcrm"}},
    }
    out = S.scrub_event(event)
    assert out["release"] == "1.2.3.4"  # identifies the event, not a person
    assert out["request"]["headers"] == [["Authorization", FILTERED], ["Accept", "text/html"], ["X-Api-Key", FILTERED]]
    assert out["request"]["cookies"] == FILTERED
    assert out["request"]["query_string"] == [["session_id", FILTERED], ["page", "2"]]
    nested = out["extra"]["nested"]
    assert nested == {"Password": FILTERED, "apiKey": FILTERED, "private-key": FILTERED, "n": FILTERED,
                      "small": 42, "ok": True, "empty_token": None}
    assert out["extra"]["mysql_pwd"] == FILTERED and out["extra"]["credentials"] == FILTERED
    assert out["extra"]["author"] == FILTERED  # Sentry's generous substring matching
    assert out["contexts"]["app"] == {"session": FILTERED, "app_name": "rcrm"}
    assert event["extra"]["nested"]["Password"] == "x"  # the input is not changed


def test_user_object_keeps_only_the_id_and_keys_are_scrubbed_too() -> None:
    out = S.scrub_event({"user": {"id": "jana@example.sk", "username": "jana", "email": "jana@example.sk",
                                  "ip_address": "10.0.0.1", "name": "", "geo": {"city": "Bratislava"}},
                         "extra": {"jana@example.sk": 1, "[Filtered]": 2, "10.0.0.9": 3}})
    assert out["user"] == {"id": FILTERED, "username": FILTERED, "email": FILTERED, "ip_address": FILTERED,
                           "name": None, "geo": FILTERED}
    assert set(out["extra"]) == {FILTERED, f"{FILTERED} (2)", f"{FILTERED} (3)"}


def test_strings_come_out_storable_and_depth_is_bounded() -> None:
    assert S.scrub_text("a\x00b\udcfc") == "a\ufffdb\ufffd"
    node: dict[str, Any] = {}
    root = node
    for _ in range(MAX_DEPTH + 5):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(DepthError):
        S.scrub_event({"extra": root})


def test_extra_rules_are_validated_and_applied() -> None:
    value_rule = validate_extra_rule("Contract numbers", r"CUST-\d+", "value")
    key_rule = validate_extra_rule("Internal ref", "internal_ref", "key")
    scrubber = Scrubber([value_rule, key_rule])
    out = scrubber.scrub_event({"message": "Contract CUST-1234 failed", "extra": {"Internal-Ref": "R-1"}})
    assert out == {"message": f"Contract {FILTERED} failed", "extra": {"Internal-Ref": FILTERED}}
    # A rule that matches the marker itself cannot make it grow on every rescrub.
    greedy = Scrubber([validate_extra_rule("Greedy", "Filtered", "value")])
    assert greedy.scrub_text(f"a {FILTERED} b") == f"a {FILTERED} b"
    for name, pattern, kind in (("", "x", "value"), ("n", "(", "value"), ("n", "a?", "value"),
                                ("n", "x", "other"), ("n", "x" * 600, "value"), ("n", "--", "key")):
        with pytest.raises(ValueError):
            validate_extra_rule(name, pattern, kind)


def test_builtin_rules_are_listed_with_every_default_key() -> None:
    rules = builtin_rules()
    keys = {r.pattern for r in rules if r.kind == "key"}
    assert {"password", "passwd", "secret", "api_key", "apikey", "auth", "authorization", "credentials", "token",
            "session", "cookie", "private_key", "mysql_pwd"} <= keys
    assert {"email", "ipv4", "ipv6", "card_number", "iban", "phone_number", "home_path"} <= {r.name for r in rules}


# ---------------------------------------------------------------- the promise, on every engine

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _secrets_in(value: Any, key: str = "", out: set[str] | None = None) -> set[str]:
    """Every injected value of the raw events that must not be stored."""
    out = set() if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            _secrets_in(v, k, out)
    elif isinstance(value, list):
        for v in value:
            _secrets_in(v, key, out)
    elif isinstance(value, str):
        out.update(EMAIL.findall(value))
        out.update(ip for ip in IPV4.findall(value) if not ip.startswith("4."))
        out.update(m.group(1) for m in re.finditer(r"(?:token|sessionid|session_id)=([A-Za-z0-9]{8,})", value))
        out.update(m.group(1) for m in re.finditer(r"Bearer ([A-Za-z0-9._-]{8,})", value))
        out.update(m.group(1) for m in re.finditer(r"password=(\S+)", value))
        out.update(m.group(0) for m in re.finditer(r"\+421 9\d\d \d{3} \d{3}", value))
        if re.search(r"(?i)password|api_key|secret|mysql_pwd|^dsn$", key) and len(value) >= 6:
            out.add(value)
    return out


CARD_DIGITS = ["4111111111111111", "5500000000000004", "4012888888881881", "378282246310005"]
IBANS = ["SK3112000000198742637541", "DE89370400440532013000", "CZ6508000000192000145399"]


def _stored_text() -> str:
    parts = [e.payload + (e.message or "") + (e.exception_type or "") for e in CrashEvent.select()]
    parts += [g.title + (g.culprit or "") + g.explanation + g.search_key for g in CrashGroup.select()]
    parts += [f.value for f in CrashGroupFacet.select()]
    parts += [a.details for a in AuditEvent.select()]
    return "\n".join(parts)


def test_nothing_personal_survives_anywhere_in_the_stored_events(instance: Instance) -> None:
    now = dt.datetime(2026, 4, 1, 12)
    events = crash_samples.sample_events(150, seed=11, user_ids=["U-1", "U-2"], now=now)
    raw_file = json.loads((DATA / "python_keyerror.json").read_text(encoding="utf-8"))
    secrets = _secrets_in(events) | _secrets_in(raw_file)
    assert len(secrets) > 100  # the samples really carry personal data
    report = crashes.import_events(instance.support, events, DATA / "python_keyerror.json")
    assert report.refused_count == 0
    stored = _stored_text()
    leaked = sorted(s for s in secrets if s in stored)
    assert leaked == []
    digits_only = re.sub(r"[ -]", "", stored)
    for number in CARD_DIGITS + IBANS:
        assert number not in digits_only
    assert not EMAIL.search(stored)
    assert "/home/deploy" not in stored and "hunter2" not in stored and "AKIA1234567890ABCDEF" not in stored
    # What is not personal is still there to debug with.
    assert "rcrm.calls.service" in stored and "process_call" in stored and "rcrm-server@4.2.0" in stored


# ---------------------------------------------------------------- quick paths change nothing

_PIECES = [
    "jan.novak@example.sk", "a@b.co_c@d.org", "192.168.1.20", "10.0.0.1:8080", "999.1.1.1", "1.1.1.1.1",
    "2001:db8::8a2e:370:7334", "::1", "fe80::1%eth0", "12:30:45", "4111 1111 1111 1111", "4111-1111-1111-1111",
    "3782 822463 10005", "4111 1111 1111 1112", "SK31 1200 0000 1987 4263 7541", "DE89370400440532013000",
    "+421 905 123 456", "(555) 123-4567", "0905 123 456", "/home/alice/x", "/Users/bob/y", "C:\\Users\\Bob\\x",
    "Bearer abcdefgh12345678", "TOKEN  zzzzzzzzzz", "baſic xxxxxxxxxx", "token=abc123", "Password: hunter2",
    '"api_key": "AKIA"', "sessionid=abc&x=1", "postgres://u:p@db/x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc",
    "-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----", FILTERED, "2024-06-01T10:00:00Z",
    "1.2.3", "rcrm-web@4.3.0", "Kelvin K", "Users", "users/", "\udc80", "\x00", "a", " ", ".", ":", "@", "+", "0",
    "12345678", "/HOME/carol/z", "BASİC yyyyyyyyyy", "ſeſſion=abc", "paſſword: x", "Bearer\u00a0ıııııııı",
    "٤١١١ ١١١١ ١١١١ ١١١١", "+٤٢١ ٩٠٥ ١٢٣ ٤٥٦",
]


def _reference_scrubber(extra: list[Any]) -> Scrubber:
    """The rules exactly as listed to operators, each run on its own through ``re.sub``.

    No quick rejection (neither ``needs`` nor hints), no respellings, and no
    search-and-slice replacement: every rule counts as an administrator's.
    """
    reference = Scrubber(extra)
    reference._value_rules = tuple(
        dataclasses.replace(vr, regex=re.compile(vr.rule.pattern), hint=None, needs=None,
                            rule=dataclasses.replace(vr.rule, builtin=False))
        for vr in reference._value_rules)
    return reference


@pytest.mark.parametrize("with_extra", [False, True])
def test_the_tuned_scrubber_gives_exactly_what_the_plain_rules_give(with_extra: bool) -> None:
    rng = random.Random(5)
    texts = [rng.choice(["", " ", "-", ".", ":", "/", "=", "&"]).join(rng.choice(_PIECES)
                                                                       for _ in range(rng.randint(1, 5)))
             for _ in range(6000)]
    now = dt.datetime(2026, 4, 1, 12)
    for event in crash_samples.sample_events(200, seed=4, user_ids=["U-1"], now=now):
        texts.extend(_strings_of(event))
    extra = [validate_extra_rule("Servers", r"rcrm-app-\d", "value"), validate_extra_rule("Digits", r"^\d+$", "value"),
             validate_extra_rule("Customer", "customer", "key")] if with_extra else []
    tuned, reference = Scrubber(extra), _reference_scrubber(extra)
    assert [tuned.scrub_text(t) for t in texts] == [reference.scrub_text(t) for t in texts]


def _strings_of(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings_of(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings_of(v)]
    return [value] if isinstance(value, str) else []
