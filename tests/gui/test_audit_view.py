"""The Audit log area: lazy newest-first table, filters, detail pane, chain verification, CSV export."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QDate, Qt

from rcrm_desktop.core import audit
from rcrm_desktop.db.models import AuditEvent
from rcrm_desktop.ui.views import audit as audit_view_module
from rcrm_desktop.ui.views.audit import AuditView, details_summary

pytestmark = pytest.mark.gui


def make_view(qtbot, session) -> AuditView:  # type: ignore[no-untyped-def]
    view = AuditView(session)
    qtbot.addWidget(view)
    view.resize(1200, 760)
    view.activate()
    return view


def seqs(view: AuditView) -> list[int]:
    return [row.seq for row in view.model.rows()]


def test_shows_events_newest_first(qtbot, qtmodeltester, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    shown = seqs(view)
    assert shown, "the fixture's log-ins and operator changes are audited"
    assert shown == sorted(shown, reverse=True)
    assert shown[0] == audit.verify_chain().count
    qtmodeltester.check(view.model)
    time_col = [c.key for c in view.model.columns].index("at")
    index = view.model.index(0, time_col)
    assert "(" in index.data() and index.data(Qt.ItemDataRole.ToolTipRole).endswith("UTC")
    assert view.stack.currentWidget() is view.table
    assert view.filter_bar.count_label.text() == f"{len(shown)} events"


def test_keyset_paging_loads_more_without_gaps(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    total = len(seqs(view))
    view.model.page_size = 3
    view.refresh()
    assert len(seqs(view)) == 3
    assert view.model.canFetchMore()
    assert "scroll for more" in view.filter_bar.count_label.text()
    while view.model.canFetchMore():
        view.model.fetchMore()
    assert seqs(view) == list(range(total, 0, -1))


def test_filter_by_action_operator_and_target(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    actions = [view.action_combo.itemData(i) for i in range(view.action_combo.count())]
    assert actions[0] is None and "operator.create" in actions and "login" in actions
    view.action_combo.setCurrentIndex(view.action_combo.findData("operator.create"))
    rows = view.model.rows()
    assert len(rows) == 2
    assert {r.action for r in rows} == {"operator.create"}
    assert view.filter.action == "operator.create"

    view.clear_filters()
    view.operator_combo.setCurrentIndex(view.operator_combo.findData(sqlite_instance.compliance.operator_id))
    assert {r.operator for r in view.model.rows()} == {"eva"}

    view.clear_filters()
    view.search.setText(str(sqlite_instance.support.operator_id))
    view.search.flush()
    view.target_combo.setEditText("operator")
    assert view.model.rows()
    assert {(r.target_type, r.target_id) for r in view.model.rows()} == {
        ("operator", str(sqlite_instance.support.operator_id))}


def test_action_group_filter(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    index = view.action_combo.findData("operator.*")
    assert index > 0
    view.action_combo.setCurrentIndex(index)
    assert {r.action.split(".")[0] for r in view.model.rows()} == {"operator"}
    assert "operator.bootstrap" in {r.action for r in view.model.rows()}


def test_date_filter_and_empty_state(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    view.to_any.setChecked(False)
    view.to_date.setDate(QDate.currentDate().addDays(-2))
    assert view.model.rowCount() == 0
    assert view.stack.currentWidget() is view.empty
    assert "No audit events match" in view.empty.title.text()
    assert view.empty.button.isVisibleTo(view.empty)
    view.empty.button.click()
    assert view.model.rowCount() > 0
    assert view.to_any.isChecked()
    view.from_any.setChecked(False)
    view.from_date.setDate(QDate.currentDate())
    assert view.model.rowCount() > 0


def test_detail_pane_shows_fields_and_hashes(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.admin))
    rows = view.model.rows()
    view.table.selectRow(1)
    event = rows[1]
    assert view.detail_title.text() == f"Event {event.seq:,}"
    assert view.detail_fields["action"].text() == event.action
    assert view.detail_hash.text().replace("\n", "") == event.hash
    stored = AuditEvent.get(AuditEvent.seq == event.seq)
    assert view.detail_prev.text().replace("\n", "") == stored.prev_hash
    view.table.selectRow(len(rows) - 1)
    assert view.detail_prev.text().replace("\n", "") == "0" * 64


def test_verify_chain_ok_then_broken_after_tampering(qtbot, sqlite_instance, make_session) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    view.verify_button.click()
    count = audit.verify_chain().count
    assert view.chain_report is not None and view.chain_report.ok
    assert f"Chain OK — {count} events" in view.chain_label.text()
    shown_before = seqs(view)
    assert "#2e7d32" in view.chain_label.styleSheet() or "color" in view.chain_label.styleSheet()

    AuditEvent.update(details=json.dumps({"role": "admin"})).where(AuditEvent.seq == 3).execute()
    view.verify_button.click()
    report = view.chain_report
    assert report is not None and not report.ok and report.broken_seq == 3
    assert "BROKEN at event 3" in view.chain_label.text()
    assert "changed" in view.chain_label.toolTip()
    assert seqs(view) == shown_before
    selected = view.selected_event()
    assert selected is not None and selected.seq == 3
    seq_col = 0
    row = view.model.find_row(lambda r: r.seq == 3)
    assert view.model.index(row, seq_col).data(Qt.ItemDataRole.BackgroundRole) is not None
    assert "broken" in view.detail_chain_note.text()
    assert json.loads(view.detail_json.toPlainText()) == {"role": "admin"}  # the table shows the row as it is now


def test_export_csv_writes_the_file_with_header(qtbot, sqlite_instance, make_session, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    target = tmp_path / "audit-export"
    monkeypatch.setattr(audit_view_module, "_ask_save_path", lambda parent, suggested: str(target))
    before = len(seqs(view))
    view.action_combo.setCurrentIndex(view.action_combo.findData("operator.create"))
    view.export_button.click()
    written = target.with_suffix(".csv")
    assert written.is_file()
    with written.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == audit.CSV_HEADER
    assert len(rows) == 3 and {r[4] for r in rows[1:]} == {"operator.create"}
    assert view.last_export == (written, 2)
    view.clear_filters()
    assert len(seqs(view)) == before + 1  # the export itself is audited
    assert view.model.rows()[0].action == "audit.export"


def test_export_cancelled_writes_nothing(qtbot, sqlite_instance, make_session, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view = make_view(qtbot, make_session(sqlite_instance.compliance))
    monkeypatch.setattr(audit_view_module, "_ask_save_path", lambda parent, suggested: "")
    view.export_csv()
    assert list(tmp_path.glob("*.csv")) == []


def test_details_summary() -> None:
    assert details_summary('{"a":1,"b":"x"}') == "a=1, b=x"
    assert details_summary("{}") == "—"
    assert details_summary("not json") == "not json"
