"""The header line: totals on the left, the view's state (filter, sort, count) on the right."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from servicedeck.control import ServiceSnapshot

__all__ = ["SummaryBar"]


class SummaryBar(Widget):
    """One line: `servicedeck  6 services · 4 running · 1 paused · 1 failing`, and on the
    right what the table shows (`/re: 3 shown`, `sorted by name`, `5n…`).

    Every part is a reactive attribute: set it and the line redraws (once a frame, however
    many changed). `count_services()` sets the totals from the services' snapshots.
    """

    DEFAULT_CSS = """
    SummaryBar { height: 1; background: $panel; padding: 0 1; }
    """

    services: reactive[int] = reactive(0)
    """How many services there are."""
    running: reactive[int] = reactive(0)
    """How many have a task and are not paused, nor stuck."""
    paused: reactive[int] = reactive(0)
    """How many have a task and are paused."""
    failing: reactive[int] = reactive(0)
    """How many are failing (see `ServiceSnapshot.is_failing`: the framework's verdict over
    a window of loops, so the count does not flicker)."""
    stuck: reactive[int] = reactive(0)
    """How many are stuck (a stop timed out, or a kill their task has not given way to):
    counted here, not as running, and shown only when there are some."""
    shown: reactive[int] = reactive(0)
    """How many rows the table shows."""
    filter_text: reactive[str] = reactive("")
    """The table's name filter ('' for none)."""
    failing_only: reactive[bool] = reactive(False)
    """The table shows failing services only."""
    sort_column: reactive[tuple[str | None, bool]] = reactive[tuple[str | None, bool]](
        (None, False)
    )
    """The column the table is sorted by (None: none), and whether reversed."""
    count: reactive[str] = reactive("")
    """The count typed so far for the next `n` (e.g. `5`)."""
    note: reactive[str] = reactive("")
    """A short state of the app, e.g. `starting…`."""

    def __init__(self, *, id: str | None = None) -> None:
        """Args:
        id: the widget's id.
        """
        super().__init__(id=id)
        self._state: dict[str, tuple[bool, bool, bool, bool]] = {}
        """Each service's (running, paused, failing, stuck), for counting only what
        changed."""

    def count_services(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Update the totals with these services' snapshots (new or changed ones)."""
        running, paused, failing, stuck = self.running, self.paused, self.failing, self.stuck
        for snap in snapshots:
            # One word per service: a stuck one (or one whose kill has not taken) is not
            # also "running".
            is_stuck = snap.has_task and (snap.stuck or snap.kill_requested_at is not None)
            state = (
                snap.has_task and not snap.status.paused and not is_stuck,
                snap.has_task and snap.status.paused and not is_stuck,
                snap.is_failing,
                is_stuck,
            )
            was = self._state.get(snap.name)
            if state == was:
                continue
            self._state[snap.name] = state
            if was is None:
                was = (False, False, False, False)
            running += state[0] - was[0]
            paused += state[1] - was[1]
            failing += state[2] - was[2]
            stuck += state[3] - was[3]
        self.services = len(self._state)
        self.running, self.paused, self.failing, self.stuck = running, paused, failing, stuck

    def render(self) -> RenderableType:
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append("servicedeck", "bold")
        left.append(f"  {self.services} services", "")
        left.append(" · ", "dim")
        left.append(f"{self.running} running", "green" if self.running else "dim")
        left.append(" · ", "dim")
        left.append(f"{self.paused} paused", "yellow" if self.paused else "dim")
        left.append(" · ", "dim")
        left.append(f"{self.failing} failing", "bold red" if self.failing else "dim")
        if self.stuck:
            left.append(" · ", "dim")
            left.append(f"{self.stuck} stuck", "bold red")
        right = Text(no_wrap=True, overflow="ellipsis", justify="right")
        if self.note:
            right.append(f" {self.note} ", "italic")
        if self.filter_text or self.failing_only:
            what = []
            if self.filter_text:
                what.append(f"/{self.filter_text}")
            if self.failing_only:
                what.append("failing only")
            right.append(f" {' '.join(what)}: {self.shown} shown ", "reverse")
        sort, reverse = self.sort_column
        if sort:
            right.append(f" sorted by {sort}{' (reversed)' if reverse else ''} ", "dim")
        if self.count:
            right.append(f" {self.count}n… ", "bold reverse")
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True)
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row(left, right)
        return grid
