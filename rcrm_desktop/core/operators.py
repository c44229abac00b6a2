"""Operators: log-in with lock-out, and their administration.

Log-in rules (issue: the spine): Argon2id password hashes; 5 failed log-ins in
a row lock the account for 15 minutes (``settings.MAX_FAILED_LOGINS``,
``settings.LOCKOUT_MINUTES``); a disabled operator cannot log in. Every log-in,
failed log-in, lock-out and administrative change is an audit event.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rcrm_desktop import settings
from rcrm_desktop.core import audit
from rcrm_desktop.core.passwords import dummy_verify, hash_password, verify_password
from rcrm_desktop.core.permissions import ROLE_LABELS, Actor, Permission, Role, parse_role, require
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import Operator, database, utcnow
from rcrm_desktop.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class OperatorInfo:
    id: int
    username: str
    display_name: str
    role: Role
    active: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    version: int

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def _info(op: Operator) -> OperatorInfo:
    return OperatorInfo(op.id, op.username, op.display_name, Role(op.role), op.active, op.locked_until,
                        op.last_login_at, op.created_at, op.version)


def actor_of(op: Operator) -> Actor:
    return Actor(op.id, op.username, op.display_name, Role(op.role))


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise ValidationError(
            f"“{username[:80]}” is not a valid operator name: use 2–64 lower-case letters, digits, "
            "dots, dashes or underscores, starting with a letter or digit."
        )
    return name


def _check_display_name(display_name: str) -> str:
    text = " ".join(display_name.split())
    if not text:
        raise ValidationError("An operator needs a display name.")
    if len(text) > settings.MAX_NAME_LENGTH:
        raise ValidationError(
            f"The display name is {len(text):,} characters long; at most {settings.MAX_NAME_LENGTH} are allowed."
        )
    return text


def operator_count() -> int:
    with database_errors():
        return Operator.select().count()


def bootstrap_admin(username: str, password: str, display_name: str | None = None) -> OperatorInfo:
    """Create the first administrator of an instance that has no operator yet (``rcrm-desktop init``).

    Refused once any operator exists: from then on only an administrator adds operators.
    """
    name = _check_username(username)
    with database_errors(), database.atomic():
        if Operator.select().exists():
            raise ValidationError("This instance already has operators; an administrator adds new ones.")
        op = Operator.create(username=name, display_name=_check_display_name(display_name or name),
                             role=Role.ADMIN.value, password_hash=hash_password(password))
        audit.record(None, "operator.bootstrap", "operator", op.id, role=Role.ADMIN.value)
    return _info(op)


def authenticate(username: str, password: str) -> Actor:
    """Log an operator in. Raises ``AuthenticationError`` with the reason a person may know.

    The message does not reveal whether a user name exists, except for a locked
    or disabled account, whose owner needs to know why log-in is refused.
    """
    name = username.strip().lower()
    now = utcnow()
    with database_errors():
        op = Operator.get_or_none(Operator.username == name)
        if op is None:
            dummy_verify(password)
            with database.atomic():
                audit.record(None, "login.failed", "operator", None, reason="unknown_user")
            raise AuthenticationError("Wrong operator name or password.")
        if op.locked_until is not None and op.locked_until > now:
            minutes = max(1, int((op.locked_until - now).total_seconds() // 60) + 1)
            with database.atomic():
                audit.record(None, "login.refused", "operator", op.id, reason="locked")
            raise AuthenticationError(
                f"This account is locked after {settings.MAX_FAILED_LOGINS} failed log-ins. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or ask an administrator."
            )
        if not op.active:
            with database.atomic():
                audit.record(None, "login.refused", "operator", op.id, reason="disabled")
            raise AuthenticationError("This operator account is disabled. Ask an administrator.")
        if not verify_password(op.password_hash, password):
            with database.atomic():
                failed = Operator.failed_logins + 1
                locked_until = now + dt.timedelta(minutes=settings.LOCKOUT_MINUTES)
                Operator.update(failed_logins=failed).where(Operator.id == op.id).execute()
                op = Operator.get_by_id(op.id)
                locked = op.failed_logins >= settings.MAX_FAILED_LOGINS
                if locked:
                    Operator.update(locked_until=locked_until, failed_logins=0).where(
                        Operator.id == op.id).execute()
                audit.record(None, "login.failed", "operator", op.id, reason="password",
                             failed_logins=op.failed_logins, locked=locked)
            if locked:
                raise AuthenticationError(
                    f"Wrong password. The account is now locked for {settings.LOCKOUT_MINUTES} minutes "
                    f"after {settings.MAX_FAILED_LOGINS} failed log-ins."
                )
            left = settings.MAX_FAILED_LOGINS - op.failed_logins
            raise AuthenticationError(
                f"Wrong operator name or password ({left} attempt{'s' if left != 1 else ''} left "
                "before the account is locked)."
            )
        with database.atomic():
            Operator.update(failed_logins=0, locked_until=None, last_login_at=now).where(
                Operator.id == op.id).execute()
            actor = actor_of(op)
            audit.record(actor, "login", "operator", op.id)
    return actor


def unlock_session(actor: Actor, password: str) -> Actor:
    """Re-authenticate after an idle lock; counts as a log-in attempt for lock-out purposes."""
    return authenticate(actor.username, password)


def record_logout(actor: Actor, reason: str = "logout") -> None:
    with database_errors(), database.atomic():
        audit.record(actor, "logout", "operator", actor.operator_id, reason=reason)


def list_operators(actor: Actor) -> list[OperatorInfo]:
    require(actor, Permission.OPERATORS_VIEW)
    with database_errors():
        return [_info(op) for op in Operator.select().order_by(Operator.username)]


def get_operator(actor: Actor, username: str) -> OperatorInfo:
    require(actor, Permission.OPERATORS_VIEW)
    op = Operator.get_or_none(Operator.username == username.strip().lower())
    if op is None:
        raise NotFoundError(f"There is no operator “{username[:80]}”.")
    return _info(op)


def create_operator(actor: Actor, username: str, display_name: str, role: Role | str,
                    password: str) -> OperatorInfo:
    require(actor, Permission.OPERATORS_MANAGE)
    name = _check_username(username)
    role = parse_role(role) if isinstance(role, str) else role
    shown = _check_display_name(display_name)
    password_hash = hash_password(password)
    with database_errors(), database.atomic():
        if Operator.select().where(Operator.username == name).exists():
            raise ValidationError(f"An operator named “{name}” already exists.")
        op = Operator.create(username=name, display_name=shown, role=role.value, password_hash=password_hash)
        audit.record(actor, "operator.create", "operator", op.id, role=role.value)
    return _info(op)


def _update_operator(actor: Actor, operator_id: int, expected_version: int | None, action: str,
                     changes: dict[str, object], **details: object) -> OperatorInfo:
    with database_errors(), database.atomic():
        op = Operator.get_or_none(Operator.id == operator_id)
        if op is None:
            raise NotFoundError(f"Operator #{operator_id} does not exist.")
        query = Operator.update(version=Operator.version + 1, **changes).where(Operator.id == operator_id)
        if expected_version is not None:
            query = query.where(Operator.version == expected_version)
        if query.execute() != 1:
            raise ConflictError(
                f"Operator “{op.username}” was changed on another workstation; reload and try again.",
                current={"role": op.role, "active": op.active, "version": op.version},
            )
        audit.record(actor, action, "operator", operator_id, **details)
        return _info(Operator.get_by_id(operator_id))


def _remaining_active_admins(excluding: int) -> int:
    return (Operator.select()
            .where((Operator.role == Role.ADMIN.value) & (Operator.active == True)  # noqa: E712
                   & (Operator.id != excluding))
            .count())


def set_role(actor: Actor, operator_id: int, role: Role | str, expected_version: int | None = None) -> OperatorInfo:
    require(actor, Permission.OPERATORS_MANAGE)
    role = parse_role(role) if isinstance(role, str) else role
    if role != Role.ADMIN and _remaining_active_admins(operator_id) == 0:
        raise ValidationError("The instance must keep at least one active administrator.")
    return _update_operator(actor, operator_id, expected_version, "operator.role", {"role": role.value},
                            role=role.value)


def set_active(actor: Actor, operator_id: int, active: bool, expected_version: int | None = None) -> OperatorInfo:
    require(actor, Permission.OPERATORS_MANAGE)
    if not active and operator_id == actor.operator_id:
        raise ValidationError("You cannot disable your own account.")
    if not active and _remaining_active_admins(operator_id) == 0:
        raise ValidationError("The instance must keep at least one active administrator.")
    return _update_operator(actor, operator_id, expected_version,
                            "operator.enable" if active else "operator.disable", {"active": active})


def reset_password(actor: Actor, operator_id: int, password: str) -> OperatorInfo:
    """An administrator sets a new password; this also lifts a lock-out."""
    require(actor, Permission.OPERATORS_MANAGE)
    return _update_operator(actor, operator_id, None, "operator.password_reset",
                            {"password_hash": hash_password(password), "failed_logins": 0,
                             "locked_until": None})


def change_own_password(actor: Actor, old_password: str, new_password: str) -> None:
    with database_errors():
        op = Operator.get_by_id(actor.operator_id)
    if not verify_password(op.password_hash, old_password):
        raise AuthenticationError("The current password is wrong.")
    _update_operator(actor, actor.operator_id, None, "operator.password_change",
                     {"password_hash": hash_password(new_password)})
