"""The service table: one row per service, drawn with Textual's line API.

Textual's DataTable re-renders every visible cell after any `update_cell` (about 86 ms a
repaint at 500 rows), which cannot keep up with hundreds of services changing many
times a second. This widget keeps one row model per service, caches each row's rendered
`Strip` by (version, cursor, countdown, width, blocking), and refreshes only the lines
whose row changed (`refresh_lines`): a burst of changes costs one render of each changed
visible row, nothing else.

The table owns what the user does to it: the cursor (a service name, not a row index:
it stays on its service when rows are updated, sorted or filtered), the name filter and
"failing only", the sort, and the count typed for the next `n`. It draws the columns it
is given (`columns.COLUMNS`); each column renders its own cells.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt
from servicedeck.tui import keys
from servicedeck.tui.widgets.columns import COLUMNS, CellContext, Column, sort_key
from servicedeck.tui.widgets.rows import STYLE_NAMES, RowPainter

__all__ = ["ServiceTable"]


@dataclass(slots=True)
class _Row:
    snapshot: ServiceSnapshot
    version: int = 0
    cache_key: tuple[object, ...] = field(default=())
    strip: Strip | None = None


class ServiceTable(ScrollView, can_focus=True):
    """A live table of service snapshots, updated row by row (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = list(keys.TABLE_BINDINGS)

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"service-table--{name}" for name in STYLE_NAMES}

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
        & > .service-table--unreachable { color: $text-disabled; text-style: italic; }
        & > .service-table--cursor-error { color: $foreground; text-style: bold underline; }
    }
    """

    cursor_name: var[str | None] = var[str | None](None, init=False)
    """The highlighted service (None when no row is shown). Set it to move the cursor; a
    name that is not shown leaves it where it is."""
    filter_text: var[str] = var("", init=False)
    """Only services whose name contains it (any case) are shown ('' for all)."""
    failing_only: var[bool] = var(False, init=False)
    """Only failing services are shown."""
    sort_column: var[tuple[str | None, bool]] = var[tuple[str | None, bool]](
        (None, False), init=False
    )
    """The column the rows are sorted by (None: the services' own order), and whether
    reversed. Setting an unknown column raises `KeyError`."""
    count: var[str] = var("", init=False)
    """The count typed for the next `n` (`5n` steps five loops); '' for none."""

    @dataclass
    class Highlighted(Message):
        """The cursor moved to another service (or to none)."""

        table: ServiceTable
        name: str | None
        """The highlighted service."""

        @property
        def control(self) -> ServiceTable:
            """The table (for `@on(..., selector)`)."""
            return self.table

    @dataclass
    class Selected(Message):
        """A row was double-clicked."""

        table: ServiceTable
        name: str
        """The service of that row."""

        @property
        def control(self) -> ServiceTable:
            """The table (for `@on(..., selector)`)."""
            return self.table

    @dataclass
    class ViewChanged(Message):
        """What the table shows or is typing changed: the rows shown (a filter, failing
        only), the sort, or the count. Read them from the table; a burst is one message."""

        table: ServiceTable

        @property
        def control(self) -> ServiceTable:
            """The table (for `@on(..., selector)`)."""
            return self.table

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ServiceTable.ViewChanged) and message.table is self.table

    def __init__(
        self,
        now: Callable[[], float],
        *,
        root: str | None = None,
        columns: Sequence[Column] = COLUMNS,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Args:
        now: the clock the snapshots' times are on (for countdowns).
        root: paths under it are shown relative to it.
        columns: the columns, left to right.
        name: the widget's name.
        id: the widget's id.
        classes: the widget's CSS classes.
        """
        super().__init__(name=name, id=id, classes=classes)
        self._now = now
        self._root = root
        self._columns = tuple(columns)
        self._rows: dict[str, _Row] = {}
        self._order: list[str] = []
        """Every service, in definition order."""
        self._visible: list[str] = []
        self._index: dict[str, int] = {}
        self._blocking: set[str] = set()
        self._painter: RowPainter | None = None
        """Draws the lines for the current width and styles (None: make a new one)."""
        self._header: Strip | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The names of every row, in the order they were given (before filter and sort)."""
        return list(self._order)

    @property
    def root(self) -> str | None:
        """Paths under it are shown relative to it."""
        return self._root

    @root.setter
    def root(self, root: str | None) -> None:
        self._root = root
        for row in self._rows.values():
            row.version += 1
        self.refresh()

    def show_columns(self, columns: Sequence[Column]) -> None:
        """Draw these columns from now on (e.g. add the PROCESS column)."""
        self._columns = tuple(columns)
        self._painter = None
        self._header = None
        for row in self._rows.values():
            row.version += 1
        self.refresh()

    @property
    def visible_names(self) -> list[str]:
        """The names of the rows shown, top to bottom (after filter and sort)."""
        return list(self._visible)

    def snapshot(self, name: str) -> ServiceSnapshot | None:
        """The snapshot a row shows, or None for an unknown name."""
        row = self._rows.get(name)
        return row.snapshot if row else None

    def name_at(self, y: int) -> str | None:
        """The service drawn on line `y` of the widget (None: the header, or no row)."""
        index = round(self.scroll_offset.y) + y - 1
        if y < 1 or not 0 <= index < len(self._visible):
            return None
        return self._visible[index]

    def set_rows(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Show these services (replacing any), in this order."""
        self._rows = {snap.name: _Row(snap) for snap in snapshots}
        self._order = list(self._rows)
        # The name column fits the longest name: lay the columns out again.
        self._painter = None
        self._header = None
        self._rebuild()

    def update_rows(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Apply new snapshots; redraw only the visible rows that changed."""
        changed: list[str] = []
        regroup = False
        for snap in snapshots:
            row = self._rows.get(snap.name)
            if row is None:
                continue
            if row.snapshot == snap:
                continue  # nothing to draw: the row keeps its strip
            if self.failing_only and row.snapshot.is_failing != snap.is_failing:
                regroup = True
            row.snapshot = snap
            row.version += 1
            changed.append(snap.name)
        if not changed:
            return
        if regroup or self.sort_column[0] not in (None, "name"):
            before = self._visible
            self._rebuild(keep_scroll=True)
            if self._visible == before:
                self._refresh_names(changed)
            return
        self._refresh_names(changed)

    def set_filter(self, text: str | None = None, failing_only: bool | None = None) -> None:
        """Show only services whose name contains `text` (any case), and/or failing ones.

        None leaves that part as it is; both change together, in one rebuild.
        """
        if text is not None:
            self.set_reactive(ServiceTable.filter_text, self.validate_filter_text(text))
        if failing_only is not None:
            self.set_reactive(ServiceTable.failing_only, failing_only)
        self._rebuild()

    def sort_by(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort by a column (None: definition order); the cursor stays on its service.

        Raises:
            KeyError: no column has that key.
        """
        self.sort_column = (column_key, reverse)

    def set_blocking(self, name: str, blocking: bool) -> None:
        """Mark a blocking stop of `name` in flight (its state shows `stopping…`)."""
        if blocking:
            self._blocking.add(name)
        else:
            self._blocking.discard(name)
        self._refresh_names([name])

    def move_cursor(self, name: str | None) -> None:
        """Highlight service `name` (scrolling it into view); unknown or hidden: no change."""
        self.cursor_name = name

    def take_count(self) -> int:
        """The count typed for the next `n` (1 when none), and clear it."""
        count, self.count = self.count, ""
        return max(1, int(count)) if count else 1

    def tick(self) -> None:
        """Redraw the rows whose countdown, or running loop's time, changed as drawn (the
        app calls this at each refresh, with the changes); the rest are not touched."""
        now = self._now()
        top = round(self.scroll_offset.y)
        for name in self._visible[top : top + self.size.height]:
            row = self._rows[name]
            status = row.snapshot.status
            next_at, started = status.next_loop_at, status.loop_started_at
            if not row.cache_key or (next_at is None and started is None):
                continue
            if row.cache_key[2] != fmt.countdown(next_at, now) or row.cache_key[
                5
            ] != fmt.running_for(started, now):
                self.refresh_lines(self._index[name] + 1)

    # -- validators and watchers --------------------------------------------------------

    def validate_cursor_name(self, name: str | None) -> str | None:
        if name is None or name not in self._index:
            return self.cursor_name
        return name

    def watch_cursor_name(self, old: str | None, new: str | None) -> None:
        self._refresh_names([n for n in (old, new) if n])
        self._scroll_to_cursor()
        self.post_message(self.Highlighted(self, new))

    def validate_filter_text(self, text: str) -> str:
        return text.strip().lower()

    def watch_filter_text(self) -> None:
        self._rebuild()

    def watch_failing_only(self) -> None:
        self._rebuild()

    def validate_sort_column(self, value: tuple[str | None, bool]) -> tuple[str | None, bool]:
        column_key, _ = value
        if column_key is not None:
            sort_key(column_key, self._columns)  # raises KeyError for an unknown column
        return value

    def watch_sort_column(self) -> None:
        self._header = None
        self._rebuild()

    def watch_count(self) -> None:
        self.post_message(self.ViewChanged(self))

    # -- rendering --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        painter = self._painter
        if painter is None or painter.width != width:
            painter = self._painter = self._make_painter(width)
            self._header = None
        if y == 0:
            if self._header is None:
                self._header = painter.header(*self.sort_column)
            return self._header
        name = self.name_at(y)
        if name is None:
            return Strip.blank(width, self.rich_style)
        row = self._rows[name]
        status, now = row.snapshot.status, self._now()
        countdown = fmt.countdown(status.next_loop_at, now)
        running = fmt.running_for(status.loop_started_at, now)
        key = (
            row.version,
            name == self.cursor_name,
            countdown,
            width,
            name in self._blocking,
            running,
        )
        if row.cache_key != key or row.strip is None:
            context = CellContext(
                countdown=countdown, blocking=key[4], root=self._root, running=running
            )
            row.strip = painter.row(row.snapshot, context, cursor=key[1])
            row.cache_key = key
        return row.strip

    def _make_painter(self, width: int) -> RowPainter:
        styles = {
            name: self.get_component_rich_style(f"service-table--{name}", partial=True)
            for name in STYLE_NAMES
        }
        name_width = max((len(name) for name in self._order), default=0) + 1
        return RowPainter(self._columns, width, name_width, styles, self.rich_style)

    # -- machinery --------------------------------------------------------------------

    def _rebuild(self, keep_scroll: bool = False) -> None:
        names = self._order
        sort, reverse = self.sort_column
        if sort is not None:
            key = sort_key(sort, self._columns)
            names = sorted(names, key=lambda n: key(self._rows[n].snapshot), reverse=reverse)
        needle = self.filter_text
        failing_only = self.failing_only
        if needle or failing_only:
            names = [
                n
                for n in names
                if needle in n.lower() and (not failing_only or self._rows[n].snapshot.is_failing)
            ]
        cursor = self.cursor_name
        old_index = self._index.get(cursor, 0) if cursor else 0
        self._visible = names
        self._index = {name: i for i, name in enumerate(names)}
        self.virtual_size = Size(self.size.width, len(names) + 1)
        self.refresh()
        if cursor not in self._index:
            # The highlighted service is hidden: highlight the row now where it was.
            new = names[min(old_index, len(names) - 1)] if names else None
            self.set_reactive(ServiceTable.cursor_name, new)
            self.post_message(self.Highlighted(self, new))
        if self.cursor_name is not None and (not keep_scroll or self.cursor_name != cursor):
            self._scroll_to_cursor()
        self.post_message(self.ViewChanged(self))

    def _refresh_names(self, names: Iterable[str]) -> None:
        top = round(self.scroll_offset.y)
        bottom = top + self.size.height
        for name in names:
            index = self._index.get(name)
            if index is not None and top <= index < bottom:
                self.refresh_lines(index + 1)

    def _scroll_to_cursor(self) -> None:
        index = self._index.get(self.cursor_name or "")
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

    def _step_cursor(self, delta: int) -> None:
        if not self._visible:
            return
        index = self._index.get(self.cursor_name or "", 0)
        index = max(0, min(len(self._visible) - 1, index + delta))
        self.cursor_name = self._visible[index]

    def _sort_at(self, x: int) -> None:
        column = self._painter.column_at(x) if self._painter else None
        if column is None:
            return
        sort, reverse = self.sort_column
        if sort != column.key:
            self.sort_by(column.key)
        elif not reverse:
            self.sort_by(column.key, reverse=True)
        else:
            self.sort_by(None)

    # -- handlers ---------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._painter = None
        self._header = None
        for row in self._rows.values():
            row.cache_key = ()

    def on_show(self) -> None:
        # An enlarged panel hid the table, and Textual took its focus (a hidden widget
        # keeps none) without giving it back: the cursor, page and count keys are its
        # bindings, so take it back as it shows again, unless another widget has it.
        if self.screen.focused is None:
            self.screen.set_focus(self)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._visible) + 1)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self._sort_at(event.x)
            return
        name = self.name_at(event.y)
        if name is not None:
            self.cursor_name = name
            if event.chain >= 2:
                self.post_message(self.Selected(self, name))

    # -- actions ----------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        """Move the cursor `delta` rows down (up when negative)."""
        self._step_cursor(delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor a page down (1) or up (-1)."""
        self._step_cursor(direction * self._page())

    def action_edge(self, direction: int) -> None:
        """Move the cursor to the last row (1) or the first (-1)."""
        if self._visible:
            self.cursor_name = self._visible[0 if direction < 0 else -1]

    def action_count_digit(self, digit: str) -> None:
        """A digit of the count for the next n (`5n`); a leading 0 is no count."""
        if self.count or digit != "0":
            self.count = (self.count + digit)[-4:]

    def action_sort_cycle(self, delta: int) -> None:
        """Sort by the next column shown (`delta` 1) or the previous one (-1); past either
        end, the services' own order."""
        shown = [column.key for column, _, _ in self._painter.layout] if self._painter else []
        keys: list[str | None] = [None, *(shown or [c.key for c in self._columns])]
        current = self.sort_column[0]
        index = keys.index(current) if current in keys else 0
        self.sort_by(keys[(index + delta) % len(keys)])

    def action_sort_invert(self) -> None:
        """Invert the sort order (sorting by name first if the rows are not sorted)."""
        column, reverse = self.sort_column
        self.sort_by(column or "name", not reverse if column else False)

    def action_failing_only(self) -> None:
        """Show only the failing services, or all again."""
        self.failing_only = not self.failing_only
