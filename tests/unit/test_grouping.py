"""Grouping: Sentry's design as DOMAIN.md states it (explicit fingerprint, in-app frames, no line numbers,
message with variable parts masked), and the explanation that says why."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from rcrm_desktop.core import crashes
from rcrm_desktop.core.grouping import crash_fingerprint, explain_text, mask_message, normalise_function
from rcrm_desktop.db.models import CrashEvent, CrashGroup
from tests.conftest import Instance

Frame = tuple[str | None, str, int, bool]


def event(frames: list[Frame], etype: str = "KeyError", value: str = "'customer_id'", **extra: Any
          ) -> dict[str, Any]:
    ev: dict[str, Any] = {"exception": {"values": [{"type": etype, "value": value, "stacktrace": {"frames": [
        {"module": m, "function": f, "lineno": n, "in_app": a, "filename": f"src/{f}.py"} for m, f, n, a in frames
    ]}}]}}
    ev.update(extra)
    return ev


BASE: list[Frame] = [("django.core.handlers.base", "_get_response", 197, False),
                     ("rcrm.api.views", "call_detail", 212, True),
                     ("rcrm.calls.service", "process_call", 88, True)]


def fp(ev: dict[str, Any]) -> str:
    return crash_fingerprint(ev).fingerprint


def test_the_same_crash_on_other_line_numbers_has_the_same_fingerprint() -> None:
    moved = [(m, f, n + 17, a) for m, f, n, a in BASE]
    assert fp(event(BASE)) == fp(event(moved))
    with_cols = event(BASE)
    for frame in with_cols["exception"]["values"][0]["stacktrace"]["frames"]:
        frame["colno"] = 99
    assert fp(with_cols) == fp(event(BASE))


def test_a_different_in_app_frame_makes_another_group_but_library_frames_do_not() -> None:
    other_app = BASE[:2] + [("rcrm.calls.service", "summarise_call", 88, True)]
    other_lib = [("flask.app", "dispatch_request", 1, False)] + BASE[1:]
    assert fp(event(other_app)) != fp(event(BASE))
    assert fp(event(other_lib)) == fp(event(BASE))
    assert fp(event(BASE, etype="ValueError")) != fp(event(BASE))
    assert fp(event(BASE, value="something else entirely")) == fp(event(BASE))


def test_without_in_app_frames_all_frames_count() -> None:
    lib = [(m, f, n, False) for m, f, n, _ in BASE]
    grouping = crash_fingerprint(event(lib))
    assert grouping.method == "all_frames"
    changed = lib[:1] + [("rcrm.api.views", "other", 1, False)] + lib[2:]
    assert fp(event(changed)) != grouping.fingerprint


def test_frames_without_module_use_the_lower_cased_file_basename() -> None:
    a = {"exception": {"values": [{"type": "TypeError", "stacktrace": {"frames": [
        {"filename": "webpack:///./src/components/CallPlayer.TSX", "function": "CallPlayer", "lineno": 87,
         "in_app": True}]}}]}}
    b = copy.deepcopy(a)
    b["exception"]["values"][0]["stacktrace"]["frames"][0].update(
        filename="https://app.example/static/js/callplayer.tsx?v=3", lineno=12)
    assert fp(a) == fp(b)
    assert crash_fingerprint(a).explanation["exceptions"][0]["frames"][0]["module"] == "callplayer.tsx"


def test_function_names_are_normalised() -> None:
    assert normalise_function("lambda$doWork$3") == normalise_function("lambda$doWork$12")
    assert normalise_function("Foo$$Lambda$123/0x0000000800c2b440.run") == \
        normalise_function("Foo$$Lambda$77/0x0000000800aa0000.run")
    assert normalise_function("process_call") == "process_call"


def test_messages_differing_only_in_variable_parts_group_together() -> None:
    a = {"message": "Order 12345 for jan@example.sk failed after 3.5 s (id 3f2b7a10-9c1e-4d2a-8e55-1a2b3c4d5e6f, "
                    "'cart-77', 0x7ffe12)"}
    b = {"message": "Order 99 for eva@example.com failed after 12 s (id 00000000-1111-2222-3333-444444444444, "
                    "'cart-1', 0xdeadbeef)"}
    assert fp(a) == fp(b)
    assert fp({"message": "Order 1 cancelled"}) != fp(a)
    assert mask_message("Order 12345 not found") == "Order <num> not found"
    grouping = crash_fingerprint(a)
    assert grouping.method == "message"
    assert grouping.explanation["message"]["masked"].startswith("Order <num> for <email> failed")
    # A log entry's template is preferred to its formatted text.
    c = {"logentry": {"formatted": "Skipped 12 recordings", "message": "Skipped %s recordings"}}
    d = {"logentry": {"formatted": "Skipped 900 recordings", "message": "Skipped %s recordings"}}
    assert fp(c) == fp(d)


def test_an_exception_without_frames_groups_by_type_and_masked_value() -> None:
    a = {"exception": {"values": [{"type": "TimeoutError", "value": "timed out after 30000 ms"}]}}
    b = {"exception": {"values": [{"type": "TimeoutError", "value": "timed out after 45000 ms"}]}}
    assert fp(a) == fp(b)
    assert crash_fingerprint(a).method == "exception_value"


def test_explicit_fingerprints_and_default() -> None:
    plain = event(BASE)
    assert fp({**plain, "fingerprint": ["{{ default }}"]}) == fp(plain)
    assert fp({**plain, "fingerprint": ["{{default}}"]}) == fp(plain)
    custom = fp({**plain, "fingerprint": ["database-unavailable"]})
    other_crash = event([("rcrm.db.pool", "connect", 1, True)], etype="OperationalError")
    assert fp({**other_crash, "fingerprint": ["database-unavailable"]}) == custom
    combined = fp({**plain, "fingerprint": ["network", "{{ default }}"]})
    assert combined not in (fp(plain), custom)
    moved = event([(m, f, n + 1, a) for m, f, n, a in BASE])
    assert fp({**moved, "fingerprint": ["network", "{{ default }}"]}) == combined
    grouping = crash_fingerprint({**plain, "fingerprint": ["database-unavailable"]})
    assert grouping.method == "fingerprint"
    assert all(not f["contributes"] for f in grouping.explanation["exceptions"][0]["frames"])


def test_the_explanation_says_which_frames_counted_and_why() -> None:
    grouping = crash_fingerprint(event(BASE))
    exp = grouping.explanation
    assert exp["method"] == "in_app_frames" and exp["line_numbers_count"] is False
    frames = exp["exceptions"][0]["frames"]
    assert [(f["contributes"], f["why"]) for f in frames] == [(False, "not_in_app"), (True, "in_app"),
                                                             (True, "in_app")]
    assert exp["components"] == ["type:KeyError", "frame:rcrm.api.views:call_detail",
                                 "frame:rcrm.calls.service:process_call"]
    assert exp["hash"] == grouping.fingerprint and len(grouping.fingerprint) == 64
    assert grouping.title == "KeyError: 'customer_id'"
    assert grouping.culprit == "rcrm.calls.service in process_call"
    text = "\n".join(explain_text(exp))
    assert "+ rcrm.calls.service in process_call" in text and "- django.core.handlers.base" in text


def test_in_the_database_the_same_crash_joins_and_a_different_frame_does_not(instance: Instance) -> None:
    when = (dt.datetime(2026, 3, 1, 10)).isoformat() + "Z"
    base = {"timestamp": when, "platform": "python"}
    a = {**event(BASE), **base, "event_id": "1" * 32}
    b = {**event([(m, f, n + 40, x) for m, f, n, x in BASE]), **base, "event_id": "2" * 32}
    c = {**event(BASE[:2] + [("rcrm.calls.service", "close_call", 88, True)]), **base, "event_id": "3" * 32}
    d = {**base, "event_id": "4" * 32, "message": "Order 12345 not found"}
    e = {**base, "event_id": "5" * 32, "message": "Order 67890 not found"}
    report = crashes.import_events(instance.support, [a, b, c, d, e])
    assert report.imported == 5 and report.groups_created == 3
    groups = {ev.event_id[0]: ev.group_id for ev in CrashEvent.select()}
    assert groups["1"] == groups["2"] != groups["3"]
    assert groups["4"] == groups["5"]
    joined = CrashGroup.get_by_id(groups["1"])
    assert joined.event_count == 2 and joined.title == "KeyError: 'customer_id'"
    detail = crashes.get_group(instance.support, groups["1"])
    assert detail.explanation["method"] == "in_app_frames"
