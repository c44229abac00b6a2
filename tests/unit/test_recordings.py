"""Call recordings in core: import, lists and filters, who listened, restriction, redaction, integrity.

Database behaviour runs on every engine (``instance``); tests about many audio
formats run on SQLite only (``sqlite_instance``), the database work being the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rcrm_desktop.audio import decode, peaks, synth
from rcrm_desktop.audio.probe import find_tool
from rcrm_desktop.core import audit, recordings
from rcrm_desktop.core.instance import set_setting
from rcrm_desktop.core.recordings import RecordingFilter
from rcrm_desktop.core.store import PENDING_DIR_NAME, open_store
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.db.models import (
    Annotation,
    AuditEvent,
    LegalHold,
    Recording,
    RecordingTag,
    Redaction,
    Subject,
    utcnow,
)
from rcrm_desktop.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tests.conftest import Instance

HAVE_FFMPEG = find_tool("ffmpeg") is not None and find_tool("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe are not installed")

FORMATS = ("mp3", "ogg", "opus", "flac", "m4a")
HEADER = "file,user_id,started_at,direction,agent,tags\n"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short synthetic call per format (different calls, so different hashes)."""
    folder = tmp_path_factory.mktemp("sources")
    files = {"wav": synth.write_wav(folder / "a.wav", synth.synth_call(6.0, 8000, seed=1), 8000),
             "wav2": synth.write_wav(folder / "b.wav", synth.synth_call(4.0, 8000, seed=2), 8000),
             "mono": synth.write_wav(folder / "m.wav", synth.synth_call(3.0, 16000, stereo=False, seed=3), 16000)}
    if HAVE_FFMPEG:
        for i, fmt in enumerate(FORMATS):
            wav = synth.write_wav(folder / f"src{i}.wav", synth.synth_call(5.0, 16000, seed=10 + i), 16000)
            files[fmt] = synth.encode(wav, folder / f"c.{fmt}", fmt)
    return files


def subject(user_id: str, name: str, *, restricted: bool = False) -> Subject:
    return Subject.create(user_id=user_id, name=name, name_key=name.lower(), search_key=make_search_key(name, user_id),
                          restricted=restricted, restricted_reason="Art. 18 request" if restricted else None)


def folder_with(tmp_path: Path, files: dict[str, Path | bytes], manifest: str | None) -> Path:
    folder = tmp_path / "import"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            shutil.copyfile(content, target)
    if manifest is not None:
        (folder / "manifest.csv").write_text(HEADER + manifest, encoding="utf-8")
    return folder


def line(name: str, user_id: str = "U-1", when: str = "2025-03-14T09:30:00Z", direction: str = "inbound",
         agent: str = "Jana", tags: str = "billing;Complaint") -> str:
    return f"{name},{user_id},{when},{direction},{agent},{tags}\n"


def import_one(inst: Instance, tmp_path: Path, source: Path, name: str = "call.wav", **meta: str) -> int:
    folder = folder_with(tmp_path / name, {name: source}, line(name, **meta))
    report = recordings.import_recordings(inst.support, folder)
    assert report.refused == [], report.refused
    return report.imported[0]


def fake_rows(count: int, subject_ids: list[int | None], *, start: dt.datetime | None = None) -> list[int]:
    """Rows without files (for list and paging tests, which need many rows and no audio)."""
    base = start or dt.datetime(2025, 1, 1, 8, 0)
    rows = []
    for i in range(count):
        rows.append({"subject": subject_ids[i % len(subject_ids)], "path": f"fake/{i}.wav", "sha256": f"{i:064x}",
                     "original_sha256": f"{i:064x}", "format": "wav", "duration_ms": 1000 * (i % 17 + 1),
                     "sample_rate": 8000, "channels": 2, "size_bytes": 1000,
                     "started_at": base + dt.timedelta(minutes=(i * 7) % 50), "direction":
                     "inbound" if i % 3 else "outbound", "agent": None if i % 5 == 0 else f"Agent {i % 4}",
                     "imported_at": utcnow(), "redacted": False, "version": 1})
    Recording.insert_many(rows).execute()
    return [r.id for r in Recording.select(Recording.id).where(Recording.path.startswith("fake/"))
            .order_by(Recording.id)]


def events(action: str, target_id: int | None = None) -> list[AuditEvent]:
    query = AuditEvent.select().where(AuditEvent.action == action)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == str(target_id))
    return list(query.order_by(AuditEvent.seq))


# ================================================================ import


@needs_ffmpeg
def test_import_every_format_with_manifest_and_sidecar(sqlite_instance: Instance, sources: dict[str, Path],
                                                       tmp_path: Path) -> None:
    s1 = subject("U-1", "Peter Horváth")
    files: dict[str, Path | bytes] = {"call.wav": sources["wav"], "mono.wav": sources["mono"]}
    manifest = line("call.wav") + line("mono.wav", user_id="", direction="outbound", tags="")
    for fmt in FORMATS:
        files[f"call.{fmt}"] = sources[fmt]
        manifest += line(f"call.{fmt}", agent=f"Agent {fmt}")
    folder = folder_with(tmp_path, files, manifest)
    (folder / "call.flac.json").write_text(json.dumps({"direction": "outbound", "tags": ["PCI", "vip"]}))
    report = recordings.import_recordings(sqlite_instance.support, folder)
    assert report.refused == [] and report.duplicates == []
    assert len(report.imported) == 7
    store = open_store()
    by_format = {r.format: r for r in Recording.select()}
    assert set(by_format) == {"wav", *FORMATS}
    for rec in Recording.select():
        path = store.resolve(rec.path)
        assert path.is_file() and not Path(rec.path).is_absolute()
        assert rec.size_bytes == path.stat().st_size and rec.sha256 == rec.original_sha256
        assert rec.duration_ms > 2500 and rec.channels in (1, 2)
    assert by_format["opus"].sample_rate == 48000 and by_format["mp3"].sample_rate == 16000
    flac = by_format["flac"]
    assert flac.direction == "outbound" and flac.subject_id == s1.id
    assert sorted(t.tag for t in flac.tags) == ["pci", "vip"]
    mono = Recording.get(Recording.channels == 1)
    assert mono.subject_id is None and mono.direction == "outbound" and list(mono.tags) == []
    wav = Recording.get((Recording.format == "wav") & (Recording.channels == 2))
    assert wav.started_at == dt.datetime(2025, 3, 14, 9, 30) and wav.agent == "Jana"
    assert sorted(t.tag for t in wav.tags) == ["billing", "complaint"]
    imported = events("recordings.import")
    assert len(imported) == 7 and {e.target_type for e in imported} == {"recording"}
    assert all("Jana" not in e.details and "billing" not in e.details for e in imported)


def test_importing_twice_does_not_duplicate(instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    folder = folder_with(tmp_path, {"a.wav": sources["wav"], "b.wav": sources["wav2"], "copy-of-a.wav":
                                    sources["wav"]}, line("a.wav") + line("b.wav") + line("copy-of-a.wav"))
    first = recordings.import_recordings(instance.support, folder)
    assert len(first.imported) == 2
    assert [name for name, _ in first.duplicates] == ["copy-of-a.wav"]
    second = recordings.import_recordings(instance.support, folder)
    assert second.imported == [] and len(second.duplicates) == 3 and second.refused == []
    assert Recording.select().count() == 2
    assert second.as_json()["duplicates"] == 3 and second.as_json()["imported"] == 0


def test_bad_inputs_are_listed_with_their_reason_and_the_rest_goes_on(
        instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    good = sources["wav"].read_bytes()
    files: dict[str, Path | bytes] = {
        "good.wav": sources["wav"],
        "empty.wav": b"",
        "notes.wav": b"This is a text file, not audio.\n" * 20,
        "truncated.wav": good[: len(good) // 3],
        "corrupt.mp3": b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(4000),
        "unknown-user.wav": sources["wav2"],
        "bad-direction.wav": sources["mono"],
        "no-metadata.wav": synth.wav_bytes(synth.synth_call(1.0, 8000, seed=99), 8000),
    }
    manifest = (line("good.wav") + line("empty.wav") + line("notes.wav") + line("truncated.wav")
                + line("corrupt.mp3") + line("unknown-user.wav", user_id="U-404")
                + line("bad-direction.wav", direction="sideways") + line("missing.wav") + line("../escape.wav"))
    folder = folder_with(tmp_path, files, manifest)
    report = recordings.import_recordings(instance.support, folder)
    reasons = dict(report.refused)
    assert len(report.imported) == 1 and report.duplicates == []
    assert "empty" in reasons["empty.wav"]
    assert "not" in reasons["notes.wav"] and "audio" in reasons["notes.wav"]
    assert "cut short" in reasons["truncated.wav"]
    assert "corrupt.mp3" in reasons
    assert "U-404" in reasons["unknown-user.wav"] and "no known user" in reasons["unknown-user.wav"]
    assert "inbound or outbound" in reasons["bad-direction.wav"]
    assert "not in the folder" in reasons["missing.wav"]
    assert "no metadata" in reasons["no-metadata.wav"]
    assert "outside the import folder" in reasons["../escape.wav"]
    assert Recording.select().count() == 1
    store = open_store()
    files_in_store = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(files_in_store) == 1


@needs_ffmpeg
def test_unsupported_audio_is_refused(sqlite_instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    import subprocess

    folder = tmp_path / "odd"
    folder.mkdir()
    subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(sources["wav"]), "-c:a", "aac",
                    "-f", "adts", str(folder / "raw.aac")], check=True)
    (folder / "manifest.csv").write_text(HEADER + line("raw.aac", user_id=""), encoding="utf-8")
    report = recordings.import_recordings(sqlite_instance.support, folder)
    (name, reason), = report.refused
    assert name == "raw.aac" and "does not take" in reason and "WAV, MP3" in reason


def test_a_file_over_the_size_limit_is_refused_without_reading_it(sqlite_instance: Instance, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    huge = folder / "huge.wav"
    with huge.open("wb") as fh:  # a 2 GiB sparse file: nothing is written but its length
        fh.truncate(2 * 1024 ** 3)
    (folder / "manifest.csv").write_text(HEADER + line("huge.wav", user_id=""), encoding="utf-8")

    def no_probe(*_args: Any, **_kw: Any) -> None:
        raise AssertionError("a file over the limit must not be read")

    monkeypatch.setattr(recordings, "probe", no_probe)
    report = recordings.import_recordings(sqlite_instance.support, folder)
    (name, reason), = report.refused
    assert name == "huge.wav" and "2.0 GiB" in reason and "recordings_max_file_mb" in reason
    set_setting(sqlite_instance.admin, "recordings_max_file_mb", "4096")
    monkeypatch.undo()
    report = recordings.import_recordings(sqlite_instance.support, folder)
    assert "cut short" in report.refused[0][1] or "no audio" in report.refused[0][1] \
        or "damaged" in report.refused[0][1] or "not" in report.refused[0][1]


def test_import_is_all_or_nothing_per_file(sqlite_instance: Instance, sources: dict[str, Path], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    subject("U-1", "Peter Horváth")
    folder = folder_with(tmp_path, {"a.wav": sources["wav"]}, line("a.wav"))

    def broken(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        recordings.import_recordings(sqlite_instance.support, folder)
    assert Recording.select().count() == 0 and RecordingTag.select().count() == 0
    store = open_store()
    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_import_progress_can_cancel(sqlite_instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    folder = folder_with(tmp_path, {"a.wav": sources["wav"], "b.wav": sources["wav2"]},
                         line("a.wav") + line("b.wav"))
    seen: list[tuple[int, int, str]] = []

    def stop_after_first(done: int, total: int, name: str) -> bool:
        seen.append((done, total, name))
        return done < 1

    report = recordings.import_recordings(sqlite_instance.support, folder, progress=stop_after_first)
    assert report.cancelled and len(report.imported) == 1
    assert seen[0] == (0, 2, "a.wav")


def test_stored_paths_that_escape_the_store_are_refused(sqlite_instance: Instance) -> None:
    Recording.create(path="../../etc/passwd", sha256="0" * 64, original_sha256="0" * 64, format="wav",
                     duration_ms=1000, sample_rate=8000, channels=1, size_bytes=10, started_at=utcnow(),
                     direction="inbound")
    rec = Recording.get()
    with pytest.raises(ValidationError, match="“..”"):
        recordings.record_play(sqlite_instance.support, rec.id)
    rows = recordings.list_recordings(sqlite_instance.support)
    assert rows[0].file_present is False
    report = recordings.verify_recordings(sqlite_instance.compliance)
    assert report.missing == [(rec.id, "../../etc/passwd")]


def test_import_needs_the_permission(instance: Instance, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match="recordings.import"):
        recordings.import_recordings(instance.compliance, tmp_path)
    with pytest.raises(ValidationError, match="not a folder"):
        recordings.import_recordings(instance.support, tmp_path / "nope")


# ================================================================ lists


def test_filters_sorts_and_keyset_pages(instance: Instance) -> None:
    peter = subject("U-100", "Peter Horváth")
    zuzana = subject("U-200", "Zuzana Šťastná")
    ids = fake_rows(60, [peter.id, zuzana.id, None])
    RecordingTag.insert_many([{"recording": rid, "tag": "complaint"} for rid in ids[:10]]).execute()
    Annotation.create(recording=ids[5], operator=instance.support.operator_id, position_ms=100, text="x")
    Annotation.create(recording=ids[5], operator=instance.support.operator_id, position_ms=200, text="y")
    support = instance.support

    def all_pages(flt: RecordingFilter | None = None, sort: str = "started_at", descending: bool = True,
                  size: int = 7) -> list[recordings.RecordingRow]:
        out: list[recordings.RecordingRow] = []
        after = None
        while True:
            page = recordings.list_recordings(support, flt, sort=sort, descending=descending, after=after,
                                              limit=size, check_files=False)
            out.extend(page)
            if len(page) < size:
                return out
            after = recordings.page_key(page[-1], sort)

    everything = all_pages()
    assert len(everything) == 60 and len({r.id for r in everything}) == 60
    keys = [(r.started_at, r.id) for r in everything]
    assert keys == sorted(keys, reverse=True)
    for sort in ("duration_ms", "agent", "id"):
        for descending in (False, True):
            rows = all_pages(sort=sort, descending=descending)
            assert len({r.id for r in rows}) == 60, (sort, descending)
            if sort == "duration_ms":
                values = [(r.duration_ms, r.id) for r in rows]
                assert values == sorted(values, reverse=descending)
            if sort == "agent":  # NULLs together at one end (which end is the engine's own order)
                nulls = [r for r in rows if r.agent is None]
                assert nulls in (rows[:len(nulls)], rows[-len(nulls):])
                named = [(r.agent, r.id) for r in rows if r.agent is not None]
                assert named == sorted(named, reverse=descending)
    assert {r.user_id for r in all_pages(RecordingFilter(subject="stastna"))} == {"U-200"}
    assert {r.user_id for r in all_pages(RecordingFilter(subject="U-100"))} == {"U-100"}
    assert {r.subject_id for r in all_pages(RecordingFilter(subject_id=peter.id))} == {peter.id}
    assert all(r.direction == "outbound" for r in all_pages(RecordingFilter(direction="outbound")))
    short = all_pages(RecordingFilter(min_ms=3000, max_ms=5000))
    assert short and all(3000 <= r.duration_ms <= 5000 for r in short)
    agent = all_pages(RecordingFilter(agent="Agent 1"))
    assert agent and {r.agent for r in agent} == {"Agent 1"}
    tagged = all_pages(RecordingFilter(tag="Complaint"))
    assert {r.id for r in tagged} == set(ids[:10]) and all(r.tags == ("complaint",) for r in tagged)
    noted = all_pages(RecordingFilter(has_annotations=True))
    assert [(r.id, r.annotations) for r in noted] == [(ids[5], 2)]
    assert len(all_pages(RecordingFilter(has_annotations=False))) == 59
    since = dt.datetime(2025, 1, 1, 8, 20)
    window = all_pages(RecordingFilter(since=since, until=since + dt.timedelta(minutes=10)))
    assert window and all(since <= r.started_at < since + dt.timedelta(minutes=10) for r in window)
    count = recordings.count_recordings(support, RecordingFilter(tag="complaint"))
    assert (count.matching, count.capped, count.total) == (10, False, 60)
    capped = recordings.count_recordings(support, RecordingFilter(direction="inbound"), cap=5)
    assert capped.matching == 5 and capped.capped
    assert recordings.list_agents(support) == sorted({f"Agent {i % 4}" for i in range(60) if i % 5})
    assert recordings.list_tags(support) == ["complaint"]
    with pytest.raises(ValidationError):
        recordings.list_recordings(support, sort="name")
    with pytest.raises(ValidationError):
        recordings.list_recordings(support, RecordingFilter(direction="up"))


def test_lists_are_audited_with_ids_and_filter_names_only(instance: Instance) -> None:
    peter = subject("U-100", "Peter Horváth")
    ids = fake_rows(3, [peter.id])
    recordings.list_recordings(instance.support, check_files=False)
    recordings.list_recordings(instance.support, RecordingFilter(subject="Horváth", tag="vip"), check_files=False)
    recordings.list_recordings(instance.support, RecordingFilter(subject="Horváth"), check_files=False)
    listed, = events("recordings.list")
    assert sorted(json.loads(listed.details)["ids"]) == ids
    searched = events("recordings.search")
    assert len(searched) == 1  # the tag filter matched nothing: no rows shown, nothing to record
    details = json.loads(searched[0].details)
    assert details["filters"] == ["subject"] and "Horv" not in searched[0].details


def test_missing_file_is_shown_in_the_row(sqlite_instance: Instance, sources: dict[str, Path],
                                          tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    rid = import_one(sqlite_instance, tmp_path, sources["wav"])
    assert recordings.list_recordings(sqlite_instance.support)[0].file_present
    open_store().resolve(Recording.get_by_id(rid).path).unlink()
    row = recordings.list_recordings(sqlite_instance.support)[0]
    assert row.file_present is False
    detail = recordings.get_recording(sqlite_instance.support, rid)
    assert detail.row.file_present is False
    with pytest.raises(NotFoundError, match="missing from the recordings store"):
        recordings.record_play(sqlite_instance.support, rid)
    with pytest.raises(NotFoundError, match="missing"):
        recordings.waveform(sqlite_instance.support, rid)


# ================================================================ who listened, restriction


def test_who_listened(instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    rid = import_one(instance, tmp_path, sources["wav"])
    support, compliance = instance.support, instance.compliance
    detail = recordings.get_recording(support, rid)
    assert detail.blocked is None and detail.row.tags == ("billing", "complaint")
    grant = recordings.record_play(support, rid)
    assert grant.path.is_file() and grant.channels == 2
    note = recordings.add_annotation(support, rid, 1500, "Customer asks about the invoice", end_ms=2500)
    recordings.add_tag(support, rid, "Follow-up")
    out = tmp_path / "copy.wav"
    result = recordings.export_recording(compliance, rid, out)
    assert out.read_bytes() == grant.path.read_bytes() and result.sha256 == detail.row.sha256
    history = recordings.access_history(compliance, rid)
    actions = [(e.operator, e.action) for e in history]
    assert actions[:5] == [("eva", "recording.export"), ("tomas", "recording.tag"),
                           ("tomas", "recording.annotate"), ("tomas", "recording.play"),
                           ("tomas", "recording.view")]
    assert actions[-1] == ("tomas", "recordings.import")
    annotate = next(e for e in history if e.action == "recording.annotate")
    assert annotate.details == {"annotation": note.id, "end_ms": 2500, "length": 31, "op": "add",
                                "position_ms": 1500}
    flat = json.dumps([e.details for e in history])
    assert "invoice" not in flat and "follow" not in flat
    assert all(e.target_type == "recording" and e.target_id == str(rid)
               for e in AuditEvent.select().where(AuditEvent.action.startswith("recording.")))
    with pytest.raises(PermissionDenied, match="recordings.export"):
        recordings.export_recording(support, rid, tmp_path / "nope.wav")


def test_restriction_blocks_support_but_not_compliance(instance: Instance, sources: dict[str, Path],
                                                       tmp_path: Path) -> None:
    subject("U-9", "Restricted Person", restricted=True)
    rid = import_one(instance, tmp_path, sources["wav"], user_id="U-9")
    support, compliance = instance.support, instance.compliance
    detail = recordings.get_recording(support, rid)
    assert detail.row.restricted and detail.blocked and "Art. 18" in detail.blocked
    for attempt in (lambda: recordings.record_play(support, rid),
                    lambda: recordings.add_annotation(support, rid, 100, "note"),
                    lambda: recordings.add_tag(support, rid, "x"),
                    lambda: recordings.waveform(support, rid),
                    lambda: recordings.playback_copy(support, rid, (True, False))):
        with pytest.raises(PermissionDenied, match="restricted user account"):
            attempt()
    assert events("recording.play") == []
    assert recordings.get_recording(compliance, rid).blocked is None
    assert recordings.record_play(compliance, rid).path.is_file()
    assert recordings.waveform(compliance, rid).channels == 2
    recordings.export_recording(compliance, rid, tmp_path / "copy.wav")
    assert len(events("recording.play", rid)) == 1


def test_annotations_and_tags(instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    rid = import_one(instance, tmp_path, sources["wav"])
    support = instance.support
    note = recordings.add_annotation(support, rid, 0, "  Greeting  ")
    assert note.text == "Greeting" and note.end_ms is None
    for bad in (lambda: recordings.add_annotation(support, rid, 100, " "),
                lambda: recordings.add_annotation(support, rid, 999_999, "late"),
                lambda: recordings.add_annotation(support, rid, 500, "back", end_ms=400),
                lambda: recordings.add_annotation(support, rid, 1, "x" * 2001)):
        with pytest.raises(ValidationError):
            bad()
    with pytest.raises(PermissionDenied):
        recordings.add_annotation(instance.compliance, rid, 100, "compliance cannot annotate")
    assert recordings.add_tag(support, rid, "VIP ") == ["billing", "complaint", "vip"]
    assert recordings.add_tag(support, rid, "vip") == ["billing", "complaint", "vip"]
    assert recordings.remove_tag(support, rid, "billing") == ["complaint", "vip"]
    assert len(events("recording.tag", rid)) == 2
    recordings.delete_annotation(support, note.id)
    assert Annotation.select().count() == 0
    with pytest.raises(NotFoundError):
        recordings.delete_annotation(support, note.id)


# ================================================================ redaction


def test_redaction_rewrites_the_stored_wav(instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    rid = import_one(instance, tmp_path, sources["wav"])
    compliance = instance.compliance
    before = Recording.get_by_id(rid)
    path = open_store().resolve(before.path)
    old, rate = decode.decode_all(path)
    recordings.waveform(compliance, rid)
    assert peaks.load_cached(before.sha256) is not None
    row = recordings.redact_recording(compliance, rid, 2000, 3500, "Card number read out", expected_version=1)
    after = Recording.get_by_id(rid)
    assert after.redacted and after.version == 2 and after.path == before.path
    assert after.original_sha256 == before.sha256 != after.sha256
    assert after.duration_ms == before.duration_ms and after.size_bytes == path.stat().st_size
    new, _ = decode.decode_all(path)
    a, b = 2000 * rate // 1000, 3500 * rate // 1000
    assert not new[a:b].any()
    assert np.array_equal(new[:a], old[:a]) and np.array_equal(new[b:], old[b:])
    assert peaks.load_cached(before.sha256) is None  # the old waveform is gone with the old audio
    stored = Redaction.get_by_id(row.id)
    assert (stored.start_ms, stored.end_ms, stored.mode, stored.sha256_before, stored.sha256_after) == (
        2000, 3500, "silence", before.sha256, after.sha256)
    event, = events("recording.redact", rid)
    assert json.loads(event.details) == {"end_ms": 3500, "mode": "silence", "reason_length": 20,
                                         "redaction": row.id, "start_ms": 2000}
    assert event.operator_id == compliance.operator_id
    store = open_store()
    assert list((store.root / PENDING_DIR_NAME).glob("*")) == [] and store.leftover_temp_files() == []
    assert recordings.verify_recordings(compliance).ok
    detail = recordings.get_recording(compliance, rid)
    assert [(r.start_ms, r.end_ms) for r in detail.redactions] == [(2000, 3500)]
    with pytest.raises(ConflictError):
        recordings.redact_recording(compliance, rid, 100, 500, "again", expected_version=1)
    with pytest.raises(PermissionDenied, match="recordings.redact"):
        recordings.redact_recording(instance.support, rid, 100, 500, "support may not")
    for start, end, reason in ((0, 5, "too short"), (5000, 99_000, "past the end"), (100, 600, " ")):
        with pytest.raises(ValidationError):
            recordings.redact_recording(compliance, rid, start, end, reason)
    # Importing the original, unredacted audio again is a duplicate, not a way back to the card number.
    again = recordings.import_recordings(instance.support, tmp_path / "call.wav" / "import")
    assert again.imported == [] and again.duplicates == [("call.wav", rid)]


@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_redaction_of_compressed_recordings(sqlite_instance: Instance, sources: dict[str, Path], tmp_path: Path,
                                            fmt: str) -> None:
    rid = import_one(sqlite_instance, tmp_path, sources[fmt], name=f"call.{fmt}", user_id="")
    before = Recording.get_by_id(rid)
    recordings.redact_recording(sqlite_instance.compliance, rid, 1000, 3000, "PCI", tone=True)
    after = Recording.get_by_id(rid)
    assert after.format == fmt and after.duration_ms == before.duration_ms and after.sha256 != before.sha256
    assert after.path == before.path
    path = open_store().resolve(after.path)
    from rcrm_desktop.audio.probe import probe

    info = probe(path)
    assert info.sha256 == after.sha256 and abs(info.duration_ms - before.duration_ms) <= 130


def test_redaction_under_legal_hold_is_refused(instance: Instance, sources: dict[str, Path],
                                               tmp_path: Path) -> None:
    peter = subject("U-1", "Peter Horváth")
    rid = import_one(instance, tmp_path, sources["wav"])
    LegalHold.create(subject=peter.id, reason="Litigation", owner=instance.compliance.operator_id)
    sha = Recording.get_by_id(rid).sha256
    with pytest.raises(ValidationError, match="legal hold"):
        recordings.redact_recording(instance.compliance, rid, 100, 900, "PCI")
    assert Recording.get_by_id(rid).sha256 == sha


def test_failed_commit_puts_the_old_audio_back(sqlite_instance: Instance, sources: dict[str, Path],
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rid = import_one(sqlite_instance, tmp_path, sources["wav"], user_id="")
    rec = Recording.get_by_id(rid)
    path = open_store().resolve(rec.path)
    original = path.read_bytes()
    real = audit.record

    def fail_on_redact(actor: Any, action: str, *args: Any, **kwargs: Any) -> Any:
        if action == "recording.redact":
            raise RuntimeError("database went away")
        return real(actor, action, *args, **kwargs)

    monkeypatch.setattr(audit, "record", fail_on_redact)
    with pytest.raises(RuntimeError):
        recordings.redact_recording(sqlite_instance.compliance, rid, 1000, 2000, "PCI")
    assert path.read_bytes() == original
    assert Recording.get_by_id(rid).sha256 == rec.sha256 and Redaction.select().count() == 0
    assert open_store().leftover_temp_files() == []


# ================================================================ integrity


def test_verify_finds_each_problem(instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    subject("U-1", "Peter Horváth")
    folder = folder_with(tmp_path, {"a.wav": sources["wav"], "b.wav": sources["wav2"], "c.wav": sources["mono"]},
                         line("a.wav") + line("b.wav") + line("c.wav", direction="outbound"))
    ids = recordings.import_recordings(instance.support, folder).imported
    compliance = instance.compliance
    store = open_store()
    assert recordings.verify_recordings(compliance).ok
    (store.pending_dir / "old.wav").write_bytes(b"pending")
    (store.root / "2025" / ".x.wav.123.part").write_bytes(b"temp")
    assert recordings.verify_recordings(compliance).ok
    a, b, _c = (Recording.get_by_id(i) for i in ids)
    store.resolve(a.path).unlink()
    with store.resolve(b.path).open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x01\x02")
    (store.root / "stray.wav").write_bytes(b"RIFF")
    report = recordings.verify_recordings(compliance)
    assert not report.ok and report.checked == 3
    assert report.missing == [(a.id, a.path)]
    assert report.mismatched == [(b.id, b.path)]
    assert report.unknown == ["stray.wav"]
    event = events("recordings.verify")[-1]
    assert json.loads(event.details)["missing"] == 1
    with pytest.raises(ValidationError, match="no longer matches"):
        recordings.export_recording(compliance, b.id, tmp_path / "b.wav")


# ================================================================ waveforms and demo data


def test_waveform_is_cached_by_hash(sqlite_instance: Instance, sources: dict[str, Path], tmp_path: Path) -> None:
    rid = import_one(sqlite_instance, tmp_path, sources["wav"], user_id="")
    rec = Recording.get_by_id(rid)
    first = recordings.waveform(sqlite_instance.support, rid)
    assert peaks.cache_path(rec.sha256).is_file()
    second = recordings.waveform(sqlite_instance.support, rid)
    assert np.array_equal(first.mins[256], second.mins[256])
    window, start = recordings.read_samples(sqlite_instance.support, rid, 800, 400)
    assert start == 800 and window.shape == (400, 2)
    copy = recordings.playback_copy(sqlite_instance.support, rid, (True, False))
    assert copy.name.startswith(rec.sha256)
    lanes, _ = decode.decode_all(copy)
    assert lanes[:, 1].any() == False and lanes[:, 0].any()  # noqa: E712
    assert recordings.drop_waveform_cache(rec.sha256) == 2
    assert recordings.drop_waveform_cache("not a hash") == 0


@needs_ffmpeg
def test_demo_recordings_are_read_from_the_store(sqlite_instance: Instance) -> None:
    from rcrm_desktop.core import demo

    demo.populate_demo(subjects=30, recordings=8, seed=3)
    support = sqlite_instance.support
    rows = recordings.list_recordings(support)
    assert len(rows) == 8 and all(r.file_present for r in rows)
    redacted = [r for r in rows if r.redacted]
    assert redacted
    detail = recordings.get_recording(sqlite_instance.compliance, redacted[0].id)
    assert detail.redactions and detail.redactions[0].mode == "silence"
    for row in rows:
        if row.restricted:
            continue
        assert recordings.waveform(support, row.id).frames > 0
    assert recordings.verify_recordings(sqlite_instance.compliance).ok


def test_objected_subjects_calls_leave_support_review_lists(instance: Instance, tmp_path: Path) -> None:
    """GDPR Art. 21: an objection takes the subject out of review queues; compliance still sees the calls."""
    from rcrm_desktop.core import recordings as rec
    from rcrm_desktop.core.store import RecordingsStore
    from rcrm_desktop.db.models import Recording, Subject

    store = RecordingsStore(tmp_path / "store")
    wav = tmp_path / "call.wav"
    from rcrm_desktop.audio.synth import synth_call, write_wav

    write_wav(wav, synth_call(1.0, 8000, stereo=True, seed=1), 8000)
    keep = Subject.create(user_id="U-KEEP", name="Keep Me", name_key="keep me", search_key="keep me u-keep")
    gone = Subject.create(user_id="U-OBJ", name="Object Me", name_key="object me", search_key="object me u-obj",
                          objected=True, objected_reason="Art. 21 objection")
    for i, subject in enumerate((keep, gone, None)):
        stored = store.add_file(wav, f"call-{i}.wav")
        Recording.create(subject=subject, path=stored.relative, sha256=f"{i:064x}",
                         original_sha256=stored.sha256, format="wav", duration_ms=1000, sample_rate=8000,
                         channels=2, size_bytes=stored.size_bytes, started_at=dt.datetime(2026, 1, 1, 10, i),
                         direction="inbound")
    support_ids = {r.subject_id for r in rec.list_recordings(instance.support, check_files=False)}
    assert support_ids == {keep.id, None}
    assert rec.count_recordings(instance.support).matching == 2
    officer_ids = {r.subject_id for r in rec.list_recordings(instance.compliance, check_files=False)}
    assert officer_ids == {keep.id, gone.id, None}


def test_a_redaction_killed_before_its_commit_is_undone_at_start_up(sqlite_instance: Instance,
                                                                     tmp_path: Path) -> None:
    """The set-aside original goes back when the row still names it; a stale copy is simply deleted."""
    from rcrm_desktop.audio.synth import synth_call, write_wav
    from rcrm_desktop.core.pending import recover_pending
    from rcrm_desktop.core.store import RecordingsStore, sha256_of
    from rcrm_desktop.db.models import Recording

    store = RecordingsStore(tmp_path / "store")
    original = tmp_path / "original.wav"
    write_wav(original, synth_call(1.0, 8000, stereo=False, seed=3), 8000)
    stored = store.add_file(original, "calls/one.wav")
    rec = Recording.create(path=stored.relative, sha256=stored.sha256, original_sha256=stored.sha256,
                           format="wav", duration_ms=1000, sample_rate=8000, channels=1,
                           size_bytes=stored.size_bytes, started_at=dt.datetime(2026, 1, 1), direction="inbound")
    store.pending_dir.mkdir(parents=True, exist_ok=True)
    # the process died after replacing the file and before the commit: row = old hash, file = redacted
    backup = store.pending_dir / f"redact-{rec.id}-abc123.part"
    shutil.copy2(stored.path, backup)
    write_wav(stored.path, synth_call(1.0, 8000, stereo=False, seed=4), 8000)
    report = recover_pending(store)
    assert report.files_restored == 1
    assert sha256_of(stored.path) == rec.sha256
    assert not backup.exists()
    # a committed redaction leaves only a stale copy: deleted, the stored file untouched
    shutil.copy2(original, backup)
    Recording.update(sha256=sha256_of(stored.path)).where(Recording.id == rec.id).execute()
    write_wav(tmp_path / "other.wav", synth_call(1.0, 8000, stereo=False, seed=5), 8000)
    shutil.copy2(tmp_path / "other.wav", backup)
    before = sha256_of(stored.path)
    recover_pending(store)
    assert not backup.exists() and sha256_of(stored.path) == before
