"""The columns of the service table: what each shows, how wide, and which go first
when the terminal is narrow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt

__all__ = ["COLUMNS", "Column", "layout", "sort_key"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the table."""

    key: str
    title: str
    width: int
    """Cells it takes (the name column grows to fit names, the error column to fill)."""
    priority: int
    """Narrow screens drop the lowest first."""
    right: bool = False
    sort: Callable[[ServiceSnapshot], Any] | None = None
    """Sort key for this column (None: by name)."""


_STATE_ORDER = {"crashed": 0, "failing": 1, "stopping": 2, "paused": 3, "starting": 4}


def _state_rank(snap: ServiceSnapshot) -> tuple[int, str]:
    text, style = fmt.state_cell(snap)
    return _STATE_ORDER.get(style, 5), text


def _error_text(snap: ServiceSnapshot) -> str:
    error = snap.status.last_error
    return error.summary if error is not None else ""


COLUMNS: tuple[Column, ...] = (
    Column("name", "SERVICE", 12, 100, sort=lambda s: s.name.lower()),
    Column("kind", "KIND", 8, 30, sort=fmt.kind_cell),
    Column("enabled", "ENABLED", 10, 45, sort=lambda s: fmt.enabled_cell(s)[0]),
    Column("state", "STATE", 11, 95, sort=_state_rank),
    Column("loops", "LOOPS", 6, 90, right=True, sort=lambda s: -s.status.loop_count),
    Column("errors", "ERR", 5, 85, right=True, sort=lambda s: -s.status.error_count),
    Column("overruns", "OVR", 4, 35, right=True, sort=lambda s: -s.status.overrun_count),
    Column("last", "LAST", 6, 60, right=True, sort=lambda s: -(s.status.last_duration or 0)),
    Column("next", "NEXT", 6, 70, right=True, sort=lambda s: s.status.next_loop_at or float("inf")),
    Column("every", "EVERY", 6, 25, right=True, sort=lambda s: s.status.loop_seconds or 0),
    Column("error", "LAST ERROR", 12, 50, sort=_error_text),
)

_BY_KEY = {column.key: column for column in COLUMNS}


def sort_key(column_key: str) -> Callable[[ServiceSnapshot], Any]:
    """The sort key function of a column (`name` for unknown keys).

    Raises:
        KeyError: no column has that key.
    """
    try:
        column = _BY_KEY[column_key]
    except KeyError:
        known = ", ".join(_BY_KEY)
        raise KeyError(f"no column {column_key!r} to sort by; columns: {known}") from None
    assert column.sort is not None
    return column.sort


def layout(width: int, name_width: int, gap: int = 1) -> list[tuple[Column, int, int]]:
    """Fit the columns into `width` cells: `(column, x, cells)` for each one shown.

    The name column is `name_width` wide (clamped), the error column takes what is
    left; the lowest-priority columns are dropped until the rest fit.
    """
    name_cells = max(COLUMNS[0].width, min(name_width, 32))
    shown: list[Column] = list(COLUMNS)

    def need(columns: Sequence[Column]) -> int:
        cells = sum(name_cells if c.key == "name" else c.width for c in columns)
        return cells + gap * (len(columns) - 1) + 1

    while len(shown) > 1 and need(shown) > width:
        shown.remove(min(shown, key=lambda c: c.priority))
    placed: list[tuple[Column, int, int]] = []
    x = 1  # one cell of left margin: the cursor row's edge
    fixed = need(shown)
    for column in shown:
        cells = name_cells if column.key == "name" else column.width
        if column.key == "error":
            cells += max(0, width - fixed)
        placed.append((column, x, cells))
        x += cells + gap
    return placed
