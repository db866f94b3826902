"""`ChangeFeed` on its own: changes coalesced until a flush, an urgent service's handed
over within the event-loop turn, a thread's hopped onto the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest

from servicedeck.control import ServiceControl
from servicedeck.tui.changes import ChangeFeed

pytestmark = pytest.mark.anyio


class FakeControl:
    """The two things a `ChangeFeed` uses: the change stream and snapshots (here, the name
    stands for its snapshot; each read is counted)."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[str], None]] = []
        self.reads: list[str] = []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def snapshot(self, name: str) -> str:
        self.reads.append(name)
        return name

    def change(self, name: str) -> None:
        for callback in list(self.callbacks):
            callback(name)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Handed(list[set[str]]):
    """What the feed handed over, one set of names per call (and in `at_once`, whether
    each was to be drawn at once); `more` is set on each call."""

    def __init__(self) -> None:
        super().__init__()
        self.more = asyncio.Event()
        self.at_once: list[bool] = []

    def __call__(self, snapshots: list[Any], at_once: bool) -> None:
        self.append(set(snapshots))
        self.at_once.append(at_once)
        self.more.set()

    async def wait_for(self, calls: int) -> None:
        with anyio.fail_after(5):
            while len(self) < calls:
                self.more.clear()
                await self.more.wait()


TICK = 0.5
"""The time between two ticks (the app's refresh interval)."""


def feed() -> tuple[ChangeFeed, FakeControl, Handed, Clock]:
    control, handed, clock = FakeControl(), Handed(), Clock()
    changes = ChangeFeed(cast(ServiceControl, control), handed, clock=clock)
    changes.start()
    return changes, control, handed, clock


async def a_turn() -> None:
    """Let the callbacks scheduled for the end of this turn run."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_changes_are_coalesced_until_a_flush() -> None:
    changes, control, handed, _ = feed()
    for _ in range(100):
        control.change("Reaper")
    control.change("Relay")
    await a_turn()
    assert handed == []
    changes.flush()
    assert handed == [{"Reaper", "Relay"}]
    assert sorted(control.reads) == ["Reaper", "Relay"], "one snapshot per service"
    changes.flush()
    assert handed == [{"Reaper", "Relay"}], "nothing pending"


async def test_an_urgent_service_is_handed_over_within_the_turn_alone() -> None:
    changes, control, handed, clock = feed()
    control.change("Relay")
    changes.mark_urgent("Reaper")
    assert handed == [], "at the end of the turn, after the command that follows"
    await a_turn()
    assert handed == [{"Reaper"}]
    clock.now += 1.0  # past the spacing
    control.change("Reaper")
    control.change("Reaper")
    await a_turn()
    assert handed == [{"Reaper"}, {"Reaper"}], "the changes of one turn together"
    clock.now += ChangeFeed.URGENT_SECONDS
    control.change("Reaper")
    await a_turn()
    assert len(handed) == 2, "no longer urgent: it waits for the flush"
    changes.flush()
    assert handed[-1] == {"Reaper", "Relay"}


async def test_urgent_changes_are_spaced() -> None:
    changes, control, handed, clock = feed()
    changes.mark_urgent("Reaper")
    await a_turn()
    control.change("Reaper")
    await a_turn()
    assert len(handed) == 2
    control.change("Reaper")  # right after: waits out the spacing
    await a_turn()
    assert len(handed) == 2
    clock.now += ChangeFeed.URGENT_SPACING
    await handed.wait_for(3)  # the spacing's timer is on the event loop's own clock
    assert handed == [{"Reaper"}] * 3


async def test_an_action_buys_a_few_immediate_applies_not_a_window_of_every_loop() -> None:
    """Resuming a service that loops 20 times a second redrew it 20 times a second for the
    whole urgent window: more than everything else on screen cost."""
    changes, control, handed, clock = feed()
    changes.mark_urgent("Reaper")
    await a_turn()
    for _ in range(10):  # a busy loop's changes, well inside the window
        clock.now += ChangeFeed.URGENT_SPACING
        control.change("Reaper")
        await a_turn()
    assert len(handed) == ChangeFeed.URGENT_APPLIES
    assert clock.now < 100.0 + ChangeFeed.URGENT_SECONDS
    changes.tick()
    assert len(handed) == ChangeFeed.URGENT_APPLIES + 1, "the rest with the next tick"
    changes.mark_urgent("Reaper")  # another key: another few
    await a_turn()
    assert len(handed) == ChangeFeed.URGENT_APPLIES + 2


async def test_what_a_key_caused_and_a_flush_are_to_be_drawn_at_once_not_a_tick() -> None:
    changes, control, handed, _ = feed()
    changes.mark_urgent("Reaper")
    await a_turn()
    control.change("Relay")
    changes.tick()
    control.change("Relay")
    changes.flush()
    assert handed == [{"Reaper"}, {"Relay"}, {"Relay"}]
    assert handed.at_once == [True, False, True]


async def test_a_change_from_another_thread_is_handed_over_on_the_loop() -> None:
    changes, control, handed, _ = feed()
    loop_thread = threading.get_ident()
    threads: list[int] = []
    control.callbacks.append(lambda name: threads.append(threading.get_ident()))
    await asyncio.to_thread(control.change, "Reaper")
    assert threads != [loop_thread]
    await a_turn()
    changes.flush()
    assert handed == [{"Reaper"}]


async def test_after_close_nothing_is_handed_over() -> None:
    changes, control, handed, _ = feed()
    control.change("Reaper")
    changes.close()
    assert control.callbacks == []
    changes.flush()
    changes.mark_urgent("Reaper")
    await a_turn()
    assert handed == []


async def test_a_tick_hands_over_the_services_in_view_and_the_rest_less_often() -> None:
    """At 500 services, reading every changed service's snapshot four times a second was
    a quarter of the console's own work; the rows off screen need it once a second."""
    control, handed, clock = FakeControl(), Handed(), Clock()
    view: set[str] | None = {"Shown"}
    changes = ChangeFeed(cast(ServiceControl, control), handed, clock=clock, in_view=lambda: view)
    changes.start()
    changes.tick()  # the first tick hands over everything
    handed.clear()

    for name in ("Shown", "Hidden"):
        control.change(name)
    clock.now += TICK
    changes.tick()
    assert handed == [{"Shown"}]
    assert control.reads.count("Hidden") == 0

    clock.now += ChangeFeed.BACKGROUND_SECONDS
    changes.tick()
    assert handed == [{"Shown"}, {"Hidden"}]

    control.change("Hidden")
    view = None  # e.g. sorted by a column that changes: every row counts
    clock.now += TICK
    changes.tick()
    assert handed[-1] == {"Hidden"}

    view = {"Shown"}
    control.change("Hidden")
    changes.flush()  # a flush still hands over everything
    assert handed[-1] == {"Hidden"}
