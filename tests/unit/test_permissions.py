"""Every ``core`` operation checks its permission before it touches anything.

The proof has two halves:

1. Every public function in ``rcrm_desktop.core`` whose source writes to the
   database (``create``/``update``/``insert``/``delete``/audit) either takes the
   acting operator as its first parameter, or is on a short list of documented
   exceptions (log-in itself, first-run bootstrap).
2. Every public function that takes an ``actor`` raises ``PermissionDenied``
   for an operator whose role grants nothing — before it changes a single row.

Then the concrete promise: a support operator cannot change or erase personal
data through any ``core`` path.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import pytest

import rcrm_desktop.core as core_pkg
from rcrm_desktop.core import operators, permissions, subjects
from rcrm_desktop.core.instance import set_setting
from rcrm_desktop.core.permissions import Actor, Role
from rcrm_desktop.db.models import ALL_MODELS, Subject, SubjectChange
from rcrm_desktop.errors import PermissionDenied
from tests.conftest import Instance

WRITES = re.compile(
    r"\b[A-Z]\w*\.(create|update|insert|insert_many|replace|delete)\(|\.(delete_instance|save|execute_sql)\("
    r"|audit\.record\("
)

#: Public functions that write without an acting operator, and why that is safe.
NO_ACTOR_ALLOWED: dict[str, str] = {
    "operators.authenticate": "log-in itself: records the attempt, changes only the lock-out counters",
    "operators.bootstrap_admin": "first administrator; refused once any operator exists",
    "operators.record_logout": "takes the actor (signature checked dynamically below)",
    "instance.set_system_setting": "written by init/demo before any operator exists; audited as system",
    "instance.open_instance": "creates or migrates the schema; no personal data",
    "audit.record": "the audit append itself, called inside operations that checked permission",
    "audit.verify_chain": "reads hashes only",
    "demo.create_demo_operators": "demo instance bootstrap; refused once any operator exists",
    "demo.populate_demo": "fills a new demo instance; the CLI demands demo.create when operators exist",
    "pending.recover_pending": "start-up recovery of interrupted file work (like open_instance); no operator yet",
    "pages.fetch_tuples": "runs the SELECT of a query its caller built after checking permission; reads only",
}


#: Modules whose functions maintain derived structures only, never personal data of their own.
NO_ACTOR_MODULES: dict[str, str] = {
    "search_index": "maintains the substring-search index (derived from subject rows); called inside "
                    "operations that checked their permission, or at start-up",
}


def _core_modules() -> list[Any]:
    return [importlib.import_module(f"rcrm_desktop.core.{m.name}")
            for m in pkgutil.iter_modules(core_pkg.__path__)]


def _public_functions() -> list[tuple[str, Callable[..., Any]]]:
    found = []
    for module in _core_modules():
        short = module.__name__.rsplit(".", 1)[1]
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            found.append((f"{short}.{name}", fn))
    return found


def _takes_actor(fn: Callable[..., Any]) -> bool:
    params = list(inspect.signature(fn).parameters)
    return bool(params) and params[0] == "actor"


def test_every_writing_function_takes_the_actor_or_is_a_documented_exception() -> None:
    offenders = []
    for qualname, fn in _public_functions():
        try:
            source = inspect.getsource(fn)
        except OSError:
            continue
        exempt = qualname in NO_ACTOR_ALLOWED or qualname.split(".")[0] in NO_ACTOR_MODULES
        if WRITES.search(source) and not _takes_actor(fn) and not exempt:
            offenders.append(qualname)
    assert offenders == [], f"write without an acting operator: {offenders}"


def _row_counts() -> dict[str, int]:
    return {m.__name__: m.select().count() for m in ALL_MODELS}


def test_every_actor_function_refuses_an_operator_without_permissions(
        sqlite_instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, Role.SUPPORT, frozenset())
    nobody = sqlite_instance.support
    checked = []
    before = _row_counts()
    for qualname, fn in _public_functions():
        if not _takes_actor(fn) or qualname.startswith("permissions.") or qualname in NO_ACTOR_ALLOWED or qualname in {
                "operators.unlock_session", "operators.record_logout", "operators.change_own_password"}:
            continue
        params = list(inspect.signature(fn).parameters.values())[1:]
        args = [None for p in params if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        kwargs = {p.name: None for p in params if p.default is inspect.Parameter.empty and p.kind == p.KEYWORD_ONLY}
        with pytest.raises(PermissionDenied, match="may not do this"):
            fn(nobody, *args, **kwargs)
        checked.append(qualname)
    assert _row_counts() == before, "a refused operation changed rows"
    assert {"subjects.rectify_subject", "subjects.import_subjects_csv", "operators.create_operator",
            "operators.set_role", "instance.set_setting", "audit.list_events"} <= set(checked)


def test_support_cannot_change_or_erase_personal_data(sqlite_instance: Instance, tmp_path: Any) -> None:
    support = sqlite_instance.support
    subject = Subject.create(user_id="U-9", name="Peter Horváth", name_key="peter horvath",
                             search_key=subjects.make_search_key("Peter Horváth", "U-9"))
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("user_id,name\nU-9,Changed Name\n", encoding="utf-8")
    attempts: list[Callable[[], Any]] = [
        lambda: subjects.rectify_subject(support, subject.id, "name", "Changed", "typo"),
        lambda: subjects.import_subjects_csv(support, csv_file),
        lambda: operators.create_operator(support, "mallory", "Mallory", "admin", "long enough pw"),
        lambda: operators.set_role(support, support.operator_id, "admin"),
        lambda: operators.set_active(support, sqlite_instance.admin.operator_id, False),
        lambda: operators.reset_password(support, sqlite_instance.admin.operator_id, "new password!"),
        lambda: set_setting(support, "idle_lock_minutes", "480"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    fresh = Subject.get_by_id(subject.id)
    assert fresh.name == "Peter Horváth"
    assert SubjectChange.select().count() == 0
    # The support role reads users (read-only), so the read paths work.
    assert subjects.get_subject(support, user_id="U-9").subject.name == "Peter Horváth"


def test_permission_message_names_operator_role_and_permission(sqlite_instance: Instance) -> None:
    with pytest.raises(PermissionDenied) as err:
        permissions.require(sqlite_instance.support, permissions.Permission.SUBJECTS_RECTIFY)
    assert "tomas" in str(err.value) and "subjects.rectify" in str(err.value)
    with pytest.raises(PermissionDenied):
        permissions.require(None, permissions.Permission.SUBJECTS_VIEW)


def test_roles_match_the_documented_split() -> None:
    P = permissions.Permission
    R = permissions.ROLE_PERMISSIONS
    assert P.OPERATORS_MANAGE in R[Role.ADMIN] and P.SETTINGS_EDIT in R[Role.ADMIN]
    assert {P.REQUESTS_MANAGE, P.SUBJECTS_ERASE, P.RETENTION_MANAGE, P.HOLDS_MANAGE, P.AUDIT_VIEW} <= R[Role.COMPLIANCE]
    support_writes = {p for p in R[Role.SUPPORT] if p.value.split(".")[0] == "subjects" and p != P.SUBJECTS_VIEW}
    assert support_writes == set()
    assert Actor(1, "x", "x", Role.SUPPORT).can(P.RECORDINGS_PLAY)
