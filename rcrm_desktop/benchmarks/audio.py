"""Waveform speed (``rcrm-desktop bench --only audio``).

Figures (inputs made with ``audio.synth`` in the bench's scratch folder: a
synthetic 44.1 kHz stereo call repeated to one hour, or ten minutes with
``--quick``, written as WAV and encoded to MP3 by ffmpeg):

* **waveform of the WAV** (``audio.peaks.compute_peaks``, memory-mapped, no
  decode), next to the time it takes just to read the file once. Target ≤ 0.25 s
  for the hour.
* **waveform of the MP3**, as the application computes it (parallel segments
  when the machine has more than one core), next to the time ``ffmpeg`` alone
  needs to decode the same file (``-f null``). Target ≤ 1.2 × ffmpeg.
* the same with one ffmpeg process (a single-core machine, or another format):
  the cost of moving the decoded PCM through a pipe into numpy shows here.
* **cached waveform load** (``np.load`` of the summary levels). Target < 20 ms.

Every run is timed with the file in the page cache (one warm-up run first):
the figures measure the program, not the disk.
"""

from __future__ import annotations

import os
import subprocess
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rcrm_desktop.audio import peaks, synth
from rcrm_desktop.audio.probe import find_tool
from rcrm_desktop.benchmarks import BenchContext, Figure, median_seconds

SUITE = "audio"
RATE = 44100
TARGET_WAV_S = 0.25
TARGET_COMPRESSED_RATIO = 1.2
TARGET_CACHED_S = 0.020


@contextmanager
def _cache_in(folder: Path) -> Iterator[None]:
    """Point the waveform cache at the scratch folder (the operator's own cache stays untouched)."""
    old = os.environ.get("RCRM_HOME")
    os.environ["RCRM_HOME"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("RCRM_HOME", None)
        else:
            os.environ["RCRM_HOME"] = old


def make_long_wav(target: Path, seconds: int, seed: int = 17) -> Path:
    """A 44.1 kHz stereo WAV of ``seconds``: one synthetic minute of call, repeated (written as it goes)."""
    minute = synth.synth_call(60.0, RATE, seed=seed)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        data = minute.astype("<i2").tobytes()
        for _ in range(seconds // 60):
            out.writeframes(data)
        rest = seconds % 60
        if rest:
            out.writeframes(minute[:rest * RATE].astype("<i2").tobytes())
    return target


def _read_once(path: Path) -> None:
    with path.open("rb", buffering=0) as fh:
        buffer = bytearray(1 << 22)
        while fh.readinto(buffer):
            pass


def _ffmpeg_decode(ffmpeg: str, path: Path) -> None:
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"],
                   check=True, stdin=subprocess.DEVNULL)


def run(ctx: BenchContext) -> list[Figure]:
    seconds = 600 if ctx.quick else 3600
    label = "10-minute" if ctx.quick else "1-hour"
    repeat = 3 if ctx.quick else max(3, min(ctx.repeat, 5))
    figures: list[Figure] = []
    ctx.log(f"  making a {label} 44.1 kHz stereo WAV …")
    wav = make_long_wav(ctx.workdir / "long.wav", seconds)
    scale = 3600 / seconds  # targets are stated for an hour
    wav_s = median_seconds(lambda: peaks.compute_peaks(wav), repeat)
    read_s = median_seconds(lambda: _read_once(wav), repeat)
    figures.append(Figure(SUITE, f"waveform of a {label} 44.1 kHz stereo WAV", wav_s, "s", read_s,
                          "reading the file once", f"≤ {TARGET_WAV_S / scale:.3g} s",
                          wav_s <= TARGET_WAV_S / scale,
                          f"{wav.stat().st_size / 1e6:.0f} MB, memory-mapped, {peaks._workers()} threads"))

    with _cache_in(ctx.workdir / "home"):
        result = peaks.compute_peaks(wav)
        sha = "b" * 64
        peaks.store_cached(sha, result)
        cached_s = median_seconds(lambda: peaks.load_cached(sha), max(repeat, 9))
        figures.append(Figure(SUITE, f"cached waveform load ({label})", cached_s, "s", None, None,
                              f"< {TARGET_CACHED_S * 1000:.0f} ms", cached_s < TARGET_CACHED_S,
                              f"{peaks.cache_path(sha).stat().st_size / 1e6:.1f} MB of min/max levels"))

    ffmpeg = find_tool("ffmpeg")
    if ffmpeg is None or find_tool("ffprobe") is None:
        figures.append(Figure(SUITE, f"waveform of a {label} MP3", 0.0, "s", note="skipped: ffmpeg is not installed"))
        return figures
    ctx.log(f"  encoding it to MP3 (this takes a while for {label}) …")
    started = time.perf_counter()
    mp3 = synth.encode(wav, ctx.workdir / "long.mp3", "mp3")
    ctx.log(f"  encoded in {time.perf_counter() - started:.0f} s")
    wav.unlink()
    params = dict(expected_ms=seconds * 1000, fmt="mp3", rate=RATE, channels=2)
    decode_s = median_seconds(lambda: _ffmpeg_decode(ffmpeg, mp3), repeat)
    app_s = median_seconds(lambda: peaks.compute_stream_peaks(mp3, **params), repeat)  # type: ignore[arg-type]
    single_s = median_seconds(lambda: peaks.compute_stream_peaks(mp3, workers=1, **params),  # type: ignore[arg-type]
                              repeat)
    workers = peaks._workers()
    figures.append(Figure(SUITE, f"waveform of a {label} MP3", app_s, "s", decode_s, "ffmpeg decoding it alone",
                          f"≤ {TARGET_COMPRESSED_RATIO}× ffmpeg", app_s <= TARGET_COMPRESSED_RATIO * decode_s,
                          f"{workers} parallel segment(s) on {os.cpu_count()} core(s)"))
    figures.append(Figure(SUITE, f"waveform of a {label} MP3, one ffmpeg process", single_s, "s", decode_s,
                          "ffmpeg decoding it alone", f"≤ {TARGET_COMPRESSED_RATIO}× ffmpeg",
                          single_s <= TARGET_COMPRESSED_RATIO * decode_s,
                          "decoded PCM piped into numpy in chunks"))
    return figures
