"""Waveform summaries: min/max peaks per block at two levels, as Audacity and BBC audiowaveform keep them.

A waveform of a one-hour call cannot be drawn from its samples on every paint
(158 million frames at 44.1 kHz), and it must never be decoded on the UI thread
(DOMAIN.md, "Call recordings"). So each recording gets, per channel, the
minimum and maximum sample of every block of 256 frames and of every block of
65,536 frames (Audacity's two summary levels). A view picks the coarsest level
whose blocks are still narrower than a pixel (``Peaks.level_for``) and reduces
the blocks under each pixel column to one min/max pair (``Peaks.columns``); a
line drawn from that min to that max is exactly the envelope of the samples
under the pixel, so the waveform stays sharp at every zoom. Below 256 frames
per pixel the view reads the samples themselves (``columns_from_samples``).

How fast, and why:

* WAV: the file is memory-mapped and reduced in 4 MB chunks spread over a few
  threads (numpy releases the GIL), with no copy of the samples. numpy pays
  about 40 ns per reduced row, which for 256-frame rows costs more than the
  arithmetic; ``ufunc.reduceat`` over a flat view pays half that, and a
  16-bit stereo frame read as one 32-bit integer orders by its right sample
  first, so four ``reduceat`` passes (two over the frames as they are, two
  over them shifted left by 16 bits) give both channels' min and max without
  de-interleaving (``_reduce_blocks``). A one-hour 44.1 kHz stereo WAV takes
  0.12–0.19 s of CPU (a third of it the kernel mapping the file's pages), so
  it stays under the 0.25 s target (``rcrm-desktop bench --only audio``) with
  the other core busy.
* Compressed formats: ffmpeg decodes to 16-bit PCM on a pipe and the chunks are
  reduced as they arrive, while ffmpeg keeps decoding on another core; long
  MP3, Ogg Vorbis, Opus, FLAC and M4A calls are split into segments decoded by
  parallel ffmpeg processes (``SEGMENTABLE``; in M4A the noise AAC substitutes
  for noise-like bands is drawn afresh in each segment, ``NOISE_SUBSTITUTED``).
  Target: ≤ 1.2 × the time ffmpeg alone needs to decode the file to PCM.
* Cache: the levels are stored with ``numpy.savez`` under
  ``paths.cache_dir()/waveforms/<sha256>.peaks.npz`` (the file name starts with
  the audio file's SHA-256, so erasure can drop the cache of a recording by its
  hashes); loading it takes a few milliseconds (target < 20 ms).

Peaks are ``int16`` whatever the source's sample format (scaled as
``decode.to_int16`` does), so all formats compare and draw alike.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import os
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rcrm_desktop import paths
from rcrm_desktop.audio import decode
from rcrm_desktop.audio.probe import AudioError

#: Frames per block of the fine and the coarse level (Audacity's summary sizes).
FINE = 256
COARSE = 65536
LEVELS = (FINE, COARSE)

#: Bumped when the cache layout changes; older cache files are recomputed.
CACHE_VERSION = 1

#: Blocks of the fine level reduced per work item: 4 MB of stereo 16-bit audio, which stays in the L3 cache
#: between the passes over it while keeping numpy's per-call cost (about 150 items an hour) negligible.
_WORK_BLOCKS = 4096

_LE16 = np.dtype("<i2")
_block_starts_cache: NDArray[np.intp] = np.arange(0, _WORK_BLOCKS * FINE, FINE, dtype=np.intp)
_block_starts_cache.flags.writeable = False
_scratch = threading.local()

#: ``progress(done_frames, total_frames, partial)`` → ``False`` cancels; ``partial`` is a snapshot or ``None``.
Progress = Callable[[int, int, "Peaks | None"], bool | None]

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class PeaksCancelled(Exception):
    """The caller's progress callback asked to stop."""


@dataclass
class Peaks:
    """Min/max summaries of one recording.

    ``mins[level]`` and ``maxs[level]`` are ``int16`` arrays of shape
    ``(blocks, channels)``; block *i* of a level covers frames
    ``[i·level, (i+1)·level)``. ``done_frames`` < ``frames`` while a
    computation is still running (a progressive snapshot).
    """

    sample_rate: int
    channels: int
    frames: int
    done_frames: int
    mins: dict[int, NDArray[np.int16]] = field(default_factory=dict)
    maxs: dict[int, NDArray[np.int16]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.done_frames >= self.frames

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate) if self.sample_rate else 0

    def level_for(self, frames_per_pixel: float) -> int | None:
        """The coarsest level whose block is no wider than a pixel (``None``: read the samples themselves)."""
        best: int | None = None
        for level in sorted(self.mins):
            if level <= frames_per_pixel:
                best = level
        return best

    def columns(self, start_frame: float, frames_per_pixel: float, width: int,
                level: int | None = None) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Per pixel column, the min and max of each channel, scaled to −1…1; shape ``(width, channels)``.

        Columns with no summarised data (past the end, or not computed yet) are NaN.
        """
        chosen = level if level is not None else (self.level_for(frames_per_pixel) or min(self.mins))
        return _reduce_columns(self.mins[chosen], self.maxs[chosen], chosen, 0, self.done_frames, start_frame,
                               frames_per_pixel, width)


def columns_from_samples(samples: NDArray[np.int16], first_frame: int, start_frame: float,
                         frames_per_pixel: float, width: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Like ``Peaks.columns`` but from the samples of a window (deep zoom: fewer than 256 frames per pixel)."""
    data = np.asarray(samples)
    if data.ndim == 1:
        data = data[:, None]
    return _reduce_columns(data, data, 1, first_frame, first_frame + len(data), start_frame, frames_per_pixel,
                           width)


def _reduce_columns(mins: NDArray[np.int16], maxs: NDArray[np.int16], block: int, first_frame: int,
                    end_frame: int, start_frame: float, fpp: float,
                    width: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    channels = mins.shape[1] if mins.ndim == 2 else 1
    out_min = np.full((width, channels), np.nan, dtype=np.float32)
    out_max = np.full((width, channels), np.nan, dtype=np.float32)
    if width <= 0 or fpp <= 0 or len(mins) == 0:
        return out_min, out_max
    edges = start_frame + fpp * np.arange(width + 1, dtype=np.float64)
    lo = np.floor(edges[:-1])
    hi = np.ceil(edges[1:])
    valid = (hi > first_frame) & (lo < end_frame)
    if not valid.any():
        return out_min, out_max
    first_block = first_frame // block
    b_lo = np.clip((np.maximum(lo, first_frame) // block).astype(np.int64) - first_block, 0, len(mins) - 1)
    b_hi = np.clip(((np.minimum(hi, end_frame) + block - 1) // block).astype(np.int64) - first_block, 1, len(mins))
    idx = np.flatnonzero(valid)
    starts = b_lo[idx]
    stops = np.maximum(b_hi[idx], starts + 1)
    # reduceat over [start_i, start_{i+1}) — pairs (start, stop) flattened; the odd results are ignored.
    bounds = np.empty(2 * len(idx), dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = np.minimum(stops, len(mins) - 1)
    tail = stops >= len(mins)
    mn = np.minimum.reduceat(mins, bounds, axis=0)[0::2]
    mx = np.maximum.reduceat(maxs, bounds, axis=0)[0::2]
    if tail.any():
        # reduceat's last segment of a pair ending at the array's end must include the final block.
        last_min = mins[-1]
        last_max = maxs[-1]
        mn[tail] = np.minimum(mn[tail], last_min)
        mx[tail] = np.maximum(mx[tail], last_max)
    out_min[idx] = mn.astype(np.float32) / 32768.0
    out_max[idx] = mx.astype(np.float32) / 32768.0
    return out_min, out_max


# ---------------------------------------------------------------- computing


def _coarse_from_fine(fine_min: NDArray[np.int16], fine_max: NDArray[np.int16]) -> tuple[
        NDArray[np.int16], NDArray[np.int16]]:
    ratio = COARSE // FINE
    blocks = len(fine_min)
    full = blocks // ratio
    channels = fine_min.shape[1]
    out_blocks = -(-blocks // ratio)
    cmin = np.empty((out_blocks, channels), dtype=np.int16)
    cmax = np.empty((out_blocks, channels), dtype=np.int16)
    if full:  # de-interleaved first, so each min/max runs over contiguous memory (10x faster)
        planar_min = np.ascontiguousarray(fine_min[:full * ratio].reshape(full, ratio, channels).transpose(0, 2, 1))
        planar_min.min(axis=2, out=cmin[:full])
        planar_max = np.ascontiguousarray(fine_max[:full * ratio].reshape(full, ratio, channels).transpose(0, 2, 1))
        planar_max.max(axis=2, out=cmax[:full])
    if out_blocks > full:
        cmin[full] = fine_min[full * ratio:].min(axis=0)
        cmax[full] = fine_max[full * ratio:].max(axis=0)
    return cmin, cmax


def _block_starts(blocks: int) -> NDArray[np.intp]:
    """``reduceat`` offsets of ``blocks`` consecutive blocks of ``FINE`` frames (shared, read-only)."""
    global _block_starts_cache
    starts = _block_starts_cache
    if len(starts) < blocks:
        starts = np.arange(0, blocks * FINE, FINE, dtype=np.intp)
        starts.flags.writeable = False
        _block_starts_cache = starts
    return starts[:blocks]


def _scratch_u32(size: int) -> NDArray[np.uint32]:
    """A per-thread buffer reused across chunks (a fresh 4 MB array per chunk costs a thousand page faults)."""
    buffer: NDArray[np.uint32] | None = getattr(_scratch, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = np.empty(size, dtype="<u4")
        _scratch.buffer = buffer
    return buffer[:size]


def _reduce_blocks(chunk: NDArray[np.int16], out_min: NDArray[np.int16], out_max: NDArray[np.int16]) -> None:
    """Min/max of each block of ``FINE`` frames of ``chunk`` (a whole number of blocks) into the outputs.

    Mono and stereo 16-bit chunks (every call recorder's output, and all that
    ffmpeg hands over) take ``reduceat`` paths that need no de-interleaved copy;
    see the module docstring. Read as a little-endian 32-bit integer, a stereo
    frame is ``right·65536 + (left & 0xFFFF)``, so the smallest such integer of
    a block holds the block's smallest right sample in its high half; shifted
    left by 16 bits the same holds for the left sample. The high halves are
    taken as ``int16`` views, exact for every sample value.
    """
    blocks = len(chunk) // FINE
    channels = chunk.shape[1]
    if chunk.dtype == _LE16 and channels in (1, 2) and chunk.flags.c_contiguous:
        starts = _block_starts(blocks if channels == 1 else min(blocks, _WORK_BLOCKS))
        if channels == 1:
            flat = chunk.reshape(-1)
            out_min[:, 0] = np.minimum.reduceat(flat, starts)
            out_max[:, 0] = np.maximum.reduceat(flat, starts)
            return
        for first in range(0, blocks, _WORK_BLOCKS):  # bounds the scratch buffer
            last = min(blocks, first + _WORK_BLOCKS)
            frames = chunk[first * FINE:last * FINE].reshape(-1).view("<i4")
            part = starts[:last - first]
            lo, hi = out_min[first:last], out_max[first:last]
            lo[:, 1] = np.minimum.reduceat(frames, part).view("<i2")[1::2]
            hi[:, 1] = np.maximum.reduceat(frames, part).view("<i2")[1::2]
            shifted = np.left_shift(frames.view("<u4"), 16, out=_scratch_u32(len(frames))).view("<i4")
            lo[:, 0] = np.minimum.reduceat(shifted, part).view("<i2")[1::2]
            hi[:, 0] = np.maximum.reduceat(shifted, part).view("<i2")[1::2]
        return
    planar = np.ascontiguousarray(chunk.reshape(blocks, FINE, channels).transpose(0, 2, 1))
    planar.min(axis=2, out=out_min)
    planar.max(axis=2, out=out_max)


def _partial_block(chunk: NDArray[np.int16]) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    return chunk.min(axis=0), chunk.max(axis=0)


def peaks_from_samples(samples: NDArray[np.int16], sample_rate: int) -> Peaks:
    """Peaks of samples already in memory (``(frames, channels)`` or ``(frames,)`` ``int16``)."""
    data = np.asarray(samples, dtype=np.int16)
    if data.ndim == 1:
        data = data[:, None]
    frames, channels = data.shape
    blocks = -(-frames // FINE)
    fmin = np.empty((blocks, channels), dtype=np.int16)
    fmax = np.empty((blocks, channels), dtype=np.int16)
    full = frames // FINE
    if full:
        _reduce_blocks(data[:full * FINE], fmin[:full], fmax[:full])
    if blocks > full:
        fmin[full], fmax[full] = _partial_block(data[full * FINE:])
    return _finish(sample_rate, channels, frames, fmin, fmax)


def _finish(rate: int, channels: int, frames: int, fmin: NDArray[np.int16], fmax: NDArray[np.int16],
            done_frames: int | None = None) -> Peaks:
    cmin, cmax = _coarse_from_fine(fmin, fmax) if len(fmin) else (fmin.copy(), fmax.copy())
    return Peaks(rate, channels, frames, frames if done_frames is None else done_frames,
                 {FINE: fmin, COARSE: cmin}, {FINE: fmax, COARSE: cmax})


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def compute_wav_peaks(path: Path | str, layout: decode.WavLayout, progress: Progress | None = None,
                      *, workers: int | None = None, snapshot_every_s: float = 0.5) -> Peaks:
    """Peaks of a PCM/float WAV read in place (memory map); see the module docstring for the speed target."""
    data = decode.wav_samples(path, layout)
    frames, channels = data.shape
    blocks = -(-frames // FINE)
    full = frames // FINE
    fmin = np.empty((blocks, channels), dtype=np.int16)
    fmax = np.empty((blocks, channels), dtype=np.int16)
    native16 = data.dtype == np.int16

    def work(first_block: int) -> int:
        last = min(full, first_block + _WORK_BLOCKS)
        chunk = data[first_block * FINE:last * FINE]
        samples = np.asarray(chunk) if native16 else decode.to_int16(np.asarray(chunk))
        _reduce_blocks(samples, fmin[first_block:last], fmax[first_block:last])
        return int(last)

    starts = range(0, full, _WORK_BLOCKS)
    done_blocks = 0
    last_snapshot = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers or _workers()) as pool:
        try:
            for last in pool.map(work, starts):
                done_blocks = last
                if progress is not None:
                    now = time.monotonic()
                    snapshot = None
                    if now - last_snapshot >= snapshot_every_s:
                        last_snapshot = now
                        snapshot = _finish(layout.sample_rate, channels, frames, fmin[:done_blocks].copy(),
                                           fmax[:done_blocks].copy(), done_blocks * FINE)
                    if progress(done_blocks * FINE, frames, snapshot) is False:
                        raise PeaksCancelled()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    if blocks > full:
        tail = np.asarray(data[full * FINE:])
        fmin[full], fmax[full] = _partial_block(tail if native16 else decode.to_int16(tail))
    return _finish(layout.sample_rate, channels, frames, fmin, fmax)


#: Formats decoded in parallel segments, each from an ``-ss`` seek with ``PRE_ROLL_S`` of pre-roll. ffmpeg
#: seeks these to the sample (Ogg Vorbis by its granule positions, M4A by the sample table and edit list of
#: the MP4 container, which also remove the AAC encoder's priming) and their decoders keep no state that
#: the pre-roll does not rebuild, so a segment's frames land where the continuous decode puts them (checked
#: by the tests against one continuous decode, and at run time by ``_check_boundaries``).
SEGMENTABLE = frozenset({"mp3", "ogg", "opus", "flac", "m4a"})

#: Formats whose decode is not one fixed sequence of samples, so segments are compared with a tolerance
#: (``_noise_aligned``) instead of exactly. AAC's perceptual noise substitution (the PNS tool of ISO/IEC 14496-3,
#: MPEG-4 Audio, subpart 4) transmits only the energy of a noise-like scalefactor band; the decoder fills it with
#: random values scaled to that energy. ffmpeg draws them from a generator that runs on through the whole stream, so
#: wherever a band is noise-substituted a decode started from a seek point differs from one started at the beginning.
#: Neither is more right: the file does not hold those samples, the standard asks for noise of the band's energy, and a
#: player seeking there (as ``decode.read_window`` does) plays the seek decode. Outside noise-substituted bands the two
#: decodes are equal to the sample.
NOISE_SUBSTITUTED = frozenset({"m4a"})

#: Calls shorter than this are decoded in one piece (starting more ffmpeg processes would not pay).
SEGMENT_MIN_S = 120

#: Seconds decoded before a segment's first frame and thrown away, so the decoder has settled.
PRE_ROLL_S = 1

#: Seconds at the end of each pre-roll compared with the same frames from the segment before.
CHECK_S = 0.25

#: Largest share of the smallest shifted residual that the residual as aligned may reach in
#: ``_noise_aligned``. A shift within the range searched gives more than 1 in expectation (the residual at
#: the true offset holds the noise alone); the margin below 1 absorbs stretches where little but noise
#: differs. Measured at every second boundary of synthetic calls (``audio.synth``) encoded by ffmpeg's AAC
#: encoder with PNS, aligned: at most 0.27 at 16 kHz / 48 kbit/s and 0.68 at 44.1 kHz / 96 kbit/s (the
#: benchmark's call), 0 at 8 kHz (no band substituted); shifted by 1 to 3,000 frames: at least 1.05.
NOISE_MARGIN = 0.8

#: Largest share of the stretches' mean power that the residual as aligned may reach in ``_noise_aligned``
#: (two unrelated stretches give 2; measured aligned at most 0.34, shifted by 2,048 frames or more at least 0.84).
NOISE_POWER = 0.5


class _SegmentsDisagree(Exception):
    """A segment's pre-roll did not match the end of the segment before it (see ``_check_boundaries``)."""


@dataclass
class _Segment:
    """One stretch of a stream-decoded file: frames ``[first_frame, first_frame + frames)`` (``None``: to the end).

    ``lead`` keeps the last frames of the pre-roll (just before ``first_frame``)
    and ``trail`` the last frames the segment counted, so that neighbours can be
    compared where they overlap.
    """

    first_frame: int
    frames: int | None
    start_s: int
    skip_frames: int
    decode_s: int | None = None
    mins: list[NDArray[np.int16]] = field(default_factory=list)
    maxs: list[NDArray[np.int16]] = field(default_factory=list)
    done: int = 0
    tail: NDArray[np.int16] | None = None
    finished: bool = False
    lead: NDArray[np.int16] | None = None
    trail: NDArray[np.int16] | None = None


def _plan_segments(duration_s: float, rate: int, count: int) -> list[_Segment]:
    """Split a call into ``count`` segments whose boundaries are whole seconds and whole ``FINE`` blocks."""
    unit = FINE // math.gcd(rate, FINE)  # seconds per block-aligned step at this rate
    length = max(unit, math.ceil(duration_s / count / unit) * unit)
    segments = []
    for i in range(count):
        first_s = i * length
        if i and first_s >= duration_s:
            break
        pre = PRE_ROLL_S if i else 0
        segments.append(_Segment(first_s * rate, length * rate, first_s - pre, pre * rate, length + pre + 1))
    if segments:
        segments[-1].frames = None
        segments[-1].decode_s = None
    return segments


def _keep_last(kept: NDArray[np.int16] | None, chunk: NDArray[np.int16], count: int) -> NDArray[np.int16]:
    """The last ``count`` frames of ``kept`` followed by ``chunk``, as an array of its own."""
    if len(chunk) >= count or kept is None:
        return chunk[-count:].copy()
    return np.concatenate([kept, chunk])[-count:]


def _decode_segment(path: Path, channels: int, segment: _Segment, stop: threading.Event,
                    check_frames: int = 0) -> None:
    """Decode one segment and reduce it block by block (runs on a worker thread).

    With ``check_frames``, the last frames of the pre-roll and of the segment
    are kept for ``_check_boundaries``.
    """
    generator = decode.pcm_chunks(path, channels, chunk_frames=FINE * 1024,
                                  start_s=segment.start_s if segment.start_s else None,
                                  duration_s=segment.decode_s, copy=False)
    skip = segment.skip_frames
    limit = segment.frames
    carry = np.zeros((0, channels), dtype=np.int16)
    try:
        for chunk in generator:
            if stop.is_set():
                return
            if skip:
                dropped = min(skip, len(chunk))
                if check_frames:
                    segment.lead = _keep_last(segment.lead, chunk[:dropped], check_frames)
                chunk = chunk[dropped:]
                skip -= dropped
            if limit is not None:
                chunk = chunk[:max(0, limit - segment.done - len(carry))]
            if check_frames and len(chunk):
                segment.trail = _keep_last(segment.trail, chunk, check_frames)
            if len(carry):
                chunk = np.concatenate([carry, chunk])
            full = len(chunk) // FINE
            if full:
                bmin = np.empty((full, channels), dtype=np.int16)
                bmax = np.empty((full, channels), dtype=np.int16)
                _reduce_blocks(chunk[:full * FINE], bmin, bmax)
                segment.mins.append(bmin)
                segment.maxs.append(bmax)
                segment.done += full * FINE
            carry = chunk[full * FINE:].copy()
            if limit is not None and segment.done + len(carry) >= limit:
                break
    finally:
        generator.close()
    segment.tail = carry
    segment.finished = True


def compute_stream_peaks(path: Path | str, progress: Progress | None = None, *,
                         expected_ms: int | None = None, fmt: str | None = None,
                         rate: int | None = None, channels: int | None = None,
                         workers: int | None = None, snapshot_every_s: float = 1.0) -> Peaks:
    """Peaks of any format ffmpeg decodes, reduced chunk by chunk as the decoded PCM arrives on a pipe.

    ``fmt``, ``rate``, ``channels`` and ``expected_ms`` (from the recording's
    row) spare an ffprobe run. A long MP3, Ogg Vorbis, Opus, FLAC or M4A call
    is decoded in parallel segments by several ffmpeg processes, each starting
    one second early (``PRE_ROLL_S``) so its decoder has settled by the
    segment's first frame: the result is the same as one continuous decode
    (see ``SEGMENTABLE``), except that in an M4A the noise AAC substitutes for
    noise-like bands is another, equally valid, draw after each segment's seek
    (``NOISE_SUBSTITUTED``). Where a segment's pre-roll does not match the end
    of the segment before it (for M4A: is not aligned to the frame with it,
    ``_noise_aligned``), the call is decoded again in one piece, so a file that
    does not seek to the sample costs time, never accuracy.
    """
    file = Path(path)
    if rate is None or channels is None or fmt is None or not expected_ms:
        params = decode.stream_params(file)
        rate, channels = rate or params.sample_rate, channels or params.channels
        expected_ms = expected_ms or params.duration_ms
        fmt = fmt or _format_of(params)
    if rate <= 0 or channels <= 0:
        raise AudioError(f"{file.name} is damaged: its audio stream has no sample rate or channel count.",
                         "corrupt", file)
    total_ms = expected_ms or 0
    count = workers or _workers()
    if fmt not in SEGMENTABLE or total_ms < SEGMENT_MIN_S * 1000 or count < 2:
        count = 1
    if count > 1:
        try:
            return _stream_peaks(file, progress, total_ms, rate, channels, count, snapshot_every_s,
                                 exact=fmt not in NOISE_SUBSTITUTED)
        except _SegmentsDisagree:
            pass
    return _stream_peaks(file, progress, total_ms, rate, channels, 1, snapshot_every_s)


def _stream_peaks(file: Path, progress: Progress | None, total_ms: int, rate: int, channels: int, count: int,
                  snapshot_every_s: float, exact: bool = True) -> Peaks:
    expected = max(1, round(total_ms * rate / 1000))
    segments = _plan_segments(total_ms / 1000, rate, count) if count > 1 else [_Segment(0, None, 0, 0)]
    check_frames = max(1, round(CHECK_S * rate)) if len(segments) > 1 else 0
    stop = threading.Event()
    last_snapshot = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(segments)) as pool:
        futures = [pool.submit(_decode_segment, file, channels, segment, stop, check_frames)
                   for segment in segments]
        try:
            pending = set(futures)
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=0.1)
                for future in finished:
                    future.result()
                if progress is None:
                    continue
                done = sum(s.done for s in segments)
                snapshot = None
                now = time.monotonic()
                if now - last_snapshot >= snapshot_every_s:
                    last_snapshot = now
                    snapshot = _prefix_snapshot(segments, rate, channels, max(expected, done))
                if progress(done, max(expected, done), snapshot) is False:
                    raise PeaksCancelled()
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    _check_boundaries(segments, exact)
    return _join_segments(file, segments, rate, channels)


def _check_boundaries(segments: list[_Segment], exact: bool = True) -> None:
    """Raise ``_SegmentsDisagree`` unless each segment's pre-roll ends with the frames the one before ended with.

    Both stretches are the same frames of the call, decoded once from the
    previous segment's start and once from a seek one second earlier; equal
    samples there mean the seek landed on the right sample and the decoder had
    settled. With ``exact`` false (``NOISE_SUBSTITUTED`` formats) the two may
    differ by substituted noise, and ``_noise_aligned`` decides instead.
    Segments that came out short are left to ``_join_segments``.
    """
    for before, after in zip(segments, segments[1:], strict=False):
        if before.frames is None or before.done + (0 if before.tail is None else len(before.tail)) < before.frames:
            continue
        if before.trail is None or after.lead is None or not after.done:
            continue
        overlap = min(len(before.trail), len(after.lead))
        if not overlap:
            raise _SegmentsDisagree()
        trail, lead = before.trail[-overlap:], after.lead[-overlap:]
        if not np.array_equal(trail, lead) and (exact or not _noise_aligned(trail, lead)):
            raise _SegmentsDisagree()


def _noise_aligned(trail: NDArray[np.int16], lead: NDArray[np.int16]) -> bool:
    """Whether two decodes of the same frames are aligned to the frame although substituted noise differs.

    ``trail`` is the end of one segment, ``lead`` the end of the next one's
    pre-roll: the same frames of the call. Where an AAC decoder fills a band
    with noise (PNS, see ``NOISE_SUBSTITUTED``) each decode has noise of its
    own, so the samples differ by two independent noises of the band's energy;
    the rest of the spectrum is decoded from the same numbers and cancels out
    when, and only when, the frames line up. So the mean squared residual
    ``r(k)`` between ``trail`` and ``lead`` shifted by ``k`` frames holds only
    the noise at ``k = 0``, and at any other shift also the difference of the
    signal from itself shifted. Aligned means: ``r(0)`` is at most
    ``NOISE_MARGIN`` times the smallest ``r(k)`` over every shift up to half
    the stretch (0.125 s; a seek that missed by that much or less has its
    smallest residual at the shift it missed by, and the range takes in a
    voice's pitch period, where voiced speech nearly matches itself again,
    an AAC frame of 1,024 frames from 16 kHz up and the usual encoder priming
    of 2,112 frames from 22.05 kHz up), and at most ``NOISE_POWER`` times the
    stretches' mean power (a seek further off compares unrelated audio). A threshold
    on ``r(0)`` alone would not do: at 44.1 kHz speech changes so little from
    one frame to the next that a shift of one frame leaves a smaller residual
    than the substituted noise of a 16 kHz call.
    """
    a = trail.astype(np.float64)
    b = lead.astype(np.float64)
    lags = len(a) // 2
    if lags < 1:
        return False
    aligned = float(np.mean(np.square(a - b)))
    power = (float(np.mean(np.square(a))) + float(np.mean(np.square(b)))) / 2
    shifted = _shifted_residuals(a, b, lags)
    shifted[lags] = np.inf  # k = 0, computed exactly above
    return aligned <= NOISE_MARGIN * float(shifted.min()) and aligned <= NOISE_POWER * power


def _shifted_residuals(a: NDArray[np.float64], b: NDArray[np.float64], lags: int) -> NDArray[np.float64]:
    """``r(k)`` for ``k = -lags … lags``: the mean of ``(a[t] − b[t + k])²`` over the frames both cover.

    Expanded as the two stretches' energies over the covered frames (from
    running sums) less twice their cross-correlation (one FFT), so every shift
    of a quarter-second stretch costs a few milliseconds in all.
    """
    frames, channels = a.shape
    size = 1 << (2 * frames - 1).bit_length()
    spectrum = np.conj(np.fft.rfft(a, size, axis=0)) * np.fft.rfft(b, size, axis=0)
    cross = np.fft.irfft(spectrum, size, axis=0).sum(axis=1)  # cross[k mod size] = Σ_t a[t]·b[t + k]
    energy_a = np.concatenate([[0.0], np.cumsum(np.square(a).sum(axis=1))])
    energy_b = np.concatenate([[0.0], np.cumsum(np.square(b).sum(axis=1))])
    k = np.arange(-lags, lags + 1)
    late, early = np.maximum(k, 0), np.maximum(-k, 0)  # a[t] for t in [early, frames - late), b[t + k]
    covered_a = energy_a[frames - late] - energy_a[early]
    covered_b = energy_b[frames - early] - energy_b[late]
    residual: NDArray[np.float64] = (covered_a + covered_b - 2 * cross[k % size]) / ((frames - np.abs(k)) * channels)
    return np.maximum(residual, 0.0)  # an exact match comes out a rounding error either side of 0


def _format_of(params: decode.StreamParams) -> str:
    """The recording format name (``audio.probe``'s) of a stream, as far as segmenting cares."""
    names = set(params.container.split(","))
    if params.codec in ("mp3", "opus"):
        return params.codec
    if params.codec == "flac" and "flac" in names:
        return "flac"
    if params.codec == "vorbis" and "ogg" in names:
        return "ogg"
    if params.codec in ("aac", "alac") and "mp4" in names:
        return "m4a"
    return params.codec or "unknown"


def _prefix_snapshot(segments: list[_Segment], rate: int, channels: int, frames: int) -> Peaks | None:
    """The peaks of the frames decoded from the start without a gap (what a progressive drawing can show)."""
    mins: list[NDArray[np.int16]] = []
    maxs: list[NDArray[np.int16]] = []
    for segment in segments:
        count = len(segment.mins)  # another thread appends: read a fixed prefix of both lists
        mins.extend(segment.mins[:count])
        maxs.extend(segment.maxs[:count])
        if not segment.finished:
            break
    if not mins:
        return None
    fmin, fmax = np.concatenate(mins), np.concatenate(maxs)
    return _finish(rate, channels, frames, fmin, fmax, len(fmin) * FINE)


def _join_segments(file: Path, segments: list[_Segment], rate: int, channels: int) -> Peaks:
    mins: list[NDArray[np.int16]] = []
    maxs: list[NDArray[np.int16]] = []
    frames = 0
    for i, segment in enumerate(segments):
        later = any(s.done or (s.tail is not None and len(s.tail)) for s in segments[i + 1:])
        if segment.frames is not None and segment.done < segment.frames and later:
            raise AudioError(f"{file.name} could not be decoded in parts (a part came out short); "
                             "try again.", "failed", file)
        mins.extend(segment.mins)
        maxs.extend(segment.maxs)
        frames += segment.done
        tail = segment.tail if segment.tail is not None else np.zeros((0, channels), dtype=np.int16)
        if len(tail):
            if later:
                raise AudioError(f"{file.name} could not be decoded in parts; try again.", "failed", file)
            bmin, bmax = _partial_block(tail)
            mins.append(bmin[None, :])
            maxs.append(bmax[None, :])
            frames += len(tail)
    if frames == 0:
        raise AudioError(f"{file.name} contains no audio.", "empty", file)
    return _finish(rate, channels, frames, np.concatenate(mins), np.concatenate(maxs))


def compute_peaks(path: Path | str, progress: Progress | None = None, *, expected_ms: int | None = None,
                  fmt: str | None = None, rate: int | None = None, channels: int | None = None) -> Peaks:
    """Peaks of an audio file: WAV in place, anything else through ffmpeg (see the module docstring).

    ``expected_ms``, ``fmt``, ``rate`` and ``channels`` are what the recording's
    row says; given, they spare an ffprobe run for compressed files.
    """
    layout = decode.wav_layout(path)
    if layout is not None and layout.dtype is not None:
        return compute_wav_peaks(path, layout, progress)
    return compute_stream_peaks(path, progress, expected_ms=expected_ms, fmt=fmt, rate=rate, channels=channels)


# ---------------------------------------------------------------- cache


def cache_dir() -> Path:
    """``paths.cache_dir()/waveforms``: every file in it is named after an audio file's SHA-256."""
    return paths.cache_dir() / "waveforms"


def _check_sha(sha256: str) -> str:
    text = (sha256 or "").strip().lower()
    if not _SHA_RE.match(text):
        raise ValueError("a waveform cache is keyed by a SHA-256 (64 hex digits)")
    return text


def cache_path(sha256: str) -> Path:
    return cache_dir() / f"{_check_sha(sha256)}.peaks.npz"


def store_cached(sha256: str, peaks: Peaks) -> Path:
    """Write complete peaks to the cache atomically (a temporary file renamed over the final name)."""
    if not peaks.complete:
        raise ValueError("only complete peaks are cached")
    target = cache_path(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.parent / f"{target.stem}.{secrets.token_hex(4)}.tmp.npz"
    meta = np.array([CACHE_VERSION, peaks.sample_rate, peaks.channels, peaks.frames], dtype=np.int64)
    arrays: dict[str, NDArray[np.generic]] = {"meta": meta}
    for level in peaks.mins:
        arrays[f"min{level}"] = peaks.mins[level]
        arrays[f"max{level}"] = peaks.maxs[level]
    try:
        with temp.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return target


def load_cached(sha256: str) -> Peaks | None:
    """The cached peaks of the audio with this SHA-256, or ``None`` (absent, older layout, or damaged: dropped)."""
    target = cache_path(sha256)
    try:
        with np.load(target, allow_pickle=False) as data:
            meta = data["meta"]
            if len(meta) != 4 or int(meta[0]) != CACHE_VERSION:
                raise ValueError("old cache layout")
            rate, channels, frames = int(meta[1]), int(meta[2]), int(meta[3])
            mins = {level: data[f"min{level}"] for level in LEVELS}
            maxs = {level: data[f"max{level}"] for level in LEVELS}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        with contextlib.suppress(OSError):
            target.unlink()
        return None
    return Peaks(rate, channels, frames, frames, mins, maxs)


def drop_cached(sha256: str) -> int:
    """Delete every cache file of the audio with this SHA-256 (peaks and derived playback copies).

    Returns how many files were removed. Used when a redaction changes the
    audio and when a subject's data is erased.
    """
    key = _check_sha(sha256)
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    removed = 0
    for entry in folder.iterdir():
        if entry.name.startswith(key) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed += 1
    return removed
