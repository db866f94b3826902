"""`ConnectionBanner`: a line that says the services' process cannot be reached now."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

__all__ = ["ConnectionBanner"]


class ConnectionBanner(Widget):
    """Shown while a process that runs some of the services cannot be reached (a console
    attached to another process); hidden otherwise. Set `reasons` (one per process, the
    control's `unreachable`)."""

    DEFAULT_CSS = """
    ConnectionBanner {
        display: none;
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $error;
        color: $text;
        &.-shown { display: block; }
    }
    """

    reasons: reactive[tuple[str, ...]] = reactive[tuple[str, ...]](())
    """Why each unreachable process cannot be reached (empty: the banner is hidden)."""

    def watch_reasons(self, reasons: tuple[str, ...]) -> None:
        self.set_class(bool(reasons), "-shown")

    def render(self) -> RenderableType:
        text = Text(no_wrap=False, overflow="ellipsis")
        for index, reason in enumerate(self.reasons):
            if index:
                text.append("\n")
            text.append("⚠ ", "bold")
            text.append(reason)
        if self.reasons:
            text.append(" · retrying; the grey rows show the last state seen", "italic")
        return text
