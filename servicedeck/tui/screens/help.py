"""The help screen (`?` / F1): every key, from the one binding table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from servicedeck.tui.keys import KEYS, LOG_KEYS, NAVIGATION, display_key, key_display

__all__ = ["HelpScreen"]


class HelpScreen(ModalScreen[None]):
    """Lists every key binding by group; Esc, q, ? or F1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss", "close", show=True),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, bindings: Mapping[str, ActiveBinding] | None = None) -> None:
        """Args:
        bindings: the bindings in effect (`Screen.active_bindings`): a key remapped by
            a keymap is shown as it is bound now.
        """
        super().__init__()
        bound: dict[str, list[str]] = {}
        for key, active in (bindings or {}).items():
            if active.binding.id:
                bound.setdefault(active.binding.id, []).append(key)
        self._keys = {
            spec.id: " / ".join(display_key(key) for key in found)
            for spec in KEYS
            if (found := bound.get(spec.id)) and set(found) != set(spec.keys)
        }

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._content())

    def _content(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style="bold", min_width=12)
        table.add_column(ratio=1)
        table.add_row(Text("servicedeck keys", "bold underline"), "")
        for group in ("Service", "View", "App"):
            table.add_row("", "")
            title = "on the highlighted service" if group == "Service" else ""
            table.add_row(Text(group, "bold reverse"), Text(title, "dim"))
            for spec in KEYS:
                if spec.group == group:
                    table.add_row(Text(self._keys.get(spec.id, key_display(spec))), Text(spec.help))
        table.add_row("", "")
        table.add_row(Text("Moving around", "bold reverse"), "")
        for row in NAVIGATION:
            table.add_row(Text(row.keys), Text(row.help))
        table.add_row("", "")
        table.add_row(Text("Log viewer", "bold reverse"), Text("while it has focus", "dim"))
        for spec in LOG_KEYS:
            table.add_row(Text(key_display(spec)), Text(spec.help))
        table.add_row("", "")
        table.add_row("", Text("esc, q, ? or F1 closes this help.", "dim"))
        return table

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
