"""The Dashboard: counts from core, state colours with text, navigation from the cards."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt

from rcrm_desktop.db.models import RightsRequest, Subject
from rcrm_desktop.ui import app as gui_app
from rcrm_desktop.ui import colors
from rcrm_desktop.ui.views.dashboard import DashboardView

pytestmark = pytest.mark.gui


def add_subject(user_id: str, restricted: bool = False) -> Subject:
    return Subject.create(user_id=user_id, name=f"Person {user_id}", name_key=f"person {user_id.lower()}",
                          search_key=f"person {user_id.lower()}", restricted=restricted)


def add_request(operator_id: int, due: dt.date) -> None:
    RightsRequest.create(type="access", state="received", requester_name="Requester",
                         received_on=due - dt.timedelta(days=30), due_on=due, created_by=operator_id)


def test_cards_show_core_counts_with_state_text(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        add_subject(f"U{i}", restricted=i == 0)
    today = dt.date.today()
    add_request(sqlite_instance.compliance.operator_id, today - dt.timedelta(days=2))
    add_request(sqlite_instance.compliance.operator_id, today + dt.timedelta(days=3))
    add_request(sqlite_instance.compliance.operator_id, today + dt.timedelta(days=30))
    view = DashboardView(make_session(sqlite_instance.support))
    qtbot.addWidget(view)
    view.activate()
    cards = view.cards
    assert cards["subjects"].number.text() == "3"
    assert cards["restricted"].number.text() == "1"
    assert cards["requests_open"].number.text() == "3"
    assert cards["requests_overdue"].number.text() == "1"
    assert cards["requests_overdue"].note.text() == "Past the legal deadline"
    assert colors.OVERDUE.name() in cards["requests_overdue"].number.styleSheet()
    assert cards["requests_due_soon"].number.text() == "1"
    assert cards["requests_due_soon"].note.text() == "Answer within 7 days"
    assert colors.DUE_SOON.name() in cards["requests_due_soon"].note.styleSheet()
    assert cards["operators_active"].number.text() == "3"
    assert int(cards["audit_total"].number.text()) > 0
    assert "Tomáš Support" in view.welcome_label.text() and "Support" in view.welcome_label.text()
    assert view.refreshed_label.text().startswith("Last refreshed at")
    view.resize(1100, 700)  # what a 1280-px window leaves beside the rail
    view.show()
    qtbot.wait(50)
    for key, card in cards.items():  # every note whole: "Overdue — past the legal deadli" was cut here
        assert card.note.sizeHint().width() <= card.note.width(), (key, card.note.text())


def test_nothing_overdue_says_so(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = DashboardView(make_session(sqlite_instance.admin))
    qtbot.addWidget(view)
    view.activate()
    assert view.cards["requests_overdue"].number.text() == "0"
    assert view.cards["requests_overdue"].note.text() == "None overdue"


def test_refresh_picks_up_new_rows(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = DashboardView(make_session(sqlite_instance.admin))
    qtbot.addWidget(view)
    view.activate()
    assert view.cards["subjects"].number.text() == "0"
    add_subject("NEW")
    qtbot.mouseClick(view.refresh_button, Qt.MouseButton.LeftButton)
    assert view.cards["subjects"].number.text() == "1"


def test_users_card_navigates(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = DashboardView(make_session(sqlite_instance.admin))
    qtbot.addWidget(view)
    view.set_navigation_targets({"UsersView"})
    card = view.cards["subjects"]
    assert card.target == "UsersView"
    assert view.cards["recordings"].target is None
    with qtbot.waitSignal(view.navigate_requested) as signal:
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    assert signal.args == ["UsersView"]


def test_cards_lead_to_the_areas_of_the_main_window(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = gui_app.build_main_window(make_session(sqlite_instance.compliance))
    qtbot.addWidget(window)
    dashboard = window.area_by_name("DashboardView")
    assert isinstance(dashboard, DashboardView)
    qtbot.mouseClick(dashboard.cards["audit_total"], Qt.MouseButton.LeftButton)
    assert window.current_area() is window.area_by_name("AuditView")
    window.switch_to(0)
    qtbot.mouseClick(dashboard.cards["subjects"], Qt.MouseButton.LeftButton)
    assert window.current_area() is window.area_by_name("UsersView")


def test_failure_is_shown_inline(qtbot, sqlite_instance, make_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rcrm_desktop.core import instance
    from rcrm_desktop.errors import InstanceError

    def broken(actor):  # type: ignore[no-untyped-def]
        raise InstanceError("The connection to the instance was lost. Check the server and try again.")

    monkeypatch.setattr(instance, "dashboard_counts", broken)
    view = DashboardView(make_session(sqlite_instance.admin))
    qtbot.addWidget(view)
    view.activate()
    assert view.error_box.isVisibleTo(view)
    assert "connection to the instance was lost" in view.error_label.text()
    assert view.refresh_button.isEnabled()
