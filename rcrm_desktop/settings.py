"""Every option of RCRM Desktop, declared once with its default.

Two kinds: *workstation* options come from the command line or the environment
(which instance to open, who operates it); *instance* options live in the
instance database (``InstanceSetting``) so that every workstation of one
instance obeys the same rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rcrm_desktop import paths


@dataclass(frozen=True)
class InstanceOption:
    key: str
    default: str
    description: str


#: Instance options (stored in the database, edited by an administrator).
INSTANCE_OPTIONS: dict[str, InstanceOption] = {
    opt.key: opt
    for opt in (
        InstanceOption("idle_lock_minutes", "10", "Lock a workstation session after this many idle minutes"),
        InstanceOption("recordings_root", "", "Folder of the recordings store (empty: beside the embedded database)"),
        InstanceOption("recordings_max_file_mb", "1024",
                       "Largest audio file an import accepts, in MiB (bigger files are refused with the reason)"),
        InstanceOption("child_consent_age", "16", "Age of digital consent, GDPR Art. 8 (member states: 13–16)"),
        InstanceOption("public_holidays", "",
                       "Days off for rights-request deadlines (Reg. 1182/71): country codes (SK, CZ), dates "
                       "YYYY-MM-DD, yearly days MM-DD, comma-separated; empty: SK, CZ"),
        InstanceOption("instance_name", "RCRM instance", "Name shown in the title and status bar"),
        InstanceOption("demo_instance", "0", "1 on a demo instance: the log-in screen shows the demo credentials"),
        InstanceOption("demo_login_hint", "", "Demo credentials shown on the log-in screen of a demo instance only"),
        InstanceOption("scrub_extra_rules", "[]",
                       "Crash-report scrub rules added by an administrator (JSON; edit with “crashes rules --add”)"),
    )
}

#: Log-in lock-out: 5 failed attempts lock the account for 15 minutes.
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15

#: Longest accepted length of a subject's name and other free-text fields.
MAX_NAME_LENGTH = 200
MAX_FIELD_LENGTH = 320
MAX_REASON_LENGTH = 2000

#: Rows fetched per keyset page by the table views and the CLI.
PAGE_SIZE = 200


def database_url(cli_value: str | None = None) -> str:
    """The instance URL: ``--database``, else ``RCRM_DATABASE_URL``, else the embedded SQLite file."""
    return cli_value or os.environ.get("RCRM_DATABASE_URL") or paths.default_database_url()
