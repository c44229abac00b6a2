"""``python -m rcrm_desktop`` (also the PyInstaller entry point)."""

from __future__ import annotations

import sys

from rcrm_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
