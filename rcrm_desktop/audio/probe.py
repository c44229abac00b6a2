"""What an audio file is: format, duration, sample rate, channels, size and SHA-256.

Why this module is careful: a recording's metadata goes into the database and
into access packages (GDPR Art. 15(3): the subject gets the recording itself),
so a file that is empty, not audio, cut short or in a format the program cannot
play must be refused at import with a reason a person can act on, never stored
with made-up numbers.

* WAV (the usual call-recorder format) is read with the standard library's
  ``wave`` module, so it needs no ffmpeg. The RIFF chunks are walked first:
  a ``data`` chunk that announces more bytes than the file holds is reported
  as truncated, not silently shortened. WAV encodings ``wave`` cannot read
  (A-law, µ-law, float, extensible) go to ffprobe.
* Other formats (MP3, Ogg Vorbis, Opus, FLAC, M4A/AAC) go to ffprobe (JSON
  output). A file is first recognised by its leading bytes, not its name, so
  a text file called ``call.wav`` is "not audio". Truncation is found by
  reading the packets that are really there and comparing their end with the
  duration the header announces (MP3 Xing/LAME frame count, FLAC STREAMINFO,
  MP4 ``moov``); an MP4 without its index cannot be read at all.

Every refusal is an ``AudioError`` (a ``ValidationError``) that names the file
and says why; ``AudioError.reason`` is a short machine-readable code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcrm_desktop.errors import ValidationError

#: Formats a recording may have (the ``format`` column of ``Recording``).
SUPPORTED_FORMATS = ("wav", "mp3", "ogg", "opus", "flac", "m4a")

#: Audio shorter than the header says by more than this is "truncated".
TRUNCATION_TOLERANCE_MS = 250

_TOOL_ENV = {"ffmpeg": "RCRM_FFMPEG", "ffprobe": "RCRM_FFPROBE"}


class AudioError(ValidationError):
    """An audio file that cannot be used, with the reason.

    ``reason`` is one of ``missing``, ``empty``, ``not_audio``, ``truncated``,
    ``corrupt``, ``unsupported``, ``tool_missing``, ``unreadable``, ``failed``.
    """

    def __init__(self, message: str, reason: str = "failed", path: Path | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path


class AudioToolMissing(AudioError):
    """ffmpeg or ffprobe is needed and not installed."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message, "tool_missing", path)


def find_tool(name: str) -> str | None:
    """The full path of ``ffmpeg`` or ``ffprobe``, or ``None`` when it is not installed.

    Looked up in this order: the environment variable ``RCRM_FFMPEG`` /
    ``RCRM_FFPROBE`` (an empty value means "not installed", which tests use),
    a copy bundled in ``resources/ffmpeg/`` (packaged builds), then the PATH.
    """
    override = os.environ.get(_TOOL_ENV.get(name, ""))
    if override is not None:
        return override if override and Path(override).is_file() else None
    from rcrm_desktop import paths

    exe = name + (".exe" if os.name == "nt" else "")
    bundled = paths.resources_dir() / "ffmpeg" / exe
    if bundled.is_file():
        return str(bundled)
    return shutil.which(name)


@dataclass(frozen=True)
class AudioInfo:
    """The facts about one audio file that go into a ``Recording`` row."""

    format: str
    duration_ms: int
    sample_rate: int
    channels: int
    size_bytes: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"format": self.format, "duration_ms": self.duration_ms, "sample_rate": self.sample_rate,
                "channels": self.channels, "size_bytes": self.size_bytes, "sha256": self.sha256}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def sniff(head: bytes) -> str | None:
    """The container named by a file's first bytes (``None``: not a known audio container)."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head[:512] else "ogg"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        layer = (head[1] >> 1) & 0x03
        return "mp3" if layer == 0x01 else "aac" if layer == 0x00 else "mpeg"
    return None


# ---------------------------------------------------------------- WAV


def _wav_data_chunk(path: Path, size: int) -> tuple[int, int]:
    """Offset and announced size of the ``data`` chunk; raises ``AudioError`` when the RIFF layout is broken."""
    with path.open("rb") as fh:
        header = fh.read(12)
        if len(header) < 12:
            raise AudioError(f"{path.name} is cut short: it ends inside the WAV header.", "truncated", path)
        offset = 12
        while True:
            fh.seek(offset)
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise AudioError(f"{path.name} is cut short or damaged: it has no audio data (“data”) chunk.",
                                 "truncated", path)
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return offset + 8, chunk_size
            offset += 8 + chunk_size + (chunk_size & 1)
            if offset > size:
                raise AudioError(f"{path.name} is cut short: its “{chunk_id.decode('latin-1')}” chunk runs past "
                                 "the end of the file.", "truncated", path)


def _probe_wav(path: Path, size: int) -> tuple[int, int, int] | None:
    """(duration_ms, sample_rate, channels) of a PCM WAV, or ``None`` for an encoding ``wave`` cannot read."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            channels = wav.getnchannels()
            width = wav.getsampwidth()
            frames = wav.getnframes()
    except wave.Error as exc:
        if "unknown format" in str(exc):
            return None  # A-law, µ-law, float, extensible: ffprobe reads them
        raise AudioError(f"{path.name} is a damaged WAV file ({exc}).", "corrupt", path) from exc
    except EOFError as exc:
        raise AudioError(f"{path.name} is cut short: it ends inside the WAV header.", "truncated", path) from exc
    if rate <= 0 or channels <= 0 or width <= 0:
        raise AudioError(f"{path.name} is a damaged WAV file (its format header is invalid).", "corrupt", path)
    data_offset, data_size = _wav_data_chunk(path, size)
    present = size - data_offset
    if data_size > present:
        frame_bytes = channels * width
        announced = data_size / frame_bytes / rate
        held = max(0, present) / frame_bytes / rate
        raise AudioError(
            f"{path.name} is cut short: its header announces {announced:.1f} s of audio but the file holds only "
            f"{held:.1f} s.", "truncated", path)
    if frames == 0:
        raise AudioError(f"{path.name} is a WAV file without any audio samples.", "empty", path)
    return round(frames * 1000 / rate), rate, channels


# ---------------------------------------------------------------- ffprobe / ffmpeg


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


_FORMAT_NAMES = {
    "wav": "WAV", "mp3": "MP3", "ogg": "Ogg Vorbis", "opus": "Opus", "flac": "FLAC", "m4a": "M4A (AAC)",
}


def _classify(path: Path, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Our format name and the audio stream, or ``AudioError`` for what we do not take."""
    streams: list[dict[str, Any]] = data.get("streams") or []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [s for s in streams if s.get("codec_type") == "video"
             and not (s.get("disposition") or {}).get("attached_pic")]
    container = str((data.get("format") or {}).get("format_name") or "")
    if not audio:
        raise AudioError(f"{path.name} is not audio: it has no sound track ({container or 'unknown'} file).",
                         "not_audio", path)
    stream = audio[0]
    codec = str(stream.get("codec_name") or "")
    if video:
        raise AudioError(f"{path.name} is a video file ({container}); import the call's audio only.",
                         "unsupported", path)
    names = set(container.split(","))
    fmt: str | None = None
    if "wav" in names:
        fmt = "wav"
    elif "mp3" in names and codec == "mp3":
        fmt = "mp3"
    elif "ogg" in names and codec == "vorbis":
        fmt = "ogg"
    elif "ogg" in names and codec == "opus":
        fmt = "opus"
    elif "flac" in names and codec == "flac":
        fmt = "flac"
    elif "mp4" in names and codec in ("aac", "alac"):
        fmt = "m4a"
    if fmt is None:
        raise AudioError(
            f"{path.name} is in a format RCRM Desktop does not take ({container or '?'}, codec {codec or '?'}); "
            "supported: WAV, MP3, Ogg Vorbis, Opus, FLAC and M4A. Convert it first.", "unsupported", path)
    return fmt, stream


def _ogg_ends_cleanly(path: Path, size: int) -> bool:
    """Whether an Ogg file's last page is complete and marked end-of-stream (RFC 3533, header flag 0x04)."""
    tail_len = min(size, 70_000)
    with path.open("rb") as fh:
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    at = tail.rfind(b"OggS")
    if at < 0 or len(tail) < at + 27:
        return False
    flags = tail[at + 5]
    segments = tail[at + 26]
    table_end = at + 27 + segments
    if len(tail) < table_end:
        return False
    body = sum(tail[at + 27:table_end])
    return bool(flags & 0x04) and table_end + body == len(tail)


def _decoded_ms(ffmpeg: str, path: Path) -> tuple[int | None, str]:
    """Decode the first audio track to nowhere: the duration really decodable, and ffmpeg's error output."""
    result = _run([ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:a:0",
                   "-f", "null", "-", "-progress", "pipe:1", "-nostats"], timeout=900)
    last: int | None = None
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            last = int(value)
    if result.returncode != 0:
        return None, result.stderr
    return (None if last is None else max(0, round(last / 1000))), result.stderr


def _probe_ffprobe(path: Path, size: int, sniffed: str | None, verify: bool) -> tuple[str, int, int, int]:
    ffprobe = find_tool("ffprobe")
    what = _FORMAT_NAMES.get(sniffed or "", "this kind of")
    if ffprobe is None:
        if sniffed is None:
            raise AudioError(f"{path.name} is not a recognised audio file (WAV, MP3, Ogg, Opus, FLAC or M4A).",
                             "not_audio", path)
        raise AudioToolMissing(
            f"{path.name} cannot be read: {what} audio needs ffprobe (part of ffmpeg), which is not installed. "
            "Install ffmpeg or set RCRM_FFPROBE to its full path; WAV files need neither.", path)
    try:
        result = _run([ffprobe, "-hide_banner", "-v", "warning", "-print_format", "json", "-show_format",
                       "-show_streams", str(path)], timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise AudioError(f"{path.name} could not be read: ffprobe took too long.", "corrupt", path) from exc
    except OSError as exc:
        raise AudioToolMissing(f"{path.name} cannot be read: ffprobe could not be started ({exc}).", path) from exc
    stderr = result.stderr
    if result.returncode != 0:
        reason = _last_line(stderr)
        if "moov atom not found" in stderr:
            raise AudioError(f"{path.name} is cut short or unfinished: its index (the MP4 “moov” box) is missing.",
                             "truncated", path)
        if sniffed is None:
            raise AudioError(f"{path.name} is not an audio file (ffprobe: {reason}).", "not_audio", path)
        raise AudioError(f"{path.name} looks like {what} audio but cannot be read: it is damaged ({reason}).",
                         "corrupt", path)
    try:
        data = json.loads(result.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise AudioError(f"{path.name} could not be read: ffprobe gave no usable answer.", "failed", path) from exc
    fmt, stream = _classify(path, data)
    rate = int(stream.get("sample_rate") or 0)
    channels = int(stream.get("channels") or 0)
    if rate <= 0 or channels <= 0:
        raise AudioError(f"{path.name} is damaged: its audio stream has no sample rate or channel count.",
                         "corrupt", path)
    header_s = stream.get("duration") or (data.get("format") or {}).get("duration")
    header_ms = round(float(header_s) * 1000) if header_s not in (None, "N/A") else None
    estimated = "Estimating duration from bitrate" in stderr
    duration_ms = header_ms
    if verify or header_ms is None or estimated:
        ffmpeg = find_tool("ffmpeg")
        if ffmpeg is not None:
            try:
                decoded, errors = _decoded_ms(ffmpeg, path)
            except subprocess.TimeoutExpired as exc:
                raise AudioError(f"{path.name} could not be decoded in time.", "corrupt", path) from exc
            if decoded is None:
                raise AudioError(f"{path.name} cannot be decoded: it is damaged ({_last_line(errors)}).",
                                 "corrupt", path)
            if header_ms is not None and not estimated:
                tolerance = TRUNCATION_TOLERANCE_MS + header_ms // 500
                if decoded + tolerance < header_ms:
                    raise AudioError(
                        f"{path.name} is cut short (truncated): its header announces {header_ms / 1000:.1f} s of "
                        f"audio but only {decoded / 1000:.1f} s can be decoded.", "truncated", path)
                duration_ms = min(header_ms, decoded)
            else:
                duration_ms = decoded
    if fmt in ("ogg", "opus") and not _ogg_ends_cleanly(path, size):
        raise AudioError(f"{path.name} is cut short: its last Ogg page is incomplete or not the end of the stream.",
                         "truncated", path)
    if not duration_ms:
        raise AudioError(f"{path.name} contains no audio (its duration is zero).", "empty", path)
    return fmt, duration_ms, rate, channels


# ---------------------------------------------------------------- the entry point


def probe(path: Path | str, *, verify: bool = True) -> AudioInfo:
    """Read an audio file's format, duration, sample rate, channels, size and SHA-256.

    ``verify`` (default) decodes compressed files once so that a file cut short
    is refused and the duration is the one a player will play (MP3 padding
    removed); pass ``False`` to trust the header when speed matters more.
    Raises ``AudioError`` naming the file and the reason (missing, empty, not
    audio, truncated, corrupt, unsupported, or ffprobe/ffmpeg missing).
    """
    file = Path(path)
    try:
        info = file.stat()
    except FileNotFoundError as exc:
        raise AudioError(f"The audio file {file} does not exist.", "missing", file) from exc
    except OSError as exc:
        raise AudioError(f"The audio file {file} cannot be read: {exc.strerror or exc}.", "unreadable",
                         file) from exc
    if not file.is_file():
        raise AudioError(f"{file} is not a file.", "unreadable", file)
    size = info.st_size
    if size == 0:
        raise AudioError(f"{file.name} is empty (0 bytes).", "empty", file)
    try:
        with file.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise AudioError(f"The audio file {file} cannot be read: {exc.strerror or exc}.", "unreadable",
                         file) from exc
    sniffed = sniff(head)
    if sniffed in ("aac", "mpeg"):
        raise AudioError(
            f"{file.name} is raw {'AAC' if sniffed == 'aac' else 'MPEG layer I/II'} audio, which RCRM Desktop "
            "does not take; supported: WAV, MP3, Ogg Vorbis, Opus, FLAC and M4A.", "unsupported", file)
    wav_facts = _probe_wav(file, size) if sniffed == "wav" and head[:4] == b"RIFF" else None
    if wav_facts is not None:
        duration_ms, rate, channels = wav_facts
        fmt = "wav"
    else:
        fmt, duration_ms, rate, channels = _probe_ffprobe(file, size, sniffed, verify)
    return AudioInfo(fmt, duration_ms, rate, channels, size, _sha256(file))
