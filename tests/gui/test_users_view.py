"""The Users area as an operator uses it: search, sort, detail, correction, import, errors.

Drives real widgets offscreen with qtbot and checks what the view shows, the
rows in the database and the audit events written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from rcrm_desktop.core import subjects
from rcrm_desktop.core.instance import OpenedInstance
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.db.models import AuditEvent, Subject, SubjectChange
from rcrm_desktop.ui import colors, tasks
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.users import UsersView
from tests.conftest import Instance

pytestmark = pytest.mark.gui

PEOPLE = [
    ["sk-0001", "Ján Šťastný", "jan.stastny@example.sk", "+421 905 111 222", "1984-03-02",
     "2023-01-10T09:00:00Z", "2025-05-01T10:00:00Z"],
    ["sk-0002", "PETER ZELENÝ", "peter@example.sk", "", "1979-11-30", "2023-02-11T09:00:00Z", ""],
    ["pl-0001", "Łukasz Wójcik", "lukasz@example.pl", "+48 600 700 800", "", "2023-03-12T09:00:00Z",
     "2025-06-01T10:00:00Z"],
    ["cz-0001", "Jana Nováková", "jana@example.cz", "", "1990-07-15", "2023-04-13T09:00:00Z", ""],
    ["fr-0001", "Émile Dubois", "", "", "", "2023-05-14T09:00:00Z", "2024-12-24T18:30:00Z"],
    ["es-0001", "Zoë 😀 García", "zoe@example.es", "", "", "2023-06-15T09:00:00Z", ""],
    ["de-0001", "Anna Müller", "anna@example.de", "+49 30 1234567", "1965-01-01", "2023-07-16T09:00:00Z", ""],
]


@pytest.fixture
def synchronous_tasks() -> Iterator[None]:
    """Background tasks run in the calling thread, so results arrive before the call returns."""
    tasks.set_synchronous(True)
    yield
    tasks.set_synchronous(False)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(subjects.CSV_HEADER)
        writer.writerows(rows)
    return path


def session_for(inst: Instance, actor: Actor) -> AppSession:
    return AppSession(actor, OpenedInstance(inst.url, inst.url, "sqlite", None))


def make_view(qtbot: QtBot, inst: Instance, actor: Actor) -> UsersView:
    view = UsersView(session_for(inst, actor))
    qtbot.addWidget(view)
    view.resize(1400, 850)
    view.show()
    view.activate()
    return view


@pytest.fixture
def people(sqlite_instance: Instance, tmp_path: Path) -> Instance:
    report = subjects.import_subjects_csv(sqlite_instance.compliance, write_csv(tmp_path / "people.csv", PEOPLE))
    assert report.created == len(PEOPLE) and not report.refused
    Subject.update(restricted=True, restricted_reason="Accuracy contested").where(
        Subject.user_id == "cz-0001").execute()
    Subject.update(objected=True).where(Subject.user_id == "fr-0001").execute()
    return sqlite_instance


@pytest.fixture
def view(qtbot: QtBot, people: Instance, synchronous_tasks: None) -> UsersView:
    return make_view(qtbot, people, people.compliance)


def names(view: UsersView) -> list[str]:
    return [r.name for r in view.model.rows()]


def search(qtbot: QtBot, view: UsersView, text: str) -> None:
    view.search.clear()
    if all(ord(ch) <= 0xFFFF for ch in text):
        qtbot.keyClicks(view.search, text)
    else:  # QTest cannot type characters outside the BMP (emoji); paste them instead
        view.search.setText(text)
    view.search.flush()


def select(qtbot: QtBot, view: UsersView, row: int) -> int:
    view.table.selectRow(row)
    subject = view.model.row_at(row)
    assert subject is not None
    qtbot.waitUntil(lambda: view.detail.current_id == subject.id and view.detail.detail is not None)
    return subject.id


def click_header(qtbot: QtBot, view: UsersView, key: str) -> None:
    header = view.table.horizontalHeader()
    column = next(i for i, c in enumerate(view.model.columns) if c.key == key)
    pos = QPoint(header.sectionViewportPosition(column) + 12, header.height() // 2)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=pos)


# ---------------------------------------------------------------- list, search, sort


def test_lists_accounts_by_name_with_a_background_count(view: UsersView) -> None:
    assert names(view) == sorted(names(view), key=lambda n: subjects.fold(n))
    assert len(names(view)) == len(PEOPLE)
    assert view.count_label.text() == f"{len(PEOPLE)} user accounts"
    assert view.empty_state_text() == ""
    # Large instances: capped match counts and the server's estimate read as such.
    assert view.count_text(subjects.SubjectCount(1_000_000, False, 1_000_000, True)) == \
        "about 1,000,000 user accounts"
    view.search.setText("jan")
    view.search.flush()
    assert view.count_text(subjects.SubjectCount(100_000, True, 1_000_000, True)) == "100,000+ of about 1,000,000"
    # Loading a page audits the ids shown, but opens no subject.
    assert AuditEvent.select().where(AuditEvent.action == "subjects.list").count() == 1
    assert AuditEvent.select().where(AuditEvent.action == "subject.view").count() == 0


def test_model_passes_the_model_tester(view: UsersView, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    qtmodeltester.check(view.model)


def test_typing_a_name_without_accents_finds_it(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "stastny")
    assert names(view) == ["Ján Šťastný"]
    assert view.count_label.text() == f"1 of {len(PEOPLE)}"
    search(qtbot, view, "ZELENY")
    assert names(view) == ["PETER ZELENÝ"]
    search(qtbot, view, "lukasz")
    assert names(view) == ["Łukasz Wójcik"]
    search(qtbot, view, "cz-00")
    assert names(view) == ["Jana Nováková"]
    event = AuditEvent.select().order_by(AuditEvent.seq.desc()).get()
    assert event.action == "subjects.search" and "cz-00" not in event.details


def test_sql_text_wildcards_and_emoji_behave(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "'; DROP TABLE subject; --")
    assert names(view) == []
    assert "No user matches “'; DROP TABLE subject; --”" in view.empty_state_text()
    assert view.empty_clear_button.isVisibleTo(view)
    search(qtbot, view, "%")
    assert names(view) == []
    search(qtbot, view, "_")
    assert names(view) == []
    search(qtbot, view, "😀")
    assert names(view) == ["Zoë 😀 García"]
    assert Subject.select().count() == len(PEOPLE)
    assert view.search_error_text() == ""


def test_a_10000_character_search_shows_an_inline_error(qtbot: QtBot, view: UsersView) -> None:
    view.search.setText("ž" * 10_000)
    view.search.flush()
    assert "too long" in view.search_error_text()
    assert view.search_error.isVisibleTo(view)
    assert view.last_message_box is None  # inline, not a dialog per keystroke
    assert names(view) == []
    assert view.count_label.text() == "—"
    qtbot.keyClick(view.search, Qt.Key.Key_Escape)
    view.search.flush()
    assert view.search_error_text() == ""
    assert len(names(view)) == len(PEOPLE)


def test_clicking_headers_sorts_in_the_database(qtbot: QtBot, view: UsersView) -> None:
    click_header(qtbot, view, "user_id")
    assert view.sort_key == "user_id" and not view.descending
    ids = [r.user_id for r in view.model.rows()]
    assert ids == sorted(ids)
    click_header(qtbot, view, "user_id")
    assert view.descending
    assert [r.user_id for r in view.model.rows()] == sorted(ids, reverse=True)
    click_header(qtbot, view, "created_at")
    created = [r.created_at for r in view.model.rows()]
    assert view.sort_key == "created_at" and created == sorted(created)
    click_header(qtbot, view, "email")  # not sortable: the order and the indicator stay
    assert view.sort_key == "created_at"
    header = view.table.horizontalHeader()
    assert view.model.columns[header.sortIndicatorSection()].key == "created_at"


def test_status_filter_and_state_colours(qtbot: QtBot, view: UsersView) -> None:
    view.status_combo.setCurrentIndex(view.status_combo.findData("restricted"))
    assert names(view) == ["Jana Nováková"]
    assert view.count_label.text() == f"1 of {len(PEOPLE)}"
    status_col = next(i for i, c in enumerate(view.model.columns) if c.key == "status")
    index = view.model.index(0, status_col)
    assert view.model.data(index) == "Restricted"
    assert view.model.data(index, Qt.ItemDataRole.ForegroundRole).name() == colors.RESTRICTED.name()
    view.status_combo.setCurrentIndex(view.status_combo.findData("objected"))
    assert names(view) == ["Émile Dubois"]
    assert view.model.data(view.model.index(0, status_col)) == "Objected"
    search(qtbot, view, "stastny")
    assert names(view) == []
    assert "Only accounts that objected are shown." in view.empty_state_text()


def test_escape_clears_the_search(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "stastny")
    assert len(names(view)) == 1
    view.table.setFocus()
    qtbot.keyClick(view.table, Qt.Key.Key_Escape)
    assert view.search.text() == ""
    assert len(names(view)) == len(PEOPLE)
    search(qtbot, view, "zeleny")
    qtbot.keyClick(view.search, Qt.Key.Key_Escape)
    view.search.flush()
    assert len(names(view)) == len(PEOPLE)


def test_focus_search_puts_the_cursor_in_the_field(view: UsersView) -> None:
    view.table.setFocus()
    view.focus_search()
    assert view.search.hasFocus()


# ---------------------------------------------------------------- detail


def test_selecting_a_row_shows_its_detail_and_audits_the_view(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "stastny")
    subject_id = select(qtbot, view, 0)
    pane = view.detail
    assert pane.name_label.text() == "Ján Šťastný"
    assert pane.values["email"].text() == "jan.stastny@example.sk"
    assert pane.values["birth_date"].text().startswith("1984-03-02 (age ")
    assert "UTC" in pane.values["created_at"].toolTip()
    assert pane.recordings_tile.number.text() == "0"
    assert pane.history_empty.isVisibleTo(pane) and pane.history_texts() == []
    views = list(AuditEvent.select().where(AuditEvent.action == "subject.view"))
    assert [(e.target_type, e.target_id) for e in views] == [("subject", str(subject_id))]
    assert "Šťastný" not in views[0].details
    # Selecting the same row again does not open (and audit) it a second time.
    view.table.clearSelection()
    view.table.selectRow(0)
    qtbot.wait(200)
    assert AuditEvent.select().where(AuditEvent.action == "subject.view").count() == 1


def test_enter_opens_the_detail_at_once(qtbot: QtBot, view: UsersView) -> None:
    view.table.setFocus()
    view.table.selectRow(2)
    qtbot.keyClick(view.table, Qt.Key.Key_Return)
    row = view.model.row_at(2)
    assert row is not None and view.detail.current_id == row.id
    assert view.detail.correct_button.hasFocus()


def test_restricted_account_shows_the_state_with_colour_and_text(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "novakova")
    select(qtbot, view, 0)
    chips = [c.text() for c in view.detail.chips]
    assert chips == ["Restricted"]
    assert colors.RESTRICTED.name() in view.detail.chips[0].styleSheet()
    assert "Accuracy contested" in view.detail.states_label.text()


def test_show_subject_clears_the_search_when_needed(qtbot: QtBot, view: UsersView) -> None:
    target = Subject.get(Subject.user_id == "de-0001").id
    search(qtbot, view, "stastny")
    view.show_subject(target)
    assert view.search.text() == ""
    assert view.detail.current_id == target
    selected = view.selected_row()
    assert selected is not None and selected.id == target


# ---------------------------------------------------------------- rectification


def open_dialog(qtbot: QtBot, view: UsersView):  # type: ignore[no-untyped-def]
    qtbot.mouseClick(view.detail.correct_button, Qt.MouseButton.LeftButton)
    dialog = view.detail.rectify_dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_rectify_through_the_dialog_updates_row_detail_and_database(qtbot: QtBot, view: UsersView,
                                                                    people: Instance) -> None:
    search(qtbot, view, "stastny")
    subject_id = select(qtbot, view, 0)
    dialog = open_dialog(qtbot, view)
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData("email"))
    assert dialog.current_label.text() == "jan.stastny@example.sk"
    dialog.value_edit.clear()
    qtbot.keyClicks(dialog.value_edit, "jan@stastny.sk")
    qtbot.keyClicks(dialog.reason_edit, "Customer confirmed by phone")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    assert not dialog.isVisible()
    row = view.model.row_at(0)
    assert row is not None and row.email == "jan@stastny.sk" and row.version == 2
    pane = view.detail
    assert pane.values["email"].text() == "jan@stastny.sk"
    assert pane.history_title.text() == "CHANGE HISTORY (1)"
    [entry] = pane.history_texts()
    assert "E-mail" in entry and "jan.stastny@example.sk → jan@stastny.sk" in entry
    assert "Customer confirmed by phone" in entry and "by eva" in entry
    table = pane.open_history_table()
    assert table is not None and table.table.rowCount() == 1
    cells = [table.table.item(0, c).text() for c in range(6)]
    assert cells[:5] == ["E-mail", "jan.stastny@example.sk", "jan@stastny.sk", "Customer confirmed by phone",
                         "eva"]
    assert [table.table.horizontalHeaderItem(c).text() for c in range(6)] == [
        "Field", "Old value", "New value", "Reason", "Operator", "Time"]
    assert Subject.get_by_id(subject_id).email == "jan@stastny.sk"
    change = SubjectChange.get()
    assert (change.old_value, change.new_value) == ("jan.stastny@example.sk", "jan@stastny.sk")
    event = AuditEvent.select().where(AuditEvent.action == "subject.rectify").get()
    assert json.loads(event.details) == {"field": "email", "request": None}


def test_rectify_birth_date_with_the_date_editor(qtbot: QtBot, view: UsersView) -> None:
    search(qtbot, view, "dubois")
    subject_id = select(qtbot, view, 0)
    dialog = open_dialog(qtbot, view)
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData("birth_date"))
    assert dialog.value_stack.currentIndex() == 1 and dialog.current_label.text() == "(empty)"
    from PySide6.QtCore import QDate

    dialog.date_edit.setDate(QDate(1971, 4, 5))
    qtbot.keyClicks(dialog.reason_edit, "Passport")
    dialog.accept()
    assert str(Subject.get_by_id(subject_id).birth_date) == "1971-04-05"
    assert view.detail.values["birth_date"].text().startswith("1971-04-05")


def test_invalid_value_or_missing_reason_keeps_the_dialog_open(qtbot: QtBot, view: UsersView) -> None:
    select(qtbot, view, 0)
    dialog = open_dialog(qtbot, view)
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData("email"))
    dialog.value_edit.setText("not an address")
    qtbot.keyClicks(dialog.reason_edit, "typo")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert "is not an e-mail address" in dialog.message()
    dialog.value_edit.setText("valid@example.com")
    dialog.reason_edit.clear()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "needs a reason" in dialog.message()
    assert SubjectChange.select().count() == 0


def test_conflict_with_another_workstation_shows_the_current_value(qtbot: QtBot, view: UsersView,
                                                                   people: Instance) -> None:
    search(qtbot, view, "zeleny")
    subject_id = select(qtbot, view, 0)
    dialog = open_dialog(qtbot, view)
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData("name"))
    # Another workstation corrects the same account meanwhile.
    subjects.rectify_subject(people.compliance, subject_id, "name", "Peter Zelený", "Capitalisation",
                             expected_version=1)
    dialog.value_edit.setText("Petr Zelený")
    qtbot.keyClicks(dialog.reason_edit, "Czech spelling")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    assert dialog.isVisible()
    assert "Another workstation changed this user account" in dialog.message()
    assert "Peter Zelený" in dialog.message()
    assert dialog.current_label.text() == "Peter Zelený"
    assert view.detail.name_label.text() == "Peter Zelený"  # the pane reloaded
    row = view.model.row_at(0)
    assert row is not None and row.name == "Peter Zelený"
    assert Subject.get_by_id(subject_id).name == "Peter Zelený"
    # Having seen the current value, the operator may save again.
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert Subject.get_by_id(subject_id).name == "Petr Zelený"
    assert SubjectChange.select().count() == 2


def test_support_sees_correct_and_import_disabled(qtbot: QtBot, people: Instance,
                                                  synchronous_tasks: None) -> None:
    view = make_view(qtbot, people, people.support)
    select(qtbot, view, 0)
    button = view.detail.correct_button
    assert button.isVisible() and not button.isEnabled()
    assert "Support" in button.toolTip() and "subjects.rectify" in button.toolTip()
    assert view.detail.open_rectify() is None
    assert not view.import_action.isEnabled()
    assert "subjects.import" in view.import_action.toolTip()


# ---------------------------------------------------------------- empty state and import


def test_empty_instance_says_how_to_import(qtbot: QtBot, sqlite_instance: Instance,
                                           synchronous_tasks: None) -> None:
    view = make_view(qtbot, sqlite_instance, sqlite_instance.compliance)
    text = view.empty_state_text()
    assert "No user accounts yet — import them with File ▸ Import users…" in text
    assert "rcrm-desktop users import FILE.csv" in text
    assert view.empty_import_button.isVisibleTo(view)
    assert view.count_label.text() == "0 user accounts"


def test_import_shows_a_summary_with_refused_lines(qtbot: QtBot, sqlite_instance: Instance,
                                                   synchronous_tasks: None, tmp_path: Path) -> None:
    view = make_view(qtbot, sqlite_instance, sqlite_instance.compliance)
    path = write_csv(tmp_path / "import.csv", [
        ["sk-1", "Ján Šťastný", "", "", "", "", ""],
        ["sk-2", "Eva Malá", "eva(at)example", "", "", "", ""],
        ["sk-3", "Ivo Veľký", "ivo@example.sk", "", "", "", ""],
    ])
    view.start_import(path)
    box = view.last_message_box
    assert box is not None
    assert "2 created, 0 updated, 0 unchanged, 1 refused." in box.text()
    assert "Line 3:" in box.informativeText() and "not an e-mail address" in box.informativeText()
    assert box.icon() == QMessageBox.Icon.Warning
    assert view.import_progress is None
    assert sorted(names(view)) == ["Ivo Veľký", "Ján Šťastný"]
    assert view.count_label.text() == "2 user accounts"

    box.close()
    view.start_import(path)  # idempotent
    box = view.last_message_box
    assert box is not None and "0 created, 0 updated, 2 unchanged, 1 refused." in box.text()


def test_import_of_a_non_utf8_file_shows_the_reason(qtbot: QtBot, sqlite_instance: Instance,
                                                    synchronous_tasks: None, tmp_path: Path) -> None:
    view = make_view(qtbot, sqlite_instance, sqlite_instance.compliance)
    path = tmp_path / "cp1250.csv"
    path.write_bytes((",".join(subjects.CSV_HEADER) + "\ncz-1,Jiří Dvořák,,,,,\n").encode("cp1250"))
    view.start_import(path)
    box = view.last_message_box
    assert box is not None and box.windowTitle() == "Import failed"
    assert "not a UTF-8 file" in box.text()
    assert Subject.select().count() == 0


def test_count_and_import_really_run_in_the_background(qtbot: QtBot, people: Instance, tmp_path: Path) -> None:
    tasks.set_synchronous(False)  # real QThreadPool workers (the GUI conftest makes tasks synchronous)
    view = make_view(qtbot, people, people.compliance)
    assert len(names(view)) == len(PEOPLE)  # the first page is there at once
    assert view.count_label.text() == "loading…"
    qtbot.waitUntil(lambda: view.count_label.text() == f"{len(PEOPLE)} user accounts", timeout=10_000)

    path = write_csv(tmp_path / "more.csv", [[f"bg-{i:04d}", f"Background Person {i}", "", "", "", "", ""]
                                             for i in range(1200)])
    view.start_import(path)
    qtbot.waitUntil(lambda: view.last_message_box is not None, timeout=20_000)
    box = view.last_message_box
    assert box is not None and "1,200 created" in box.text()
    assert Subject.select().count() == len(PEOPLE) + 1200
    qtbot.waitUntil(lambda: view.count_label.text() == f"{len(PEOPLE) + 1200:,} user accounts", timeout=10_000)
    assert tasks.wait_for_all(10_000)


def test_cancel_stops_the_import_after_the_current_batch(qtbot: QtBot, sqlite_instance: Instance,
                                                          tmp_path: Path) -> None:
    tasks.set_synchronous(False)
    view = make_view(qtbot, sqlite_instance, sqlite_instance.compliance)
    rows = [[f"c-{i:05d}", f"Cancelled Person {i}", "", "", "", "", ""] for i in range(subjects.IMPORT_BATCH * 12)]
    view.start_import(write_csv(tmp_path / "big.csv", rows))
    progress = view.import_progress
    assert progress is not None
    progress.canceled.emit()  # the operator presses Cancel (or Esc)
    qtbot.waitUntil(lambda: view.last_message_box is not None, timeout=20_000)
    box = view.last_message_box
    assert box is not None and box.windowTitle() == "Import stopped"
    imported = Subject.select().count()
    assert 0 < imported < len(rows) and imported % subjects.IMPORT_BATCH == 0
    assert f"{imported:,} created" in box.text()
    assert view.import_progress is None and view.import_action.isEnabled()
    assert tasks.wait_for_all(10_000)


# ---------------------------------------------------------------- state


def test_sort_and_splitter_are_remembered(qtbot: QtBot, view: UsersView, people: Instance,
                                          tmp_path: Path) -> None:
    click_header(qtbot, view, "created_at")
    click_header(qtbot, view, "created_at")
    view.splitter.setSizes([1000, 380])
    settings = QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat)
    view.save_state(settings)
    settings.sync()

    again = UsersView(session_for(people, people.compliance))
    qtbot.addWidget(again)
    again.resize(1400, 850)
    again.show()
    again.restore_state(QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat))
    again.activate()
    assert (again.sort_key, again.descending) == ("created_at", True)
    created = [r.created_at for r in again.model.rows()]
    assert created == sorted(created, reverse=True)
    assert abs(again.splitter.sizes()[1] - 380) <= 2


def test_a_right_to_left_name_keeps_the_programʼs_left_to_right_layout(qtbot: QtBot, view: UsersView) -> None:
    """A label takes its direction from its first letter: an Arabic name made the title a right-aligned line."""
    from rcrm_desktop.ui import fmt

    name = "فاطمة الزهراء"
    Subject.create(user_id="eg-0001", name=name, name_key=name, search_key=subjects.make_search_key(name, "eg-0001"))
    search(qtbot, view, "eg-0001")
    select(qtbot, view, 0)
    assert view.detail.name_label.text() == fmt.LRM + name
    assert fmt.ltr("Ján Šťastný · sk-0001") == "Ján Šťastný · sk-0001"  # nothing added where nothing reverses
    assert fmt.ltr(f"{name} · eg-0001").startswith(fmt.LRM)
