"""`ChangeFeed`: at most one update per service per interval; bounded per listener.

Timing runs on trio's MockClock (`autojump_threshold=0`): the feed's waits take no real
time, and the clock says exactly when each update went out.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio.testing
from support.records import loop_snapshot

from servicedeck.control import ServiceSnapshot
from servicedeck.control._feed import ChangeFeed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}


class Changing:
    """Just enough of a control for the feed: names that change when told to."""

    def __init__(self, names: list[str]) -> None:
        self.names = tuple(names)
        self.counts = dict.fromkeys(names, 0)
        self.callbacks: list[Callable[[str], None]] = []

    def change(self, name: str) -> None:
        self.counts[name] += 1
        for callback in self.callbacks:
            callback(name)

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def now(self) -> float:
        return anyio.current_time()

    def snapshot(self, name: str) -> ServiceSnapshot:
        return loop_snapshot(name, loop_count=self.counts[name])


async def test_feed_sends_a_quiet_service_at_once_and_a_busy_one_every_interval() -> None:
    control = Changing(["Busy", "Quiet"])
    feed = ChangeFeed(control, interval=0.25, clock=anyio.current_time)  # type: ignore[arg-type]
    sent: list[tuple[float, str, int]] = []
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        with feed.listen() as listener:

            async def read() -> None:
                while True:
                    for data in await listener.next():
                        body = json.loads(data)
                        service = body["service"]
                        sent.append((body["now"], service["name"], service["status"]["loop_count"]))

            tg.start_soon(read)
            began = anyio.current_time()
            for _ in range(200):  # a change every 10 ms for 2 s
                control.change("Busy")
                await anyio.sleep(0.01)
            control.change("Quiet")
            changed_quiet = anyio.current_time()
            await anyio.sleep(1)
            tg.cancel_scope.cancel()

    busy = [(at, count) for at, name, count in sent if name == "Busy"]
    quiet = [at for at, name, _ in sent if name == "Quiet"]
    # Busy: the first change at once, then one update per interval, never closer.
    assert busy[0][0] == pytest.approx(began, abs=0.001)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(busy)]
    assert min(gaps) >= 0.25 - 1e-9
    assert len(busy) <= 2 / 0.25 + 2
    # ...and nothing is lost: the last update has the last state.
    assert busy[-1][1] == 200
    # Quiet had no update for a long time: it goes out at once.
    assert quiet == [pytest.approx(changed_quiet, abs=0.001)]


async def test_listener_that_never_reads_holds_one_update_per_service() -> None:
    names = [f"S{i}" for i in range(50)]
    control = Changing(names)
    feed = ChangeFeed(control, interval=0.25, clock=anyio.current_time)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        with feed.listen() as stuck:
            for _ in range(100):  # 5,000 changes, nobody reading
                for name in names:
                    control.change(name)
                await anyio.sleep(0.05)
                assert stuck.pending <= len(names)
            await anyio.sleep(0.5)  # the last changes go out at the end of their interval

            assert stuck.pending == len(names)
            updates = await stuck.next()
        tg.cancel_scope.cancel()

    # What it finally reads is the latest state of each service, once.
    latest = {json.loads(u)["service"]["name"]: json.loads(u)["service"] for u in updates}
    assert len(updates) == len(names)
    assert all(latest[name]["status"]["loop_count"] == 100 for name in names)


async def test_feed_does_nothing_when_nobody_listens() -> None:
    control = Changing(["Busy"])
    feed = ChangeFeed(control, interval=0.25, clock=anyio.current_time)  # type: ignore[arg-type]
    read: list[str] = []
    control.snapshot = lambda name: read.append(name)  # type: ignore[assignment, method-assign, return-value]
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        for _ in range(10):
            control.change("Busy")
            await anyio.sleep(0.3)
        tg.cancel_scope.cancel()

    assert read == []


async def test_closing_the_feed_ends_every_listener() -> None:
    control = Changing(["Busy"])
    feed = ChangeFeed(control, clock=anyio.current_time)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        with feed.listen() as listener:
            feed.close_listeners()

            assert await listener.next() == []
            assert listener.closed
        tg.cancel_scope.cancel()
