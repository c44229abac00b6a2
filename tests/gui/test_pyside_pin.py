"""Guards the PySide6 pin.

PySide6 6.12.0 decrements Python's reference count of ``None`` on every call of
a Qt method that returns nothing, on Python 3.11, until the interpreter aborts
with ``Fatal Python error: none_dealloc``. 6.11.3 is the release measured good.
"""

from __future__ import annotations

import sys

import PySide6
import pytest
from PySide6.QtWidgets import QWidget


def test_pyside6_is_the_pinned_release() -> None:
    assert PySide6.__version__ == "6.11.3"


@pytest.mark.gui
def test_none_refcount_is_stable_over_100k_void_qt_calls(qtbot) -> None:  # type: ignore[no-untyped-def]
    widget = QWidget()
    qtbot.addWidget(widget)
    before = sys.getrefcount(None)
    for _ in range(100_000):
        widget.setEnabled(True)
    after = sys.getrefcount(None)
    assert abs(after - before) < 100, f"refcount of None moved by {after - before}"
