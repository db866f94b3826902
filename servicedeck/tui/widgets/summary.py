"""The header line: totals on the left, the view's state (filter, sort, count) on the right."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

__all__ = ["Summary", "SummaryBar"]


@dataclass(frozen=True, slots=True)
class Summary:
    """What the header line shows."""

    services: int = 0
    running: int = 0
    paused: int = 0
    failing: int = 0
    shown: int = 0
    filter: str = ""
    failing_only: bool = False
    sort: str | None = None
    count: str = ""
    """The count typed so far for the next `n` (e.g. `5`)."""
    note: str = ""
    """A short state of the app, e.g. `starting services…`."""


class SummaryBar(Static):
    """One line: `servicedeck  6 services · 4 running · 1 paused · 1 failing`."""

    DEFAULT_CSS = """
    SummaryBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._summary: Summary | None = None

    def show(self, summary: Summary) -> None:
        """Show these totals (no work when nothing changed)."""
        if summary == self._summary:
            return
        self._summary = summary
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append("servicedeck", "bold")
        left.append(f"  {summary.services} services", "")
        left.append(" · ", "dim")
        left.append(f"{summary.running} running", "green" if summary.running else "dim")
        left.append(" · ", "dim")
        left.append(f"{summary.paused} paused", "yellow" if summary.paused else "dim")
        left.append(" · ", "dim")
        left.append(f"{summary.failing} failing", "bold red" if summary.failing else "dim")
        right = Text(no_wrap=True, overflow="ellipsis", justify="right")
        if summary.note:
            right.append(f" {summary.note} ", "italic")
        if summary.filter or summary.failing_only:
            what = []
            if summary.filter:
                what.append(f"/{summary.filter}")
            if summary.failing_only:
                what.append("failing only")
            right.append(f" {' '.join(what)}: {summary.shown} shown ", "reverse")
        if summary.sort:
            right.append(f" sorted by {summary.sort} ", "dim")
        if summary.count:
            right.append(f" {summary.count}n… ", "bold reverse")
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row(left, right)
        self.update(grid)
