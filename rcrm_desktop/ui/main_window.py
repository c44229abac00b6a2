"""The main window: a navigation rail of areas, the areas themselves, menus, status bar and the session lock.

Guarantees:

* only the areas whose ``permission`` the logged-in operator holds are listed
  (``Actor.can``); core checks the permission again on every call, so a hidden
  area is a courtesy, not the rule;
* an area is imported and built when it is first shown or asked for, and the
  rest one per idle moment after the window opens (``ui.areas``), so the
  window appears without waiting for areas nobody has looked at yet;
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

from PySide6.QtCore import QCoreApplication, QSettings, QSize, Qt, QTimer, Signal
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
from rcrm_desktop.ui.areas import AREAS, AreaSpec
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.about import AboutDialog
from rcrm_desktop.ui.dialogs.lock import LockDialog
from rcrm_desktop.ui.idle import IdleWatcher
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.views.base import AreaView, app_settings

log = logging.getLogger(__name__)


DEFAULT_SIZE = QSize(1280, 800)
#: After the window shows, the areas not yet opened are built one per idle moment this far apart.
PREBUILD_DELAY_MS = 400


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

        #: The areas the operator's role may open, in rail order; each is built the first time it is needed
        #: (shown, asked for by name, or after start-up while the window is idle), so the window opens fast.
        self.area_specs: list[AreaSpec] = [
            spec for spec in AREAS if spec.permission is None or session.actor.can(spec.permission)]
        self._built: list[AreaView | None] = [None] * len(self.area_specs)
        self.area_menus: dict[int, QMenu] = {}
        self._prebuild = QTimer(self)
        self._prebuild.setSingleShot(True)
        self._prebuild.setInterval(PREBUILD_DELAY_MS)
        self._prebuild.timeout.connect(self._build_next_area)

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
        if self.rail.currentRow() < 0 and self.area_specs:
            self.switch_to(0)
        self.idle.start()
        self._prebuild.start()

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
        for index, spec in enumerate(self.area_specs):
            item = QListWidgetItem(icons.icon(spec.icon_name), spec.title())
            item.setFont(font)
            item.setSizeHint(QSize(style.RAIL_WIDTH - 16, 38))
            shortcut = f" (Ctrl+{index + 1})" if index < 9 else ""
            item.setToolTip(spec.title() + shortcut)
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
        for _spec in self.area_specs:
            self.area_stack.addWidget(QWidget())  # a placeholder until the area is built
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
        #: The File menu lists each area's imports and exports; they come from the built areas, so the
        #: areas that have any are built when the menu first opens (usually long done by the idle build).
        self.file_menu = file_menu
        self._file_actions_added = False
        self._file_actions_end = file_menu.addSeparator()
        self._area_file_actions: list[QAction] = []
        file_menu.aboutToShow.connect(self._add_area_file_actions)
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
        for index, spec in enumerate(self.area_specs):
            shortcut = QKeySequence(f"Ctrl+{index + 1}") if index < 9 else None
            action = self._action(spec.title(), spec.icon_name, shortcut, lambda _c=False, i=index: self.switch_to(i))
            action.setCheckable(True)
            group.addAction(action)
            view_menu.addAction(action)
            self.area_actions.append(action)
        view_menu.addSeparator()
        self.search_action = self._action(self.tr("&Search"), "magnify", QKeySequence("Ctrl+F"), self.focus_search)
        view_menu.addAction(self.search_action)

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
        #: Where an area's own menu goes once the area is built (before Tools, or Help).
        self._area_menu_anchor = (tools_menu if self.settings_action is not None else help_menu).menuAction()
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

    def open_subject_recordings(self, subject_id: int) -> bool:
        """Show the Recordings area filtered to one subject (loaded and audited once)."""
        recordings = self.area_by_name("RecordingsView")
        if recordings is None:
            return False
        recordings.show_subject_recordings(subject_id)  # type: ignore[attr-defined]
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

    # -- areas (each built on first use)

    def area_at(self, index: int) -> AreaView:
        """The area at ``index`` in rail order, built now if it was not yet."""
        area = self._built[index]
        return area if area is not None else self._build_area(index)

    def _build_area(self, index: int) -> AreaView:
        """Build one area: its signals, its remembered state, its place in the stack and its own menu."""
        area = self.area_specs[index].load()(self.session, None)
        self._built[index] = area
        area.status_message.connect(self._show_status)
        name = area.objectName()
        if name == "DashboardView":
            area.navigate_requested.connect(self.switch_to_area)  # type: ignore[attr-defined]
            area.set_navigation_targets(set(self.area_names()))  # type: ignore[attr-defined]
        elif name == "RecordingsView":
            area.open_subject_requested.connect(self.open_subject)  # type: ignore[attr-defined]
        elif name == "UsersView" and "RecordingsView" in self.area_names():
            area.open_recordings_requested.connect(self.open_subject_recordings)  # type: ignore[attr-defined]
        self._restore_area_state(area, app_settings())

        placeholder = self.area_stack.widget(index)
        was_current = self.area_stack.currentIndex() == index
        self.area_stack.insertWidget(index, area)
        self.area_stack.removeWidget(placeholder)
        placeholder.deleteLater()
        if was_current:
            self.area_stack.setCurrentIndex(index)

        actions = area.menu_actions()
        if actions:
            menu = QMenu(area.title(), self)
            menu.addActions(actions)
            self.menuBar().insertMenu(self._area_menu_anchor, menu)
            menu.menuAction().setVisible(self.rail.currentRow() == index)
            self.area_menus[index] = menu
        if self._file_actions_added:
            self._add_file_actions_of(index, area)
        return area

    def _build_next_area(self) -> None:
        """After start-up, build the areas not yet shown one per idle moment, so switching to them is instant."""
        if self._ended:
            return
        if not self.locked:
            index = next((i for i, area in enumerate(self._built) if area is None), None)
            if index is None:
                return
            try:
                self.area_at(index)
            except RcrmError as exc:
                log.warning("Could not prepare the %s area: %s", self.area_specs[index].name,
                            type(exc).__name__)
                return
        self._prebuild.start()

    def _add_area_file_actions(self) -> None:
        """Fill the File menu with the areas' imports and exports (once; areas built later add theirs)."""
        if self._file_actions_added:
            return
        self._file_actions_added = True
        for index, area in enumerate(self.areas):
            self._add_file_actions_of(index, area)

    def _add_file_actions_of(self, index: int, area: AreaView) -> None:
        for source in area.file_actions():
            proxy = self._action(source.text(), "file-import-outline", None,
                                 lambda _c=False, i=index, a=source: self._run_area_action(i, a))
            proxy.setIcon(source.icon())
            proxy.setEnabled(source.isEnabled())
            proxy.setToolTip(source.toolTip())
            source.changed.connect(lambda p=proxy, a=source: p.setEnabled(a.isEnabled()))
            before = next((p for p in self._area_file_actions if p.property("areaIndex") > index),
                          self._file_actions_end)
            proxy.setProperty("areaIndex", index)
            self.file_menu.insertAction(before, proxy)
            self._area_file_actions.append(proxy)
        self._area_file_actions.sort(key=lambda p: p.property("areaIndex"))

    @property
    def area_file_actions(self) -> list[QAction]:
        """The File menu's area actions (building the areas that provide them)."""
        self._add_area_file_actions()
        return list(self._area_file_actions)

    @property
    def areas(self) -> list[AreaView]:
        """Every area in rail order, building those not built yet."""
        return [self.area_at(i) for i in range(len(self.area_specs))]

    def built_areas(self) -> list[AreaView]:
        return [area for area in self._built if area is not None]

    def area_by_name(self, name: str) -> AreaView | None:
        """The area of that class name (built if needed); ``None`` when the role may not open it."""
        names = self.area_names()
        return self.area_at(names.index(name)) if name in names else None

    def area_names(self) -> list[str]:
        return [spec.name for spec in self.area_specs]

    def current_area(self) -> AreaView | None:
        if not hasattr(self, "area_stack"):
            return None
        index = self.area_stack.currentIndex()
        return self._built[index] if 0 <= index < len(self._built) else None

    def area_count(self) -> int:
        return len(self.area_specs)

    def switch_to(self, index: int) -> None:
        """Show the area at ``index`` in rail order (what ``Ctrl+<index+1>`` does)."""
        if 0 <= index < len(self.area_specs):
            self.rail.setCurrentRow(index)

    switch_area = switch_to

    def switch_to_area(self, name: str) -> bool:
        """Show the area whose object name is ``name`` (e.g. ``"UsersView"``); ``False`` when not listed."""
        names = self.area_names()
        if name not in names:
            return False
        self.switch_to(names.index(name))
        return True

    def _area_changed(self, index: int) -> None:
        if not 0 <= index < len(self.area_specs):
            return
        area = self.area_at(index)
        self.area_stack.setCurrentIndex(index)
        self.area_actions[index].setChecked(True)
        for menu_index, menu in self.area_menus.items():
            menu.menuAction().setVisible(menu_index == index)
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
        for area in self.built_areas():  # an area never built keeps what it saved last time
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
        for area in self.built_areas():
            self._restore_area_state(area, s)
        if isinstance(current, str) and self.switch_to_area(current):
            return
        self.switch_to(0)

    @staticmethod
    def _restore_area_state(area: AreaView, s: QSettings) -> None:
        s.beginGroup("areas/" + area.objectName())
        try:
            area.restore_state(s)
        except Exception:  # noqa: BLE001 - a damaged INI entry must not stop the window from opening
            log.warning("Could not restore the state of %s", area.objectName())
        finally:
            s.endGroup()
