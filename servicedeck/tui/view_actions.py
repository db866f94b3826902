"""The view keys: detail tabs, the name filter, failing only, sorting, help, and the
command palette's entries."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from textual.widgets import Input

from servicedeck.tui import keys
from servicedeck.tui.base import DeckBase
from servicedeck.tui.commands import PaletteCommand
from servicedeck.tui.screens.help import HelpScreen
from servicedeck.tui.widgets.columns import COLUMNS

__all__ = ["ViewActionsMixin"]


class ViewActionsMixin(DeckBase):
    """Change what the console shows; never touch a service."""

    # Moving the cursor: the table's own actions, run by the app's in-order bindings.
    def action_cursor(self, delta: int) -> None:
        self.table.action_cursor(delta)

    def action_page(self, direction: int) -> None:
        self.table.action_page(direction)

    def action_edge(self, direction: int) -> None:
        self.table.action_edge(direction)

    def _show_tab(self, tab: str) -> None:
        detail = self.detail
        if detail.tab == tab and self.screen.maximized is not detail:
            self.screen.maximize(detail)
        elif detail.tab == tab:
            self.screen.minimize()
        detail.tab = tab  # type: ignore[assignment]
        self._show_detail()

    def action_show_logs(self) -> None:
        self._show_tab("logs")

    def action_show_error(self) -> None:
        self._show_tab("error")

    def action_show_detail(self) -> None:
        self._show_tab("detail")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.table.filter_text
        box.add_class("-shown")
        box.focus()
        # Focus moves on a later turn: keys typed meanwhile belong to the filter too.
        self._filtering = True

    def action_failing_only(self) -> None:
        self._set_filter(None, failing_only=not self.table.failing_only)

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        self._filtering = False
        if self._count:
            self._count = ""
            self._update_summary()
        elif self.screen.maximized is not None:
            self.screen.minimize()
        elif box.has_class("-shown") or self.table.filter_text or self.table.failing_only:
            box.value = ""
            box.remove_class("-shown")
            self._set_filter("", failing_only=False)
            self.table.focus()

    def _set_filter(self, text: str | None, failing_only: bool | None = None) -> None:
        self.table.set_filter(text, failing_only)
        self._update_summary()
        self._show_detail()

    def sort_by(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort the table by a column (None: definition order)."""
        self.table.sort_by(column_key, reverse)
        self._update_summary()

    def action_help(self) -> None:
        bound: dict[str, list[str]] = {}
        for key, active in self.screen.active_bindings.items():
            if active.binding.id:
                bound.setdefault(active.binding.id, []).append(key)
        remapped = {
            spec.id: " / ".join(keys.display_key(key) for key in found)
            for spec in keys.KEYS
            if (found := bound.get(spec.id)) and set(found) != set(spec.keys)
        }
        self.push_screen(HelpScreen(remapped))

    def palette_commands(self, highlighted_only: bool = False) -> Iterator[PaletteCommand]:
        """The command palette's entries: each service action for each service, then the
        view's commands (only the highlighted service's, when `highlighted_only`)."""
        cursor = self.table.cursor_name
        names = ([cursor] if cursor else []) if highlighted_only else list(self.controller.names)
        for name in names:
            for spec in keys.KEYS:
                if spec.palette:
                    yield PaletteCommand(
                        spec.palette.format(name=name),
                        spec.help,
                        partial(self.run_binding, spec.id, name),
                    )
        yield PaletteCommand(
            "Filter services by name", keys.spec("filter").help, self.action_filter
        )
        yield PaletteCommand(
            "Show failing services only (or all)",
            keys.spec("failing").help,
            self.action_failing_only,
        )
        for column in COLUMNS:
            yield PaletteCommand(
                f"Sort by {column.title.lower()}",
                "Sort the table by this column.",
                partial(self.sort_by, column.key),
            )
        yield PaletteCommand(
            "Sort in definition order", "Undo sorting.", partial(self.sort_by, None)
        )
        yield PaletteCommand("Show keys (help)", keys.spec("help").help, self.action_help)
        yield PaletteCommand("Quit servicedeck", keys.spec("quit").help, self.action_quit)
