"""Reading the samples of a recording: WAV straight from the file, everything else through ffmpeg.

Why two paths: a call recorder's WAV is plain PCM, so its samples can be read
in place (``numpy.memmap``) without decoding or copying the whole file — that is
what keeps a one-hour waveform under a quarter of a second. Compressed formats
(MP3, Ogg Vorbis, Opus, FLAC, M4A) and WAV encodings numpy cannot view directly
(24-bit, A-law, µ-law, RF64) are decoded by ffmpeg to 16-bit PCM on a pipe and
read in chunks, so memory stays bounded however long the call is.

Guarantees:

* every sample this module returns is ``int16`` with shape ``(frames, channels)``
  (or a ``WavLayout``'s native dtype when asked for the raw view);
* nothing here writes to the recordings store; ``write_wav_atomic`` writes a
  new file beside its target and renames it, so a reader never sees half a file;
* every failure is an ``AudioError`` (a ``ValidationError``) naming the file and
  the reason, as in ``audio.probe``; ffmpeg missing is ``AudioToolMissing``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import subprocess
import tempfile
import wave
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rcrm_desktop.audio.probe import AudioError, AudioToolMissing, find_tool

#: WAVE format tags (RFC 2361) this module understands.
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_ALAW = 0x0006
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

#: Frames per chunk when streaming (about 1–2 MB of 16-bit audio).
CHUNK_FRAMES = 1 << 18

#: Pipe buffer asked for on Linux, so the decoder is not stalled while a chunk is processed.
PIPE_BYTES = 1 << 20


@dataclass(frozen=True)
class WavLayout:
    """Where a RIFF/WAVE file keeps its samples and how they are encoded.

    ``data_bytes`` is what the file really holds (a ``data`` chunk that
    announces more than the file has is cut to the bytes present).
    """

    data_offset: int
    data_bytes: int
    channels: int
    sample_rate: int
    bits: int
    format_tag: int

    @property
    def block_align(self) -> int:
        return self.channels * ((self.bits + 7) // 8)

    @property
    def frames(self) -> int:
        return self.data_bytes // self.block_align if self.block_align else 0

    @property
    def dtype(self) -> np.dtype[np.generic] | None:
        """The numpy dtype of one sample, or ``None`` when numpy cannot view it directly (24-bit, A-law…)."""
        table: dict[int, np.dtype[np.generic]] = {}
        if self.format_tag == WAVE_FORMAT_PCM:
            table = {8: np.dtype("u1"), 16: np.dtype("<i2"), 32: np.dtype("<i4")}
        elif self.format_tag == WAVE_FORMAT_IEEE_FLOAT:
            table = {32: np.dtype("<f4"), 64: np.dtype("<f8")}
        if table:
            return table.get(self.bits)
        return None

    @property
    def silence_byte(self) -> int | None:
        """The byte value that is silence in every byte of a sample (``None``: not byte-uniform)."""
        if self.format_tag in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
            return 0x80 if (self.format_tag == WAVE_FORMAT_PCM and self.bits == 8) else 0x00
        if self.format_tag == WAVE_FORMAT_ALAW and self.bits == 8:
            return 0xD5
        if self.format_tag == WAVE_FORMAT_MULAW and self.bits == 8:
            return 0xFF
        return None


def wav_layout(path: Path | str) -> WavLayout | None:
    """The sample layout of a little-endian RIFF/WAVE file, or ``None`` when the file is not one.

    Raises ``AudioError`` for a WAV whose chunks are broken (no ``fmt `` or
    ``data`` chunk, a chunk running past the end).
    """
    file = Path(path)
    try:
        size = file.stat().st_size
        with file.open("rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            offset = 12
            fmt: tuple[int, int, int, int] | None = None
            while True:
                fh.seek(offset)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    raise AudioError(f"{file.name} is cut short or damaged: it has no audio data (“data”) chunk.",
                                     "truncated", file)
                chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    body = fh.read(min(chunk_size, 40))
                    if len(body) < 16:
                        raise AudioError(f"{file.name} is a damaged WAV file (its format header is short).",
                                         "corrupt", file)
                    tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
                    if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                        tag = struct.unpack("<H", body[24:26])[0]
                    fmt = (tag, channels, rate, bits)
                elif chunk_id == b"data":
                    if fmt is None:
                        raise AudioError(f"{file.name} is a damaged WAV file (audio before its format header).",
                                         "corrupt", file)
                    tag, channels, rate, bits = fmt
                    if channels <= 0 or rate <= 0 or bits <= 0:
                        raise AudioError(f"{file.name} is a damaged WAV file (its format header is invalid).",
                                         "corrupt", file)
                    present = max(0, min(chunk_size, size - (offset + 8)))
                    return WavLayout(offset + 8, present, channels, rate, bits, tag)
                offset += 8 + chunk_size + (chunk_size & 1)
                if offset > size:
                    raise AudioError(f"{file.name} is cut short: a chunk runs past the end of the file.",
                                     "truncated", file)
    except FileNotFoundError as exc:
        raise AudioError(f"The audio file {file} does not exist.", "missing", file) from exc
    except OSError as exc:
        raise AudioError(f"The audio file {file} cannot be read: {exc.strerror or exc}.", "unreadable",
                         file) from exc


def wav_samples(path: Path | str, layout: WavLayout) -> np.memmap:
    """A read-only memory map of a WAV's samples, shape ``(frames, channels)``, native dtype."""
    dtype = layout.dtype
    if dtype is None:
        raise AudioError(f"{Path(path).name}: this WAV encoding cannot be read in place.", "unsupported",
                         Path(path))
    frames = layout.frames
    if frames == 0:
        raise AudioError(f"{Path(path).name} is a WAV file without any audio samples.", "empty", Path(path))
    return np.memmap(path, dtype=dtype, mode="r", offset=layout.data_offset, shape=(frames, layout.channels))


def to_int16(block: NDArray[np.generic]) -> NDArray[np.int16]:
    """Samples of any PCM/float dtype scaled to ``int16`` (full scale maps to full scale)."""
    kind = block.dtype
    if kind == np.int16:
        return np.asarray(block, dtype=np.int16)
    if kind == np.uint8:
        return ((block.astype(np.int16) - 128) << 8).astype(np.int16)
    if kind == np.int32:
        return (np.asarray(block, dtype=np.int32) >> 16).astype(np.int16)
    if kind.kind == "f":
        scaled = np.round(np.asarray(block, dtype=np.float64) * 32767.0)
        return np.clip(scaled, -32768, 32767).astype(np.int16)
    raise ValueError(f"cannot convert {kind} samples")


# ---------------------------------------------------------------- ffmpeg


def _ffmpeg(what: str, file: Path) -> str:
    ffmpeg = find_tool("ffmpeg")
    if ffmpeg is None:
        raise AudioToolMissing(
            f"Cannot {what} {file.name}: this format needs ffmpeg, which is not installed. Install ffmpeg "
            "(e.g. “apt install ffmpeg”) or set RCRM_FFMPEG to its full path; plain WAV files need no ffmpeg.",
            file)
    return ffmpeg


@dataclass(frozen=True)
class StreamParams:
    """What ffprobe says about a file's first audio stream."""

    sample_rate: int
    channels: int
    codec: str
    container: str
    bit_rate: int | None
    duration_ms: int | None


def stream_params(path: Path | str) -> StreamParams:
    """Sample rate, channels, codec, container, bit rate and duration of the first audio stream (ffprobe)."""
    file = Path(path)
    ffprobe = find_tool("ffprobe")
    if ffprobe is None:
        raise AudioToolMissing(f"Cannot read {file.name}: ffprobe (part of ffmpeg) is not installed.", file)
    result = subprocess.run(
        [ffprobe, "-hide_banner", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-select_streams", "a:0", str(file)],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        encoding="utf-8", errors="replace")
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise AudioError(f"{file.name} cannot be read ({reason}).", "corrupt", file)
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams") or []
    if not streams:
        raise AudioError(f"{file.name} is not audio: it has no sound track.", "not_audio", file)
    stream = streams[0]
    fmt = data.get("format") or {}
    duration = stream.get("duration") or fmt.get("duration")
    bit_rate = stream.get("bit_rate") or fmt.get("bit_rate")
    return StreamParams(
        sample_rate=int(stream.get("sample_rate") or 0), channels=int(stream.get("channels") or 0),
        codec=str(stream.get("codec_name") or ""), container=str(fmt.get("format_name") or ""),
        bit_rate=int(bit_rate) if bit_rate not in (None, "N/A") else None,
        duration_ms=round(float(duration) * 1000) if duration not in (None, "N/A") else None)


def ffmpeg_pcm_command(ffmpeg: str, path: Path, *, start_s: float | None = None,
                       duration_s: float | None = None) -> list[str]:
    """The ffmpeg command that writes a file's first audio track as raw 16-bit PCM to stdout.

    Output goes out in ffmpeg's 32 KB I/O buffers rather than packet by packet
    (``-flush_packets 0``): piping the PCM then costs ffmpeg 5–15 % more CPU
    than decoding alone instead of 20–27 % (AAC, Vorbis), and the reader wakes
    up an eighth as often.
    """
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error"]
    if start_s is not None:
        command += ["-ss", f"{max(0.0, start_s):.6f}"]
    command += ["-i", str(path), "-map", "0:a:0"]
    if duration_s is not None:
        command += ["-t", f"{max(0.0, duration_s):.6f}"]
    command += ["-flush_packets", "0", "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    return command


def _read_full(stream: object, buffer: memoryview) -> int:
    """Fill ``buffer`` from a pipe (several reads when the pipe gives less); returns the bytes read."""
    got = 0
    readinto = stream.readinto  # type: ignore[attr-defined]
    while got < len(buffer):
        n = readinto(buffer[got:])
        if not n:
            break
        got += n
    return got


def _widen_pipe(fd: int) -> None:
    """Let ffmpeg run ahead by up to 1 MiB while a chunk is reduced (Linux ``F_SETPIPE_SZ``; best effort)."""
    try:
        import fcntl
    except ImportError:  # Windows: the default pipe buffer it is
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, PIPE_BYTES)


def pcm_chunks(path: Path | str, channels: int, *, chunk_frames: int = CHUNK_FRAMES,
               start_s: float | None = None, duration_s: float | None = None, copy: bool = True
               ) -> Generator[NDArray[np.int16], None, None]:
    """Decode a file with ffmpeg and yield ``int16`` chunks of shape ``(frames, channels)``.

    Every chunk but the last has exactly ``chunk_frames`` frames. Closing the
    generator early stops ffmpeg. A decoding failure raises ``AudioError`` with
    ffmpeg's own reason. With ``copy=False`` each chunk is a read-only view of
    one reused buffer, valid until the next chunk is asked for: a caller that
    only reduces the samples saves copying every decoded byte once more.
    """
    file = Path(path)
    ffmpeg = _ffmpeg("decode", file)
    frame_bytes = 2 * channels
    buffer = bytearray(chunk_frames * frame_bytes)
    view = memoryview(buffer)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(ffmpeg_pcm_command(ffmpeg, file, start_s=start_s, duration_s=duration_s),
                                   stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, bufsize=0)
        finished = False
        try:
            assert process.stdout is not None
            _widen_pipe(process.stdout.fileno())
            while True:
                got = _read_full(process.stdout, view)
                usable = got - got % frame_bytes
                if usable:
                    chunk = np.frombuffer(buffer, dtype="<i2", count=usable // 2).reshape(-1, channels)
                    if copy:
                        chunk = chunk.copy()
                    else:
                        chunk.flags.writeable = False
                    yield chunk
                if got < len(buffer):
                    break
            process.stdout.close()
            code = process.wait()
            finished = True
            if code != 0:
                errors.seek(0)
                text = errors.read().decode("utf-8", "replace").strip().splitlines()
                raise AudioError(f"{file.name} cannot be decoded: {text[-1] if text else 'ffmpeg failed'}.",
                                 "corrupt", file)
        finally:
            if not finished:
                process.kill()
                process.wait()
                if process.stdout is not None:
                    process.stdout.close()


def audio_params(path: Path | str) -> tuple[int, int, WavLayout | None]:
    """(sample rate, channels, WAV layout or ``None``) of a file, without decoding it."""
    layout = wav_layout(path)
    if layout is not None and layout.dtype is not None:
        return layout.sample_rate, layout.channels, layout
    params = stream_params(path)
    if params.sample_rate <= 0 or params.channels <= 0:
        raise AudioError(f"{Path(path).name} is damaged: its audio stream has no sample rate or channel count.",
                         "corrupt", Path(path))
    return params.sample_rate, params.channels, None


def decode_all(path: Path | str) -> tuple[NDArray[np.int16], int]:
    """Every sample of a file as ``int16`` ``(frames, channels)`` and its sample rate.

    Holds the whole call in memory: for tests and short calls; long work streams with ``pcm_chunks``.
    """
    rate, channels, layout = audio_params(path)
    if layout is not None:
        return to_int16(np.asarray(wav_samples(path, layout))), rate
    parts = list(pcm_chunks(path, channels))
    if not parts:
        raise AudioError(f"{Path(path).name} contains no audio.", "empty", Path(path))
    return np.concatenate(parts), rate


def read_window(path: Path | str, start_frame: int, frames: int) -> tuple[NDArray[np.int16], int]:
    """``frames`` frames from ``start_frame`` (fewer at the end) as ``int16`` and the frame they start at.

    WAV is sliced from the memory map; other formats are decoded from a seek
    point by ffmpeg (accurate to the frame for the formats RCRM takes).
    """
    rate, channels, layout = audio_params(path)
    start = max(0, int(start_frame))
    count = max(0, int(frames))
    if layout is not None:
        data = wav_samples(path, layout)
        return to_int16(np.asarray(data[start:start + count])), start
    parts = list(pcm_chunks(path, channels, start_s=start / rate, duration_s=count / rate))
    if not parts:
        return np.zeros((0, channels), dtype=np.int16), start
    return np.concatenate(parts)[:count], start


# ---------------------------------------------------------------- writing


def temp_name(target: Path) -> Path:
    """A hidden temporary name beside ``target`` that the store treats as an interrupted write (``.part``)."""
    return target.parent / f".{target.name}.{secrets.token_hex(6)}.part"


def write_wav_atomic(target: Path, samples: NDArray[np.int16], rate: int) -> Path:
    """Write 16-bit PCM ``samples`` ``(frames, channels)`` as a WAV at ``target``, atomically."""
    data = np.asarray(samples, dtype=np.int16)
    if data.ndim == 1:
        data = data[:, None]
    temp = temp_name(target)
    try:
        with wave.open(str(temp), "wb") as out:
            out.setnchannels(int(data.shape[1]))
            out.setsampwidth(2)
            out.setframerate(int(rate))
            out.writeframes(np.ascontiguousarray(data).astype("<i2").tobytes())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return target


def lanes_wav(source: Path | str, target: Path, audible: tuple[bool, ...]) -> Path:
    """A 16-bit WAV copy of ``source`` with the lanes whose ``audible`` entry is ``False`` silenced.

    Used for mute/solo in the player (QMediaPlayer cannot silence one channel
    of a file): the copy has the same channels, rate and length, so positions
    in it are positions in the recording. Written in chunks, atomically.
    """
    rate, channels, layout = audio_params(source)
    if len(audible) != channels:
        raise ValueError("one audible flag per channel")
    keep = np.array(audible, dtype=bool)
    temp = temp_name(target)
    try:
        with wave.open(str(temp), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(rate)
            if layout is not None:
                data = wav_samples(source, layout)
                for start in range(0, layout.frames, CHUNK_FRAMES):
                    chunk = to_int16(np.asarray(data[start:start + CHUNK_FRAMES])).copy()
                    chunk[:, ~keep] = 0
                    out.writeframes(chunk.astype("<i2").tobytes())
            else:
                for chunk in pcm_chunks(source, channels):
                    chunk[:, ~keep] = 0
                    out.writeframes(chunk.astype("<i2").tobytes())
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return target
