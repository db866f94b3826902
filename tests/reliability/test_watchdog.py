"""The event-loop watchdog names the service whose synchronous work blocked the loop."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from servicedeck import LoopService, Service
from servicedeck.controller import LoopWatchdog
from servicedeck.controller._watchdog import RECENT_STALLS

pytestmark = pytest.mark.anyio


def _block() -> None:
    time.sleep(0.3)  # the fault under test: synchronous work that never yields


class _Blocker(LoopService):
    loop_seconds = 0

    async def run_once(self) -> None:
        self.crunch()

    def crunch(self) -> None:
        _block()


class _Polite(LoopService):
    loop_seconds = 0.01

    async def run_once(self) -> None:
        await anyio.lowlevel.checkpoint()


async def until_a_stall(
    services: Sequence[Service],
    run: Callable[[anyio.abc.TaskGroup], Awaitable[Any]],
    **options: Any,
) -> LoopWatchdog:
    """Watch `services` (threshold 0.1 s) while `run(task_group)` runs them, until a stall."""
    stalled = anyio.Event()
    watchdog = LoopWatchdog(
        services, threshold=0.1, interval=0.02, on_stall=lambda stall: stalled.set(), **options
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(watchdog.run)
            await run(tg)
            await stalled.wait()
            tg.cancel_scope.cancel()
    return watchdog


async def test_watchdog_names_the_blocking_service_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker, polite = _Blocker(), _Polite()

    async def run(tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(polite.start)
        tg.start_soon(blocker.start, 1)  # tasks not named: the code says who

    with caplog.at_level(logging.WARNING):
        watchdog = await until_a_stall([blocker, polite], run)

    stall = watchdog.stalls[0]
    assert stall.service == "_Blocker"
    assert stall.seconds >= 0.1
    assert stall.where is not None
    assert "in crunch" in stall.where
    [record] = [r for r in caplog.records if "blocked the event loop" in r.getMessage()]
    assert record.name == "servicedeck.services._Blocker", "in the service's own log"
    assert "_Blocker blocked the event loop for" in record.getMessage()


async def test_watchdog_reports_nothing_when_nothing_blocks() -> None:
    polite = _Polite()
    watchdog = LoopWatchdog([polite], threshold=1.0, interval=0.01)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(watchdog.run)
            await polite.start(loops=20)
            tg.cancel_scope.cancel()
    assert watchdog.stalls == []


class _SharedBase(LoopService):
    """Two services below share this run_once: only the task's name tells them apart."""

    loop_seconds = 0
    blocks = False

    async def run_once(self) -> None:
        if self.blocks:
            self.crunch()
        await anyio.lowlevel.checkpoint()

    def crunch(self) -> None:
        _block()


class _QuietTwin(_SharedBase):
    pass


class _BlockingTwin(_SharedBase):
    blocks = True


async def test_watchdog_tells_apart_services_that_share_their_code() -> None:
    quiet, blocking = _QuietTwin(), _BlockingTwin()

    async def run(tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(quiet.start, name="servicedeck:_QuietTwin")
        tg.start_soon(blocking.start, 1, name="servicedeck:_BlockingTwin")

    watchdog = await until_a_stall([quiet, blocking], run)

    [stall] = watchdog.stalls
    assert stall.service == "_BlockingTwin"
    assert stall.where is not None
    assert "in crunch" in stall.where


async def test_watchdog_stamps_stalls_on_its_clock_and_keeps_a_bounded_history() -> None:
    blocker = _Blocker()

    async def run(tg: anyio.abc.TaskGroup) -> None:
        await blocker.start(loops=1)

    watchdog = await until_a_stall([blocker], run, clock=lambda: 123.5)

    assert watchdog.stalls[0].when == 123.5
    watchdog.stalls[:] = [watchdog.stalls[0]] * RECENT_STALLS
    watchdog._report(1.0)
    assert len(watchdog.stalls) == RECENT_STALLS
    assert watchdog.stalls[-1].seconds == 1.0


async def test_watchdog_logs_a_stall_of_no_service_on_its_own_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def run(tg: anyio.abc.TaskGroup) -> None:
        await anyio.lowlevel.checkpoint()
        _block()  # the event loop's own code, no service's

    with caplog.at_level(logging.WARNING):
        watchdog = await until_a_stall([_Polite()], run)

    assert watchdog.stalls[0].service is None
    [record] = [r for r in caplog.records if "blocked" in r.getMessage()]
    assert record.name == "servicedeck.watchdog"
    assert "no service code was running" in record.getMessage()


async def test_watchdog_blames_no_service_for_a_listener_blocking_in_its_task() -> None:
    polite = _Polite()
    polite.subscribe(lambda service: _block() if service.status.loop_count == 1 else None)

    async def run(tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(polite.start, 3, name="servicedeck:_Polite")

    watchdog = await until_a_stall([polite], run)

    [stall] = watchdog.stalls
    assert stall.service is None, "the listener's code blocked, not the service's"
    assert stall.where is not None
    assert "in _block" in stall.where


def test_watchdog_names_no_one_when_several_services_were_seen_in_one_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A loop busy with many short callbacks is late without any one of them to blame.
    watchdog = LoopWatchdog(threshold=0.1)
    watchdog._seen = {"Reaper": "a.py:1 in run_once", "Relay": "b.py:2 in run_once"}

    with caplog.at_level(logging.WARNING):
        watchdog._report(0.8)

    [stall] = watchdog.stalls
    assert (stall.service, stall.where) == (None, None)
    assert "several services ran: Reaper, Relay" in caplog.text
    assert watchdog._seen == {}, "the next stall starts afresh"


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1", True])
def test_watchdog_rejects_a_threshold_that_is_not_positive_seconds(bad: object) -> None:
    with pytest.raises(
        ValueError, match=rf"threshold must be seconds > 0, got {re.escape(repr(bad))}"
    ):
        LoopWatchdog(threshold=bad)  # type: ignore[arg-type]


def test_watchdog_names_the_service_seen_on_most_samples_of_a_stall(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A neighbour that ran just before the block is sampled once; the blocker on the rest.
    watchdog = LoopWatchdog(threshold=0.1)
    watchdog._seen = {"Relay": "b.py:2 in run_once", "Reaper": "a.py:1 in run_once"}
    watchdog._counts = {"Relay": 1, "Reaper": 9}

    with caplog.at_level(logging.WARNING):
        watchdog._report(0.8)

    [stall] = watchdog.stalls
    assert (stall.service, stall.where) == ("Reaper", "a.py:1 in run_once")
    assert watchdog._counts == {}, "the next stall starts afresh"
