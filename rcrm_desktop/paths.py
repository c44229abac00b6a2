"""Where RCRM Desktop keeps its files.

Everything lives in the platformdirs locations of the operating system user, and
every location can be moved with an environment variable (``RCRM_HOME`` moves
them all under one folder, which is what the tests and a portable install use).
Resources are found next to the package, or inside a PyInstaller bundle.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from rcrm_desktop import APP_ID, ORG_NAME

_APP_DIR_NAME = "rcrm-desktop"


def _home_override() -> Path | None:
    home = os.environ.get("RCRM_HOME")
    return Path(home) if home else None


def data_dir() -> Path:
    """The folder of the embedded instance (SQLite file, recordings store)."""
    home = _home_override()
    if home is not None:
        return home / "data"
    return Path(platformdirs.user_data_dir(_APP_DIR_NAME, ORG_NAME))


def config_dir() -> Path:
    """The folder of per-workstation settings (window layout, last instance URL)."""
    home = _home_override()
    if home is not None:
        return home / "config"
    return Path(platformdirs.user_config_dir(_APP_DIR_NAME, ORG_NAME))


def log_dir() -> Path:
    """The folder of the rotating log file. The log never holds personal data."""
    home = _home_override()
    if home is not None:
        return home / "log"
    return Path(platformdirs.user_log_dir(_APP_DIR_NAME, ORG_NAME))


def cache_dir() -> Path:
    """The folder of caches (waveforms). Caches are erased with their subject."""
    home = _home_override()
    if home is not None:
        return home / "cache"
    return Path(platformdirs.user_cache_dir(_APP_DIR_NAME, ORG_NAME))


def default_database_path() -> Path:
    return data_dir() / "instance.sqlite3"


def default_database_url() -> str:
    return "sqlite:///" + default_database_path().as_posix()


def default_recordings_root() -> Path:
    return data_dir() / "recordings"


def resources_dir() -> Path:
    """The ``resources`` folder: beside the package, or inside a frozen bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def settings_file() -> Path:
    """The per-workstation QSettings INI file (geometry, splitter sizes, view state)."""
    return config_dir() / f"{APP_ID}.ini"
