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


async def test_a_listener_asking_for_fewer_updates_takes_them_together_and_less_goes_out() -> None:
    """Issue 12: an attached console refreshes twice a second, and decoding 2,000 updates
    a second of 500 busy services (and the serving process encoding them) made its keys
    wait. It asks for an interval: it takes its updates at most that often, all together,
    and the feed publishes each service only as often as the most eager listener asks."""
    names = [f"S{i}" for i in range(20)]
    control = Changing(names)
    feed = ChangeFeed(control, interval=0.25, clock=anyio.current_time)  # type: ignore[arg-type]
    published: list[float] = []
    feed.observe(lambda snaps: published.extend(anyio.current_time() for _ in snaps))

    async def busy(seconds: float) -> None:
        for _ in range(round(seconds / 0.01)):  # every service changes every 10 ms
            for name in names:
                control.change(name)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        with feed.listen(0.5) as slow:
            takes: list[tuple[float, int]] = []

            async def read() -> None:
                while True:
                    updates = await slow.next()
                    takes.append((anyio.current_time(), len(updates)))

            tg.start_soon(read)
            await busy(3.0)
            alone = len(published)
            published.clear()
            with feed.listen() as eager:  # a client with no interval: the feed's own
                tg.start_soon(eager.next)
                assert feed.publishing_interval == 0.25
                await busy(3.0)
            assert feed.publishing_interval == 0.5
        tg.cancel_scope.cancel()

    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(takes)]
    assert min(gaps) >= 0.5 - 1e-9, "at most one take per 0.5 s"
    assert all(count == len(names) for _, count in takes[1:]), "every service, together"
    # Each service published about every 0.5 s with the slow listener alone, about
    # every 0.25 s once an eager one listens too.
    assert alone <= len(names) * (3.0 / 0.5 + 2)
    assert len(published) >= len(names) * (3.0 / 0.25 - 2)


async def test_a_listener_leaves_a_wait_for_more_when_the_feed_closes() -> None:
    control = Changing(["Busy"])
    feed = ChangeFeed(control, clock=anyio.current_time)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        await tg.start(feed.run)
        # An eager listener too: the feed publishes every 0.25 s, this one takes every 30 s.
        with feed.listen(), feed.listen(30.0) as listener:
            control.change("Busy")
            assert len(await listener.next()) == 1  # the first take: at once
            control.change("Busy")
            await anyio.sleep(1)  # published, pending for it
            began = anyio.current_time()

            async def close_soon() -> None:
                await anyio.sleep(0.1)
                feed.close_listeners()

            tg.start_soon(close_soon)
            assert len(await listener.next()) == 1, "what was pending, when it closed"
            assert anyio.current_time() - began < 1
        tg.cancel_scope.cancel()
