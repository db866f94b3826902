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

from dataclasses import dataclass

from rich.text import Text
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

    def plot(
        self, durations: tuple[float, ...], failed: tuple[bool, ...], interval: float | None
    ) -> None:
        """Draw these durations; nothing is redrawn when they are the ones drawn already."""
        data = PlotData(durations, failed, interval)
        if data != self.data:
            self.data = data
            self.refresh()

    def render(self) -> Text:
        data = self.data
        width, height = self.content_size
        if data is None or not data.durations:
            return Text("Loop durations: no loop has run yet.", "dim")
        return _chart(data, width, height)


def _chart(data: PlotData, width: int, height: int) -> Text:
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

    out = Text(no_wrap=True, overflow="crop")
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
    out.append("\n")

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
        for value, bad, over in zip(durations, failed, overrun, strict=True):
            eighths = value / top * rows * 8
            fill = max(0, min(8, round(eighths - level * 8)))
            if level == 0 and value > 0 and fill == 0:
                fill = 1  # a loop that ran shows, however short
            cell = _EIGHTHS[fill] * (bar - gap)
            style = "red" if bad else ("yellow" if over else "green")
            if fill == 0 and row == interval_row:
                out.append("┄" * (bar - gap), "yellow dim")
            else:
                out.append(cell, style)
            if gap:
                out.append("┄" if row == interval_row else " ", "yellow dim")
        out.append("\n")
    out.append(" " * (_AXIS - 1) + "└", "dim")
    for bad, over in zip(failed, overrun, strict=True):
        mark = "✖" if bad else ("▲" if over else "─")
        out.append(mark + "─" * (bar - 1), "red" if bad else ("yellow" if over else "dim"))
    out.append("  newest", "dim")
    return out
