"""The errors RCRM Desktop shows to people.

Every error raised on purpose by ``db/`` or ``core/`` is an ``RcrmError`` whose
message is a complete sentence for an operator: what was wrong and, where there
is one, what to do. The GUI shows it in a message box, the CLI prints it and
exits non-zero; neither shows a traceback for it.
"""

from __future__ import annotations


class RcrmError(Exception):
    """Base of every error meant for the operator. ``exit_code`` is used by the CLI."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InstanceError(RcrmError):
    """The instance database cannot be opened or used (URL, server, file, schema)."""

    exit_code = 3


class SchemaTooNewError(InstanceError):
    """The database was written by a newer RCRM Desktop; this program must not touch it."""


class AuthenticationError(RcrmError):
    """Wrong user name or password, disabled or locked account."""

    exit_code = 4


class PermissionDenied(RcrmError):
    """The acting operator's role does not grant the permission the operation needs."""

    exit_code = 5


class NotFoundError(RcrmError):
    exit_code = 6


class ValidationError(RcrmError):
    """Input that breaks a rule (too long, wrong format, missing reason, ...)."""

    exit_code = 2


class ConflictError(RcrmError):
    """Another workstation changed the record since it was read (optimistic concurrency).

    ``current`` carries the record's current values so the operator can be shown them.
    """

    exit_code = 7

    def __init__(self, message: str, current: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.current = current or {}
