"""A bar chart of a loop service's recent loop durations against its interval.

One bar per loop (oldest left), scaled to the longest loop, drawn in eighths of a cell
(`▁▂▃▄▅▆▇█`); a failed loop's bar is red and marked `✖` under the axis, an overrun
(longer than the interval) yellow and marked `▲`. The interval is a dotted line at its
height, labelled on the axis, when it is within the scale; an interval far above the
loops (a 12 ms loop every 30 s) is named in the title instead, so the bars keep their
shape. The data is the snapshot's own (`recent_durations`, `recent_failed`,
`loop_seconds`): the framework keeps the last 32 loops.

A hand-made chart rather than a plotting widget (textual-plotext): a dependency for
one chart, and a plot library's own layout pass on each change, cost more than the
fifty lines below; the snapshot tests need a drawing that is the same on every machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from servicedeck.tui import format as fmt

__all__ = ["DurationPlot", "PlotData"]

_EIGHTHS = " ▁▂▃▄▅▆▇█"
_AXIS = 8
"""Cells of the value axis: a label of up to 6 cells, a space and `┤`."""
_OFF_SCALE = 4.0
"""An interval more than this many times the longest loop is named, not drawn."""


@dataclass(frozen=True, slots=True)
class PlotData:
    """What the chart draws: durations (oldest first), which of them failed, the interval."""

    durations: tuple[float, ...]
    failed: tuple[bool, ...]
    interval: float | None


class DurationPlot(Widget):
    """The chart (see the module docstring): `plot()` it a snapshot's durations."""

    REDRAW_SECONDS: ClassVar[float] = 1.0
    """The least time between two redraws while loops keep coming (see `plot()`)."""

    DEFAULT_CSS = """
    DurationPlot {
        height: 50%;
        min-height: 6;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: PlotData | None = None
        """What is drawn (None: nothing yet)."""
        self._lines: list[Strip] = []
        self._drawn: tuple[PlotData | None, int, int] | None = None
        self._drawn_at = float("-inf")
        """When `data` was last changed (monotonic seconds)."""
        self._pending: PlotData | None = None
        """Data given meanwhile, drawn when `_timer` fires."""
        self._timer: Timer | None = None

    def plot(
        self,
        durations: tuple[float, ...],
        failed: tuple[bool, ...],
        interval: float | None,
        *,
        at_once: bool = False,
    ) -> None:
        """Draw these durations; nothing is redrawn when they are the ones drawn already.

        Unless `at_once`, the chart is redrawn at most every `REDRAW_SECONDS` (with the
        last durations given by then): a service looping 20 times a second would slide
        its bars at every refresh of the screen (two or four a second), and the chart's 20
        rows cost more to draw than the rest of the panel. The caller says `at_once`
        for what the user waits to see (a step, another service)."""
        data = PlotData(durations, failed, interval)
        if data == self.data:
            self._pending = None
            return
        wait = self._drawn_at + self.REDRAW_SECONDS - time.monotonic()
        if at_once or wait <= 0:
            self._draw(data)
            return
        self._pending = data
        if self._timer is None:
            self._timer = self.set_timer(wait, self._draw_pending)

    def _draw(self, data: PlotData) -> None:
        self._pending = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._drawn_at = time.monotonic()
        self.data = data
        self.refresh()

    def _draw_pending(self) -> None:
        self._timer = None
        if self._pending is not None:
            self._draw(self._pending)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None  # drawn again in the new styles (a theme, a class)

    def render_line(self, y: int) -> Strip:
        """One line of the chart. Drawn line by line from segments (the line API), not
        as one `Text` turned into Textual content and wrapped at every change: the chart
        has a span per bar and row, about 1,200, and that conversion cost about 10 ms a
        change (4 changes a second for a busy service shown)."""
        width, height = self.content_size
        if self._drawn != (self.data, width, height):
            self._drawn = (self.data, width, height)
            self._lines = self._strips(width, height)
        if 0 <= y < len(self._lines):
            return self._lines[y]
        return Strip.blank(width, self.rich_style)

    def _strips(self, width: int, height: int) -> list[Strip]:
        data = self.data
        if data is None or not data.durations:
            lines = [[("Loop durations: no loop has run yet.", "dim")]]
        else:
            lines = _chart(data, width, height)
        base = self.rich_style
        styles: dict[str, Style] = {}
        strips = []
        for pieces in lines[:height]:
            segments = []
            cells = 0
            for text, name in pieces:
                if cells >= width:
                    break
                size = cell_len(text)
                if cells + size > width:  # cut, with an ellipsis (`text-overflow`)
                    text = set_cell_size(text, max(0, width - cells - 1)) + "…"
                    size = width - cells
                style = styles.get(name)
                if style is None:
                    style = styles[name] = base + Style.parse(name) if name else base
                segments.append(Segment(text, style))
                cells += size
            if cells < width:
                segments.append(Segment(" " * (width - cells), base))
            strips.append(Strip(segments, width))
        return strips


def _chart(data: PlotData, width: int, height: int) -> list[list[tuple[str, str]]]:
    """The chart's lines, each a list of (text, style) pieces; a piece's style the same
    as the one before it extends that piece (fewer segments to draw)."""
    durations, interval = data.durations, data.interval
    failed = data.failed if len(data.failed) == len(durations) else (False,) * len(durations)
    columns = max(1, width - _AXIS - 1)
    if len(durations) > columns:
        durations, failed = durations[-columns:], failed[-columns:]
    count = len(durations)
    longest = max(durations)
    overrun = tuple(bool(interval) and d > (interval or 0) for d in durations)
    on_scale = interval is not None and interval > 0 and interval <= longest * _OFF_SCALE
    top = max(longest, interval if on_scale and interval else 0.0) or 1e-6
    rows = max(1, height - 2)
    bar = max(1, min(3, columns // count))
    gap = 1 if bar >= 2 else 0

    out = _Lines()
    out.append("Loop durations", "bold")
    summary = f"  last {fmt.duration(durations[-1])} · max {fmt.duration(longest)}"
    summary += f" · the last {count} loop{'s' if count != 1 else ''}"
    if interval is not None:
        summary += f" · interval {fmt.interval(interval)}"
        if not on_scale and interval > 0:
            summary += " (far above them)"
    errors, overruns = sum(failed), sum(overrun)
    out.append(summary, "dim")
    if errors:
        out.append(f" · {errors} failed ✖", "red")
    if overruns:
        out.append(f" · {overruns} longer than the interval ▲", "yellow")
    out.newline()

    # Each bar's height in eighths of a cell and its colour; each fill's text, with the
    # gap after it in the bar's own colour (a space's colour does not show, and a row of
    # bars of one colour is then one segment to draw, not 64).
    bars = [
        (value / top * rows * 8, value > 0, "red" if bad else ("yellow" if over else "green"))
        for value, bad, over in zip(durations, failed, overrun, strict=True)
    ]
    glyphs = [_EIGHTHS[fill] * (bar - gap) + " " * gap for fill in range(9)]
    dotted = "┄" * bar
    interval_row = None
    if on_scale and interval:
        interval_row = rows - 1 - min(rows - 1, int(interval / top * rows - 1e-9))
    for row in range(rows):
        level = rows - 1 - row  # eighths below this row: level * 8
        if row == 0:
            label = fmt.duration(top)
        elif row == interval_row:
            label = fmt.interval(interval)
        elif row == rows - 1 and rows > 2:
            label = "0"
        else:
            label = ""
        out.append(f"{label:>{_AXIS - 2}} ", "dim")
        out.append("┤" if label else "│", "dim")
        floor = level * 8
        cells = []
        for eighths, positive, style in bars:
            fill = max(0, min(8, round(eighths - floor)))
            if level == 0 and positive and fill == 0:
                fill = 1  # a loop that ran shows, however short
            if row != interval_row:
                cells.append((glyphs[fill], style))
                continue
            # The interval's dotted line: through the gaps, and empty cells.
            if fill == 0:
                cells.append((dotted, "yellow dim"))
            else:
                cells.append((glyphs[fill][: bar - gap], style))
                if gap:
                    cells.append(("┄", "yellow dim"))
        # The bars of one colour are one piece (one segment to draw).
        for style, run in groupby(cells, key=itemgetter(1)):
            out.append("".join(text for text, _ in run), style)
        out.newline()
    out.append(" " * (_AXIS - 1) + "└", "dim")
    for bad, over in zip(failed, overrun, strict=True):
        mark = "✖" if bad else ("▲" if over else "─")
        out.append(mark + "─" * (bar - 1), "red" if bad else ("yellow" if over else "dim"))
    out.append("  newest", "dim")
    return out.lines


class _Lines:
    """Lines of (text, style) pieces, built by appending."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[list[tuple[str, str]]] = [[]]

    def append(self, text: str, style: str = "") -> None:
        line = self.lines[-1]
        if line and line[-1][1] == style:
            line[-1] = (line[-1][0] + text, style)
        else:
            line.append((text, style))

    def newline(self) -> None:
        self.lines.append([])
