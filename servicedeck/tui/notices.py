"""Notifications: bounded on screen, break on error, and event-loop stalls."""

from __future__ import annotations

import time
from typing import ClassVar

from textual.notifications import Notify

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt
from servicedeck.tui.base import DeckBase

__all__ = ["NoticesMixin"]


class NoticesMixin(DeckBase):
    """Tell the user what happened to a service without flooding the screen."""

    STALL_NOTICE_SECONDS: ClassVar[float] = 30.0
    """The least time between two notifications of one service blocking the event loop."""
    MAX_NOTIFICATIONS: ClassVar[int] = 5
    """Notifications shown at once; a burst (a hundred services breaking on error) drops
    the oldest, so they stay readable and bounded."""

    def on_notify(self, event: Notify) -> None:
        """Drop the oldest notifications beyond the bound (Textual shows the new one)."""
        shown = list(self._notifications)
        # This handler runs before Textual's own adds the new one (but allow either order).
        room = self.MAX_NOTIFICATIONS - (0 if event.notification in self._notifications else 1)
        for old in shown[: max(0, len(shown) - room)]:
            self._unnotify(old, refresh=False)

    def _on_break(self, snap: ServiceSnapshot) -> None:
        """Break on exception: show the service that paused on error, traceback open."""
        error = snap.status.last_error
        summary = error.summary if error else "an error"
        self.notify(f"{snap.name} paused on error: {summary[:200]}", severity="error", markup=False)
        if snap.name in self.table.visible_names:
            self.table.move_cursor(snap.name)
            self.detail.tab = "error"

    def _on_stall(self, snap: ServiceSnapshot) -> None:
        """Notify a service blocking the event loop: once per stall, at most every 30 s."""
        stall, now = snap.stall, time.monotonic()
        seen, noticed = self._stalls_seen.get(snap.name, (None, -self.STALL_NOTICE_SECONDS))
        if stall is seen:
            return
        if now - noticed < self.STALL_NOTICE_SECONDS:
            self._stalls_seen[snap.name] = (stall, noticed)
            return
        self._stalls_seen[snap.name] = (stall, now)
        assert stall is not None
        where = fmt.stall_line(stall, self.controller.process.root)
        self.notify(
            f"{snap.name} {where}: every service and the console were frozen meanwhile.",
            severity="warning",
            timeout=6,
            markup=False,
        )
