"""The columns of the service table, each defined once: header, width, priority, sort key
and how its cell is drawn.

Adding a column is one `Column` in `COLUMNS` (and the snapshots): the table lays out and
draws whatever columns it is given, calling each one's `render`; nothing else names them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt

__all__ = [
    "COLUMNS",
    "PROCESS",
    "Cell",
    "CellContext",
    "Column",
    "layout",
    "sort_key",
    "with_process",
]

Cell = tuple[str, str]
"""What a cell shows: its text, and a style name of the table (`dim`, `error`, ...; ''
for the row's own style)."""


@dataclass(frozen=True, slots=True)
class CellContext:
    """What a cell may need besides the snapshot: the row's state in the table."""

    countdown: str
    """The time until the next loop, as drawn now (it changes without a new snapshot)."""
    blocking: bool
    """A blocking stop of this service is in flight (its state shows `stopping…`)."""
    root: str | None
    """Paths under it are shown relative to it."""
    running: str = ""
    """How long the loop running now has run, as drawn now (`12.0s…`; '' when none
    runs): it changes without a new snapshot, like the countdown."""


Grow = Literal["fixed", "names", "rest"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the table."""

    key: str
    """The column's id: what `sort_by()` takes."""
    title: str
    """The header."""
    width: int
    """Cells it takes (at least, for a column that grows)."""
    priority: int
    """Narrow screens drop the lowest first: SERVICE, STATE, LOOPS and LAST ERROR stay
    longest (see `COLUMNS`)."""
    render: Callable[[ServiceSnapshot, CellContext], Cell]
    """Draws this column's cell of a row."""
    sort: Callable[[ServiceSnapshot], Any]
    """The sort key of a row, for sorting by this column."""
    right: bool = False
    """Right-aligned (numbers)."""
    grow: Grow = "fixed"
    """`names`: as wide as the longest service name (up to 32 cells); `rest`: takes the
    cells the other columns leave."""
    least: int = 0
    """For the `rest` column: the fewest cells it shrinks to, on a screen too narrow for
    its `width`, before it is dropped (0: it does not shrink)."""
    descending: bool = False
    """Its sort puts the largest first (counters, durations): the header marks it `▼`,
    and `▲` once reversed."""


# -- cells --------------------------------------------------------------------------------


def _loop_only(render: Callable[[ServiceSnapshot], Cell]) -> Callable[[ServiceSnapshot, Any], Cell]:
    """A counter of loops: `—` for a service that is not a loop."""

    def cell(snap: ServiceSnapshot, context: CellContext) -> Cell:
        return render(snap) if snap.is_loop else ("—", "dim")

    return cell


def _errors(snap: ServiceSnapshot) -> Cell:
    status = snap.status
    style = "failing" if status.consecutive_errors else ("dim" if not status.error_count else "")
    return fmt.count(status.error_count), style


_SETTINGS_ERROR_HEAD = re.compile(r"^invalid settings for \w+: ")


def _stall_is_latest(snap: ServiceSnapshot) -> bool:
    """The service blocked the event loop after its last error (or it has none)."""
    stall, error = snap.stall, snap.status.last_error
    if stall is None:
        return False
    return error is None or (stall.when is not None and stall.when >= error.when)


def _last_error(snap: ServiceSnapshot, context: CellContext) -> Cell:
    """The latest trouble, in one line: a stall, settings that do not load, or the last error."""
    if snap.settings_error is None and snap.stall is not None and _stall_is_latest(snap):
        return fmt.stall_line(snap.stall, context.root), "paused"
    if snap.settings_error is not None:
        # The variable and its value first: the cell is narrow, and the model's name
        # ("invalid settings for ...Settings") says least.
        problems = _SETTINGS_ERROR_HEAD.sub("", snap.settings_error, count=1)
        return fmt.safe_line(problems, 300), "error"
    error = snap.status.last_error
    if error is None:
        return "", "error"
    # A prefix only: a message may be a megabyte, and the cell shows one line of it
    # (without the spaces that ended that line).
    line = fmt.safe_line(f"{error.type_name}: {error.message[:2000]}", 300)
    return line.strip(), "error"


def _last(snap: ServiceSnapshot, context: CellContext) -> Cell:
    """The last loop's duration; while a loop runs, how long it has run (`12.0s…`)."""
    if not snap.is_loop:
        return "—", "dim"
    if context.running:
        return context.running, "crashed" if snap.stuck else "running"
    return fmt.duration(snap.status.last_duration), ""


# -- sort keys ----------------------------------------------------------------------------

_STATE_ORDER = {"crashed": 0, "failing": 1, "stopping": 2, "paused": 3, "starting": 4}


def _state_rank(snap: ServiceSnapshot) -> tuple[int, str]:
    text, style = fmt.state_cell(snap)
    return _STATE_ORDER.get(style, 5), text


def _error_text(snap: ServiceSnapshot) -> str:
    error = snap.status.last_error
    return error.summary if error is not None else ""


COLUMNS: tuple[Column, ...] = (
    Column(
        "name", "SERVICE", 12, 100,
        render=lambda s, c: (s.name, ""),
        sort=lambda s: s.name.lower(),
        grow="names",
    ),
    Column(
        "kind", "KIND", 8, 30,
        render=lambda s, c: (fmt.kind_cell(s), "dim"),
        sort=fmt.kind_cell,
    ),
    Column(
        "enabled", "ENABLED", 10, 20,
        render=lambda s, c: fmt.enabled_cell(s),
        sort=lambda s: fmt.enabled_cell(s)[0],
    ),
    Column(
        "state", "STATE", 12, 98,
        render=lambda s, c: fmt.state_cell(s, c.blocking),
        sort=_state_rank,
    ),
    Column(
        "loops", "LOOPS", 6, 96, right=True, descending=True,
        render=_loop_only(lambda s: (fmt.count(s.status.loop_count), "")),
        sort=lambda s: -s.status.loop_count,
    ),
    Column(
        "errors", "ERR", 5, 90, right=True, descending=True,
        render=_loop_only(_errors),
        sort=lambda s: -s.status.error_count,
    ),
    Column(
        "overruns", "OVR", 4, 35, right=True, descending=True,
        render=_loop_only(
            lambda s: (
                fmt.count(s.status.overrun_count),
                "paused" if s.status.overrun_count else "dim",
            )
        ),
        sort=lambda s: -s.status.overrun_count,
    ),
    Column(
        "last", "LAST", 6, 72, right=True, descending=True,
        render=_last,
        sort=lambda s: -(s.status.last_duration or 0),
    ),
    Column(
        "next", "NEXT", 6, 70, right=True,
        render=lambda s, c: (c.countdown, "dim"),
        sort=lambda s: s.status.next_loop_at or float("inf"),
    ),
    Column(
        "every", "EVERY", 6, 25, right=True,
        render=lambda s, c: (fmt.interval(s.status.loop_seconds), "dim"),
        sort=lambda s: s.status.loop_seconds or 0,
    ),
    Column(
        "error", "LAST ERROR", 28, 94, least=16,
        render=_last_error,
        sort=_error_text,
        grow="rest",
    ),
)  # fmt: skip
"""The table's columns, left to right. By priority, what a narrow screen keeps longest:
SERVICE, STATE, LOOPS, LAST ERROR, ERR, LAST (a running loop's time), NEXT, OVR, KIND,
EVERY, ENABLED (and PROCESS, shown only with several processes)."""


def _process(snap: ServiceSnapshot) -> str:
    process = snap.process
    return "" if process is None else f"{process.host}:{process.pid}"


PROCESS = Column(
    "process", "PROCESS", 14, 15,
    render=lambda s, c: (_process(s), "dim"),
    sort=lambda s: (_process(s), s.name.lower()),
)  # fmt: skip
"""Which process runs the service (host and pid): shown when the table shows the
services of several processes (`servicedeck attach ADDRESS ADDRESS`)."""


def with_process(columns: Sequence[Column] = COLUMNS) -> tuple[Column, ...]:
    """`columns` with the PROCESS column first."""
    return (PROCESS, *(column for column in columns if column is not PROCESS))


def sort_key(
    column_key: str, columns: Sequence[Column] = COLUMNS
) -> Callable[[ServiceSnapshot], Any]:
    """The sort key function of the column `column_key`.

    Raises:
        KeyError: no column has that key.
    """
    for column in columns:
        if column.key == column_key:
            return column.sort
    known = ", ".join(column.key for column in columns)
    raise KeyError(f"no column {column_key!r} to sort by; columns: {known}")


def layout(
    width: int, name_width: int, columns: Sequence[Column] = COLUMNS, gap: int = 1
) -> list[tuple[Column, int, int]]:
    """Fit `columns` into `width` cells: `(column, x, cells)` for each one shown.

    A `names` column is `name_width` wide (clamped to its width and 32), a `rest` column
    takes what is left. On a narrow screen the columns of lower priority than the `rest`
    column are dropped first, then it shrinks to its `least`, then the lowest-priority
    columns are dropped until the rest fit.
    """

    def cells_of(column: Column) -> int:
        if column.grow == "names":
            return max(column.width, min(name_width, 32))
        return column.width

    def need(shown: Sequence[Column]) -> int:
        return sum(cells_of(c) for c in shown) + gap * (len(shown) - 1) + 1

    shown: list[Column] = list(columns)
    rest = next((c for c in shown if c.grow == "rest"), None)

    def lowest() -> Column:
        return min(shown, key=lambda c: c.priority)

    # The columns below the `rest` one go first; then it shrinks (to its `least`); then
    # the others go, lowest priority first, as on a wide screen.
    while rest is not None and need(shown) > width and lowest().priority < rest.priority:
        shown.remove(lowest())
    shrink = 0
    if rest is not None and rest in shown and rest.least:
        shrink = max(0, min(need(shown) - width, rest.width - rest.least))
    while len(shown) > 1 and need(shown) - shrink > width:
        shown.remove(lowest())
    placed: list[tuple[Column, int, int]] = []
    x = 1  # one cell of left margin: the cursor row's edge
    spare = max(0, width - need(shown)) - shrink * (rest in shown)
    for column in shown:
        cells = cells_of(column)
        if column.grow == "rest":
            cells += spare
        placed.append((column, x, cells))
        x += cells + gap
    return placed
