"""Start-up time and bundle size (``rcrm-desktop bench --only startup``).

Figures:

* process start → log-in screen painted, and → main window painted after
  logging in, for the program as run from source (``python -m rcrm_desktop``)
  and, when a built bundle exists (``dist/rcrm-desktop`` or an installed
  ``/opt/rcrm-desktop``), for the bundle. Each is the median of several fresh
  processes (``self-test --startup-probe``), offscreen, on an embedded
  instance prepared beforehand (so instance creation is not counted; the
  log-in includes one Argon2id verification, shown in the note). Target: main
  window < 0.8 s. Areas are built when first shown (``ui.areas``), so this is
  the rail, the menus and the first area.
* the limit next to the source figures: a bare PySide6 program that creates
  its ``QApplication`` and paints one empty window — what any Qt program on
  this Python pays before its own code runs;
* the bundle's size on disk (``du``). Target: < 250 MB.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rcrm_desktop.benchmarks import BenchContext, Figure

SUITE = "startup"
#: Process start → main window painted, log-in included (the scale issue's target; the installers' was 2 s).
TARGET_WINDOW_S = 0.8
TARGET_BUNDLE_MB = 250.0
_PASSWORD = "startup bench password 1"

#: A PySide6 program that does nothing but show one empty window (the floor for any Qt program).
_BARE_QT = """
import sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv)
painted = []
class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not painted:
            painted.append(time.time())
        return False
w = QWidget(); w.resize(1280, 800); watch = Watch(); w.installEventFilter(watch); w.show()
while not painted:
    app.processEvents()
print(painted[0])
"""


def repository_root() -> Path:
    return Path(__file__).resolve().parents[2]


def bundle_dir() -> Path | None:
    """A built one-folder bundle: ``$RCRM_BUNDLE_DIR``, ``dist/rcrm-desktop`` of the source tree, or ``/opt``."""
    candidates = [os.environ.get("RCRM_BUNDLE_DIR"), str(repository_root() / "dist" / "rcrm-desktop"),
                  "/opt/rcrm-desktop"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "rcrm-desktop").is_file():
            return Path(candidate)
    return None


def disk_usage_mb(folder: Path) -> float:
    """Like ``du -s``: allocated blocks of every file (hard links once), in MiB."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += stat.st_blocks * 512
    return total / 1048576


def source_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "rcrm_desktop"]


def _env(home: Path) -> dict[str, str]:
    """The probe's environment: a clean ``RCRM_*`` set, and Python allowed to cache its bytecode.

    ``PYTHONDONTWRITEBYTECODE`` (set on some build machines) would make every
    run compile the program's modules from source again — a cost an installed
    program never pays (pip and PyInstaller ship compiled bytecode), so the
    warm-up run is let write it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCRM_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"RCRM_HOME": str(home), "RCRM_OPERATOR": "admin", "RCRM_PASSWORD": _PASSWORD,
                "QT_QPA_PLATFORM": "offscreen"})
    return env


def prepare_instance(home: Path, command: list[str]) -> None:
    """An embedded instance with the administrator ``admin`` in ``home`` (made once, used by every run)."""
    env = _env(home)
    env["RCRM_ADMIN_PASSWORD"] = _PASSWORD
    result = subprocess.run([*command, "init"], env=env, capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"cannot prepare the start-up instance: {result.stderr.strip()[-300:]}")


def probe_once(command: list[str], home: Path) -> tuple[float, float, float]:
    """(seconds to the log-in screen, to the main window, spent checking the password) of one fresh process."""
    launched = time.time()
    result = subprocess.run([*command, "self-test", "--startup-probe"], env=_env(home), capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"start-up probe failed ({result.returncode}): {result.stderr.strip()[-300:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return (data["login_shown_at"] - launched, data["main_window_shown_at"] - launched,
            data["logged_in_at"] - data["login_shown_at"])


def bare_qt_once(python: str) -> float:
    launched = time.time()
    result = subprocess.run([python, "-c", _BARE_QT], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"bare Qt program failed: {result.stderr.strip()[-300:]}")
    return float(result.stdout.strip().splitlines()[-1]) - launched


def _median_probe(command: list[str], home: Path, repeat: int) -> tuple[float, float, float]:
    probe_once(command, home)  # warm-up: file cache, bytecode cache
    runs = [probe_once(command, home) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs))


def run(ctx: BenchContext) -> list[Figure]:
    repeat = 3 if ctx.quick else max(3, ctx.repeat)
    home = ctx.workdir / "startup-home"
    figures: list[Figure] = []
    source = source_command()
    prepare_instance(home, source)
    label = "this program" if getattr(sys, "frozen", False) else "source"

    floor: float | None = None
    if not getattr(sys, "frozen", False):
        bare_qt_once(sys.executable)
        floor = statistics.median(bare_qt_once(sys.executable) for _ in range(repeat))
    ctx.log(f"  start-up of the {label} program, {repeat} runs …")
    login, window, hashing = _median_probe(source, home, repeat)
    figures.append(Figure(SUITE, f"start → log-in screen ({label})", login, "s", limit=floor,
                          limit_label="bare Qt window" if floor else None))
    figures.append(Figure(SUITE, f"start → main window ({label})", window, "s", limit=floor,
                          limit_label="bare Qt window" if floor else None, target=f"< {TARGET_WINDOW_S:g} s",
                          met=window < TARGET_WINDOW_S,
                          note=f"includes the log-in's Argon2id check ({hashing * 1000:.0f} ms)"))

    bundle = bundle_dir()
    if bundle is None:
        ctx.log("  no built bundle (make bundle / make package): bundle figures skipped")
        return figures
    executable = [str(bundle / "rcrm-desktop")]
    if executable[0] != sys.executable:
        ctx.log(f"  start-up of the bundle {bundle}, {repeat} runs …")
        login, window, hashing = _median_probe(executable, home, repeat)
        figures.append(Figure(SUITE, "start → log-in screen (bundle)", login, "s"))
        figures.append(Figure(SUITE, "start → main window (bundle)", window, "s", target=f"< {TARGET_WINDOW_S:g} s",
                              met=window < TARGET_WINDOW_S,
                              note=f"includes the log-in's Argon2id check ({hashing * 1000:.0f} ms)"))
    size = disk_usage_mb(bundle)
    figures.append(Figure(SUITE, "bundle size on disk", size, "MB", target=f"< {TARGET_BUNDLE_MB:g} MB",
                          met=size < TARGET_BUNDLE_MB, note=str(bundle)))
    return figures
