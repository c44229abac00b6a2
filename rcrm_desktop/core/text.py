"""Folding text for search and sort that ignores case and accents on every engine.

``fold("Šťastný")`` is ``"stastny"``: NFKD decomposition drops the combining
marks, letters with no decomposition (``ł``, ``ß``, ``ø``, ``đ``) are mapped by
hand, then the result is case-folded. The same function folds the stored key
and the typed query, so ``stastny`` finds ``Šťastný`` on SQLite, PostgreSQL and
MariaDB alike.
"""

from __future__ import annotations

import unicodedata

_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
                        "Æ": "AE", "œ": "oe", "Œ": "OE", "ı": "i", "þ": "th", "ð": "d"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def like_escape(text: str) -> str:
    """Escape ``LIKE`` wildcards so ``%`` and ``_`` typed by a person match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
