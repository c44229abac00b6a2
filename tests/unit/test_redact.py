"""Redaction rewrites the audio: the region is silent (or a tone), the rest is untouched, the length the same."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from rcrm_desktop.audio import decode, redact, synth
from rcrm_desktop.audio.probe import AudioError, find_tool, probe

HAVE_FFMPEG = find_tool("ffmpeg") is not None and find_tool("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe are not installed")

START_MS, END_MS = 4000, 7250


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("redact")
    return synth.write_wav(folder / "call.wav", synth.synth_call(16.0, 16000, seed=21), 16000)


def ffmpeg_decode(path: Path, channels: int) -> np.ndarray:
    raw = subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "s16le", "-acodec", "pcm_s16le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").reshape(-1, channels)


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.part"))


def test_region_frames_cover_the_region_outwards() -> None:
    assert redact.region_frames(1000, 2000, 8000, 100_000) == (8000, 16000)
    assert redact.region_frames(1, 2, 44100, 100_000) == (44, 89)  # 44.1 → 44, 88.2 → 89
    assert redact.region_frames(0, 10_000, 8000, 50_000) == (0, 50_000)


def test_wav_region_is_silent_and_the_rest_identical_sample_for_sample(source: Path, tmp_path: Path) -> None:
    work = tmp_path / "call.wav"
    work.write_bytes(source.read_bytes())
    before = work.read_bytes()
    result = redact.redact_file(work, START_MS, END_MS)
    assert result.path.parent == work.parent and result.path.name.startswith(".")
    layout = decode.wav_layout(work)
    assert layout is not None
    a, b = redact.region_frames(START_MS, END_MS, 16000, layout.frames)
    assert (result.start_frame, result.end_frame) == (a, b)
    old, _ = decode.decode_all(work)
    new, _ = decode.decode_all(result.path)
    assert new.shape == old.shape
    assert not new[a:b].any()
    assert np.array_equal(new[:a], old[:a]) and np.array_equal(new[b:], old[b:])
    after = result.path.read_bytes()
    start_byte = layout.data_offset + a * layout.block_align
    end_byte = layout.data_offset + b * layout.block_align
    assert after[:start_byte] == before[:start_byte] and after[end_byte:] == before[end_byte:]
    assert result.info.duration_ms == probe(work).duration_ms
    assert work.read_bytes() == before  # the source is never touched here


def test_wav_tone_is_a_1khz_tone(source: Path, tmp_path: Path) -> None:
    work = tmp_path / "call.wav"
    work.write_bytes(source.read_bytes())
    result = redact.redact_file(work, START_MS, END_MS, with_tone=True)
    new, rate = decode.decode_all(result.path)
    old, _ = decode.decode_all(work)
    a, b = result.start_frame, result.end_frame
    region = new[a:b, 0].astype(float)
    spectrum = np.abs(np.fft.rfft(region))
    peak_hz = np.argmax(spectrum) * rate / len(region)
    assert abs(peak_hz - 1000) < 5
    assert 0.2 * 32767 < np.abs(region).max() <= 0.26 * 32767
    assert abs(region[0]) < 50 and abs(region[-1]) < 50  # faded in and out: no click
    assert np.array_equal(new[:a], old[:a]) and np.array_equal(new[b:], old[b:])


@pytest.mark.parametrize("width,dtype,silence", [(1, "u1", 128), (4, "<i4", 0)])
def test_other_pcm_widths_in_place(tmp_path: Path, width: int, dtype: str, silence: int) -> None:
    rng = np.random.default_rng(3)
    raw = (rng.integers(1, 255, size=(8000 * 3, 1)) if width == 1
           else rng.integers(-2 ** 30, 2 ** 30, size=(8000 * 3, 1))).astype(dtype)
    path = tmp_path / "w.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(8000)
        out.writeframes(raw.tobytes())
    result = redact.redact_file(path, 1000, 2000)
    layout = decode.wav_layout(result.path)
    assert layout is not None
    data = np.asarray(decode.wav_samples(result.path, layout))
    assert (data[8000:16000] == silence).all()
    assert np.array_equal(data[:8000], raw[:8000]) and np.array_equal(data[16000:], raw[16000:])


@needs_ffmpeg
def test_alaw_wav_uses_the_alaw_silence_byte(source: Path, tmp_path: Path) -> None:
    alaw = tmp_path / "alaw.wav"
    subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(source), "-ar", "8000", "-c:a",
                    "pcm_alaw", str(alaw)], check=True)
    before = alaw.read_bytes()
    result = redact.redact_file(alaw, START_MS, END_MS)
    decoded = ffmpeg_decode(result.path, 2)
    a, b = result.start_frame, result.end_frame
    assert np.abs(decoded[a:b].astype(int)).max() <= 8  # A-law's smallest step
    layout = decode.wav_layout(alaw)
    assert layout is not None
    assert result.path.read_bytes()[:layout.data_offset + a * 2] == before[:layout.data_offset + a * 2]


@needs_ffmpeg
@pytest.mark.parametrize("fmt", ["mp3", "ogg", "opus", "flac", "m4a"])
@pytest.mark.parametrize("with_tone", [False, True], ids=["silence", "tone"])
def test_compressed_region_is_silent_and_duration_unchanged(source: Path, tmp_path: Path, fmt: str,
                                                            with_tone: bool) -> None:
    encoded = synth.encode(source, tmp_path / f"call.{fmt}", fmt)
    before = probe(encoded)
    result = redact.redact_file(encoded, START_MS, END_MS, with_tone=with_tone, original=before)
    after = probe(result.path)
    assert (after.format, after.channels, after.sample_rate) == (before.format, before.channels,
                                                                 before.sample_rate)
    assert abs(after.duration_ms - before.duration_ms) <= redact.COMPRESSED_TOLERANCE_MS
    decoded = ffmpeg_decode(result.path, 2)
    rate = after.sample_rate
    margin = int(0.06 * rate)  # codecs smear a few ms of the neighbouring sound over the edges
    inside = decoded[START_MS * rate // 1000 + margin:END_MS * rate // 1000 - margin].astype(float)
    if with_tone:
        spectrum = np.abs(np.fft.rfft(inside[:, 0]))
        assert abs(np.argmax(spectrum) * rate / len(inside) - 1000) < 10
    else:
        assert np.abs(inside).max() < 100  # −50 dBFS: silence after a lossy codec
    original = ffmpeg_decode(encoded, 2).astype(float)
    outside = decoded[: START_MS * rate // 1000 - margin].astype(float)
    assert np.sqrt(np.mean(outside ** 2)) > 0.5 * np.sqrt(np.mean(original[:len(outside)] ** 2))
    assert result.path.name.endswith(".part") and result.path.exists()
    result.path.unlink()


@needs_ffmpeg
def test_flac_outside_the_region_is_unchanged(source: Path, tmp_path: Path) -> None:
    encoded = synth.encode(source, tmp_path / "call.flac", "flac")
    result = redact.redact_file(encoded, START_MS, END_MS)
    old, new = ffmpeg_decode(encoded, 2), ffmpeg_decode(result.path, 2)
    a, b = result.start_frame, result.end_frame
    assert not new[a:b].any()
    assert np.array_equal(old[:a], new[:a]) and np.array_equal(old[b:], new[b:])


def test_a_copy_that_fails_the_check_is_deleted(source: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "call.wav"
    work.write_bytes(source.read_bytes())
    original = probe(work)
    real_probe = redact.probe

    def shorter(path: Path, **kwargs: object) -> object:
        info = real_probe(path)
        return info.__class__(info.format, info.duration_ms - 1000, info.sample_rate, info.channels,
                              info.size_bytes, info.sha256)

    monkeypatch.setattr(redact, "probe", shorter)
    with pytest.raises(AudioError, match="was not changed"):
        redact.redact_file(work, START_MS, END_MS, original=original)
    assert leftovers(tmp_path) == []
    assert work.read_bytes() == source.read_bytes()


def test_empty_region_is_refused(source: Path) -> None:
    with pytest.raises(AudioError):
        redact.redact_file(source, 5000, 5000)
