"""`ChangeFeed`: the control protocol's change stream, coalesced into a few screen updates
a second.

Each change only marks its service dirty. `tick()` (the app's refresh timer calls it,
twice a second by default) reads one snapshot per dirty service on screen (`in_view`)
and hands them to a callback together, however many changes arrived; the services off
screen are handed over once a second (reading every snapshot of 500 busy services four
times a second was a quarter of the console's own work). `flush()` hands over
everything at once.

A service the user just acted on is *urgent* for a moment: its next few changes are
handed over at once, at the end of the event-loop turn that made them (spaced so a fast
loop cannot flood the screen), so a key press shows its effect within a frame. Only a
few: a service looping 20 times a second, resumed, would otherwise be redrawn 20 times a
second for the whole window, costing more than everything else on screen.

No Textual here: the app gives it a callback, what is in view, and a timer that calls
`tick()`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection
from typing import ClassVar

from servicedeck.control import ServiceControl, ServiceSnapshot

__all__ = ["ChangeFeed"]


class ChangeFeed:
    """Coalesce the changes of `control` into calls of `on_snapshots(snapshots, at_once)`.

    Args:
        control: where the changes come from, and the snapshots.
        on_snapshots: called with the latest snapshot of each service that changed, and
            whether they are to be drawn at once (an action's effects, a `flush()`) or
            at the pace of the ticks (what draws itself less often may wait).
        clock: monotonic seconds, for the urgent window and spacing.
        in_view: the names whose changes `tick()` hands over each time (the rows on
            screen); None from it (or no `in_view`): every name counts.
    """

    BACKGROUND_SECONDS: ClassVar[float] = 1.0
    """How often `tick()` hands over the changes of the services not in view (at each
    tick, if the ticks are further apart)."""
    URGENT_SECONDS: ClassVar[float] = 2.0
    """After an action, changes of that service are applied at once for this long."""
    URGENT_SPACING: ClassVar[float] = 1 / 30
    """The least time between two immediate applies (a fast loop cannot flood the UI)."""
    URGENT_APPLIES: ClassVar[int] = 4
    """How many immediate applies an action buys its service (within `URGENT_SECONDS`):
    enough for a command's own effects (a pause that waits for the loop, a step's start
    and end), not for every loop of a busy service."""

    def __init__(
        self,
        control: ServiceControl,
        on_snapshots: Callable[[list[ServiceSnapshot], bool], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        in_view: Callable[[], Collection[str] | None] | None = None,
    ) -> None:
        self._control = control
        self._on_snapshots = on_snapshots
        self._clock = clock
        self._in_view = in_view
        self._background_due = float("-inf")
        self._dirty: set[str] = set()
        self._urgent: dict[str, tuple[float, int]] = {}
        """Urgent services: until when, and how many immediate applies are left."""
        self._urgent_pending = False
        self._applying = False
        self._last_urgent = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False

    # -- public API -------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the changes (call it in the event loop that shows them)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._unsubscribe = self._control.subscribe(self._on_change)

    def close(self) -> None:
        """Stop listening; nothing is handed over any more."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def flush(self) -> None:
        """Hand over every pending change now, to be drawn at once."""
        self._hand_over_all(at_once=True)

    def tick(self) -> None:
        """Hand over the pending changes of the services in view, and every other
        service's once `BACKGROUND_SECONDS` have passed since they last were."""
        now = self._clock()
        view = self._in_view() if self._in_view is not None else None
        if view is None or now >= self._background_due:
            self._background_due = now + self.BACKGROUND_SECONDS
            self._hand_over_all(at_once=False)
            return
        names = self._dirty.intersection(view)
        if names:
            self._dirty.difference_update(names)
            self._apply(names, at_once=False)

    def mark_urgent(self, name: str) -> None:
        """The user acted on service `name`: hand its changes over at once for a while."""
        self._urgent[name] = (self._clock() + self.URGENT_SECONDS, self.URGENT_APPLIES)
        self._dirty.add(name)
        # At the end of this turn, after the command that follows (its immediate changes
        # show together); unspaced, so the first change it causes later shows at once.
        asyncio.get_running_loop().call_soon(self._flush_urgent, False)
        self._urgent_pending = True

    # -- machinery --------------------------------------------------------------------

    def _on_change(self, name: str) -> None:
        """The control's callback: in a service's task, or a thread (for log records)."""
        if self._closed:
            return
        if threading.get_ident() != self._thread:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._on_change, name)
            return
        self._dirty.add(name)
        if name not in self._urgent or self._urgent_pending:
            return
        delay = self._last_urgent + self.URGENT_SPACING - self._clock()
        self._urgent_pending = True
        loop = asyncio.get_running_loop()
        if delay <= 0 and not self._applying:
            # At the end of this event-loop turn, with the service's other changes of the
            # turn (a loop's start, end and sleep come together): a message to the app
            # would wait for turns that hundreds of busy services make long.
            loop.call_soon(self._flush_urgent)
        else:
            loop.call_later(max(delay, 0.0), self._flush_urgent)

    def _flush_urgent(self, spaced: bool = True) -> None:
        self._urgent_pending = False
        now = self._clock()
        if spaced:
            self._last_urgent = now
        names = set()
        for name, (until, left) in list(self._urgent.items()):
            if until < now:
                del self._urgent[name]
            elif name in self._dirty:
                names.add(name)
                if left > 1:
                    self._urgent[name] = (until, left - 1)
                else:
                    del self._urgent[name]  # its next changes wait for a tick
        if names:
            self._dirty.difference_update(names)
            self._apply(names, at_once=True)

    def _hand_over_all(self, *, at_once: bool) -> None:
        if self._dirty:
            names, self._dirty = self._dirty, set()
            self._apply(names, at_once=at_once)

    def _apply(self, names: set[str], *, at_once: bool) -> None:
        if self._closed:
            return  # the screens are closing: nothing left to update
        self._applying = True
        try:
            snapshots = []
            for name in names:
                try:
                    snapshots.append(self._control.snapshot(name))
                except KeyError:
                    # A name that is gone, or "" (a client of another process that has
                    # no services yet, saying it was lost or reached): the callback still
                    # hears that something changed.
                    continue
            self._on_snapshots(snapshots, at_once)
        finally:
            self._applying = False
