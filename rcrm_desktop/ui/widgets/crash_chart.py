"""A bar chart of a crash group's events per day (custom-painted, follows the palette).

Drawn by hand rather than with QtCharts: it is a single series, it must follow
the light and dark palettes exactly like the rest of the window, and it must
stay crisp at any size. The data comes from ``core.crashes.daily_counts``
(per-day counts kept by the import), so drawing never touches events.
Hovering a bar shows its day and count; the accessible description states
the total and the busiest day, so the chart is not colour- or shape-only.
"""

from __future__ import annotations

import datetime as dt
import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from rcrm_desktop.ui import colors


def _nice_max(value: int) -> int:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 4:
        return max(1, value)
    exponent = 10 ** int(math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        top = int(step * exponent)
        if top >= value:
            return top
    return value


class CrashChart(QWidget):
    """Events per day as bars, with a y grid, a few date labels and hover tooltips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("crashChart")
        self.setMouseTracking(True)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._data: list[tuple[dt.date, int]] = []
        self._hover = -1
        self._accent: QColor | None = None

    def sizeHint(self) -> QSize:
        return QSize(520, 180)

    # -- data

    def set_data(self, data: list[tuple[dt.date, int]], accent: QColor | None = None) -> None:
        """Show ``data`` (day, count), oldest first; ``accent`` colours the bars (default: highlight)."""
        self._data = list(data)
        self._accent = accent
        self._hover = -1
        total = sum(n for _, n in self._data)
        if self._data:
            busiest = max(self._data, key=lambda item: item[1])
            self.setAccessibleDescription(
                self.tr("%1 events in %2 days; busiest day %3 with %4 events")
                .replace("%1", f"{total:,}").replace("%2", str(len(self._data)))
                .replace("%3", busiest[0].isoformat()).replace("%4", f"{busiest[1]:,}"))
        self.update()

    def data(self) -> list[tuple[dt.date, int]]:
        return list(self._data)

    def total(self) -> int:
        return sum(n for _, n in self._data)

    # -- geometry

    def _plot_rect(self) -> QRectF:
        metrics = self.fontMetrics()
        left = metrics.horizontalAdvance(f"{self._axis_max():,}") + 12
        return QRectF(left, 8, max(10.0, self.width() - left - 8), max(10.0, self.height() - metrics.height() - 18))

    def _axis_max(self) -> int:
        return _nice_max(max((n for _, n in self._data), default=0))

    def _bar_at(self, x: float) -> int:
        plot = self._plot_rect()
        if not self._data or not plot.left() <= x <= plot.right():
            return -1
        slot = plot.width() / len(self._data)
        return min(len(self._data) - 1, int((x - plot.left()) / slot))

    # -- painting

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: ARG002 - Qt's signature
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        grid = QColor(text)
        grid.setAlpha(40)
        plot = self._plot_rect()
        metrics = self.fontMetrics()
        if not self._data:
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("No data"))
            return
        top = self._axis_max()
        small = QFont(self.font())
        if small.pointSizeF() > 0:
            small.setPointSizeF(small.pointSizeF() * 0.9)
        painter.setFont(small)
        # Grid lines and their values: 0, half, top.
        for fraction in (0.0, 0.5, 1.0):
            y = plot.bottom() - fraction * plot.height()
            painter.setPen(QPen(grid, 1, Qt.PenStyle.SolidLine if fraction == 0 else Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            value = round(top * fraction)
            if fraction == 0.5 and top < 2:
                continue
            painter.setPen(muted)
            painter.drawText(QRectF(0, y - metrics.height() / 2, plot.left() - 6, metrics.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:,}")
        accent = QColor(self._accent) if self._accent is not None else palette.color(QPalette.ColorRole.Highlight)
        slot = plot.width() / len(self._data)
        gap = min(4.0, slot * 0.25)
        for i, (_day, count) in enumerate(self._data):
            if count <= 0:
                continue
            height = max(2.0, plot.height() * count / top)
            rect = QRectF(plot.left() + i * slot + gap / 2, plot.bottom() - height, max(1.0, slot - gap), height)
            color = QColor(accent)
            if i != self._hover:
                color.setAlpha(200)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            radius = min(3.0, rect.width() / 3)
            painter.drawRoundedRect(rect, radius, radius)
        if 0 <= self._hover < len(self._data):
            hover_rect = QRectF(plot.left() + self._hover * slot, plot.top(), slot, plot.height())
            shade = QColor(text)
            shade.setAlpha(18)
            painter.fillRect(hover_rect, shade)
        # Date labels: first, middle and last day (and more when there is room).
        painter.setPen(muted)
        label_width = metrics.horizontalAdvance("Mar 30") + 16
        max_labels = max(2, int(plot.width() // label_width))
        step = max(1, math.ceil((len(self._data) - 1) / max(1, max_labels - 1)))
        indices = list(range(0, len(self._data), step))
        if indices[-1] != len(self._data) - 1:
            if len(self._data) - 1 - indices[-1] < step / 2 and len(indices) > 1:
                indices[-1] = len(self._data) - 1
            else:
                indices.append(len(self._data) - 1)
        y = plot.bottom() + 4
        for i in indices:
            day = self._data[i][0]
            center = plot.left() + (i + 0.5) * slot
            today = dt.datetime.now(dt.UTC).date()
            text_label = self.tr("today") if day == today else f"{day:%b} {day.day}"
            width = metrics.horizontalAdvance(text_label) + 4
            left = min(max(center - width / 2, plot.left() - 4), plot.right() - width + 4)
            painter.drawText(QRectF(left, y, width, metrics.height()), Qt.AlignmentFlag.AlignCenter, text_label)

    # -- hover

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self._bar_at(event.position().x())
        if index != self._hover:
            self._hover = index
            self.update()
        if index >= 0:
            day, count = self._data[index]
            text = (self.tr("%1: 1 event") if count == 1 else self.tr("%1: %2 events")) \
                .replace("%1", f"{day:%a} {day.isoformat()}").replace("%2", f"{count:,}")
            QToolTip.showText(event.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: object) -> None:
        self._hover = -1
        self.update()
        super().leaveEvent(event)  # type: ignore[arg-type]


def regressed_accent() -> QColor:
    """The bar colour of a regressed group (state colours carry text elsewhere too)."""
    return QColor(colors.OVERDUE)
