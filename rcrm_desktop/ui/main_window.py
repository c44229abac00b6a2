"""The main window: a navigation rail of areas, the areas themselves, menus, status bar and the session lock.

Guarantees:

* only the areas whose ``permission`` the logged-in operator holds are built
  and listed (``Actor.can``); core checks the permission again on every call,
  so a hidden area is a courtesy, not the rule;
* ``Ctrl+1…9`` switch areas, ``Ctrl+F`` searches in the current one, ``F5``
  reloads it; every action is in the menu bar with its shortcut shown;
* after ``idle_lock_minutes`` (an instance option) without keyboard or mouse
  input, or on ``Ctrl+L``, the session locks: the areas are covered, the menu
  bar is disabled, and an application-modal dialog asks for the operator's
  password; the lock and the log-out are audited by core
  (``operators.record_logout``), the unlock is a log-in audited by core;
* window geometry, the current area and each area's own state (splitters,
  columns) are kept in the per-workstation INI file (``app_settings``).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QSettings, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from rcrm_desktop import APP_NAME
from rcrm_desktop.core import instance as core_instance
from rcrm_desktop.core import operators
from rcrm_desktop.core.permissions import ROLE_LABELS, Actor, Permission
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.about import AboutDialog
from rcrm_desktop.ui.dialogs.lock import LockDialog
from rcrm_desktop.ui.idle import IdleWatcher
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.audit import AuditView
from rcrm_desktop.ui.views.base import AreaView, app_settings
from rcrm_desktop.ui.views.crashes import CrashesView
from rcrm_desktop.ui.views.dashboard import DashboardView
from rcrm_desktop.ui.views.operators import OperatorsView
from rcrm_desktop.ui.views.recordings import RecordingsView
from rcrm_desktop.ui.views.requests import RequestsView
from rcrm_desktop.ui.views.retention import RetentionView
from rcrm_desktop.ui.views.users import UsersView

log = logging.getLogger(__name__)

#: The areas in rail order (Ctrl+1 … Ctrl+9); each is listed only for operators holding its permission.
AREA_CLASSES: list[type[AreaView] | None] = [DashboardView, UsersView, RequestsView, RecordingsView, CrashesView,
                                             RetentionView, OperatorsView, AuditView]

DEFAULT_SIZE = QSize(1280, 800)


def tr(text: str) -> str:
    return QCoreApplication.translate("MainWindow", text)


class MainWindow(QMainWindow):
    """The logged-in workstation. ``session_ended`` carries ``"logout"`` or ``"quit"``."""

    session_ended = Signal(str)

    def __init__(self, session: AppSession, *, idle_timeout_ms: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.locked = False
        self.lock_dialog: LockDialog | None = None
        self._unlocked_actor: Actor | None = None
        self._hidden_on_lock: list[QWidget] = []
        self._ended = False
        self._end_audited = False
        self.setObjectName("MainWindow")
        self.setWindowTitle(self.tr("%1 — %2").replace("%1", APP_NAME).replace("%2", session.instance_name))
        self.setWindowIcon(style.app_icon())

        self.areas: list[AreaView] = []
        for cls in AREA_CLASSES:
            if cls is None:
                continue
            if cls.permission is not None and not session.actor.can(cls.permission):
                continue
            area = cls(session, None)
            area.status_message.connect(self._show_status)
            self.areas.append(area)
        self.dashboard = self.area_by_name("DashboardView")
        if isinstance(self.dashboard, DashboardView):
            self.dashboard.navigate_requested.connect(self.switch_to_area)
            self.dashboard.set_navigation_targets({a.objectName() for a in self.areas})
        self._link_areas()

        self.screens = QStackedWidget(self)
        self.workspace = self._build_workspace()
        self.cover = self._build_cover()
        self.screens.addWidget(self.workspace)
        self.screens.addWidget(self.cover)
        self.setCentralWidget(self.screens)
        self._build_menus()
        self._build_status_bar()

        if idle_timeout_ms is None:
            try:
                idle_timeout_ms = max(1, core_instance.get_int_setting("idle_lock_minutes")) * 60_000
            except RcrmError:
                idle_timeout_ms = 10 * 60_000
        self.idle_timeout_ms = idle_timeout_ms
        self.idle = IdleWatcher(idle_timeout_ms, self)
        self.idle.idle.connect(lambda: self.lock(idle=True))

        self.restore_settings()
        if self.rail.currentRow() < 0 and self.areas:
            self.switch_to(0)
        self.idle.start()

    # -- building

    def _build_workspace(self) -> QWidget:
        workspace = QWidget()
        row = QHBoxLayout(workspace)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)

        panel = QFrame()
        panel.setObjectName("navRailPanel")
        panel.setFixedWidth(style.RAIL_WIDTH)
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 14, 0, 10)
        col.setSpacing(6)
        brand = QHBoxLayout()
        brand.setContentsMargins(16, 0, 12, 6)
        brand.setSpacing(8)
        logo = QLabel()
        logo.setPixmap(style.app_icon().pixmap(28, 28))
        logo.setFixedSize(28, 28)
        brand.addWidget(logo)
        names = QVBoxLayout()
        names.setSpacing(0)
        title = QLabel(APP_NAME)
        title.setObjectName("brandTitle")
        names.addWidget(title)
        instance = QLabel()
        instance.setObjectName("brandSubtitle")
        instance.setText(instance.fontMetrics().elidedText(self.session.instance_name, Qt.TextElideMode.ElideRight,
                                                           style.RAIL_WIDTH - 64))
        instance.setToolTip(self.session.instance_name)
        names.addWidget(instance)
        brand.addLayout(names, 1)
        col.addLayout(brand)

        self.rail = QListWidget()
        self.rail.setObjectName("navRail")
        self.rail.setIconSize(QSize(20, 20))
        self.rail.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.rail.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.rail.setSpacing(1)
        font = style.scaled_font(self.rail.font(), 1.02, QFont.Weight.Medium)
        for index, area in enumerate(self.areas):
            item = QListWidgetItem(icons.icon(area.icon_name), area.title())
            item.setFont(font)
            item.setSizeHint(QSize(style.RAIL_WIDTH - 16, 38))
            shortcut = f" (Ctrl+{index + 1})" if index < 9 else ""
            item.setToolTip(area.title() + shortcut)
            self.rail.addItem(item)
        self.rail.currentRowChanged.connect(self._area_changed)
        col.addWidget(self.rail, 1)

        self.lock_button = QToolButton()
        self.lock_button.setIcon(icons.icon("lock-outline"))
        self.lock_button.setText(self.tr("Lock session"))
        self.lock_button.setToolTip(self.tr("Lock the session now (Ctrl+L)"))
        self.lock_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.lock_button.setAutoRaise(True)
        self.lock_button.clicked.connect(lambda: self.lock())
        lock_row = QHBoxLayout()
        lock_row.setContentsMargins(12, 0, 12, 0)
        lock_row.addWidget(self.lock_button)
        lock_row.addStretch(1)
        col.addLayout(lock_row)
        row.addWidget(panel)

        self.area_stack = QStackedWidget()
        for area in self.areas:
            self.area_stack.addWidget(area)
        row.addWidget(self.area_stack, 1)
        return workspace

    def _build_cover(self) -> QWidget:
        cover = QFrame()
        cover.setObjectName("lockCover")
        col = QVBoxLayout(cover)
        col.addStretch(1)
        col.addWidget(style.icon_label("lock-outline", 72), 0, Qt.AlignmentFlag.AlignHCenter)
        title = QLabel(self.tr("Session locked"))
        title.setFont(style.scaled_font(title.font(), 1.6, QFont.Weight.DemiBold))
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(title)
        who = style.muted_label(self.tr("%1 is logged in on this workstation.").replace(
            "%1", self.session.actor.display_name))
        who.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(who)
        col.addStretch(2)
        return cover

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr("&File"))
        self.refresh_action = self._action(self.tr("&Refresh"), "refresh", QKeySequence(Qt.Key.Key_F5),
                                           self.refresh_current)
        file_menu.addAction(self.refresh_action)
        file_menu.addSeparator()
        self.area_file_actions: list[QAction] = []
        for index, area in enumerate(self.areas):
            for source in area.file_actions():
                proxy = self._action(source.text(), "file-import-outline", None,
                                     lambda _c=False, i=index, a=source: self._run_area_action(i, a))
                proxy.setIcon(source.icon())
                proxy.setEnabled(source.isEnabled())
                proxy.setToolTip(source.toolTip())
                source.changed.connect(lambda p=proxy, a=source: p.setEnabled(a.isEnabled()))
                file_menu.addAction(proxy)
                self.area_file_actions.append(proxy)
        if self.area_file_actions:
            file_menu.addSeparator()
        self.lock_action = self._action(self.tr("&Lock session"), "lock-outline", QKeySequence("Ctrl+L"),
                                        lambda: self.lock())
        file_menu.addAction(self.lock_action)
        self.logout_action = self._action(self.tr("Log &out"), "logout", None, self.log_out)
        file_menu.addAction(self.logout_action)
        file_menu.addSeparator()
        self.quit_action = self._action(self.tr("&Quit"), "power", QKeySequence("Ctrl+Q"), self.quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu(self.tr("&View"))
        self.area_actions: list[QAction] = []
        group = QActionGroup(self)
        group.setExclusive(True)
        for index, area in enumerate(self.areas):
            shortcut = QKeySequence(f"Ctrl+{index + 1}") if index < 9 else None
            action = self._action(area.title(), area.icon_name, shortcut, lambda _c=False, i=index: self.switch_to(i))
            action.setCheckable(True)
            group.addAction(action)
            view_menu.addAction(action)
            self.area_actions.append(action)
        view_menu.addSeparator()
        self.search_action = self._action(self.tr("&Search"), "magnify", QKeySequence("Ctrl+F"), self.focus_search)
        view_menu.addAction(self.search_action)

        self.area_menus: dict[int, QMenu] = {}
        for index, area in enumerate(self.areas):
            actions = area.menu_actions()
            if actions:
                menu = bar.addMenu(area.title())
                menu.addActions(actions)
                menu.menuAction().setVisible(False)
                self.area_menus[index] = menu

        self.settings_action: QAction | None = None
        self.scrub_rules_action: QAction | None = None
        if self.session.actor.can(Permission.SETTINGS_EDIT):
            tools_menu = bar.addMenu(self.tr("&Tools"))
            self.settings_action = self._action(self.tr("Instance &settings…"), "cog-outline", None,
                                                self.show_instance_settings)
            tools_menu.addAction(self.settings_action)
            self.scrub_rules_action = self._action(self.tr("Crash report &scrub rules…"), "shield-search", None,
                                                   self.show_scrub_rules)
            tools_menu.addAction(self.scrub_rules_action)

        help_menu = bar.addMenu(self.tr("&Help"))
        self.about_action = self._action(self.tr("&About %1").replace("%1", APP_NAME), "information-outline",
                                         None, self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(self.about_action)

    def show_instance_settings(self) -> None:
        from rcrm_desktop.ui.dialogs.instance_settings import InstanceSettingsDialog

        dialog = InstanceSettingsDialog(self.session, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.refresh_current()

    def show_scrub_rules(self) -> None:
        """Administrators edit the crash scrub rules here (they have no Crash reports area)."""
        from rcrm_desktop.ui.views.crashes import ScrubRulesDialog

        ScrubRulesDialog(self.session, self).exec()

    def _link_areas(self) -> None:
        """Cross-links between areas: a user's recordings and back."""
        recordings = self.area_by_name("RecordingsView")
        users = self.area_by_name("UsersView")
        if isinstance(recordings, RecordingsView):
            recordings.open_subject_requested.connect(self.open_subject)
            if isinstance(users, UsersView):
                users.open_recordings_requested.connect(self.open_subject_recordings)

    def open_subject_recordings(self, subject_id: int) -> bool:
        """Show the Recordings area filtered to one subject (loaded and audited once)."""
        recordings = self.area_by_name("RecordingsView")
        if not isinstance(recordings, RecordingsView):
            return False
        recordings.show_subject_recordings(subject_id)
        return self.switch_to_area("RecordingsView")

    def _run_area_action(self, index: int, action: QAction) -> None:
        """Show the area an action belongs to, then run it (File ▸ Import users… and the like)."""
        self.switch_to(index)
        action.trigger()

    def _action(self, text: str, icon_name: str, shortcut: QKeySequence | None, slot: object) -> QAction:
        action = QAction(icons.icon(icon_name), text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        inst = self.session.instance
        self.instance_status, self.instance_status_label = self._status_widget(
            "database-outline", self.tr("%1 · %2 (%3)").replace("%1", self.session.instance_name)
            .replace("%2", inst.redacted_url).replace("%3", style.engine_label(inst.engine)),
            self.tr("Instance database (password hidden)"))
        actor = self.session.actor
        self.operator_status, self.operator_status_label = self._status_widget(
            "account-circle-outline", self.tr("%1 · %2").replace("%1", actor.display_name)
            .replace("%2", ROLE_LABELS[actor.role]),
            self.tr("Logged in as %1").replace("%1", actor.username))
        bar.addPermanentWidget(self.instance_status)
        bar.addPermanentWidget(self.operator_status)

    def _status_widget(self, icon_name: str, text: str, tooltip: str) -> tuple[QWidget, QLabel]:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(6, 0, 6, 0)
        row.setSpacing(4)
        row.addWidget(style.icon_label(icon_name, 16))
        label = QLabel()
        label.setText(label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, 460))
        label.setToolTip(text)
        row.addWidget(label)
        box.setToolTip(tooltip)
        return box, label

    # -- areas

    def area_by_name(self, name: str) -> AreaView | None:
        return next((a for a in self.areas if a.objectName() == name), None)

    def area_names(self) -> list[str]:
        return [a.objectName() for a in self.areas]

    def current_area(self) -> AreaView | None:
        widget = self.area_stack.currentWidget() if hasattr(self, "area_stack") else None
        return widget if isinstance(widget, AreaView) else None

    def area_count(self) -> int:
        return len(self.areas)

    def switch_to(self, index: int) -> None:
        """Show the area at ``index`` in rail order (what ``Ctrl+<index+1>`` does)."""
        if 0 <= index < len(self.areas):
            self.rail.setCurrentRow(index)

    switch_area = switch_to

    def switch_to_area(self, name: str) -> bool:
        """Show the area whose object name is ``name`` (e.g. ``"UsersView"``); ``False`` when not listed."""
        for index, area in enumerate(self.areas):
            if area.objectName() == name:
                self.switch_to(index)
                return True
        return False

    def _area_changed(self, index: int) -> None:
        if not 0 <= index < len(self.areas):
            return
        self.area_stack.setCurrentIndex(index)
        self.area_actions[index].setChecked(True)
        for menu_index, menu in getattr(self, "area_menus", {}).items():
            menu.menuAction().setVisible(menu_index == index)
        area = self.areas[index]
        try:
            area.activate()
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, area.title())

    def refresh_current(self) -> None:
        area = self.current_area()
        if area is None:
            return
        try:
            area.refresh()
        except RcrmError as exc:
            error_dialogs.show_error(self, exc, area.title())

    def focus_search(self) -> None:
        area = self.current_area()
        if area is not None:
            area.focus_search()

    def open_subject(self, subject_id: int) -> bool:
        """Switch to Users and show one user account; ``False`` when the role may not open Users."""
        view = self.area_by_name("UsersView")
        if view is None or not hasattr(view, "show_subject"):
            self._show_status(self.tr("Your role cannot open user accounts."))
            return False
        self.switch_to_area("UsersView")
        view.show_subject(subject_id)
        return True

    def _show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def show_about(self) -> None:
        dialog = AboutDialog(self.session, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- lock

    def lock(self, idle: bool = False) -> None:
        """Cover the areas and ask for the password; audited by core as a log-out with reason."""
        if self.locked or self._ended:
            return
        self.locked = True
        self.idle.pause()
        self._audit_logout("idle_lock" if idle else "lock")
        self._dismiss_other_windows()
        self.screens.setCurrentWidget(self.cover)
        self.menuBar().setEnabled(False)
        self.statusBar().clearMessage()
        minutes = max(1, round(self.idle_timeout_ms / 60_000))
        reason = (style.count_text(minutes, self.tr("Locked after %1 minute without activity."),
                                   self.tr("Locked after %1 minutes without activity."))
                  if idle else self.tr("You locked the session."))
        dialog = LockDialog(self.session.actor, reason + " " + self.tr("Enter your password to go on."), self)
        dialog.unlocked.connect(self._unlocked_as)
        dialog.finished.connect(self._lock_finished)
        self._unlocked_actor: Actor | None = None
        self.lock_dialog = dialog
        dialog.show()  # not open(): that would make it only window-modal

    def _dismiss_other_windows(self) -> None:
        """Close popups and cancel open dialogs, so nothing the operator was looking at stays on screen.

        A cancelled dialog saves nothing (``reject``); the operator starts it again after unlocking.
        Other windows (a detached player, say) are hidden and shown again on unlock.
        """
        popup = QApplication.activePopupWidget()
        while popup is not None:
            popup.close()
            next_popup = QApplication.activePopupWidget()
            popup = None if next_popup is popup else next_popup
        for widget in QApplication.topLevelWidgets():
            if widget is self or not widget.isVisible():
                continue
            if isinstance(widget, QDialog):
                if not isinstance(widget, LockDialog):
                    widget.reject()
            else:
                widget.hide()
                self._hidden_on_lock.append(widget)

    def _audit_logout(self, reason: str) -> None:
        try:
            operators.record_logout(self.session.actor, reason=reason)
            self._end_audited = True
        except RcrmError as exc:
            log.warning("Could not audit the end of the session (%s): %s", reason, type(exc).__name__)

    def _lock_finished(self, result: int) -> None:
        dialog = self.lock_dialog
        self.lock_dialog = None
        if dialog is not None:
            dialog.deleteLater()
        if result == QDialog.DialogCode.Accepted:
            actor = self._unlocked_actor
            if actor is not None and actor != self.session.actor:
                # The role (or name) changed while locked: the listed areas would be wrong.
                self._end_audited = False
                error_dialogs.message_box(
                    self, QMessageBox.Icon.Information, self.tr("Log in again"),
                    self.tr("Your operator account was changed while the session was locked. "
                            "Log in again to continue with your current role."))
                self.log_out()
                return
            self.unlock()
            return
        self.log_out()

    def _unlocked_as(self, actor: object) -> None:
        self._unlocked_actor = actor if isinstance(actor, Actor) else None

    def unlock(self) -> None:
        """Uncover the areas after the password was accepted (a new audited log-in)."""
        self.locked = False
        self._end_audited = False
        self.screens.setCurrentWidget(self.workspace)
        self.menuBar().setEnabled(True)
        for widget in self._hidden_on_lock:
            if isValid(widget):
                widget.show()
        self._hidden_on_lock = []
        if not self._ended:
            self.idle.resume()

    # -- ending the session

    def log_out(self) -> None:
        self._end("logout")

    def quit(self) -> None:
        self._end("quit")

    def _end(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.idle.stop()
        if self.lock_dialog is not None:
            self.lock_dialog.finished.disconnect(self._lock_finished)
            self.lock_dialog.done(LockDialog.LOGGED_OUT)
            self.lock_dialog.deleteLater()
            self.lock_dialog = None
        self.save_settings()
        if not self._end_audited:
            self._audit_logout(reason)
        self.close()
        self.session_ended.emit(reason)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._ended:
            self._ended = True
            self.idle.stop()
            self.save_settings()
            if not self._end_audited:
                self._audit_logout("quit")
            event.accept()
            self.session_ended.emit("quit")
            return
        event.accept()

    # -- settings

    def save_settings(self, settings: QSettings | None = None) -> None:
        """Remember geometry, window state, the current area and each area's own state."""
        s = settings or app_settings()
        s.beginGroup("MainWindow")
        s.setValue("geometry", self.saveGeometry())
        s.setValue("state", self.saveState())
        area = self.current_area()
        if area is not None:
            s.setValue("area", area.objectName())
        s.endGroup()
        for area in self.areas:
            s.beginGroup("areas/" + area.objectName())
            try:
                area.save_state(s)
            finally:
                s.endGroup()
        s.sync()

    def restore_settings(self, settings: QSettings | None = None) -> None:
        s = settings or app_settings()
        s.beginGroup("MainWindow")
        geometry = s.value("geometry")
        state = s.value("state")
        current = s.value("area")
        s.endGroup()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
        if state is not None:
            self.restoreState(state)
        for area in self.areas:
            s.beginGroup("areas/" + area.objectName())
            try:
                area.restore_state(s)
            except Exception:  # noqa: BLE001 - a damaged INI entry must not stop the window from opening
                log.warning("Could not restore the state of %s", area.objectName())
            finally:
                s.endGroup()
        if isinstance(current, str) and self.switch_to_area(current):
            return
        self.switch_to(0)
