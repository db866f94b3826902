"""The quit screen: it stops every running service, showing each one's progress; q again
forces the exit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from servicedeck.control import ServiceControl, ServiceSnapshot, StopReport
from servicedeck.tui import format as fmt
from servicedeck.tui.session import kill_running

__all__ = ["QuitScreen"]


class QuitScreen(ModalScreen[None]):
    """Stops every running service gracefully (`stop_all`), showing their progress; `q`
    (or ctrl+q) cancels them instead. Either way it tells the app when it is done."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,ctrl+q", "force_quit", "force quit", show=True),
    ]

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > VerticalScroll {
        width: 72; max-width: 100%; height: auto; max-height: 80%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    """

    @dataclass
    class Stopped(Message):
        """Every service stopped, or was cancelled after the timeout."""

        report: StopReport
        """What `stop_all()` reported."""

    class Forced(Message):
        """The user forced the exit: every service still running was cancelled."""

    def __init__(self, control: ServiceControl, timeout: float) -> None:
        """Args:
        control: the services to stop (those running now are listed).
        timeout: how long each may take before it is cancelled.
        """
        super().__init__()
        self._control = control
        self._timeout = timeout
        snapshots = control.snapshots()
        self._names = [snap.name for snap in snapshots if snap.has_task]
        self._snapshots: dict[str, ServiceSnapshot] = {}
        self.update(snapshots)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._content(), id="quit-progress")

    def on_mount(self) -> None:
        self.run_worker(self._stop_all(), name="quit:stop_all")

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

    async def _stop_all(self) -> None:
        self.post_message(self.Stopped(await self._control.stop_all(self._timeout)))

    async def action_force_quit(self) -> None:
        """Quit now: cancel every service still running."""
        await kill_running(self._control)
        self.post_message(self.Forced())
