"""The "Annotate" dialog: a note at a moment of a call, or on a region of it.

It only collects and checks the input; ``core.recordings.add_annotation``
stores it (permission, restriction and audit live there). The position starts
at the player's playhead, or at the waveform selection when one is made.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core.recordings import MAX_ANNOTATION_LENGTH
from rcrm_desktop.ui import style
from rcrm_desktop.ui.widgets.waveform import clock

_CLOCK_RE = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:[.,]\d*)?)\s*$")


def parse_clock(text: str) -> float | None:
    """Seconds from ``ss``, ``mm:ss`` or ``h:mm:ss`` (decimals allowed), or ``None``."""
    match = _CLOCK_RE.match(text)
    if not match:
        return None
    first, second, seconds = match.groups()
    value = float(seconds.replace(",", "."))
    if first is not None and second is not None:
        return int(first) * 3600 + int(second) * 60 + value
    if first is not None:
        return int(first) * 60 + value
    return value


class ClockSpinBox(QDoubleSpinBox):
    """A time within a call, shown and typed as ``mm:ss.s`` (``h:mm:ss.s`` for long calls); value in seconds."""

    def __init__(self, maximum_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._long = maximum_s >= 3600
        self.setDecimals(3)
        self.setRange(0.0, max(0.0, maximum_s))
        self.setSingleStep(0.5)
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("0:00:00.0") + 48)

    def textFromValue(self, value: float) -> str:
        return clock(value * 1000, self._long, tenths=True)

    def valueFromText(self, text: str) -> float:
        value = parse_clock(text)
        return self.value() if value is None else value

    def validate(self, text: str, pos: int) -> object:
        if parse_clock(text) is not None or re.fullmatch(r"[\d:.,\s]*", text):
            state = QValidator.State.Acceptable if parse_clock(text) is not None else QValidator.State.Intermediate
            return state, text, pos
        return QValidator.State.Invalid, text, pos

    @property
    def milliseconds(self) -> int:
        return int(round(self.value() * 1000))


class AnnotationDialog(QDialog):
    """Position (and optional end) plus the note's text; OK only when the input can be stored."""

    def __init__(self, duration_ms: int, position_ms: int, end_ms: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("annotationDialog")
        self.setWindowTitle(self.tr("Annotate recording"))
        self.setMinimumWidth(460)
        self.duration_ms = duration_ms
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        intro = style.muted_label(self.tr("A note at a moment of the call, or on a region of it. It is shown as a "
                                          "numbered marker on the waveform; clicking the marker jumps there."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.at = ClockSpinBox(duration_ms / 1000, self)
        self.at.setObjectName("annotationAt")
        self.at.setValue(position_ms / 1000)
        form.addRow(self.tr("At"), self.at)
        self.region = QCheckBox(self.tr("Until"), self)
        self.region.setObjectName("annotationRegion")
        self.to = ClockSpinBox(duration_ms / 1000, self)
        self.to.setObjectName("annotationTo")
        self.to.setValue((end_ms if end_ms is not None else min(duration_ms, position_ms + 5000)) / 1000)
        self.region.setChecked(end_ms is not None)
        self.to.setEnabled(end_ms is not None)
        self.region.toggled.connect(self.to.setEnabled)
        form.addRow(self.region, self.to)
        self.text = QPlainTextEdit(self)
        self.text.setObjectName("annotationText")
        self.text.setPlaceholderText(self.tr("What happens here (e.g. “Customer asks to cancel; offered 20 % "
                                             "discount”)"))
        self.text.setTabChangesFocus(True)
        self.text.setFixedHeight(self.text.fontMetrics().lineSpacing() * 5 + 14)
        form.addRow(self.tr("Note"), self.text)
        layout.addLayout(form)
        self.error = QLabel(self)
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Add annotation"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (self.text.textChanged, self.region.toggled, self.at.valueChanged, self.to.valueChanged):
            signal.connect(lambda *_: self._check())
        self._check()
        self.text.setFocus(Qt.FocusReason.OtherFocusReason)

    def problem(self) -> str:
        body = self.text.toPlainText().strip()
        if not body:
            return self.tr("Write the note.")
        if len(body) > MAX_ANNOTATION_LENGTH:
            return self.tr("The note is %1 characters long; at most %2 are allowed.") \
                .replace("%1", f"{len(body):,}").replace("%2", f"{MAX_ANNOTATION_LENGTH:,}")
        if self.region.isChecked() and self.to.milliseconds <= self.at.milliseconds:
            return self.tr("The region must end after it starts.")
        return ""

    def _check(self) -> None:
        problem = self.problem()
        typed = bool(self.text.toPlainText().strip())
        self.error.setText(problem if typed or self.region.isChecked() else "")
        self.ok_button.setEnabled(not problem)

    def values(self) -> tuple[int, int | None, str]:
        """``(position_ms, end_ms or None, text)``."""
        end = self.to.milliseconds if self.region.isChecked() else None
        return self.at.milliseconds, end, self.text.toPlainText().strip()
