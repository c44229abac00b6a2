"""The response letter as a PDF (``QTextDocument`` printed by ``QPdfWriter``), or as HTML.

``core.letters`` writes the letter as HTML (no Qt there); this module lays it
out on A4 with 20 mm margins and writes the file atomically: a temporary file
beside the target, renamed over it when complete, so an existing letter is
never left half-written. Nothing is fetched: the document has no remote resources.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import QFont, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from rcrm_desktop.errors import ValidationError

#: Resolution of the PDF in dots per inch (text stays vector; this sets the layout unit).
RESOLUTION = 300


def _temp_for(target: Path) -> Path:
    return target.parent / f".{target.name}.{secrets.token_hex(5)}.part"


def write_letter_pdf(html: str, path: Path | str, *, title: str = "Response to your rights request") -> Path:
    """Lay out ``html`` on A4 and write it as a PDF at ``path`` (atomically). Returns the path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ValidationError(f"The folder {target.parent} does not exist.")
    temp = _temp_for(target)
    try:
        writer = QPdfWriter(str(temp))
        writer.setResolution(RESOLUTION)
        writer.setTitle(title)
        writer.setCreator("RCRM Desktop")
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                         QMarginsF(20, 20, 20, 20), QPageLayout.Unit.Millimeter))
        document = QTextDocument()
        font = QFont()
        font.setPointSizeF(10.5)
        document.setDefaultFont(font)
        document.setHtml(html)
        rect = writer.pageLayout().paintRectPixels(RESOLUTION)
        document.setPageSize(QSizeF(rect.width(), rect.height()))
        document.print_(writer)
        del writer  # closes and flushes the file
        with open(temp, "rb+") as fh:
            os.fsync(fh.fileno())
        if temp.stat().st_size == 0:
            raise ValidationError("The PDF could not be written (empty output).")
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ValidationError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return target


def write_letter_html(html: str, path: Path | str) -> Path:
    """Write the letter as an HTML file (atomically). Returns the path."""
    target = Path(path)
    temp = _temp_for(target)
    try:
        temp.write_text(html, encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise ValidationError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return target


def letter_plain_text(html: str) -> str:
    """The letter's text without markup (previews, tests)."""
    document = QTextDocument()
    document.setHtml(html)
    return document.toPlainText()
