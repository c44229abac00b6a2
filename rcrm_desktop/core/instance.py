"""Opening an instance and its shared settings.

``open_instance`` is the single way every front door (GUI, CLI, self-test)
opens a database: connect from the URL, refuse a schema newer than the program,
migrate an older one (SQLite backed up first), and finish or undo file work a
crash left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import peewee

from rcrm_desktop import settings
from rcrm_desktop.core import audit
from rcrm_desktop.core.permissions import Actor, Permission, require
from rcrm_desktop.db import connection, migrations
from rcrm_desktop.db.connection import database_errors
from rcrm_desktop.db.models import (
    AuditEvent,
    CrashEvent,
    CrashGroup,
    InstanceSetting,
    Operator,
    Recording,
    RightsRequest,
    Subject,
    database,
    utcnow,
)
from rcrm_desktop.errors import RcrmError, ValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedInstance:
    url: str
    redacted_url: str
    engine: str
    migrated_from: int | None  # None: no migration was needed; 0: created new


def open_instance(url: str | None = None, *, create: bool = True, migrate: bool = True) -> OpenedInstance:
    resolved = settings.database_url(url)
    info = connection.parse_url(resolved)
    connection.connect(resolved, create=create)
    migrated_from: int | None = None
    version = migrations.schema_version()
    if version is not None and version > migrations.CURRENT_VERSION:
        connection.close()
        migrations.refuse_newer(version)
    if migrate and (version is None or version < migrations.CURRENT_VERSION):
        migrated_from = migrations.migrate()
    if migrate:
        _recover_file_work()
    return OpenedInstance(resolved, info.redacted, info.engine, migrated_from)


def _recover_file_work() -> None:
    """Finish or undo file work that a killed erasure, purge or redaction left behind (privacy rules)."""
    from rcrm_desktop.core import pending, store

    try:
        recordings_store = store.open_store()
    except RcrmError as exc:
        log.warning("Recordings store not available at start-up; pending file work not checked (%s)",
                    type(exc).__name__)
        return
    report = pending.recover_pending(recordings_store)
    log.info("Start-up recovery: %s", report)
    from rcrm_desktop.core import search_index

    if search_index.purge_if_needed():
        log.info("Purged the search index of subjects deleted before the last stop")


def get_setting(key: str) -> str:
    option = settings.INSTANCE_OPTIONS[key]
    with database_errors():
        row = InstanceSetting.get_or_none(InstanceSetting.key == key)
    return row.value if row is not None else option.default


def get_int_setting(key: str) -> int:
    try:
        return int(get_setting(key))
    except ValueError:
        return int(settings.INSTANCE_OPTIONS[key].default)


def _write_setting(key: str, value: str, operator_id: int | None) -> None:
    (InstanceSetting.insert(key=key, value=value, updated_at=utcnow(), updated_by=operator_id)
     .on_conflict(conflict_target=[InstanceSetting.key] if connection.engine_name() != "mysql" else None,
                  preserve=[InstanceSetting.value, InstanceSetting.updated_at, InstanceSetting.updated_by])
     .execute())


def set_setting(actor: Actor, key: str, value: str) -> None:
    """Change an instance option (administrators only); audited with the key, not the value."""
    require(actor, Permission.SETTINGS_EDIT)
    if key not in settings.INSTANCE_OPTIONS:
        raise ValidationError(f"“{key}” is not an instance option.")
    if key in {"idle_lock_minutes", "child_consent_age"}:
        try:
            number = int(value)
        except ValueError as exc:
            raise ValidationError(f"{key} must be a whole number.") from exc
        if key == "idle_lock_minutes" and not 1 <= number <= 480:
            raise ValidationError("The idle lock must be between 1 and 480 minutes.")
        if key == "child_consent_age" and not 13 <= number <= 16:
            raise ValidationError("GDPR Art. 8 allows a consent age between 13 and 16.")
    if key == "public_holidays":
        from rcrm_desktop.core.deadlines import HolidayCalendar

        HolidayCalendar.parse(value)  # raises ValidationError naming the entry it cannot read
    with database_errors(), database.atomic():
        _write_setting(key, value, actor.operator_id)
        audit.record(actor, "settings.change", "setting", key)


def set_system_setting(key: str, value: str) -> None:
    """Written by ``init``/``demo`` (no operator yet); audited as a system event."""
    with database_errors(), database.atomic():
        _write_setting(key, value, None)
        audit.record(None, "settings.change", "setting", key)


def is_demo_instance() -> bool:
    try:
        return get_setting("demo_instance") == "1"
    except Exception:  # noqa: BLE001 - a half-open instance is simply not a demo
        return False


@dataclass(frozen=True)
class DashboardCounts:
    subjects: int
    restricted_subjects: int
    recordings: int
    crash_events: int
    crash_groups_open: int
    requests_open: int
    requests_overdue: int
    requests_due_soon: int
    operators_active: int
    audit_events: int
    audit_events_today: int


def dashboard_counts(actor: Actor) -> DashboardCounts:
    """The instance's key counts (numbers only, no personal data)."""
    require(actor, Permission.SUBJECTS_VIEW)
    open_states = ("received", "identity_verification", "in_progress", "awaiting_requester")
    today = dt.date.today()
    soon = today + dt.timedelta(days=7)
    due = peewee.fn.COALESCE(RightsRequest.extended_due_on, RightsRequest.due_on)
    with database_errors():
        open_q = RightsRequest.select().where(RightsRequest.state.in_(open_states))
        midnight = dt.datetime.combine(today, dt.time()).astimezone(dt.UTC).replace(tzinfo=None)
        return DashboardCounts(
            subjects=Subject.select().count(),
            restricted_subjects=Subject.select().where(Subject.restricted == True).count(),  # noqa: E712
            recordings=Recording.select().count(),
            crash_events=CrashEvent.select().count(),
            crash_groups_open=CrashGroup.select().where((CrashGroup.state == "unresolved")
                                                        & CrashGroup.merged_into.is_null()).count(),
            requests_open=open_q.count(),
            requests_overdue=open_q.where(due < today).count(),
            requests_due_soon=open_q.where((due >= today) & (due <= soon)).count(),
            operators_active=Operator.select().where(Operator.active == True).count(),  # noqa: E712
            audit_events=AuditEvent.select().count(),
            audit_events_today=AuditEvent.select().where(AuditEvent.at >= midnight).count(),
        )
