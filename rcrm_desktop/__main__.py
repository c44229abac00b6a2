"""``python -m rcrm_desktop`` (also the PyInstaller entry point)."""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    # In the installed (frozen) program, a crash import's worker processes start this executable again;
    # freeze_support runs such a worker and exits before the command line is read (a no-op otherwise).
    multiprocessing.freeze_support()
    from rcrm_desktop.cli import main

    sys.exit(main())
