"""The application shell: log-in, main window, areas per role, shortcuts, settings, idle lock, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QDialog, QMessageBox

from rcrm_desktop.core import audit, instance, operators
from rcrm_desktop.core.audit import AuditFilter
from rcrm_desktop.db.models import Subject
from rcrm_desktop.errors import ValidationError
from rcrm_desktop.ui import app as gui_app
from rcrm_desktop.ui import main_window as main_window_module
from rcrm_desktop.ui import style as style_module
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.lock import LockDialog
from rcrm_desktop.ui.dialogs.login import LoginDialog
from rcrm_desktop.ui.main_window import MainWindow
from rcrm_desktop.ui.views.audit import AuditView
from tests.conftest import PASSWORD

pytestmark = pytest.mark.gui

def window_for(qtbot, session, **kwargs) -> MainWindow:  # type: ignore[no-untyped-def]
    window = gui_app.build_main_window(session, **kwargs)
    qtbot.addWidget(window)
    return window


def rail_titles(window: MainWindow) -> list[str]:
    return [window.rail.item(i).text() for i in range(window.rail.count())]


# -- log-in


def test_login_accepts_the_right_password(qtbot, opened) -> None:  # type: ignore[no-untyped-def]
    dialog = LoginDialog(opened, "Test instance")
    qtbot.addWidget(dialog)
    dialog.username.setText("eva")
    qtbot.keyClicks(dialog.password, PASSWORD)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.actor is not None and dialog.actor.username == "eva"
    assert not dialog.error_row.isVisibleTo(dialog)


def test_login_shows_core_reason_inline_and_locks_out(qtbot, opened) -> None:  # type: ignore[no-untyped-def]
    dialog = LoginDialog(opened, "Test instance")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.username.setText("tomas")
    dialog.password.setText("wrong password")
    qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert dialog.actor is None
    assert dialog.error_row.isVisible()
    assert "Wrong operator name or password" in dialog.error_label.text()
    assert "4 attempts left" in dialog.error_label.text()
    for _ in range(4):
        dialog.password.setText("wrong password")
        dialog.try_login()
    assert "locked" in dialog.error_label.text()
    dialog.password.setText(PASSWORD)
    dialog.try_login()
    assert dialog.actor is None
    assert "locked" in dialog.error_label.text()


def test_login_asks_for_both_fields(qtbot, opened) -> None:  # type: ignore[no-untyped-def]
    dialog = LoginDialog(opened, "Test instance")
    qtbot.addWidget(dialog)
    dialog.username.clear()
    dialog.try_login()
    assert "Enter your operator name and password" in dialog.error_label.text()


def test_demo_hint_only_on_a_demo_instance(qtbot, opened) -> None:  # type: ignore[no-untyped-def]
    instance.set_system_setting("demo_login_hint", "admin / demo-password")
    plain = LoginDialog(opened, "Production")
    qtbot.addWidget(plain)
    assert plain.demo_box is None
    assert "demo-password" not in "".join(w.text() for w in plain.findChildren(type(plain.error_label)))

    instance.set_system_setting("demo_instance", "1")
    demo = LoginDialog(opened, "Demo")
    qtbot.addWidget(demo)
    assert demo.demo_box is not None
    assert "Demo instance" in demo.demo_label.text()
    assert "admin / demo-password" in demo.demo_label.text()


def test_login_footer_shows_redacted_url_and_version(qtbot, opened) -> None:  # type: ignore[no-untyped-def]
    from rcrm_desktop import __version__

    dialog = LoginDialog(opened, "Test instance")
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(type(dialog.error_label))]
    assert any(__version__ in t for t in texts)
    assert "Log in to Test instance" in dialog.instance_label.text()


# -- main window


@pytest.mark.parametrize(
    ("who", "expected", "absent"),
    [
        ("admin", ["Dashboard", "Operators", "Audit log"], []),
        ("compliance", ["Dashboard", "Operators", "Audit log"], []),
        ("support", ["Dashboard"], ["Operators", "Audit log"]),
    ],
)
def test_areas_follow_the_role(qtbot, sqlite_instance, make_session, who, expected, absent) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(getattr(sqlite_instance, who)))
    titles = rail_titles(window)
    for title in expected:
        assert title in titles
    for title in absent:
        assert title not in titles
    assert len(window.area_actions) == len(titles)
    assert "UsersView" in window.area_names()
    assert titles[0] == "Dashboard"


def test_ctrl_number_switches_area_and_ctrl_f_searches(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.compliance))
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert window.rail.currentRow() == 0
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.rail.currentRow() == 1
    assert window.current_area() is window.areas[1]
    assert window.area_actions[1].isChecked()
    assert window.area_actions[1].shortcut().toString() == "Ctrl+2"
    audit_index = window.area_names().index("AuditView")
    qtbot.keyClick(window, getattr(Qt.Key, f"Key_{audit_index + 1}"), Qt.KeyboardModifier.ControlModifier)
    area = window.current_area()
    assert isinstance(area, AuditView)
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert area.search.hasFocus()


def test_menus_have_the_actions_with_shortcuts(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.admin))
    assert window.refresh_action.shortcut().toString() == "F5"
    assert window.lock_action.shortcut().toString() == "Ctrl+L"
    assert window.quit_action.shortcut().toString() == "Ctrl+Q"
    assert window.search_action.shortcut().toString() == "Ctrl+F"
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus == ["File", "View", "Tools", "Help"]
    assert "About RCRM Desktop" in window.about_action.text().replace("&", "")


def test_file_menu_lists_area_imports_and_runs_them_in_their_area(  # type: ignore[no-untyped-def]
        qtbot, sqlite_instance, make_session, monkeypatch) -> None:
    officer = window_for(qtbot, make_session(sqlite_instance.compliance))
    texts = {a.text(): a for a in officer.area_file_actions}
    assert "Import users…" in texts and texts["Import users…"].isEnabled()
    users = officer.area_by_name("UsersView")
    calls: list[bool] = []
    monkeypatch.setattr(users, "choose_import_file", lambda *a: calls.append(True))
    users.import_action.triggered.disconnect()
    users.import_action.triggered.connect(users.choose_import_file)
    officer.switch_to_area("DashboardView")
    texts["Import users…"].trigger()
    assert calls == [True]
    assert officer.current_area() is users
    helper = window_for(qtbot, make_session(sqlite_instance.support))
    assert not {a.text(): a for a in helper.area_file_actions}["Import users…"].isEnabled()


def test_title_and_status_bar(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.compliance, "Acme production"))
    assert window.windowTitle() == "RCRM Desktop — Acme production"
    assert "Eva Compliance" in window.operator_status_label.toolTip()
    assert "Compliance officer" in window.operator_status_label.toolTip()
    inst = window.instance_status_label.toolTip()
    assert window.session.instance.redacted_url in inst
    assert "SQLite" in inst


def test_geometry_area_and_view_state_are_restored(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    session = make_session(sqlite_instance.admin)
    first = window_for(qtbot, session)
    first.show()
    qtbot.waitExposed(first)
    # The offscreen screen is 800×800 and Qt fits a restored window into it, so use the narrowest width the
    # window allows (wider ones come back clamped) and a height that differs from the default.
    # Areas are built when first shown, and the shown area sets the window's minimum width (the Audit area's is
    # wider than the offscreen screen, so Qt clamps it): show it first and expect back what the window had.
    first.switch_to_area("AuditView")
    first.resize(QSize(max(first.minimumSizeHint().width(), 640), 733))
    wanted = first.size()
    assert wanted.height() == 733
    audit_view = first.area_by_name("AuditView")
    assert isinstance(audit_view, AuditView)
    default_sizes = audit_view.splitter.sizes()
    audit_view.splitter.setSizes([150, 750])
    saved_splitter = audit_view.splitter.sizes()
    first.close()
    ini = Path(gui_app.paths.settings_file())
    assert ini.is_file()

    second = window_for(qtbot, session)
    second.show()
    qtbot.waitExposed(second)
    assert second.height() == wanted.height() and second.size() != main_window_module.DEFAULT_SIZE
    fits = min(wanted.width(), second.screen().availableGeometry().width())
    assert fits - 4 <= second.width() <= wanted.width()
    assert isinstance(second.current_area(), AuditView)
    restored = second.area_by_name("AuditView")
    assert isinstance(restored, AuditView)
    # The restored window may be narrower (clamped to the screen), so compare the panes' shares.
    def share(sizes: list[int]) -> float:
        return sizes[0] / sum(sizes)

    assert abs(share(restored.splitter.sizes()) - share(saved_splitter)) < 0.1
    assert abs(share(default_sizes) - share(saved_splitter)) > 0.2


def test_idle_lock_engages_and_unlocks_with_the_password(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.compliance), idle_timeout_ms=60)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.locked, timeout=3000)
    assert window.screens.currentWidget() is window.cover
    assert not window.menuBar().isEnabled()
    dialog = window.lock_dialog
    assert isinstance(dialog, LockDialog)
    assert dialog.isVisible()
    assert dialog.windowModality() == Qt.WindowModality.ApplicationModal

    dialog.reject()  # Esc does not unlock
    assert window.locked

    qtbot.keyClicks(dialog.password, "not the password")
    qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
    assert window.locked
    assert dialog.error_row.isVisible()
    assert "Wrong" in dialog.error_label.text()

    dialog.password.setText(PASSWORD)
    qtbot.mouseClick(dialog.unlock_button, Qt.MouseButton.LeftButton)
    assert not window.locked
    assert window.screens.currentWidget() is window.workspace
    assert window.menuBar().isEnabled()
    assert window.idle.active

    logouts = audit.list_events(sqlite_instance.admin, AuditFilter(action="logout"))
    assert any('"reason":"idle_lock"' in e.details for e in logouts)


def test_five_wrong_passwords_at_the_lock_lock_the_account(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.support), idle_timeout_ms=600_000)
    window.show()
    window.lock()
    dialog = window.lock_dialog
    assert dialog is not None
    for _ in range(5):
        dialog.password.setText("wrong")
        dialog.try_unlock()
    assert "locked" in dialog.error_label.text()
    dialog.password.setText(PASSWORD)
    dialog.try_unlock()
    assert window.locked
    assert "locked" in dialog.error_label.text()
    with qtbot.waitSignal(window.session_ended) as ended:
        qtbot.mouseClick(dialog.logout_button, Qt.MouseButton.LeftButton)
    assert ended.args == ["logout"]


def test_log_out_is_audited_and_ends_the_session(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.admin))
    window.show()
    with qtbot.waitSignal(window.session_ended) as ended:
        window.logout_action.trigger()
    assert ended.args == ["logout"]
    assert not window.isVisible()
    logouts = audit.list_events(sqlite_instance.admin, AuditFilter(action="logout"))
    assert logouts and '"reason":"logout"' in logouts[0].details


def test_open_subject_switches_to_users(qtbot, sqlite_instance, make_session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    subject = Subject.create(user_id="U1", name="Jan Novák", name_key="jan novak", search_key="jan novak u1")
    window = window_for(qtbot, make_session(sqlite_instance.compliance))
    users = window.area_by_name("UsersView")
    shown: list[int] = []
    monkeypatch.setattr(users, "show_subject", lambda subject_id: shown.append(subject_id))
    assert window.open_subject(subject.id)
    assert window.current_area() is users
    assert shown == [subject.id]


def test_about_dialog_opens(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    from rcrm_desktop.ui.dialogs.about import AboutDialog

    window = window_for(qtbot, make_session(sqlite_instance.admin))
    window.about_action.trigger()
    about = window.findChild(AboutDialog)
    assert about is not None and about.isVisible()
    about.close()


# -- errors


def test_operator_errors_are_plain_messages(qtbot, message_boxes) -> None:  # type: ignore[no-untyped-def]
    try:
        raise ValidationError("The display name is too long.")
    except ValidationError as exc:
        error_dialogs.excepthook(type(exc), exc, exc.__traceback__)
    assert message_boxes.texts() == ["The display name is too long."]
    assert message_boxes.dialogs == []


def test_unexpected_errors_say_what_where_and_the_log(qtbot, message_boxes, caplog) -> None:  # type: ignore[no-untyped-def]
    def load_page() -> None:
        raise KeyError("Jan Novák")

    try:
        load_page()
    except KeyError as exc:
        error_dialogs.excepthook(type(exc), exc, exc.__traceback__)
    assert len(message_boxes.dialogs) == 1
    dialog = message_boxes.dialogs[0]
    assert isinstance(dialog, error_dialogs.UnexpectedErrorDialog)
    assert "KeyError" in dialog.what_label.text()
    assert "load_page()" in dialog.what_label.text()
    assert str(gui_app.logs.log_file()) in dialog.log_label.text()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "KeyError" in logged and "load_page" in logged
    assert "Jan Novák" not in logged  # the log never holds the exception's message (personal data)


@pytest.fixture
def app_state(qapp):  # type: ignore[no-untyped-def]
    """``run_gui`` styles the shared QApplication; put it back so later tests see what they expect."""
    from PySide6.QtWidgets import QStyleFactory

    style_name = qapp.style().name()
    sheet = qapp.styleSheet()
    filters = set(qapp.findChildren(gui_app.PaletteWatcher))
    yield
    for watcher in set(qapp.findChildren(gui_app.PaletteWatcher)) - filters:
        qapp.removeEventFilter(watcher)
        watcher.deleteLater()
    qapp.setStyleSheet(sheet)
    qapp.setStyle(QStyleFactory.create(style_name))


def test_run_gui_refuses_a_broken_instance_with_exit_code_3(qtbot, tmp_path, monkeypatch, message_boxes,
                                                             app_state) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(gui_app.logs, "setup_logging", lambda verbose=False: None)
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not an sqlite database at all" * 10)
    code = gui_app.run_gui("sqlite:///" + broken.as_posix())
    assert code == 3
    assert len(message_boxes.shown) == 1
    box = message_boxes.shown[0]
    assert box.icon == QMessageBox.Icon.Critical
    assert "not an RCRM instance database" in box.text
    assert "Traceback" not in box.text + box.informative


def test_run_gui_refuses_a_bad_url(qtbot, monkeypatch, message_boxes, app_state) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(gui_app.logs, "setup_logging", lambda verbose=False: None)
    assert gui_app.run_gui("oracle://db.example.org/rcrm") == 3
    assert "not a supported database" in message_boxes.shown[0].text


def test_unlock_refuses_a_disabled_account(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    window = window_for(qtbot, make_session(sqlite_instance.support))
    window.show()
    window.lock()
    operators.set_active(sqlite_instance.admin, sqlite_instance.support.operator_id, False)
    dialog = window.lock_dialog
    assert dialog is not None
    dialog.password.setText(PASSWORD)
    dialog.try_unlock()
    assert window.locked
    assert "disabled" in dialog.error_label.text()


def test_lock_cancels_open_dialogs(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    from rcrm_desktop.ui.dialogs.about import AboutDialog

    window = window_for(qtbot, make_session(sqlite_instance.admin))
    window.show()
    window.about_action.trigger()
    about = window.findChild(AboutDialog)
    assert about is not None and about.isVisible()
    window.lock_action.trigger()
    assert window.locked
    assert not about.isVisible()
    assert window.lock_dialog is not None and window.lock_dialog.isVisible()


def test_translation_for_the_locale_is_installed(qtbot, qapp, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import subprocess

    from PySide6.QtCore import QCoreApplication, QLocale

    lrelease = shutil.which("pyside6-lrelease") or str(Path(sys.executable).parent / "pyside6-lrelease")
    if not Path(lrelease).exists():
        pytest.skip("pyside6-lrelease is not installed")
    ts = tmp_path / "rcrm_desktop_de.ts"
    ts.write_text(
        '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE TS><TS version="2.1" language="de">'
        "<context><name>LoginDialog</name><message><source>Log in</source>"
        "<translation>Anmelden</translation></message></context></TS>", encoding="utf-8")
    subprocess.run([lrelease, str(ts), "-qm", str(tmp_path / "rcrm_desktop_de.qm")], check=True,
                   capture_output=True)
    monkeypatch.setattr(gui_app.paths, "resource", lambda *parts: tmp_path)
    installed = gui_app.install_translators(qapp, QLocale("de_AT"))
    try:
        assert installed
        assert QCoreApplication.translate("LoginDialog", "Log in") == "Anmelden"
    finally:
        for translator in installed:
            qapp.removeTranslator(translator)
    assert QCoreApplication.translate("LoginDialog", "Log in") == "Log in"


def test_admin_edits_instance_settings_through_core(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    from rcrm_desktop.core import instance as core_instance
    from rcrm_desktop.ui.dialogs.instance_settings import InstanceSettingsDialog

    dialog = InstanceSettingsDialog(make_session(sqlite_instance.admin))
    qtbot.addWidget(dialog)
    dialog.editors["idle_lock_minutes"].setValue(25)
    dialog.editors["public_holidays"].setText("SK, 2026-12-31 Company day")
    assert dialog.save()
    assert core_instance.get_setting("idle_lock_minutes") == "25"
    assert core_instance.get_setting("public_holidays") == "SK, 2026-12-31 Company day"

    again = InstanceSettingsDialog(make_session(sqlite_instance.admin))
    qtbot.addWidget(again)
    again.editors["public_holidays"].setText("not a holiday list !!")
    assert not again.save()
    assert again.error_label.isVisibleTo(again) and again.error_label.text()
    assert core_instance.get_setting("public_holidays") == "SK, 2026-12-31 Company day"

    officer = window_for(qtbot, make_session(sqlite_instance.compliance))
    assert officer.settings_action is None
    readonly = InstanceSettingsDialog(make_session(sqlite_instance.compliance))
    qtbot.addWidget(readonly)
    assert not readonly.editors["idle_lock_minutes"].isEnabled()


def test_each_area_spec_names_its_class_and_areas_are_built_on_first_use(  # type: ignore[no-untyped-def]
        qtbot, sqlite_instance, make_session) -> None:
    from rcrm_desktop.ui.areas import AREAS

    for spec in AREAS:
        cls = spec.load()
        assert cls.__name__ == spec.name and cls.spec is spec
        assert (cls.icon_name, cls.permission, cls.title()) == (spec.icon_name, spec.permission, spec.title())
    window = window_for(qtbot, make_session(sqlite_instance.compliance))
    assert [a is not None for a in window._built].count(True) == 1  # only the area on screen
    assert window.rail.count() == window.area_count() == len(window.area_names())
    qtbot.waitUntil(lambda: len(window.built_areas()) == window.area_count(), timeout=15_000)
    assert [type(a).__name__ for a in window.built_areas()] == window.area_names()


def test_every_area_fits_a_laptop_screen_beside_the_rail(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    """The filter bars wrap onto more rows, so the window's minimum width stays below 1366 px (1280 with room)."""
    window = window_for(qtbot, make_session(sqlite_instance.compliance))
    window.show()
    qtbot.waitExposed(window)
    for index in range(window.area_count()):
        window.switch_to(index)
        area = window.current_area()
        assert area is not None
        assert area.minimumSizeHint().width() + style_module.RAIL_WIDTH <= 1280, area.objectName()


def test_the_filter_bar_wraps_when_narrow(qtbot) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QComboBox

    from rcrm_desktop.ui.views.base import FilterBar, SearchField

    bar = FilterBar(SearchField("Search"))
    qtbot.addWidget(bar)
    combos = []
    for n in range(5):
        combo = QComboBox()
        combo.addItem(f"Filter number {n} with a long label")
        bar.add_widget(combo)
        combos.append(combo)
    bar.resize(2400, bar.heightForWidth(2400))
    bar.show()
    qtbot.waitExposed(bar)
    one_row = bar.heightForWidth(2400)
    assert len({c.geometry().center().y() for c in combos}) == 1
    assert bar.minimumSizeHint().width() < 600
    bar.resize(600, bar.heightForWidth(600))
    qtbot.waitUntil(lambda: len({c.geometry().y() for c in combos}) > 1)
    assert bar.heightForWidth(600) > one_row
    assert bar.clear_button.geometry().right() <= 600
