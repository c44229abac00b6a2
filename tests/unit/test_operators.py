"""Operators: log-in, lock-out after 5 failures for 15 minutes, roles and administration."""

from __future__ import annotations

import datetime as dt

import pytest

from rcrm_desktop.core import operators
from rcrm_desktop.core.passwords import hash_password
from rcrm_desktop.core.permissions import Role
from rcrm_desktop.db.models import AuditEvent, Operator
from rcrm_desktop.errors import AuthenticationError, ConflictError, ValidationError
from tests.conftest import PASSWORD, Instance


def test_password_is_stored_as_argon2id(instance: Instance) -> None:
    op = Operator.get(Operator.username == "eva")
    assert op.password_hash.startswith("$argon2id$")
    assert PASSWORD not in op.password_hash


def test_five_failures_lock_the_account_for_fifteen_minutes(instance: Instance) -> None:
    for attempt in range(1, 5):
        with pytest.raises(AuthenticationError, match=f"{5 - attempt} attempt"):
            operators.authenticate("eva", "wrong password")
    with pytest.raises(AuthenticationError, match="locked for 15 minutes"):
        operators.authenticate("eva", "wrong password")
    with pytest.raises(AuthenticationError, match="locked"):
        operators.authenticate("eva", PASSWORD)
    op = Operator.get(Operator.username == "eva")
    remaining = op.locked_until - dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert dt.timedelta(minutes=14) < remaining <= dt.timedelta(minutes=15)
    Operator.update(locked_until=dt.datetime(2000, 1, 1)).where(Operator.id == op.id).execute()
    assert operators.authenticate("eva", PASSWORD).username == "eva"
    actions = [e.action for e in AuditEvent.select().where(AuditEvent.target_id == str(op.id))]
    assert actions.count("login.failed") == 5 and "login.refused" in actions


def test_success_resets_the_failure_count(instance: Instance) -> None:
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            operators.authenticate("eva", "nope nope")
    operators.authenticate("eva", PASSWORD)
    assert Operator.get(Operator.username == "eva").failed_logins == 0


def test_unknown_user_and_disabled_account(instance: Instance) -> None:
    with pytest.raises(AuthenticationError, match="Wrong operator name or password"):
        operators.authenticate("nobody", PASSWORD)
    operators.set_active(instance.admin, instance.support.operator_id, False)
    with pytest.raises(AuthenticationError, match="disabled"):
        operators.authenticate("tomas", PASSWORD)
    operators.set_active(instance.admin, instance.support.operator_id, True)
    assert operators.authenticate("TOMAS ", PASSWORD).role == Role.SUPPORT


def test_admin_adds_and_re_roles_operators(instance: Instance) -> None:
    new = operators.create_operator(instance.admin, "marek", "Marek Kováč", "compliance", "a long password")
    assert new.role == Role.COMPLIANCE
    with pytest.raises(ValidationError, match="already exists"):
        operators.create_operator(instance.admin, "marek", "Marek", "support", "a long password")
    changed = operators.set_role(instance.admin, new.id, Role.SUPPORT, expected_version=new.version)
    assert changed.role == Role.SUPPORT
    with pytest.raises(ConflictError):
        operators.set_role(instance.admin, new.id, Role.ADMIN, expected_version=new.version)
    assert operators.authenticate("marek", "a long password").role == Role.SUPPORT


@pytest.mark.parametrize(("username", "fragment"), [("A", "not a valid operator name"),
                                                    ("x" * 65, "not a valid operator name"),
                                                    ("bob smith", "not a valid operator name")])
def test_bad_operator_names(instance: Instance, username: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        operators.create_operator(instance.admin, username, "Name", "support", "a long password")


def test_short_password_and_huge_display_name_refused(instance: Instance) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        operators.create_operator(instance.admin, "ok-name", "Name", "support", "short")
    with pytest.raises(ValidationError, match="10,000 characters"):
        operators.create_operator(instance.admin, "ok-name", "x" * 10_000, "support", "a long password")


def test_last_admin_is_protected(instance: Instance) -> None:
    with pytest.raises(ValidationError, match="at least one active administrator"):
        operators.set_role(instance.admin, instance.admin.operator_id, Role.SUPPORT)
    with pytest.raises(ValidationError, match="your own account"):
        operators.set_active(instance.admin, instance.admin.operator_id, False)


def test_bootstrap_only_on_an_empty_instance(instance: Instance) -> None:
    with pytest.raises(ValidationError, match="already has operators"):
        operators.bootstrap_admin("root2", PASSWORD)


def test_reset_password_lifts_a_lock(instance: Instance) -> None:
    Operator.update(locked_until=dt.datetime(2999, 1, 1)).where(Operator.username == "tomas").execute()
    operators.reset_password(instance.admin, instance.support.operator_id, "brand new password")
    assert operators.authenticate("tomas", "brand new password").username == "tomas"
    assert hash_password("another long one").startswith("$argon2id$")
