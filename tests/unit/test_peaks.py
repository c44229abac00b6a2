"""Waveform peaks: checked against min/max computed independently with plain numpy on the decoded samples."""

from __future__ import annotations

import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rcrm_desktop.audio import decode, peaks, synth
from rcrm_desktop.audio.peaks import COARSE, FINE, Peaks
from rcrm_desktop.audio.probe import AudioError, find_tool

HAVE_FFMPEG = find_tool("ffmpeg") is not None and find_tool("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe are not installed")


def reference(samples: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per block with a plain loop over numpy slices (independent of the module's tricks)."""
    data = samples if samples.ndim == 2 else samples[:, None]
    starts = range(0, len(data), block)
    return (np.array([data[s:s + block].min(axis=0) for s in starts]),
            np.array([data[s:s + block].max(axis=0) for s in starts]))


def assert_levels(result: Peaks, samples: np.ndarray) -> None:
    for level in (FINE, COARSE):
        lo, hi = reference(samples, level)
        assert np.array_equal(result.mins[level], lo), level
        assert np.array_equal(result.maxs[level], hi), level


def ffmpeg_decode(path: Path, channels: int) -> np.ndarray:
    """The decoded samples straight from ffmpeg (not through ``audio.decode``)."""
    raw = subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "s16le", "-acodec", "pcm_s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").reshape(-1, channels)


@pytest.fixture(scope="module")
def call(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("peaks")
    samples = synth.synth_call(41.3, 16000, seed=11)  # not a whole number of blocks: the tail block counts too
    return synth.write_wav(folder / "call.wav", samples, 16000), samples


def test_peaks_from_samples_match_numpy() -> None:
    rng = np.random.default_rng(1)
    samples = rng.integers(-32768, 32767, size=(FINE * 300 + 77, 2), dtype=np.int16)
    result = peaks.peaks_from_samples(samples, 8000)
    assert (result.frames, result.channels, result.complete) == (len(samples), 2, True)
    assert_levels(result, samples)


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_every_sample_value_reduces_exactly(channels: int) -> None:
    """Extremes and near-zero values in every combination across channels (the stereo path compares frames
    as 32-bit integers, so a left sample of -32768 beside any right sample must still come out right)."""
    rng = np.random.default_rng(channels)
    values = np.array([-32768, -32767, -256, -1, 0, 1, 255, 256, 32766, 32767], dtype=np.int16)
    samples = values[rng.integers(0, len(values), size=(FINE * 41 + 9, channels))]
    samples[:FINE, 0] = -32768
    samples[FINE:2 * FINE, -1] = 32767
    assert_levels(peaks.peaks_from_samples(samples, 8000), samples)
    strided = np.repeat(samples, 2, axis=0)[::2]  # a non-contiguous view takes the general path
    assert not strided.flags.c_contiguous
    assert_levels(peaks.peaks_from_samples(strided, 8000), samples)


def test_samples_longer_than_one_work_item() -> None:
    rng = np.random.default_rng(5)
    samples = rng.integers(-32768, 32767, size=(FINE * (peaks._WORK_BLOCKS + 5) + 3, 2), dtype=np.int16)
    assert_levels(peaks.peaks_from_samples(samples, 44100), samples)


def test_wav_peaks_read_in_place_match_numpy(call: tuple[Path, np.ndarray]) -> None:
    path, samples = call
    result = peaks.compute_peaks(path)
    assert (result.sample_rate, result.channels, result.frames) == (16000, 2, len(samples))
    assert_levels(result, samples)
    assert result.duration_ms == round(len(samples) * 1000 / 16000)


@pytest.mark.parametrize("width,dtype", [(1, "u1"), (4, "<i4")])
def test_other_pcm_widths(tmp_path: Path, width: int, dtype: str) -> None:
    rng = np.random.default_rng(width)
    raw = rng.integers(0, 255, size=(FINE * 5 + 3, 2)).astype(dtype) if width == 1 else \
        rng.integers(-2 ** 31, 2 ** 31 - 1, size=(FINE * 5 + 3, 2)).astype(dtype)
    path = tmp_path / "w.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(width)
        out.setframerate(8000)
        out.writeframes(raw.tobytes())
    expected = ((raw.astype(np.int16) - 128) << 8).astype(np.int16) if width == 1 else (raw >> 16).astype(np.int16)
    assert_levels(peaks.compute_peaks(path), expected)


def test_mono_and_many_workers(tmp_path: Path) -> None:
    samples = synth.synth_call(12.0, 8000, stereo=False, seed=4)
    path = synth.write_wav(tmp_path / "mono.wav", samples, 8000)
    layout = decode.wav_layout(path)
    assert layout is not None
    result = peaks.compute_wav_peaks(path, layout, workers=3)
    assert result.channels == 1
    assert_levels(result, samples[:, None])


@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["mp3", "ogg", "opus", "flac", "m4a"])
def test_compressed_peaks_match_the_decoded_samples(call: tuple[Path, np.ndarray], tmp_path: Path,
                                                    fmt: str) -> None:
    encoded = synth.encode(call[0], tmp_path / f"call.{fmt}", fmt)
    decoded = ffmpeg_decode(encoded, 2)
    result = peaks.compute_peaks(encoded)
    assert result.frames == len(decoded)
    assert_levels(result, decoded)


@needs_ffmpeg
@pytest.mark.parametrize("fmt", sorted(peaks.SEGMENTABLE - peaks.NOISE_SUBSTITUTED))
def test_parallel_segments_equal_one_continuous_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       fmt: str) -> None:
    """Long MP3/Vorbis/Opus/FLAC calls are decoded in segments with a pre-roll: the peaks must be the same."""
    samples = synth.synth_call(30.0, 16000, seed=9)
    long = np.concatenate([samples] * 5)  # 150 s
    source = synth.write_wav(tmp_path / "long.wav", long, 16000)
    encoded = synth.encode(source, tmp_path / f"long.{fmt}", fmt)
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    single = peaks.compute_stream_peaks(encoded, workers=1)
    segments = peaks._plan_segments(single.duration_ms / 1000, single.sample_rate, 3)
    assert len(segments) == 3 and all(s.first_frame % FINE == 0 for s in segments)
    parallel = peaks.compute_stream_peaks(encoded, workers=3)
    assert parallel.frames == single.frames
    for level in (FINE, COARSE):
        assert np.array_equal(parallel.mins[level], single.mins[level])
        assert np.array_equal(parallel.maxs[level], single.maxs[level])
    assert_levels(single, ffmpeg_decode(encoded, 2))


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 s of 16 kHz stereo call as WAV (long enough to be split into segments with SEGMENT_MIN_S = 20)."""
    samples = synth.synth_call(30.0, 16000, seed=9)
    return synth.write_wav(tmp_path_factory.mktemp("long") / "long.wav", np.concatenate([samples] * 5), 16000)


@needs_ffmpeg
def test_segments_that_disagree_are_decoded_again_in_one_piece(long_call: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A seek that lands one frame off is caught where the segments overlap: the result is still exact."""
    encoded = synth.encode(long_call, tmp_path / "long.ogg", "ogg")
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    real = decode.pcm_chunks
    calls: list[float | None] = []

    def one_frame_late(*args: Any, **kwargs: Any) -> Iterator[np.ndarray]:
        calls.append(kwargs.get("start_s"))
        skip = 1 if kwargs.get("start_s") else 0
        for chunk in real(*args, **kwargs):
            yield chunk[skip:]
            skip = 0

    monkeypatch.setattr(decode, "pcm_chunks", one_frame_late)
    result = peaks.compute_stream_peaks(encoded, workers=3)
    assert len([c for c in calls if c]) == 2 and calls.count(None) == 2  # three segments, then one piece
    assert_levels(result, ffmpeg_decode(encoded, 2))


def encode_aac(source: Path, target: Path, pns: bool) -> Path:
    """``synth.encode``'s M4A (ffmpeg's AAC encoder, 48 kbit/s at 16 kHz), with noise substitution on or off."""
    subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source),
                    "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", "-c:a", "aac",
                    "-b:a", "48k", "-aac_pns", "1" if pns else "0", "-f", "ipod", str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def long_aac(long_call: Path) -> dict[bool, Path]:
    """The long call as M4A with PNS (as ``synth.encode`` and ffmpeg write it by default) and without."""
    return {pns: encode_aac(long_call, long_call.with_name(f"long-pns{int(pns)}.m4a"), pns) for pns in (True, False)}


def seek_decode(path: Path, channels: int) -> np.ndarray:
    """What a player seeking to each segment of a 3-way split hears: ffmpeg from ``-ss`` one second early."""
    params = decode.stream_params(path)
    continuous = ffmpeg_decode(path, channels)
    parts = []
    for segment in peaks._plan_segments(params.duration_ms / 1000, params.sample_rate, 3):
        if not segment.start_s:  # the first segment is decoded from the start, without a seek
            parts.append(continuous[:segment.frames])
            continue
        raw = subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-ss", str(segment.start_s), "-i",
                              str(path), "-map", "0:a:0", "-f", "s16le", "-acodec", "pcm_s16le", "-"],
                             capture_output=True, check=True).stdout
        samples = np.frombuffer(raw, dtype="<i2").reshape(-1, channels)[segment.skip_frames:]
        parts.append(samples if segment.frames is None else samples[:segment.frames])
    return np.concatenate(parts)


def record_starts(monkeypatch: pytest.MonkeyPatch, shift: int = 0) -> list[float | None]:
    """Record the ``start_s`` of every ffmpeg decode; with ``shift``, make every seek land that many frames off
    (positive: late, its first frames dropped; negative: early, its first frames repeated)."""
    starts: list[float | None] = []
    real = decode.pcm_chunks

    def record(*args: Any, **kwargs: Any) -> Iterator[np.ndarray]:
        starts.append(kwargs.get("start_s"))
        first = bool(kwargs.get("start_s")) and shift != 0
        for chunk in real(*args, **kwargs):
            if first:
                chunk = chunk[shift:] if shift > 0 else np.concatenate([chunk[:-shift], chunk])
                first = False
            yield chunk

    monkeypatch.setattr(decode, "pcm_chunks", record)
    return starts


@needs_ffmpeg
def test_long_aac_is_decoded_in_segments(long_aac: dict[bool, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A long M4A is split like the other formats, and with PNS off the peaks are those of one continuous decode."""
    encoded = long_aac[False]
    assert peaks._format_of(decode.stream_params(encoded)) == "m4a"
    assert "m4a" in peaks.SEGMENTABLE
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    starts = record_starts(monkeypatch)
    result = peaks.compute_stream_peaks(encoded, workers=3)
    assert starts == [None, 49, 99]  # three segments (50 s at 16 kHz), none decoded again
    assert_levels(result, ffmpeg_decode(encoded, 2))


@needs_ffmpeg
def test_aac_segments_differ_from_one_decode_only_by_substituted_noise(long_aac: dict[bool, Path],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With PNS the peaks are exactly those of the decodes from each seek point; they differ from a continuous
    decode's only in blocks where the two decodes differ, by no more than the decodes do, and those differ
    by noise of well under 1 % of the call's power (0.25 % measured)."""
    encoded = long_aac[True]
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    starts = record_starts(monkeypatch)
    result = peaks.compute_stream_peaks(encoded, workers=3)
    assert starts == [None, 49, 99]
    continuous = ffmpeg_decode(encoded, 2)
    seeking = seek_decode(encoded, 2)
    assert result.frames == len(continuous) == len(seeking)
    assert_levels(result, seeking)  # the first 50 s of ``seeking`` are the continuous decode

    difference = np.abs(continuous.astype(np.int32) - seeking)
    differs = difference.any(axis=1)
    assert 0.2 < differs.mean() < 0.9  # the file does use PNS: the test compares something
    power = np.mean(np.square(continuous.astype(np.float64)))
    assert np.mean(np.square(difference.astype(np.float64))) < 0.01 * power

    blocks = len(continuous) // FINE
    bound = difference[:blocks * FINE].reshape(blocks, FINE, 2).max(axis=1)
    lo, hi = reference(continuous, FINE)
    off_lo = np.abs(result.mins[FINE][:blocks].astype(np.int32) - lo[:blocks])
    off_hi = np.abs(result.maxs[FINE][:blocks].astype(np.int32) - hi[:blocks])
    assert (off_lo <= bound).all() and (off_hi <= bound).all()  # exact wherever the decodes agree
    assert (bound == 0).any() and (off_lo + off_hi > 0).any()


@needs_ffmpeg
def test_aac_alignment_check_tolerates_noise_not_shifts(long_aac: dict[bool, Path]) -> None:
    """On real PNS-coded speech-like audio: the two decodes of the frames before a boundary are not equal, yet
    aligned; the same frames one or more frames off, or a whole AAC frame off, are not."""
    encoded = long_aac[True]
    rate, check = 16000, round(peaks.CHECK_S * 16000)
    continuous = ffmpeg_decode(encoded, 2)
    seeking = seek_decode(encoded, 2)
    tested = 0
    for boundary in range(55 * rate, 146 * rate, 5 * rate):  # every 5 s of the seek decodes: 19 stretches
        trail = continuous[boundary - check:boundary]
        lead = seeking[boundary - check:boundary]
        if np.array_equal(trail, lead):  # no band substituted in or just before the stretch
            continue
        tested += 1
        assert peaks._noise_aligned(trail, lead), boundary
        for shift in (1, -1, 3, 37, 1024, -2112):
            shifted = seeking[boundary - check + shift:boundary + shift]
            assert not peaks._noise_aligned(trail, shifted), (boundary, shift)
    assert tested >= 15


@needs_ffmpeg
@pytest.mark.parametrize("shift", [1, -3, 1024])
def test_misaligned_aac_segments_are_decoded_again_in_one_piece(long_aac: dict[bool, Path], shift: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A seek that lands a frame, a few or a whole AAC frame off is caught despite the PNS tolerance."""
    encoded = long_aac[True]
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    starts = record_starts(monkeypatch, shift)
    result = peaks.compute_stream_peaks(encoded, workers=3)
    assert starts == [None, 49, 99, None]  # three segments, then one piece
    assert_levels(result, ffmpeg_decode(encoded, 2))


@needs_ffmpeg
def test_stream_progress_snapshots_and_cancel(long_call: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = synth.encode(long_call, tmp_path / "long.mp3", "mp3")
    monkeypatch.setattr(peaks, "SEGMENT_MIN_S", 20)
    seen: list[tuple[int, int, Peaks | None]] = []

    def progress(done: int, total: int, partial: Peaks | None) -> bool:
        seen.append((done, total, partial))
        return True

    result = peaks.compute_stream_peaks(encoded, progress, workers=2, snapshot_every_s=0.0)
    assert seen and all(done <= total for done, total, _ in seen)
    snapshots = [p for _, _, p in seen if p is not None]
    for snapshot in snapshots:
        blocks = snapshot.done_frames // FINE
        assert np.array_equal(snapshot.mins[FINE], result.mins[FINE][:blocks])
    with pytest.raises(peaks.PeaksCancelled):
        peaks.compute_stream_peaks(encoded, lambda *_: False, workers=2)


@needs_ffmpeg
def test_pcm_chunks_without_copies_are_read_only_views(call: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    encoded = synth.encode(call[0], tmp_path / "call.flac", "flac")
    copied = np.concatenate(list(decode.pcm_chunks(encoded, 2, chunk_frames=4096)))
    views = []
    for chunk in decode.pcm_chunks(encoded, 2, chunk_frames=4096, copy=False):
        assert not chunk.flags.writeable
        views.append(chunk.copy())
    assert np.array_equal(np.concatenate(views), copied)
    assert np.array_equal(copied, call[1])


def test_columns_are_the_envelope_under_each_pixel(call: tuple[Path, np.ndarray]) -> None:
    path, samples = call
    result = peaks.compute_peaks(path)
    width = 300
    for start, fpp in ((0.0, len(samples) / width), (12345.0, 700.0), (5000.0, 90000.0)):
        level = result.level_for(fpp)
        assert level is not None and level <= fpp
        lo, hi = result.columns(start, fpp, width)
        for x in (0, 1, width // 2, width - 1):
            a = int(np.floor(start + x * fpp))
            b = int(np.ceil(start + (x + 1) * fpp))
            if a >= len(samples):
                assert np.isnan(lo[x]).all()
                continue
            # The level's blocks cover the pixel's frames outwards to whole blocks.
            a0, b0 = a // level * level, min(len(samples), -(-b // level) * level)
            expected_lo = samples[a0:b0].min(axis=0) / 32768.0
            expected_hi = samples[a0:b0].max(axis=0) / 32768.0
            assert np.allclose(lo[x], expected_lo) and np.allclose(hi[x], expected_hi), (start, fpp, x)
    assert result.level_for(100) is None  # deep zoom: read the samples
    assert result.level_for(300) == FINE and result.level_for(70000) == COARSE


def test_columns_from_samples_at_deep_zoom(call: tuple[Path, np.ndarray]) -> None:
    _, samples = call
    window = samples[1000:3000]
    lo, hi = peaks.columns_from_samples(window, 1000, 1000.0, 4.0, 400)
    assert np.allclose(lo[10], samples[1040:1044].min(axis=0) / 32768.0)
    assert np.allclose(hi[10], samples[1040:1044].max(axis=0) / 32768.0)


def test_progress_snapshots_and_cancel(call: tuple[Path, np.ndarray]) -> None:
    path, samples = call
    layout = decode.wav_layout(path)
    assert layout is not None
    seen: list[tuple[int, int, Peaks | None]] = []

    def progress(done: int, total: int, partial: Peaks | None) -> bool:
        seen.append((done, total, partial))
        return True

    peaks.compute_wav_peaks(path, layout, progress, snapshot_every_s=0.0)
    assert seen and seen[-1][0] == len(samples) // FINE * FINE
    snapshot = next(p for _, _, p in seen if p is not None)
    assert not snapshot.complete or snapshot.done_frames == snapshot.frames
    lo, _hi = snapshot.columns(0, len(samples) / 50, 50)
    assert not np.isnan(lo[0]).any()
    with pytest.raises(peaks.PeaksCancelled):
        peaks.compute_wav_peaks(path, layout, lambda *_: False)


def test_cache_round_trip_is_fast_and_keyed_by_hash(call: tuple[Path, np.ndarray]) -> None:
    path, samples = call
    result = peaks.compute_peaks(path)
    sha = "ab" * 32
    target = peaks.store_cached(sha, result)
    assert target.parent == peaks.cache_dir() and target.name.startswith(sha)
    started = time.perf_counter()
    loaded = peaks.load_cached(sha)
    elapsed = time.perf_counter() - started
    assert loaded is not None and elapsed < 0.2
    assert loaded.frames == result.frames and loaded.sample_rate == 16000
    for level in (FINE, COARSE):
        assert np.array_equal(loaded.mins[level], result.mins[level])
    (peaks.cache_dir() / f"{sha}.lanes-10.wav").write_bytes(b"x")
    (peaks.cache_dir() / f"{'cd' * 32}.peaks.npz").write_bytes(b"other")
    assert peaks.drop_cached(sha) == 2
    assert peaks.load_cached(sha) is None
    assert (peaks.cache_dir() / f"{'cd' * 32}.peaks.npz").exists()


def test_damaged_cache_is_dropped_and_bad_keys_refused() -> None:
    sha = "0f" * 32
    peaks.cache_dir().mkdir(parents=True, exist_ok=True)
    peaks.cache_path(sha).write_bytes(b"not a zip")
    assert peaks.load_cached(sha) is None
    assert not peaks.cache_path(sha).exists()
    for bad in ("", "../../etc", "g" * 64, "ab" * 31):
        with pytest.raises(ValueError):
            peaks.cache_path(bad)


def test_not_audio_is_an_audio_error(tmp_path: Path) -> None:
    bogus = tmp_path / "x.wav"
    bogus.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioError):
        peaks.compute_peaks(bogus)
