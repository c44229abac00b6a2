"""The icon font: glyphs draw, disabled icons are greyed, unknown names are refused, no QtPy at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtGui import QColor, QIcon
from pytestqt.qtbot import QtBot

from rcrm_desktop.ui import icons


def _ink(icon: QIcon, mode: QIcon.Mode = QIcon.Mode.Normal) -> tuple[int, set[str]]:
    """(pixels drawn, their colours without alpha) of a 32 px rendering."""
    image = icon.pixmap(32, 32, mode).toImage()
    colours: set[str] = set()
    drawn = 0
    for x in range(32):
        for y in range(32):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() > 200:
                drawn += 1
                colours.add(pixel.name())
    return drawn, colours


def test_a_glyph_draws_in_the_asked_colour_and_greys_when_disabled(qtbot: QtBot) -> None:
    drawn, colours = _ink(icons.icon("shield-account", "#c00000"))
    assert drawn > 60
    assert colours == {"#c00000"}
    _drawn, disabled = _ink(icons.icon("shield-account", "#c00000"), QIcon.Mode.Disabled)
    assert "#c00000" not in disabled and disabled


def test_different_names_draw_different_glyphs(qtbot: QtBot) -> None:
    first = icons.icon("lock-outline", "#000000").pixmap(32, 32).toImage()
    second = icons.icon("account-group", "#000000").pixmap(32, 32).toImage()
    assert first != second


def test_an_unknown_icon_name_is_refused(qtbot: QtBot) -> None:
    with pytest.raises(KeyError, match="no-such-icon"):
        icons.icon("no-such-icon")


def test_icons_scale_to_any_size(qtbot: QtBot) -> None:
    small = icons.icon("magnify", QColor("#000000").name()).pixmap(16, 16)
    large = icons.icon("magnify", "#000000").pixmap(128, 128)
    assert (small.width(), large.width()) == (16, 128)
    assert _ink(icons.icon("magnify", "#000000"))[0] > 0


def test_the_main_window_modules_do_not_import_qtpy_or_qtawesome() -> None:
    """Importing QtPy builds every PySide6 enum up front (≈0.3 s of each start-up)."""
    code = ("import sys; import rcrm_desktop.ui.app, rcrm_desktop.ui.main_window; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qtpy', 'qtawesome')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"
