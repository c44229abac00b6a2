"""Believable call-like audio made from numbers, for demo instances and tests (nothing is downloaded).

A call is two speakers taking turns: the agent on the left lane, the customer
on the right (the way call recorders store the two legs of a call). Speech is
imitated with a source–filter model:

* a glottal source: the harmonics of a fundamental between 100 and 220 Hz that
  drifts down over a phrase (declination), rises on accented syllables and at
  the end of some questions, with a little jitter;
* the vocal tract: each harmonic's level follows 3 formant-like resonances of
  the syllable's vowel (a, e, i, o, u, schwa; scaled up for higher voices);
* syllables at 3–5 per second with a rise–hold–fall envelope, some opened by a
  short noise burst (a consonant), grouped into words and turns with pauses,
  plus short back-channel "mhm"s from the listener;
* the line: a little background noise on each lane, a faint cross-talk of the
  other leg, the customer's leg band-limited to the telephone band (300–3400 Hz).

It is not speech and does not pretend to be: it only has speech's rhythm and
spectrum, which is what waveforms, players, silence detection and redaction
need to look and sound right.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import secrets
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from rcrm_desktop.audio.probe import AudioError, AudioToolMissing, find_tool

SUPPORTED_RATES = (8000, 16000, 22050, 32000, 44100, 48000)

#: Formants (F1, F2, F3) in Hz of an adult male voice; higher voices scale them up.
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (300.0, 2250.0, 3000.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (320.0, 870.0, 2240.0),
    "schwa": (500.0, 1500.0, 2500.0),
}
_BANDWIDTHS = (90.0, 110.0, 170.0)
_TABLE_SIZE = 512
_TABLE_PHASE = 2.0 * np.pi * np.arange(_TABLE_SIZE) / _TABLE_SIZE
_FORMANT_GAINS = (1.0, 0.55, 0.28)

AGENT = "agent"
CUSTOMER = "customer"


@dataclass(frozen=True)
class Voice:
    f0: float  # Hz, 100–220
    formant_scale: float  # 1.0 male, ~1.15 female
    level: float  # relative loudness of the lane
    breathiness: float


@dataclass(frozen=True)
class Turn:
    """One speaker's turn, in milliseconds from the start of the call."""

    speaker: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SynthCall:
    samples: NDArray[np.int16]
    sample_rate: int
    turns: list[Turn]

    @property
    def duration_ms(self) -> int:
        return round(len(self.samples) * 1000 / self.sample_rate)


def _random_voice(rng: np.random.Generator, low: bool) -> Voice:
    if low:
        return Voice(float(rng.uniform(100, 135)), float(rng.uniform(0.95, 1.03)), float(rng.uniform(0.8, 1.0)),
                     float(rng.uniform(0.02, 0.05)))
    return Voice(float(rng.uniform(170, 220)), float(rng.uniform(1.12, 1.2)), float(rng.uniform(0.75, 0.95)),
                 float(rng.uniform(0.03, 0.07)))


def _sin32(x: NDArray[np.float64]) -> NDArray[np.float32]:
    """``sin`` in single precision: plenty for audio, and several times faster than double."""
    return np.sin(x.astype(np.float32))


@functools.lru_cache(maxsize=4096)
def _vowel_table(vowel: str, formant_scale: float, f0: int, rate: int) -> NDArray[np.float64]:
    """One period of a vowel's waveform at fundamental ``f0`` (a wavetable, read at the varying pitch).

    Harmonics reach ``min(0.42·rate, 5 kHz)`` with room for a 15 % pitch rise, so
    reading it at a higher pitch does not alias; each harmonic's level follows
    the vowel's three formant resonances and a −3.5 dB/octave source tilt.
    """
    top = min(0.42 * rate, 5000.0)
    count = max(1, int(top / (max(f0, 60) * 1.15)))
    ks = np.arange(1, count + 1, dtype=np.float64)
    freqs = ks * float(f0)
    gains = np.zeros(count)
    for formant, bandwidth, gain in zip(VOWELS[vowel], _BANDWIDTHS, _FORMANT_GAINS, strict=True):
        gains += gain / (1.0 + ((freqs - formant * formant_scale) / (bandwidth / 2.0)) ** 2)
    gains = (gains + 0.02) * ks ** -0.35
    table = np.sin(np.outer(_TABLE_PHASE, ks).astype(np.float32)).astype(np.float64) @ gains
    table.setflags(write=False)
    return np.append(table, table[0])


@dataclass(frozen=True)
class _Syllable:
    samples: int
    f0_start: float
    f0_end: float
    vowel: str
    accent: bool
    consonant: bool
    gap_after: int  # silent samples after it (between words)


def _render(rng: np.random.Generator, noise: NDArray[np.float64], voice: Voice, rate: int,
            plan: list[_Syllable]) -> NDArray[np.float64]:
    """Render planned syllables in one pass (vectorised over the whole turn, not one syllable at a time).

    Per syllable: pitch glides from ``f0_start`` to ``f0_end`` (+5–12 % on an
    accent, ±1 % wobble), the vowel's wavetable is read at that pitch, breath
    noise is added, and a rise–hold–fall envelope shapes it; a consonant is a
    short high-tilted noise burst before the vowel.
    """
    count = len(plan)
    lengths = np.array([s.samples for s in plan], dtype=np.int64)
    total = int(lengths.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    seg = np.repeat(np.arange(count), lengths)
    local = np.arange(total) - starts[seg]
    n_seg = lengths[seg].astype(np.float64)
    t = local / n_seg
    f0_start = np.array([s.f0_start for s in plan])
    f0_end = np.array([s.f0_end for s in plan])
    accent_amount = np.where([s.accent for s in plan], rng.uniform(0.05, 0.12, count), 0.0)
    phases = rng.uniform(0, 2 * np.pi, (count, 2))
    seconds = local / rate
    f0 = f0_start[seg] + (f0_end - f0_start)[seg] * t
    f0 *= 1.0 + accent_amount[seg] * _sin32(np.pi * t)
    f0 *= 1.0 + 0.006 * (_sin32(2 * np.pi * 5.3 * seconds + phases[seg, 0])
                         + _sin32(2 * np.pi * 8.9 * seconds + phases[seg, 1]))
    cycles = np.cumsum(f0) / rate + rng.uniform(0, 1)
    scale = round(voice.formant_scale * 25) / 25  # 4 % steps: a small cache serves every voice
    keys = [(s.vowel, int(round((s.f0_start + s.f0_end) / 12.0)) * 6) for s in plan]
    unique = sorted(set(keys))
    tables = np.stack([_vowel_table(vowel, scale, f0_bin, rate) for vowel, f0_bin in unique])
    table_of = np.array([unique.index(k) for k in keys])[seg]
    position = (cycles - np.floor(cycles)) * _TABLE_SIZE
    index = position.astype(np.int64)
    frac = position - index
    flat = tables.reshape(-1)
    base = table_of * (_TABLE_SIZE + 1) + index
    voiced = flat[base] * (1.0 - frac) + flat[base + 1] * frac
    peaks = np.maximum.reduceat(np.abs(voiced), starts)
    voiced /= np.maximum(peaks, 1e-9)[seg]
    offset = int(rng.integers(0, len(noise) - total)) if len(noise) > total else 0
    breath = noise[offset:offset + total]
    if len(breath) < total:
        breath = np.resize(noise, total)
    voiced += voice.breathiness * breath
    bursts = np.where([s.consonant for s in plan], (rng.uniform(0.02, 0.06, count) * rate).astype(np.int64), 0)
    bursts = np.minimum(bursts, lengths // 3)
    bursts[bursts <= 4] = 0
    vowel_local = local - bursts[seg]
    vowel_len = (lengths - bursts)[seg]
    attack = np.maximum(1, (vowel_len * rng.uniform(0.12, 0.25, count)[seg]).astype(np.int64))
    release = np.maximum(1, (vowel_len * rng.uniform(0.25, 0.4, count)[seg]).astype(np.int64))
    rise = _sin32(np.clip(vowel_local / attack, 0.0, 1.0) * (np.pi / 2)) ** 2
    fall = _sin32((1.0 - np.clip((vowel_local - (vowel_len - release)) / release, 0.0, 1.0)) * (np.pi / 2)) ** 2
    env = rise * fall * (vowel_local >= 0)
    env *= 1.0 + 0.04 * _sin32(2 * np.pi * rng.uniform(4, 7, count)[seg] * seconds)  # shimmer
    level = np.where([s.accent for s in plan], 1.0, rng.uniform(0.6, 0.85, count))
    out = voiced * env * level[seg]
    in_burst = np.flatnonzero(local < bursts[seg])
    if len(in_burst):
        hiss = breath[in_burst] - breath[np.maximum(in_burst - 1, 0)]  # differenced: tilted towards highs
        burst_seg = seg[in_burst]
        width = np.maximum(bursts[burst_seg] - 1, 1)
        window = 0.5 - 0.5 * _sin32(2 * np.pi * local[in_burst] / width + np.pi / 2)
        out[in_burst] += hiss * window * rng.uniform(0.12, 0.3, count)[burst_seg]
    gaps = np.array([s.gap_after for s in plan], dtype=np.int64)
    shift = np.concatenate([[0], np.cumsum(gaps)[:-1]])
    result = np.zeros(total + int(gaps.sum()))
    result[np.arange(total) + shift[seg]] = out
    return result


def _phrase(rng: np.random.Generator, noise: NDArray[np.float64], voice: Voice, rate: int, seconds: float,
            question: bool) -> NDArray[np.float64]:
    """One turn of speech about ``seconds`` long: words of 1–4 syllables at 3–5 syllables per second."""
    syllable_rate = rng.uniform(3.0, 5.0)
    target = int(seconds * rate)
    vowels = list(VOWELS)
    start_f0 = voice.f0 * rng.uniform(1.0, 1.12)
    end_f0 = voice.f0 * rng.uniform(0.8, 0.9)
    plan: list[_Syllable] = []
    total = 0
    while total < target:
        words = int(rng.integers(1, 5))
        for w in range(words):
            progress = min(1.0, total / max(1, target))
            base = start_f0 + (end_f0 - start_f0) * progress
            if question and progress > 0.8:
                base *= 1.0 + 0.35 * (progress - 0.8) / 0.2
            length = max(8, int(rng.uniform(0.75, 1.3) / syllable_rate * rate))
            gap = 0
            if w == words - 1:
                gap = int(rng.uniform(0.25, 0.5) * rate) if rng.random() < 0.12 else int(rng.uniform(0.03, 0.14)
                                                                                         * rate)
            plan.append(_Syllable(length, base, base * rng.uniform(0.95, 1.02), vowels[int(rng.integers(6))],
                                  bool(rng.random() < 0.3), bool(rng.random() < 0.55), gap))
            total += length + gap
    speech = _render(rng, noise, voice, rate, plan) if plan else np.zeros(target)
    out = np.zeros(target)
    out[:min(target, len(speech))] = speech[:target]
    return out


def _mhm(rng: np.random.Generator, noise: NDArray[np.float64], voice: Voice, rate: int) -> NDArray[np.float64]:
    """A short back-channel "mhm" from the listener."""
    length = int(rng.uniform(0.25, 0.4) * rate)
    return _render(rng, noise, voice, rate, [_Syllable(length, voice.f0, voice.f0 * 0.9, "schwa", False, False,
                                                       0)]) * 0.5


def _fft_size(n: int) -> int:
    """The smallest 5-smooth number ≥ ``n`` (FFTs of such lengths are fast; odd lengths can be 100× slower)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < n:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


_NOISE_BLOCK = 1 << 16


def _shaped_noise(rng: np.random.Generator, white: NDArray[np.float64], n: int, rate: int,
                  exponent: float) -> NDArray[np.float64]:
    """Noise with power ∝ 1/f^exponent (1 = pink), unit RMS: one shaped block of up to 2^16 samples, tiled.

    A steady line hiss repeating after ≥ 1.4 s is inaudible, and it keeps long calls cheap.
    """
    size = min(_NOISE_BLOCK, _fft_size(n))
    start = int(rng.integers(0, len(white) - size)) if len(white) > size else 0
    block = white[start:start + size]
    if len(block) < size:
        block = np.resize(block, size)
    spectrum = np.fft.rfft(block)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    freqs[0] = freqs[1] if size > 2 else 1.0
    spectrum /= freqs ** (exponent / 2.0)
    shaped = np.fft.irfft(spectrum, size)
    shaped /= max(1e-12, float(np.sqrt(np.mean(shaped ** 2))))
    return np.resize(np.roll(shaped, int(rng.integers(0, size))), n)


def _band_limit(signal: NDArray[np.float64], rate: int, low: float, high: float) -> NDArray[np.float64]:
    n = len(signal)
    size = _fft_size(n)
    spectrum = np.fft.rfft(signal, size)
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    gain = 1.0 / np.sqrt(1.0 + (low / np.maximum(freqs, 1e-3)) ** 4) / np.sqrt(1.0 + (freqs / high) ** 8)
    return np.fft.irfft(spectrum * gain, size)[:n]


def synth_call_detailed(seconds: float, sample_rate: int = 8000, stereo: bool = True,
                        seed: int = 0) -> SynthCall:
    """A call of ``seconds`` with its speaker turns (for placing annotations and redactions on real speech)."""
    if sample_rate not in SUPPORTED_RATES:
        raise ValueError(f"sample_rate must be one of {SUPPORTED_RATES}, not {sample_rate}")
    if not 0.5 <= seconds <= 3600:
        raise ValueError("seconds must be between 0.5 and 3600")
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    white = rng.standard_normal(max(n, 4096))  # one noise source, sliced for breath, consonants and the line
    lanes = {AGENT: np.zeros(n), CUSTOMER: np.zeros(n)}
    agent_low = bool(rng.random() < 0.4)
    voices = {AGENT: _random_voice(rng, agent_low), CUSTOMER: _random_voice(rng, bool(rng.random() < 0.55))}
    turns: list[Turn] = []
    position = int(rng.uniform(0.3, 0.8) * sample_rate)  # ringing/connect silence
    speaker = AGENT
    while position < n - int(0.4 * sample_rate):
        length = min(rng.uniform(1.2, 5.5), (n - position) / sample_rate - 0.2)
        if length < 0.3:
            break
        question = bool(rng.random() < 0.3)
        speech = _phrase(rng, white, voices[speaker], sample_rate, length, question)
        lanes[speaker][position:position + len(speech)] += speech * voices[speaker].level
        turns.append(Turn(speaker, round(position * 1000 / sample_rate),
                          round((position + len(speech)) * 1000 / sample_rate)))
        listener = CUSTOMER if speaker == AGENT else AGENT
        if length > 3.0 and rng.random() < 0.5:  # "mhm" from the listener
            at = position + int(rng.uniform(0.4, 0.8) * len(speech))
            mhm = _mhm(rng, white, voices[listener], sample_rate)
            end = min(n, at + len(mhm))
            lanes[listener][at:end] += mhm[:end - at] * voices[listener].level
        position += len(speech) + int(rng.uniform(0.2, 0.9) * sample_rate)
        speaker = listener
    agent = lanes[AGENT]
    customer = lanes[CUSTOMER]
    if sample_rate > 8000:
        customer = _band_limit(customer, sample_rate, 300.0, 3400.0)
    if sample_rate > 16000:
        agent = _band_limit(agent, sample_rate, 90.0, 7000.0)
    agent = agent + 0.004 * _shaped_noise(rng, white, n, sample_rate, 1.0) + 0.02 * customer
    customer = customer + 0.007 * _shaped_noise(rng, white, n, sample_rate, 0.6) + 0.015 * agent
    peak = max(1e-9, float(np.abs(agent).max()), float(np.abs(customer).max()))
    scale = 0.6 / peak  # about −4.4 dBFS at the loudest syllable
    left = np.clip(agent * scale, -1.0, 1.0)
    right = np.clip(customer * scale, -1.0, 1.0)
    mixed: NDArray[np.float64] = np.stack([left, right], axis=1) if stereo else (left + right) / 2.0
    samples = np.round(mixed * 32767.0).astype(np.int16)
    return SynthCall(samples, sample_rate, turns)


def synth_call(seconds: float, sample_rate: int = 8000, stereo: bool = True, seed: int = 0) -> NDArray[np.int16]:
    """``seconds`` of call audio at ``sample_rate``: int16, shape (n, 2) in stereo (agent left), (n,) in mono.

    The same ``seed`` always gives the same samples.
    """
    return synth_call_detailed(seconds, sample_rate, stereo, seed).samples


def wav_bytes(samples: NDArray[np.int16], rate: int) -> bytes:
    """A 16-bit PCM WAV file of ``samples`` (shape (n,) or (n, channels)), in memory."""
    buffer = io.BytesIO()
    _write_wave(buffer, samples, rate)
    return buffer.getvalue()


def _write_wave(target: str | IO[bytes], samples: NDArray[np.int16], rate: int) -> None:
    data = np.asarray(samples)
    if data.dtype != np.int16:
        raise ValueError("samples must be int16")
    channels = 1 if data.ndim == 1 else int(data.shape[1])
    with wave.open(target, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.ascontiguousarray(data).astype("<i2").tobytes())


def write_wav(path: Path | str, samples: NDArray[np.int16], rate: int) -> Path:
    """Write ``samples`` as a 16-bit PCM WAV file with the standard library's ``wave`` module."""
    target = Path(path)
    _write_wave(str(target), samples, rate)
    return target


#: ffmpeg arguments per target format: codec and options chosen for speech.
def _codec_args(fmt: str, rate: int) -> list[str]:
    if fmt == "mp3":
        bitrate = "32k" if rate <= 12000 else "64k" if rate <= 24000 else "96k"
        return ["-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3"]
    if fmt == "ogg":
        return ["-c:a", "libvorbis", "-q:a", "3", "-f", "ogg"]
    if fmt == "opus":
        args = ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"]
        if rate not in (8000, 12000, 16000, 24000, 48000):
            args[0:0] = ["-ar", "48000"]
        return args
    if fmt == "flac":
        return ["-c:a", "flac", "-f", "flac"]
    if fmt == "m4a":
        return ["-c:a", "aac", "-b:a", "48k" if rate <= 16000 else "96k", "-f", "ipod"]
    if fmt == "wav":
        return ["-c:a", "pcm_s16le", "-f", "wav"]
    raise AudioError(f"Cannot encode to “{fmt}”: choose one of mp3, ogg, opus, flac, m4a or wav.")


ENCODABLE_FORMATS = ("mp3", "ogg", "opus", "flac", "m4a", "wav")


def encode(path_wav: Path | str, target: Path | str, fmt: str) -> Path:
    """Encode a WAV file to ``fmt`` (mp3, ogg, opus, flac, m4a, wav) at ``target`` with ffmpeg.

    Raises ``AudioToolMissing`` when ffmpeg is not installed and ``AudioError``
    (with ffmpeg's own reason) when encoding fails; a failed encode leaves no
    partial ``target``. Output is bit-exact for a given input and ffmpeg version.
    """
    source = Path(path_wav)
    out = Path(target)
    fmt = fmt.lower().lstrip(".")
    ffmpeg = find_tool("ffmpeg")
    if ffmpeg is None:
        raise AudioToolMissing(
            f"Cannot write {out.name} as {fmt.upper()}: ffmpeg is not installed or not on the PATH. "
            "Install ffmpeg (e.g. “apt install ffmpeg”) or set RCRM_FFMPEG to its full path."
        )
    try:
        with wave.open(str(source), "rb") as wav:
            rate = wav.getframerate()
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"Cannot encode {source.name}: it is not a readable PCM WAV file ({exc}).",
                         "corrupt", source) from exc
    args = _codec_args(fmt, rate)
    temp = out.parent / f".{out.name}.{secrets.token_hex(6)}.part"
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
               "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", *args, str(temp)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise AudioError(f"ffmpeg could not encode {source.name} to {fmt.upper()}: {reason}")
        os.replace(temp, out)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    return out
