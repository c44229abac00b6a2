"""Help → About RCRM Desktop: version, instance, where the files are, and the privacy promise."""

from __future__ import annotations

import platform

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from rcrm_desktop import APP_ID, APP_NAME, __version__, logs, paths
from rcrm_desktop.ui import style
from rcrm_desktop.ui.session import AppSession


class AboutDialog(QDialog):
    """Shows what a support call needs: versions, the instance (redacted URL), the log and settings files."""

    def __init__(self, session: AppSession | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("About %1").replace("%1", APP_NAME))
        self.setFixedWidth(560)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 22, 24, 16)
        layout.setSpacing(12)

        head = QHBoxLayout()
        head.setSpacing(16)
        logo = QLabel()
        logo.setPixmap(style.app_icon().pixmap(64, 64))
        logo.setFixedSize(64, 64)
        head.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        title = QLabel(APP_NAME)
        title.setFont(style.scaled_font(title.font(), 1.7, QFont.Weight.DemiBold))
        titles.addWidget(title)
        titles.addWidget(style.muted_label(self.tr("Version %1").replace("%1", __version__)))
        titles.addSpacing(8)
        tagline = QLabel(self.tr("The data controller's workstation for a self-hosted Retention CRM: "
                                 "data-subject requests, retention, legal holds, call review and crash "
                                 "reports, with a tamper-evident audit log."))
        tagline.setWordWrap(True)
        titles.addWidget(tagline)
        head.addLayout(titles, 1)
        layout.addLayout(head)

        privacy = QLabel(self.tr("All processing stays inside your environment. %1 connects to nothing but "
                                 "the configured database server: no telemetry, no update check, no fonts "
                                 "or icons fetched at run time.").replace("%1", APP_NAME))
        privacy.setWordWrap(True)
        privacy.setObjectName("muted")
        layout.addSpacing(4)
        layout.addWidget(privacy)
        layout.addSpacing(4)
        layout.addWidget(style.hline())
        layout.addSpacing(4)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(6)

        def add(label: str, value: str) -> None:
            field = QLabel(value)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setWordWrap(True)
            form.addRow(style.muted_label(label, name="fieldCaption"), field)

        if session is not None:
            add(self.tr("Instance"), session.instance_name)
            add(self.tr("Database"), f"{session.instance.redacted_url} ({style.engine_label(session.instance.engine)})")
            add(self.tr("Operator"), f"{session.actor.display_name} ({session.actor.username})")
        add(self.tr("Application id"), APP_ID)
        add(self.tr("Log file"), str(logs.log_file()))
        add(self.tr("Settings file"), str(paths.settings_file()))
        add(self.tr("Runtime"), self.tr("Python %1, Qt %2, PySide6 %3")
            .replace("%1", platform.python_version()).replace("%2", qVersion())
            .replace("%3", PySide6.__version__))
        layout.addLayout(form)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # Wrapped labels make the size hint assume a narrower dialog; size it for the real width instead.
        self.setFixedHeight(layout.heightForWidth(self.width()))
