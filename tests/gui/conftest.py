"""Fixtures for the GUI tests (pytest-qt, offscreen).

* Background tasks run synchronously, so a result is on screen when the call returns.
* Message boxes and modal error dialogs are recorded instead of shown, so no
  test can hang on a modal dialog; ``message_boxes.answer`` is what the
  "person" presses.
* ``make_session`` wraps an actor of the ``sqlite_instance`` fixture in an
  ``AppSession``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from PySide6.QtWidgets import QDialog, QMessageBox

from rcrm_desktop.core.instance import OpenedInstance
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.db import connection
from rcrm_desktop.ui import tasks
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.session import AppSession


@pytest.fixture(autouse=True)
def synchronous_tasks() -> Iterator[None]:
    tasks.set_synchronous(True)
    yield
    tasks.set_synchronous(False)


@dataclass
class ShownBox:
    icon: QMessageBox.Icon
    title: str
    text: str
    informative: str


@dataclass
class MessageBoxes:
    shown: list[ShownBox] = field(default_factory=list)
    dialogs: list[QDialog] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Yes

    def texts(self) -> list[str]:
        return [b.text for b in self.shown]


@pytest.fixture(autouse=True)
def message_boxes(monkeypatch: pytest.MonkeyPatch) -> MessageBoxes:
    boxes = MessageBoxes()

    def fake_box(box: QMessageBox) -> QMessageBox.StandardButton:
        boxes.shown.append(ShownBox(box.icon(), box.windowTitle(), box.text(), box.informativeText()))
        box.deleteLater()
        return boxes.answer

    def fake_dialog(dialog: QDialog) -> int:
        boxes.dialogs.append(dialog)
        return 0

    monkeypatch.setattr(error_dialogs, "_exec_box", fake_box)
    monkeypatch.setattr(error_dialogs, "_exec_dialog", fake_dialog)
    return boxes


@pytest.fixture
def opened(sqlite_instance) -> OpenedInstance:  # type: ignore[no-untyped-def]
    info = connection.parse_url(sqlite_instance.url)
    return OpenedInstance(sqlite_instance.url, info.redacted, info.engine, None)


@pytest.fixture
def make_session(opened: OpenedInstance) -> Callable[[Actor], AppSession]:
    def make(actor: Actor, name: str = "Test instance") -> AppSession:
        return AppSession(actor=actor, instance=opened, instance_name=name)

    return make
