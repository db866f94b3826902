"""The event-loop watchdog names the service whose synchronous work blocked the loop."""

from __future__ import annotations

import logging
import time

import anyio
import anyio.lowlevel
import pytest

from servicedeck import LoopService
from servicedeck.watchdog import LoopWatchdog, Stall

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Blocker(LoopService):
    loop_seconds = 0

    async def run_once(self) -> None:
        self.crunch()

    def crunch(self) -> None:
        # The fault under test: synchronous work that never yields to the event loop.
        time.sleep(0.3)


class _Polite(LoopService):
    loop_seconds = 0.01

    async def run_once(self) -> None:
        await anyio.lowlevel.checkpoint()


async def test_watchdog_names_the_blocking_service_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker, polite = _Blocker(), _Polite()
    stalled = anyio.Event()
    seen: list[Stall] = []

    def on_stall(stall: Stall) -> None:
        seen.append(stall)
        stalled.set()

    watchdog = LoopWatchdog([blocker, polite], threshold=0.1, interval=0.02, on_stall=on_stall)
    with caplog.at_level(logging.WARNING, logger="servicedeck.watchdog"), anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(watchdog.run)
            tg.start_soon(polite.start)
            tg.start_soon(blocker.start, 1)
            await stalled.wait()
            await polite.stop()
            tg.cancel_scope.cancel()
    stall = seen[0]
    assert stall.service == "_Blocker"
    assert stall.seconds >= 0.1
    assert stall.where is not None
    assert "in crunch" in stall.where
    assert watchdog.stalls[0] is stall
    assert any("blocked" in r.getMessage() and "_Blocker" in r.getMessage() for r in caplog.records)


async def test_watchdog_reports_nothing_when_nothing_blocks() -> None:
    polite = _Polite()
    watchdog = LoopWatchdog([polite], threshold=1.0, interval=0.01)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(watchdog.run)
            await polite.start(loops=20)
            tg.cancel_scope.cancel()
    assert watchdog.stalls == []


def test_watchdog_rejects_a_non_positive_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        LoopWatchdog(threshold=0)
