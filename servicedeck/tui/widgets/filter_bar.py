"""The filter box: `/` opens it, typing filters the table by name, enter keeps the filter."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input

__all__ = ["FilterBar"]


class FilterBar(Input):
    """A one-line box for the name filter, hidden until `open()`.

    While it is shown, it posts `FilterChanged` as the text changes, and `Closed` when
    enter keeps the filter; it knows nothing of the table (the app passes the text on).
    """

    DEFAULT_CSS = """
    FilterBar {
        display: none;
        &.-shown { display: block; }
    }
    """

    shown: var[bool] = var(False, toggle_class="-shown", init=False)
    """The box is on the screen."""

    @dataclass
    class FilterChanged(Message):
        """The filter's text changed; a burst of changes (a paste) is one message."""

        bar: FilterBar
        text: str
        """The filter, as typed."""

        @property
        def control(self) -> FilterBar:
            """The filter bar (for `@on(..., selector)`)."""
            return self.bar

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FilterBar.FilterChanged) and message.bar is self.bar

    @dataclass
    class Closed(Message):
        """Enter closed the box, keeping the filter."""

        bar: FilterBar

        @property
        def control(self) -> FilterBar:
            """The filter bar (for `@on(..., selector)`)."""
            return self.bar

    def __init__(self, *, id: str | None = None) -> None:
        """Args:
        id: the widget's id.
        """
        super().__init__(placeholder="filter by name  (enter keeps it, esc clears it)", id=id)

    def open(self, text: str) -> None:
        """Show the box with `text` in it, focused at once."""
        self.value = text
        self.shown = True
        # Focus now, not on a later turn as `focus()` would: keys typed right after `/`
        # are already on their way, and each must find the box focused.
        self.screen.set_focus(self)

    def clear(self) -> None:
        """Hide the box and empty it."""
        self.shown = False
        self.value = ""

    def watch_value(self, value: str) -> None:
        # Hidden, it changes nothing: `open()` fills it, and keys typed together with an
        # esc that closed it may still arrive.
        if self.shown:
            self.post_message(self.FilterChanged(self, value))

    def on_mount(self) -> None:
        if self.app.is_headless:
            self.cursor_blink = False  # a blinking cursor would make screenshots differ

    @on(Input.Submitted)
    def _keep(self, event: Input.Submitted) -> None:
        event.stop()
        self.shown = False
        self.post_message(self.Closed(self))
