"""The Operators area: who may log in to this instance, with which role, and their state.

Read access needs ``Permission.OPERATORS_VIEW``; changes need
``Permission.OPERATORS_MANAGE``. The buttons are enabled only for operators
holding it, but that is a courtesy: every change goes through
``core.operators``, which checks the permission itself (and the rules "keep one
active administrator", "you cannot disable yourself"), so a refusal from core is
shown in a message box exactly as it is.

Changes name the record ``version`` that was read, so two administrators editing
the same operator get a ``ConflictError`` instead of overwriting each other.
"""

from __future__ import annotations

import datetime as dt
import logging

from PySide6.QtCore import QItemSelection, QSettings, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from rcrm_desktop.core import operators
from rcrm_desktop.core.operators import OperatorInfo
from rcrm_desktop.core.permissions import ROLE_LABELS, ROLE_PERMISSIONS, Permission, Role
from rcrm_desktop.core.text import fold
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style, tasks
from rcrm_desktop.ui.areas import AREA
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.operator_edit import (
    AddOperatorDialog,
    ChangeRoleDialog,
    ResetPasswordDialog,
    role_description,
)
from rcrm_desktop.ui.models.keyset import Column, KeysetTableModel
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.base import AreaView, FilterBar, SearchField, setup_table

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    """Now as naive UTC, the way core stores times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def is_locked(op: OperatorInfo, now: dt.datetime | None = None) -> bool:
    return op.locked_until is not None and op.locked_until > (now or utcnow())


def short_local_with_relative(value: dt.datetime | None) -> str:
    """Like ``fmt.local_with_relative`` but without the date when it is today (lock-outs last minutes)."""
    if value is None:
        return "—"
    local = fmt.to_local(value)
    if local.date() == dt.datetime.now().astimezone().date():
        return f"{local:%H:%M} ({fmt.relative(value)})"
    return fmt.local_with_relative(value)


def _exec_dialog(dialog: object) -> int:
    """Run a modal dialog (tests replace this to drive the dialog instead of blocking)."""
    return dialog.exec()  # type: ignore[attr-defined, no-any-return]


class OperatorsView(AreaView):
    """Table of operators with a detail pane; add, change role, disable/enable and reset password."""

    spec = AREA["OperatorsView"]

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(session, parent)
        self.can_manage = session.actor.can(Permission.OPERATORS_MANAGE)
        self._all: list[OperatorInfo] = []
        self._loaded = False
        self._loading = False
        self._sort: tuple[str, bool] = ("username", False)
        self._select_after_load: int | None = None
        self._columns_sized = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(10)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(style.page_title(self.title()))
        titles.addWidget(style.page_subtitle(
            self.tr("People who log in to this instance and the role that decides what they may do.")))
        head.addLayout(titles, 1)
        self.add_button = self._button("account-plus-outline", self.tr("Add operator…"), self.add_operator)
        self.role_button = self._button("account-convert-outline", self.tr("Change role…"), self.change_role)
        self.active_button = self._button("account-cancel-outline", self.tr("Disable"), self.toggle_active)
        self.password_button = self._button("lock-reset", self.tr("Reset password…"), self.reset_password)
        for button in (self.add_button, self.role_button, self.active_button, self.password_button):
            head.addWidget(button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.search = SearchField(self.tr("Search operator name or display name (accents ignored)"))
        self.filter_bar = FilterBar(self.search)
        self.role_filter = QComboBox()
        self.role_filter.addItem(self.tr("All roles"), None)
        for role in Role:
            self.role_filter.addItem(ROLE_LABELS[role], role)
        self.filter_bar.add_widget(self.role_filter)
        self.status_filter = QComboBox()
        self.status_filter.addItem(self.tr("Any status"), "any")
        self.status_filter.addItem(self.tr("Active"), "active")
        self.status_filter.addItem(self.tr("Disabled"), "disabled")
        self.status_filter.addItem(self.tr("Locked out"), "locked")
        self.filter_bar.add_widget(self.status_filter)
        layout.addWidget(self.filter_bar)
        self.search.search_changed.connect(lambda _t: self._apply())
        self.role_filter.currentIndexChanged.connect(lambda _i: self._apply())
        self.status_filter.currentIndexChanged.connect(lambda _i: self._apply())
        self.filter_bar.clear_button.clicked.connect(self.clear_filters)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.stack = QStackedWidget()
        self.table = QTableView()
        self.model: KeysetTableModel[OperatorInfo] = KeysetTableModel(self._columns(), page_size=500, parent=self)
        self.table.setModel(self.model)
        setup_table(self.table)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.model.sort_requested.connect(self._sort_requested)
        self.model.fetch_failed.connect(lambda exc: error_dialogs.show_error(self, exc))
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.change_role() if self.can_manage else None)
        header = self.table.horizontalHeader()
        for col, width in enumerate((120, 170, 140, 110, 180)):
            header.resizeSection(col, width)
        self.stack.addWidget(self.table)
        self.empty = style.EmptyState("account-search-outline")
        self.empty.button.clicked.connect(self.clear_filters)
        self.stack.addWidget(self.empty)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self._build_detail())
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([800, 270])
        layout.addWidget(self.splitter, 1)
        self._update_buttons()
        self._show_detail(None)

    # -- building

    def _button(self, icon_name: str, text: str, slot: object) -> QPushButton:
        button = QPushButton(icons.icon(icon_name), text)
        button.clicked.connect(slot)
        return button

    def _columns(self) -> list[Column[OperatorInfo]]:
        muted = colors.MUTED

        def status(op: OperatorInfo) -> str:
            if not op.active:
                return self.tr("Disabled")
            if is_locked(op):
                return self.tr("Locked out")
            return self.tr("Active")

        def status_color(op: OperatorInfo) -> object:
            if not op.active:
                return muted
            if is_locked(op):
                return style.state_color(colors.OVERDUE)
            return style.state_color(colors.OK)

        def status_icon(op: OperatorInfo) -> object:
            if not op.active:
                return icons.icon("account-cancel-outline", muted.name())
            if is_locked(op):
                return icons.icon("account-lock-outline", style.state_color(colors.OVERDUE).name())
            return icons.icon("check-circle-outline", style.state_color(colors.OK).name())

        def locked(op: OperatorInfo) -> str:
            return short_local_with_relative(op.locked_until) if is_locked(op) else "—"

        def locked_tip(op: OperatorInfo) -> str:
            if not is_locked(op):
                return self.tr("Not locked out")
            return self.tr("Locked out after too many failed log-ins until %1").replace(
                "%1", fmt.utc_tooltip(op.locked_until))

        def last_login_tip(op: OperatorInfo) -> str:
            return fmt.utc_tooltip(op.last_login_at) or self.tr("Never logged in")

        return [
            Column("username", self.tr("Operator name"), lambda op: op.username, sort_key="username",
                   foreground=lambda op: None if op.active else muted),
            Column("display_name", self.tr("Display name"), lambda op: op.display_name, sort_key="display_name",
                   foreground=lambda op: None if op.active else muted),
            Column("role", self.tr("Role"), lambda op: ROLE_LABELS[op.role], sort_key="role",
                   tooltip=lambda op: role_description(op.role)),
            Column("active", self.tr("Status"), status, sort_key="active", foreground=status_color,
                   decoration=status_icon),
            Column("locked_until", self.tr("Locked until"), locked, sort_key="locked_until", tooltip=locked_tip,
                   foreground=lambda op: style.state_color(colors.OVERDUE) if is_locked(op) else None),
            Column("last_login_at", self.tr("Last log-in"),
                   lambda op: fmt.local_with_relative(op.last_login_at) if op.last_login_at else self.tr("Never"),
                   sort_key="last_login_at", tooltip=last_login_tip),
        ]

    def _build_detail(self) -> QFrame:
        pane = QFrame()
        pane.setObjectName("detailPane")
        pane.setMinimumWidth(260)
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(6)
        top = QHBoxLayout()
        self.detail_icon = style.icon_label("account-circle-outline", 40)
        top.addWidget(self.detail_icon, 0, Qt.AlignmentFlag.AlignTop)
        names = QVBoxLayout()
        names.setSpacing(0)
        self.detail_name = QLabel()
        self.detail_name.setFont(style.scaled_font(self.detail_name.font(), 1.2, QFont.Weight.DemiBold))
        self.detail_name.setWordWrap(True)
        names.addWidget(self.detail_name)
        self.detail_username = style.muted_label()
        names.addWidget(self.detail_username)
        top.addLayout(names, 1)
        layout.addLayout(top)
        layout.addSpacing(6)
        form = QFormLayout()
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.detail_fields: dict[str, QLabel] = {}
        for key, caption in (("role", self.tr("Role")), ("status", self.tr("Status")),
                             ("locked", self.tr("Locked until")), ("last_login", self.tr("Last log-in")),
                             ("created", self.tr("Created")), ("version", self.tr("Record version"))):
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_fields[key] = value
            form.addRow(style.muted_label(caption, name="fieldCaption"), value)
        layout.addLayout(form)
        layout.addSpacing(8)
        self.detail_role_heading = style.section_heading(self.tr("What this role may do"))
        layout.addWidget(self.detail_role_heading)
        self.detail_role_text = QLabel()
        self.detail_role_text.setWordWrap(True)
        layout.addWidget(self.detail_role_text)
        self.detail_permissions = style.muted_label()
        self.detail_permissions.setWordWrap(True)
        layout.addWidget(self.detail_permissions)
        layout.addStretch(1)
        self.detail_placeholder = style.EmptyState("account-circle-outline", pane)
        self.detail_placeholder.set_text(self.tr("No operator selected"),
                                         self.tr("Select an operator to see their role, their last log-in and "
                                                 "what the role may do."))
        layout.addWidget(self.detail_placeholder, 10)  # the pane's middle while nothing is selected
        self._detail_widgets = [self.detail_icon, self.detail_name, self.detail_username, self.detail_role_heading,
                                self.detail_role_text, self.detail_permissions, *self.detail_fields.values()]
        self._detail_form = form
        return pane

    # -- loading

    def activate(self) -> None:
        if not self._loaded and not self._loading:
            self.refresh()

    def refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        current = self.selected_operator()
        if current is not None and self._select_after_load is None:
            self._select_after_load = current.id
        actor = self.session.actor
        tasks.run_task(lambda _task: operators.list_operators(actor), self._on_loaded, self._on_failed)

    def _on_loaded(self, rows: object) -> None:
        if not isValid(self):
            return
        self._loading = False
        self._loaded = True
        assert isinstance(rows, list)
        self._all = rows
        self._apply()

    def _on_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._loading = False
        error_dialogs.show_error(self, exc, self.tr("Cannot load the operators"))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def clear_filters(self) -> None:
        for widget in (self.search, self.role_filter, self.status_filter):
            widget.blockSignals(True)
        self.search.clear()
        self.role_filter.setCurrentIndex(0)
        self.status_filter.setCurrentIndex(0)
        for widget in (self.search, self.role_filter, self.status_filter):
            widget.blockSignals(False)
        self._apply()

    def _visible_rows(self) -> list[OperatorInfo]:
        text = fold(self.search.text().strip())
        role = self.role_filter.currentData()
        status = self.status_filter.currentData()
        now = utcnow()
        out = []
        for op in self._all:
            if text and text not in fold(op.username) and text not in fold(op.display_name):
                continue
            if role is not None and op.role != role:
                continue
            if status == "active" and not (op.active and not is_locked(op, now)):
                continue
            if status == "disabled" and op.active:
                continue
            if status == "locked" and not is_locked(op, now):
                continue
            out.append(op)
        key, descending = self._sort

        def sort_key(op: OperatorInfo) -> tuple[int, object]:
            value = {
                "username": op.username,
                "display_name": op.display_name.lower(),
                "role": ROLE_LABELS[op.role],
                "active": (not op.active, is_locked(op, now)),
                "locked_until": op.locked_until or dt.datetime.min,
                "last_login_at": op.last_login_at or dt.datetime.min,
            }.get(key, op.username)
            return (0, value)

        out.sort(key=sort_key, reverse=descending)
        return out

    def _apply(self) -> None:
        """Show the operators that match the filters, keeping (or restoring) the selection."""
        keep = self._select_after_load
        if keep is None:
            current = self.selected_operator()
            keep = current.id if current is not None else None
        self._select_after_load = None
        rows = self._visible_rows()

        def fetch(after: object, limit: int) -> list[OperatorInfo]:
            start = 0 if after is None else next((i + 1 for i, r in enumerate(rows) if r is after), len(rows))
            return rows[start:start + limit]

        self.model.set_fetch(fetch)
        if rows and not self._columns_sized:
            self._columns_sized = True
            self.table.resizeColumnsToContents()
            header = self.table.horizontalHeader()
            for col in range(self.model.columnCount() - 1):
                header.resizeSection(col, min(header.sectionSize(col) + 10, 240))
        total = len(self._all)
        shown = len(rows)
        if shown == total:
            self.filter_bar.count_label.setText(style.count_text(total, self.tr("%1 operator"),
                                                                 self.tr("%1 operators")))
        else:
            self.filter_bar.count_label.setText(self.tr("%1 of %2 operators").replace("%1", f"{shown:,}")
                                                .replace("%2", f"{total:,}"))
        if shown:
            self.stack.setCurrentWidget(self.table)
        else:
            self.stack.setCurrentWidget(self.empty)
            if total:
                self.empty.set_text(self.tr("No operator matches these filters"),
                                    self.tr("Try another name or role."), self.tr("Clear filters"))
            else:
                self.empty.set_text(self.tr("No operators yet"),
                                    self.tr("Add the people who will use RCRM Desktop."), "")
        if keep is not None:
            self.select_operator(keep)
        self._update_buttons()
        if self.selected_operator() is None:
            self._show_detail(None)

    def _sort_requested(self, key: str, descending: bool) -> None:
        self._sort = (key, descending)
        if self._loaded:
            self._apply()

    # -- selection

    def selected_operator(self) -> OperatorInfo | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.model.row_at(rows[0].row())

    def select_operator(self, operator_id: int) -> bool:
        row = self.model.find_row(lambda op: op.id == operator_id)
        if row < 0:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_buttons()
        self._show_detail(self.selected_operator())

    def _update_buttons(self) -> None:
        op = self.selected_operator()
        no_right = self.tr("Only an administrator can change operators.")
        self.add_button.setEnabled(self.can_manage)
        self.add_button.setToolTip(self.tr("Add a new operator") if self.can_manage else no_right)
        for button, tip in ((self.role_button, self.tr("Change the selected operator's role")),
                            (self.password_button, self.tr("Set a new password; also lifts a lock-out"))):
            button.setEnabled(self.can_manage and op is not None)
            button.setToolTip(tip if self.can_manage else no_right)
        if op is not None and not op.active:
            self.active_button.setText(self.tr("Enable"))
            self.active_button.setIcon(icons.icon("account-check-outline"))
            tip = self.tr("Allow this operator to log in again")
        else:
            self.active_button.setText(self.tr("Disable"))
            self.active_button.setIcon(icons.icon("account-cancel-outline"))
            tip = self.tr("Stop this operator from logging in (the audit trail keeps their actions)")
        self.active_button.setEnabled(self.can_manage and op is not None)
        self.active_button.setToolTip(tip if self.can_manage else no_right)

    def _show_detail(self, op: OperatorInfo | None) -> None:
        for widget in self._detail_widgets:
            widget.setVisible(op is not None)
        for row in range(self._detail_form.rowCount()):
            self._detail_form.setRowVisible(row, op is not None)
        self.detail_placeholder.setVisible(op is None)
        if op is None:
            return
        self.detail_name.setText(op.display_name)
        you = self.tr(" · you") if op.id == self.session.actor.operator_id else ""
        self.detail_username.setText(op.username + you)
        f = self.detail_fields
        f["role"].setText(op.role_label)
        if not op.active:
            f["status"].setText(self.tr("Disabled — cannot log in"))
            f["status"].setStyleSheet(f"color: {colors.MUTED.name()};")
        elif is_locked(op):
            f["status"].setText(self.tr("Locked out after failed log-ins"))
            f["status"].setStyleSheet(f"color: {style.state_color(colors.OVERDUE).name()}; font-weight: 600;")
        else:
            f["status"].setText(self.tr("Active"))
            f["status"].setStyleSheet(f"color: {style.state_color(colors.OK).name()};")
        f["locked"].setText(fmt.local_with_relative(op.locked_until) if is_locked(op) else "—")
        f["locked"].setToolTip(fmt.utc_tooltip(op.locked_until) if is_locked(op) else "")
        f["last_login"].setText(fmt.local_with_relative(op.last_login_at) if op.last_login_at else self.tr("Never"))
        f["last_login"].setToolTip(fmt.utc_tooltip(op.last_login_at))
        f["created"].setText(fmt.local_with_relative(op.created_at))
        f["created"].setToolTip(fmt.utc_tooltip(op.created_at))
        f["version"].setText(str(op.version))
        self.detail_role_text.setText(role_description(op.role))
        perms = sorted(p.value for p in ROLE_PERMISSIONS[op.role])
        self.detail_permissions.setText(", ".join(perms))

    # -- actions (core enforces the rules; these only collect input)

    def add_operator(self) -> None:
        actor = self.session.actor
        dialog = AddOperatorDialog(lambda u, d, r, p: operators.create_operator(actor, u, d, r, p), self)
        if _exec_dialog(dialog) and isinstance(getattr(dialog, "result_value", None), OperatorInfo):
            created: OperatorInfo = dialog.result_value
            self.status_message.emit(self.tr("Operator %1 added.").replace("%1", created.username))
            self._select_after_load = created.id
            self.refresh()
        dialog.deleteLater()

    def change_role(self) -> None:
        op = self.selected_operator()
        if op is None:
            return
        actor = self.session.actor
        dialog = ChangeRoleDialog(op, lambda role: operators.set_role(actor, op.id, role, op.version), self)
        if _exec_dialog(dialog):
            self.status_message.emit(self.tr("Role of %1 changed.").replace("%1", op.username))
            self._select_after_load = op.id
            self.refresh()
        dialog.deleteLater()

    def reset_password(self) -> None:
        op = self.selected_operator()
        if op is None:
            return
        actor = self.session.actor
        dialog = ResetPasswordDialog(op, lambda password: operators.reset_password(actor, op.id, password), self)
        if _exec_dialog(dialog):
            self.status_message.emit(self.tr("New password set for %1.").replace("%1", op.username))
            self._select_after_load = op.id
            self.refresh()
        dialog.deleteLater()

    def toggle_active(self) -> None:
        op = self.selected_operator()
        if op is None:
            return
        enable = not op.active
        if not enable and not error_dialogs.confirm(
                self, self.tr("Disable operator"),
                self.tr("Disable %1 (%2)?").replace("%1", op.display_name).replace("%2", op.username),
                self.tr("They can no longer log in. Their past actions stay in the audit log, and you can "
                        "enable the account again later."), destructive=True):
            return
        try:
            operators.set_active(self.session.actor, op.id, enable, op.version)
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, self.tr("Enable operator") if enable else self.tr("Disable operator"))
            self._select_after_load = op.id
            self.refresh()
            return
        self.status_message.emit((self.tr("Operator %1 enabled.") if enable else self.tr("Operator %1 disabled."))
                                 .replace("%1", op.username))
        self._select_after_load = op.id
        self.refresh()

    # -- state

    def save_state(self, settings: QSettings) -> None:
        settings.setValue("splitter", self.splitter.saveState())
        settings.setValue("header", self.table.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        splitter = settings.value("splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        header = settings.value("header")
        if header is not None and self.table.horizontalHeader().restoreState(header):
            self._columns_sized = True
