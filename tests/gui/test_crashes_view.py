"""The Crash reports area as support staff use it: browse, filter, inspect, resolve, merge, import, re-scrub.

Drives real widgets offscreen with qtbot; checks what the view shows, the rows
in the database and the audit events written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from rcrm_desktop.core import crash_samples, crashes, permissions
from rcrm_desktop.core.permissions import Actor, Permission, Role
from rcrm_desktop.core.subjects import make_search_key
from rcrm_desktop.db.models import AuditEvent, CrashEvent, CrashGroup, Subject, utcnow
from rcrm_desktop.ui import colors, style, tasks
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.crashes import CrashesView, ScrubRulesDialog
from tests.conftest import Instance
from tests.gui.conftest import MessageBoxes

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[1] / "data" / "crashes"

USER_IDS = [f"SK-{100 + i}" for i in range(12)]


@pytest.fixture(autouse=True)
def synchronous() -> Iterator[None]:
    """Background tasks run in the calling thread, so results are on screen when the call returns."""
    tasks.set_synchronous(True)
    yield
    tasks.set_synchronous(False)


def make_view(qtbot: QtBot, session: AppSession) -> CrashesView:
    view = CrashesView(session)
    qtbot.addWidget(view)
    view.resize(1400, 850)
    view.show()
    view.activate()
    return view


@pytest.fixture
def samples(sqlite_instance: Instance) -> Instance:
    for i, user_id in enumerate(USER_IDS):
        name = f"Jana Nováková {i}"
        Subject.create(user_id=user_id, name=name, name_key=name.lower(), search_key=make_search_key(name, user_id))
    events = crash_samples.sample_events(240, seed=21, user_ids=USER_IDS, now=utcnow())
    report = crashes.import_events(sqlite_instance.support, events)
    assert report.refused_count == 0
    return sqlite_instance


def rows(view: CrashesView) -> list[crashes.GroupRow]:
    return view.model.rows()


def select_title(view: CrashesView, prefix: str) -> crashes.GroupRow:
    index = view.model.find_row(lambda r: r.title.startswith(prefix))
    assert index >= 0, prefix
    view._select_row(index)
    row = view.model.row_at(index)
    assert row is not None
    return row


# ---------------------------------------------------------------- empty state


def test_empty_instance_offers_the_import(qtbot: QtBot, sqlite_instance: Instance,
                                          make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.support))
    assert view.empty_state_text().startswith("No crash reports yet — Import crash reports…")
    assert view.empty.button.isVisible() and view.empty.button.text() == "Import crash reports…"
    assert not view.detail.isVisible()
    assert view.count_label.text() == "No crash reports"
    officer = make_view(qtbot, make_session(sqlite_instance.compliance))
    assert officer.empty_state_text().startswith("No crash reports yet")
    assert not officer.empty.button.isVisible()  # a compliance officer cannot import
    assert not officer.import_action.isEnabled() and "crashes.import" in officer.import_action.toolTip()
    assert view.import_action in view.file_actions() and view.rules_action in view.file_actions()


# ---------------------------------------------------------------- table


def test_models_pass_the_model_tester(qtbot: QtBot, qtmodeltester: Any, samples: Instance,
                                      make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(samples.support))
    assert view.model.rowCount() > 0
    qtmodeltester.check(view.model)
    view._select_row(0)
    assert view.detail.events_model.rowCount() > 0
    qtmodeltester.check(view.detail.events_model)


def test_groups_are_listed_sorted_and_filtered(qtbot: QtBot, samples: Instance,
                                               make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(samples.support))
    total = CrashGroup.select().count()
    assert view.state_combo.currentData() == "unresolved"
    assert len(rows(view)) == total  # nothing resolved yet
    assert view.count_label.text() == f"{total} of {total} groups · 240 events"
    view.sort_by("event_count", descending=True)
    counts = [r.event_count for r in rows(view)]
    assert counts == sorted(counts, reverse=True) and view.sort_key == "event_count"
    view.sort_by("subject_count", descending=False)
    users = [r.subject_count for r in rows(view)]
    assert users == sorted(users)
    index = view.platform_combo.findData("platform:java")
    view.platform_combo.setCurrentIndex(index)
    assert rows(view) and all(r.platform == "java" for r in rows(view))
    view.platform_combo.setCurrentIndex(view.platform_combo.findData("os:Android"))
    assert rows(view) and all(r.platform == "java" for r in rows(view))
    view.release_combo.setCurrentIndex(view.release_combo.findData("rcrm-web@4.3.0"))
    assert rows(view) == []  # Android groups in a web release: none
    assert "No crash group matches" in view.empty_state_text()
    view.clear_filters()
    assert len(rows(view)) == total
    view.search.setText("keyerror")
    view.search.flush()
    assert [r.title for r in rows(view)] == ["KeyError: 'customer_id'"]
    view.search.setText(f"#{rows(view)[0].id}")
    view.search.flush()
    assert len(rows(view)) == 1
    view.clear_filters()
    view.time_combo.setCurrentIndex(1)  # last 24 hours
    assert all(r.last_seen >= utcnow() - dt.timedelta(hours=24) for r in rows(view))
    assert view.environment_combo.findData("production") > 0


def test_a_regressed_group_is_marked_in_colour_and_text(qtbot: QtBot, samples: Instance,
                                                        make_session: Callable[[Actor], AppSession]) -> None:
    group = CrashGroup.get(CrashGroup.title.startswith("KeyError"))
    crashes.resolve_group(samples.support, group.id, "rcrm-server@4.2.0")
    late = {"event_id": "f" * 32, "timestamp": utcnow().isoformat() + "Z", "platform": "python",
            "release": "rcrm-server@4.4.0",
            "exception": {"values": [{"type": "KeyError", "value": "'customer_id'", "stacktrace": {"frames": [
                {"module": "rcrm.api.views", "function": "call_detail", "lineno": 300, "in_app": True},
                {"module": "rcrm.calls.service", "function": "process_call", "lineno": 140, "in_app": True}]}}]}}
    assert crashes.import_events(samples.support, [late]).regressed_group_ids == [group.id]
    view = make_view(qtbot, make_session(samples.support))
    view.set_state_filter("regressed")
    assert [r.id for r in rows(view)] == [group.id]
    status = view.model.index(0, 1)
    assert status.data() == "Regressed"
    assert status.data(Qt.ItemDataRole.ForegroundRole) == style.state_color(colors.OVERDUE)
    assert status.data(Qt.ItemDataRole.BackgroundRole) == colors.tint(colors.OVERDUE)
    view._select_row(0)
    assert view.detail.regressed_chip.isVisible() and "Regressed" in view.detail.regressed_chip.text()
    assert "resolved in rcrm-server@4.2.0" in view.detail.state_note.text()
    assert view.count_label.text().endswith("1 regressed")


# ---------------------------------------------------------------- detail and event viewer


def test_detail_shows_chart_releases_explanation_events_and_stack(qtbot: QtBot, samples: Instance,
                                                                  make_session: Callable[[Actor], AppSession]
                                                                  ) -> None:
    view = make_view(qtbot, make_session(samples.support))
    row = select_title(view, "KeyError")
    detail = view.detail
    assert detail.title.text() == "KeyError: 'customer_id'"
    assert detail.culprit.text() == "rcrm.calls.service in process_call"
    assert detail.events_tile.value.text() == str(row.event_count)
    in_30 = sum(n for _, n in crashes.daily_counts(samples.support, row.id, 30))
    assert detail.chart.total() == in_30 and len(detail.chart.data()) == 30
    detail.set_chart_days(90)
    assert len(detail.chart.data()) == 90 and detail.chart.total() == row.event_count
    releases = [detail.releases_table.item(i, 0).text() for i in range(detail.releases_table.rowCount())]
    assert releases == ["rcrm-server@4.3.0", "rcrm-server@4.2.1", "rcrm-server@4.2.0"]
    assert "the exception type and the in-app stack frames" in detail.method_label.text()
    tree = detail.explanation_tree
    frames = [tree.topLevelItem(0).child(i) for i in range(tree.topLevelItem(0).childCount())]
    assert [f.text(1) for f in frames] == ["ignored: library frame", "ignored: library frame",
                                           "counts: in-app frame", "counts: in-app frame"]
    assert "frame:rcrm.calls.service:process_call" in detail.components.text()
    assert detail.events_model.rowCount() == row.event_count
    times = [r.occurred_at for r in detail.events_model.rows()]
    assert times == sorted(times, reverse=True)
    viewer = detail.viewer
    assert viewer.detail is not None and viewer.detail.row.id == detail.events_model.row_at(0).id
    items = viewer.stack_items()
    in_app = [i for i in items if i.data(0, Qt.ItemDataRole.UserRole) == "in_app"]
    assert [i.text(0).split("  ·  ")[0] for i in in_app] == ["process_call", "call_detail"]
    assert all(i.isExpanded() for i in in_app)
    library_groups = [i for i in items if i.text(0).endswith("library frames")]
    assert len(library_groups) == 1 and not library_groups[0].isExpanded()
    assert library_groups[0].childCount() == 2
    code = [i.text(0) for i in items if "▶" in i.text(0)]
    assert any("payload['customer_id']" in line for line in code)
    payload_text = viewer.raw.toPlainText()
    assert "[Filtered]" in payload_text and "@example.sk" not in payload_text
    assert viewer.crumbs.topLevelItemCount() >= 4  # breadcrumbs and the crash itself
    assert viewer.tabs.tabText(1).startswith("Breadcrumbs (")


def test_linked_subject_is_shown_only_with_permission_and_audited(
        qtbot: QtBot, samples: Instance, make_session: Callable[[Actor], AppSession],
        monkeypatch: pytest.MonkeyPatch) -> None:
    linked = CrashEvent.select().where(CrashEvent.subject.is_null(False)).order_by(CrashEvent.occurred_at.desc()
                                                                                     ).first()
    view = make_view(qtbot, make_session(samples.support))
    view.set_state_filter(None)
    assert view.select_group(linked.group_id)
    view.detail.tabs.setCurrentIndex(1)
    row = view.detail.events_model.find_row(lambda e: e.id == linked.id)
    view.detail.select_event(row)
    viewer = view.detail.viewer
    assert viewer.subject_button.isVisible()
    before = AuditEvent.select().where(AuditEvent.action == "crash.subject_view").count()
    qtbot.mouseClick(viewer.subject_button, Qt.MouseButton.LeftButton)
    subject = Subject.get_by_id(linked.subject_id)
    assert subject.user_id in viewer.subject_label.text()
    assert AuditEvent.select().where(AuditEvent.action == "crash.subject_view").count() == before + 1
    # A role with crashes.view but without subjects.view sees that a link exists, not to whom.
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, Role.SUPPORT,
                        permissions.ROLE_PERMISSIONS[Role.SUPPORT] - {Permission.SUBJECTS_VIEW})
    limited = make_view(qtbot, make_session(samples.support))
    limited.set_state_filter(None)
    limited.select_group(linked.group_id)
    limited.detail.tabs.setCurrentIndex(1)
    limited.detail.select_event(limited.detail.events_model.find_row(lambda e: e.id == linked.id))
    assert not limited.detail.viewer.subject_button.isVisible()
    assert "cannot see which" in limited.detail.viewer.subject_label.text()


# ---------------------------------------------------------------- actions


def test_resolve_ignore_reopen_merge_and_unmerge(qtbot: QtBot, samples: Instance, message_boxes: MessageBoxes,
                                                 make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(samples.support))
    view.set_state_filter(None)
    row = select_title(view, "KeyError")
    assert view.detail.resolve_button.isEnabled()
    resolved = view.resolve_selected("rcrm-server@4.3.0")
    assert resolved is not None and resolved.state == "resolved"
    assert view.model.index(view.model.find_row(lambda r: r.id == row.id), 1).data() == "Resolved in rcrm-server@4.3.0"
    assert not view.detail.resolve_button.isEnabled() and view.detail.unresolve_button.isVisible()
    assert view.unresolve_selected().state == "unresolved"  # type: ignore[union-attr]
    assert view.ignore_selected().state == "ignored"  # type: ignore[union-attr]
    assert CrashGroup.get_by_id(row.id).state == "ignored"
    target = select_title(view, "OperationalError")
    source = select_title(view, "SocketTimeout")
    dialog = view.make_merge_dialog()
    assert dialog is not None
    assert dialog.select_target(target.id) and dialog.target_id() == target.id
    assert source.id not in [dialog.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dialog.list.count())]
    merged = view.merge_selected_into(target.id)
    assert merged is not None and merged.event_count == target.event_count + source.event_count
    assert view.model.find_row(lambda r: r.id == source.id) < 0
    assert view.selected_group() is not None and view.selected_group().id == target.id  # type: ignore[union-attr]
    assert view.detail.unmerge_button.isEnabled()
    assert "Merged into this group" in view.detail.merged_label.text()
    assert view.unmerge_selected() == [source.id]
    assert view.model.find_row(lambda r: r.id == source.id) >= 0
    assert CrashGroup.get_by_id(target.id).event_count == target.event_count


def test_a_compliance_officer_sees_but_cannot_change(qtbot: QtBot, samples: Instance,
                                                    make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(samples.compliance))
    view._select_row(0)
    detail = view.detail
    for button in (detail.resolve_button, detail.ignore_button, detail.merge_button, detail.unmerge_button):
        assert not button.isEnabled()
    assert "crashes.manage" in detail.resolve_button.toolTip()
    assert not view.rescrub_action.isEnabled() and not view.import_action.isEnabled()
    assert view.rules_action.isEnabled()


# ---------------------------------------------------------------- import, re-scrub, rules


def test_import_from_the_gui_shows_a_summary_with_refusals(qtbot: QtBot, sqlite_instance: Instance,
                                                           make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.support))
    view.start_import([DATA])
    report = view.last_import_report
    assert report is not None and report.imported == 6 and report.refused_count == 5
    box = view.last_message_box
    assert box is not None and box.icon() == QMessageBox.Icon.Warning
    assert box.text().startswith("Crash reports imported: 6 imported, 0 already there, 5 refused")
    assert "mixed.ndjson: record 2 (line 2): not valid JSON" in box.informativeText()
    assert view.import_progress is None and view.import_action.isEnabled()
    assert view.model.rowCount() == CrashGroup.select().count() and view.empty_state_text() == ""
    assert view.detail.isVisible()


def test_cancel_stops_the_import_after_the_current_batch(qtbot: QtBot, sqlite_instance: Instance, tmp_path: Path,
                                                         make_session: Callable[[Actor], AppSession],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    events = crash_samples.sample_events(2500, seed=2, user_ids=[], now=utcnow())
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events), encoding="utf-8")
    # A file this size is prepared in worker processes where there are cores for them, in larger batches.
    batch = crashes.PARALLEL_BATCH_SIZE if crashes.import_workers(path.stat().st_size) else crashes.BATCH_SIZE
    original = tasks.Task.report

    def cancel_after_first(self: tasks.Task, done: int, total: int, text: str = "") -> bool:
        result = original(self, done, total, text)
        self.cancel()  # the person presses Cancel while the first batch is reported
        return result and not self.cancelled

    monkeypatch.setattr(tasks.Task, "report", cancel_after_first)
    view = make_view(qtbot, make_session(sqlite_instance.support))
    view.start_import([path])
    report = view.last_import_report
    assert report is not None and report.cancelled
    assert report.imported == batch == CrashEvent.select().count()
    assert view.last_message_box is not None and view.last_message_box.windowTitle() == "Import stopped"


def test_rescrub_applies_a_new_rule_after_confirmation(qtbot: QtBot, samples: Instance, message_boxes: MessageBoxes,
                                                       make_session: Callable[[Actor], AppSession]) -> None:
    assert any("rcrm-app-" in e.payload for e in CrashEvent.select())
    crashes.add_scrub_rule(samples.admin, "Server names", r"rcrm-app-\d")
    view = make_view(qtbot, make_session(samples.support))
    message_boxes.answer = QMessageBox.StandardButton.No
    view.confirm_rescrub()
    assert view.last_rescrub_report is None
    assert "Apply the" in message_boxes.texts()[-1] and "240 stored events" in message_boxes.texts()[-1]
    message_boxes.answer = QMessageBox.StandardButton.Yes
    view.confirm_rescrub()
    report = view.last_rescrub_report
    assert report is not None and report.scanned == 240 and report.changed > 0
    assert not any("rcrm-app-" in e.payload for e in CrashEvent.select())
    assert view.last_message_box is not None and "changed" in view.last_message_box.text()


def test_scrub_rules_dialog_lists_rules_and_lets_only_admins_add(qtbot: QtBot, sqlite_instance: Instance,
                                                                 make_session: Callable[[Actor], AppSession]) -> None:
    view = make_view(qtbot, make_session(sqlite_instance.support))
    dialog = view.open_rules()
    qtbot.addWidget(dialog)
    labels = dialog.rule_labels()
    assert labels[0] == "Values of sensitive keys" and "E-mail addresses" in labels
    assert "password" in dialog.table.item(0, 2).text() and "mysql_pwd" in dialog.table.item(0, 2).text()
    assert not dialog.form.isVisible() and dialog.note.isVisible()
    admin = ScrubRulesDialog(make_session(sqlite_instance.admin))
    qtbot.addWidget(admin)
    admin.show()
    assert admin.form.isVisible()
    assert admin.add_rule("Broken", "(") is None and "not a valid regular expression" in admin.error_label.text()
    assert admin.add_rule("Contract numbers", r"CUST-\d+") is not None
    assert "Contract numbers" in admin.rule_labels() and admin.error_label.text() == ""
    admin.table.selectRow(admin.rule_labels().index("Contract numbers"))
    admin._remove_clicked()
    assert "Contract numbers" not in admin.rule_labels()
    assert AuditEvent.select().where(AuditEvent.action == "crash.scrub_rule_add").count() == 1


def test_view_state_is_remembered(qtbot: QtBot, samples: Instance, tmp_path: Path,
                                  make_session: Callable[[Actor], AppSession]) -> None:
    settings = QSettings(str(tmp_path / "view.ini"), QSettings.Format.IniFormat)
    view = make_view(qtbot, make_session(samples.support))
    view.sort_by("first_seen", descending=False)
    view.splitter.setSizes([900, 500])
    view._select_row(0)
    view.detail.set_chart_days(14)
    view.save_state(settings)
    other = make_view(qtbot, make_session(samples.support))
    other.restore_state(settings)
    assert other.sort_key == "first_seen"
    firsts = [r.first_seen for r in rows(other)]
    assert firsts == sorted(firsts)
    assert other.detail.chart_days == 14
    assert abs(other.splitter.sizes()[0] - view.splitter.sizes()[0]) <= 2


def test_detail_tiles_show_their_whole_value_in_a_1280_px_window(qtbot: QtBot, samples: Instance,
                                                                 make_session: Callable[[Actor], AppSession]
                                                                 ) -> None:
    """The four tiles share a quarter of the detail pane each: "3 months ago" was cut to "3 months" at 1280 px."""
    view = make_view(qtbot, make_session(samples.support))
    view.resize(1100, 760)  # what a 1280-px window leaves beside the rail
    qtbot.wait(50)
    select_title(view, "KeyError")
    qtbot.wait(50)
    detail = view.detail
    for tile in (detail.events_tile, detail.users_tile, detail.first_tile, detail.last_tile):
        assert tile.value.text().endswith("ago") or tile.value.text()[0].isdigit()
        assert tile.value.sizeHint().width() <= tile.value.width(), (tile.value.text(), tile.value.width())
    assert "UTC" in detail.first_tile.toolTip()
    table = detail.releases_table  # the release names whole too ("rcrm-ser…" with relative times beside them)
    name = table.item(0, 0).text()
    assert table.fontMetrics().horizontalAdvance(name) + 8 <= table.columnWidth(0), (name, table.columnWidth(0))
