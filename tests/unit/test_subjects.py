"""Subjects in the core, on every engine: search, keyset paging, rectification, CSV import.

What these tests pin down (core/subjects.py guarantees):

* search ignores case and accents and matches a substring of the name or user
  ID; ``%``, ``_`` and SQL text typed by a person match themselves;
* a keyset list visits every subject exactly once, in the database's order, for
  every sort key in both directions;
* rectification keeps old/new values in the subject's history while the audit
  log only names the field; a stale version is refused with the current value;
* a support operator may neither rectify nor import;
* CSV import is idempotent, refuses bad rows by line number while good rows
  load, and refuses a non-UTF-8 file as a whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from rcrm_desktop.core import audit, subjects
from rcrm_desktop.core.text import fold
from rcrm_desktop.db.models import AuditEvent, Subject, SubjectChange, database
from rcrm_desktop.errors import ConflictError, PermissionDenied, ValidationError
from tests.conftest import Instance

HEADER = subjects.CSV_HEADER


def add_subject(name: str, user_id: str, **fields: Any) -> Subject:
    return Subject.create(user_id=user_id, name=name, name_key=fold(name)[:200],
                          search_key=subjects.make_search_key(name, user_id), **fields)


def write_csv(path: Path, rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
    return path


def found(inst: Instance, text: str, **kwargs: Any) -> list[str]:
    return [r.user_id for r in subjects.list_subjects(inst.support, text, sort="user_id", limit=500, **kwargs)]


# ---------------------------------------------------------------- search


def test_search_ignores_case_and_accents(instance: Instance) -> None:
    add_subject("Ján Šťastný", "sk-1")
    add_subject("PETER ZELENÝ", "sk-2")
    add_subject("Łukasz Wójcik", "pl-1")
    add_subject("Jana Nováková", "cz-1")

    assert found(instance, "stastny") == ["sk-1"]
    assert found(instance, "ŠŤASTNÝ") == ["sk-1"]
    assert found(instance, "jan stast") == ["sk-1"]
    assert found(instance, "zeleny") == ["sk-2"]
    assert found(instance, "Zelený") == ["sk-2"]
    assert found(instance, "lukasz") == ["pl-1"]
    assert found(instance, "WOJCIK") == ["pl-1"]
    assert found(instance, "novakova") == ["cz-1"]
    assert found(instance, "jan") == ["cz-1", "sk-1"]
    assert found(instance, "nobody") == []


def test_search_matches_substring_of_user_id(instance: Instance) -> None:
    add_subject("Eva Malá", "CRM-000123")
    add_subject("Ivo Velký", "CRM-000456")
    assert found(instance, "00012") == ["CRM-000123"]
    assert found(instance, "crm-0004") == ["CRM-000456"]
    assert found(instance, "crm") == ["CRM-000123", "CRM-000456"]


def test_like_wildcards_and_sql_text_match_literally(instance: Instance) -> None:
    add_subject("Percent 50% Off", "pct")
    add_subject("Plain Fifty", "a_b")
    add_subject("Other Person", "axb")
    add_subject("Back\\slash Name", "bs")
    add_subject("O'Brien", "quote")

    assert found(instance, "%") == ["pct"]
    assert found(instance, "50%") == ["pct"]
    assert found(instance, "_") == ["a_b"]
    assert found(instance, "a_b") == ["a_b"]
    assert found(instance, "\\") == ["bs"]
    assert found(instance, "o'brien") == ["quote"]
    assert found(instance, "'; DROP TABLE subject; --") == []
    assert found(instance, "\" OR 1=1 --") == []
    assert Subject.select().count() == 5  # the table is still there


def test_search_text_too_long_is_a_validation_error(instance: Instance) -> None:
    add_subject("Ján Šťastný", "sk-1")
    for text in ("x" * 201, "ř" * 10_000):
        with pytest.raises(ValidationError, match="too long"):
            subjects.list_subjects(instance.support, text)
        with pytest.raises(ValidationError):
            subjects.subject_counts(instance.support, text)
    assert len(subjects.list_subjects(instance.support, "x" * 200)) == 0


def test_emoji_names_are_stored_and_found(instance: Instance, tmp_path: Path) -> None:
    add_subject("Zoë 😀 Nováková", "emoji-1")
    report = subjects.import_subjects_csv(
        instance.compliance, write_csv(tmp_path / "e.csv", [["emoji-2", "Ana 🚀 Ruiz", "", "", "", "", ""]]))
    assert report.created == 1 and not report.refused

    assert found(instance, "😀") == ["emoji-1"]
    assert found(instance, "🚀") == ["emoji-2"]
    assert found(instance, "zoe") == ["emoji-1"]
    detail = subjects.get_subject(instance.support, user_id="emoji-2")
    assert detail.subject.name == "Ana 🚀 Ruiz"
    assert Subject.get(Subject.user_id == "emoji-1").name == "Zoë 😀 Nováková"


def test_list_is_audited_with_ids_but_not_the_search_text(instance: Instance) -> None:
    s = add_subject("Ján Šťastný", "sk-1")
    subjects.list_subjects(instance.support, "stastny")
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    assert event.action == "subjects.search"
    details = json.loads(event.details)
    assert details["ids"] == [s.id]
    assert "stastny" not in event.details.lower()


# ---------------------------------------------------------------- filters and counts


def test_status_filter_and_counts(instance: Instance) -> None:
    for i in range(12):
        add_subject(f"Person {i:02d}", f"u{i:02d}")
    Subject.update(restricted=True, restricted_reason="Art. 18 request").where(
        Subject.user_id.in_(["u01", "u02", "u03"])).execute()
    Subject.update(objected=True).where(Subject.user_id.in_(["u03", "u04"])).execute()

    assert found(instance, None, status="restricted") == ["u01", "u02", "u03"]
    assert found(instance, None, status="objected") == ["u03", "u04"]
    assert found(instance, "person 03", status="objected") == ["u03"]
    with pytest.raises(ValidationError, match="status filter"):
        subjects.list_subjects(instance.support, None, status="deleted")

    assert subjects.count_subjects(instance.support) == 12
    assert subjects.count_subjects(instance.support, "u0") == 10
    assert subjects.count_subjects(instance.support, None, status="restricted") == 3

    counts = subjects.subject_counts(instance.support)
    assert counts == subjects.SubjectCount(12, False, 12, False)
    counts = subjects.subject_counts(instance.support, "person", status="objected")
    assert counts == subjects.SubjectCount(2, False, 12, False)
    capped = subjects.subject_counts(instance.support, "person", cap=5)
    assert capped.matching == 5 and capped.matching_capped and capped.total == 12


def test_total_comes_from_the_server_estimate_on_large_tables(instance: Instance,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _make_many(60)
    monkeypatch.setattr(subjects, "ESTIMATE_FROM", 10)  # "large" from 10 rows on, for the test
    if instance.engine == "postgres":
        database.execute_sql("ANALYZE subject")
    elif instance.engine == "mysql":
        database.execute_sql("ANALYZE TABLE subject").fetchall()
    counts = subjects.subject_counts(instance.support, "jana")
    if instance.engine == "sqlite":
        assert (counts.total, counts.total_approximate) == (60, False)
    else:
        assert counts.total_approximate and 30 <= counts.total <= 120
    assert counts.matching == subjects.count_subjects(instance.support, "jana") > 0
    assert not counts.matching_capped


def test_detail_shows_reasons_and_is_audited(instance: Instance) -> None:
    s = add_subject("Ján Šťastný", "sk-1", restricted=True, restricted_reason="Accuracy contested")
    detail = subjects.get_subject(instance.support, subject_id=s.id)
    assert detail.subject.restricted and detail.restricted_reason == "Accuracy contested"
    assert detail.objected_reason is None
    assert (detail.recordings, detail.crash_events, detail.requests, detail.open_requests,
            detail.active_holds) == (0, 0, 0, 0, 0)
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    assert (event.action, event.target_type, event.target_id) == ("subject.view", "subject", str(s.id))
    assert "Šťastný" not in event.details


# ---------------------------------------------------------------- keyset paging


def _make_many(count: int) -> None:
    given = ["Ján", "Jana", "Peter", "Zuzana", "Łukasz", "Zoë", "Ola", "Émile", "Ivo", "Ana"]
    family = ["Šťastný", "Nováková", "Zelený", "Kowalski", "Müller", "García", "Dvořák", "Horváth"]
    base = dt.datetime(2024, 1, 1, 8, 0, 0)
    rows = []
    for i in range(count):
        name = f"{given[i % len(given)]} {family[(i * 7) % len(family)]}"
        user_id = f"U{(i * 7919) % 100_000:05d}"
        rows.append({
            "user_id": user_id,
            "name": name,
            "name_key": fold(name)[:200],
            "search_key": subjects.make_search_key(name, user_id),
            "created_at": base + dt.timedelta(minutes=(i * 37) % 301),  # many ties
            "last_active_at": None if i % 5 == 0 else base + dt.timedelta(hours=(i * 31) % 97),
            "updated_at": base,
        })
    with database.atomic():
        for start in range(0, len(rows), 100):
            Subject.insert_many(rows[start:start + 100]).execute()


def _sort_value(row: subjects.SubjectRow, sort: str) -> Any:
    value = subjects.page_key(row, sort).value
    if sort == "last_active_at" and value is None:
        return dt.datetime(1900, 1, 1)
    return value


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_keyset_paging_returns_each_subject_once_in_order(instance: Instance, descending: bool) -> None:
    _make_many(1050)
    all_ids = {s.id for s in Subject.select(Subject.id)}
    assert len(all_ids) == 1050
    for sort in ("name", "user_id", "created_at", "last_active_at", "id"):
        pages: list[subjects.SubjectRow] = []
        after = None
        while True:
            page = subjects.list_subjects(instance.support, None, sort=sort, descending=descending,
                                          after=after, limit=97)
            pages.extend(page)
            if len(page) < 97:
                break
            after = subjects.page_key(page[-1], sort)
        ids = [r.id for r in pages]
        assert len(ids) == 1050, sort
        assert set(ids) == all_ids, sort
        # The same order as one unpaged query: keyset pages neither skip nor repeat.
        whole = subjects.list_subjects(instance.support, None, sort=sort, descending=descending, limit=2000,
                                       audit_view=False)
        assert ids == [r.id for r in whole], sort
        # Ordered by the sort value, ties broken by id in the same direction.
        if sort in ("created_at", "last_active_at", "id"):
            keys = [(_sort_value(r, sort), r.id) for r in pages]
            assert keys == sorted(keys, reverse=descending), sort
        else:
            for a, b in zip(pages, pages[1:], strict=False):
                if _sort_value(a, sort) == _sort_value(b, sort):
                    assert (a.id > b.id) if descending else (a.id < b.id), sort


def test_keyset_paging_with_search_and_status(instance: Instance) -> None:
    _make_many(300)
    every_third = [s.id for s in Subject.select(Subject.id).order_by(Subject.id)][::3]
    Subject.update(restricted=True).where(Subject.id.in_(every_third)).execute()
    expected = {s.id for s in Subject.select(Subject.id).where(
        (Subject.restricted == True) & Subject.search_key.contains("novakova"))}  # noqa: E712
    assert expected
    seen: list[int] = []
    after = None
    while True:
        page = subjects.list_subjects(instance.support, "NOVÁKOVÁ", status="restricted", sort="created_at",
                                      after=after, limit=7)
        seen.extend(r.id for r in page)
        if len(page) < 7:
            break
        after = subjects.page_key(page[-1], "created_at")
    assert len(seen) == len(set(seen)) and set(seen) == expected


# ---------------------------------------------------------------- rectification


def test_rectify_keeps_old_and_new_in_history_and_audits_only_the_field(instance: Instance) -> None:
    s = add_subject("Jan Stastny", "sk-1", email="jan@example.sk")
    row = subjects.rectify_subject(instance.compliance, s.id, "name", "Ján Šťastný", "Spelling per ID card",
                                   expected_version=1)
    assert row.name == "Ján Šťastný" and row.version == 2
    row = subjects.rectify_subject(instance.compliance, s.id, "birth_date", "1984-03-02", "Birth certificate",
                                   expected_version=2)
    assert row.birth_date == dt.date(1984, 3, 2)

    changes = list(SubjectChange.select().where(SubjectChange.subject == s.id).order_by(SubjectChange.id))
    assert [(c.field, c.old_value, c.new_value, c.reason) for c in changes] == [
        ("name", "Jan Stastny", "Ján Šťastný", "Spelling per ID card"),
        ("birth_date", None, "1984-03-02", "Birth certificate"),
    ]
    assert all(c.operator_id == instance.compliance.operator_id for c in changes)

    events = list(AuditEvent.select().where(AuditEvent.action == "subject.rectify").order_by(AuditEvent.seq))
    assert [json.loads(e.details) for e in events] == [{"field": "name", "request": None},
                                                       {"field": "birth_date", "request": None}]
    everything = " ".join(e.details for e in AuditEvent.select())
    for personal in ("Stastny", "Šťastný", "Ján", "1984-03-02", "jan@example.sk", "ID card"):
        assert personal not in everything
    assert audit.verify_chain().ok

    detail = subjects.get_subject(instance.compliance, subject_id=s.id)
    assert [c.field for c in detail.changes] == ["birth_date", "name"]  # newest first
    assert detail.changes[1].operator == "eva"
    assert found(instance, "jan stastny") == ["sk-1"]  # the search key followed the new name


@pytest.mark.parametrize(("field", "value", "message"), [
    ("email", "not-an-address", "not an e-mail"),
    ("birth_date", (dt.date.today() + dt.timedelta(days=2)).isoformat(), "not a plausible"),
    ("birth_date", "31.12.1990", "not a date"),
    ("name", "", "name is required"),
    ("name", "x" * 10_000, "10,000 characters"),
    ("phone", "call me maybe", "not a phone"),
    ("user_id", "new", "cannot be corrected"),
])
def test_rectify_refuses_invalid_values(instance: Instance, field: str, value: str, message: str) -> None:
    s = add_subject("Ján Šťastný", "sk-1")
    with pytest.raises(ValidationError, match=message):
        subjects.rectify_subject(instance.compliance, s.id, field, value, "reason", expected_version=1)
    with pytest.raises(ValidationError, match="needs a reason"):
        subjects.rectify_subject(instance.compliance, s.id, "name", "Ján Nový", "   ", expected_version=1)
    assert Subject.get_by_id(s.id).version == 1
    assert SubjectChange.select().count() == 0


def test_stale_version_is_a_conflict_showing_the_current_value(instance: Instance) -> None:
    s = add_subject("Jan Stastny", "sk-1", email="old@example.sk")
    # Two workstations open the same account.
    seen_by_first = subjects.get_subject(instance.compliance, subject_id=s.id).subject.version
    seen_by_second = subjects.get_subject(instance.compliance, subject_id=s.id).subject.version
    assert seen_by_first == seen_by_second == 1

    subjects.rectify_subject(instance.compliance, s.id, "email", "first@example.sk", "Customer call",
                             expected_version=seen_by_first)
    with pytest.raises(ConflictError) as info:
        subjects.rectify_subject(instance.compliance, s.id, "email", "second@example.sk", "Letter",
                                 expected_version=seen_by_second)
    assert info.value.current == {"email": "first@example.sk", "version": 2}
    assert "another workstation" in info.value.message
    assert Subject.get_by_id(s.id).email == "first@example.sk"
    assert SubjectChange.select().count() == 1


def test_support_may_not_rectify_or_import(instance: Instance, tmp_path: Path) -> None:
    s = add_subject("Ján Šťastný", "sk-1")
    with pytest.raises(PermissionDenied):
        subjects.rectify_subject(instance.support, s.id, "name", "Ján Nový", "reason", expected_version=1)
    path = write_csv(tmp_path / "u.csv", [["sk-2", "Eva Malá", "", "", "", "", ""]])
    with pytest.raises(PermissionDenied):
        subjects.import_subjects_csv(instance.support, path)
    assert Subject.select().count() == 1
    assert Subject.get_by_id(s.id).name == "Ján Šťastný"
    assert subjects.list_subjects(instance.support)  # reading is allowed


# ---------------------------------------------------------------- CSV import


def test_import_creates_updates_and_is_idempotent(instance: Instance, tmp_path: Path) -> None:
    rows = [
        ["sk-1", "Ján Šťastný", "jan@example.sk", "+421 900 123 456", "1984-03-02", "2023-05-01T10:00:00Z", ""],
        ["cz-1", "Jana Nováková", "", "", "", "", "2025-01-02T08:30:00Z"],
        ["pl-1", "Łukasz Wójcik", "lukasz@example.pl", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "users.csv", rows)
    first = subjects.import_subjects_csv(instance.compliance, path)
    assert (first.created, first.updated, first.unchanged, first.refused) == (3, 0, 0, [])
    sk = Subject.get(Subject.user_id == "sk-1")
    assert sk.birth_date == dt.date(1984, 3, 2) and sk.created_at == dt.datetime(2023, 5, 1, 10, 0)

    again = subjects.import_subjects_csv(instance.compliance, path)
    assert (again.created, again.updated, again.unchanged, again.refused) == (0, 0, 3, [])
    assert Subject.select().count() == 3

    rows[1][2] = "jana@example.cz"
    changed = subjects.import_subjects_csv(instance.compliance, write_csv(tmp_path / "users2.csv", rows))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)
    change = SubjectChange.get()
    assert (change.field, change.old_value, change.new_value, change.reason) == (
        "email", None, "jana@example.cz", "import")
    everything = " ".join(e.details for e in AuditEvent.select())
    assert "jana@example.cz" not in everything and "Nováková" not in everything


def test_import_refuses_bad_rows_by_line_while_good_rows_load(instance: Instance, tmp_path: Path) -> None:
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    path = tmp_path / "mixed.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerow(["ok-1", "Ján Šťastný", "", "", "", "", ""])  # line 2
        writer.writerow(["", "No Identifier", "", "", "", "", ""])  # line 3
        writer.writerow(["bad-mail", "Eva Malá", "eva(at)example", "", "", "", ""])  # line 4
        writer.writerow(["future", "Ivo Budúci", "", "", future, "", ""])  # line 5
        writer.writerow(["long", "N" * 10_000, "", "", "", "", ""])  # line 6
        writer.writerow(["extra", "Too Many", "", "", "", "", "", "surplus"])  # line 7
        writer.writerow(["ok-2", "Zoë 😀 Nováková", "zoe@example.cz", "", "", "", ""])  # line 8
        writer.writerow(["ok-1", "Ján Duplicate", "", "", "", "", ""])  # line 9
    report = subjects.import_subjects_csv(instance.compliance, path)
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    refused = dict(report.refused)
    assert sorted(refused) == [3, 4, 5, 6, 7, 9]
    assert "user ID is required" in refused[3]
    assert "e-mail" in refused[4]
    assert "plausible date of birth" in refused[5]
    assert "10,000 characters" in refused[6]
    assert refused[7] == "The row has 8 fields; the header has 7."
    assert refused[9] == "The user ID ok-1 appears earlier in the file (line 2)."
    assert sorted(s.user_id for s in Subject.select()) == ["ok-1", "ok-2"]
    assert Subject.get(Subject.user_id == "ok-1").name == "Ján Šťastný"


def test_import_refuses_a_file_that_is_not_utf8(instance: Instance, tmp_path: Path) -> None:
    path = tmp_path / "windows-1250.csv"
    good = "".join(f"u{i},Person {i},,,,,\n" for i in range(3000))  # past the first read buffer
    path.write_bytes((",".join(HEADER) + "\n" + good + "cz-1,Jiří Dvořák,,,,,\n").encode("cp1250"))
    with pytest.raises(ValidationError, match="not a UTF-8 file: line 3,002"):
        subjects.import_subjects_csv(instance.compliance, path)
    assert Subject.select().count() == 0  # nothing half-imported


def test_import_refuses_a_file_without_the_header(instance: Instance, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [["a", "b"]], header=["id", "full_name"])
    with pytest.raises(ValidationError, match="no user_id and name column"):
        subjects.import_subjects_csv(instance.compliance, path)
    with pytest.raises(ValidationError, match="does not exist"):
        subjects.import_subjects_csv(instance.compliance, tmp_path / "missing.csv")


def test_import_progress_can_stop_after_a_batch(instance: Instance, tmp_path: Path) -> None:
    rows = [[f"u{i:04d}", f"Person {i}", "", "", "", "", ""] for i in range(subjects.IMPORT_BATCH * 2 + 10)]
    calls: list[int] = []

    def progress(done: int) -> bool:
        calls.append(done)
        return False

    report = subjects.import_subjects_csv(instance.compliance, write_csv(tmp_path / "big.csv", rows),
                                          progress=progress)
    assert calls == [subjects.IMPORT_BATCH]
    assert report.created == subjects.IMPORT_BATCH == Subject.select().count()
