"""The quit screen: every running service stopping, with progress; q again forces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt

__all__ = ["QuitScreen"]


class QuitScreen(ModalScreen[None]):
    """Shows the services being stopped; `q` (or ctrl+q) forces the exit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,ctrl+q", "app.force_quit", "force quit", show=True),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 80%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, names: Sequence[str], timeout: float) -> None:
        """Args:
        names: the services that were running when quitting began.
        timeout: how long each may take before it is cancelled.
        """
        super().__init__()
        self._names = list(names)
        self._timeout = timeout
        self._snapshots: dict[str, ServiceSnapshot] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._content(), id="quit-progress")

    def update(self, snapshots: Sequence[ServiceSnapshot]) -> None:
        """Show the latest snapshots of the stopping services."""
        for snap in snapshots:
            if snap.name in self._names:
                self._snapshots[snap.name] = snap
        if self.is_mounted:
            self.query_one("#quit-progress", Static).update(self._content())

    def _content(self) -> Group:
        done = sum(1 for s in self._snapshots.values() if not s.has_task)
        title = Text(f"Stopping {len(self._names)} services", "bold")
        title.append(f"  {done}/{len(self._names)} stopped", "dim")
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(no_wrap=True, width=12)
        for name in self._names:
            snap = self._snapshots.get(name)
            if snap is not None and not snap.has_task:
                state = Text("✓ stopped", "green")
            elif snap is not None:
                state = Text(fmt.state_cell(snap)[0], "yellow")
            else:
                state = Text("◐ stopping", "yellow")
            table.add_row(Text(name), state)
        note = Text(
            f"Each gets {fmt.interval(self._timeout)} to finish, then is cancelled. "
            "q again forces the exit.",
            "dim",
        )
        return Group(title, table, Text(), note)
