"""The change stream: controller changes coalesced into a few screen refreshes a second.

Each change marks its service dirty; a timer applies the dirty ones (`flush`). A service
the user just acted on is *urgent* for a moment: its changes are applied at once (spaced
so a fast loop cannot flood the UI), so a key press shows its effect within a frame.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import ClassVar

from servicedeck.control import ServiceSnapshot
from servicedeck.tui.base import DeckBase

__all__ = ["RefreshMixin"]


class RefreshMixin(DeckBase):
    """Turn the controller's change callbacks into coalesced table updates."""

    FLUSH_SECONDS: ClassVar[float] = 0.25
    """How often changes are applied to the screen (at most 4 refreshes a second)."""
    URGENT_SECONDS: ClassVar[float] = 2.0
    """After an action, changes of that service are applied at once for this long."""
    URGENT_SPACING: ClassVar[float] = 1 / 30
    """The least time between two immediate applies (a fast loop cannot flood the UI)."""
    TICK_SECONDS: ClassVar[float] = 0.5
    """How often countdowns are redrawn."""

    def _on_change(self, name: str) -> None:
        """Controller callback: runs in a service's task (or a thread, for log records)."""
        if self._leaving:
            return
        if threading.get_ident() != self._ui_thread:
            if self._event_loop is not None:
                self._event_loop.call_soon_threadsafe(self._on_change, name)
            return
        self._dirty.add(name)
        if name not in self._urgent or self._urgent_pending:
            return
        delay = self._last_urgent + self.URGENT_SPACING - time.monotonic()
        self._urgent_pending = True
        if delay <= 0 and not self._applying:
            # Show it at the end of this event-loop turn, with the service's other changes
            # of the turn (a loop's start, end and sleep come together): a message to the
            # app would wait for turns that hundreds of busy services make long.
            asyncio.get_running_loop().call_soon(self._flush_urgent)
        else:
            self.set_timer(max(delay, 0.0), self._flush_urgent)

    def _mark_urgent(self, name: str) -> None:
        self._urgent[name] = time.monotonic() + self.URGENT_SECONDS
        self._dirty.add(name)
        # At the end of this turn, after the command that follows (its immediate changes
        # show together); unspaced, so the first change it causes later shows at once.
        asyncio.get_running_loop().call_soon(self._flush_urgent, False)
        self._urgent_pending = True

    def _flush_urgent(self, spaced: bool = True) -> None:
        self._urgent_pending = False
        now = time.monotonic()
        if spaced:
            self._last_urgent = now
        for name, until in list(self._urgent.items()):
            if until < now:
                del self._urgent[name]
        names = self._dirty.intersection(self._urgent)
        if names:
            self._dirty.difference_update(names)
            self._apply(names)

    def flush(self) -> None:
        """Apply every pending change to the screen now (the timer calls this)."""
        if self._dirty:
            names, self._dirty = self._dirty, set()
            self._apply(names)

    def _apply(self, names: set[str]) -> None:
        if self._leaving:
            return  # the screens are closing: nothing left to update
        self._applying = True
        try:
            self._apply_snapshots([self.controller.snapshot(name) for name in names])
        finally:
            self._applying = False

    def _apply_snapshots(self, snapshots: list[ServiceSnapshot]) -> None:
        names = {snap.name for snap in snapshots}
        for snap in snapshots:
            self._snapshots[snap.name] = snap
        table = self.table
        table.update_rows(snapshots)
        self._update_summary()
        if table.cursor_name in names:
            self._show_detail()
            self._refresh_allowed()
        for snap in snapshots:
            if snap.paused_on_error and snap.name not in self._broken:
                self._broken.add(snap.name)
                self._on_break(snap)
            elif not snap.paused_on_error:
                self._broken.discard(snap.name)
            if snap.stall is not None:
                self._on_stall(snap)
        if self._quit_screen is not None:
            self._quit_screen.update(snapshots)
