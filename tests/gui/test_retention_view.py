"""The Retention area as a compliance officer uses it: rules with their preview, the items of a rule,
what is held back and why, applying with confirmation, progress, cancel and a report, and legal holds.

Drives real widgets offscreen with qtbot; checks what the view shows, the rows in the database, the files
in the store and the audit events written. Background tasks run synchronously (``tests/gui/conftest.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from rcrm_desktop.core import holds, retention
from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.pending import _hostname
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.store import open_store
from rcrm_desktop.db.models import AuditEvent, LegalHold, Recording, RetentionRun, utcnow
from rcrm_desktop.ui import colors, style, tasks
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.retention import RetentionView
from tests.conftest import Instance
from tests.gui.conftest import MessageBoxes
from tests.unit.test_retention import DAY, make_recording, make_subject

pytestmark = pytest.mark.gui

MakeSession = Callable[[Actor], AppSession]


@pytest.fixture
def data(sqlite_instance: Instance) -> dict[str, Any]:
    """Six expired recordings (one held, one of a subject with an open request) and two young ones."""
    officer = sqlite_instance.compliance
    store = open_store()
    now = utcnow()
    held_account = make_subject("U-700100")
    asking = make_subject("U-700200")
    expired = [make_recording(store, now - (400 + i) * DAY, None, officer.operator_id) for i in range(4)]
    of_held = make_recording(store, now - 500 * DAY, held_account)
    of_asking = make_recording(store, now - 500 * DAY, asking)
    young = [make_recording(store, now - DAY) for _ in range(2)]
    hold = holds.add_hold(officer, "Litigation 2026/17", user_id="U-700100")
    request = rq.create_request(officer, "access", "Person U-700200", subject_id=asking.id)
    retention.set_rule(officer, "recordings", max_age_days=365, enabled=True)
    return {"store": store, "expired": expired, "of_held": of_held, "of_asking": of_asking, "young": young,
            "hold": hold, "request": request}


def make_view(qtbot: QtBot, session: AppSession) -> RetentionView:
    view = RetentionView(session)
    qtbot.addWidget(view)
    view.resize(1400, 850)
    view.show()
    view.activate()
    return view


def column(model: Any, key: str) -> int:
    return next(i for i, c in enumerate(model.columns) if c.key == key)


def test_models_pass_the_model_tester(qtbot: QtBot, qtmodeltester: Any, data: dict[str, Any],
                                      sqlite_instance: Instance, make_session: MakeSession) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    qtmodeltester.check(view.rules_model)
    qtmodeltester.check(view.due_model)
    view.show_held(True)
    qtmodeltester.check(view.held_model)
    qtmodeltester.check(view.holds_model)
    retention.apply_retention(sqlite_instance.compliance)
    view.refresh()
    qtmodeltester.check(view.runs_model)


def test_rules_table_shows_each_rule_with_its_preview(qtbot: QtBot, data: dict[str, Any],
                                                      sqlite_instance: Instance, make_session: MakeSession) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    model = view.rules_model
    assert view.title() == "Retention" and RetentionView.icon_name == "calendar-clock"
    assert model.rowCount() == len(retention.CATEGORIES)
    row = model.find("recordings")

    def cell(key: str, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return model.data(model.index(row, model.COLUMNS.index(key)), role)

    assert cell("category") == "Recordings" and cell("age") == "1 year  (365 days)" and cell("action") == "Delete"
    assert cell("state") == "Enabled" and cell("due") == "4" and cell("held") == "2"
    assert cell("held", Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.HOLD)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", cell("changed"))  # the date; time and who in the tooltip
    tooltip = cell("changed", Qt.ItemDataRole.ToolTipRole)
    assert "by eva" in tooltip and "UTC" in tooltip
    audit_row = model.find("audit_log")
    assert model.data(model.index(audit_row, model.COLUMNS.index("state"))) == "Kept forever"
    assert "hash chain" in model.data(model.index(audit_row, 0), Qt.ItemDataRole.ToolTipRole)
    assert view.tile_due.value.text() == "4" and view.tile_held.value.text() == "2"
    assert "nothing changes until you apply" in view.preview_note.text()
    # The same numbers as the command line's preview.
    preview = retention.preview_retention(sqlite_instance.compliance, now=view.preview.as_of)  # type: ignore[union-attr]
    assert preview.as_json() == view.preview.as_json()  # type: ignore[union-attr]

    view.select_rule("recordings")
    assert view.items_title.text() == "Due now — Recordings"
    assert [r.id for r in view.due_model.rows()] == [r.id for r in data["expired"]]
    assert view.items_count.text() == "4 items"
    texts = view.why_texts()
    assert len(texts) == 2
    assert texts[0].startswith(f"On legal hold #{data['hold'].id} — 1 item") and "Litigation 2026/17" in texts[0]
    assert texts[1].startswith(f"Frozen by open request #{data['request'].id} — 1 item")

    view.show_held(True)
    held = view.held_model.rows()
    assert {r.id for r in held} == {data["of_held"].id, data["of_asking"].id}
    state = column(view.held_model, "state")
    by_id = {r.id: i for i, r in enumerate(held)}
    on_hold = view.held_model.index(by_id[data["of_held"].id], state)
    assert on_hold.data() == "On legal hold"
    assert on_hold.data(Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.HOLD)
    frozen = view.held_model.index(by_id[data["of_asking"].id], state)
    assert frozen.data() == "Frozen: open request"
    assert AuditEvent.select().where(AuditEvent.action.startswith("retention")).count() == 1  # the rule edit only


def test_a_disabled_rule_and_empty_lists_say_what_to_do(qtbot: QtBot, sqlite_instance: Instance,
                                                        make_session: MakeSession) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    view.select_rule("recordings")
    assert view.items_stack.currentWidget() is view.items_empty
    assert view.items_empty.title.text() == "This rule keeps everything"
    assert view.items_empty.button.text() == "Edit rule…" and not view.items_empty.button.isHidden()
    assert view.runs_stack.currentWidget() is view.runs_empty
    assert view.runs_empty.title.text() == "No retention run yet" and view.runs_empty.button.text() == "Apply now…"
    assert view.holds_stack.currentWidget() is view.holds_empty
    assert view.holds_empty.title.text() == "No active legal holds"
    assert view.holds_empty.button.text() == "Place a hold…"
    assert not view.apply_button.isEnabled()


def test_apply_confirms_the_counts_then_runs_and_reports(qtbot: QtBot, data: dict[str, Any],
                                                         sqlite_instance: Instance, make_session: MakeSession,
                                                         message_boxes: MessageBoxes) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    message_boxes.answer = QMessageBox.StandardButton.No
    view.apply_button.click()
    confirm = message_boxes.shown[-1]
    assert confirm.title == "Apply retention" and confirm.text == "Remove 4 item(s) now?"
    assert "Recordings: 4 deleted with their audio files (2 held back)" in confirm.informative
    assert "cannot be undone" in confirm.informative
    assert Recording.select().count() == 8 and not RetentionRun.select().exists()

    message_boxes.answer = QMessageBox.StandardButton.Yes
    view.apply_button.click()
    summary = message_boxes.shown[-1]
    assert summary.title == "Retention run #1 completed"
    assert summary.text == "4 item(s) removed, 4 audio file(s) deleted, 2 held back."
    assert "4 of 4 due deleted" in summary.informative
    left = {r.id for r in Recording.select()}
    assert left == {data["of_held"].id, data["of_asking"].id} | {r.id for r in data["young"]}
    store = data["store"]
    assert {store.relative_path(p) for p in store.root.rglob("*") if p.is_file()} == {
        r.path for r in Recording.select()}
    assert view.tabs.currentIndex() == 1 and view.runs_model.rowCount() == 1
    assert view.runs_model.index(0, column(view.runs_model, "state")).data() == "Completed"
    assert "Retention run #1" in view.report_view.toPlainText() and "Recordings" in view.report_view.toPlainText()
    assert view.tile_due.value.text() == "0" and view.tile_run.value.text() == "#1 · Completed"
    event = AuditEvent.select().where(AuditEvent.action == "retention.run").get()
    assert json.loads(event.details)["categories"]["recordings"]["deleted"] == 4


def test_cancel_stops_after_the_current_batch(qtbot: QtBot, data: dict[str, Any], sqlite_instance: Instance,
                                             make_session: MakeSession, message_boxes: MessageBoxes,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(retention.CATEGORIES, "recordings",
                        dataclasses.replace(retention.CATEGORIES["recordings"], batch=2))
    texts: list[str] = []
    original = tasks.Task.report

    def report(self: tasks.Task, done: int, total: int, text: str = "") -> bool:
        texts.append(text)
        if text.startswith("Deleting recording 1 of"):
            self.cancel()  # the officer presses Cancel while the first batch runs
        return original(self, done, total, text)

    monkeypatch.setattr(tasks.Task, "report", report)
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    view.start_apply()
    assert "Deleting recording 1 of 4" in texts
    summary = message_boxes.shown[-1]
    assert summary.title == "Retention run #1 stopped" and summary.icon == QMessageBox.Icon.Warning
    assert summary.text.startswith("Cancelled after a batch")
    assert Recording.select().count() == 6  # one batch of two went, completely
    assert RetentionRun.get().state == "cancelled"
    assert view.runs_model.index(0, column(view.runs_model, "state")).data() == "Cancelled"
    assert view.apply_task is None and view.apply_progress is None


def test_an_interrupted_run_is_announced_and_resumed(qtbot: QtBot, data: dict[str, Any], sqlite_instance: Instance,
                                                     make_session: MakeSession, message_boxes: MessageBoxes) -> None:
    officer = sqlite_instance.compliance
    now = utcnow()
    run = RetentionRun.create(as_of=now, state="running", operator_id=officer.operator_id, host=_hostname(),
                              pid=2 ** 22 + 12345, active=1, started_at=now, heartbeat_at=now)
    from rcrm_desktop.db.models import RetentionRunCategory

    RetentionRunCategory.create(run=run.id, category="recordings", max_age_days=365, action="delete",
                                cutoff=now - 365 * DAY, due_at_start=4, held_at_start=2)
    assert not _alive(2 ** 22 + 12345)
    view = make_view(qtbot, make_session(officer))
    assert not view.banner.isHidden() and f"run #{run.id} was interrupted" in view.banner_text.text()
    view.resume_button.click()
    assert RetentionRun.get_by_id(run.id).state == "completed"
    assert message_boxes.shown[-1].title == f"Retention run #{run.id} completed"
    assert view.banner.isHidden()
    assert Recording.select().count() == 4


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_editing_a_rule_is_checked_saved_and_audited(qtbot: QtBot, sqlite_instance: Instance,
                                                     make_session: MakeSession) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    dialog = view.edit_rule("crash_events")
    assert dialog is not None and view.rule_dialog is dialog
    assert dialog.action.count() == 2 and dialog.action.isEnabled()
    assert "nothing would be" in dialog.hint.text()
    dialog.amount.setValue(2)
    dialog.unit.setCurrentIndex(dialog.unit.findData(365))
    dialog.action.setCurrentIndex(dialog.action.findData("anonymise"))
    dialog.enabled.setChecked(True)
    dialog.update_hint()
    assert dialog.values() == (730, "anonymise", True)
    dialog.save_button.click()
    rule = next(r for r in retention.list_rules(sqlite_instance.compliance) if r.category == "crash_events")
    assert (rule.max_age_days, rule.action, rule.enabled) == (730, "anonymise", True)
    assert AuditEvent.select().where(AuditEvent.action == "retention.rule").count() == 1
    row = view.rules_model.find("crash_events")
    assert view.rules_model.data(view.rules_model.index(row, view.rules_model.COLUMNS.index("state"))) == "Enabled"

    recordings = view.edit_rule("recordings")
    assert recordings is not None and not recordings.action.isEnabled() and recordings.action.count() == 1
    retention.set_rule(sqlite_instance.compliance, "recordings", max_age_days=30)  # another workstation
    recordings.save_button.click()
    assert recordings.isVisible() and "was changed by eva" in recordings.error.text()
    recordings.reject()
    assert view.edit_rule("audit_log") is None and not view.edit_button.isEnabled()


def test_place_and_release_a_legal_hold(qtbot: QtBot, data: dict[str, Any], sqlite_instance: Instance,
                                        make_session: MakeSession) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    view.tabs.setCurrentIndex(2)
    assert view.tabs.tabText(2) == "Legal holds (1 active)"
    dialog = view.place_hold()
    assert dialog is not None and not dialog.ok_button.isEnabled()
    dialog.target.setCurrentIndex(dialog.target.findData("recording"))
    dialog.value.setText("99999")
    dialog.reason.setPlainText("Complaint to the regulator")
    dialog.ok_button.click()
    assert "no recording #99999" in dialog.error.text() and dialog.isVisible()
    dialog.value.setText(str(data["expired"][0].id))
    dialog.ok_button.click()
    assert not dialog.isVisible()
    assert view.tabs.tabText(2) == "Legal holds (2 active)" and view.holds_model.rowCount() == 2
    first = view.holds_model.row_at(0)
    assert first is not None and first.target == "recording"
    assert view.holds_model.index(0, column(view.holds_model, "state")).data() == "On legal hold"
    assert view.preview is not None and view.preview.rule("recordings").due == 3  # the preview follows

    view.holds_table.selectRow(0)
    assert view.release_button.isEnabled()
    release = view.release_hold()
    assert release is not None and not release.ok_button.isEnabled()
    release.reason.setPlainText("Regulator closed the case")
    release.ok_button.click()
    assert LegalHold.get_by_id(first.id).released_at is not None
    assert view.holds_model.rowCount() == 1
    view.holds_filter.setCurrentIndex(view.holds_filter.findData("released"))
    assert view.holds_model.index(0, column(view.holds_model, "state")).data() == "Released"


def test_support_staff_get_the_rule_not_the_data(qtbot: QtBot, data: dict[str, Any], sqlite_instance: Instance,
                                                 make_session: MakeSession) -> None:
    support = sqlite_instance.support
    assert not support.can(RetentionView.permission)  # the main window does not list the area
    view = make_view(qtbot, make_session(support))
    assert "may not do this" in view.preview_note.text()
    assert view.rules_model.rowCount() == 0 and not view.tabs.isTabEnabled(2)
    assert view.place_hold() is None


def test_rules_table_fits_a_1280_px_window_without_a_horizontal_scroll_bar(
        qtbot: QtBot, sqlite_instance: Instance, make_session: MakeSession) -> None:
    from rcrm_desktop.ui.app import build_main_window

    window = build_main_window(make_session(sqlite_instance.compliance), idle_timeout_ms=3_600_000)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    assert window.switch_to_area("RetentionView")
    view = window.current_area()
    assert isinstance(view, RetentionView)
    qtbot.waitUntil(lambda: view.rules_table.viewport().width() > 0)
    table = view.rules_table
    assert table.horizontalHeader().length() <= table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
    make_subject("U-700900")
    holds.add_hold(sqlite_instance.compliance, "Complaint escalated to the supervisory authority", user_id="U-700900")
    view.reload_holds()
    view.tabs.setCurrentIndex(2)
    holds_table = view.holds_table  # the legal holds too ("Placed" was cut and needed the scroll bar)
    qtbot.waitUntil(lambda: holds_table.isVisible() and holds_table.model().rowCount() == 1)
    assert holds_table.horizontalHeader().length() <= holds_table.viewport().width()
