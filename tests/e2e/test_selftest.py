"""``rcrm-desktop self-test``: passes on a working installation, and each check fails when what it checks is broken.

Checks that use Qt run in a subprocess (the test process must not create a
``QCoreApplication`` before the GUI tests make their ``QApplication``); the
Qt-free checks also run in-process, where their dependencies are easy to break
with ``monkeypatch``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rcrm_desktop import paths, selftest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RCRM_") and k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["RCRM_HOME"] = str(home)
    env.update(extra)
    return env


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rcrm_desktop", "self-test", *args], capture_output=True,
                          text=True, env=clean_env(home, **env), timeout=240, stdin=subprocess.DEVNULL, check=False)


def run_patched(home: Path, patch: str, only: str, samples: Path | None = None,
                **env: str) -> subprocess.CompletedProcess[str]:
    """The self-test in a subprocess after ``patch`` (Python code, lines indented by 8 spaces) broke something."""
    samples_arg = f"Path({str(samples)!r})" if samples else "None"
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from rcrm_desktop import selftest
        {patch}
        sys.exit(selftest.run_self_test({only.split(",")!r}, samples={samples_arg}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(home, **env),
                          timeout=240, stdin=subprocess.DEVNULL, check=False)


def statuses(stdout: str) -> dict[str, str]:
    """``{check: status}`` from the self-test's lines."""
    result = {}
    for line in stdout.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("ok", "FAIL", "skip") and ":" in rest:
            result[rest.strip().split(":", 1)[0]] = status
    return result


@pytest.fixture
def corrupt_samples(tmp_path: Path) -> Path:
    """A copy of the samples in which ``sample.mp3`` is garbage."""
    folder = tmp_path / "samples"
    shutil.copytree(SAMPLES, folder)
    (folder / "sample.mp3").write_bytes(b"ID3" + bytes(range(256)) * 40)
    return folder


# ---------------------------------------------------------------- the whole self-test


@pytest.mark.slow
def test_self_test_passes_offscreen_without_a_display_and_leaves_no_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = run_cli(home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert statuses(proc.stdout) == {name: "ok" for name in selftest.CHECKS}
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ok   resources: ")
    assert any(line.startswith("ok   qt: main window rendered 1280x800") and "platform offscreen" in line
               for line in lines)
    assert lines[-1].startswith("RCRM Desktop") and "self-test passed" in lines[-1]
    assert not (home / "data").exists() and not (home / "config").exists(), "the self-test works in a temp folder"


@pytest.mark.slow
def test_self_test_json(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--json", "--only", "resources,database,audio-wav")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True and [c["name"] for c in data["checks"]] == ["resources", "database", "audio-wav"]


def test_unknown_check_is_refused(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--only", "qt,warp-drive")
    assert proc.returncode == 2 and "warp-drive" in proc.stdout


# ---------------------------------------------------------------- each check fails when its subject is broken


def test_ffmpeg_missing_fails_ffmpeg_and_audio_checks(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--only", "ffmpeg,audio-wav,audio-mp3", RCRM_FFMPEG="", RCRM_FFPROBE="")
    assert proc.returncode == 1
    assert statuses(proc.stdout) == {"ffmpeg": "FAIL", "audio-wav": "FAIL", "audio-mp3": "FAIL"}
    assert "FAIL ffmpeg: ffmpeg not found" in proc.stdout
    assert "self-test FAILED" in proc.stdout


def test_ffmpeg_that_does_not_run_fails(tmp_path: Path) -> None:
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    broken.chmod(0o755)
    proc = run_cli(tmp_path / "home", "--only", "ffmpeg", RCRM_FFMPEG=str(broken))
    assert proc.returncode == 1 and "FAIL ffmpeg:" in proc.stdout


def test_missing_qt_platform_plugin_fails_the_qt_check_without_aborting(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--only", "database,qt,icons", QT_QPA_PLATFORM="nosuchplatform")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # not a Qt abort (-6)
    assert statuses(proc.stdout) == {"database": "ok", "qt": "FAIL", "icons": "skip"}
    assert "Qt platform plugin “nosuchplatform” not found" in proc.stdout


def test_display_platform_without_a_display_fails_the_qt_check(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--only", "database,qt", QT_QPA_PLATFORM="xcb")  # DISPLAY is removed
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL qt: QT_QPA_PLATFORM=xcb needs a display" in proc.stdout


def test_qt_plugins_folder_missing_fails_qt_and_multimedia(tmp_path: Path) -> None:
    proc = run_patched(tmp_path / "home", "selftest.qt_plugin_dirs = lambda: []", "database,qt,multimedia")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert statuses(proc.stdout) == {"database": "ok", "qt": "FAIL", "multimedia": "FAIL"}
    assert "FFmpeg plugin is missing" in proc.stdout


def test_uniform_main_window_fails_the_qt_check(tmp_path: Path) -> None:
    proc = run_patched(tmp_path / "home", "selftest.distinct_colours = lambda image, *a, **k: 1", "database,qt")
    assert proc.returncode == 1
    assert "FAIL qt: the main window rendered a uniform picture" in proc.stdout


def test_missing_icon_font_fails_the_icons_check(tmp_path: Path) -> None:
    patch = ("from PySide6.QtGui import QIcon\n"
             "        from rcrm_desktop.ui import icons\n"
             "        icons.icon = lambda name, color=None: QIcon()")
    proc = run_patched(tmp_path / "home", patch, "database,qt,icons")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL icons: QtAwesome's icon font does not draw" in proc.stdout


def test_corrupt_sample_fails_its_audio_check_and_multimedia(tmp_path: Path, corrupt_samples: Path) -> None:
    proc = run_patched(tmp_path / "home", "", "multimedia,audio-wav,audio-mp3", samples=corrupt_samples)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert statuses(proc.stdout) == {"multimedia": "FAIL", "audio-wav": "ok", "audio-mp3": "FAIL"}


def test_migration_failure_fails_the_database_check(tmp_path: Path) -> None:
    patch = ("from rcrm_desktop.db import migrations\n"
             "        from rcrm_desktop.errors import InstanceError\n"
             "        def broken(**kwargs):\n"
             "            raise InstanceError('Migration step 1 failed: disk I/O error.')\n"
             "        migrations.migrate = broken")
    proc = run_patched(tmp_path / "home", patch, "database,qt")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL database: InstanceError: Migration step 1 failed" in proc.stdout
    assert "skip qt: needs the database check" in proc.stdout


# ---------------------------------------------------------------- Qt-free checks in-process


@pytest.fixture(autouse=True)
def keep_qt_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_self_test`` chooses Qt's platform and log rules through the environment; undo that after each test."""
    monkeypatch.setenv("QT_QPA_PLATFORM", os.environ.get("QT_QPA_PLATFORM") or "offscreen")
    monkeypatch.setenv("QT_LOGGING_RULES", os.environ.get("QT_LOGGING_RULES", ""))


def _lines(only: list[str], samples: Path | None = None) -> tuple[int, list[str]]:
    out: list[str] = []
    code = selftest.run_self_test(only, samples=samples, out=out.append)
    return code, out


def test_in_process_audio_check_fails_on_a_corrupt_sample(corrupt_samples: Path) -> None:
    code, out = _lines(["audio-mp3", "audio-ogg"], corrupt_samples)
    assert code == 1
    assert out[0].startswith("FAIL audio-mp3: ") and out[1].startswith("ok   audio-ogg: ")


def test_in_process_flat_waveform_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "waveform", lambda path: (63, 0, 0))
    code, out = _lines(["audio-flac"])
    assert code == 1 and "waveform of sample.flac is flat" in out[0]


def test_in_process_waveform_without_audio_peaks_falls_back_to_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    import rcrm_desktop.audio

    expected = selftest.waveform(SAMPLES / "sample.ogg")
    monkeypatch.delattr(rcrm_desktop.audio, "peaks", raising=False)
    monkeypatch.setitem(sys.modules, "rcrm_desktop.audio.peaks", None)
    assert selftest.waveform(SAMPLES / "sample.ogg") == expected


def test_in_process_missing_driver_fails_the_drivers_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    code, out = _lines(["drivers"])
    assert code == 1 and out[0].startswith("FAIL drivers: ") and "psycopg2" in out[0]


def test_in_process_missing_resources_fail_the_resources_check(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "resources_dir", lambda: tmp_path / "nothing")
    code, out = _lines(["resources"], samples=tmp_path / "nothing" / "samples")
    assert code == 1 and out[0].startswith("FAIL resources: missing or empty: ")


def test_in_process_broken_audit_chain_fails_the_database_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from rcrm_desktop.core import audit

    monkeypatch.setattr(audit, "verify_chain", lambda: audit.ChainReport(False, 2, 2, 2, "hash mismatch"))
    code, out = _lines(["database"])
    assert code == 1 and "FAIL database: audit chain BROKEN" in out[0]


def test_in_process_self_test_restores_rcrm_home(rcrm_home: Path) -> None:
    code, out = _lines(["database"])
    assert code == 0, out
    assert os.environ["RCRM_HOME"] == str(rcrm_home)
    assert not (rcrm_home / "data").exists()


# ---------------------------------------------------------------- start-up probe


@pytest.mark.slow
def test_startup_probe_reports_login_then_main_window(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "home", "--startup-probe")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["temporary_instance"] is True and data["platform"] == "offscreen"
    assert data["imported_at"] <= data["login_shown_at"] <= data["logged_in_at"] <= data["main_window_shown_at"]
    if data["process_started_at"] is not None:
        assert 0 < data["login_shown_ms"] < data["main_window_shown_ms"] < 60_000


def test_crash_import_workers_that_cannot_start_fail_the_crashes_check(tmp_path: Path) -> None:
    """A program whose entry point does not hand workers to ``multiprocessing`` imports in one process: caught."""
    patch = ("import concurrent.futures.process as process\n"
             "        from concurrent.futures.process import BrokenProcessPool\n"
             "        def broken(self, *args, **kwargs):\n"
             "            raise BrokenProcessPool('no workers')\n"
             "        process.ProcessPoolExecutor.submit = broken")
    proc = run_patched(tmp_path / "home", patch, "database,crashes")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL crashes: the crash import's worker processes did not start" in proc.stdout


def test_in_process_crashes_check_imports_through_workers() -> None:
    code, out = _lines(["database", "crashes"])
    assert code == 0, out
    assert out[1].startswith(f"ok   crashes: {selftest.CRASH_EVENTS} sample events imported through 2 worker")
