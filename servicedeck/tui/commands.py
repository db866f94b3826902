"""The command palette (ctrl+p): every action of the key table, for every service.

"Start OrderReaper", "Step FlakyReaper one loop", ... plus the view commands (filter,
sort, help, quit). A chosen service command moves the cursor to that service first,
then runs exactly what its key runs, so the same checks and notifications apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from servicedeck.tui import keys
from servicedeck.tui.widgets.columns import COLUMNS

if TYPE_CHECKING:
    from servicedeck.tui.app import ServiceDeckApp

__all__ = ["PaletteCommand", "ServiceCommands", "palette_commands"]


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One entry of the palette."""

    text: str
    help: str
    run: Callable[[], object]


def palette_commands(
    app: ServiceDeckApp, highlighted_only: bool = False
) -> Iterator[PaletteCommand]:
    """The palette's entries: each service key's action for each service (only the
    highlighted service's, when `highlighted_only`), then the view's commands."""
    cursor = app.table.cursor_name
    names = ([cursor] if cursor else []) if highlighted_only else list(app.controller.names)
    for name in names:
        for spec in keys.KEYS:
            if spec.palette:
                yield PaletteCommand(
                    spec.palette.format(name=name),
                    spec.help,
                    partial(app.run_binding, spec.id, name),
                )
    yield PaletteCommand("Filter services by name", keys.spec("filter").help, app.action_filter)
    yield PaletteCommand(
        "Show failing services only (or all)",
        keys.spec("failing").help,
        app.table.action_failing_only,
    )
    for column in COLUMNS:
        yield PaletteCommand(
            f"Sort by {column.title.lower()}",
            "Sort the table by this column.",
            partial(app.sort_by, column.key),
        )
    yield PaletteCommand("Sort in definition order", "Undo sorting.", partial(app.sort_by, None))
    yield PaletteCommand("Show keys (help)", keys.spec("help").help, app.action_help)
    yield PaletteCommand("Quit servicedeck", keys.spec("quit").help, app.action_quit)


def _highlight(matcher: Matcher, text: str) -> Content:
    # Matcher.highlight() parses its text as markup; service names must show as typed.
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if score:
        for offset in offsets:
            if not text[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class ServiceCommands(Provider):
    """Offers `palette_commands()` of the app."""

    def _commands(self, highlighted_only: bool = False) -> Iterator[PaletteCommand]:
        app = cast("ServiceDeckApp", self.app)
        return app.palette_commands(highlighted_only=highlighted_only)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher, command.text),
                    command.run,
                    command.text,
                    command.help,
                )

    async def discover(self) -> Hits:
        for command in self._commands(highlighted_only=True):
            yield DiscoveryHit(Content(command.text), command.run, command.text, command.help)
