"""Instance settings for administrators: the options every workstation of the instance obeys.

The dialog lists the options of ``settings.INSTANCE_OPTIONS`` an administrator
edits (not the demo flags nor the crash scrub rules, which have their own
dialog), validates each through ``core.instance.set_setting`` — the same rule
the CLI's ``rcrm-desktop settings KEY VALUE`` obeys — and shows a refusal next
to the field it concerns. Only changed values are written; each is audited by
core with its key (never its value).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop import settings
from rcrm_desktop.core import instance
from rcrm_desktop.core.permissions import Permission
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui.session import AppSession

#: Options shown, in order: key → (minimum, maximum) for numbers, ``None`` for text.
EDITABLE: dict[str, tuple[int, int] | None] = {
    "instance_name": None,
    "idle_lock_minutes": (1, 480),
    "child_consent_age": (13, 16),
    "public_holidays": None,
    "recordings_root": None,
    "recordings_max_file_mb": (1, 65536),
}


class InstanceSettingsDialog(QDialog):
    def _labels(self) -> dict[str, str]:
        return {
            "instance_name": self.tr("Instance name"),
            "idle_lock_minutes": self.tr("Idle lock (minutes)"),
            "child_consent_age": self.tr("Age of digital consent"),
            "public_holidays": self.tr("Public holidays"),
            "recordings_root": self.tr("Recordings store"),
            "recordings_max_file_mb": self.tr("Largest audio file (MiB)"),
        }

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle(self.tr("Instance settings"))
        self.setObjectName("instanceSettingsDialog")
        self.setMinimumWidth(760)
        self.can_edit = session.actor.can(Permission.SETTINGS_EDIT)
        layout = QVBoxLayout(self)
        intro = QLabel(self.tr("These settings apply to every workstation that opens this instance. "
                               "Each change is recorded in the audit log."), self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(4)
        labels = self._labels()
        self.editors: dict[str, QLineEdit | QSpinBox] = {}
        self.original: dict[str, str] = {}
        for key, bounds in EDITABLE.items():
            option = settings.INSTANCE_OPTIONS.get(key)
            if option is None:
                continue
            value = instance.get_setting(key)
            self.original[key] = value
            editor: QLineEdit | QSpinBox
            if bounds is not None:
                spin = QSpinBox(self)
                spin.setRange(*bounds)
                try:
                    spin.setValue(int(value))
                except ValueError:
                    spin.setValue(int(option.default))
                editor = spin
            else:
                line = QLineEdit(value, self)
                line.setPlaceholderText(option.default or self.tr("(default)"))
                editor = line
            editor.setObjectName(f"setting_{key}")
            editor.setToolTip(option.description)
            editor.setEnabled(self.can_edit)
            self.editors[key] = editor
            hint = QLabel(option.description, self)
            hint.setWordWrap(True)
            hint.setStyleSheet("color: palette(placeholder-text);")
            field = QWidget(self)
            column = QVBoxLayout(field)
            column.setContentsMargins(0, 0, 0, 8)
            column.setSpacing(2)
            column.addWidget(editor)
            column.addWidget(hint)
            caption = QLabel(labels.get(key, key), self)
            caption.setStyleSheet("font-weight: 600;")
            form.addRow(caption, field)
        layout.addLayout(form)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828; font-weight: 600;")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, Qt.Orientation.Horizontal,
            self)
        buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(self.can_edit)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def value_of(self, key: str) -> str:
        editor = self.editors[key]
        return str(editor.value()) if isinstance(editor, QSpinBox) else editor.text().strip()

    def changed(self) -> dict[str, str]:
        return {k: self.value_of(k) for k in self.editors if self.value_of(k) != self.original[k]}

    def save(self) -> bool:
        """Write the changed options one by one; stop at the first refusal and show it. ``True`` when all saved."""
        for key, value in self.changed().items():
            try:
                instance.set_setting(self.session.actor, key, value)
            except RcrmError as exc:
                self.error_label.setText(f"{settings.INSTANCE_OPTIONS[key].description}: {exc.message}")
                self.error_label.show()
                self.editors[key].setFocus()
                return False
            self.original[key] = value
        self.accept()
        return True
