"""The "Redact region" dialog: what will be removed, for good, and why.

A destructive action shows its consequences before it happens
(ARCHITECTURE.md, UI conventions): the dialog states the region and its
length, that the stored audio is rewritten and the removed sound cannot be
recovered by anyone, that the duration stays the same, and what the audit log
keeps (operator, region, length of the reason — never the audio). The
operator must give a reason and tick "I understand" before "Redact" is
enabled. ``core.recordings.redact_recording`` enforces every rule again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings
from rcrm_desktop.core.recordings import MIN_REDACTION_MS
from rcrm_desktop.ui import colors, style
from rcrm_desktop.ui.dialogs.annotation import ClockSpinBox
from rcrm_desktop.ui.widgets.waveform import REDACTED, clock


class RedactionDialog(QDialog):
    """Region, silence or tone, reason, and the acknowledgement; see the module docstring."""

    def __init__(self, recording_id: int, duration_ms: int, start_ms: int, end_ms: int, *,
                 compressed: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("redactionDialog")
        self.setWindowTitle(self.tr("Redact region of recording #%1").replace("%1", str(recording_id)))
        self.setMinimumWidth(520)
        self.duration_ms = duration_ms
        self.compressed = compressed
        layout = QVBoxLayout(self)
        layout.setSpacing(10)

        head = QHBoxLayout()
        head.addWidget(style.icon_label("content-cut", 32, REDACTED, self), 0, Qt.AlignmentFlag.AlignTop)
        title = QLabel(self.tr("Remove the sound of a region for good"), self)
        title.setFont(style.scaled_font(title.font(), 1.15))
        title.setStyleSheet("font-weight: 600;")
        head.addWidget(title, 1)
        layout.addLayout(head)

        form = QFormLayout()
        self.start = ClockSpinBox(duration_ms / 1000, self)
        self.start.setObjectName("redactFrom")
        self.start.setValue(start_ms / 1000)
        self.end = ClockSpinBox(duration_ms / 1000, self)
        self.end.setObjectName("redactTo")
        self.end.setValue(end_ms / 1000)
        span = QHBoxLayout()
        span.addWidget(self.start)
        span.addWidget(QLabel("–", self))
        span.addWidget(self.end)
        span.addStretch(1)
        form.addRow(self.tr("Region"), span)
        self.silence = QRadioButton(self.tr("Silence"), self)
        self.silence.setObjectName("redactSilence")
        self.tone = QRadioButton(self.tr("1 kHz tone (shows listeners that something was removed)"), self)
        self.tone.setObjectName("redactTone")
        self.silence.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.silence)
        group.addButton(self.tone)
        modes = QVBoxLayout()
        modes.setSpacing(2)
        modes.addWidget(self.silence)
        modes.addWidget(self.tone)
        form.addRow(self.tr("Replace with"), modes)
        self.reason = QLineEdit(self)
        self.reason.setObjectName("redactReason")
        self.reason.setMaxLength(settings.MAX_REASON_LENGTH)
        self.reason.setPlaceholderText(self.tr("Why (e.g. “Card number read out — PCI DSS”)"))
        form.addRow(self.tr("Reason"), self.reason)
        layout.addLayout(form)

        box = QFrame(self)
        box.setObjectName("errorBox")
        inner = QVBoxLayout(box)
        inner.setContentsMargins(12, 10, 12, 10)
        self.consequences = QLabel(box)
        self.consequences.setObjectName("redactConsequences")
        self.consequences.setWordWrap(True)
        self.consequences.setTextFormat(Qt.TextFormat.RichText)
        inner.addWidget(self.consequences)
        layout.addWidget(box)

        self.understood = QCheckBox(self.tr("I understand that the removed sound cannot be recovered."), self)
        self.understood.setObjectName("redactUnderstood")
        layout.addWidget(self.understood)
        self.error = QLabel(self)
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(self.tr("Redact"))
        self.ok_button.setStyleSheet(f"QPushButton:enabled {{ color: {style.state_color(colors.OVERDUE).name()}; "
                                     "font-weight: 600; }")
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for signal in (self.start.valueChanged, self.end.valueChanged, self.reason.textChanged,
                       self.understood.toggled, self.tone.toggled):
            signal.connect(lambda *_: self._update())
        self._update()
        self.reason.setFocus(Qt.FocusReason.OtherFocusReason)

    def problem(self) -> str:
        a, b = self.start.milliseconds, self.end.milliseconds
        if b - a < MIN_REDACTION_MS:
            return self.tr("Choose a region of at least %1 ms (the end after the start).").replace(
                "%1", str(MIN_REDACTION_MS))
        if not self.reason.text().strip():
            return self.tr("Give the reason; it is kept with the redaction.")
        if not self.understood.isChecked():
            return self.tr("Tick “I understand” to confirm.")
        return ""

    def _update(self) -> None:
        a, b = self.start.milliseconds, self.end.milliseconds
        long = self.duration_ms >= 3_600_000
        what = self.tr("a 1 kHz tone") if self.tone.isChecked() else self.tr("silence")
        lines = [
            self.tr("<b>%1 – %2</b> (%3 s) will be replaced by %4 in the stored recording.")
            .replace("%1", clock(a, long, tenths=True)).replace("%2", clock(b, long, tenths=True))
            .replace("%3", f"{max(0, b - a) / 1000:.1f}").replace("%4", what),
            self.tr("The audio file is rewritten: <b>the removed sound is gone for good</b> — no one can play, "
                    "export or restore it, and the current file will no longer exist."),
            self.tr("The call keeps its length; the region stays marked “Redacted” on the waveform."),
            self.tr("The audit log records you, the region and the length of the reason — never the audio."),
        ]
        if self.compressed:
            lines.append(self.tr("This recording is compressed: it is decoded and encoded again in the same "
                                 "format, which takes a moment for long calls."))
        self.consequences.setText("<br>".join(f"• {line}" for line in lines))
        problem = self.problem()
        self.ok_button.setEnabled(not problem)
        self.error.setText(problem if self.reason.text().strip() or self.understood.isChecked() else "")

    def values(self) -> tuple[int, int, str, bool]:
        """``(start_ms, end_ms, reason, tone)``."""
        return self.start.milliseconds, self.end.milliseconds, self.reason.text().strip(), self.tone.isChecked()
