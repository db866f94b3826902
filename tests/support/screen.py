"""What a console under test shows, read through Textual's public API."""

from __future__ import annotations

from textual.app import App
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget

from servicedeck.tui import ServiceDeckApp


def row_text(app: ServiceDeckApp, name: str) -> str:
    """The text of the table row that shows service `name`, as drawn."""
    table = app.table
    index = table.visible_names.index(name)
    top = round(table.scroll_offset.y)
    assert top <= index < top + table.size.height - 1, f"{name} is not on the screen"
    return table.render_line(index - top + 1).text


def notifications(app: App[object]) -> list[str]:
    """The messages of the notifications on the screen (its toasts), oldest first."""
    messages = []
    for toast in app.screen.query("Toast"):
        content = toast.render()
        assert isinstance(content, Content)
        messages.append(content.plain)
    return messages


def widget_text(widget: Widget) -> str:
    """The lines a (leaf) widget draws now, as plain text, trailing spaces removed."""
    width, height = widget.size
    lines = widget.render_lines(Region(0, 0, width, height))
    return "\n".join(strip.text.rstrip() for strip in lines)
