"""Redaction: a region of a recording replaced by silence or a 1 kHz tone, so the sound is really gone.

Why (DOMAIN.md, "Call recordings"): card data spoken on a call must not be
kept (PCI DSS: sensitive authentication data is never stored after
authorisation, audio included). Muting a region at playback would keep the
sound in the file; this module writes a *new file* in which the region's
samples are gone, and the caller (``core.recordings.redact_recording``) renames
it over the stored one.

What is guaranteed:

* WAV (PCM 8/16/24/32-bit, float, A-law, µ-law with silence): the file is
  copied byte for byte and only the bytes of the region's frames are
  overwritten, so every other sample — and every header chunk — is unchanged.
* Other formats: the file is decoded by ffmpeg, the region's frames are
  zeroed (or replaced by the tone) *before* they reach the encoder, and the
  result is re-encoded to the same codec and container at about the same bit
  rate. The encoder never sees the removed sound. Codecs smear a few
  milliseconds of the neighbouring sound across the region's edges; inside it
  is silence.
* The new file is checked before it is returned: it must probe as the same
  format, with the same channels, and decode to the same duration (exactly for
  WAV; within one codec frame for the others). Otherwise it is deleted and
  ``AudioError`` says why — the stored recording is never touched here.
* The region is widened to whole frames outwards (floor of the start, ceiling
  of the end), so nothing of the requested region survives rounding.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rcrm_desktop.audio import decode
from rcrm_desktop.audio.probe import AudioError, AudioInfo, find_tool, probe

TONE_HZ = 1000.0
#: Tone level: −12 dBFS, clearly audible as "removed" without being harsh.
TONE_LEVEL = 0.25
#: Raised-cosine fade at both ends of a tone, so it starts and stops without a click.
TONE_RAMP_S = 0.005

#: How far a re-encoded file's duration may differ from the original's (one codec frame at 8 kHz).
COMPRESSED_TOLERANCE_MS = 130

_CHUNK_FRAMES = 1 << 16


@dataclass(frozen=True)
class RedactedFile:
    """The new file (a temporary name beside the source, to be renamed into place) and its facts."""

    path: Path
    info: AudioInfo
    start_frame: int
    end_frame: int


def region_frames(start_ms: int, end_ms: int, rate: int, frames: int) -> tuple[int, int]:
    """The frames ``[a, b)`` that cover ``start_ms … end_ms`` completely (floor of start, ceiling of end)."""
    a = max(0, (int(start_ms) * rate) // 1000)
    b = min(frames, -(-int(end_ms) * rate // 1000))
    return a, max(a, b)


def tone(count: int, rate: int, channels: int, offset: int = 0, total: int | None = None) -> NDArray[np.float64]:
    """Frames ``offset … offset+count`` of a redaction tone ``total`` frames long (−1…1), faded in and out.

    Computed piecewise, so a long region is written chunk by chunk with one
    continuous phase and fades only at the region's two ends.
    """
    length = count if total is None else total
    n = np.arange(offset, offset + count, dtype=np.float64)
    wave = TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * n / rate)
    ramp = max(1, min(length // 2, int(TONE_RAMP_S * rate)))
    fade_in = n < ramp
    wave[fade_in] *= 0.5 - 0.5 * np.cos(np.pi * n[fade_in] / ramp)
    fade_out = n >= length - ramp
    wave[fade_out] *= 0.5 - 0.5 * np.cos(np.pi * (length - 1 - n[fade_out]) / ramp)
    return np.repeat(wave[:, None], channels, axis=1)


def _sample_bytes(signal: NDArray[np.float64], layout: decode.WavLayout) -> bytes:
    """Samples (−1…1) in the WAV's own encoding (PCM 8/16/24/32-bit or float)."""
    dtype = layout.dtype
    if dtype is not None and dtype.kind == "f":
        return signal.astype(dtype).tobytes()
    if dtype is not None and dtype == np.uint8:
        return (np.round(signal * 127) + 128).astype(np.uint8).tobytes()
    if dtype is not None:
        top = float(np.iinfo(dtype.name).max)
        return bytes(np.round(signal * top).astype(dtype).tobytes())
    if layout.format_tag == decode.WAVE_FORMAT_PCM and layout.bits == 24:
        values = np.round(signal * 8388607).astype("<i4").reshape(-1)
        return values.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    raise AudioError("This WAV encoding cannot carry a tone in place.", "unsupported")


def _wav_in_place(source: Path, target: Path, layout: decode.WavLayout, start_ms: int, end_ms: int,
                  with_tone: bool) -> tuple[int, int]:
    """Copy ``source`` to ``target`` and overwrite the region's bytes; returns the frames replaced."""
    a, b = region_frames(start_ms, end_ms, layout.sample_rate, layout.frames)
    shutil.copyfile(source, target)
    align = layout.block_align
    with target.open("r+b") as out:
        for first in range(a, b, _CHUNK_FRAMES):
            count = min(_CHUNK_FRAMES, b - first)
            out.seek(layout.data_offset + first * align)
            if with_tone:
                data = _sample_bytes(tone(count, layout.sample_rate, layout.channels, first - a, b - a), layout)
            else:
                assert layout.silence_byte is not None
                data = bytes([layout.silence_byte]) * (count * align)
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return a, b


# ---------------------------------------------------------------- re-encoding


def _encoder_args(fmt: str, params: decode.StreamParams) -> list[str]:
    """Codec and container arguments that re-create ``fmt`` at about the original bit rate."""
    kbps = max(8, round((params.bit_rate or 0) / 1000)) if params.bit_rate else None
    if fmt == "mp3":
        return ["-c:a", "libmp3lame", "-b:a", f"{kbps or 64}k", "-f", "mp3"]
    if fmt == "ogg":
        return ["-c:a", "libvorbis", *(["-b:a", f"{kbps}k"] if kbps else ["-q:a", "4"]), "-f", "ogg"]
    if fmt == "opus":
        return ["-c:a", "libopus", "-b:a", f"{min(max(kbps or 32, 6), 510)}k", "-f", "ogg"]
    if fmt == "flac":
        return ["-c:a", "flac", "-f", "flac"]
    if fmt == "m4a":
        codec = "alac" if params.codec == "alac" else "aac"
        rate_args = [] if codec == "alac" else ["-b:a", f"{kbps or 64}k"]
        return ["-c:a", codec, *rate_args, "-f", "ipod"]
    if fmt == "wav":
        codec = {"pcm_alaw": "pcm_alaw", "pcm_mulaw": "pcm_mulaw"}.get(params.codec, "pcm_s16le")
        return ["-c:a", codec, "-f", "wav"]
    raise AudioError(f"Cannot re-encode “{fmt}” audio.", "unsupported")


def _transcode(source: Path, target: Path, fmt: str, start_ms: int, end_ms: int, with_tone: bool,
               frames_hint: int | None) -> tuple[int, int]:
    """Decode → replace the region → encode, streaming (the whole call is never in memory)."""
    ffmpeg = find_tool("ffmpeg")
    if ffmpeg is None:
        raise AudioError(f"Cannot redact {source.name}: {fmt.upper()} audio needs ffmpeg, which is not installed.",
                         "tool_missing", source)
    params = decode.stream_params(source)
    rate, channels = params.sample_rate, params.channels
    total = frames_hint if frames_hint is not None else round((params.duration_ms or 0) * rate / 1000)
    a, b = region_frames(start_ms, end_ms, rate, max(total, 1) if total else 1 << 62)
    encode = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "s16le", "-ar", str(rate),
              "-ac", str(channels), "-i", "pipe:0", "-map_metadata", "-1", "-fflags", "+bitexact",
              "-flags:a", "+bitexact", *_encoder_args(fmt, params), str(target)]
    with tempfile.TemporaryFile() as errors:
        encoder = subprocess.Popen(encode, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        position = 0
        try:
            assert encoder.stdin is not None
            for decoded in decode.pcm_chunks(source, channels, chunk_frames=_CHUNK_FRAMES):
                # Only the frames the original lasts: decoder padding must not lengthen the call at each redaction.
                chunk = decoded if not total else decoded[:max(0, total - position)]
                if not len(chunk):
                    break
                lo, hi = max(a, position), min(b, position + len(chunk))
                if lo < hi:
                    if with_tone:
                        chunk[lo - position:hi - position] = np.round(
                            tone(hi - lo, rate, channels, lo - a, b - a) * 32767)
                    else:
                        chunk[lo - position:hi - position] = 0
                encoder.stdin.write(chunk.astype("<i2").tobytes())
                position += len(chunk)
            encoder.stdin.close()
            code = encoder.wait(timeout=600)
        except BaseException:
            encoder.kill()
            encoder.wait()
            raise
        if code != 0:
            errors.seek(0)
            lines = errors.read().decode("utf-8", "replace").strip().splitlines()
            raise AudioError(f"ffmpeg could not re-encode {source.name}: {lines[-1] if lines else 'unknown error'}.",
                             "failed", source)
    return a, min(b, position)


# ---------------------------------------------------------------- entry point


def redact_file(source: Path | str, start_ms: int, end_ms: int, *, with_tone: bool = False,
                original: AudioInfo | None = None) -> RedactedFile:
    """Write a redacted copy of ``source`` beside it (a hidden ``.part`` name) and check it.

    ``original`` is the source's ``probe`` result when the caller has it. The
    caller renames ``RedactedFile.path`` over the source (``os.replace``) or
    deletes it; on any failure here the copy is already deleted.
    """
    file = Path(source)
    before = original or probe(file)
    if not 0 <= start_ms < end_ms:
        raise AudioError("A redaction needs a region whose end is after its start.", "failed", file)
    target = decode.temp_name(file)
    try:
        layout = decode.wav_layout(file) if before.format == "wav" else None
        in_place = layout is not None and layout.silence_byte is not None and (
            not with_tone or layout.dtype is not None or (layout.format_tag == decode.WAVE_FORMAT_PCM
                                                          and layout.bits == 24))
        if in_place:
            assert layout is not None
            a, b = _wav_in_place(file, target, layout, start_ms, end_ms, with_tone)
        else:
            frames = round(before.duration_ms * before.sample_rate / 1000)
            a, b = _transcode(file, target, before.format, start_ms, end_ms, with_tone, frames)
        after = probe(target)
        _check_same(file, before, after, exact=in_place)
        return RedactedFile(target, after, a, b)
    except BaseException:
        with contextlib.suppress(OSError):
            target.unlink()
        raise


def _check_same(file: Path, before: AudioInfo, after: AudioInfo, *, exact: bool) -> None:
    if after.format != before.format or after.channels != before.channels:
        raise AudioError(f"The redacted copy of {file.name} came out as {after.format.upper()} with "
                         f"{after.channels} channel(s) instead of {before.format.upper()} with {before.channels}; "
                         "the recording was not changed.", "failed", file)
    allowed = 0 if exact else COMPRESSED_TOLERANCE_MS
    if abs(after.duration_ms - before.duration_ms) > allowed:
        raise AudioError(f"The redacted copy of {file.name} lasts {after.duration_ms} ms instead of "
                         f"{before.duration_ms} ms; the recording was not changed.", "failed", file)
