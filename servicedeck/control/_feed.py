"""`ChangeFeed`: a control's change stream, coalesced, read once, fanned out.

Services change thousands of times a second (every loop's start, end and sleep). The
feed hears each change as a name (`ServiceControl.subscribe`), and publishes each service
at most once per `interval` (250 ms): the first change of a quiet service at once, the
rest at the end of its interval, so a burst becomes one update. A publication reads one
snapshot per service and encodes it to JSON once, for every listener.

Each publication is encoded once (`encode`, the endpoint's event framing), for every
listener. Each listener (an event-stream client) keeps at most one pending update per
service, the latest: a client that reads slowly is coalesced, never buffered without
bound, and never makes the services wait. Observers (the metrics' duration histograms)
see each published snapshot.

A listener may ask for fewer updates (`listen(interval)`, a console refreshing twice a
second): it takes its updates at most once per its interval, all services together, and
the feed publishes each service at most once per the shortest interval any listener
asked for (never below its own). With one console listening every 0.5 s, 500 busy
services cost the serving process half the encoding, and the console half the decoding
and a write a refresh instead of dozens.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import anyio.from_thread
import anyio.lowlevel

from servicedeck.control._protocol import ServiceControl
from servicedeck.control._records import ServiceSnapshot

__all__ = ["ChangeFeed", "Encode", "FeedListener"]

INTERVAL = 0.25
"""At most one update per service per this many seconds."""
BATCH = 0.02
"""Updates due within this many seconds of each other go out together (fewer wake-ups)."""


Encode = Callable[[float, ServiceSnapshot], bytes]
"""How a publication is put on the wire: `encode(now, snapshot)`."""


def encode_json(now: float, snapshot: ServiceSnapshot) -> bytes:
    """`{"now": ..., "service": ...}` as compact JSON (the default encoding)."""
    data = {"now": now, "service": snapshot.to_json()}
    return json.dumps(data, separators=(",", ":")).encode()


class FeedListener:
    """One client's pending updates: at most one per service, the latest.

    Get one from `ChangeFeed.listen()`; read with `await listener.next()`.
    """

    def __init__(self, interval: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._pending: dict[str, bytes] = {}
        self._ready = anyio.Event()
        self.closed = False
        """True once the feed closed it (the endpoint is shutting down)."""
        self.interval = interval
        """The least time between two takes (`next()`); 0: as updates come."""
        self._clock = clock
        self._taken_at = float("-inf")

    def deliver(self, updates: dict[str, bytes]) -> None:
        """Queue `updates` (name -> encoded update), replacing older ones of a service."""
        self._pending.update(updates)
        self._ready.set()

    def close(self) -> None:
        """End the listener: `next()` returns what is pending, then empty lists."""
        self.closed = True
        self._ready.set()

    @property
    def pending(self) -> int:
        """How many services have an update waiting (never more than there are services)."""
        return len(self._pending)

    async def next(self) -> list[bytes]:
        """Wait for updates and take them all, at most once per `interval` (what comes
        meanwhile joins them, the latest of each service); an empty list once closed."""
        while not self._pending and not self.closed:
            await self._ready.wait()
            self._ready = anyio.Event()
        wait = self._taken_at + self.interval - self._clock()
        if wait > 0 and not self.closed:
            with anyio.move_on_after(wait):
                while not self.closed:  # woken early only to leave
                    await self._ready.wait()
                    self._ready = anyio.Event()
        self._taken_at = self._clock()
        updates, self._pending = list(self._pending.values()), {}
        return updates


class ChangeFeed:
    """Coalesce the changes of `control` and publish them to listeners and observers.

    Run it (`await feed.run()`) in a task of the event loop that runs the services.

    Args:
        control: whose changes to publish.
        interval: at most one update per service per this many seconds.
        encode: how each update is encoded, once for every listener.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        control: ServiceControl,
        *,
        interval: float = INTERVAL,
        encode: Encode = encode_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.control = control
        self.encode = encode
        self.interval = interval
        self.clock = clock
        self._listeners: set[FeedListener] = set()
        self._observers: list[Callable[[list[ServiceSnapshot]], None]] = []
        self._dirty: set[str] = set()
        self._due: dict[str, float] = {}
        self._wake: anyio.Event | None = None
        self._thread: int | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None

    @property
    def running(self) -> bool:
        """True while `run()` runs."""
        return self._wake is not None

    @property
    def listeners(self) -> int:
        """How many listeners (open event streams) there are now."""
        return len(self._listeners)

    @property
    def publishing_interval(self) -> float:
        """How often, at most, each service is published now: the shortest interval a
        listener asked for, never below the feed's own `interval`."""
        asked = min((listener.interval for listener in self._listeners), default=0.0)
        return max(self.interval, asked)

    @contextlib.contextmanager
    def listen(self, interval: float | None = None) -> Iterator[FeedListener]:
        """A listener for the duration of the block, taking updates at most once per
        `interval` seconds (None: as they are published, each service at most once per
        the feed's own interval).

        Raises:
            RuntimeError: the feed does not run.
        """
        if not self.running:
            raise RuntimeError("the change feed does not run")
        listener = FeedListener(interval or 0.0, self.clock)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    def close_listeners(self) -> None:
        """Close every listener now (their streams end); new ones may still listen."""
        for listener in self._listeners:
            listener.close()

    def observe(self, observer: Callable[[list[ServiceSnapshot]], None]) -> None:
        """Call `observer(snapshots)` with every publication, while the feed runs."""
        self._observers.append(observer)

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Publish changes until cancelled; then close every listener."""
        self._wake = anyio.Event()
        self._thread = threading.get_ident()
        self._token = anyio.lowlevel.current_token()
        unsubscribe = self.control.subscribe(self._on_change)
        task_status.started()
        try:
            while True:
                await self._wake.wait()
                self._wake = anyio.Event()
                while self._dirty:
                    now = self.clock()
                    due = [name for name in self._dirty if self._due.get(name, 0.0) <= now]
                    if due:
                        self._dirty.difference_update(due)
                        self._publish(due, now)
                    if self._dirty:
                        earliest = min(self._due.get(name, now) for name in self._dirty)
                        await anyio.sleep(max(earliest - self.clock(), BATCH))
        finally:
            unsubscribe()
            self._wake = None
            self.close_listeners()

    def _on_change(self, name: str) -> None:
        # Called for every change of every service: as cheap as it can be.
        if not self._listeners and not self._observers:
            return
        if threading.get_ident() != self._thread:
            # A log record from another thread: the feed's state belongs to the loop.
            with contextlib.suppress(Exception):
                anyio.from_thread.run_sync(self._on_change, name, token=self._token)
            return
        self._dirty.add(name)
        wake = self._wake
        if wake is not None and not wake.is_set():
            wake.set()

    def _publish(self, names: list[str], now: float) -> None:
        control = self.control
        snapshots: list[ServiceSnapshot] = []
        interval = self.publishing_interval
        for name in names:
            try:
                snapshots.append(control.snapshot(name))
            except KeyError:
                continue
            self._due[name] = now + interval
        for observer in self._observers:
            observer(snapshots)
        if self._listeners and snapshots:
            stamp = control.now()
            updates = {snap.name: self.encode(stamp, snap) for snap in snapshots}
            for listener in self._listeners:
                listener.deliver(updates)
