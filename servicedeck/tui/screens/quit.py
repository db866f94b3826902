"""The quit screen: it stops every running service, showing each one's progress; q again
forces the exit."""

from __future__ import annotations

import math
import time
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
        self._began = time.monotonic()
        self._report: StopReport | None = None
        snapshots = control.snapshots()
        self._names = [snap.name for snap in snapshots if snap.has_task]
        self._killed = [
            snap.name for snap in snapshots if not snap.has_task and snap.status.cancelled
        ]
        """Services killed before the quit: listed, so none looks cleanly stopped."""
        self._snapshots: dict[str, ServiceSnapshot] = {}
        self._shown: object = None
        self.update(snapshots)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._content(), id="quit-progress")

    def on_mount(self) -> None:
        self.run_worker(self._stop_all(), name="quit:stop_all")
        # The time left changes without any service changing.
        self.set_interval(0.5, self._redraw)

    def update(self, snapshots: Sequence[ServiceSnapshot]) -> None:
        """Show the latest snapshots of the stopping services."""
        for snap in snapshots:
            if snap.name in self._names:
                self._snapshots[snap.name] = snap
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        content = self._content()
        key = (self._snapshots_key(), self._note_text())
        if key != self._shown:  # nothing changed: nothing to draw
            self._shown = key
            self.query_one("#quit-progress", Static).update(content)

    def _snapshots_key(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, self._state(name)[0]) for name in self._names)

    def _state(self, name: str) -> tuple[str, str]:
        """What the dialog says of one service: its state and a style."""
        snap = self._snapshots.get(name)
        if snap is None:
            return "◐ stopping", "yellow"
        if not snap.has_task:
            if snap.status.cancelled:
                return "✗ cancelled", "red"
            return "✓ stopped", "green"
        if snap.stuck or (self._report is not None and name in self._report.stuck):
            return "◐ stuck", "bold red"
        return fmt.state_cell(snap)[0], "yellow"

    def _stuck(self) -> list[str]:
        return [name for name in self._names if self._state(name)[0] == "◐ stuck"]

    def _note_text(self) -> str:
        """The truth about what happens next, and when."""
        elapsed = time.monotonic() - self._began
        timeout = self._timeout
        stuck = self._stuck()
        if stuck:
            return (
                f"{', '.join(stuck)} ignore{'s' if len(stuck) == 1 else ''} cancellation "
                "(stuck: a shielded cancel scope, or code that never awaits); servicedeck "
                "gave up waiting. q again exits anyway (status 130)."
            )
        if elapsed < timeout:
            left = math.ceil(timeout - elapsed)
            return (
                f"Stopping gracefully: {left}s left, then what still runs is cancelled. "
                "q again forces the exit."
            )
        left = math.ceil(max(0.0, 2 * timeout - elapsed))
        return (
            f"Cancelled what did not stop in {fmt.interval(timeout)}: waiting {left}s more "
            "for it to end, then giving up on it. q again forces the exit."
        )

    def _content(self) -> Group:
        done = sum(1 for name in self._names if self._state(name)[0][0] in "✓✗")
        title = Text(f"Stopping {len(self._names)} services", "bold")
        title.append(f"  {done}/{len(self._names)} ended", "dim")
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(no_wrap=True, width=12)
        for name in self._names:
            text, style = self._state(name)
            table.add_row(Text(name), Text(text, style))
        for name in self._killed:
            table.add_row(
                Text.assemble(name, (" (killed earlier)", "dim")), Text("✗ cancelled", "red")
            )
        return Group(title, table, Text(), Text(self._note_text(), "dim"))

    async def _stop_all(self) -> None:
        report = await self._control.stop_all(self._timeout)
        self._report = report
        self._redraw()
        self.post_message(self.Stopped(report))

    async def action_force_quit(self) -> None:
        """Quit now: cancel every service still running."""
        await kill_running(self._control)
        self.post_message(self.Forced())
