"""The log viewer: one service's captured log lines, followed, searched and filtered.

Modelled on Textual's `Log` and `RichLog` (`auto_scroll`): it **follows** (stays on
the last line as lines arrive) until you move up, and follows again with End or G, or
once you are back on the last line. `/` searches (matches highlighted, n and N go from
one to the next), `v` sets the least level shown (DEBUG asks the service to capture its
debug lines: `LevelChanged`), `w` wraps long lines. One line is selected (a log record
with its traceback); the app's copy key copies it.

`LogLines` is a `ScrollView` that draws only the lines on screen (`render_line`) from
rows kept per record: a new record adds its rows, nothing is laid out again, and the
records shown once are kept (up to `MAX_RECORDS`) even after the service's capture ring
drops them. Tracebacks show paths relative to the process's root, servicedeck's own
frames hidden, as the Error tab shows them.

The keys are `keys.LOG_KEYS`, bound on `LogView`: they act only while it has focus.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

from servicedeck.control import LogLine, ProcessInfo
from servicedeck.tui import format as fmt
from servicedeck.tui import keys

__all__ = ["LEVELS", "LEVEL_STYLES", "LogLines", "LogView", "log_entry_text"]

LEVELS: tuple[int, ...] = (logging.INFO, logging.WARNING, logging.ERROR, logging.DEBUG)
"""The least levels `v` cycles through, in order."""

LEVEL_STYLES = {
    logging.DEBUG: "dim",
    logging.INFO: "",
    logging.WARNING: "yellow",
    logging.ERROR: "bold red",
    logging.CRITICAL: "bold red reverse",
}
"""The style of a log line's level, here and in the detail panel's recent logs."""
_INDENT = 19
"""Cells before a message: its time (10), a space, its level (7), a space."""
_MESSAGE_LIMIT = 20_000
"""Characters of one record shown; the rest is cut, with a note."""


def log_entry_text(line: LogLine, epoch: float | None, process: ProcessInfo) -> str:
    """The record as plain text: its time, level and message, a traceback with its
    paths as the console shows them. What the copy key copies."""
    message = _message(line.message, process)
    indented = message.replace("\n", "\n" + " " * _INDENT)
    return f"{fmt.session_time(line.at, epoch):>10} {line.level_name:<7} {indented}"


def _message(message: str, process: ProcessInfo) -> str:
    if "Traceback (most recent call last)" in message:
        message, hidden = fmt.clean_traceback(message, process.framework_path, process.root)
        if hidden:
            message += f"\n({hidden} servicedeck frame{'s' if hidden > 1 else ''} hidden)"
    if len(message) > _MESSAGE_LIMIT:
        message = f"{message[:_MESSAGE_LIMIT]}… ({len(message):,} characters)"
    return fmt.safe_text(message).rstrip()


@dataclass(slots=True)
class _Record:
    line: LogLine
    text: Text
    """Its lines (time, level, message; a traceback indented under it)."""
    folded: str
    """The message, case-folded: what a search looks in."""


class LogLines(ScrollView, can_focus=True):
    """The lines of the log viewer (see the module docstring); `LogView` drives it."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-lines--selected",
        "log-lines--match",
        "log-lines--current",
    }
    DEFAULT_CSS = """
    LogLines {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        & > .log-lines--selected { background: $primary 30%; }
        & > .log-lines--match { background: $warning 60%; color: $text; }
        & > .log-lines--current { background: $warning; color: black; text-style: bold; }
        &:focus > .log-lines--selected { background: $primary 50%; }
    }
    """

    MAX_RECORDS: ClassVar[int] = 5_000
    """Records kept per service shown; older ones are dropped."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[_Record] = []
        self.shown: list[int] = []
        """Indexes in `records` of those at or above the least level, in order."""
        self.rows: list[tuple[int, Text]] = []
        """One per line drawn: (position in `shown`, its text)."""
        self.first_row: list[int] = []
        """For each position in `shown`, its first row."""
        self.cursor: int | None = None
        """The selected record: a position in `shown`."""
        self.following = True
        self.wrap = False
        self.level = logging.INFO
        self.search = ""
        """The search text, case-folded (what records are matched with)."""
        self.search_typed = ""
        """The search text as typed."""
        self.matches: list[int] = []
        """Positions in `shown` whose message holds the search text."""
        self.empty = ""
        """What it says while no line is shown."""
        self._strips: dict[int, Strip] = {}
        self._width = 0
        self._match_key: tuple[str, int] | None = None
        self._matches_frozen: frozenset[int] = frozenset()

    # -- the model ----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every record (another service is shown)."""
        self.records.clear()
        self.cursor = None
        self.following = True
        self.rebuild()

    def append(self, records: Sequence[_Record]) -> None:
        """Add records at the end; follows them when following."""
        if len(self.records) + len(records) > self.MAX_RECORDS * 1.2:
            keep = self.MAX_RECORDS - len(records)
            del self.records[: max(0, len(self.records) - keep)]
            self.records.extend(records[-self.MAX_RECORDS :])
            self.rebuild()
            return
        start = len(self.records)
        self.records.extend(records)
        for index in range(start, len(self.records)):
            if self._passes(self.records[index]):
                self._add_shown(index)
        self._sized()
        if self.following:
            self._follow()

    def rebuild(self) -> None:
        """Lay out every row again (level, wrap, width or search changed)."""
        selected = self.selected_record
        self.shown.clear()
        self.rows.clear()
        self.first_row.clear()
        self.matches.clear()
        for index, record in enumerate(self.records):
            if self._passes(record):
                self._add_shown(index)
        self.cursor = None
        if selected is not None and not self.following:
            for position, index in enumerate(self.shown):
                if self.records[index] is selected:
                    self.cursor = position
                    break
        self._sized()
        if self.following or self.cursor is None:
            self._follow()
        else:
            self.show_cursor()

    @property
    def selected_record(self) -> _Record | None:
        """The selected record, if any."""
        if self.cursor is None or not 0 <= self.cursor < len(self.shown):
            return None
        return self.records[self.shown[self.cursor]]

    def _passes(self, record: _Record) -> bool:
        return record.line.level >= self.level

    def _add_shown(self, index: int) -> None:
        record = self.records[index]
        position = len(self.shown)
        self.shown.append(index)
        self.first_row.append(len(self.rows))
        if self.search and self.search in record.folded:
            self.matches.append(position)
        for line in record.text.split("\n", allow_blank=True):
            if self.wrap and self._width > _INDENT + 10 and line.cell_len > self._width:
                # Wrapped under the message, past the time and level.
                head, body = line[:_INDENT], line[_INDENT:]
                parts = body.wrap(
                    self.app.console, self._width - _INDENT, no_wrap=False, overflow="fold"
                )
                for number, part in enumerate(parts):
                    row = head.copy() if number == 0 else Text(" " * _INDENT, end="")
                    row.append_text(part)
                    self.rows.append((position, row))
            else:
                self.rows.append((position, line))

    def _sized(self) -> None:
        self._strips.clear()
        width = self._width if self.wrap else max((t.cell_len for _, t in self.rows), default=0)
        self.virtual_size = Size(width, len(self.rows))
        self.refresh()

    def _follow(self) -> None:
        self.cursor = len(self.shown) - 1 if self.shown else None
        self._strips.clear()
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    # -- moving -------------------------------------------------------------------------

    def move(self, delta: int) -> None:
        """Select the record `delta` records away (clamped); the last one follows."""
        if not self.shown:
            return
        current = len(self.shown) - 1 if self.cursor is None else self.cursor
        self.select(max(0, min(len(self.shown) - 1, current + delta)))

    def select(self, position: int) -> None:
        """Select the record at `position` in `shown`, and scroll to it."""
        self.cursor = position
        self.following = position == len(self.shown) - 1
        self._strips.clear()
        self.show_cursor()
        self.refresh()

    def show_cursor(self) -> None:
        """Scroll so that the selected record is on screen."""
        if self.cursor is None or not self.first_row:
            return
        first = self.first_row[self.cursor]
        last = (
            self.first_row[self.cursor + 1] - 1
            if self.cursor + 1 < len(self.first_row)
            else len(self.rows) - 1
        )
        top, height = round(self.scroll_offset.y), max(1, self.scrollable_content_region.height)
        if first < top:
            self.scroll_to(y=first, animate=False, immediate=True)
        elif last >= top + height:
            self.scroll_to(y=max(first, last - height + 1), animate=False, immediate=True)

    def follow(self) -> None:
        """Go to the last record and follow new ones."""
        self.following = True
        self._follow()
        self.refresh()

    def set_search(self, text: str) -> None:
        """Highlight `text` (case-insensitive); empty: no search."""
        self.search_typed = text
        self.search = text.casefold()
        self.matches = (
            [p for p, i in enumerate(self.shown) if self.search in self.records[i].folded]
            if self.search
            else []
        )
        self._strips.clear()
        self.refresh()

    def next_match(self, direction: int) -> bool:
        """Select the next match after the selected record (`direction` -1: before it),
        wrapping around; False when nothing matches."""
        if not self.matches:
            return False
        current = len(self.shown) if self.cursor is None else self.cursor
        if direction > 0:
            after = [p for p in self.matches if p > current]
            target = after[0] if after else self.matches[0]
        else:
            before = [p for p in self.matches if p < current]
            target = before[-1] if before else self.matches[-1]
        self.following = False
        self.cursor = target
        self._strips.clear()
        self.show_cursor()
        self.refresh()
        return True

    # -- drawing ------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            if self.wrap:
                self.rebuild()
            else:
                self._strips.clear()
        if self.following:
            # Shown (or enlarged) only now: the end it scrolled to was of no height.
            self.call_after_refresh(self._follow)

    def on_mouse_scroll_up(self) -> None:
        self.following = False

    def on_mouse_scroll_down(self) -> None:
        # After the scroll: back on the last line, it follows again.
        self.call_after_refresh(self._check_bottom)

    def _check_bottom(self) -> None:
        if self.is_vertical_scroll_end and not self.following:
            self.follow()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if index >= len(self.rows):
            if index == 0 and self.empty:
                empty = Text(self.empty, "dim", end="")
                empty.stylize_before(style)
                drawn = Strip(empty.render(self.app.console), empty.cell_len)
                return drawn.crop_extend(0, width, style)
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            strip = self._strips[index] = self._render_row(index, scroll_x + width)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _render_row(self, index: int, width: int) -> Strip:
        position, line = self.rows[index]
        text = line.copy()
        if self.search and position in self._match_set:
            current = position == self.cursor
            style = self.get_component_rich_style(
                "log-lines--current" if current else "log-lines--match"
            )
            pattern = re.compile(re.escape(self.search), re.IGNORECASE)
            for match in pattern.finditer(text.plain):
                text.stylize(style, match.start(), match.end())
        if position == self.cursor and (not self.following or self.has_focus):
            text.pad_right(max(0, width - text.cell_len))
            text.stylize(self.get_component_rich_style("log-lines--selected"))
        text.stylize_before(self.rich_style)
        return Strip(text.render(self.app.console), text.cell_len)

    @property
    def _match_set(self) -> frozenset[int]:
        key = (self.search, len(self.matches))
        if self._match_key != key:
            self._match_key = key
            self._matches_frozen = frozenset(self.matches)
        return self._matches_frozen


class LogView(Vertical):
    """One service's log: lines, a status line, and the search box (see the module
    docstring). `show()` it the service's lines as they arrive."""

    BINDINGS: ClassVar[list[BindingType]] = list(keys.LOG_BINDINGS)
    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        #log-status { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
        #log-search { display: none; height: 1; border: none; padding: 0 1; }
        #log-search.-shown { display: block; }
    }
    """

    class LevelChanged(Message):
        """The least level shown changed: DEBUG lines must be captured, or no longer."""

        def __init__(self, name: str, level: int | None) -> None:
            super().__init__()
            self.name = name
            """The service."""
            self.level = level
            """The level to capture from (None: the default)."""

    class Closed(Message):
        """Esc: the user is done with the log viewer (the table takes the keys back)."""

    def __init__(self, process: ProcessInfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._process = process
        self._name: str | None = None
        self._epoch: float | None = None
        self._levels: dict[str, int] = {}
        self._status = ""

    def compose(self) -> ComposeResult:
        yield LogLines(id="log-lines")
        yield Static(id="log-status")
        yield Input(placeholder="search the logs (Enter: next match · Esc: clear)", id="log-search")

    @property
    def lines(self) -> LogLines:
        """The lines widget."""
        return self.query_one(LogLines)

    @property
    def following(self) -> bool:
        """It stays on the last line as lines arrive."""
        return self.lines.following

    @property
    def matches(self) -> int:
        """How many records hold the search text."""
        return len(self.lines.matches)

    @property
    def selected(self) -> LogLine | None:
        """The selected record."""
        record = self.lines.selected_record
        return None if record is None else record.line

    def show(
        self,
        name: str,
        logs: Sequence[LogLine],
        epoch: float | None,
        process: ProcessInfo,
    ) -> None:
        """Show the lines of service `name` (all it has now; only new ones are added)."""
        lines = self.lines
        if name != self._name or process != self._process or epoch != self._epoch:
            self._name, self._process, self._epoch = name, process, epoch
            lines.level = self._levels.get(name, logging.INFO)
            lines.reset()
            new: Sequence[LogLine] = logs
        else:
            new = _after(logs, lines.records[-1].line if lines.records else None)
        if new:
            lines.append([self._record(line) for line in new])
        self._show_status()

    def copy_text(self) -> tuple[str, str] | None:
        """The selected record as text, and what it is; None when there is none."""
        record = self.lines.selected_record
        if record is None or self._name is None:
            return None
        return log_entry_text(record.line, self._epoch, self._process), "the log line"

    def _record(self, line: LogLine) -> _Record:
        message = _message(line.message, self._process)
        text = Text(no_wrap=True, overflow="crop", end="")
        text.append(f"{fmt.session_time(line.at, self._epoch):>10} ", "dim")
        style = LEVEL_STYLES.get(line.level, "")
        text.append(f"{line.level_name:<7} ", style or "dim")
        text.append(message.replace("\n", "\n" + " " * _INDENT), style)
        return _Record(line, text, line.message.casefold())

    def _show_status(self) -> None:
        lines = self.lines
        hidden = len(lines.records) - len(lines.shown)
        level = logging.getLevelName(lines.level)
        empty = f"No log line of {self._name} captured yet." if not lines.records else ""
        if hidden and not lines.shown:
            empty = f"No line at {level} or above; {hidden} below it (v shows them)."
        if empty != lines.empty:
            lines.empty = empty
            lines.refresh()
        status = Text(no_wrap=True, overflow="ellipsis")
        if lines.following:
            status.append("following", "green")
        else:
            at = (lines.cursor or 0) + 1
            status.append(f"line {at} of {len(lines.shown)} · End/G follows", "yellow")
        status.append(f" · from {level} (v)")
        status.append(f" · wrap {'on' if lines.wrap else 'off'} (w)")
        if lines.search:
            found = len(lines.matches)
            status.append(" · ")
            status.append(f"/{lines.search_typed}", "bold")
            if found:
                current = (
                    f"{lines.matches.index(lines.cursor) + 1} of "
                    if lines.cursor in lines.matches
                    else ""
                )
                status.append(f": {current}{found} match{'es' if found != 1 else ''} (n/N)")
            else:
                status.append(": no match", "red")
        else:
            status.append(" · / search")
        status.append(" · y copy · esc back")
        plain = status.plain
        if plain != self._status:
            self._status = plain
            self.query_one("#log-status", Static).update(status)

    # -- keys ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Its bindings are priority bindings: while the search box has focus, leave it
        every key but Esc (`n` or `v` are typed there, not acted on)."""
        return action == "close" or not isinstance(self.screen.focused, Input)

    def action_cursor(self, delta: int) -> None:
        """Select the record `delta` away."""
        lines = self.lines
        if delta < 0:
            lines.following = False
        lines.move(delta)
        if delta < 0:
            lines.following = False
        self._show_status()

    def action_page(self, direction: int) -> None:
        """Up or down a page."""
        lines = self.lines
        height = max(1, lines.scrollable_content_region.height - 1)
        if direction < 0:
            lines.following = False
            lines.scroll_to(y=max(0, lines.scroll_offset.y - height), animate=False)
            lines.move(-height)
            lines.following = False
        else:
            lines.move(height)
        self._show_status()

    def action_first(self) -> None:
        """The first record."""
        lines = self.lines
        if lines.shown:
            lines.select(0)
            lines.following = len(lines.shown) == 1
        self._show_status()

    def action_follow(self) -> None:
        """The last record, following."""
        self.lines.follow()
        self._show_status()

    def action_search(self) -> None:
        """Open the search box."""
        search = self.query_one("#log-search", Input)
        search.add_class("-shown")
        # At once, not on a later turn as `focus()` would: the keys typed next are its.
        self.screen.set_focus(search)

    def action_next_match(self, direction: int) -> None:
        """The next (1) or previous (-1) match."""
        if not self.lines.next_match(direction) and self.lines.search:
            self.notify("No line matches the search.", severity="warning", timeout=2)
        self._show_status()

    def action_cycle_level(self) -> None:
        """The next least level shown; DEBUG asks for it to be captured."""
        lines = self.lines
        level = LEVELS[(LEVELS.index(lines.level) + 1) % len(LEVELS)]
        previous, lines.level = lines.level, level
        if self._name is not None:
            self._levels[self._name] = level
            if level == logging.DEBUG or previous == logging.DEBUG:
                self.post_message(
                    self.LevelChanged(self._name, logging.DEBUG if level == logging.DEBUG else None)
                )
        lines.rebuild()
        self._show_status()

    def action_toggle_wrap(self) -> None:
        """Wrap long lines, or not."""
        lines = self.lines
        lines.wrap = not lines.wrap
        lines.rebuild()
        self._show_status()

    def action_close(self) -> None:
        """Esc: clear the search (and close its box), else hand the keys back."""
        search = self.query_one("#log-search", Input)
        if search.has_class("-shown") or self.lines.search:
            search.remove_class("-shown")
            search.value = ""
            self.lines.set_search("")
            self.screen.set_focus(self.lines)
            self._show_status()
            return
        self.post_message(self.Closed())

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.lines.set_search(event.value)
        self._show_status()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.remove_class("-shown")
        self.screen.set_focus(self.lines)
        self.action_next_match(1)


def _after(logs: Sequence[LogLine], last: LogLine | None) -> Sequence[LogLine]:
    """The lines of `logs` after `last` (all of them when `last` is not among them: the
    capture ring dropped it, or nothing was shown yet)."""
    if last is None:
        return logs
    for index in range(len(logs) - 1, -1, -1):
        if logs[index] == last:
            return logs[index + 1 :]
    return logs
