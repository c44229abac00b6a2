"""Roles, permissions and the one check every ``core`` operation makes.

Three roles (issue: the spine):

* ``admin`` — operators and instance settings;
* ``compliance`` — rights requests, rectification, erasure, retention, legal
  holds and the audit log;
* ``support`` — calls and crash reports; user accounts read-only.

The GUI hides what a role may not do, but the rule lives here: every function
in ``core`` that reads personal data or changes anything calls ``require``
before touching the database, so the CLI and any other front door obey the
same rules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rcrm_desktop.errors import PermissionDenied


class Role(enum.StrEnum):
    ADMIN = "admin"
    COMPLIANCE = "compliance"
    SUPPORT = "support"


class Permission(enum.StrEnum):
    OPERATORS_MANAGE = "operators.manage"
    OPERATORS_VIEW = "operators.view"
    SETTINGS_EDIT = "settings.edit"
    SUBJECTS_VIEW = "subjects.view"
    SUBJECTS_RECTIFY = "subjects.rectify"
    SUBJECTS_IMPORT = "subjects.import"
    SUBJECTS_ERASE = "subjects.erase"
    SUBJECTS_RESTRICT = "subjects.restrict"
    REQUESTS_VIEW = "requests.view"
    REQUESTS_MANAGE = "requests.manage"
    RECORDINGS_VIEW = "recordings.view"
    RECORDINGS_PLAY = "recordings.play"
    RECORDINGS_IMPORT = "recordings.import"
    RECORDINGS_ANNOTATE = "recordings.annotate"
    RECORDINGS_REDACT = "recordings.redact"
    RECORDINGS_EXPORT = "recordings.export"
    CRASHES_VIEW = "crashes.view"
    CRASHES_IMPORT = "crashes.import"
    CRASHES_MANAGE = "crashes.manage"
    RETENTION_MANAGE = "retention.manage"
    HOLDS_MANAGE = "holds.manage"
    AUDIT_VIEW = "audit.view"
    DEMO_CREATE = "demo.create"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.OPERATORS_MANAGE,
            Permission.OPERATORS_VIEW,
            Permission.SETTINGS_EDIT,
            Permission.SUBJECTS_VIEW,
            Permission.AUDIT_VIEW,
            Permission.DEMO_CREATE,
        }
    ),
    Role.COMPLIANCE: frozenset(
        {
            Permission.OPERATORS_VIEW,
            Permission.SUBJECTS_VIEW,
            Permission.SUBJECTS_RECTIFY,
            Permission.SUBJECTS_IMPORT,
            Permission.SUBJECTS_ERASE,
            Permission.SUBJECTS_RESTRICT,
            Permission.REQUESTS_VIEW,
            Permission.REQUESTS_MANAGE,
            Permission.RECORDINGS_VIEW,
            Permission.RECORDINGS_PLAY,
            Permission.RECORDINGS_EXPORT,
            Permission.RECORDINGS_REDACT,
            Permission.CRASHES_VIEW,
            Permission.RETENTION_MANAGE,
            Permission.HOLDS_MANAGE,
            Permission.AUDIT_VIEW,
        }
    ),
    Role.SUPPORT: frozenset(
        {
            Permission.SUBJECTS_VIEW,
            Permission.RECORDINGS_VIEW,
            Permission.RECORDINGS_PLAY,
            Permission.RECORDINGS_IMPORT,
            Permission.RECORDINGS_ANNOTATE,
            Permission.CRASHES_VIEW,
            Permission.CRASHES_IMPORT,
            Permission.CRASHES_MANAGE,
        }
    ),
}

ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "Administrator",
    Role.COMPLIANCE: "Compliance officer",
    Role.SUPPORT: "Support",
}


@dataclass(frozen=True)
class Actor:
    """The operator on whose behalf an operation runs (the result of a log-in)."""

    operator_id: int
    username: str
    display_name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def parse_role(text: str) -> Role:
    from rcrm_desktop.errors import ValidationError

    try:
        return Role(text.strip().lower())
    except ValueError as exc:
        raise ValidationError(
            f"“{text}” is not a role; choose one of: {', '.join(r.value for r in Role)}."
        ) from exc


def require(actor: Actor | None, permission: Permission) -> Actor:
    """Raise ``PermissionDenied`` unless ``actor`` holds ``permission``; return the actor."""
    if actor is None:
        raise PermissionDenied("This operation needs a logged-in operator.")
    if not actor.can(permission):
        raise PermissionDenied(
            f"Operator “{actor.username}” ({ROLE_LABELS[actor.role]}) may not do this: "
            f"it needs the permission {permission.value}."
        )
    return actor
