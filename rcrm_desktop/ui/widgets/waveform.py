"""The waveform of a call: min/max peaks per pixel, lanes per channel, markers, redactions, selection, playhead.

What it guarantees:

* It never reads audio itself. Peaks arrive from a background task
  (``core.recordings.waveform`` through ``ui.tasks.run_task``), possibly as
  progressive snapshots while a long call is still being summarised; until
  then the widget shows what it knows (duration, lanes, markers) and the
  progress, so a one-hour call never freezes the window.
* Sharp at every zoom: each pixel column draws the min→max envelope of the
  frames under it, from the coarsest summary level whose blocks are narrower
  than a pixel (``audio.peaks``, Audacity's 256 / 65,536-frame levels). Below
  256 frames per pixel it asks for the samples of the visible window
  (``window_wanted``) and draws those, falling back to the fine level until
  they arrive.
* A stereo call shows two lanes (agent left, customer right); a lane that is
  muted (mute/solo in the player) is drawn greyed out and labelled "muted".
* States people must not miss carry colour *and* text: a redacted region is
  hatched red and labelled "Redacted"; annotation markers are numbered flags
  whose tooltip is the note.
* The drawn waveform is cached in a pixmap and only the overlays (playhead,
  selection) are repainted while playing.

Zoom: Ctrl+wheel (around the mouse), ``zoom_in``/``zoom_out``/``zoom_fit``,
``+``/``-``/``0``; the wheel alone scrolls when zoomed in. A click seeks, a drag
selects a region (for looping, annotating, redacting), a click on a marker's
flag jumps to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from rcrm_desktop.audio.peaks import FINE, Peaks, columns_from_samples
from rcrm_desktop.ui import colors, style

#: Colour of redacted regions (with the label "Redacted": never colour alone).
REDACTED = QColor("#c62828")
#: Colour of annotation markers.
MARKER = QColor("#ef8f00")
#: Lane colours: agent (left), customer (right), further channels.
LANE_COLORS = (QColor("#00897b"), QColor("#3949ab"), QColor("#6d4c41"), QColor("#8e24aa"))

#: Smallest zoom: this many pixels per frame at most (the samples themselves are visible).
MAX_PIXELS_PER_FRAME = 24.0

_TICK_STEPS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600,
                 900, 1800, 3600)


@dataclass(frozen=True)
class Marker:
    """An annotation on the waveform: a point, or a region when ``end_ms`` is set."""

    id: int
    start_ms: int
    end_ms: int | None
    text: str
    number: int


@dataclass(frozen=True)
class Region:
    """A redacted region (drawn hatched red with its label)."""

    start_ms: int
    end_ms: int
    label: str


def clock(ms: float, long: bool = False, tenths: bool = False) -> str:
    """``mm:ss`` (or ``h:mm:ss`` when ``long``), optionally with tenths: the player's position and duration."""
    value = max(0.0, ms) / 1000
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{seconds:02d}" if long or hours else f"{minutes:02d}:{seconds:02d}"
    if tenths:
        text += f".{int((value - whole) * 10)}"
    return text


class WaveformWidget(QWidget):
    """See the module docstring."""

    seek_requested = Signal(int)
    #: ``(start_ms, end_ms)``; ``(-1, -1)`` when the selection was cleared.
    selection_changed = Signal(int, int)
    marker_clicked = Signal(int)
    #: The visible range or zoom changed (the player updates its scroll bar).
    view_changed = Signal()
    #: ``(first_frame, frames)``: samples wanted for deep zoom.
    window_wanted = Signal(int, int)

    RULER_HEIGHT = 22
    MARKER_HEIGHT = 22

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("waveform")
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName(self.tr("Waveform"))
        self.duration_ms = 0
        self.sample_rate = 8000
        self.channels = 1
        self.lane_names: list[str] = [self.tr("Call")]
        self.audible: list[bool] = [True]
        self.peaks: Peaks | None = None
        self.progress: float | None = None
        self.message = ""
        self.markers: list[Marker] = []
        self.regions: list[Region] = []
        self.position_ms = 0
        self.selection: tuple[int, int] | None = None
        self._start = 0.0  # first visible frame
        self._fpp = 1.0  # frames per pixel
        self._fitted = True
        self._window: tuple[np.ndarray, int] | None = None
        self._wanted: tuple[int, int] | None = None
        self._press: QPointF | None = None
        self._dragging = False
        self._cache: QPixmap | None = None
        self._window_timer = QTimer(self)
        self._window_timer.setSingleShot(True)
        self._window_timer.setInterval(80)
        self._window_timer.timeout.connect(self._ask_window)

    # ------------------------------------------------------------ content

    @property
    def frames(self) -> int:
        if self.peaks is not None:
            return self.peaks.frames
        return round(self.duration_ms * self.sample_rate / 1000)

    def set_audio(self, duration_ms: int, sample_rate: int, channels: int) -> None:
        """A new recording: its length and lanes (before any peaks arrive). Resets zoom, markers, selection."""
        self.duration_ms = max(0, int(duration_ms))
        self.sample_rate = max(1, int(sample_rate))
        self.channels = max(1, int(channels))
        if self.channels == 2:
            self.lane_names = [self.tr("Agent"), self.tr("Customer")]
        elif self.channels == 1:
            self.lane_names = [self.tr("Call")]
        else:
            self.lane_names = [self.tr("Channel %1").replace("%1", str(i + 1)) for i in range(self.channels)]
        self.audible = [True] * self.channels
        self.peaks = None
        self.progress = None
        self.message = ""
        self.markers = []
        self.regions = []
        self.position_ms = 0
        self.selection = None
        self._window = None
        self._wanted = None
        self.zoom_fit()

    def clear(self, message: str = "") -> None:
        """Nothing to show (no recording selected, or why the waveform is unavailable)."""
        self.set_audio(0, 8000, 1)
        self.message = message
        self._invalidate()

    def set_message(self, text: str) -> None:
        self.message = text
        self._invalidate()

    def set_peaks(self, peaks: Peaks | None, progress: float | None = None) -> None:
        """Complete peaks (``progress`` ``None``) or a progressive snapshot with the fraction done."""
        self.peaks = peaks
        self.progress = progress
        if peaks is not None and peaks.complete:
            self.progress = None
        if peaks is not None and peaks.channels != self.channels:
            self.channels = peaks.channels
            self.audible = [True] * self.channels
        if self._fitted:
            self.zoom_fit()
        self._invalidate()

    def set_progress(self, fraction: float | None) -> None:
        self.progress = fraction
        self.update()

    def set_window(self, samples: np.ndarray, first_frame: int) -> None:
        """Samples of a stretch of the call, for drawing deeply zoomed views exactly."""
        self._window = (samples, int(first_frame))
        self._invalidate()

    def set_markers(self, markers: list[Marker]) -> None:
        self.markers = sorted(markers, key=lambda m: (m.start_ms, m.id))
        self._invalidate()

    def set_regions(self, regions: list[Region]) -> None:
        self.regions = list(regions)
        self._invalidate()

    def set_audible(self, audible: list[bool]) -> None:
        self.audible = list(audible)
        self._invalidate()

    def set_position(self, ms: int, *, follow: bool = False) -> None:
        """Move the playhead; with ``follow`` the view pages along when the playhead leaves it."""
        self.position_ms = max(0, min(int(ms), self.duration_ms))
        if follow and not self._fitted:
            a, b = self.visible_range_ms()
            if not a <= self.position_ms <= b:
                self.scroll_to_ms(self.position_ms - (b - a) * 0.05)
        self.update()

    def set_selection(self, start_ms: int, end_ms: int) -> None:
        a, b = sorted((max(0, int(start_ms)), min(self.duration_ms, int(end_ms))))
        self.selection = (a, b) if b > a else None
        self.update()

    def clear_selection(self) -> None:
        if self.selection is not None:
            self.selection = None
            self.selection_changed.emit(-1, -1)
            self.update()

    # ------------------------------------------------------------ geometry

    def _lanes_rect(self) -> QRectF:
        top = self.RULER_HEIGHT + self.MARKER_HEIGHT
        return QRectF(0, top, self.width(), max(10, self.height() - top - 1))

    def _lane_rect(self, lane: int) -> QRectF:
        area = self._lanes_rect()
        count = max(1, self.channels)
        height = area.height() / count
        return QRectF(area.left(), area.top() + lane * height, area.width(), height)

    def ms_at(self, x: float) -> int:
        frame = self._start + x * self._fpp
        return max(0, min(self.duration_ms, round(frame * 1000 / self.sample_rate)))

    def x_of(self, ms: float) -> float:
        frame = ms * self.sample_rate / 1000
        return (frame - self._start) / self._fpp

    def visible_range_ms(self) -> tuple[int, int]:
        return self.ms_at(0), self.ms_at(self.width())

    @property
    def frames_per_pixel(self) -> float:
        return self._fpp

    @property
    def start_frame(self) -> float:
        """The first visible frame."""
        return self._start

    def _max_fpp(self) -> float:
        return max(self.frames / max(1, self.width()), 1.0 / MAX_PIXELS_PER_FRAME)

    def set_view(self, start_frame: float, frames_per_pixel: float) -> None:
        fpp = min(max(frames_per_pixel, 1.0 / MAX_PIXELS_PER_FRAME), self._max_fpp())
        span = self.width() * fpp
        start = min(max(0.0, start_frame), max(0.0, self.frames - span))
        if (start, fpp) != (self._start, self._fpp):
            self._start, self._fpp = start, fpp
            self._fitted = fpp >= self._max_fpp() * 0.999
            self._invalidate()
            self.view_changed.emit()

    def zoom_fit(self) -> None:
        self._start = 0.0
        self._fpp = self._max_fpp()
        self._fitted = True
        self._invalidate()
        self.view_changed.emit()

    def zoom_by(self, factor: float, anchor_x: float | None = None) -> None:
        """Zoom in (``factor`` > 1) or out around ``anchor_x`` (default: the playhead if visible, else the centre)."""
        if anchor_x is None:
            px = self.x_of(self.position_ms)
            anchor_x = px if 0 <= px <= self.width() else self.width() / 2
        anchor_frame = self._start + anchor_x * self._fpp
        fpp = self._fpp / factor
        self.set_view(anchor_frame - anchor_x * fpp, fpp)

    def zoom_in(self) -> None:
        self.zoom_by(2.0)

    def zoom_out(self) -> None:
        self.zoom_by(0.5)

    def can_zoom_in(self) -> bool:
        return self._fpp > 1.0 / MAX_PIXELS_PER_FRAME + 1e-9 and self.frames > 0

    def can_zoom_out(self) -> bool:
        return not self._fitted

    def scroll_to_ms(self, ms: float) -> None:
        self.set_view(ms * self.sample_rate / 1000, self._fpp)

    def zoom_to_ms(self, start_ms: int, end_ms: int) -> None:
        frames = max(1.0, (end_ms - start_ms) * self.sample_rate / 1000)
        self.set_view(start_ms * self.sample_rate / 1000, frames / max(1, self.width()))

    def sizeHint(self) -> QSize:
        return QSize(600, 220)

    # ------------------------------------------------------------ painting

    def _invalidate(self) -> None:
        self._cache = None
        if self._fpp < FINE and self._needs_window() is not None:
            self._window_timer.start()
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self._fitted:
            self._fpp = self._max_fpp()
            self._start = 0.0
        else:
            self.set_view(self._start, self._fpp)
        self._invalidate()
        self.view_changed.emit()
        super().resizeEvent(event)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        ratio = self.devicePixelRatioF()
        if self._cache is None or self._cache.size() != self.size() * ratio:
            self._cache = self._render_static(ratio)
        painter.drawPixmap(0, 0, self._cache)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self._paint_selection(painter)
        self._paint_playhead(painter)
        self._paint_status(painter)
        if self.hasFocus():
            pen = QPen(self.palette().color(QPalette.ColorRole.Highlight))
            pen.setWidth(1)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def _render_static(self, ratio: float) -> QPixmap:
        pixmap = QPixmap(self.size() * ratio)
        pixmap.setDevicePixelRatio(ratio)
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        pixmap.fill(base)
        painter = QPainter(pixmap)
        self._paint_ruler(painter)
        self._paint_lanes(painter)
        self._paint_regions(painter)
        self._paint_markers(painter)
        painter.end()
        return pixmap

    def _muted_text(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.PlaceholderText)

    def _paint_ruler(self, painter: QPainter) -> None:
        palette = self.palette()
        band = QRectF(0, 0, self.width(), self.RULER_HEIGHT + self.MARKER_HEIGHT)
        window = palette.color(QPalette.ColorRole.Window)
        painter.fillRect(band, window)
        border = palette.color(QPalette.ColorRole.Mid)
        painter.setPen(border)
        painter.drawLine(QLineF(0, self.RULER_HEIGHT + self.MARKER_HEIGHT - 0.5, self.width(),
                                self.RULER_HEIGHT + self.MARKER_HEIGHT - 0.5))
        if not self.duration_ms:
            return
        ms_per_px = self._fpp * 1000 / self.sample_rate
        step_s = next((s for s in _TICK_STEPS_S if s * 1000 / ms_per_px >= 90), _TICK_STEPS_S[-1])
        a, b = self.visible_range_ms()
        first = math.floor(a / 1000 / step_s) * step_s
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.82))
        painter.setFont(font)
        text_pen = QPen(self._muted_text())
        long = self.duration_ms >= 3_600_000
        t = first
        while t * 1000 <= b + step_s * 1000:
            x = self.x_of(t * 1000)
            if -60 <= x <= self.width() + 60:
                painter.setPen(border)
                painter.drawLine(QLineF(x, self.RULER_HEIGHT - 7, x, self.RULER_HEIGHT))
                for k in range(1, 5):
                    xm = self.x_of((t + k * step_s / 5) * 1000)
                    painter.drawLine(QLineF(xm, self.RULER_HEIGHT - 3, xm, self.RULER_HEIGHT))
                painter.setPen(text_pen)
                label = clock(t * 1000, long, tenths=step_s < 1)
                if step_s < 0.1:
                    label = f"{t:.3f} s"
                painter.drawText(QRectF(x + 3, 1, 120, self.RULER_HEIGHT - 6),
                                 Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
            t += step_s

    def _lane_color(self, lane: int) -> QColor:
        color = QColor(LANE_COLORS[lane % len(LANE_COLORS)])
        if colors.is_dark():
            color = color.lighter(160)
        if lane < len(self.audible) and not self.audible[lane]:
            grey = self._muted_text()
            grey.setAlpha(110)
            return grey
        return color

    def _columns(self, width: int) -> tuple[np.ndarray, np.ndarray] | None:
        if self.peaks is None or not self.peaks.mins:
            return None
        if self._fpp < FINE and self._window is not None:
            samples, first = self._window
            end = self._start + width * self._fpp
            if first <= self._start and first + len(samples) >= min(end, self.frames):
                return columns_from_samples(samples, first, self._start, self._fpp, width)
        return self.peaks.columns(self._start, self._fpp, width)

    def _paint_lanes(self, painter: QPainter) -> None:
        palette = self.palette()
        width = max(1, self.width())
        cols = self._columns(width)
        grid = QColor(palette.color(QPalette.ColorRole.Mid))
        grid.setAlpha(90)
        for lane in range(self.channels):
            rect = self._lane_rect(lane)
            if lane % 2 == 1:
                alt = QColor(palette.color(QPalette.ColorRole.AlternateBase))
                painter.fillRect(rect, alt)
            mid = rect.center().y()
            half = rect.height() / 2 - 3
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QLineF(0, mid, width, mid))
            if lane:
                painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
                painter.drawLine(QLineF(0, rect.top(), width, rect.top()))
            if cols is not None:
                lo, hi = cols
                column = min(lane, lo.shape[1] - 1)
                mins, maxs = lo[:, column], hi[:, column]
                valid = ~np.isnan(mins)
                xs = np.flatnonzero(valid)
                if len(xs):
                    top = mid - np.clip(maxs[xs], -1, 1) * half
                    bottom = mid - np.clip(mins[xs], -1, 1) * half
                    bottom = np.maximum(bottom, top + 1)
                    color = self._lane_color(lane)
                    if self._fpp < 1.0:
                        self._paint_samples(painter, xs, top, bottom, color)
                    else:
                        painter.setPen(QPen(color, 1))
                        painter.drawLines([QLineF(float(x) + 0.5, float(t), float(x) + 0.5, float(b))
                                           for x, t, b in zip(xs, top, bottom, strict=True)])
            self._paint_lane_label(painter, lane, rect)

    def _paint_samples(self, painter: QPainter, xs: np.ndarray, top: np.ndarray, bottom: np.ndarray,
                       color: QColor) -> None:
        """Very deep zoom: a line through the samples (each pixel column holds at most one)."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        path = QPainterPath()
        centres = (top + bottom) / 2
        path.moveTo(float(xs[0]), float(centres[0]))
        for x, y in zip(xs[1:], centres[1:], strict=True):
            path.lineTo(float(x), float(y))
        painter.setPen(QPen(color, 1.4))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_lane_label(self, painter: QPainter, lane: int, rect: QRectF) -> None:
        name = self.lane_names[lane] if lane < len(self.lane_names) else str(lane + 1)
        if lane < len(self.audible) and not self.audible[lane]:
            name = self.tr("%1 — muted").replace("%1", name)
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        box = QRectF(rect.left() + 6, rect.top() + 5, metrics.horizontalAdvance(name) + 12, metrics.height() + 4)
        background = QColor(self.palette().color(QPalette.ColorRole.Window))
        background.setAlpha(215)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(box, 4, 4)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(self._lane_color(lane) if self.audible[lane] else self._muted_text())
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, name)

    def _paint_regions(self, painter: QPainter) -> None:
        if not self.regions:
            return
        area = self._lanes_rect()
        red = style.state_color(REDACTED)
        fill = QColor(red)
        fill.setAlpha(45)
        hatch = QColor(red)
        hatch.setAlpha(110)
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        font.setWeight(QFont.Weight.Bold)
        for region in self.regions:
            x1, x2 = self.x_of(region.start_ms), self.x_of(region.end_ms)
            if x2 < 0 or x1 > self.width():
                continue
            x2 = max(x2, x1 + 2)
            rect = QRectF(x1, area.top(), x2 - x1, area.height())
            painter.fillRect(rect, fill)
            painter.fillRect(rect, QBrush(hatch, Qt.BrushStyle.BDiagPattern))
            painter.setPen(QPen(red, 1))
            painter.drawLine(QLineF(x1, area.top(), x1, area.bottom()))
            painter.drawLine(QLineF(x2, area.top(), x2, area.bottom()))
            painter.fillRect(QRectF(x1, self.RULER_HEIGHT + self.MARKER_HEIGHT - 5, x2 - x1, 4), red)
            painter.setFont(font)
            metrics = painter.fontMetrics()
            text_width = metrics.horizontalAdvance(region.label) + 12
            pill = QRectF(x1 + 3, area.top() + 4, min(text_width, max(14.0, x2 - x1 - 6)), metrics.height() + 4)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(red)
            painter.drawRoundedRect(pill, 3, 3)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(QColor("white"))
            label = region.label if text_width <= pill.width() + 0.5 else self.tr("R")
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)

    def _paint_markers(self, painter: QPainter) -> None:
        if not self.markers:
            return
        area = self._lanes_rect()
        color = style.state_color(MARKER)
        band = QColor(color)
        band.setAlpha(60)
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        font.setWeight(QFont.Weight.Bold)
        painter.setFont(font)
        for marker in self.markers:
            x = self.x_of(marker.start_ms)
            if marker.end_ms is not None:
                x2 = self.x_of(marker.end_ms)
                if x2 >= 0 and x <= self.width():
                    painter.fillRect(QRectF(x, self.RULER_HEIGHT + self.MARKER_HEIGHT - 5, max(2.0, x2 - x), 4),
                                     color)
                    light = QColor(color)
                    light.setAlpha(22)
                    painter.fillRect(QRectF(x, area.top(), max(2.0, x2 - x), area.height()), light)
            if not -20 <= x <= self.width() + 20:
                continue
            pen = QPen(color, 1, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawLine(QLineF(x, self.RULER_HEIGHT + self.MARKER_HEIGHT - 2, x, area.bottom()))
            flag = self._flag_rect(marker)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(flag, 3, 3)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(QColor("#1b1b1b"))
            painter.drawText(flag, Qt.AlignmentFlag.AlignCenter, str(marker.number))

    def _flag_rect(self, marker: Marker) -> QRectF:
        x = self.x_of(marker.start_ms)
        return QRectF(x - 1, self.RULER_HEIGHT + 2, 18, self.MARKER_HEIGHT - 8)

    def _paint_selection(self, painter: QPainter) -> None:
        if self.selection is None:
            return
        area = self._lanes_rect()
        x1, x2 = self.x_of(self.selection[0]), self.x_of(self.selection[1])
        highlight = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        fill = QColor(highlight)
        fill.setAlpha(55)
        painter.fillRect(QRectF(x1, area.top(), max(1.0, x2 - x1), area.height()), fill)
        painter.setPen(QPen(highlight, 1))
        painter.drawLine(QLineF(x1, area.top(), x1, area.bottom()))
        painter.drawLine(QLineF(x2, area.top(), x2, area.bottom()))
        a, b = self.selection
        label = f"{clock(a, tenths=True)} – {clock(b, tenths=True)}  ({(b - a) / 1000:.1f} s)"
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(label) + 12
        box = QRectF(min(max(0.0, x1), self.width() - width), area.bottom() - 20, width, 18)
        background = QColor(highlight)
        background.setAlpha(230)
        painter.fillRect(box, background)
        painter.setPen(self.palette().color(QPalette.ColorRole.HighlightedText))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def _paint_playhead(self, painter: QPainter) -> None:
        if not self.duration_ms:
            return
        x = self.x_of(self.position_ms)
        if not -2 <= x <= self.width() + 2:
            return
        color = QColor(self.palette().color(QPalette.ColorRole.Text))
        painter.setPen(QPen(color, 1.5))
        painter.drawLine(QLineF(x, self.RULER_HEIGHT, x, self.height()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawPolygon([QPointF(x - 5, self.RULER_HEIGHT - 6), QPointF(x + 5, self.RULER_HEIGHT - 6),
                             QPointF(x, self.RULER_HEIGHT + 1)])
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_status(self, painter: QPainter) -> None:
        area = self._lanes_rect()
        if self.message:
            veil = QColor(self.palette().color(QPalette.ColorRole.Base))
            veil.setAlpha(200 if self.peaks is not None else 120)
            painter.fillRect(area, veil)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            width = min(area.width() - 40, 460.0)
            text_rect = painter.fontMetrics().boundingRect(QRect(0, 0, int(width), 1000), int(flags), self.message)
            box = QRectF(0, 0, width + 28, text_rect.height() + 22)
            box.moveCenter(area.center())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            background = QColor(self.palette().color(QPalette.ColorRole.Window))
            painter.setBrush(background)
            painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
            painter.drawRoundedRect(box, 6, 6)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(box.adjusted(14, 11, -14, -11), flags, self.message)
            return
        if self.peaks is None and self.progress is None and self.duration_ms:
            painter.setPen(self._muted_text())
            painter.drawText(area.toRect(), Qt.AlignmentFlag.AlignCenter, self.tr("Loading the waveform…"))
        if self.progress is not None:
            text = self.tr("Computing waveform… %1 %").replace("%1", str(int(self.progress * 100)))
            font = QFont(self.font())
            font.setPointSizeF(max(6.5, font.pointSizeF() * 0.85))
            painter.setFont(font)
            width = painter.fontMetrics().horizontalAdvance(text) + 16
            box = QRectF(self.width() - width - 8, area.top() + 6, width, 20)
            background = QColor(self.palette().color(QPalette.ColorRole.Window))
            background.setAlpha(230)
            painter.fillRect(box, background)
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            done_x = self.x_of((self.peaks.done_frames if self.peaks else 0) * 1000 / self.sample_rate)
            if done_x < self.width():
                veil = QColor(self.palette().color(QPalette.ColorRole.Window))
                veil.setAlpha(120)
                painter.fillRect(QRectF(max(0.0, done_x), area.top(), self.width() - max(0.0, done_x),
                                        area.height()), veil)

    # ------------------------------------------------------------ deep zoom

    def _needs_window(self) -> tuple[int, int] | None:
        if self._fpp >= FINE or not self.frames:
            return None
        span = self.width() * self._fpp
        first = int(max(0, self._start - span))
        count = int(span * 3) + 1
        if self._window is not None:
            samples, have = self._window
            if have <= self._start and have + len(samples) >= min(self.frames, self._start + span):
                return None
        return first, count

    def _ask_window(self) -> None:
        wanted = self._needs_window()
        if wanted is not None and wanted != self._wanted:
            self._wanted = wanted
            self.window_wanted.emit(*wanted)

    # ------------------------------------------------------------ input

    def _marker_at(self, pos: QPointF) -> Marker | None:
        if pos.y() > self.RULER_HEIGHT + self.MARKER_HEIGHT:
            return None
        for marker in reversed(self.markers):
            if self._flag_rect(marker).adjusted(-3, -3, 3, 3).contains(pos):
                return marker
        return None

    def _region_at(self, pos: QPointF) -> Region | None:
        ms = self.ms_at(pos.x())
        return next((r for r in self.regions if r.start_ms <= ms <= r.end_ms), None)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.duration_ms:
            super().mousePressEvent(event)
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        marker = self._marker_at(event.position())
        if marker is not None:
            self.marker_clicked.emit(marker.id)
            self.seek_requested.emit(marker.start_ms)
            event.accept()
            return
        self._press = event.position()
        self._dragging = False
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            if abs(pos.x() - self._press.x()) > 3:
                self._dragging = True
                self.set_selection(self.ms_at(self._press.x()), self.ms_at(pos.x()))
            return
        marker = self._marker_at(pos)
        if marker is not None:
            span = clock(marker.start_ms, tenths=True)
            if marker.end_ms is not None:
                span += f" – {clock(marker.end_ms, tenths=True)}"
            QToolTip.showText(event.globalPosition().toPoint(), f"{marker.number}. {span}\n{marker.text}", self)
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            return
        region = self._region_at(pos) if pos.y() > self.RULER_HEIGHT else None
        if region is not None:
            QToolTip.showText(event.globalPosition().toPoint(),
                              self.tr("Redacted %1 – %2: the sound was removed from the stored file.")
                              .replace("%1", clock(region.start_ms, tenths=True))
                              .replace("%2", clock(region.end_ms, tenths=True)), self)
        else:
            QToolTip.hideText()
        self.setCursor(Qt.CursorShape.IBeamCursor if self.duration_ms else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is None or event.button() != Qt.MouseButton.LeftButton:
            super().mouseReleaseEvent(event)
            return
        press, self._press = self._press, None
        if self._dragging and self.selection is not None:
            self.selection_changed.emit(*self.selection)
        else:
            self.clear_selection()
            self.seek_requested.emit(self.ms_at(press.x()))
        self._dragging = False
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        steps = (delta.y() or delta.x()) / 120
        if not steps:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(1.25 ** steps, event.position().x())
        elif not self._fitted:
            self.set_view(self._start - steps * self.width() * 0.1 * self._fpp, self._fpp)
        else:
            event.ignore()
            return
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.zoom_out()
        elif key == Qt.Key.Key_0:
            self.zoom_fit()
        elif key == Qt.Key.Key_Escape and self.selection is not None:
            self.clear_selection()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def lane_at(self, y: float) -> int:
        area = self._lanes_rect()
        return max(0, min(self.channels - 1, int((y - area.top()) / max(1.0, area.height() / self.channels))))

    def point_for_ms(self, ms: int, lane: int = 0) -> QRect:
        """A 1×1 rectangle at ``ms`` in ``lane`` (tests click there)."""
        rect = self._lane_rect(lane)
        return QRect(round(self.x_of(ms)), round(rect.center().y()), 1, 1)
