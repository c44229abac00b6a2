"""A lazy, keyset-paged table model (Anki's browser model, Qt's fetchMore).

The model holds small frozen dataclasses, never cursors or widgets. It asks its
``fetch(after, limit)`` function for the next page only when the view scrolls
near the end (``canFetchMore``/``fetchMore``), so a million-row table costs one
page at start. Sorting is delegated: the model emits ``sort_requested`` and the
owner installs a new fetch function ordered by that column, which keeps sorting
in the database where the index is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

Row = TypeVar("Row")
Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column(Generic[Row]):
    key: str
    title: str
    display: Callable[[Row], str]
    sort_key: str | None = None
    tooltip: Callable[[Row], str] | None = None
    foreground: Callable[[Row], Any] | None = None
    background: Callable[[Row], Any] | None = None
    decoration: Callable[[Row], Any] | None = None
    align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    width: int | None = None


FetchFn = Callable[[Any, int], Sequence[Any]]


class KeysetTableModel(QAbstractTableModel, Generic[Row]):
    sort_requested = Signal(str, bool)  # sort key, descending
    page_loaded = Signal(int)  # rows now loaded
    fetch_failed = Signal(object)  # the exception

    def __init__(self, columns: Sequence[Column[Row]], page_size: int = 200, parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.page_size = page_size
        self._rows: list[Row] = []
        self._fetch: FetchFn | None = None
        self._exhausted = True
        self.sort_key: str | None = None
        self.descending = False
        self._installing = False

    # -- loading

    def set_fetch(self, fetch: FetchFn | None) -> None:
        """Replace the data source and load its first page."""
        # Slots of modelReset (a view, Qt's model tester) may ask for more rows at once; inside the
        # reset that would insert rows while the reset is still being announced, so refuse until done.
        self._installing = True
        try:
            self.beginResetModel()
            self._rows = []
            self._fetch = fetch
            self._exhausted = fetch is None
            self.endResetModel()
        finally:
            self._installing = False
        if fetch is not None:
            self._load_page()

    def _load_page(self) -> None:
        if self._fetch is None or self._exhausted:
            return
        after = self._rows[-1] if self._rows else None
        try:
            page = list(self._fetch(after, self.page_size))
        except Exception as exc:  # noqa: BLE001 - the owner shows it
            self._exhausted = True
            self.fetch_failed.emit(exc)
            return
        if len(page) < self.page_size:
            self._exhausted = True
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()
        self.page_loaded.emit(len(self._rows))

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and not self._exhausted and not self._installing

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid() and not self._installing:
            self._load_page()

    def fetch_all_loaded(self) -> bool:
        return self._exhausted

    # -- access

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rows(self) -> list[Row]:
        return list(self._rows)

    def replace_row(self, row: int, value: Row) -> None:
        if 0 <= row < len(self._rows):
            self._rows[row] = value
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))

    def find_row(self, predicate: Callable[[Row], bool]) -> int:
        for i, r in enumerate(self._rows):
            if predicate(r):
                return i
        return -1

    # -- Qt model API

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        if not (0 <= index.column() < len(self.columns)):
            return None
        row = self._rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.display(row)
        if role == Qt.ItemDataRole.ToolTipRole and col.tooltip is not None:
            return col.tooltip(row) or None
        if role == Qt.ItemDataRole.ForegroundRole and col.foreground is not None:
            return col.foreground(row)
        if role == Qt.ItemDataRole.BackgroundRole and col.background is not None:
            return col.background(row)
        if role == Qt.ItemDataRole.DecorationRole and col.decoration is not None:
            return col.decoration(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(col.align)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.ItemDataRole.DisplayRole:
                return self.columns[section].title
            if role == Qt.ItemDataRole.ToolTipRole and self.columns[section].sort_key is None:
                return self.tr("This column cannot be sorted")
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not (0 <= column < len(self.columns)):
            return
        key = self.columns[column].sort_key
        if key is None:
            return
        self.sort_key = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.sort_requested.emit(key, self.descending)
