"""The "Edit retention rule" dialog: maximum age, action and whether runs apply the rule.

It collects and checks the input and shows, as the officer types, how many
items the rule would make due now (``core.retention.preview_rule``, which
reads only). ``core.retention.set_rule`` stores it (permission, validation,
the audit event and the concurrency check live there); the dialog calls the
``submit`` function it was given and stays open with the sentence when it
is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import retention
from rcrm_desktop.core.permissions import Actor
from rcrm_desktop.core.retention import MAX_AGE_LIMIT_DAYS, RetentionRule, RulePreview
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, style
from rcrm_desktop.ui.tasks import Task, run_task

#: Units the maximum age can be typed in, in days.
UNITS = (("days", 1), ("weeks", 7), ("years", 365))

#: ``submit(max_age_days, action, enabled)``; raises ``RcrmError`` when refused.
Submit = Callable[[int, str, bool], None]


def split_days(days: int | None) -> tuple[int, int]:
    """``730`` → ``(2, 365)``; the largest unit that divides the days exactly."""
    if not days:
        return 1, 365
    for _name, size in reversed(UNITS):
        if days % size == 0:
            return days // size, size
    return days, 1


class RetentionRuleDialog(QDialog):
    """Keep for N days/weeks/years, then delete (or anonymise, where the category allows it)."""

    def __init__(self, actor: Actor, rule: RetentionRule, submit: Submit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.rule = rule
        self.submit = submit
        self._hint_task: Task | None = None
        self._hint_generation = 0
        self.setObjectName("retentionRuleDialog")
        self.setWindowTitle(self.tr("Retention rule — %1").replace("%1", rule.label))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)

        title = QLabel(rule.label, self)
        title.setFont(style.scaled_font(title.font(), 1.2, QFont.Weight.DemiBold))
        layout.addWidget(title)
        note = style.muted_label(rule.info.note, self)
        note.setWordWrap(True)
        layout.addWidget(note)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        age_row = QHBoxLayout()
        self.amount = QSpinBox(self)
        self.amount.setObjectName("ruleAmount")
        self.amount.setRange(1, MAX_AGE_LIMIT_DAYS)
        self.amount.setAccelerated(True)
        self.unit = QComboBox(self)
        self.unit.setObjectName("ruleUnit")
        labels = {"days": self.tr("days"), "weeks": self.tr("weeks"), "years": self.tr("years (365 days)")}
        for name, size in UNITS:
            self.unit.addItem(labels[name], size)
        amount, size = split_days(rule.max_age_days)
        self.unit.setCurrentIndex(self.unit.findData(size))
        self.amount.setValue(amount)
        age_row.addWidget(self.amount)
        age_row.addWidget(self.unit, 1)
        form.addRow(self.tr("Keep for"), age_row)
        counted = style.muted_label(self.tr("Counted from the %1; an item exactly this old stays, one a second "
                                            "older is due.").replace("%1", rule.info.basis), self)
        counted.setWordWrap(True)
        form.addRow("", counted)

        self.action = QComboBox(self)
        self.action.setObjectName("ruleAction")
        action_labels = {"delete": self.tr("Delete"), "anonymise": self.tr("Anonymise (remove the personal parts)")}
        if rule.category == "inactive_accounts":
            action_labels["delete"] = self.tr("Erase the account (as an erasure request would)")
        for action in rule.info.actions:
            self.action.addItem(action_labels[action], action)
        self.action.setCurrentIndex(max(0, self.action.findData(rule.action)))
        self.action.setEnabled(self.action.count() > 1)
        if self.action.count() == 1:
            self.action.setToolTip(self.tr("%1 can only be deleted.").replace("%1", rule.label))
        form.addRow(self.tr("Then"), self.action)

        self.enabled = QCheckBox(self.tr("Apply this rule in retention runs"), self)
        self.enabled.setObjectName("ruleEnabled")
        self.enabled.setChecked(rule.enabled)
        form.addRow("", self.enabled)
        layout.addLayout(form)

        box = QFrame(self)
        box.setObjectName("infoBox")
        box_layout = QHBoxLayout(box)
        box_layout.setContentsMargins(10, 8, 10, 8)
        box_layout.addWidget(style.icon_label("calendar-clock", 22, colors.HOLD, box), 0, Qt.AlignmentFlag.AlignTop)
        self.hint = QLabel(box)
        self.hint.setObjectName("ruleHint")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        box_layout.addWidget(self.hint, 1)
        layout.addWidget(box)

        self.error = QLabel(self)
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.hide()
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setText(self.tr("Save rule"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self._hint_timer = QTimer(self)
        self._hint_timer.setSingleShot(True)
        self._hint_timer.setInterval(250)
        self._hint_timer.timeout.connect(self.update_hint)
        for signal in (self.amount.valueChanged, self.unit.currentIndexChanged, self.action.currentIndexChanged,
                       self.enabled.toggled):
            signal.connect(lambda *_: self._hint_timer.start())
        self.update_hint()
        self.amount.setFocus(Qt.FocusReason.OtherFocusReason)
        self.amount.selectAll()

    # ------------------------------------------------------------ values

    @property
    def max_age_days(self) -> int:
        return int(self.amount.value()) * int(self.unit.currentData())

    @property
    def chosen_action(self) -> str:
        return str(self.action.currentData())

    def values(self) -> tuple[int, str, bool]:
        return self.max_age_days, self.chosen_action, self.enabled.isChecked()

    def problem(self) -> str:
        if self.max_age_days > MAX_AGE_LIMIT_DAYS:
            return self.tr("A maximum age is at most %1 days (100 years).").replace("%1", f"{MAX_AGE_LIMIT_DAYS:,}")
        return ""

    # ------------------------------------------------------------ the live hint

    def update_hint(self) -> None:
        """Count, in the background, what the rule as typed would make due now (reads only)."""
        self._hint_timer.stop()
        problem = self.problem()
        self.save_button.setEnabled(not problem)
        if problem:
            self.hint.setText(problem)
            return
        days, action, enabled = self.values()
        self._hint_generation += 1
        generation = self._hint_generation
        self.hint.setText(self.tr("Counting what this rule would remove now…"))
        actor = self.actor
        category = self.rule.category

        def work(_task: Task) -> RulePreview:
            return retention.preview_rule(actor, category, days, action)

        self._hint_task = run_task(work, on_done=lambda p: self._hint_ready(generation, p, enabled),
                                   on_error=lambda exc: self._hint_failed(generation, exc))

    def _hint_ready(self, generation: int, preview: object, enabled: bool) -> None:
        if generation != self._hint_generation or not isinstance(preview, RulePreview):
            return
        what = self.rule.info.items
        verb = {"delete": self.tr("deleted"), "anonymise": self.tr("anonymised")}[preview.action]
        if self.rule.category == "inactive_accounts":
            verb = self.tr("erased")
        if preview.due:
            text = (self.tr("With this rule, %1 %2 would be %3 now (the oldest from %4).")
                    .replace("%1", fmt.count(preview.due)).replace("%2", what).replace("%3", verb)
                    .replace("%4", fmt.local_time(preview.oldest)))
        else:
            text = self.tr("With this rule, nothing would be %1 now.").replace("%1", verb)
        if preview.held:
            text += " " + self.tr("%1 more stay: legal holds or open rights requests keep them.").replace(
                "%1", fmt.count(preview.held))
        if not enabled:
            text += " " + self.tr("The rule is switched off: runs keep everything until you enable it.")
        self.hint.setText(text)

    def _hint_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._hint_generation:
            self.hint.setText(exc.message if isinstance(exc, RcrmError) else
                              self.tr("The count could not be made; the rule can still be saved."))

    # ------------------------------------------------------------ saving

    def accept(self) -> None:
        if self.problem():
            return
        try:
            self.submit(*self.values())
        except RcrmError as exc:
            self.error.setText(exc.message)
            self.error.show()
            return
        super().accept()
