"""``rcrm-desktop self-test``: prove that an installed (or source) RCRM Desktop has everything it needs.

Run it after installing a package, on a workstation that misbehaves, or in CI
(``.ci/run`` runs it on the installed .deb). It needs no display and never
touches the operator's data: everything happens in a temporary folder
(``RCRM_HOME`` points there while it runs) that is removed afterwards.

One line per check, ``ok``/``FAIL``/``skip``, then a summary; the exit code is
0 when every check passed and 1 otherwise::

    ok   resources: icons, desktop entry, AppStream file and 6 audio samples
    ok   drivers: psycopg2 2.9.13 (libpq 170005), PyMySQL 1.2.4, argon2-cffi 25.1.0
    ok   database: temporary SQLite instance migrated to schema 1, administrator logged in, audit chain OK 2 events
    ok   qt: main window rendered 1280x800 in 310 ms (offscreen)
    ...
    FAIL audio-mp3: sample.mp3 cannot be decoded: ...

The checks, and what each one proves:

``resources``   the ``resources`` folder (icons, .desktop/AppStream files, audio samples) is there;
``drivers``     the PostgreSQL and MariaDB drivers and the argon2 bindings load and work;
``database``    an instance is created and migrated (the migrations are code), an
                administrator is created and logged in (Argon2id), the audit chain verifies;
``qt``          the Qt platform plugin loads and the main window renders (``grab()``
                gives a non-empty, non-uniform picture); Qt runs offscreen unless
                ``QT_QPA_PLATFORM`` names another platform;
``icons``       the application icon (SVG through Qt's SVG plugin) and QtAwesome's
                bundled icon fonts draw;
``multimedia``  Qt Multimedia's FFmpeg plugin is there and decodes every sample;
``crashes``     sample crash events are imported through two worker processes (the
                installed program starts copies of itself for them) and scrubbed;
``ffmpeg``      ffmpeg and ffprobe are found (``RCRM_FFMPEG``/``RCRM_FFPROBE``, the
                bundled copy, or the PATH) and run;
``audio-<fmt>`` for WAV, MP3, Ogg Vorbis, FLAC, M4A and Opus: the bundled sample is
                probed, its waveform is computed (``audio.peaks``), it is decoded
                and re-encoded to the same format, and the result probes again.

``--startup-probe`` (hidden) measures start-up instead: it opens an instance,
shows the log-in screen, logs in and shows the main window, and prints when each
first painted as JSON (``benchmarks/startup.py`` reads it).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcrm_desktop import APP_NAME, EXECUTABLE, __version__, paths

#: Formats of the bundled samples, in the order they are checked.
SAMPLE_FORMATS = ("wav", "mp3", "ogg", "flac", "m4a", "opus")
SAMPLE_SECONDS = 2.0
SAMPLE_RATE = 8000
#: A decoded sample may differ from its nominal length by this much (encoder delay and padding).
DURATION_TOLERANCE_S = 0.15

#: Every check in the order it runs.
CHECKS = ("resources", "drivers", "database", "crashes", "qt", "icons", "multimedia", "ffmpeg",
          *(f"audio-{fmt}" for fmt in SAMPLE_FORMATS))

_ADMIN = "selftest"
_ADMIN_PASSWORD = "self-test password 1"
_SUPPORT = "selftest-support"
#: Sample crash events the self-test imports.
CRASH_EVENTS = 200


class CheckFailed(Exception):
    """A check found a problem; the message says what."""


class CheckSkipped(Exception):
    """A check could not run because a check it depends on failed."""


@dataclass
class CheckResult:
    name: str
    status: str  # "ok", "FAIL" or "skip"
    detail: str
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


def samples_dir() -> Path:
    return paths.resource("samples")


def sample_path(fmt: str, folder: Path | None = None) -> Path:
    return (folder or samples_dir()) / f"sample.{fmt}"


def use_offscreen_by_default() -> None:
    """Qt draws offscreen unless the caller chose a platform (must run before Qt loads a platform)."""
    if not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")


# ---------------------------------------------------------------- Qt plugins


def _shared_library_suffixes() -> tuple[str, ...]:
    if sys.platform.startswith("win"):
        return (".dll",)
    if sys.platform == "darwin":
        return (".dylib", ".so")
    return (".so",)


def qt_plugin_dirs() -> list[Path]:
    """The folders Qt loads plugins from: ``QT_PLUGIN_PATH``, Qt's own plugin folder, the library paths."""
    from PySide6.QtCore import QCoreApplication, QLibraryInfo

    candidates = [p for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    candidates.append(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    candidates.extend(QCoreApplication.libraryPaths())
    seen: list[Path] = []
    for candidate in candidates:
        path = Path(candidate)
        if path.is_dir() and path not in seen:
            seen.append(path)
    return seen


def find_qt_plugins(kind: str, fragment: str, dirs: Sequence[Path] | None = None) -> list[Path]:
    """Plugin files of type ``kind`` (``platforms``, ``multimedia`` …) whose name contains ``fragment``."""
    found: list[Path] = []
    for folder in dirs if dirs is not None else qt_plugin_dirs():
        kind_dir = folder / kind
        if kind_dir.is_dir():
            found.extend(p for p in sorted(kind_dir.iterdir())
                         if fragment in p.name and p.name.endswith(_shared_library_suffixes()))
    return found


def platform_plugin(platform: str) -> Path:
    """The plugin file of the Qt platform ``platform`` (``offscreen``, ``xcb``, ``wayland;xcb`` …).

    Checked before ``QApplication`` is made, because Qt aborts the whole process
    when it cannot load the platform plugin, and a self-test must report that.
    """
    names = [part.split(":", 1)[0].strip() for part in platform.split(";") if part.strip()]
    needs = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}
    if names and all(name in needs and not os.environ.get(needs[name]) for name in names):
        raise CheckFailed(f"QT_QPA_PLATFORM={platform} needs a display, but {needs[names[0]]} is not set; "
                          "unset QT_QPA_PLATFORM to test offscreen")
    dirs = list(qt_plugin_dirs())
    extra = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if extra:
        dirs.insert(0, Path(extra).parent if Path(extra).name == "platforms" else Path(extra))
    for name in names:
        found = find_qt_plugins("platforms", f"q{name}", dirs)
        if found:
            return found[0]
    where = ", ".join(str(d / "platforms") for d in dirs) or "no Qt plugin folder found"
    raise CheckFailed(f"Qt platform plugin “{platform}” not found (looked in {where}); "
                      "reinstall the program or set QT_QPA_PLATFORM to an available platform")


# ---------------------------------------------------------------- the checks


@dataclass
class SelfTest:
    """The checks, run in order inside one temporary home; later checks use what earlier ones set up."""

    workdir: Path
    samples: Path = field(default_factory=samples_dir)
    actor: Any = None
    opened: Any = None
    window_size: tuple[int, int] | None = None
    app: Any = None

    # -- resources

    def check_resources(self) -> str:
        root = paths.resources_dir()
        wanted = [root / "icons" / "org.rcrm.Desktop.svg", root / "icons" / "org.rcrm.Desktop-256.png",
                  root / "linux" / "org.rcrm.Desktop.desktop", root / "linux" / "org.rcrm.Desktop.metainfo.xml",
                  *(sample_path(fmt, self.samples) for fmt in SAMPLE_FORMATS)]
        missing = [str(p) for p in wanted if not p.is_file() or p.stat().st_size == 0]
        if missing:
            raise CheckFailed(f"missing or empty: {', '.join(missing)}")
        return f"icons, desktop entry, AppStream file and {len(SAMPLE_FORMATS)} audio samples in {root}"

    # -- drivers

    def check_drivers(self) -> str:
        import argon2
        import psycopg2
        import pymysql
        from argon2.low_level import Type, hash_secret_raw

        libpq = psycopg2.extensions.libpq_version()
        digest = hash_secret_raw(b"self-test", b"rcrm-self-test", time_cost=1, memory_cost=1024, parallelism=1,
                                 hash_len=16, type=Type.ID)
        if len(digest) != 16:
            raise CheckFailed("argon2 returned a hash of the wrong length")
        version = getattr(argon2, "__version__", None)
        if version is None:
            from importlib.metadata import version as dist_version

            version = dist_version("argon2-cffi")
        mysql_version = getattr(pymysql, "VERSION_STRING", pymysql.__version__)
        return (f"psycopg2 {psycopg2.__version__.split()[0]} (libpq {libpq}), PyMySQL {mysql_version}, "
                f"argon2-cffi {version}")

    # -- database

    def check_database(self) -> str:
        from rcrm_desktop.core import audit, operators
        from rcrm_desktop.core.instance import open_instance
        from rcrm_desktop.db import migrations

        url = "sqlite:///" + (self.workdir / "data" / "selftest.sqlite3").as_posix()
        opened = open_instance(url, create=True)
        version = migrations.schema_version()
        if version != migrations.CURRENT_VERSION:
            raise CheckFailed(f"schema version {version} after migrating, expected {migrations.CURRENT_VERSION}")
        operators.bootstrap_admin(_ADMIN, _ADMIN_PASSWORD, "Self-test")
        actor = operators.authenticate(_ADMIN, _ADMIN_PASSWORD)
        report = audit.verify_chain()
        if not report.ok:
            raise CheckFailed(f"audit chain {report.summary()}")
        self.opened, self.actor = opened, actor
        return (f"temporary SQLite instance migrated to schema {version}, administrator logged in, "
                f"audit chain {report.summary()}")

    # -- crash import

    def check_crashes(self) -> str:
        if self.actor is None:
            raise CheckSkipped("needs the database check, which failed")
        from rcrm_desktop.core import crash_samples, crashes, operators
        from rcrm_desktop.core.permissions import Role
        from rcrm_desktop.db.models import CrashEvent, utcnow

        operators.create_operator(self.actor, _SUPPORT, "Self-test support", Role.SUPPORT, _ADMIN_PASSWORD)
        support = operators.authenticate(_SUPPORT, _ADMIN_PASSWORD)
        events = crash_samples.sample_events(CRASH_EVENTS, seed=5, user_ids=[], now=utcnow())
        source = self.workdir / "crash-events.ndjson"
        source.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
        report = crashes.import_events(support, source, workers=2)
        if report.workers != 2:
            raise CheckFailed("the crash import's worker processes did not start, so imports run in one process")
        if report.imported != len(events) or report.refused_count:
            raise CheckFailed(f"{report.summary()} ({len(events)} sample events)")
        leaked = CrashEvent.select().where(CrashEvent.payload.contains("@example.")).count()
        if leaked:
            raise CheckFailed(f"{leaked} stored events still hold an e-mail address: scrubbing did not run")
        return (f"{report.imported} sample events imported through 2 worker processes in {report.seconds:.1f} s, "
                f"{report.groups_created} groups, scrubbed")

    # -- Qt

    def _application(self) -> Any:
        if self.app is None:
            from rcrm_desktop.ui.app import create_application

            self.app = create_application([EXECUTABLE])
        return self.app

    def check_qt(self) -> str:
        if self.actor is None:
            raise CheckSkipped("needs the database check, which failed")
        platform = os.environ.get("QT_QPA_PLATFORM") or "offscreen"
        platform_plugin(platform)
        from PySide6.QtCore import QThreadPool

        from rcrm_desktop.ui import tasks
        from rcrm_desktop.ui.app import build_main_window
        from rcrm_desktop.ui.session import AppSession

        app = self._application()
        start = time.perf_counter()
        tasks.set_synchronous(True)
        window = build_main_window(AppSession(self.actor, self.opened, "Self-test instance"),
                                   idle_timeout_ms=3_600_000)
        try:
            window.show()
            for _ in range(5):
                app.processEvents()
            image = window.grab().toImage()
            elapsed_ms = (time.perf_counter() - start) * 1000
            if image.isNull() or image.width() == 0 or image.height() == 0:
                raise CheckFailed("the main window rendered an empty picture")
            colours = distinct_colours(image)
            if colours < 3:
                raise CheckFailed(f"the main window rendered a uniform picture ({colours} colour(s)) — "
                                  "no widgets or text were drawn")
            self.window_size = (image.width(), image.height())
        finally:
            window.close()
            app.processEvents()
            window.deleteLater()
            app.processEvents()
            tasks.set_synchronous(False)
            QThreadPool.globalInstance().waitForDone(5000)
        return (f"main window rendered {image.width()}x{image.height()} in {elapsed_ms:.0f} ms "
                f"({colours} colours, platform {app.platformName()})")

    def check_icons(self) -> str:
        if self.app is None:
            raise CheckSkipped("needs the qt check, which failed")
        from rcrm_desktop.ui import icons, style

        svg = paths.resource("icons", "org.rcrm.Desktop.svg")
        if not svg.is_file():
            raise CheckFailed(f"{svg} is missing")
        app_icon = style.app_icon()
        pixmap = app_icon.pixmap(64, 64)
        if pixmap.isNull() or distinct_colours(pixmap.toImage()) < 2:
            raise CheckFailed("the application icon does not draw (Qt's SVG image plugin missing?)")
        glyph = icons.icon("shield-account", "#202020").pixmap(32, 32)
        if glyph.isNull() or distinct_colours(glyph.toImage()) < 2:
            raise CheckFailed("QtAwesome's icon font does not draw (its fonts are missing)")
        return "application icon (SVG) and QtAwesome icon font draw"

    # -- multimedia

    def check_multimedia(self) -> str:
        plugins = find_qt_plugins("multimedia", "ffmpeg")
        if not plugins:
            where = ", ".join(str(d / "multimedia") for d in qt_plugin_dirs()) or "no Qt plugin folder found"
            raise CheckFailed(f"Qt Multimedia's FFmpeg plugin is missing (looked in {where})")
        from PySide6.QtCore import QCoreApplication

        if QCoreApplication.instance() is None:
            self.app = QCoreApplication([EXECUTABLE])
        decoded = []
        for fmt in SAMPLE_FORMATS:
            seconds = qt_decode_seconds(sample_path(fmt, self.samples))
            if abs(seconds - SAMPLE_SECONDS) > DURATION_TOLERANCE_S:
                raise CheckFailed(f"Qt decoded {seconds:.2f} s of sample.{fmt}, expected {SAMPLE_SECONDS:.2f} s")
            decoded.append(fmt)
        return f"Qt's FFmpeg backend ({plugins[0].name}) decodes {', '.join(decoded)}"

    # -- ffmpeg

    def check_ffmpeg(self) -> str:
        from rcrm_desktop.audio.probe import find_tool

        versions = []
        for name in ("ffmpeg", "ffprobe"):
            tool = find_tool(name)
            if tool is None:
                raise CheckFailed(f"{name} not found: install ffmpeg (apt install ffmpeg), or set "
                                  f"RCRM_{name.upper()} to its full path")
            try:
                result = subprocess.run([tool, "-hide_banner", "-version"], capture_output=True, text=True,
                                        timeout=30, check=False, stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise CheckFailed(f"{tool} does not run: {exc.strerror}") from exc
            if result.returncode != 0:
                raise CheckFailed(f"{tool} -version failed: {result.stderr.strip()[:200]}")
            first = (result.stdout.splitlines() or [""])[0]
            versions.append(f"{tool} ({first.split(' Copyright')[0]})")
        return "; ".join(versions)

    # -- audio

    def check_audio(self, fmt: str) -> str:
        from rcrm_desktop.audio import probe as audio_probe
        from rcrm_desktop.audio import synth

        missing = [name for name in ("ffmpeg", "ffprobe") if audio_probe.find_tool(name) is None]
        if missing:
            raise CheckFailed(f"needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                              "not installed (see the ffmpeg check)")
        source = sample_path(fmt, self.samples)
        info = audio_probe.probe(source)
        if info.format != fmt:
            raise CheckFailed(f"{source.name} probes as {info.format}, not {fmt}")
        if abs(info.duration_ms / 1000 - SAMPLE_SECONDS) > DURATION_TOLERANCE_S:
            raise CheckFailed(f"{source.name} lasts {info.duration_ms} ms, expected {SAMPLE_SECONDS * 1000:.0f} ms")
        blocks, low, high = waveform(source)
        if high - low < 1000:
            raise CheckFailed(f"the waveform of {source.name} is flat (peaks {low}…{high})")
        decoded = self.workdir / f"decoded-{fmt}.wav"
        decode_to_wav(source, decoded)
        encoded = synth.encode(decoded, self.workdir / f"reencoded.{fmt}", fmt)
        again = audio_probe.probe(encoded)
        if again.format != fmt or abs(again.duration_ms - info.duration_ms) > DURATION_TOLERANCE_S * 1000:
            raise CheckFailed(f"re-encoded {fmt} probes as {again.format}, {again.duration_ms} ms")
        return (f"{info.duration_ms / 1000:.2f} s, {info.sample_rate} Hz, {info.channels} ch; waveform "
                f"{blocks} blocks ({low}…{high}); decoded and re-encoded ({again.size_bytes // 1024 or 1} KB)")

    # -- running

    def functions(self) -> dict[str, Callable[[], str]]:
        table: dict[str, Callable[[], str]] = {
            "resources": self.check_resources, "drivers": self.check_drivers, "database": self.check_database,
            "crashes": self.check_crashes, "qt": self.check_qt, "icons": self.check_icons,
            "multimedia": self.check_multimedia, "ffmpeg": self.check_ffmpeg,
        }
        for fmt in SAMPLE_FORMATS:
            table[f"audio-{fmt}"] = (lambda f=fmt: self.check_audio(f))  # type: ignore[misc]
        return table

    def run(self, only: Sequence[str] | None = None,
            report: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
        results = []
        for name, function in self.functions().items():
            if only and name not in only:
                continue
            start = time.perf_counter()
            with captured_stderr() as noise:
                try:
                    result = CheckResult(name, "ok", function())
                except CheckSkipped as exc:
                    result = CheckResult(name, "skip", str(exc))
                except CheckFailed as exc:
                    result = CheckResult(name, "FAIL", str(exc))
                except Exception as exc:  # noqa: BLE001 - a self-test reports every failure, it never crashes
                    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                    result = CheckResult(name, "FAIL", f"{type(exc).__name__}: {message}".replace("\n", " "))
            if result.status == "FAIL" and noise:
                result.detail += f" [stderr: {noise[-1].strip()[:300]}]"
            result.seconds = time.perf_counter() - start
            results.append(result)
            if report is not None:
                report(result)
        return results


# ---------------------------------------------------------------- helpers used by the checks


def distinct_colours(image: Any, columns: int = 64, rows: int = 40) -> int:
    """How many different colours a grid of ``columns × rows`` points of a ``QImage`` has."""
    width, height = image.width(), image.height()
    if width == 0 or height == 0:
        return 0
    seen = set()
    for row in range(rows):
        y = min(height - 1, int((row + 0.5) * height / rows))
        for column in range(columns):
            seen.add(image.pixel(min(width - 1, int((column + 0.5) * width / columns)), y))
    return len(seen)


def waveform(path: Path) -> tuple[int, int, int]:
    """(blocks, lowest, highest) of the fine min/max peaks of ``path``.

    Uses the program's own waveform code (``audio.peaks``); a build without it
    falls back to min/max blocks of 256 frames computed with numpy from the
    samples ffmpeg decodes.
    """
    try:
        from rcrm_desktop.audio import peaks
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("rcrm_desktop.audio"):
            raise
        return _numpy_waveform(path)
    result = peaks.compute_peaks(path)
    level = min(result.mins)
    mins, maxs = result.mins[level], result.maxs[level]
    if len(mins) == 0:
        raise CheckFailed(f"{path.name} gave no waveform")
    return len(mins), int(mins.min()), int(maxs.max())


def _numpy_waveform(path: Path, block: int = 256) -> tuple[int, int, int]:
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="rcrm-selftest-wave-") as tmp:
        wav = decode_to_wav(path, Path(tmp) / "decoded.wav")
        with wave.open(str(wav), "rb") as reader:
            channels = reader.getnchannels()
            samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, channels)
    blocks = -(-len(samples) // block)
    padded = np.zeros((blocks * block, channels), dtype=np.int16)
    padded[:len(samples)] = samples
    shaped = padded.reshape(blocks, block, channels)
    return blocks, int(shaped.min()), int(shaped.max())


def decode_to_wav(source: Path, target: Path) -> Path:
    """Decode ``source`` to a 16-bit PCM WAV with ffmpeg (the first step of converting a recording)."""
    from rcrm_desktop.audio.probe import AudioError, AudioToolMissing, find_tool

    ffmpeg = find_tool("ffmpeg")
    if ffmpeg is None:
        raise AudioToolMissing(f"Cannot decode {source.name}: ffmpeg is not installed.")
    result = subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                             "-c:a", "pcm_s16le", "-f", "wav", str(target)],
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise AudioError(f"{source.name} cannot be decoded: {reason}", "corrupt", source)
    with wave.open(str(target), "rb") as wav:
        if wav.getnframes() == 0:
            raise AudioError(f"{source.name} decoded to no samples", "empty", source)
    return target


def qt_decode_seconds(path: Path, timeout_ms: int = 10_000) -> float:
    """Seconds of audio Qt Multimedia's ``QAudioDecoder`` gets from ``path`` (needs a ``QCoreApplication``)."""
    from PySide6.QtCore import QEventLoop, QTimer, QUrl
    from PySide6.QtMultimedia import QAudioDecoder

    decoder = QAudioDecoder()
    seconds = [0.0]
    errors: list[str] = []
    loop = QEventLoop()

    def take() -> None:
        buffer = decoder.read()
        rate = buffer.format().sampleRate()
        if rate > 0:
            seconds[0] += buffer.frameCount() / rate

    def failed(_error: object) -> None:
        errors.append(decoder.errorString() or "decoding failed")
        loop.quit()

    decoder.bufferReady.connect(take)
    decoder.finished.connect(loop.quit)
    decoder.error.connect(failed)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    decoder.setSource(QUrl.fromLocalFile(str(path)))
    timer.start(timeout_ms)
    decoder.start()
    loop.exec()
    timer.stop()
    decoder.stop()
    decoder.deleteLater()
    if errors:
        raise CheckFailed(f"Qt cannot decode {path.name}: {errors[0]}")
    if seconds[0] == 0:
        raise CheckFailed(f"Qt decoded no audio from {path.name}")
    return seconds[0]


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what is written to the process's stderr (fd 2) while the block runs, instead of showing it.

    Qt and FFmpeg write warnings there ("Could not update timestamps …") that
    would drown the check lines; a failing check shows the last one. Where fd 2
    cannot be redirected (a windowed Windows program has none) nothing is collected.
    """
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line for line in sink.read().decode("utf-8", "replace").splitlines() if line.strip())


@contextlib.contextmanager
def temporary_home() -> Iterator[Path]:
    """A temporary ``RCRM_HOME`` (data, settings, logs, caches) for the duration of the self-test."""
    previous = os.environ.get("RCRM_HOME")
    with tempfile.TemporaryDirectory(prefix="rcrm-selftest-") as tmp:
        os.environ["RCRM_HOME"] = tmp
        try:
            yield Path(tmp)
        finally:
            from rcrm_desktop.db import connection

            connection.close()
            if previous is None:
                os.environ.pop("RCRM_HOME", None)
            else:
                os.environ["RCRM_HOME"] = previous


def run_self_test(only: Sequence[str] | None = None, samples: Path | None = None, as_json: bool = False,
                  out: Callable[[str], None] = print) -> int:
    """Run the checks (all, or those named in ``only``); print one line each; 0 when all passed, else 1."""
    use_offscreen_by_default()
    unknown = sorted(set(only or ()) - set(CHECKS))
    if unknown:
        out(f"unknown check(s): {', '.join(unknown)}; the checks are: {', '.join(CHECKS)}")
        return 2
    started = time.perf_counter()
    with temporary_home() as home:
        test = SelfTest(workdir=home, samples=samples or samples_dir())
        report = None if as_json else (lambda r: out(r.line()))
        results = test.run(only, report)
    failed = [r for r in results if not r.ok]
    elapsed = time.perf_counter() - started
    if as_json:
        out(json.dumps({"ok": not failed, "version": __version__, "frozen": bool(getattr(sys, "frozen", False)),
                        "seconds": round(elapsed, 3), "checks": [r.as_json() for r in results]}, indent=2))
    elif failed:
        out(f"{APP_NAME} {__version__} self-test FAILED: {len(failed)} of {len(results)} checks "
            f"({', '.join(r.name for r in failed)}) in {elapsed:.1f} s")
    else:
        out(f"{APP_NAME} {__version__} self-test passed: {len(results)} checks in {elapsed:.1f} s")
    return 1 if failed else 0


# ---------------------------------------------------------------- start-up probe


def _wait_painted(widget: Any, app: Any, timeout_s: float = 20.0) -> float:
    """Process events until ``widget`` has painted once; returns the wall-clock time (``time.time()``) of that."""
    from PySide6.QtCore import QEvent, QObject

    painted: list[float] = []

    class PaintWatcher(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and not painted:
                painted.append(time.time())
            return False

    watcher = PaintWatcher()
    widget.installEventFilter(watcher)
    widget.show()
    deadline = time.monotonic() + timeout_s
    while not painted and time.monotonic() < deadline:
        app.processEvents()
        if not painted:
            time.sleep(0.001)
    widget.removeEventFilter(watcher)
    if not painted:
        raise CheckFailed(f"{type(widget).__name__} was not painted within {timeout_s:.0f} s")
    return painted[0]


def process_started_at() -> float | None:
    """Wall-clock time this process started (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        return time.time() - uptime + int(stat[19]) / ticks
    except (OSError, ValueError, IndexError):
        return None


def startup_probe(database: str | None = None, out: Callable[[str], None] = print) -> int:
    """Start like the GUI does, measure, exit: prints JSON with when the log-in screen and the main window painted.

    With ``RCRM_OPERATOR``/``RCRM_PASSWORD`` set it logs into the given (or the
    default) instance; otherwise it makes a temporary instance with an
    administrator first (and says so in ``"temporary_instance"``).
    """
    use_offscreen_by_default()
    operator = os.environ.get("RCRM_OPERATOR")
    password = os.environ.get("RCRM_PASSWORD")
    with contextlib.ExitStack() as stack:
        temporary = not (operator and password)
        if temporary:
            home = stack.enter_context(temporary_home())
            database = "sqlite:///" + (home / "data" / "probe.sqlite3").as_posix()
            operator, password = _ADMIN, _ADMIN_PASSWORD
        assert operator is not None and password is not None
        from rcrm_desktop.core import operators
        from rcrm_desktop.core.instance import open_instance
        from rcrm_desktop.ui.app import build_main_window, create_application, instance_name
        from rcrm_desktop.ui.dialogs.login import LoginDialog
        from rcrm_desktop.ui.session import AppSession

        marks: dict[str, float] = {"imported": time.time()}
        app = create_application([EXECUTABLE])
        marks["application_created"] = time.time()
        opened = open_instance(database, create=temporary)
        if temporary:
            operators.bootstrap_admin(operator, password, "Start-up probe")
        marks["instance_opened"] = time.time()
        name = instance_name()
        dialog = LoginDialog(opened, name)
        marks["login_shown"] = _wait_painted(dialog, app)
        dialog.hide()
        actor = operators.authenticate(operator, password)
        marks["logged_in"] = time.time()
        window = build_main_window(AppSession(actor=actor, instance=opened, instance_name=name))
        marks["main_window_shown"] = _wait_painted(window, app)
        started = process_started_at()
        out(json.dumps({
            "process_started_at": started,
            **{f"{key}_at": value for key, value in marks.items()},
            **{f"{key}_ms": None if started is None else round((value - started) * 1000, 1)
               for key, value in marks.items()},
            "temporary_instance": temporary,
            "platform": app.platformName(),
            "frozen": bool(getattr(sys, "frozen", False)),
        }))
        window.close()
        dialog.deleteLater()
        window.deleteLater()
        app.processEvents()
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(5000)
    return 0


# ---------------------------------------------------------------- samples


def write_samples(folder: Path, seconds: float = SAMPLE_SECONDS, seed: int = 7) -> list[Path]:
    """Make the bundled samples: ``seconds`` of synthetic stereo call audio at 8 kHz in every format.

    ``python -m rcrm_desktop.selftest --write-samples resources/samples`` (needs ffmpeg).
    """
    from rcrm_desktop.audio import synth

    folder.mkdir(parents=True, exist_ok=True)
    wav = synth.write_wav(folder / "sample.wav", synth.synth_call(seconds, SAMPLE_RATE, True, seed), SAMPLE_RATE)
    written = [wav]
    for fmt in SAMPLE_FORMATS:
        if fmt != "wav":
            written.append(synth.encode(wav, folder / f"sample.{fmt}", fmt))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "--write-samples":
        for path in write_samples(Path(args[1])):
            print(f"{path} ({path.stat().st_size // 1024} KB)")
        return 0
    return run_self_test(args or None)


if __name__ == "__main__":
    sys.exit(main())
