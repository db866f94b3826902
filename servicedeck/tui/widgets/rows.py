"""`RowPainter`: how the service table draws its header and its rows, as strips.

The table decides which rows to draw and when (and caches each row's strip); the painter
lays the columns out for a width and draws cells where they go, each column's text from
its own renderer (`Column.render`), in the table's styles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len, set_cell_size
from rich.control import strip_control_codes
from rich.segment import Segment
from rich.style import Style
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


_Cell = tuple[int, int, bool, str, Style | None]
"""A cell to draw: its x, its width, right-aligned or not, its text, its style (None: the
row's own)."""


class RowPainter:
    """Draws the table's lines for one width.

    Args:
        columns: the table's columns, left to right.
        width: the table's width in cells.
        name_width: the longest service name's cells, and one.
        styles: the Rich style of each of `STYLE_NAMES`.
        base: the table's own style, under every cell.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        width: int,
        name_width: int,
        styles: Mapping[str, Style],
        base: Style,
    ) -> None:
        self.width = width
        self.layout = layout(width, name_width, columns)
        """`(column, x, cells)` of each column shown."""
        self._styles = styles
        self._base = base
        self._styled: dict[Style | None, dict[Style, Style]] = {}
        """The cells' styles over the base (and the row's style): made once each."""

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
        cells: list[_Cell] = []
        for column, x, width in self.layout:
            title = column.title
            if column.key == sort:
                up = reverse == column.descending
                title = title[: max(0, width - 2)] + (" ▲" if up else " ▼")
            cells.append((x, width, column.right, title, None))
        return self._strip(cells, self._styles["header"])

    def row(self, snap: ServiceSnapshot, context: CellContext, cursor: bool) -> Strip:
        """The line of one service; `cursor`: the highlighted one."""
        styles = self._styles
        cells: list[_Cell] = []
        # A process that cannot be reached: its rows are its last known state, greyed.
        unreachable = snap.unreachable is not None
        for column, x, width in self.layout:
            value, style = column.render(snap, context)
            if unreachable:
                style = "unreachable"
            elif cursor and style in _RED:
                style = "cursor-error"  # red on the cursor's blue cannot be read
            cells.append((x, width, column.right, value, styles.get(style)))
        return self._strip(cells, styles["cursor"] if cursor else None)

    def _strip(self, cells: list[_Cell], row_style: Style | None) -> Strip:
        """One line from its cells (`x`, `width`, right-aligned, text, style), drawn
        straight into segments: each cell's text cut to its width with an ellipsis, the
        cells placed at their `x`, the line cut or padded to the painter's width.

        Made without a Rich `Text` per cell (what the table drew with before): a busy
        table draws each visible row at every refresh, and the `Text`s, their
        truncation and rendering were most of a row's cost."""
        base = self._base if row_style is None else self._base + row_style
        styled = self._styled.get(row_style)
        if styled is None:
            styled = self._styled[row_style] = {}
        segments: list[Segment] = []
        line = 0  # cells drawn so far
        plain = ""  # base-style text not yet made a segment
        for x, width, right, value, style in cells:
            text = strip_control_codes(value)
            size = cell_len(text)
            if size > width:
                text = set_cell_size(text, width - 1) + "…" if width > 0 else ""
                size = width
            plain += " " * (x - line) + (" " * (width - size) if right else "")
            line = max(line, x) + (width - size if right else 0) + size
            if style is None:
                plain += text
                continue
            if plain:
                segments.append(Segment(plain, base))
                plain = ""
            if text:
                cell_style = styled.get(style)
                if cell_style is None:
                    cell_style = styled[style] = base + style
                segments.append(Segment(text, cell_style))
        width = self.width
        if line < width:
            plain += " " * (width - line)
        if plain:
            segments.append(Segment(plain, base))
        strip = Strip(segments, max(line, width))
        return strip.crop(0, width) if line > width else strip
