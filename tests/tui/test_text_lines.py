"""`TextLines` on its own: it draws what a `Static` draws, cell for cell (with each cell's
place in the text, which mouse selection reads), and an update repaints only the rows
of the lines that changed, laying the widget out only when its number of rows changes."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Offset, Region
from textual.selection import Selection
from textual.widgets import Static

from servicedeck.tui.widgets.text_lines import TextLines

pytestmark = pytest.mark.anyio

TEXTS = [
    Text(""),
    Text("one line"),
    Text("a\n"),
    Text("\n\nafter two blank lines"),
    Text.assemble(("State", "dim"), "  ● running\n", ("x" * 150, "red"), "\nend  漢字" * 20),
    Text("word " * 60 + "\n\nlast line"),
    Text("\n".join(f"traceback line {i}" for i in range(TextLines.LINE_BY_LINE + 10))),
    Text.assemble(("State", "dim"), "  ● sleeping\n", ("y" * 150, "red"), "\nend  漢字" * 20),
]


class Side(App[None]):
    """A `Static` and a `TextLines`, one above the other, shown the same text."""

    CSS = "Static, TextLines { padding: 0 1; }"

    def compose(self) -> ComposeResult:
        yield Static(id="static")
        yield TextLines(id="lines")


def drawn(widget: Static | TextLines) -> list[list[object]]:
    return [list(strip) for strip in widget.render_lines(Region(0, 0, *widget.size))]


@pytest.mark.parametrize("width", [40, 120])
async def test_it_draws_what_a_static_draws(width: int) -> None:
    app = Side()
    async with app.run_test(size=(width, 200)) as pilot:
        static, lines = app.query_one(Static), app.query_one(TextLines)
        for text in [*TEXTS, *reversed(TEXTS)]:  # every change, both ways
            static.update(text)
            lines.update(text)
            await pilot.pause()
            assert lines.size == static.size, text.plain[:40]
            assert drawn(lines) == drawn(static), text.plain[:40]
            assert lines.content is text


async def test_an_update_repaints_only_the_lines_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = Side()
    async with app.run_test(size=(80, 40)) as pilot:
        lines = app.query_one(TextLines)
        lines.update(Text("Svc0001\n\nState  sleeping\nLoops  41 loops\n" + "word " * 30))
        await pilot.pause()
        refreshes: list[tuple[tuple[Region, ...], bool]] = []
        refresh = lines.refresh

        def spy(*regions: Region, layout: bool = False, **kwargs: bool) -> TextLines:
            refreshes.append((regions, layout))
            return refresh(*regions, layout=layout, **kwargs)

        monkeypatch.setattr(lines, "refresh", spy)
        lines.update(Text("Svc0001\n\nState  sleeping\nLoops  42 loops\n" + "word " * 30))
        assert refreshes == [((Region(0, 3, 78, 1),), False)], "the Loops row alone"
        await pilot.pause()
        assert "Loops  42 loops" in drawn_text(lines)

        refreshes.clear()
        lines.update(Text("Svc0001\n\nState  sleeping\nLoops  42 loops\n" + "word " * 30))
        assert refreshes == [], "nothing changed: nothing repainted"

        lines.update(Text("Svc0001\n\nState  sleeping\nLoops  43 loops\n" + "word " * 10))
        assert refreshes[-1] == ((), True), "the last line wraps onto fewer rows: a layout"
        lines.update(Text("Svc0001\n\nState  sleeping"))
        await pilot.pause()
        assert lines.size.height == 3
        assert drawn_text(lines) == ["Svc0001", "", "State  sleeping"]


def drawn_text(widget: TextLines) -> list[str]:
    return [strip.text.strip() for strip in widget.render_lines(Region(0, 0, *widget.size))]


async def test_a_selection_is_drawn_and_copied_as_a_statics() -> None:
    app = Side()
    async with app.run_test(size=(80, 20)) as pilot:
        static, lines = app.query_one(Static), app.query_one(TextLines)
        text = Text("first line\nsecond line\nthird")
        static.update(text)
        lines.update(text)
        await pilot.pause()
        selection = Selection.from_offsets(Offset(0, 1), Offset(6, 1))
        app.screen.selections = {lines: selection}
        await pilot.pause()
        assert app.screen.get_selected_text() == "second"
        app.screen.selections = {static: selection}
        await pilot.pause()
        with_selection = drawn(static)
        app.screen.selections = {lines: selection}
        await pilot.pause()
        assert drawn(lines) == with_selection
