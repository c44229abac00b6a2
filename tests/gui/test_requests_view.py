"""The Requests area as a compliance officer uses it: deadlines at a glance, intake, every step, the access
package, the erasure preview, letters and the children's report — driven through real widgets offscreen.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from rcrm_desktop.core import requests as rq
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.store import open_store
from rcrm_desktop.db.models import RightsRequest, Subject
from rcrm_desktop.ui import colors, style
from rcrm_desktop.ui.dialogs.erasure_preview import ErasurePreviewDialog
from rcrm_desktop.ui.dialogs.new_request import NewRequestDialog
from rcrm_desktop.ui.dialogs.package_review import PackageReviewDialog
from rcrm_desktop.ui.dialogs.request_actions import ExtendDialog, RejectDialog, TextStepDialog, VerifyIdentityDialog
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.requests import RequestsView
from tests.conftest import Instance
from tests.gui.conftest import MessageBoxes
from tests.unit.test_requests import make_subject

pytestmark = pytest.mark.gui

TODAY = dt.date.today()


def make_view(qtbot: QtBot, session: AppSession) -> RequestsView:
    view = RequestsView(session, store=open_store())
    qtbot.addWidget(view)
    view.resize(1400, 850)
    view.show()
    view.activate()
    return view


def column(view: RequestsView, key: str) -> int:
    return next(i for i, c in enumerate(view.model.columns) if c.key == key)


def cell(view: RequestsView, row: int, key: str, role: int = Qt.ItemDataRole.DisplayRole) -> object:
    return view.model.data(view.model.index(row, column(view, key)), role)


@pytest.fixture
def compliance_view(qtbot: QtBot, sqlite_instance: Instance,
                    make_session: Callable[[Actor], AppSession]) -> RequestsView:
    return make_view(qtbot, make_session(sqlite_instance.compliance))


def test_empty_state_offers_a_new_request(qtbot: QtBot, compliance_view: RequestsView,
                                          sqlite_instance: Instance) -> None:
    view = compliance_view
    assert RequestsView.title() == "Requests" and view.icon_name == "file-document-multiple-outline"
    assert "No rights requests" in view.empty_state_text() and view.empty.button.text() == "New request…"
    assert view.file_actions()[0].shortcut().toString() == "Ctrl+N"
    make_subject(sqlite_instance.compliance.operator_id, recordings=0, crash_events=0)
    view.empty.button.click()
    dialog = view.new_dialog
    assert isinstance(dialog, NewRequestDialog)
    dialog.requester_edit.setText("Jana Nováková")
    dialog.contact_edit.setText("jana@example.sk")
    dialog.type_combo.setCurrentIndex(dialog.type_combo.findData("erasure"))
    dialog.accept()
    assert "Choose the user account" in dialog.message()
    dialog.picker.search.setText("novakova")
    dialog.picker.search.flush()
    assert dialog.picker.results.count() == 1 and dialog.picker.selected_id() is not None
    received = TODAY - dt.timedelta(days=3)
    dialog.received_edit.setDate(QDate(received.year, received.month, received.day))
    due = rq.deadlines.due_date(received, holidays=rq.deadlines.instance_calendar())
    assert due.strftime("%B") in dialog.due_label.text()  # the due date follows the date of receipt
    dialog.accept()
    assert dialog.result_detail is not None and dialog.result_detail.row.type == "erasure"
    stored = RightsRequest.get_by_id(dialog.result_detail.id)
    assert stored.received_on == received and stored.subject_id is not None
    assert view.model.rowCount() == 1 and view.detail.detail is not None
    assert view.detail.detail.id == stored.id and "Erasure request #" in view.detail.title_label.text()


def test_deadlines_are_impossible_to_miss(qtbot: QtBot, compliance_view: RequestsView,
                                          sqlite_instance: Instance) -> None:
    actor = sqlite_instance.compliance
    overdue = rq.create_request(actor, "access", "Old One", received_on=TODAY - dt.timedelta(days=45))
    soon = rq.create_request(actor, "erasure", "Soon One", received_on=TODAY - dt.timedelta(days=27))
    fresh = rq.create_request(actor, "objection", "Fresh One", received_on=TODAY)
    closed = rq.create_request(actor, "access", "Closed One", received_on=TODAY - dt.timedelta(days=5))
    rq.withdraw_request(actor, closed.id)
    view = compliance_view
    view.reload()
    ids = [r.id for r in view.model.rows()]
    assert ids == [overdue.id, soon.id, fresh.id]  # earliest deadline first; closed ones hidden by default
    left_overdue = overdue.row.days_left()
    text = str(cell(view, 0, "days"))
    assert text.endswith("days overdue") and str(-left_overdue) in text
    assert cell(view, 0, "days", Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.OVERDUE)
    assert cell(view, 0, "days", Qt.ItemDataRole.BackgroundRole) == colors.tint(colors.OVERDUE)
    soon_text = str(cell(view, 1, "days"))
    assert soon_text.startswith("Due") and cell(view, 1, "days", Qt.ItemDataRole.ForegroundRole) == \
        style.state_color(colors.DUE_SOON)
    assert str(cell(view, 2, "days")).endswith("days left")
    assert cell(view, 2, "days", Qt.ItemDataRole.BackgroundRole) is None
    assert "Overdue only (1)" == view.overdue_check.text() and "Due within 7 days (1)" == view.soon_check.text()
    view.overdue_check.setChecked(True)
    assert [r.id for r in view.model.rows()] == [overdue.id]
    view.overdue_check.setChecked(False)
    view.soon_check.setChecked(True)
    assert [r.id for r in view.model.rows()] == [soon.id]
    view.clear_filters()
    view.state_combo.setCurrentIndex(view.state_combo.findData(None))
    assert closed.id in [r.id for r in view.model.rows()]
    assert str(cell(view, [r.id for r in view.model.rows()].index(closed.id), "days")).startswith("Closed")
    view.clear_filters()
    view.search.setText("soon one")
    view.search.flush()
    assert [r.id for r in view.model.rows()] == [soon.id]
    view.search.setText("nothing like this")
    view.search.flush()
    assert "No requests match" in view.empty_state_text()
    view.empty.button.click()  # "Clear filters"
    assert view.model.rowCount() == 3
    # Selecting a row opens the detail with the deadline box and chips.
    view._select_row(0)
    pane = view.detail
    assert pane.days_label.text() == text and "deadline passed" in pane.banner_label.text()
    assert [c.text() for c in pane.chips][:2] == ["Received", text]


def test_table_model_passes_qtmodeltester(qtmodeltester, compliance_view: RequestsView,  # type: ignore[no-untyped-def]
                                          sqlite_instance: Instance) -> None:
    data = make_subject(sqlite_instance.compliance.operator_id, recordings=2, crash_events=0)
    for kind in ("access", "erasure", "restriction"):
        rq.create_request(sqlite_instance.compliance, kind, "Jana", subject_id=data.subject.id)
    compliance_view.reload()
    qtmodeltester.check(compliance_view.model)
    detail = rq.verify_identity(sqlite_instance.compliance, compliance_view.model.rows()[0].id, "Known e-mail")
    review = PackageReviewDialog(sqlite_instance.compliance, detail, compliance_view)
    qtmodeltester.check(review.model)
    compliance_view.tabs.setCurrentIndex(1)
    qtmodeltester.check(compliance_view.children_panel.model)
    review.close()


def test_workflow_through_the_detail_pane(qtbot: QtBot, compliance_view: RequestsView,
                                          sqlite_instance: Instance) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    created = rq.create_request(actor, "restriction", "Jana Nováková", subject_id=data.subject.id,
                                received_on=TODAY - dt.timedelta(days=2))
    view = compliance_view
    view.reload()
    view.open_request(created.id)
    pane = view.detail
    assert set(pane.visible_actions()) >= {"verify", "start_verification", "wait", "extend", "restrict", "complete",
                                          "reject", "withdraw", "note"}
    assert not pane.buttons["restrict"].isEnabled()
    assert "verify the requester's identity first" in pane.buttons["restrict"].toolTip()
    dialog = pane.run_action("verify")
    assert isinstance(dialog, VerifyIdentityDialog)
    dialog.accept()
    assert "verification method is required" in dialog.message()
    dialog.method_combo.setCurrentIndex(1)
    dialog.accept()
    assert pane.detail is not None and pane.detail.row.state == "in_progress"
    assert "Verified" in pane.progress_values["identity"].text()
    row = view.model.find_row(lambda r: r.id == created.id)
    assert view.model.row_at(row).state == "in_progress"  # the table row followed
    wait = pane.run_action("wait")
    wait.reason_edit.setPlainText("Proof of the contested phone number")
    wait.accept()
    assert pane.detail.row.state == "awaiting_requester"
    assert "deadline keeps running" in pane.banner_label.text()
    assert pane.visible_actions().count("resume") == 1 and "wait" not in pane.visible_actions()
    resume = pane.run_action("resume")
    assert isinstance(resume, TextStepDialog)
    resume.accept()
    extend = pane.run_action("extend")
    assert isinstance(extend, ExtendDialog)
    extend.one_month.setChecked(True)
    assert extend.new_due_label.text()
    extend.reason_edit.setPlainText("Two call centres")
    extend.accept()
    assert pane.detail.row.extended_due_on is not None and pane.detail.extension_months == 1
    assert [c.text() for c in pane.chips][-1] == "Extended"
    assert pane.deadline_values["told"].isVisibleTo(pane) and pane.deadline_values["told"].text() != "—"
    restrict = pane.run_action("restrict")
    restrict.text_edit.setPlainText("Accuracy contested")
    restrict.accept()
    assert Subject.get_by_id(data.subject.id).restricted
    assert "Restricted (Art. 18)" in [c.text() for c in pane.subject_chip_widgets]
    assert "restricted" in str(cell(view, row, "subject"))
    complete = pane.run_action("complete")
    complete.accept()
    assert pane.detail.row.state == "completed"
    assert pane.visible_actions() == ["lift_restriction", "letter", "note"]
    texts = pane.timeline.texts()
    assert texts[0].startswith("Request received") and any(t.startswith("Identity verified") for t in texts)
    assert any("Deadline extended" in t for t in texts) and texts[-1].startswith("Completed")


def test_conflict_and_refusal_are_shown_inline(qtbot: QtBot, compliance_view: RequestsView,
                                               sqlite_instance: Instance) -> None:
    actor = sqlite_instance.compliance
    created = rq.create_request(actor, "access", "Peter Kováč")
    view = compliance_view
    view.reload()
    pane = view.detail
    view.open_request(created.id)
    dialog = pane.run_action("reject")
    assert isinstance(dialog, RejectDialog)
    dialog.grounds_combo.setCurrentIndex(dialog.grounds_combo.findData("exemption"))
    dialog.reason_edit.setPlainText("Court case")
    dialog.accept()
    assert "Name the exemption" in dialog.message()
    rq.start_verification(actor, created.id)  # another workstation moves first
    dialog.exemption_edit.setText("Art. 17(3)(e)")
    dialog.accept()
    assert "changed on another workstation" in dialog.message()
    assert pane.detail is not None and pane.detail.row.state == "identity_verification"  # the pane reloaded
    dialog.accept()  # the operator saw the current state and saves again
    assert pane.detail.row.state == "rejected" and pane.detail.rejection_exemption == "Art. 17(3)(e)"
    assert "Rejected" in pane.progress_values["outcome"].text()


def test_access_package_review_build_and_letter(qtbot: QtBot, compliance_view: RequestsView,
                                                sqlite_instance: Instance, message_boxes: MessageBoxes,
                                                tmp_path: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=2, crash_events=1)
    created = rq.verify_identity(actor, rq.create_request(actor, "access", "Jana", subject_id=data.subject.id).id,
                                 "Known e-mail")
    view = compliance_view
    view.reload()
    view.open_request(created.id)
    pane = view.detail
    assert not pane.buttons["complete"].isEnabled() and "Build the access package" in pane.buttons[
        "complete"].toolTip()
    review = pane.run_action("review")
    assert isinstance(review, PackageReviewDialog)
    audio = f"audio:{data.recording_ids[0]}"
    assert review.select_item(audio)
    assert not review.withhold_button.isEnabled()  # a reason is required
    review.reason_edit.setText("Another caller's voice")
    review.withhold_selected()
    assert any(i.item == audio and i.excluded for i in review.all_items)
    assert "1 withheld" in review.summary_label.text()
    target = tmp_path / "package.zip"
    review.build(target)
    assert review.last_result is not None and target.exists()
    assert "SHA-256" in review.progress_label.text()
    review.reject()
    assert pane.detail is not None and pane.detail.package_sha256 == review.last_result.sha256
    assert "1 item withheld" in pane.progress_values["package"].text()
    # Building again from the pane: progress dialog, then a summary box.
    second = tmp_path / "again.zip"
    pane.start_package_build(second)
    assert second.exists() and message_boxes.shown[-1].title == "Access package built"
    with zipfile.ZipFile(second) as zf:
        assert "subject.json" in zf.namelist()
    assert pane.buttons["complete"].isEnabled()
    pane.run_action("complete").accept()
    pdf = pane.save_letter(tmp_path / "letter.pdf", pdf=True)
    html = pane.save_letter(tmp_path / "letter.html", pdf=False)
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert html is not None and "Article 15(4)" in html.read_text(encoding="utf-8")


def test_package_failure_is_shown_and_can_be_retried(qtbot: QtBot, compliance_view: RequestsView,
                                                     sqlite_instance: Instance, message_boxes: MessageBoxes,
                                                     tmp_path: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=2, crash_events=0)
    created = rq.verify_identity(actor, rq.create_request(actor, "access", "Jana", subject_id=data.subject.id).id,
                                 "Known e-mail")
    view = compliance_view
    view.reload()
    view.open_request(created.id)
    data.paths[0].rename(tmp_path / "away.wav")
    view.detail.start_package_build(tmp_path / "p.zip")
    assert message_boxes.shown[-1].title == "Access package not built"
    assert "cannot be read" in message_boxes.shown[-1].text and not (tmp_path / "p.zip").exists()
    assert view.detail.detail is not None and view.detail.timeline.texts()[-1].startswith("Step failed")
    (tmp_path / "away.wav").rename(data.paths[0])
    view.detail.start_package_build(tmp_path / "p.zip")
    assert (tmp_path / "p.zip").exists()


def test_erasure_preview_requires_the_user_id_and_shows_a_summary(
        qtbot: QtBot, compliance_view: RequestsView, sqlite_instance: Instance, tmp_path: Path) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=3, crash_events=1)
    created = rq.verify_identity(actor, rq.create_request(actor, "erasure", "Jana Nováková",
                                                          contact="jana@example.sk",
                                                          subject_id=data.subject.id).id, "Known e-mail")
    view = compliance_view
    view.reload()
    view.open_request(created.id)
    dialog = view.detail.run_action("erase")
    assert isinstance(dialog, ErasurePreviewDialog)
    assert dialog.pages.currentWidget() is dialog.preview_page
    assert dialog.title_label.text() == "Erase the user account U-770001"
    assert not dialog.blockers_box.isVisibleTo(dialog)
    recordings = dialog.delete_tree.topLevelItem(1)
    assert recordings.text(1) == "3"
    recordings.setExpanded(True)
    assert recordings.childCount() == 3
    kept = [label.objectName() for label in dialog.kept_box.findChildren(type(dialog.title_label))]
    assert "kept_requests" in kept and "kept_audit" in kept
    assert not dialog.erase_button.isEnabled()
    dialog.confirm_edit.setText("U-77000")
    assert not dialog.erase_button.isEnabled()
    dialog.confirm_edit.setText("U-770001")
    assert dialog.erase_button.isEnabled()
    dialog.erase_button.click()
    assert dialog.pages.currentWidget() is dialog.summary_page and dialog.result is not None
    assert "3 recording(s)" in dialog.summary_label.text()
    assert Subject.select().count() == 0 and not any(p.exists() for p in data.paths)
    pdf = dialog.save_letter(tmp_path / "erased.pdf", pdf=True)
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")
    html = dialog.save_letter(tmp_path / "erased.html", pdf=False)
    assert html is not None and "Jana Nováková" in html.read_text(encoding="utf-8")
    dialog.accept()
    assert view.detail.detail is not None and view.detail.detail.row.state == "completed"
    assert "Erased on" in view.detail.subject_label.text()


def test_erasure_blocked_by_a_legal_hold(qtbot: QtBot, compliance_view: RequestsView,
                                         sqlite_instance: Instance) -> None:
    from rcrm_desktop.db.models import LegalHold

    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=1, crash_events=0)
    LegalHold.create(subject=data.subject.id, reason="Litigation 2026/17", owner=actor.operator_id)
    created = rq.verify_identity(actor, rq.create_request(actor, "erasure", "Jana", subject_id=data.subject.id).id,
                                 "Known e-mail")
    compliance_view.reload()
    compliance_view.open_request(created.id)
    dialog = compliance_view.detail.run_action("erase")
    assert dialog.blockers_box.isVisibleTo(dialog) and "Litigation 2026/17" in dialog.blockers_label.text()
    assert not dialog.confirm_box.isVisibleTo(dialog)
    dialog.confirm_edit.setText("U-770001")
    assert not dialog.erase_button.isEnabled()
    dialog.reject()


def test_children_tab_opens_erasure_requests(qtbot: QtBot, compliance_view: RequestsView,
                                             sqlite_instance: Instance, message_boxes: MessageBoxes) -> None:
    actor = sqlite_instance.compliance
    make_subject(actor.operator_id, user_id="U-kid", name="Young One", email=None, phone=None, recordings=0,
                 crash_events=0, birth_date=TODAY - dt.timedelta(days=365 * 12))
    make_subject(actor.operator_id, recordings=0, crash_events=0)
    view = compliance_view
    view.children_panel.reload()
    assert view.tabs.tabText(1) == "Children's data (1)"
    panel = view.children_panel
    assert [r.user_id for r in panel.model.rows()] == ["U-kid"] and panel.open_button.isEnabled()
    message_boxes.answer = QMessageBox.StandardButton.No
    panel.open_requests()
    assert RightsRequest.select().count() == 0
    message_boxes.answer = QMessageBox.StandardButton.Yes
    panel.open_requests()
    assert RightsRequest.select().where(RightsRequest.type == "erasure").count() == 1
    assert message_boxes.shown[-1].title == "Erasure requests opened"
    assert panel.model.rows()[0].open_erasure_request is not None and not panel.open_button.isEnabled()
    assert view.model.rowCount() == 1  # the requests table reloaded
    panel.age_spin.setValue(13)
    assert [r.user_id for r in panel.model.rows()] == ["U-kid"]


def test_support_role_does_not_see_requests(sqlite_instance: Instance) -> None:
    assert not sqlite_instance.support.can(RequestsView.permission)
    assert not sqlite_instance.admin.can(RequestsView.permission)
    assert sqlite_instance.compliance.can(RequestsView.permission)


def test_erasure_cancelled_while_files_move_changes_nothing(
        qtbot: QtBot, compliance_view: RequestsView, sqlite_instance: Instance, message_boxes: MessageBoxes) -> None:
    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=25, crash_events=0, seconds=0.05)
    created = rq.verify_identity(actor, rq.create_request(actor, "erasure", "Jana", subject_id=data.subject.id).id,
                                 "Known e-mail")
    compliance_view.reload()
    compliance_view.open_request(created.id)
    dialog = compliance_view.detail.run_action("erase")
    original = dialog._progress

    def progress_then_cancel(done: int, total: int, text: str) -> None:
        original(done, total, text)
        if done >= 10:
            dialog.cancel_erasure()  # the operator presses Cancel while files move aside

    dialog._progress = progress_then_cancel  # type: ignore[method-assign]
    dialog.confirm_edit.setText("U-770001")
    dialog.erase_button.click()
    assert message_boxes.shown[-1].title == "Erasure not done" and "Cancelled" in message_boxes.shown[-1].text
    assert dialog.pages.currentWidget() is dialog.preview_page and dialog.confirm_edit.text() == ""
    assert Subject.select().count() == 1 and all(p.exists() for p in data.paths)
    assert RightsRequest.get_by_id(created.id).state == "in_progress"
    dialog.reject()


def test_guided_correction_links_the_change(qtbot: QtBot, compliance_view: RequestsView,
                                            sqlite_instance: Instance) -> None:
    from rcrm_desktop.db.models import SubjectChange
    from rcrm_desktop.ui.dialogs.request_actions import CorrectDataDialog

    actor = sqlite_instance.compliance
    data = make_subject(actor.operator_id, recordings=0, crash_events=0)
    created = rq.verify_identity(actor, rq.create_request(actor, "rectification", "Jana",
                                                          subject_id=data.subject.id).id, "Known e-mail")
    compliance_view.reload()
    compliance_view.open_request(created.id)
    pane = compliance_view.detail
    assert not pane.buttons["complete"].isEnabled()
    dialog = pane.run_action("rectify")
    assert isinstance(dialog, CorrectDataDialog) and "request #" in dialog.windowTitle()
    dialog.field_combo.setCurrentIndex(dialog.field_combo.findData("phone"))
    dialog.value_edit.setText("+421 905 000 111")
    dialog.reason_edit.setPlainText("New number, confirmed by the requester")
    dialog.accept()
    change = SubjectChange.get(SubjectChange.request == created.id)
    assert change.field == "phone" and change.new_value == "+421 905 000 111"
    assert pane.detail is not None and "+421 905 000 111" in pane.progress_values["changes"].text()
    assert pane.buttons["complete"].isEnabled()


def test_the_number_column_shows_six_digits_whole(compliance_view: RequestsView) -> None:
    """A scaled instance numbers its requests past 10,000: "102…" told nobody which request it was."""
    width = compliance_view.table.columnWidth(column(compliance_view, "id"))
    assert compliance_view.table.fontMetrics().horizontalAdvance("999999") + 10 <= width


def test_the_new_request_dialog_has_room_for_every_row(qtbot: QtBot, sqlite_instance: Instance) -> None:
    """Its first height ignored the wrapped hint under the matches, which was drawn over the list."""
    dialog = NewRequestDialog(sqlite_instance.compliance)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    picker = dialog.picker
    assert picker.height() >= picker.minimumSizeHint().height()
    assert picker.status.geometry().top() >= picker.results.geometry().bottom()
    assert picker.unmatched.geometry().top() >= picker.status.geometry().bottom()
