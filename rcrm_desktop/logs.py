"""The rotating log file (platformdirs log dir). It never holds personal data.

Only ids, counts, actions and technical messages are logged; names, contact
data, search text and audio never are (privacy rules). Database URLs are logged
without their password.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from rcrm_desktop import paths

LOG_FILE_NAME = "rcrm-desktop.log"
_configured = False


def log_file() -> Path:
    return paths.log_dir() / LOG_FILE_NAME


def setup_logging(verbose: bool = False) -> Path | None:
    """Log to a rotating file (1 MiB × 5); returns its path, or ``None`` when the folder is not writable."""
    global _configured
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # peewee logs every SQL statement with its parameters at DEBUG: names and e-mails would reach the file.
    logging.getLogger("peewee").setLevel(logging.INFO)
    if _configured:
        return log_file()
    _configured = True
    target = log_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=1_048_576, backupCount=5, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
        target = None  # type: ignore[assignment]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return target
