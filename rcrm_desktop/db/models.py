"""The instance database: one Peewee model layer for SQLite, PostgreSQL and MariaDB.

Conventions every model follows:

* Times are stored as naive UTC ``datetime`` values (microseconds kept on every
  engine: MariaDB columns are ``DATETIME(6)``, see ``db.connection``).
* Text that is searched or sorted "as a person reads it" has a folded companion
  column (lower case, accents removed: ``Šťastný`` → ``stastny``) so that search
  and sort behave the same on all three engines whatever their collation.
* Rows that two workstations may edit at once carry a ``version`` counter for
  optimistic concurrency: an update names the version it read and fails if the
  row moved on (see ``core.errors.ConflictError``).
* Files are referenced by a path relative to the recordings store; the store
  refuses paths that escape it.
* Personal data of a subject lives only in rows linked to that subject (with
  ``on_delete='CASCADE'`` where the row is the subject's own), so erasure can
  find all of it. The audit log refers to people by internal id only.
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Now, as the naive UTC datetime every table stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row per applied migration step; the highest ``version`` is the schema's."""

    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)
    program_version = CharField(max_length=40)


class InstanceSetting(BaseModel):
    """Instance-wide options (see ``settings.INSTANCE_OPTIONS``), shared by all workstations."""

    key = CharField(max_length=100, primary_key=True)
    value = TextField()
    updated_at = DateTimeField(default=utcnow)
    updated_by = IntegerField(null=True)


class Operator(BaseModel):
    """A person who uses RCRM Desktop (not a data subject). Role decides permissions."""

    id = AutoField()
    username = CharField(max_length=64, unique=True)
    display_name = CharField(max_length=200)
    role = CharField(max_length=20)
    password_hash = CharField(max_length=255)
    active = BooleanField(default=True)
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(null=True)
    version = IntegerField(default=1)


class Subject(BaseModel):
    """A CRM user account: the data subject whose rights the controller answers."""

    id = AutoField()
    user_id = CharField(max_length=64, unique=True)
    name = CharField(max_length=200)
    name_key = CharField(max_length=200, index=True)
    search_key = CharField(max_length=300, index=True)
    email = CharField(max_length=320, null=True)
    phone = CharField(max_length=64, null=True)
    birth_date = DateField(null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    last_active_at = DateTimeField(null=True, index=True)
    restricted = BooleanField(default=False)
    restricted_reason = TextField(null=True)
    objected = BooleanField(default=False)
    objected_reason = TextField(null=True)
    updated_at = DateTimeField(default=utcnow)
    version = IntegerField(default=1)


class SubjectChange(BaseModel):
    """Rectification history (GDPR Art. 16): old and new values, erased with the subject."""

    id = AutoField()
    subject = ForeignKeyField(Subject, backref="changes", on_delete="CASCADE")
    field = CharField(max_length=40)
    old_value = TextField(null=True)
    new_value = TextField(null=True)
    reason = TextField()
    operator = ForeignKeyField(Operator, backref="subject_changes")
    request = IntegerField(null=True)
    changed_at = DateTimeField(default=utcnow)


class Recording(BaseModel):
    """A call recording: metadata here, audio in the recordings store at ``path``.

    ``sha256`` is the hash of the file as it is now; ``original_sha256`` the
    hash at import (they differ after a redaction rewrote the audio). Lists are
    keyset-paged on (sort column, id), so each sortable column has a composite
    index with ``id``; ``(subject, started_at)`` serves "this subject's calls".
    New columns are nullable so that bulk inserts naming only the original
    columns (the demo fill) keep working on every engine.
    """

    id = AutoField()
    subject = ForeignKeyField(Subject, backref="recordings", null=True, on_delete="SET NULL")
    path = CharField(max_length=500, unique=True)
    sha256 = CharField(max_length=64, index=True)
    original_sha256 = CharField(max_length=64, index=True)
    format = CharField(max_length=16)
    duration_ms = BigIntegerField()
    sample_rate = IntegerField()
    channels = IntegerField()
    size_bytes = BigIntegerField()
    started_at = DateTimeField()
    direction = CharField(max_length=10)
    agent = CharField(max_length=200, null=True)
    imported_at = DateTimeField(default=utcnow)
    redacted = BooleanField(default=False)
    version = IntegerField(default=1)

    class Meta:
        indexes = (
            (("started_at", "id"), False),
            (("duration_ms", "id"), False),
            (("agent", "id"), False),
            (("subject", "started_at"), False),
            (("direction", "started_at"), False),
        )


class RecordingTag(BaseModel):
    """A label on a recording ("complaint", "card-payment"), stored folded to lower case."""

    id = AutoField()
    recording = ForeignKeyField(Recording, backref="tags", on_delete="CASCADE")
    tag = CharField(max_length=100, index=True)

    class Meta:
        indexes = ((("recording", "tag"), True),)


class Annotation(BaseModel):
    """A timestamped note on a recording (optionally a region), by an operator."""

    id = AutoField()
    recording = ForeignKeyField(Recording, backref="annotations", on_delete="CASCADE")
    operator = ForeignKeyField(Operator, backref="annotations")
    position_ms = BigIntegerField()
    end_ms = BigIntegerField(null=True)
    text = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("recording", "position_ms"), False),)


class Redaction(BaseModel):
    """A region of a recording whose sound was removed (PCI DSS: card data is never kept).

    ``mode`` is ``"silence"`` or ``"tone"`` (a 1 kHz tone); ``NULL`` means silence
    (rows written before the column, the demo fill). ``sha256_before``/``after``
    are the file's hashes around the rewrite, so the chain of versions of the
    audio can be followed from ``original_sha256`` to the current ``sha256``.
    """

    id = AutoField()
    recording = ForeignKeyField(Recording, backref="redactions", on_delete="CASCADE")
    operator = ForeignKeyField(Operator, backref="redactions")
    start_ms = BigIntegerField()
    end_ms = BigIntegerField()
    reason = TextField()
    created_at = DateTimeField(default=utcnow)
    mode = CharField(max_length=10, null=True)
    sha256_before = CharField(max_length=64, null=True)
    sha256_after = CharField(max_length=64, null=True)


class CrashGroup(BaseModel):
    """Crash events with one fingerprint (Sentry's grouping design, see DOMAIN.md and ``core.grouping``).

    Counters (``event_count``, ``subject_count``, ``first_seen``, ``last_seen``)
    are kept up to date by the import, in the transaction that adds the events,
    so a list never aggregates events. They always describe the events whose
    ``group`` is this group: a group merged into another (``merged_into``) has
    handed its events over and is hidden from lists until it is unmerged.
    ``search_key`` is the folded title and culprit (``core.text.fold``).
    """

    id = AutoField()
    fingerprint = CharField(max_length=64, unique=True)
    explanation = TextField(default="{}")
    title = CharField(max_length=500)
    culprit = CharField(max_length=500, null=True)
    search_key = TextField(default="")
    level = CharField(max_length=20, default="error")
    platform = CharField(max_length=40, null=True)
    state = CharField(max_length=20, default="unresolved", index=True)
    resolved_in_release = CharField(max_length=200, null=True)
    resolved_at = DateTimeField(null=True)
    resolved_by = IntegerField(null=True)
    regressed = BooleanField(default=False)
    event_count = IntegerField(default=0, index=True)
    subject_count = IntegerField(default=0, index=True)
    first_seen = DateTimeField(index=True)
    last_seen = DateTimeField(index=True)
    merged_into = ForeignKeyField("self", null=True, backref="merged", on_delete="SET NULL")


class CrashEvent(BaseModel):
    """One scrubbed Sentry-format event. ``payload`` is the scrubbed JSON.

    ``group`` is the group the event counts in (the merge target when its own
    group was merged); ``original_group`` is the group of its fingerprint, so an
    unmerge knows which events go back. ``subject`` links the event to the user
    account it came from: the event is that subject's data, exported with it and
    deleted with it (``CASCADE``; ``core.crashes.erase_subject_crash_events``
    also corrects the group counters).
    """

    id = AutoField()
    event_id = CharField(max_length=32, unique=True)
    group = ForeignKeyField(CrashGroup, backref="events", on_delete="CASCADE", index=False)
    original_group = ForeignKeyField(CrashGroup, null=True, on_delete="SET NULL")
    subject = ForeignKeyField(Subject, backref="crash_events", null=True, on_delete="CASCADE")
    occurred_at = DateTimeField(index=True)
    received_at = DateTimeField(default=utcnow, index=True)
    platform = CharField(max_length=40)
    level = CharField(max_length=20, default="error")
    release = CharField(max_length=200, null=True)
    environment = CharField(max_length=100, null=True)
    os_name = CharField(max_length=100, null=True)
    exception_type = CharField(max_length=300, null=True)
    message = TextField(null=True)
    payload = TextField()

    class Meta:
        indexes = ((("group", "occurred_at"), False),)


class CrashDailyCount(BaseModel):
    """Events of a group per UTC day, kept by the import for the group's chart (never counted on view)."""

    id = AutoField()
    group = ForeignKeyField(CrashGroup, backref="daily_counts", on_delete="CASCADE", index=False)
    day = DateField()
    count = IntegerField(default=0)

    class Meta:
        indexes = ((("group", "day"), True),)


class CrashGroupFacet(BaseModel):
    """What a group's events were seen in: one row per (group, kind, value), kinds
    ``release``, ``environment``, ``platform`` and ``os``, with counts and first/last seen.

    Kept by the import; it answers "releases affected" and the list filters
    (``group IN (SELECT group FROM facet WHERE kind = ? AND value = ?)``) from an index.
    """

    id = AutoField()
    group = ForeignKeyField(CrashGroup, backref="facets", on_delete="CASCADE", index=False)
    kind = CharField(max_length=20)
    value = CharField(max_length=200)
    event_count = IntegerField(default=0)
    first_seen = DateTimeField()
    last_seen = DateTimeField()

    class Meta:
        indexes = ((("group", "kind", "value"), True), (("kind", "value"), False))


class RightsRequest(BaseModel):
    """A data-subject rights request (GDPR Art. 15–21) and its deadline (Art. 12(3)).

    States (``core.requests.STATES``): ``received`` → ``identity_verification``
    → ``in_progress`` → ``completed``; ``awaiting_requester`` while the
    controller waits for the requester (the clock keeps running; ``resume_state``
    is where it goes back to); ``rejected`` (``rejection_grounds`` and reason,
    Art. 12(5)) and ``withdrawn`` close it too. ``subject_ref`` is a pseudonymous
    reference to the subject (a salted hash, never the user ID) that survives
    the subject's erasure (Art. 5(2) accountability). New columns are nullable:
    rows written before they existed (and bulk inserts) stay valid.
    """

    id = AutoField()
    type = CharField(max_length=20, index=True)
    state = CharField(max_length=30, index=True)
    subject = ForeignKeyField(Subject, backref="requests", null=True, on_delete="SET NULL")
    subject_ref = CharField(max_length=64, null=True)
    requester_name = CharField(max_length=200)
    requester_contact = CharField(max_length=320, null=True)
    requester_key = CharField(max_length=600, null=True, index=True)
    channel = CharField(max_length=40, default="email")
    received_on = DateField(index=True)
    due_on = DateField(index=True)
    extended_due_on = DateField(null=True)
    extension_months = IntegerField(null=True)
    extension_reason = TextField(null=True)
    extension_notified_on = DateField(null=True)
    details = TextField(null=True)
    rejection_reason = TextField(null=True)
    rejection_grounds = CharField(max_length=20, null=True)
    rejection_exemption = TextField(null=True)
    awaiting_requester = BooleanField(default=False)
    awaiting_since = DateTimeField(null=True)
    awaiting_reason = TextField(null=True)
    resume_state = CharField(max_length=30, null=True)
    verified_at = DateTimeField(null=True)
    verified_by = ForeignKeyField(Operator, null=True, backref="verified_requests")
    verification_method = TextField(null=True)
    package_sha256 = CharField(max_length=64, null=True)
    package_built_at = DateTimeField(null=True)
    package_size = BigIntegerField(null=True)
    erased_at = DateTimeField(null=True)
    created_by = ForeignKeyField(Operator, backref="created_requests")
    created_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)
    version = IntegerField(default=1)


class RequestEvent(BaseModel):
    """One step on a request's timeline, with operator and time.

    ``kind`` names the step (``created``, ``state``, ``verified``, ``extended``,
    ``package``, ``erased``, ``step_failed``, …); ``detail`` is the sentence the
    timeline shows. Details hold no identifiers of the subject beyond what the
    request itself holds, and erasure scrubs them with the request.
    """

    id = AutoField()
    request = ForeignKeyField(RightsRequest, backref="timeline", on_delete="CASCADE")
    operator = ForeignKeyField(Operator, backref="request_events")
    at = DateTimeField(default=utcnow)
    kind = CharField(max_length=40)
    detail = TextField(null=True)


class PackageExclusion(BaseModel):
    """An item the reviewer kept out of an access package (GDPR Art. 15(4): others' rights and freedoms).

    ``item`` is ``kind:id`` (``recording:12``, ``audio:12``, ``annotation:7``,
    ``crash_event:3``, ``change:5``); the package lists every exclusion with its reason.
    """

    id = AutoField()
    request = ForeignKeyField(RightsRequest, backref="exclusions", on_delete="CASCADE")
    item = CharField(max_length=80)
    reason = TextField()
    operator = ForeignKeyField(Operator, backref="package_exclusions")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("request", "item"), True),)


class LegalHold(BaseModel):
    """An exception to erasure and retention (GDPR Art. 17(3)); holds always win over rules."""

    id = AutoField()
    subject = ForeignKeyField(Subject, backref="holds", null=True, on_delete="CASCADE")
    recording = ForeignKeyField(Recording, backref="holds", null=True, on_delete="CASCADE")
    crash_group = ForeignKeyField(CrashGroup, backref="holds", null=True, on_delete="CASCADE")
    reason = TextField()
    owner = ForeignKeyField(Operator, backref="holds")
    created_at = DateTimeField(default=utcnow)
    released_at = DateTimeField(null=True)
    release_reason = TextField(null=True)
    #: Set when an erasure kept this held item: the erased subject's pseudonymous reference
    #: (``RightsRequest.subject_ref``), so releasing the hold shows the item is due for deletion.
    subject_ref = CharField(max_length=64, null=True)


class RetentionPolicy(BaseModel):
    """The controller's retention rule for one category (GDPR Art. 5(1)(e)); ``core.retention`` reads it.

    ``category`` is one of ``core.retention.CATEGORIES``. An item is due once it
    is older than ``max_age_days`` (counted from the category's event: call
    start, time received, last activity, closing); ``NULL`` or ``enabled``
    false keeps it forever (Stroom's default). ``action`` is ``delete`` or,
    where the category allows it, ``anonymise``. ``updated_at`` doubles as the
    optimistic-concurrency token of an edit.
    """

    category = CharField(max_length=40, primary_key=True)
    max_age_days = IntegerField(null=True)
    action = CharField(max_length=20, default="delete")
    enabled = BooleanField(default=False)
    updated_at = DateTimeField(default=utcnow)
    updated_by = IntegerField(null=True)


class RetentionRun(BaseModel):
    """One application of the retention rules (``core.retention.apply_retention``), and its report.

    ``state``: ``running`` → ``completed``, ``cancelled`` (stopped after a
    batch) or ``failed`` (``error`` says why, without personal data). A row
    still ``running`` whose process (``host``/``pid``) is gone was killed: the
    next run resumes it from its per-category cursors, with the same ``as_of``
    time, so the run means what it meant when it started. ``origin`` is
    ``manual`` (GUI) or ``command`` (CLI, a schedule). ``active`` is 1 while
    running and ``NULL`` afterwards: its unique index lets only one run be
    active per instance. ``audit_seq`` is the sequence number of the one audit
    event the run appended when it ended.
    """

    id = AutoField()
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)
    heartbeat_at = DateTimeField(default=utcnow)
    as_of = DateTimeField()
    state = CharField(max_length=12, index=True)
    operator_id = IntegerField(null=True)
    origin = CharField(max_length=12, default="manual")
    host = CharField(max_length=255, null=True)
    pid = IntegerField(null=True)
    active = IntegerField(null=True, unique=True)
    resumed = IntegerField(default=0)
    error = TextField(null=True)
    audit_seq = BigIntegerField(null=True)


class RetentionRunCategory(BaseModel):
    """One rule within a run: the rule as applied, what was due and held at the start, what was done.

    ``last_id`` is the resume cursor, the last item id handled; it moves in the transaction of the
    batch it ends, so a resumed run neither repeats nor skips a batch.
    """

    id = AutoField()
    run = ForeignKeyField(RetentionRun, backref="categories", on_delete="CASCADE")
    category = CharField(max_length=40)
    ordinal = IntegerField(default=0)
    max_age_days = IntegerField()
    action = CharField(max_length=20)
    cutoff = DateTimeField()
    due_at_start = BigIntegerField(default=0)
    held_at_start = BigIntegerField(default=0)
    oldest_at_start = DateTimeField(null=True)
    deleted = BigIntegerField(default=0)
    anonymised = BigIntegerField(default=0)
    files_deleted = BigIntegerField(default=0)
    skipped = BigIntegerField(default=0)
    last_id = BigIntegerField(default=0)
    done = BooleanField(default=False)

    class Meta:
        indexes = ((("run", "category"), True),)


class RetentionErasure(BaseModel):
    """An inactive account erased by a run through an internal erasure request (``core.erasure``).

    The request is created, verified and recorded here in one transaction, so
    a killed run leaves either nothing or a request its resumption finishes.
    Such requests are the controller's own, not a data subject's: they do not
    freeze retention. ``state``: ``pending``, ``erased``, ``skipped``.
    """

    id = AutoField()
    run = ForeignKeyField(RetentionRun, backref="erasures", on_delete="CASCADE")
    subject_id = IntegerField(index=True)
    request_id = IntegerField(unique=True)
    state = CharField(max_length=12, default="pending")
    created_at = DateTimeField(default=utcnow)


class PendingFileOperation(BaseModel):
    """A file moved to the store's pending-delete area by an unfinished erasure or purge.

    Rows and files change together: files move first, the rows change in one
    transaction with these rows, files are deleted after commit. At start-up a
    row still here means the work was interrupted and is finished or undone
    (``core.pending``): ``state`` is ``moving`` until the transaction that
    changes the rows marks the batch ``committed``. ``kind`` is ``batch`` (the
    batch itself: its owner, and the one row the commit marks ``committed``),
    ``store`` (a store file, moved to ``pending_path``) or ``cache`` (a cache entry,
    ``original_path`` holds the SHA-256 whose waveform files are deleted after
    commit). ``host``/``pid`` name the process doing the work, so start-up on
    another workstation never undoes work that is still running.
    """

    id = AutoField()
    batch = CharField(max_length=64, index=True)
    original_path = CharField(max_length=500)
    pending_path = CharField(max_length=500)
    created_at = DateTimeField(default=utcnow)
    kind = CharField(max_length=10, null=True)
    state = CharField(max_length=12, null=True)
    recording = IntegerField(null=True)
    host = CharField(max_length=255, null=True)
    pid = IntegerField(null=True)


class AuditEvent(BaseModel):
    """Append-only, hash-chained record of who did or saw what.

    ``seq`` numbers the events 1, 2, 3, ... without gaps; ``hash`` is the SHA-256
    of this event's content and ``prev_hash``. ``details`` is JSON holding ids and
    field names only, never names, contact data or audio (ARCHITECTURE.md,
    privacy rules).
    """

    id = AutoField()
    seq = BigIntegerField(unique=True)
    at = DateTimeField(index=True)
    operator_id = IntegerField(null=True, index=True)
    action = CharField(max_length=60, index=True)
    target_type = CharField(max_length=40, null=True)
    target_id = CharField(max_length=64, null=True, index=True)
    details = TextField(default="{}")
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64)


class AuditHead(BaseModel):
    """The chain's head (one row): last sequence number and hash.

    Appending locks this row first, so workstations append one at a time, and
    verification compares the chain's end with it, so a deleted tail is caught.
    """

    id = IntegerField(primary_key=True)
    last_seq = BigIntegerField(default=0)
    last_hash = CharField(max_length=64)


ALL_MODELS: list[type[BaseModel]] = [
    SchemaVersion,
    InstanceSetting,
    Operator,
    Subject,
    SubjectChange,
    Recording,
    RecordingTag,
    Annotation,
    Redaction,
    CrashGroup,
    CrashEvent,
    CrashDailyCount,
    CrashGroupFacet,
    RightsRequest,
    RequestEvent,
    PackageExclusion,
    LegalHold,
    RetentionPolicy,
    RetentionRun,
    RetentionRunCategory,
    RetentionErasure,
    PendingFileOperation,
    AuditEvent,
    AuditHead,
]

__all__ = [m.__name__ for m in ALL_MODELS] + ["ALL_MODELS", "BaseModel", "database", "utcnow"]
