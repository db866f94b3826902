"""`TextLines`: a Rich `Text` drawn line by line, so a change redraws only its lines.

A `Static` given new text renders all of it again and repaints its whole region: the
detail panel's head (a dozen lines) changed at every refresh for a busy service, for
the one or two lines that say its counters. This widget keeps each line of the text
with the strips it was drawn as; an update draws the lines that changed and repaints
only their rows, and asks for a layout pass only when its number of rows changes.

It draws what a `Static` draws, cell for cell: lines wrap at the widget's width, and
each cell carries its place in the whole text, which mouse selection reads, and a
selection is drawn in its style. A long text (a traceback) is drawn whole, as a `Static`
draws it, and drawn whole again at each update.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

__all__ = ["TextLines"]


class TextLines(Widget):
    """Shows a `Text` (see the module docstring); `update()` it with new text."""

    DEFAULT_CSS = """
    TextLines {
        height: auto;
    }
    """

    LINE_BY_LINE = 64
    """Texts of up to this many lines are drawn (and updated) line by line."""

    def __init__(self, text: Text | str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._text = Text(text) if isinstance(text, str) else text
        self._lines = self._split(self._text)
        self._drawn: list[list[Strip]] | None = None
        """The strips of each line, as drawn at `_width`; None: drawn whole."""
        self._rows: list[Strip] = []
        """What is drawn, row by row."""
        self._width = -1
        """The width `_rows` were drawn at; -1: to be drawn."""

    @property
    def content(self) -> Text:
        """The text shown (the object given to `update()`, as `Static.content` is)."""
        return self._text

    def update(self, text: Text | str = "") -> None:
        """Show `text`: only the lines that changed are drawn and repainted; the widget
        is laid out again only when its number of rows changes."""
        self._text = Text(text) if isinstance(text, str) else text
        old, self._lines = self._lines, self._split(self._text)
        drawn = self._drawn
        if self._width < 0 or drawn is None or len(old) != len(self._lines):
            self._redraw()
            return
        y = 0
        repaint = []
        for index, (before, after) in enumerate(zip(old, self._lines, strict=True)):
            rows = len(drawn[index])
            if before != after:
                strips = self._draw_line(index, self._width)
                if len(strips) != rows:
                    self._redraw()  # it wraps onto more (or fewer) rows now
                    return
                drawn[index] = strips
                repaint.append(Region(0, y, self._width, rows))
            y += rows
        if repaint:
            self._rows = [strip for strips in drawn for strip in strips]
            self.refresh(*repaint)

    # -- Textual ----------------------------------------------------------------------

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._layout(width)
        return len(self._rows)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        self._layout(width)
        if 0 <= y < len(self._rows):
            return self._rows[y]
        return Strip.blank(width, self.rich_style)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract(self._text.plain), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self._width = -1  # drawn again, with the selection's style
        super().selection_updated(selection)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._width = -1  # drawn again in the new styles (a theme, a class)

    # -- machinery --------------------------------------------------------------------

    @staticmethod
    def _split(text: Text) -> list[Text]:
        return list(text.split("\n", allow_blank=True))

    def _redraw(self) -> None:
        """Draw everything again, and lay the widget out: its height may change."""
        self._width = -1
        self.refresh(layout=True)

    def _layout(self, width: int) -> None:
        if width == self._width:
            return
        self._width = width
        if len(self._lines) > self.LINE_BY_LINE:
            self._drawn = None
            self._rows = self._draw(self._text, width)
        else:
            self._drawn = [self._draw_line(index, width) for index in range(len(self._lines))]
            self._rows = [strip for strips in self._drawn for strip in strips]

    def _draw_line(self, index: int, width: int) -> list[Strip]:
        """Line `index`, drawn as that line of a text whose lines before it are blank
        (they cost next to nothing): its cells say where they are in the whole text."""
        text = Text("\n" * index, end="")
        text.append_text(self._lines[index])
        return self._draw(text, width)[index:]

    def _draw(self, text: Text, width: int) -> list[Strip]:
        """`text` wrapped at `width`, as a `Static` draws it."""
        if width <= 0:
            return []
        content = Content.from_rich_text(text, self.app.console)
        return Visual.to_strips(self, content, width, None, self.visual_style)
