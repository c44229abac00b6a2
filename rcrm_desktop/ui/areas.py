"""The areas of the main window, described without importing them.

The navigation rail, the View menu and ``Ctrl+1…9`` need each area's title,
icon and permission the moment the window opens; the area itself (its widgets,
and the modules behind them: QtMultimedia and numpy for the player, the crash
and retention logic, ...) is imported and built only when it is first shown —
that is most of what start-up used to spend. Each view class takes its
``icon_name``, ``permission`` and ``title()`` from its ``AreaSpec`` here, so
they are written once.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication

from rcrm_desktop.core.permissions import Permission

if TYPE_CHECKING:
    from rcrm_desktop.ui.views.base import AreaView


@dataclass(frozen=True)
class AreaSpec:
    """One area: its class (by name and module), rail icon, the permission that lists it, and its title."""

    name: str
    module: str
    icon_name: str
    permission: Permission | None
    source_title: str

    def title(self) -> str:
        """The translated title (translation context: the class name, as before)."""
        return QCoreApplication.translate(self.name, self.source_title)

    def load(self) -> type[AreaView]:
        """Import the area's module and return its class."""
        cls: type[AreaView] = getattr(importlib.import_module(self.module), self.name)
        return cls


_VIEWS = "rcrm_desktop.ui.views."

#: The areas in rail order (Ctrl+1 … Ctrl+9); each is listed only for operators holding its permission.
AREAS: tuple[AreaSpec, ...] = (
    AreaSpec("DashboardView", _VIEWS + "dashboard", "view-dashboard-outline", None, "Dashboard"),
    AreaSpec("UsersView", _VIEWS + "users", "account-multiple", Permission.SUBJECTS_VIEW, "Users"),
    AreaSpec("RequestsView", _VIEWS + "requests", "file-document-multiple-outline", Permission.REQUESTS_VIEW,
             "Requests"),
    AreaSpec("RecordingsView", _VIEWS + "recordings", "phone-in-talk", Permission.RECORDINGS_VIEW, "Recordings"),
    AreaSpec("CrashesView", _VIEWS + "crashes", "bug-outline", Permission.CRASHES_VIEW, "Crash reports"),
    AreaSpec("RetentionView", _VIEWS + "retention", "calendar-clock", Permission.RETENTION_MANAGE, "Retention"),
    AreaSpec("OperatorsView", _VIEWS + "operators", "shield-account-outline", Permission.OPERATORS_VIEW,
             "Operators"),
    AreaSpec("AuditView", _VIEWS + "audit", "clipboard-text-clock-outline", Permission.AUDIT_VIEW, "Audit log"),
)

AREA: dict[str, AreaSpec] = {spec.name: spec for spec in AREAS}
