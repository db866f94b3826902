"""What the console tells the user about services, and how much of it stays on screen.

    NotificationBound   at most N notifications on screen: a burst (a hundred services
                        breaking on error) drops the oldest, so they stay readable
    ServiceNotices      which snapshots deserve a notification: a break on error, once per
                        break; an event-loop stall, once per stall and at most every 30 s
                        per service

Plain classes, no widget: the app feeds them and shows what they decide.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from textual.notifications import Notification

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt

__all__ = ["NotificationBound", "ServiceNotices"]


class NotificationBound:
    """Keep at most `limit` notifications on screen: each one past it expires the oldest.

    Give it every notification as it is raised (the app's `on_notify`, which runs before
    Textual's own handler adds it). Textual has no public call that withdraws one
    notification; a notification's `timeout` is public, and the app forgets expired ones
    whenever it shows a new one, so the oldest are expired in place.
    """

    def __init__(self, limit: int) -> None:
        """Args:
        limit: how many notifications may be on screen at once.
        """
        self.limit = limit
        self._shown: deque[Notification] = deque()
        """The notifications raised and not expired, oldest first (a few)."""

    def add(self, notification: Notification) -> None:
        """`notification` is being shown: expire the oldest beyond the limit."""
        shown = deque(n for n in self._shown if not n.has_expired)
        shown.append(notification)
        while len(shown) > self.limit:
            shown.popleft().timeout = 0  # expired now: the toasts' next update drops it
        self._shown = shown


class ServiceNotices:
    """Decide which new snapshots are worth a notification.

    Args:
        root: paths under it are shown relative to it.
        stall_seconds: the least time between two notices of one service's stalls.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        root: str | None,
        stall_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        """Paths under it are shown relative to it."""
        self._stall_seconds = stall_seconds
        self._clock = clock
        self._broken: set[str] = set()
        self._stalls_seen: dict[str, tuple[object, float]] = {}

    def is_new_break(self, snap: ServiceSnapshot) -> bool:
        """The service has just paused on an error (break on error): True once per break."""
        if not snap.paused_on_error:
            self._broken.discard(snap.name)
            return False
        if snap.name in self._broken:
            return False
        self._broken.add(snap.name)
        return True

    def stall_notice(self, snap: ServiceSnapshot) -> str | None:
        """The notice for a new stall of the service, or None (none, seen, or too soon)."""
        stall, now = snap.stall, self._clock()
        if stall is None:
            return None
        seen, noticed = self._stalls_seen.get(snap.name, (None, -self._stall_seconds))
        if stall is seen:
            return None
        if now - noticed < self._stall_seconds:
            self._stalls_seen[snap.name] = (stall, noticed)
            return None
        self._stalls_seen[snap.name] = (stall, now)
        where = fmt.stall_line(stall, self.root)
        return f"{snap.name} {where}: every service and the console were frozen meanwhile."
