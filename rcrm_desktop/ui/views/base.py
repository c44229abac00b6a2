"""What every area of the main window shares: a title, an icon, a permission, and the filter bar.

An area is a ``AreaView`` subclass. The main window lists only the areas the
operator's role may open (``permission``), switches to them with ``Ctrl+1…9``,
and calls ``activate()`` when an area is shown and ``focus_search()`` on ``Ctrl+F``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTableView,
    QToolButton,
    QWidget,
)

from rcrm_desktop import paths
from rcrm_desktop.core.permissions import Permission
from rcrm_desktop.ui import icons
from rcrm_desktop.ui.areas import AreaSpec
from rcrm_desktop.ui.session import AppSession
from rcrm_desktop.ui.widgets.flow import FlowLayout


def app_settings() -> QSettings:
    """Per-workstation settings: an INI file under the config dir (window layout, view state)."""
    path = paths.settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(path), QSettings.Format.IniFormat)


class AreaView(QWidget):
    """Base of every area (Dashboard, Users, Operators, Audit, ...)."""

    #: The area's entry in ``ui.areas.AREAS``: where ``icon_name``, ``permission`` and ``title()`` come from.
    spec: ClassVar[AreaSpec | None] = None
    #: MDI icon name for the navigation rail.
    icon_name: ClassVar[str] = "circle-outline"
    #: The permission an operator needs to see this area (``None``: everyone).
    permission: ClassVar[Permission | None] = None
    #: Asks the main window to show a status-bar message.
    status_message = Signal(str)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.spec is not None:
            cls.icon_name = cls.spec.icon_name
            cls.permission = cls.spec.permission

    def __init__(self, session: AppSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName(type(self).__name__)

    @classmethod
    def title(cls) -> str:
        if cls.spec is None:
            raise NotImplementedError(f"{cls.__name__} has no AreaSpec")
        return cls.spec.title()

    def activate(self) -> None:
        """Called each time the area is shown; load or refresh what it displays."""

    def refresh(self) -> None:
        """Reload from the database (F5)."""
        self.activate()

    def focus_search(self) -> None:
        """Put the cursor in the area's search field (Ctrl+F)."""

    def menu_actions(self) -> list[QAction]:
        """Actions for a menu of the area's own, shown in the menu bar while the area is current."""
        return []

    def file_actions(self) -> list[QAction]:
        """Actions the main window lists in its File menu (imports, exports) for this area."""
        return []

    def save_state(self, settings: QSettings) -> None:
        """Remember splitter sizes, column widths, sort order."""

    def restore_state(self, settings: QSettings) -> None:
        """Restore what ``save_state`` remembered."""


class SearchField(QLineEdit):
    """A search field that reports its text after a short pause (search-as-you-type); Esc clears it."""

    search_changed = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None, delay_ms: int = 180) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setClearButtonEnabled(True)
        self.addAction(icons.icon("magnify"), QLineEdit.ActionPosition.LeadingPosition)
        self.setMinimumWidth(240)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(lambda: self.search_changed.emit(self.text()))
        self.textChanged.connect(lambda _text: self._timer.start())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        """Room for a name and a user ID; the filter bar gives it this width when the area has it."""
        return QSize(360, super().sizeHint().height())

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)

    def flush(self) -> None:
        """Emit now (tests, Enter)."""
        self._timer.stop()
        self.search_changed.emit(self.text())


class FilterBar(QWidget):
    """The strip on top of a table: search field, filter widgets, a clear button and the row count.

    The search field and filters flow onto a second row when the area is
    narrow (``FlowLayout``), so no area needs more than a laptop screen's width.
    """

    def __init__(self, search: SearchField, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = search
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._filters = QWidget(self)
        self._layout = FlowLayout(self._filters)
        self._layout.addWidget(search)
        self.clear_button = QToolButton(self._filters)
        self.clear_button.setIcon(icons.icon("filter-remove-outline"))
        self.clear_button.setToolTip(self.tr("Clear search and filters"))
        self._layout.addWidget(self.clear_button)
        outer.addWidget(self._filters, 1)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("rowCount")
        outer.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def add_widget(self, widget: QWidget) -> None:
        """Add a filter (before the clear button)."""
        self._layout.insertWidget(self._layout.count() - 1, widget)


def setup_table(table: QTableView) -> None:
    """House style for a data table: row selection, sortable header, column chooser on the header menu."""
    table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setSortingEnabled(True)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(26)
    header = table.horizontalHeader()
    header.setStretchLastSection(True)
    header.setSectionsMovable(True)
    header.setHighlightSections(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def chooser(pos) -> None:  # type: ignore[no-untyped-def]
        model = table.model()
        if model is None:
            return
        menu = QMenu(table)
        menu.setTitle(table.tr("Columns"))
        for col in range(model.columnCount()):
            title = model.headerData(col, Qt.Orientation.Horizontal)
            action = menu.addAction(str(title))
            action.setCheckable(True)
            action.setChecked(not header.isSectionHidden(col))
            action.toggled.connect(lambda on, c=col: header.setSectionHidden(c, not on))
        menu.exec(header.mapToGlobal(pos))

    header.customContextMenuRequested.connect(chooser)


def selected_model_row(table: QTableView) -> Any:
    """The row object (``UserRole``) of the table's current row when it is selected, else ``None``."""
    index = table.currentIndex()
    selection = table.selectionModel()
    if not index.isValid() or selection is None or not selection.isRowSelected(index.row()):
        return None
    return index.model().data(index.siblingAtColumn(0), Qt.ItemDataRole.UserRole)


def column_of_sort_key(model: Any, sort_key: str) -> int:
    """The column of a keyset model sorted by ``sort_key`` (-1 when none is)."""
    return next((i for i, c in enumerate(model.columns) if c.sort_key == sort_key), -1)


def show_sort_indicator(table: QTableView, sort_key: str, descending: bool) -> None:
    """Show the database's sort order on the header without emitting a new sort request."""
    header = table.horizontalHeader()
    blocked = header.blockSignals(True)
    order = Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
    header.setSortIndicator(column_of_sort_key(table.model(), sort_key), order)
    header.blockSignals(blocked)
