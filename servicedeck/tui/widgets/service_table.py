"""The service table: one row per service, drawn with Textual's line API.

Textual's DataTable re-renders every visible cell after any `update_cell` (about 86 ms a
repaint at 500 rows), which cannot keep up with hundreds of services changing many
times a second. This widget keeps one row model per service, caches each row's rendered
`Strip` by (version, cursor, countdown, width), and refreshes only the lines whose row
changed (`refresh_lines`): a burst of changes costs one render of each changed visible
row, nothing else.

The cursor is a service name, not a row index: it stays on its service when rows are
updated, sorted or filtered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt
from servicedeck.tui.widgets.columns import Column, layout, sort_key

__all__ = ["ServiceTable"]

_STYLE_NAMES = (
    "header",
    "cursor",
    "dim",
    "running",
    "sleeping",
    "starting",
    "paused",
    "stopping",
    "stopped",
    "crashed",
    "failing",
    "enabled",
    "error",
    "number",
)


@dataclass(slots=True)
class _Row:
    snapshot: ServiceSnapshot
    version: int = 0
    error_summary: str = ""
    error_id: int = 0
    cache_key: tuple[object, ...] = field(default=())
    strip: Strip | None = None
    painted: ServiceSnapshot | None = None
    """The snapshot `strip` was rendered from."""


class ServiceTable(ScrollView, can_focus=True):
    """A live table of service snapshots, updated row by row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "edge(-1)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"service-table--{name}" for name in _STYLE_NAMES}

    DEFAULT_CSS = """
    ServiceTable {
        height: auto;
        max-height: 60%;
        min-height: 3;
        overflow-x: hidden;
        background: $surface;
        & > .service-table--header { color: $text-muted; text-style: bold; background: $panel; }
        & > .service-table--cursor { background: $primary 40%; text-style: bold; }
        &:focus > .service-table--cursor { background: $primary 70%; }
        & > .service-table--dim { color: $text-muted; }
        & > .service-table--running { color: $success; text-style: bold; }
        & > .service-table--sleeping { color: $success; }
        & > .service-table--starting { color: $accent; }
        & > .service-table--paused { color: $warning; }
        & > .service-table--stopping { color: $secondary; }
        & > .service-table--stopped { color: $text-muted; }
        & > .service-table--crashed { color: $error; text-style: bold; }
        & > .service-table--failing { color: $error; }
        & > .service-table--enabled { color: $text; }
        & > .service-table--error { color: $error; }
        & > .service-table--number { color: $text; }
    }
    """

    class Highlighted(Message):
        """The cursor moved to another service (or to none)."""

        def __init__(self, name: str | None) -> None:
            super().__init__()
            self.name = name

    class Selected(Message):
        """A row was double-clicked."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(
        self,
        now: Callable[[], float],
        *,
        root: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._now = now
        self._root = root
        self._rows: dict[str, _Row] = {}
        self._order: list[str] = []
        """Every service, in definition order."""
        self._visible: list[str] = []
        self._index: dict[str, int] = {}
        self._cursor: str | None = None
        self._filter = ""
        self._failing_only = False
        self._sort: str | None = None
        self._reverse = False
        self._blocking: set[str] = set()
        self._layout: list[tuple[Column, int, int]] = []
        self._layout_width = -1
        self._row_styles: dict[str, Style] | None = None
        self._header: Strip | None = None
        self.repaints = 0
        """Row renders so far (each a changed visible row): for benchmarks and tests."""
        self.updates = 0
        """Batches of row updates applied so far (`update_rows` calls)."""
        self.rebuilds = 0
        """Times the rows shown were recomputed (rows set, filter, sort) so far."""
        self.painted_rebuild = 0
        """`rebuilds` when a line was last rendered: once equal, the screen shows the latest
        filter or sort (a rebuild refreshes the whole table, and Textual renders a widget's
        pending refreshes together)."""

    # -- public API -------------------------------------------------------------------

    @property
    def cursor_name(self) -> str | None:
        """The highlighted service, or None when no row is shown."""
        return self._cursor

    @property
    def visible_names(self) -> list[str]:
        """The names of the rows shown, top to bottom (after filter and sort)."""
        return list(self._visible)

    @property
    def filter_text(self) -> str:
        """The name filter in effect ('' for none)."""
        return self._filter

    @property
    def failing_only(self) -> bool:
        """Only failing services are shown."""
        return self._failing_only

    @property
    def sort_column(self) -> tuple[str | None, bool]:
        """The column sorted by (None: definition order), and whether reversed."""
        return self._sort, self._reverse

    def snapshot(self, name: str) -> ServiceSnapshot | None:
        """The snapshot a row shows, or None for an unknown name."""
        row = self._rows.get(name)
        return row.snapshot if row else None

    def painted(self, name: str) -> ServiceSnapshot | None:
        """The snapshot row `name` was last rendered from (None: not rendered yet).

        It lags `snapshot(name)` until the row's line is redrawn: benchmarks and tests
        compare the two to tell when a change reached the screen.
        """
        row = self._rows.get(name)
        return row.painted if row else None

    def set_rows(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Show these services (replacing any), in this order."""
        self._rows = {snap.name: _Row(snap) for snap in snapshots}
        for row in self._rows.values():
            self._note_error(row)
        self._order = list(self._rows)
        self._header = None
        self._rebuild()

    def update_rows(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Apply new snapshots; redraw only the visible rows that changed."""
        self.updates += 1
        changed: list[str] = []
        regroup = False
        for snap in snapshots:
            row = self._rows.get(snap.name)
            if row is None:
                continue
            if self._failing_only and row.snapshot.is_failing != snap.is_failing:
                regroup = True
            row.snapshot = snap
            row.version += 1
            self._note_error(row)
            changed.append(snap.name)
        if not changed:
            return
        if regroup or (self._sort not in (None, "name")):
            before = self._visible
            self._rebuild(keep_scroll=True)
            if self._visible == before:
                self._refresh_names(changed)
            return
        self._refresh_names(changed)

    def set_filter(self, text: str | None = None, failing_only: bool | None = None) -> None:
        """Show only services whose name contains `text` (any case), and/or failing ones."""
        if text is not None:
            self._filter = text.strip().lower()
        if failing_only is not None:
            self._failing_only = failing_only
        self._rebuild()

    def sort_by(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort by a column (None: definition order); the cursor stays on its service.

        Raises:
            KeyError: no column has that key.
        """
        if column_key is not None:
            sort_key(column_key)
        self._sort, self._reverse = column_key, reverse
        self._header = None
        self._rebuild()

    def set_blocking(self, name: str, blocking: bool) -> None:
        """Mark a blocking stop of `name` in flight (its state shows `stopping…`)."""
        if blocking:
            self._blocking.add(name)
        else:
            self._blocking.discard(name)
        self._refresh_names([name])

    def move_cursor(self, name: str | None) -> None:
        """Highlight service `name` (scrolling it into view); unknown or hidden: no change."""
        if name is None or name not in self._index or name == self._cursor:
            return
        old = self._cursor
        self._cursor = name
        self._refresh_names([n for n in (old, name) if n])
        self._scroll_to_cursor()
        self.post_message(self.Highlighted(name))

    def tick(self) -> None:
        """Redraw the rows whose countdown text changed (call every half second)."""
        now = self._now()
        top = round(self.scroll_offset.y)
        for name in self._visible[top : top + self.size.height]:
            row = self._rows[name]
            next_at = row.snapshot.status.next_loop_at
            if (
                next_at is not None
                and row.cache_key
                and row.cache_key[2] != fmt.countdown(next_at, now)
            ):
                self.refresh_lines(self._index[name] + 1)

    # -- rendering --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        self.painted_rebuild = self.rebuilds
        width = self.size.width
        if width != self._layout_width:
            self._layout = layout(width, self._name_width())
            self._layout_width = width
            self._header = None
        if y == 0:
            if self._header is None:
                self._header = self._render_header(width)
            return self._header
        index = round(self.scroll_offset.y) + y - 1
        if index >= len(self._visible):
            return Strip.blank(width, self.rich_style)
        name = self._visible[index]
        row = self._rows[name]
        next_text = fmt.countdown(row.snapshot.status.next_loop_at, self._now())
        key = (row.version, name == self._cursor, next_text, width, name in self._blocking)
        if row.cache_key != key or row.strip is None:
            row.strip = self._render_row(row, key[1], next_text, width)
            row.cache_key = key
            row.painted = row.snapshot
            self.repaints += 1
        return row.strip

    def _styles(self) -> dict[str, Style]:
        if self._row_styles is None:
            self._row_styles = {
                name: self.get_component_rich_style(f"service-table--{name}", partial=True)
                for name in _STYLE_NAMES
            }
        return self._row_styles

    def _render_header(self, width: int) -> Strip:
        styles = self._styles()
        text = Text(no_wrap=True, overflow="crop", end="")
        for column, x, cells in self._layout:
            title = column.title
            if column.key == self._sort:
                title += " ▼" if not self._reverse else " ▲"
            self._place(text, x, Text(title), cells, column.right)
        return self._to_strip(text, width, styles["header"])

    def _render_row(self, row: _Row, cursor: bool, next_text: str, width: int) -> Strip:
        styles = self._styles()
        snap = row.snapshot
        status = snap.status
        text = Text(no_wrap=True, overflow="crop", end="")
        for column, x, cells in self._layout:
            key = column.key
            style = ""
            if key == "name":
                value = snap.name
            elif key == "kind":
                value, style = fmt.kind_cell(snap), "dim"
            elif key == "enabled":
                value, style = fmt.enabled_cell(snap)
            elif key == "state":
                value, style = fmt.state_cell(snap, snap.name in self._blocking)
            elif not snap.is_loop and key in ("loops", "errors", "overruns", "last"):
                value, style = "—", "dim"
            elif key == "loops":
                value = fmt.count(status.loop_count)
            elif key == "errors":
                value = fmt.count(status.error_count)
                style = (
                    "failing"
                    if status.consecutive_errors
                    else ("dim" if not status.error_count else "")
                )
            elif key == "overruns":
                value = fmt.count(status.overrun_count)
                style = "paused" if status.overrun_count else "dim"
            elif key == "last":
                value = fmt.duration(status.last_duration)
            elif key == "next":
                value, style = next_text, "dim"
            elif key == "every":
                value, style = fmt.interval(status.loop_seconds), "dim"
            elif snap.settings_error is None and _stall_is_latest(snap):
                assert snap.stall is not None
                value, style = fmt.stall_line(snap.stall, self._root), "paused"
            elif snap.settings_error is not None:
                # The variable and its value first: the cell is narrow, and the model's
                # name ("invalid settings for ...Settings") says least.
                problems = _SETTINGS_ERROR_HEAD.sub("", snap.settings_error, count=1)
                value, style = fmt.safe_line(problems, 300), "error"
            else:
                value, style = fmt.safe_line(row.error_summary, 300), "error"
            cell = Text(value, style=styles.get(style, ""))
            self._place(text, x, cell, cells, column.right)
        return self._to_strip(text, width, styles["cursor"] if cursor else None)

    @staticmethod
    def _place(line: Text, x: int, cell: Text, cells: int, right: bool) -> None:
        pad = x - line.cell_len
        if pad > 0:
            line.append(" " * pad)
        cell.truncate(cells, overflow="ellipsis")
        if right:
            line.append(" " * (cells - cell.cell_len))
        line.append_text(cell)

    def _to_strip(self, text: Text, width: int, row_style: Style | None) -> Strip:
        text.truncate(width, overflow="crop", pad=True)
        base = self.rich_style
        if row_style is not None:
            base = base + row_style
        segments = [
            Segment(seg.text, base + seg.style if seg.style else base)
            for seg in text.render(self.app.console)
            if seg.text
        ]
        return Strip(segments, width)

    def _name_width(self) -> int:
        return max((len(name) for name in self._order), default=0) + 1

    def _note_error(self, row: _Row) -> None:
        error = row.snapshot.status.last_error
        if error is None:
            row.error_id, row.error_summary = 0, ""
        elif id(error) != row.error_id:
            # ErrorInfo.summary splits the whole message; do it once per error, on a prefix.
            row.error_id = id(error)
            row.error_summary = fmt.safe_line(f"{error.type_name}: {error.message[:2000]}", 300)

    # -- machinery --------------------------------------------------------------------

    def _rebuild(self, keep_scroll: bool = False) -> None:
        self.rebuilds += 1
        names = self._order
        if self._sort is not None:
            key = sort_key(self._sort)
            names = sorted(names, key=lambda n: key(self._rows[n].snapshot), reverse=self._reverse)
        needle = self._filter
        if needle or self._failing_only:
            names = [
                n
                for n in names
                if needle in n.lower()
                and (not self._failing_only or self._rows[n].snapshot.is_failing)
            ]
        old_index = self._index.get(self._cursor, 0) if self._cursor else 0
        self._visible = names
        self._index = {name: i for i, name in enumerate(names)}
        self.virtual_size = Size(self.size.width, len(names) + 1)
        previous = self._cursor
        if self._cursor not in self._index:
            self._cursor = names[min(old_index, len(names) - 1)] if names else None
        self.refresh()
        if self._cursor is not None and (not keep_scroll or self._cursor != previous):
            self._scroll_to_cursor()
        if self._cursor != previous:
            self.post_message(self.Highlighted(self._cursor))

    def _refresh_names(self, names: Iterable[str]) -> None:
        top = round(self.scroll_offset.y)
        bottom = top + self.size.height
        for name in names:
            index = self._index.get(name)
            if index is not None and top <= index < bottom:
                self.refresh_lines(index + 1)

    def _scroll_to_cursor(self) -> None:
        index = self._index.get(self._cursor or "")
        if index is None:
            return
        rows = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + rows:
            self.scroll_to(y=index - rows + 1, animate=False, immediate=True)

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._row_styles = None
        self._header = None
        for row in self._rows.values():
            row.cache_key = ()

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._visible) + 1)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_at(event.x)
            return
        index = round(self.scroll_offset.y) + event.y - 1
        if 0 <= index < len(self._visible):
            name = self._visible[index]
            self.move_cursor(name)
            if event.chain >= 2:
                self.post_message(self.Selected(name))

    def _sort_at(self, x: int) -> None:
        for column, left, cells in self._layout:
            if left <= x < left + cells + 1:
                if self._sort == column.key:
                    if self._reverse:
                        self.sort_by(None)
                    else:
                        self.sort_by(column.key, reverse=True)
                else:
                    self.sort_by(column.key)
                return

    def action_cursor(self, delta: int) -> None:
        self._step_cursor(delta)

    def action_page(self, direction: int) -> None:
        self._step_cursor(direction * self._page())

    def action_edge(self, direction: int) -> None:
        if self._visible:
            self.move_cursor(self._visible[0 if direction < 0 else -1])

    def _step_cursor(self, delta: int) -> None:
        if not self._visible:
            return
        index = self._index.get(self._cursor or "", 0)
        index = max(0, min(len(self._visible) - 1, index + delta))
        self.move_cursor(self._visible[index])


_SETTINGS_ERROR_HEAD = re.compile(r"^invalid settings for \w+: ")


def _stall_is_latest(snap: ServiceSnapshot) -> bool:
    """The service blocked the event loop after its last error (or it has none)."""
    stall, error = snap.stall, snap.status.last_error
    if stall is None:
        return False
    return error is None or (stall.when is not None and stall.when >= error.when)
