"""Waveform speed (``rcrm-desktop bench --only audio``).

Figures (inputs made with ``audio.synth`` in the bench's scratch folder: a
synthetic 44.1 kHz stereo call repeated to one hour, or ten minutes with
``--quick``, written as WAV and encoded by ffmpeg to MP3, Ogg Vorbis and M4A
(AAC), the compressed formats call recorders write):

* **waveform of the WAV** (``audio.peaks.compute_peaks``, memory-mapped, no
  decode), next to the time it takes just to read the file once. Target ≤ 0.25 s
  for the hour; measured again with every other core kept busy by a spinning
  process, because a waveform is asked for while the machine is doing other work.
* **waveform of each compressed file**, as the application computes it
  (parallel segments when the machine has more than one core, see
  ``audio.peaks.SEGMENTABLE``; in the M4A each segment's AAC noise
  substitution is its own draw, ``audio.peaks.NOISE_SUBSTITUTED``), next to the time
  ``ffmpeg`` alone needs to decode the same file to 16-bit PCM and throw it
  away (``-f null``, whose default codec is ``pcm_s16le``: the whole decode and
  sample conversion, no output). Target ≤ 1.2 × ffmpeg.
* for the segmented formats, the same with one ffmpeg process (a single-core
  machine): the cost of moving the decoded PCM through a pipe into numpy.
* **cached waveform load** (``np.load`` of the summary levels). Target < 20 ms.

Every run is timed with the file in the page cache (one warm-up run first):
the figures measure the program, not the disk. A figure and its limit are
timed in alternation, so a change in the machine's load during the run moves
both; the load average at the time is in the note, since on a busy machine
(and on a shared CI runner) ffmpeg and the program share the cores with others.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import statistics
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcrm_desktop.audio import peaks, synth
from rcrm_desktop.audio.probe import find_tool
from rcrm_desktop.benchmarks import BenchContext, Figure, median_seconds

SUITE = "audio"
RATE = 44100
TARGET_WAV_S = 0.25
TARGET_COMPRESSED_RATIO = 1.2
TARGET_CACHED_S = 0.020

#: Compressed formats measured, with how the figure names them.
COMPRESSED = {"mp3": "MP3", "ogg": "Ogg Vorbis", "m4a": "M4A (AAC)"}

DECODE_LIMIT = "ffmpeg decoding it alone, -f null"


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


@contextmanager
def _other_cores_busy() -> Iterator[int]:
    """Keep every core but one spinning (plain Python loops) for the duration; yields how many spin."""
    count = max(0, (os.cpu_count() or 1) - 1)
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
                for _ in range(count)]
    try:
        time.sleep(0.2)
        yield count
    finally:
        for process in spinners:
            process.kill()
        for process in spinners:
            process.wait()


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
    """Decode the whole first audio stream to PCM and discard it: the least any waveform of the file costs."""
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "null", "-"],
                   check=True, stdin=subprocess.DEVNULL)


def _segments_hold(path: Path, fmt: str, seconds: int, workers: int) -> bool:
    """Whether the parallel segments of the file pass the boundary check (else the figure is two decodes)."""
    try:
        peaks._stream_peaks(path, None, seconds * 1000, RATE, 2, workers, 1.0,
                            exact=fmt not in peaks.NOISE_SUBSTITUTED)
    except peaks._SegmentsDisagree:
        return False
    return True


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (the ffmpeg processes)."""
    try:
        import resource
    except ImportError:  # Windows: this process only
        return time.process_time()
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class _Timing:
    """Median wall time and median CPU time (process and children) of one measured function."""

    wall: float
    cpu: float


def _alternating_medians(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, _Timing]:
    """Median wall and CPU time of each function, run in turn ``repeat`` times after one warm-up round.

    The CPU time is in the notes because it hardly moves with the machine's
    load, where the wall time on a shared machine can double.
    """
    for fn in fns.values():
        fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            cpu = _cpu_seconds()
            start = time.perf_counter()
            fn()
            walls[name].append(time.perf_counter() - start)
            cpus[name].append(_cpu_seconds() - cpu)
    return {name: _Timing(statistics.median(walls[name]), statistics.median(cpus[name])) for name in fns}


def _load_note() -> str:
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return f"{os.cpu_count()} core(s)"
    return f"load {load:.1f} on {os.cpu_count()} core(s)"


def run(ctx: BenchContext) -> list[Figure]:
    seconds = 600 if ctx.quick else 3600
    label = "10-minute" if ctx.quick else "1-hour"
    repeat = 3 if ctx.quick else max(3, min(ctx.repeat, 5))
    figures: list[Figure] = []
    ctx.log(f"  making a {label} 44.1 kHz stereo WAV …")
    wav = make_long_wav(ctx.workdir / "long.wav", seconds)
    scale = 3600 / seconds  # targets are stated for an hour
    wav_target = TARGET_WAV_S / scale
    wav_fns: dict[str, Callable[[], Any]] = {"peaks": lambda: peaks.compute_peaks(wav),
                                             "read": lambda: _read_once(wav)}
    timed = _alternating_medians(wav_fns, max(repeat, 5))
    size_mb = wav.stat().st_size / 1e6
    figures.append(Figure(SUITE, f"waveform of a {label} 44.1 kHz stereo WAV", timed["peaks"].wall, "s",
                          timed["read"].wall, "reading the file once", f"≤ {wav_target:.3g} s",
                          timed["peaks"].wall <= wav_target,
                          f"{size_mb:.0f} MB, memory-mapped, {peaks._workers()} threads, "
                          f"CPU {timed['peaks'].cpu:.3f} s; {_load_note()}"))
    with _other_cores_busy() as spinning:
        if spinning:
            timed = _alternating_medians(wav_fns, max(repeat, 5))
            figures.append(Figure(SUITE, f"waveform of a {label} WAV, other cores busy", timed["peaks"].wall, "s",
                                  timed["read"].wall, "reading the file once", f"≤ {wav_target:.3g} s",
                                  timed["peaks"].wall <= wav_target,
                                  f"{spinning} spinning process(es) beside it, CPU {timed['peaks'].cpu:.3f} s; "
                                  f"{_load_note()}"))

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
        for name in COMPRESSED.values():
            figures.append(Figure(SUITE, f"waveform of a {label} {name}", 0.0, "s",
                                  note="skipped: ffmpeg is not installed"))
        return figures
    ctx.log(f"  encoding it to {', '.join(COMPRESSED.values())} (this takes a while for {label}) …")
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(len(COMPRESSED), os.cpu_count() or 1))) \
            as pool:
        jobs = {fmt: pool.submit(synth.encode, wav, ctx.workdir / f"long.{fmt}", fmt) for fmt in COMPRESSED}
        encoded = {fmt: job.result() for fmt, job in jobs.items()}
    ctx.log(f"  encoded in {time.perf_counter() - started:.0f} s")
    wav.unlink()

    tool: str = ffmpeg
    workers = peaks._workers()
    for fmt, name in COMPRESSED.items():
        path = encoded[fmt]
        ctx.log(f"  timing the {name} waveform …")

        def app(workers: int | None = None, path: Path = path, fmt: str = fmt) -> peaks.Peaks:
            return peaks.compute_stream_peaks(path, expected_ms=seconds * 1000, fmt=fmt, rate=RATE, channels=2,
                                              workers=workers)

        segmented = fmt in peaks.SEGMENTABLE and workers > 1
        fns: dict[str, Callable[[], Any]] = {"ffmpeg": functools.partial(_ffmpeg_decode, tool, path), "app": app}
        if segmented:
            fns["single"] = lambda: app(workers=1)
        timed = _alternating_medians(fns, repeat)
        decode_s = timed["ffmpeg"].wall
        how = (f"{workers} parallel segments" if segmented
               else "one ffmpeg process" + ("" if fmt in peaks.SEGMENTABLE else " (not segmentable)"))
        if segmented and not _segments_hold(path, fmt, seconds, workers):
            how += " that disagreed at a boundary, then one ffmpeg process"
        cpu = f"CPU {timed['app'].cpu:.2f} s vs {timed['ffmpeg'].cpu:.2f} s"
        figures.append(Figure(SUITE, f"waveform of a {label} {name}", timed["app"].wall, "s", decode_s, DECODE_LIMIT,
                              f"≤ {TARGET_COMPRESSED_RATIO}× ffmpeg",
                              timed["app"].wall <= TARGET_COMPRESSED_RATIO * decode_s,
                              f"{how}, {path.stat().st_size / 1e6:.0f} MB, {cpu}; {_load_note()}"))
        if segmented:
            cpu = f"CPU {timed['single'].cpu:.2f} s vs {timed['ffmpeg'].cpu:.2f} s"
            figures.append(Figure(SUITE, f"waveform of a {label} {name}, one ffmpeg process", timed["single"].wall,
                                  "s", decode_s, DECODE_LIMIT, f"≤ {TARGET_COMPRESSED_RATIO}× ffmpeg",
                                  timed["single"].wall <= TARGET_COMPRESSED_RATIO * decode_s,
                                  f"decoded PCM piped into numpy in chunks, {cpu}"))
    return figures
