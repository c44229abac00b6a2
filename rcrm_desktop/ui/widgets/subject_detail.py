"""The detail pane of one user account: fields, states, linked data, change history, correction.

Guarantees:

* Personal data is read only through ``core.subjects.get_subject``, which
  checks the permission and audits the view; the pane calls it when asked to
  ``load`` a subject (the Users view does that when a row is selected), never
  on its own.
* States people must not miss (restricted, objected, legal hold) carry colour
  *and* text.
* "Correct…" is offered to every operator but enabled only with
  ``subjects.rectify``; without it the tooltip says why. The rule itself lives
  in core, so the button is a convenience, not the guard.
* Errors from core (``RcrmError``) are shown in the pane as sentences, never as
  a traceback.
"""

from __future__ import annotations

import datetime as dt
from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication, QMouseEvent, QPalette, QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import subjects
from rcrm_desktop.core.permissions import ROLE_LABELS, Permission
from rcrm_desktop.core.subjects import ChangeRow, SubjectDetail, SubjectRow
from rcrm_desktop.errors import ConflictError, NotFoundError, RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style
from rcrm_desktop.ui.dialogs import errors as error_dialogs
from rcrm_desktop.ui.dialogs.rectify import RectifyDialog
from rcrm_desktop.ui.session import AppSession


def set_muted(widget: QWidget) -> None:
    """Draw a label in the palette's secondary text colour (works on light and dark themes)."""
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText))
    widget.setPalette(palette)


class StateChip(QLabel):
    """A rounded label with a state's colour and its name (colour never alone)."""

    def __init__(self, text: str, color: QColor, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        fg = style.state_color(color)
        bg = colors.tint(color)
        self.setObjectName("stateChip")
        self.setTextFormat(Qt.TextFormat.PlainText)
        size = self.fontMetrics().height()
        self.setStyleSheet(
            "QLabel#stateChip {"
            f" color: {fg.name()}; background-color: rgba({bg.red()}, {bg.green()}, {bg.blue()}, {bg.alpha()});"
            f" border: 1px solid {fg.name()}; border-radius: {size // 2 + 2}px; padding: 2px 10px;"
            " font-weight: 600; }"
        )
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)


class StatTile(QFrame):
    """A number with what it counts ("12 / Recordings"), optionally marked with a state colour.

    A tile with a link (``set_link``) opens the area that lists what it counts.
    """

    clicked = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._link_tip = ""
        self._linked = False
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        self.number = QLabel("0", self)
        font = self.number.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setWeight(QFont.Weight.DemiBold)
        self.number.setFont(font)
        self.title = QLabel(title, self)
        set_muted(self.title)
        self.note = QLabel(self)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.number)
        layout.addWidget(self.title)
        layout.addWidget(self.note)

    def set_link(self, tooltip: str) -> None:
        """Make the tile a link (pointing-hand cursor, tooltip) that emits ``clicked``."""
        self._link_tip = tooltip
        self._set_linked(True)

    def _set_linked(self, on: bool) -> None:
        self._linked = on and bool(self._link_tip)
        self.setCursor(Qt.CursorShape.PointingHandCursor if self._linked else Qt.CursorShape.ArrowCursor)
        self.setToolTip(self._link_tip if self._linked else "")

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._linked and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
            return
        super().mouseReleaseEvent(event)

    def set_value(self, value: int, note: str = "", color: QColor | None = None) -> None:
        self._set_linked(value > 0)
        self.number.setText(fmt.count(value))
        self.note.setText(note)
        self.note.setVisible(bool(note))
        if color is not None and value:
            self.number.setStyleSheet(f"color: {style.state_color(color).name()};")
            self.note.setStyleSheet(f"color: {style.state_color(color).name()}; font-weight: 600;")
        else:
            self.number.setStyleSheet("")
            self.note.setStyleSheet("")


def _section(title: str, parent: QWidget) -> QLabel:
    label = style.section_heading(title, parent)
    label.setContentsMargins(0, 8, 0, 0)
    return label


def _value_label(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    return label


def _age(birth: dt.date, today: dt.date | None = None) -> int:
    now = today or dt.date.today()
    return now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))


#: Changes shown in the pane's feed; all of them are in the history table.
HISTORY_FEED_LIMIT = 20


class ChangeHistoryDialog(QDialog):
    """A subject's whole rectification history as a table: field, old, new, reason, operator, time."""

    def __init__(self, field_labels: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field_labels = field_labels
        self.setObjectName("ChangeHistoryDialog")
        self.resize(940, 420)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 6, self)
        self.table.setObjectName("changeHistory")
        self.table.setHorizontalHeaderLabels([self.tr("Field"), self.tr("Old value"), self.tr("New value"),
                                              self.tr("Reason"), self.tr("Operator"), self.tr("Time")])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def show_detail(self, detail: SubjectDetail) -> None:
        row = detail.subject
        self.setWindowTitle(self.tr("Change history — %1 (%2)").replace("%1", row.name).replace("%2", row.user_id))
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(detail.changes))
        for r, change in enumerate(detail.changes):
            reason = change.reason if change.reason != "import" else self.tr("import")
            if change.request_id is not None:
                reason += " " + self.tr("(rights request #%1)").replace("%1", str(change.request_id))
            cells = [self.field_labels.get(change.field, change.field),
                     change.old_value if change.old_value is not None else "—",
                     change.new_value if change.new_value is not None else "—",
                     reason, change.operator, fmt.local_time(change.changed_at, seconds=True)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(fmt.utc_tooltip(change.changed_at) if c == 5 else text)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        for c in range(5):
            header.resizeSection(c, min(header.sectionSize(c), 260))
        self.table.setSortingEnabled(True)


class SubjectDetailPane(QFrame):
    """Everything ``get_subject`` returns about one user account, and the way to correct it."""

    #: A subject was loaded (``SubjectDetail``): the owner may refresh its table row.
    subject_loaded = Signal(object)
    #: A correction was stored (``SubjectRow``).
    subject_changed = Signal(object)
    #: The operator clicked the recordings tile: show this subject's recordings (subject id).
    recordings_requested = Signal(int)

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("detailPane")  # the house style draws it as a card
        self.current_id: int | None = None
        self.detail: SubjectDetail | None = None
        self.rectify_dialog: RectifyDialog | None = None
        self.field_labels = {
            "name": self.tr("Name"),
            "email": self.tr("E-mail"),
            "phone": self.tr("Phone"),
            "birth_date": self.tr("Date of birth"),
            "restricted": self.tr("Restriction of processing (Art. 18)"),
            "objected": self.tr("Objection to processing (Art. 21)"),
        }

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget(self)
        outer.addWidget(self.stack)

        self.empty_page, self.empty_title, self.empty_text, self.retry_button = self._build_message_page(
            "card-account-details-outline")
        self.stack.addWidget(self.empty_page)

        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setStyleSheet("QScrollArea, QScrollArea > QWidget > QWidget { background: transparent; }")
        self.page = QWidget(self.scroll)
        self.scroll.setWidget(self.page)
        self.stack.addWidget(self.scroll)
        self._build_detail_page()
        self.show_empty()

    # -- building


    def _recordings_clicked(self) -> None:
        if self.current_id is not None:
            self.recordings_requested.emit(self.current_id)
    def _build_message_page(self, icon_name: str) -> tuple[QWidget, QLabel, QLabel, QPushButton]:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.addStretch(1)
        picture = QLabel(page)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        picture.setPixmap(icons.icon(icon_name, colors.MUTED.name()).pixmap(56, 56))
        layout.addWidget(picture)
        title = QLabel(page)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        title.setFont(font)
        layout.addWidget(title)
        text = QLabel(page)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.PlainText)
        set_muted(text)
        layout.addWidget(text)
        retry = QPushButton(icons.icon("refresh"), self.tr("Try again"), page)
        retry.clicked.connect(self.reload)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(retry)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page, title, text, retry

    def _build_detail_page(self) -> None:
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(16, 12, 16, 16)
        layout.setSpacing(6)

        header = QHBoxLayout()
        names = QVBoxLayout()
        names.setSpacing(2)
        self.name_label = _value_label(self.page)
        self.name_label.setObjectName("subjectName")
        font = self.name_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setWeight(QFont.Weight.DemiBold)
        self.name_label.setFont(font)
        names.addWidget(self.name_label)
        self.id_label = _value_label(self.page)
        set_muted(self.id_label)
        names.addWidget(self.id_label)
        header.addLayout(names, 1)
        self.correct_button = QPushButton(icons.icon("account-edit"), self.tr("Correct…"), self.page)
        self.correct_button.setObjectName("correctButton")
        self.correct_button.clicked.connect(lambda: self.open_rectify())
        header.addWidget(self.correct_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(header)

        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(6)
        self.chips_row.addStretch(1)
        layout.addLayout(self.chips_row)
        self.chips: list[StateChip] = []

        self.states_label = QLabel(self.page)
        self.states_label.setObjectName("statesLabel")
        self.states_label.setWordWrap(True)
        self.states_label.setTextFormat(Qt.TextFormat.RichText)
        self.states_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.states_label)

        layout.addWidget(_section(self.tr("Account"), self.page))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(5)
        self.values: dict[str, QLabel] = {}
        for key, label in (
            ("user_id", self.tr("User ID")),
            ("name", self.tr("Name")),
            ("email", self.tr("E-mail")),
            ("phone", self.tr("Phone")),
            ("birth_date", self.tr("Date of birth")),
            ("created_at", self.tr("Created")),
            ("last_active_at", self.tr("Last active")),
            ("version", self.tr("Revision")),
        ):
            value = _value_label(self.page)
            self.values[key] = value
            caption = QLabel(label, self.page)
            caption.setObjectName("fieldCaption")
            set_muted(caption)
            form.addRow(caption, value)
        layout.addLayout(form)

        layout.addWidget(_section(self.tr("Linked data"), self.page))
        tiles = QGridLayout()
        tiles.setSpacing(8)
        self.recordings_tile = StatTile(self.tr("Recordings"), self.page)
        self.crashes_tile = StatTile(self.tr("Crash reports"), self.page)
        self.requests_tile = StatTile(self.tr("Rights requests"), self.page)
        self.holds_tile = StatTile(self.tr("Active legal holds"), self.page)
        for i, tile in enumerate((self.recordings_tile, self.crashes_tile, self.requests_tile, self.holds_tile)):
            tiles.addWidget(tile, i // 2, i % 2)
        if self.session.actor.can(Permission.RECORDINGS_VIEW):
            self.recordings_tile.set_link(self.tr("Show this user's recordings"))
            self.recordings_tile.clicked.connect(self._recordings_clicked)
        layout.addLayout(tiles)

        self.history_title = _section(self.tr("Change history"), self.page)
        layout.addWidget(self.history_title)
        self.history_empty = QLabel(self.tr("No corrections yet. Corrections made with “Correct…” or by an "
                                            "import appear here with the old and new value."), self.page)
        self.history_empty.setWordWrap(True)
        set_muted(self.history_empty)
        layout.addWidget(self.history_empty)
        history_head = QHBoxLayout()
        history_head.addWidget(self.history_title, 1)
        self.history_table_button = QPushButton(icons.icon("table-large"), self.tr("Show as table…"), self.page)
        self.history_table_button.setFlat(True)
        self.history_table_button.setToolTip(self.tr("Every change of this account in a table you can sort "
                                                     "and widen"))
        self.history_table_button.clicked.connect(lambda: self.open_history_table())
        history_head.addWidget(self.history_table_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout.removeWidget(self.history_title)
        layout.insertLayout(layout.indexOf(self.history_empty), history_head)
        self.history_feed = QVBoxLayout()
        self.history_feed.setSpacing(0)
        layout.addLayout(self.history_feed)
        self.history_entries: list[QLabel] = []
        self._history_widgets: list[QWidget] = []
        self.history_more = QLabel(self.page)
        set_muted(self.history_more)
        layout.addWidget(self.history_more)
        self.history_dialog: ChangeHistoryDialog | None = None
        layout.addStretch(1)

    # -- showing

    def show_empty(self) -> None:
        """Nothing selected: say what belongs here."""
        self.current_id = None
        self.detail = None
        self.empty_title.setText(self.tr("No user account selected"))
        self.empty_text.setText(self.tr("Select a user account in the list to see its details, linked data "
                                        "and change history."))
        self.retry_button.hide()
        self.stack.setCurrentWidget(self.empty_page)

    def clear(self) -> None:
        self.show_empty()

    def show_error(self, message: str, *, retry: bool = True) -> None:
        self.empty_title.setText(self.tr("This user account cannot be shown"))
        self.empty_text.setText(message)
        self.retry_button.setVisible(retry and self.current_id is not None)
        self.stack.setCurrentWidget(self.empty_page)

    def error_text(self) -> str:
        """The message on the pane when it shows an error or empty state (tests, accessibility)."""
        if self.stack.currentWidget() is self.empty_page:
            return f"{self.empty_title.text()} {self.empty_text.text()}"
        return ""

    def load(self, subject_id: int) -> bool:
        """Read one subject through core (permission checked, view audited) and show it."""
        self.current_id = subject_id
        try:
            detail = subjects.get_subject(self.session.actor, subject_id=subject_id)
        except NotFoundError as exc:
            self.detail = None
            self.show_error(self.tr("%1 It may have been erased on another workstation.")
                            .replace("%1", exc.message), retry=False)
            return False
        except RcrmError as exc:
            self.detail = None
            self.show_error(exc.message)
            return False
        except Exception as exc:  # noqa: BLE001 - never a traceback on screen
            error_dialogs.log_failure(type(exc), exc.__traceback__)  # type and frames only: no personal data
            self.detail = None
            self.show_error(self.tr("An unexpected error stopped this user account from loading; details are "
                                    "in the log file."))
            return False
        self.show_detail(detail)
        if self.rectify_dialog is not None and self.rectify_dialog.isVisible():
            self.rectify_dialog.set_row(detail.subject)
        self.subject_loaded.emit(detail)
        return True

    def reload(self) -> None:
        if self.current_id is not None:
            self.load(self.current_id)

    def show_detail(self, detail: SubjectDetail) -> None:
        self.detail = detail
        self.current_id = detail.subject.id
        row = detail.subject
        self.name_label.setText(fmt.ltr(row.name))
        self.id_label.setText(self.tr("User ID %1 · internal #%2").replace("%1", row.user_id)
                              .replace("%2", str(row.id)))
        self._show_states(detail)
        self._show_fields(row)
        self._show_counts(detail)
        self._show_history(detail)
        self._update_correct_button()
        self.stack.setCurrentWidget(self.scroll)
        self.scroll.verticalScrollBar().setValue(0)

    def _show_states(self, detail: SubjectDetail) -> None:
        for chip in self.chips:
            self.chips_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        row = detail.subject
        if row.restricted:
            self.chips.append(StateChip(self.tr("Restricted"), colors.RESTRICTED, parent=self.page))
        if row.objected:
            self.chips.append(StateChip(self.tr("Objected"), colors.DUE_SOON, parent=self.page))
        if detail.active_holds:
            self.chips.append(StateChip(self.tr("Legal hold"), colors.HOLD, parent=self.page))
        if not self.chips:
            self.chips.append(StateChip(self.tr("Active"), colors.OK, parent=self.page))
        for i, chip in enumerate(self.chips):
            self.chips_row.insertWidget(i, chip)

        notes = []
        if row.restricted:
            notes.append(self._note(
                colors.RESTRICTED, self.tr("Processing restricted (GDPR Art. 18)"),
                self.tr("the data is kept but not used; playback and export are for compliance only."),
                detail.restricted_reason))
        if row.objected:
            notes.append(self._note(
                colors.DUE_SOON, self.tr("Objected to processing (GDPR Art. 21)"),
                self.tr("excluded from analytics and review queues."), detail.objected_reason))
        if detail.active_holds:
            notes.append(self._note(
                colors.HOLD, self.tr("Under legal hold (GDPR Art. 17(3))"),
                self.tr("erasure and retention skip this account while the hold is active."), None))
        self.states_label.setText("<br>".join(notes))
        self.states_label.setVisible(bool(notes))

    def _note(self, color: QColor, title: str, text: str, reason: str | None) -> str:
        html = f'<span style="color:{style.state_color(color).name()}; font-weight:600;">{escape(title)}</span>: ' \
               f"{escape(text)}"
        if reason:
            html += " " + escape(self.tr("Reason: %1").replace("%1", reason))
        return html

    def _show_fields(self, row: SubjectRow) -> None:
        dash = "—"
        self.values["user_id"].setText(row.user_id)
        self.values["name"].setText(row.name)
        self.values["email"].setText(row.email or dash)
        self.values["phone"].setText(row.phone or dash)
        if row.birth_date:
            self.values["birth_date"].setText(self.tr("%1 (age %2)").replace("%1", row.birth_date.isoformat())
                                              .replace("%2", str(_age(row.birth_date))))
        else:
            self.values["birth_date"].setText(dash)
        for key, value in (("created_at", row.created_at), ("last_active_at", row.last_active_at)):
            label = self.values[key]
            label.setText(fmt.local_with_relative(value) if value else self.tr("never"))
            label.setToolTip(fmt.utc_tooltip(value))
        self.values["version"].setText(str(row.version))
        self.values["version"].setToolTip(self.tr("Goes up with every correction; a correction names the "
                                                  "revision it was made on, so two workstations never "
                                                  "overwrite each other"))

    def _show_counts(self, detail: SubjectDetail) -> None:
        self.recordings_tile.set_value(detail.recordings)
        self.crashes_tile.set_value(detail.crash_events)
        self.requests_tile.set_value(
            detail.requests,
            self.tr("%1 open").replace("%1", fmt.count(detail.open_requests)) if detail.open_requests else "",
            colors.DUE_SOON if detail.open_requests else None)
        self.holds_tile.set_value(detail.active_holds, self.tr("on hold") if detail.active_holds else "",
                                  colors.HOLD)

    def _show_history(self, detail: SubjectDetail) -> None:
        """Newest changes first as a readable feed; every change in ``open_history_table``."""
        changes = detail.changes
        title = (self.tr("Change history (%1)").replace("%1", fmt.count(len(changes))) if changes
                 else self.tr("Change history"))
        self.history_title.setText(title.upper())
        self.history_empty.setVisible(not changes)
        self.history_table_button.setVisible(bool(changes))
        for widget in self._history_widgets:
            self.history_feed.removeWidget(widget)
            widget.deleteLater()
        self._history_widgets = []
        self.history_entries = []
        for change in changes[:HISTORY_FEED_LIMIT]:
            if self.history_entries:
                line = QFrame(self.page)
                line.setFrameShape(QFrame.Shape.HLine)
                line.setFrameShadow(QFrame.Shadow.Sunken)
                self.history_feed.addWidget(line)
                self._history_widgets.append(line)
            entry = QLabel(self._change_html(change), self.page)
            entry.setObjectName("changeEntry")
            entry.setTextFormat(Qt.TextFormat.RichText)
            entry.setWordWrap(True)
            entry.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            entry.setToolTip(fmt.utc_tooltip(change.changed_at))
            entry.setContentsMargins(0, 6, 0, 6)
            self.history_feed.addWidget(entry)
            self._history_widgets.append(entry)
            self.history_entries.append(entry)
        hidden = len(changes) - HISTORY_FEED_LIMIT
        self.history_more.setText(self.tr("… and %1 older changes (Show as table…)").replace("%1", fmt.count(hidden))
                                  if hidden > 0 else "")
        self.history_more.setVisible(hidden > 0)
        if self.history_dialog is not None and self.history_dialog.isVisible():
            self.history_dialog.show_detail(detail)

    def _change_html(self, change: ChangeRow) -> str:
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText).name()
        field = escape(self.field_labels.get(change.field, change.field))
        old = escape(change.old_value) if change.old_value is not None else "—"
        new = escape(change.new_value) if change.new_value is not None else "—"
        reason = change.reason if change.reason != "import" else self.tr("import")
        who = self.tr("%1 · by %2").replace("%1", fmt.local_with_relative(change.changed_at)) \
            .replace("%2", change.operator)
        parts = [
            f'<b>{field}</b> <span style="color:{muted};">&nbsp;{escape(who)}</span>',
            f'<span style="color:{muted};">{old}</span> &rarr; <b>{new}</b>',
            f'<span style="color:{muted};">{escape(self.tr("Reason:"))}</span> {escape(reason)}',
        ]
        if change.request_id is not None:
            parts.append(escape(self.tr("Rights request #%1").replace("%1", str(change.request_id))))
        return "<br>".join(parts)

    def history_texts(self) -> list[str]:
        """The feed entries' plain text, newest first (tests, accessibility)."""
        doc = QTextDocument()
        texts = []
        for entry in self.history_entries:
            doc.setHtml(entry.text())
            texts.append(doc.toPlainText())
        return texts

    def open_history_table(self) -> ChangeHistoryDialog | None:
        """Every change (field, old, new, reason, operator, time) in a resizable, sortable table."""
        if self.detail is None:
            return None
        if self.history_dialog is None:
            self.history_dialog = ChangeHistoryDialog(self.field_labels, self)
        self.history_dialog.show_detail(self.detail)
        self.history_dialog.show()
        if QGuiApplication.platformName() != "offscreen":  # offscreen (tests, screenshots) cannot raise
            self.history_dialog.raise_()
        return self.history_dialog

    def _update_correct_button(self) -> None:
        actor = self.session.actor
        allowed = actor.can(Permission.SUBJECTS_RECTIFY)
        self.correct_button.setEnabled(allowed and self.detail is not None)
        if allowed:
            self.correct_button.setToolTip(self.tr("Correct a field of this user account (GDPR Art. 16); "
                                                   "the old and new values are kept in its history"))
        else:
            self.correct_button.setToolTip(
                self.tr("Your role (%1) may view user accounts but not correct them: corrections need the "
                        "permission subjects.rectify, which compliance officers have.")
                .replace("%1", ROLE_LABELS[actor.role]))

    # -- correcting

    def open_rectify(self, field: str | None = None) -> RectifyDialog | None:
        """Open the correction dialog (window-modal, non-blocking) for the shown subject."""
        if self.detail is None or not self.session.actor.can(Permission.SUBJECTS_RECTIFY):
            return None
        if self.rectify_dialog is not None:
            self.rectify_dialog.close()
            self.rectify_dialog.deleteLater()
        dialog = RectifyDialog(self.session.actor, self.detail.subject, self, field=field)
        dialog.rectified.connect(self._rectified)
        dialog.conflict.connect(self._conflict)
        dialog.finished.connect(lambda _result, d=dialog: self._dialog_finished(d))
        self.rectify_dialog = dialog
        dialog.open()
        return dialog

    def _dialog_finished(self, dialog: RectifyDialog) -> None:
        if self.rectify_dialog is dialog:
            self.rectify_dialog = None
        dialog.deleteLater()

    def _rectified(self, row: SubjectRow) -> None:
        self.subject_changed.emit(row)
        self.load(row.id)

    def _conflict(self, _exc: ConflictError) -> None:
        self.reload()
