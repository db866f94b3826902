"""`LoopService.stop()`: event-driven wake-up, blocking, timeouts, stopping from inside."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest

from servicedeck import LoopService, ServiceState

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time
from .services import Recorder as Sleeper

pytestmark = pytest.mark.anyio


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class Stuck(Base):
    """A loop that does not return until its gate opens."""

    loop_seconds = 0

    def __init__(self, loop_seconds: float | None = None) -> None:
        super().__init__(loop_seconds)
        self.entered = anyio.Event()
        self.gate = anyio.Event()

    async def run_once(self) -> None:
        self.entered.set()
        await self.gate.wait()


async def test_stop_wakes_a_long_sleep_at_once(wait_for: WaitFor) -> None:
    svc = Sleeper()

    # 10 s is far less than the 60 s interval: only an event-driven wake-up passes.
    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            await svc.stop()
            assert svc.status.state is ServiceState.STOPPED

    assert svc.events == ["setup", "run", "teardown"]


@virtual_time
async def test_stop_wakes_a_long_sleep_in_no_virtual_time(wait_for: WaitFor) -> None:
    svc = Sleeper()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        before = anyio.current_time()
        await svc.stop()
        stopped_after = anyio.current_time() - before

    # A poll interval, or waiting out the sleep, would show as virtual time passing.
    assert stopped_after == 0
    assert svc.status.state is ServiceState.STOPPED


async def test_stop_block_waits_until_teardown_is_done(wait_for: WaitFor) -> None:
    class SlowTeardown(Sleeper):
        def __init__(self) -> None:
            super().__init__()
            self.gate = anyio.Event()
            self.torn_down = False

        async def teardown(self) -> None:
            await self.gate.wait()
            self.torn_down = True

    svc = SlowTeardown()

    async def open_gate_when_stopping() -> None:
        await wait_for(svc, lambda s: s.state is ServiceState.STOPPING)
        await anyio.lowlevel.checkpoint()
        svc.gate.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            tg.start_soon(open_gate_when_stopping)
            await svc.stop()
            assert svc.torn_down
            assert not svc.is_running
            assert svc.status.state is ServiceState.STOPPED


async def test_stop_from_inside_run_once_returns_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class StopsItself(Base):
        loop_seconds = 0
        calls = 0
        returned = False

        async def run_once(self) -> None:
            self.calls += 1
            await self.stop()  # block=True from its own loop must not deadlock
            self.returned = True

    svc = StopsItself()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()  # forever, unless the stop takes effect after this loop

    assert svc.returned
    assert svc.calls == 1
    assert svc.status.loop_count == 1
    assert svc.status.state is ServiceState.STOPPED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].name == "servicedeck.services.StopsItself"
    assert "own loop" in warnings[0].getMessage()


async def test_stop_non_blocking_from_inside_run_once_does_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class StopsItself(Base):
        loop_seconds = 0

        async def run_once(self) -> None:
            await self.stop(block=False)

    svc = StopsItself()
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()

    assert svc.status.loop_count == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_stop_block_timeout_warns_and_returns(caplog: pytest.LogCaptureFixture) -> None:
    svc = Stuck()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.entered.wait()
            before = anyio.current_time()
            await svc.stop(timeout=0.1)
            waited = anyio.current_time() - before

            assert waited >= 0.1
            assert svc.is_running  # the loop is still stuck
            assert svc.status.state is ServiceState.STOPPING
            [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert "gave up after 0.1 s" in warning.getMessage()

            svc.gate.set()  # the loop returns; the requested stop takes effect

    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.loop_count == 1


@virtual_time
@pytest.mark.parametrize(
    ("loop_seconds", "expected_wait"), [(0.01, 1.0), (0, 1.0), (5, 5.0), (90, 90.0)]
)
async def test_stop_block_default_timeout_is_loop_seconds_but_at_least_one_second(
    loop_seconds: float, expected_wait: float, caplog: pytest.LogCaptureFixture
) -> None:
    svc = Stuck(loop_seconds=loop_seconds)

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await svc.entered.wait()
        before = anyio.current_time()
        await svc.stop()
        waited = anyio.current_time() - before
        svc.gate.set()

    assert waited == pytest.approx(expected_wait)
    assert any("gave up" in r.getMessage() for r in caplog.records)


async def test_stop_non_blocking_returns_while_the_loop_finishes(wait_for: WaitFor) -> None:
    svc = Stuck()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.entered.wait()

            await svc.stop(block=False)

            status = svc.status
            assert status.state is ServiceState.STOPPING
            assert status.stop_requested
            assert svc.should_stop
            assert svc.is_running

            svc.gate.set()
            await wait_for(svc, lambda s: s.state is ServiceState.STOPPED)

    # The current loop finished; no other loop started.
    assert svc.status.loop_count == 1
    assert svc.status.error_count == 0


async def test_stop_during_setup_runs_teardown_and_no_loop(wait_for: WaitFor) -> None:
    class SlowSetup(Sleeper):
        def __init__(self) -> None:
            super().__init__(loop_seconds=0)
            self.gate = anyio.Event()

        async def setup(self) -> None:
            await super().setup()
            await self.gate.wait()

    svc = SlowSetup()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.STARTING)
            await svc.stop(block=False)
            assert svc.status.state is ServiceState.STOPPING
            svc.gate.set()

    assert svc.events == ["setup", "teardown"]
    assert svc.status.loop_count == 0
    assert svc.status.state is ServiceState.STOPPED


async def test_stop_called_twice_concurrently_both_return(wait_for: WaitFor) -> None:
    svc = Sleeper()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            async with anyio.create_task_group() as stoppers:
                stoppers.start_soon(svc.stop)
                stoppers.start_soon(svc.stop)

    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.state is ServiceState.STOPPED


async def test_stop_on_a_stopped_service_returns_at_once() -> None:
    svc = Sleeper()
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=1)
        await svc.stop()  # not running: nothing to wait for

    assert svc.status.state is ServiceState.STOPPED
