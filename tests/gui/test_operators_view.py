"""The Operators area: list, add through the dialog, role/active/password changes, and core's rules."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from rcrm_desktop.core import operators
from rcrm_desktop.core.permissions import Role
from rcrm_desktop.db.models import Operator
from rcrm_desktop.errors import PermissionDenied
from rcrm_desktop.ui.dialogs.operator_edit import AddOperatorDialog, ChangeRoleDialog, ResetPasswordDialog
from rcrm_desktop.ui.views import operators as operators_view
from rcrm_desktop.ui.views.operators import OperatorsView
from tests.conftest import PASSWORD

pytestmark = pytest.mark.gui


def make_view(qtbot, session) -> OperatorsView:  # type: ignore[no-untyped-def]
    view = OperatorsView(session)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.activate()
    return view


def usernames(view: OperatorsView) -> list[str]:
    return [op.username for op in view.model.rows()]


def test_lists_operators_with_role_labels(qtbot, qtmodeltester, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    assert usernames(view) == ["admin", "eva", "tomas"]
    qtmodeltester.check(view.model)
    role_col = [c.key for c in view.model.columns].index("role")
    assert view.model.index(1, role_col).data() == "Compliance officer"
    login_col = [c.key for c in view.model.columns].index("last_login_at")
    admin_login = view.model.index(0, login_col)
    assert "ago" in admin_login.data() or "just now" in admin_login.data()
    assert admin_login.data(Qt.ItemDataRole.ToolTipRole).endswith("UTC")
    assert view.filter_bar.count_label.text() == "3 operators"
    # nothing selected: the pane says so, and shows no heading of a role it has not got
    assert not view.detail_placeholder.isHidden()
    assert view.detail_placeholder.title.text() == "No operator selected"
    assert view.detail_role_heading.isHidden()
    assert view.select_operator(sqlite_instance.compliance.operator_id)
    assert view.detail_placeholder.isHidden() and not view.detail_role_heading.isHidden()
    assert view.detail_name.text() == "Eva Compliance"


def test_add_operator_through_the_dialog(qtbot, sqlite_instance, make_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    assert view.add_button.isEnabled()

    def drive(dialog: QDialog) -> int:
        assert isinstance(dialog, AddOperatorDialog)
        qtbot.addWidget(dialog)
        qtbot.keyClicks(dialog.username, "jnovak")
        dialog.display_name.setText("Jana Nováková")  # QTest.keyClicks takes ASCII only
        dialog.role.setCurrentIndex(dialog.role.findData(Role.COMPLIANCE))
        qtbot.keyClicks(dialog.password, "a long enough password")
        qtbot.keyClicks(dialog.confirm, "a long enough password")
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        return dialog.result()

    monkeypatch.setattr(operators_view, "_exec_dialog", drive)
    qtbot.mouseClick(view.add_button, Qt.MouseButton.LeftButton)
    assert "jnovak" in usernames(view)
    selected = view.selected_operator()
    assert selected is not None and selected.username == "jnovak"
    row = Operator.get(Operator.username == "jnovak")
    assert row.display_name == "Jana Nováková"
    assert row.role == "compliance"
    assert operators.authenticate("jnovak", "a long enough password").role == Role.COMPLIANCE


def test_add_dialog_keeps_input_and_shows_core_errors(qtbot, sqlite_instance, make_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    seen: list[str] = []

    def drive(dialog: QDialog) -> int:
        assert isinstance(dialog, AddOperatorDialog)
        qtbot.addWidget(dialog)
        dialog.username.setText("Bad Name!")
        dialog.display_name.setText("Someone")
        dialog.password.setText("a long enough password")
        dialog.confirm.setText("another password")
        dialog.ok_button.click()
        seen.append(dialog.error_label.text())
        dialog.confirm.setText("a long enough password")
        dialog.ok_button.click()
        seen.append(dialog.error_label.text())
        dialog.username.setText("eva")
        dialog.ok_button.click()
        seen.append(dialog.error_label.text())
        assert dialog.result() != QDialog.DialogCode.Accepted
        assert dialog.username.text() == "eva"
        dialog.reject()
        return dialog.result()

    monkeypatch.setattr(operators_view, "_exec_dialog", drive)
    view.add_operator()
    assert seen[0] == "The two passwords are not the same."
    assert "not a valid operator name" in seen[1]
    assert "already exists" in seen[2]
    assert usernames(view) == ["admin", "eva", "tomas"]


def test_compliance_cannot_manage_and_core_refuses_too(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    assert usernames(view) == ["admin", "eva", "tomas"]
    assert not view.add_button.isEnabled()
    view.select_operator(sqlite_instance.support.operator_id)
    for button in (view.role_button, view.active_button, view.password_button):
        assert not button.isEnabled()
        assert "administrator" in button.toolTip()
    with pytest.raises(PermissionDenied):
        operators.create_operator(sqlite_instance.compliance, "mallory", "Mallory", Role.ADMIN, PASSWORD)
    assert not Operator.select().where(Operator.username == "mallory").exists()


def test_disable_and_enable(qtbot, sqlite_instance, make_session, message_boxes) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    tomas = sqlite_instance.support.operator_id
    assert view.select_operator(tomas)
    assert view.active_button.text() == "Disable"
    view.active_button.click()
    assert message_boxes.shown and "Disable" in message_boxes.shown[0].text
    assert Operator.get_by_id(tomas).active is False
    assert view.selected_operator() is not None and not view.selected_operator().active
    assert view.active_button.text() == "Enable"
    view.active_button.click()
    assert Operator.get_by_id(tomas).active is True


def test_disable_declined_changes_nothing(qtbot, sqlite_instance, make_session, message_boxes) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QMessageBox

    view = make_view(qtbot, make_session(sqlite_instance.admin))
    message_boxes.answer = QMessageBox.StandardButton.No
    view.select_operator(sqlite_instance.support.operator_id)
    view.toggle_active()
    assert Operator.get_by_id(sqlite_instance.support.operator_id).active is True


def test_core_rule_shown_in_a_message_box(qtbot, sqlite_instance, make_session, message_boxes) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    view.select_operator(sqlite_instance.admin.operator_id)
    view.toggle_active()
    assert any("cannot disable your own account" in t for t in message_boxes.texts())
    assert Operator.get_by_id(sqlite_instance.admin.operator_id).active is True


def test_conflict_when_changed_elsewhere(qtbot, sqlite_instance, make_session, message_boxes) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    view.select_operator(sqlite_instance.support.operator_id)
    operators.set_role(sqlite_instance.admin, sqlite_instance.support.operator_id, Role.COMPLIANCE)  # elsewhere
    view.toggle_active()
    assert any("changed on another workstation" in t for t in message_boxes.texts())
    assert Operator.get_by_id(sqlite_instance.support.operator_id).active is True


def test_change_role_and_reset_password(qtbot, sqlite_instance, make_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    tomas = sqlite_instance.support.operator_id
    view.select_operator(tomas)

    def drive(dialog: QDialog) -> int:
        qtbot.addWidget(dialog)
        if isinstance(dialog, ChangeRoleDialog):
            dialog.role.setCurrentIndex(dialog.role.findData(Role.COMPLIANCE))
        else:
            assert isinstance(dialog, ResetPasswordDialog)
            dialog.password.setText("brand new password")
            dialog.confirm.setText("brand new password")
        dialog.ok_button.click()
        return dialog.result()

    monkeypatch.setattr(operators_view, "_exec_dialog", drive)
    view.change_role()
    assert Operator.get_by_id(tomas).role == "compliance"
    view.reset_password()
    assert operators.authenticate("tomas", "brand new password").username == "tomas"
    assert view.detail_fields["role"].text() == "Compliance officer"


def test_filters_and_empty_state(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    view.search.setText("nobody here")
    view.search.flush()
    assert usernames(view) == []
    assert view.stack.currentWidget() is view.empty
    assert "No operator matches" in view.empty.title.text()
    view.search.setText("TOMÁŠ")
    view.search.flush()
    assert usernames(view) == ["tomas"]
    assert view.filter_bar.count_label.text() == "1 of 3 operators"
    view.clear_filters()
    view.role_filter.setCurrentIndex(view.role_filter.findData(Role.ADMIN))
    assert usernames(view) == ["admin"]
    view.clear_filters()
    assert usernames(view) == ["admin", "eva", "tomas"]
    assert view.stack.currentWidget() is view.table


def test_sorting_by_display_name_descending(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    col = [c.key for c in view.model.columns].index("display_name")
    view.table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    assert [op.display_name for op in view.model.rows()] == ["Tomáš Support", "Eva Compliance", "Ada Admin"]
