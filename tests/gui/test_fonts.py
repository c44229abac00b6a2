"""Every script the demo's names are written in has a font, so no name shows as boxes (tools/system-deps.sh)."""

from __future__ import annotations

import shutil
import unicodedata

import pytest
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics

from rcrm_desktop.core import demo_names

pytestmark = pytest.mark.gui


def _letters_by_script() -> dict[str, str]:
    """One letter of each script beyond Latin that the demo's names use (Hangul, CJK, Arabic, …)."""
    found: dict[str, str] = {}
    for value in vars(demo_names).values():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            for text in item if isinstance(item, list | tuple) else [item]:
                if not isinstance(text, str):
                    continue
                for ch in text:
                    if ch.isalpha() and ord(ch) > 0x24F:
                        found.setdefault(unicodedata.name(ch).split(" ")[0], ch)
    return found


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="the font packages are Debian's")
def test_each_script_of_the_demo_names_has_a_font(qtbot) -> None:  # type: ignore[no-untyped-def]
    letters = _letters_by_script()
    assert {"HANGUL", "CJK", "ARABIC", "GREEK", "CYRILLIC"} <= set(letters), letters
    missing = []
    for script, ch in letters.items():
        if not any(QFontMetrics(QFont(family)).inFontUcs4(ord(ch)) for family in QFontDatabase.families()):
            missing.append(f"{script} ({ch})")
    assert missing == [], f"no installed font draws: {', '.join(missing)}"
