"""`RowPainter`: how the service table draws its header and its rows, as strips.

The table decides which rows to draw and when (and caches each row's strip); the painter
lays the columns out for a width and draws cells where they go, each column's text from
its own renderer (`Column.render`), in the table's styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from servicedeck.control import ServiceSnapshot
from servicedeck.tui.widgets.columns import CellContext, Column, layout

__all__ = ["STYLE_NAMES", "RowPainter"]

STYLE_NAMES = (
    *("header", "cursor", "dim", "running", "sleeping", "starting", "paused", "stopping"),
    *("stopped", "crashed", "failing", "enabled", "error", "number", "unreachable"),
    "cursor-error",
)
"""The style names a cell may ask for (and the header and cursor rows): each is the
table's component class `service-table--<name>`."""


_RED = frozenset({"error", "failing", "crashed"})
"""Styles drawn in the error colour: on the cursor row, `cursor-error` instead."""


class RowPainter:
    """Draws the table's lines for one width.

    Args:
        columns: the table's columns, left to right.
        width: the table's width in cells.
        name_width: the longest service name's cells, and one.
        styles: the Rich style of each of `STYLE_NAMES`.
        base: the table's own style, under every cell.
        console: renders the text.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        width: int,
        name_width: int,
        styles: Mapping[str, Style],
        base: Style,
        console: Console,
    ) -> None:
        self.width = width
        self.layout = layout(width, name_width, columns)
        """`(column, x, cells)` of each column shown."""
        self._styles = styles
        self._base = base
        self._console = console

    def column_at(self, x: int) -> Column | None:
        """The column drawn at cell `x` (the gap after it counts as its own)."""
        for column, left, cells in self.layout:
            if left <= x < left + cells + 1:
                return column
        return None

    def header(self, sort: str | None, reverse: bool) -> Strip:
        """The header line; the column sorted by is marked `▲` when its rows go up (A to Z,
        smallest first), `▼` when they go down. The mark is never cut: a title too long
        for it is shortened instead."""
        text = Text(no_wrap=True, overflow="crop", end="")
        for column, x, cells in self.layout:
            title = column.title
            if column.key == sort:
                up = reverse == column.descending
                title = title[: max(0, cells - 2)] + (" ▲" if up else " ▼")
            self._place(text, x, Text(title), cells, column.right)
        return self._to_strip(text, self._styles["header"])

    def row(self, snap: ServiceSnapshot, context: CellContext, cursor: bool) -> Strip:
        """The line of one service; `cursor`: the highlighted one."""
        styles = self._styles
        text = Text(no_wrap=True, overflow="crop", end="")
        # A process that cannot be reached: its rows are its last known state, greyed.
        unreachable = snap.unreachable is not None
        for column, x, cells in self.layout:
            value, style = column.render(snap, context)
            if unreachable:
                style = "unreachable"
            elif cursor and style in _RED:
                style = "cursor-error"  # red on the cursor's blue cannot be read
            self._place(text, x, Text(value, style=styles.get(style, "")), cells, column.right)
        return self._to_strip(text, styles["cursor"] if cursor else None)

    @staticmethod
    def _place(line: Text, x: int, cell: Text, cells: int, right: bool) -> None:
        pad = x - line.cell_len
        if pad > 0:
            line.append(" " * pad)
        cell.truncate(cells, overflow="ellipsis")
        if right:
            line.append(" " * (cells - cell.cell_len))
        line.append_text(cell)

    def _to_strip(self, text: Text, row_style: Style | None) -> Strip:
        text.truncate(self.width, overflow="crop", pad=True)
        base = self._base if row_style is None else self._base + row_style
        segments = [
            Segment(seg.text, base + seg.style if seg.style else base)
            for seg in text.render(self._console)
            if seg.text
        ]
        return Strip(segments, self.width)
