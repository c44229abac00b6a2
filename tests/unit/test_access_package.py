"""Access packages (GDPR Art. 15(3), 15(4), 20): contents, hashes, schema, exclusions, failures, cancel."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rcrm_desktop.audio.probe import probe
from rcrm_desktop.core import access_package as ap
from rcrm_desktop.core import letters
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.store import sha256_of
from rcrm_desktop.db.models import RequestEvent, RightsRequest, Subject
from rcrm_desktop.errors import NotFoundError, PermissionDenied, ValidationError
from tests.conftest import Instance
from tests.unit.test_requests import make_subject, start

# ================================================================ a small JSON Schema checker


def check_schema(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    """The subset of JSON Schema 2020-12 that ``subject.schema.json`` uses (no library is installed)."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        return check_schema(value, target, root, where)
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        python = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
                  "null": type(None), "number": (int, float)}
        ok = any(isinstance(value, python[n]) and not (n == "integer" and isinstance(value, bool)) for n in names)
        if not ok:
            return [f"{where}: {type(value).__name__} is not {names}"]
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += check_schema(item, props[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors += check_schema(item, schema["items"], root, f"{where}[{i}]")
    return errors


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty folder for packages (``tmp_path`` also holds the instance's home)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def open_package(path: Path) -> tuple[zipfile.ZipFile, dict[str, Any]]:
    zf = zipfile.ZipFile(path)
    return zf, json.loads(zf.read("subject.json"))


# ================================================================ building


def test_package_holds_everything_with_matching_hashes(instance: Instance, out: Path) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=3, crash_events=2)
    make_subject(actor.operator_id, user_id="U-880002", name="Other Person", email="o@example.sk",
                 phone="+421 900 000 000", recordings=1, crash_events=1)
    detail = start(instance, "access", subject_id=data.subject.id)
    earlier = rq.create_request(actor, "rectification", "Jana Nováková", subject_id=data.subject.id)
    with pytest.raises(ValidationError, match="Build the access package first"):
        rq.complete_request(actor, detail.id)
    steps: list[tuple[int, int, str]] = []
    result = ap.build_access_package(actor, detail.id, out / "jana.zip",
                                     progress=lambda d, t, s: steps.append((d, t, s)) and None)
    target = out / "jana.zip"
    assert result.path == target and result.sha256 == sha256_of(target) and result.size_bytes == target.stat().st_size
    assert (result.recordings, result.audio_files, result.crash_events, result.withheld) == (3, 3, 2, 0)
    assert steps[-1][0] == steps[-1][1] and any("Copying recording 3 of 3" in s for _, _, s in steps)
    assert sorted(p.name for p in out.iterdir()) == ["jana.zip"]  # no temporary file left
    stored = RightsRequest.get_by_id(detail.id)
    assert stored.package_sha256 == result.sha256 and stored.package_size == result.size_bytes
    assert ap.verify_package(target) == []

    zf, doc = open_package(target)
    names = set(zf.namelist())
    assert {"subject.json", "subject.schema.json", "index.html", "manifest.json"} <= names
    manifest = json.loads(zf.read("manifest.json"))
    assert {e["path"] for e in manifest["files"]} == names - {"manifest.json"}
    schema = json.loads(zf.read("subject.schema.json"))
    assert schema == json.loads(ap.schema_path().read_text(encoding="utf-8"))
    assert check_schema(doc, schema, schema) == []
    # Every row of the subject is there, and nothing of the other subject.
    assert doc["account"]["user_id"] == "U-770001" and doc["account"]["email"] == data.subject.email
    assert [r["id"] for r in doc["recordings"]] == sorted(data.recording_ids, key=lambda i: [
        r["started_at"] for r in doc["recordings"] if r["id"] == i][0])
    assert {r["id"] for r in doc["recordings"]} == set(data.recording_ids)
    assert {a["id"] for r in doc["recordings"] for a in r["annotations"]} == set(data.annotation_ids)
    assert sum(len(r["redactions"]) for r in doc["recordings"]) == 1
    assert all(r["tags"] == ["complaint"] for r in doc["recordings"])
    assert {c["id"] for c in doc["crash_events"]} == set(data.crash_ids)
    assert doc["crash_events"][0]["payload"]["user"]["id"] == "U-770001"
    assert [c["id"] for c in doc["change_history"]] == data.change_ids
    assert {r["id"] for r in doc["requests"]} == {detail.id, earlier.id}
    assert doc["recipients"] == [] and doc["withheld"] == [] and doc["request"]["id"] == detail.id
    assert "Other Person" not in zf.read("subject.json").decode("utf-8")
    # The audio is the original, byte for byte, and decodes.
    for rec in doc["recordings"]:
        extracted = out / "x" / rec["file"]
        extracted.parent.mkdir(parents=True, exist_ok=True)
        extracted.write_bytes(zf.read(rec["file"]))
        info = probe(extracted)
        assert info.format == "wav" and info.sha256 == rec["sha256"] and info.duration_ms == rec["duration_ms"]
    html = zf.read("index.html").decode("utf-8")
    assert html.count("<audio controls") == 3 and "http" not in html.replace("https://json-schema", "")
    assert "Jana Nováková" in html and "<script" not in html
    event = RequestEvent.select().where((RequestEvent.request == detail.id) & (RequestEvent.kind == "package")).get()
    assert result.sha256 in (event.detail or "")
    done = rq.complete_request(actor, detail.id)
    assert result.sha256 in letters.letter_html(actor, done.id)


def test_exclusions_are_recorded_and_honoured(instance: Instance, out: Path) -> None:
    actor = instance.compliance
    data = make_subject(actor.operator_id, recordings=3, crash_events=2)
    other = make_subject(actor.operator_id, user_id="U-880002", name="Other Person", email="o@example.sk",
                         phone="+421 900 000 000", recordings=1, crash_events=0)
    detail = start(instance, "access", subject_id=data.subject.id)
    r0, r1, r2 = data.recording_ids
    items = {i.item: i for i in ap.package_items(actor, detail.id)}
    assert {f"recording:{r0}", f"audio:{r1}", f"annotation:{data.annotation_ids[2]}",
            f"crash_event:{data.crash_ids[0]}", f"change:{data.change_ids[0]}"} <= set(items)
    assert not any(i.excluded for i in items.values())
    ap.build_access_package(actor, detail.id, out / "first.zip")
    assert RightsRequest.get_by_id(detail.id).package_sha256
    with pytest.raises(ValidationError, match="reason"):
        ap.exclude_item(actor, detail.id, f"recording:{r0}", "  ")
    with pytest.raises(ValidationError, match="not a package item"):
        ap.exclude_item(actor, detail.id, "everything", "x")
    with pytest.raises(NotFoundError):
        ap.exclude_item(actor, detail.id, f"recording:{other.recording_ids[0]}", "not theirs")
    with pytest.raises(PermissionDenied):
        ap.exclude_item(instance.support, detail.id, f"recording:{r0}", "x")
    reasons = {
        f"recording:{r0}": "A third party's complaint call; their rights prevail (Art. 15(4))",
        f"audio:{r1}": "The other caller's voice cannot be separated",
        f"annotation:{data.annotation_ids[2]}": "Internal note naming a colleague",
        f"crash_event:{data.crash_ids[0]}": "Shared device of another user",
    }
    for item, reason in reasons.items():
        fresh = ap.exclude_item(actor, detail.id, item, reason)
    assert fresh.row.state == "in_progress" and len(fresh.exclusions) == 4
    assert RightsRequest.get_by_id(detail.id).package_sha256 is None  # the first package no longer matches
    assert "build it again" in (fresh.timeline[-4].detail or "")
    with pytest.raises(ValidationError, match="already withheld"):
        ap.exclude_item(actor, detail.id, f"audio:{r1}", "again")
    result = ap.build_access_package(actor, detail.id, out / "second.zip")
    assert result.withheld == 4 and result.audio_files == 1 and result.recordings == 2
    zf, doc = open_package(out / "second.zip")
    recs = {r["id"]: r for r in doc["recordings"]}
    assert r0 not in recs and recs[r1]["file"] is None and recs[r1]["audio_withheld"]
    assert recs[r2]["file"] in zf.namelist() and recs[r2]["annotations"] == []
    assert [c["id"] for c in doc["crash_events"]] == [data.crash_ids[1]]
    assert {w["item"]: w["reason"] for w in doc["withheld"]} == reasons
    assert not [n for n in zf.namelist() if n.startswith("audio/") and (f"{r0:06d}-" in n or f"{r1:06d}-" in n)]
    assert ap.verify_package(out / "second.zip") == []
    assert "The other caller&#x27;s voice" in zf.read("index.html").decode("utf-8")
    done = rq.complete_request(actor, detail.id)
    html = letters.letter_html(actor, done.id)
    assert "Article 15(4)" in html and "Internal note naming a colleague" in html
    with pytest.raises(ValidationError, match="closed request"):
        ap.include_item(actor, detail.id, f"audio:{r1}")


def test_include_item_puts_it_back(sqlite_instance: Instance, out: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    detail = start(sqlite_instance, "portability", subject_id=data.subject.id)
    item = f"audio:{data.recording_ids[0]}"
    ap.exclude_item(actor, detail.id, item, "Other voice")
    assert ap.include_item(actor, detail.id, item).exclusions == []
    with pytest.raises(ValidationError, match="not withheld"):
        ap.include_item(actor, detail.id, item)
    assert ap.build_access_package(actor, detail.id, out / "p.zip").audio_files == 1


def test_unreadable_or_damaged_audio_fails_cleanly_and_can_be_retried(sqlite_instance: Instance,
                                                                       out: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=3, crash_events=0)
    detail = start(sqlite_instance, "access", subject_id=data.subject.id)
    version = RightsRequest.get_by_id(detail.id).version
    moved = data.paths[1].with_suffix(".bak")
    data.paths[1].rename(moved)
    target = out / "out.zip"
    with pytest.raises(ValidationError, match=rf"recording #{data.recording_ids[1]} .*cannot be read"):
        ap.build_access_package(actor, detail.id, target)
    assert list(out.iterdir()) == []
    fresh = rq.get_request(actor, detail.id)
    assert fresh.row.version == version and fresh.package_sha256 is None and fresh.row.state == "in_progress"
    assert fresh.timeline[-1].kind == "step_failed"
    moved.rename(data.paths[1])
    original = data.paths[2].read_bytes()
    data.paths[2].write_bytes(original[:-2] + b"\x01\x02")
    with pytest.raises(ValidationError, match="does not match the SHA-256"):
        ap.build_access_package(actor, detail.id, target)
    assert list(out.iterdir()) == []
    data.paths[2].write_bytes(original)
    assert ap.build_access_package(actor, detail.id, target).audio_files == 3


def test_cancel_leaves_nothing(sqlite_instance: Instance, out: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=4, crash_events=0)
    detail = start(sqlite_instance, "access", subject_id=data.subject.id)
    (out / "out.zip").write_bytes(b"an older package")
    with pytest.raises(ap.PackageCancelled):
        ap.build_access_package(actor, detail.id, out / "out.zip",
                                progress=lambda done, _t, _s: done < 3)
    assert [p.name for p in out.iterdir()] == ["out.zip"]
    assert (out / "out.zip").read_bytes() == b"an older package"
    assert RightsRequest.get_by_id(detail.id).package_sha256 is None


def test_package_rules(sqlite_instance: Instance, out: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    Subject.update(restricted=True, restricted_reason="Accuracy contested").execute()
    detail = start(sqlite_instance, "access", subject_id=data.subject.id)
    with pytest.raises(PermissionDenied):
        ap.build_access_package(sqlite_instance.support, detail.id, out / "p.zip")
    with pytest.raises(ValidationError, match="ZIP"):
        ap.build_access_package(actor, detail.id, out / "p.tar")
    with pytest.raises(ValidationError, match="does not exist"):
        ap.build_access_package(actor, detail.id, out / "missing" / "p.zip")
    unverified = rq.create_request(actor, "access", "Jana", subject_id=data.subject.id)
    with pytest.raises(ValidationError, match="verify the requester's identity"):
        ap.build_access_package(actor, unverified.id, out / "p.zip")
    erasure = start(sqlite_instance, "erasure", subject_id=data.subject.id)
    with pytest.raises(ValidationError, match="access and portability"):
        ap.build_access_package(actor, erasure.id, out / "p.zip")
    # A restricted subject's audio: a compliance officer may export it (Art. 18).
    result = ap.build_access_package(actor, detail.id, out / "p.zip")
    _zf, doc = open_package(result.path)
    assert doc["account"]["restricted"] and doc["account"]["restricted_reason"] == "Accuracy contested"


def test_verify_package_finds_tampering(sqlite_instance: Instance, out: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    detail = start(sqlite_instance, "access", subject_id=data.subject.id)
    good = ap.build_access_package(actor, detail.id, out / "good.zip").path
    bad = out / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            dst.writestr(name, content.replace(b"U-770001", b"U-999999") if name == "subject.json" else content)
        dst.writestr("extra.txt", b"x")
    problems = ap.verify_package(bad)
    assert "subject.json does not match its SHA-256" in problems and "extra.txt is not in the manifest" in problems
    assert ap.verify_package(out / "nothing.zip")[0].startswith("not a readable package")
