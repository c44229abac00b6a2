"""Probing audio files (and the synthetic call audio the demo and these tests are made of)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rcrm_desktop.audio import synth
from rcrm_desktop.audio.probe import AudioError, AudioInfo, AudioToolMissing, find_tool, probe
from rcrm_desktop.errors import ValidationError

HAVE_FFMPEG = find_tool("ffmpeg") is not None and find_tool("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe are not installed")

SECONDS = 6.5


@pytest.fixture(scope="module")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One synthetic call as WAV at 8 kHz and 16 kHz, and (with ffmpeg) in every encodable format."""
    folder = tmp_path_factory.mktemp("calls")
    files = {
        "wav8": synth.write_wav(folder / "call8.wav", synth.synth_call(SECONDS, 8000, seed=1), 8000),
        "wav16": synth.write_wav(folder / "call16.wav", synth.synth_call(SECONDS, 16000, seed=2), 16000),
        "mono": synth.write_wav(folder / "mono.wav", synth.synth_call(SECONDS, 8000, stereo=False, seed=3), 8000),
    }
    if HAVE_FFMPEG:
        for fmt, ext in (("mp3", "mp3"), ("ogg", "ogg"), ("opus", "opus"), ("flac", "flac"), ("m4a", "m4a")):
            files[fmt] = synth.encode(files["wav16"], folder / f"call.{ext}", fmt)
            files[fmt + "8"] = synth.encode(files["wav8"], folder / f"call8.{ext}", fmt)
    return files


def _no_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCRM_FFMPEG", "")
    monkeypatch.setenv("RCRM_FFPROBE", "")


# ---------------------------------------------------------------- good files


@pytest.mark.parametrize("key,rate,channels", [("wav8", 8000, 2), ("wav16", 16000, 2), ("mono", 8000, 1)])
def test_wav_needs_no_ffmpeg(calls: dict[str, Path], monkeypatch: pytest.MonkeyPatch, key: str, rate: int,
                             channels: int) -> None:
    _no_tools(monkeypatch)
    info = probe(calls[key])
    assert info == AudioInfo("wav", round(SECONDS * 1000), rate, channels, calls[key].stat().st_size,
                             hashlib.sha256(calls[key].read_bytes()).hexdigest())


@needs_ffmpeg
@pytest.mark.parametrize(
    "key,fmt,rate",
    [("mp3", "mp3", 16000), ("ogg", "ogg", 16000), ("opus", "opus", 48000), ("flac", "flac", 16000),
     ("m4a", "m4a", 16000), ("mp38", "mp3", 8000), ("ogg8", "ogg", 8000), ("flac8", "flac", 8000),
     ("m4a8", "m4a", 8000), ("opus8", "opus", 48000)],
)
def test_compressed_formats(calls: dict[str, Path], key: str, fmt: str, rate: int) -> None:
    info = probe(calls[key])
    assert info.format == fmt
    assert abs(info.duration_ms - SECONDS * 1000) <= 100, info
    assert info.sample_rate == rate  # Opus always decodes at 48 kHz
    assert info.channels == 2
    assert info.size_bytes == calls[key].stat().st_size
    assert info.sha256 == hashlib.sha256(calls[key].read_bytes()).hexdigest()


@needs_ffmpeg
def test_header_only_probe_is_close(calls: dict[str, Path]) -> None:
    for key in ("mp3", "ogg", "flac", "m4a"):
        assert abs(probe(calls[key], verify=False).duration_ms - SECONDS * 1000) <= 200


@needs_ffmpeg
def test_alaw_wav_goes_through_ffprobe(calls: dict[str, Path], tmp_path: Path) -> None:
    alaw = tmp_path / "alaw.wav"
    subprocess.run([find_tool("ffmpeg") or "ffmpeg", "-v", "error", "-i", str(calls["wav8"]), "-c:a", "pcm_alaw",
                    str(alaw)], check=True)
    info = probe(alaw)
    assert (info.format, info.sample_rate, info.channels) == ("wav", 8000, 2)
    assert abs(info.duration_ms - SECONDS * 1000) <= 100


def test_file_is_recognised_by_content_not_name(calls: dict[str, Path], tmp_path: Path) -> None:
    renamed = tmp_path / "call.mp3"
    renamed.write_bytes(calls["wav8"].read_bytes())
    assert probe(renamed).format == "wav"


# ---------------------------------------------------------------- bad files


def _reason(path: Path) -> AudioError:
    with pytest.raises(AudioError) as caught:
        probe(path)
    assert isinstance(caught.value, ValidationError)
    assert path.name in str(caught.value)
    return caught.value


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    error = _reason(empty)
    assert error.reason == "empty"
    assert "empty" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist") as caught:
        probe(tmp_path / "nope.wav")
    assert caught.value.reason == "missing"


@pytest.mark.parametrize("tools", [True, False], ids=["ffprobe", "no-ffprobe"])
def test_text_file_named_wav_is_not_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: bool) -> None:
    if tools and not HAVE_FFMPEG:
        pytest.skip("ffmpeg/ffprobe are not installed")
    if not tools:
        _no_tools(monkeypatch)
    text = tmp_path / "call.wav"
    text.write_text("Dear customer, this is not a recording.\n" * 20, encoding="utf-8")
    error = _reason(text)
    assert error.reason == "not_audio"
    assert "not" in str(error) and "audio" in str(error)


def test_truncated_wav(calls: dict[str, Path], tmp_path: Path) -> None:
    data = calls["wav8"].read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 3])
    error = _reason(cut)
    assert error.reason == "truncated"
    assert "6.5 s" in str(error)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:20])
    assert _reason(header_only).reason == "truncated"


def test_wav_without_samples(tmp_path: Path) -> None:
    silent = synth.write_wav(tmp_path / "nothing.wav", np.zeros((0, 2), dtype=np.int16), 8000)
    assert _reason(silent).reason == "empty"


@needs_ffmpeg
@pytest.mark.parametrize("key", ["mp3", "mp38", "flac", "m4a", "ogg", "opus"])
def test_truncated_compressed(calls: dict[str, Path], tmp_path: Path, key: str) -> None:
    data = calls[key].read_bytes()
    cut = tmp_path / f"cut-{calls[key].name}"
    cut.write_bytes(data[: len(data) // 2 + 7])
    error = _reason(cut)
    assert error.reason == "truncated", error
    assert "cut short" in str(error)


@needs_ffmpeg
def test_garbage_after_a_real_header_is_refused(calls: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(calls["flac"].read_bytes())
    data[len(data) // 4:] = bytes(len(data) - len(data) // 4)  # zeros from a quarter on
    bad = tmp_path / "zeros.flac"
    bad.write_bytes(bytes(data))
    assert _reason(bad).reason in {"truncated", "corrupt"}


@needs_ffmpeg
def test_unsupported_formats(calls: dict[str, Path], tmp_path: Path) -> None:
    ffmpeg = find_tool("ffmpeg") or "ffmpeg"
    mp2 = tmp_path / "call.mp2"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(calls["wav16"]), "-c:a", "mp2", str(mp2)], check=True)
    assert _reason(mp2).reason == "unsupported"
    mka = tmp_path / "call.mka"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(calls["wav16"]), "-c:a", "pcm_s16le", str(mka)], check=True)
    error = _reason(mka)
    assert error.reason == "unsupported"
    assert "WAV, MP3" in str(error)
    png = tmp_path / "picture.png"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1",
                    str(png)], check=True)
    assert _reason(png).reason == "not_audio"


def test_compressed_without_ffprobe(calls: dict[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake_mp3 = tmp_path / "call.mp3"
    fake_mp3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(400))
    _no_tools(monkeypatch)
    with pytest.raises(AudioToolMissing, match="ffprobe") as caught:
        probe(fake_mp3)
    assert caught.value.reason == "tool_missing"


# ---------------------------------------------------------------- synthesis and encoding


def test_synth_is_deterministic_and_shaped() -> None:
    first = synth.synth_call(4, 8000, seed=11)
    assert first.dtype == np.int16 and first.shape == (32000, 2)
    assert np.array_equal(first, synth.synth_call(4, 8000, seed=11))
    assert not np.array_equal(first, synth.synth_call(4, 8000, seed=12))
    mono = synth.synth_call(4, 16000, stereo=False, seed=11)
    assert mono.shape == (64000,)
    assert 0 < int(np.abs(first).max()) < 32767


def test_synth_sounds_like_a_conversation() -> None:
    call = synth.synth_call_detailed(30, 8000, seed=5)
    samples = call.samples.astype(np.float64) / 32768
    frame = 160  # 20 ms
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame, 2)
    rms = np.sqrt((frames ** 2).mean(axis=1))  # per frame, per lane
    speaking = rms > 0.02
    # Each lane speaks part of the time and is quiet in between (pauses, the other speaker's turn).
    for lane in (0, 1):
        assert 0.1 < speaking[:, lane].mean() < 0.75
    # Mostly one speaker at a time.
    both = (speaking[:, 0] & speaking[:, 1]).mean()
    assert both < 0.1
    speakers = [t.speaker for t in call.turns]
    assert speakers[0] == synth.AGENT and synth.CUSTOMER in speakers
    assert all(a != b for a, b in zip(speakers, speakers[1:], strict=False))
    assert all(0 <= t.start_ms < t.end_ms <= call.duration_ms for t in call.turns)
    # Syllable rhythm: the loudness envelope of the agent lane is modulated at 2–8 Hz.
    envelope = rms[:, 0] - rms[:, 0].mean()
    spectrum = np.abs(np.fft.rfft(envelope))
    freqs = np.fft.rfftfreq(len(envelope), 0.02)
    band = (freqs > 2) & (freqs < 8)
    assert spectrum[band].max() > spectrum[(freqs > 15)].max()


def test_synth_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synth.synth_call(5, 11025)
    with pytest.raises(ValueError):
        synth.synth_call(0.1)


def test_encode_without_ffmpeg(calls: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _no_tools(monkeypatch)
    with pytest.raises(AudioToolMissing, match="ffmpeg is not installed"):
        synth.encode(calls["wav8"], out / "x.mp3", "mp3")
    assert list(out.iterdir()) == []


@needs_ffmpeg
def test_encode_failures_are_explained_and_leave_nothing(calls: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(AudioError, match="Cannot encode to “wma”"):
        synth.encode(calls["wav8"], out / "x.wma", "wma")
    text = out / "text.wav"
    text.write_text("not a wav", encoding="utf-8")
    with pytest.raises(AudioError, match="not a readable PCM WAV"):
        synth.encode(text, out / "x.mp3", "mp3")
    with pytest.raises(AudioError, match="ffmpeg could not encode"):
        synth.encode(calls["wav8"], out / "missing-folder" / "x.mp3", "mp3")
    assert sorted(p.name for p in out.iterdir()) == ["text.wav"]
