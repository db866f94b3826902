"""SIGINT / SIGTERM: `handle_signals=True` and `run_multiple_services()`.

The tests send real signals to their own process while services run, and check that
the handlers installed before (a recording sentinel) are back afterwards.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import pytest

from servicedeck import LoopService, ServiceState, run_multiple_services

from .conftest import WAIT_TIMEOUT, SentinelHandlers, WaitFor
from .services import Recorder as Sleeper

pytestmark = pytest.mark.anyio

SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class OtherSleeper(Sleeper):
    """A second service with a name of its own."""


def assert_restored(sentinel: SentinelHandlers) -> None:
    assert signal.getsignal(signal.SIGINT) is sentinel
    assert signal.getsignal(signal.SIGTERM) is sentinel
    assert sentinel.received == []  # the signals went to the services, not the old handler


# -- handle_signals ---------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS)
async def test_handle_signals_stops_gracefully_and_restores_the_handlers(
    sig: signal.Signals, sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    svc = Sleeper(handle_signals=True)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert signal.getsignal(sig) is not sentinel_handlers  # the service's is in place

            os.kill(os.getpid(), sig)
            await wait_for(svc, lambda s: s.state is ServiceState.STOPPED)

    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.error_count == 0
    assert_restored(sentinel_handlers)


async def test_handle_signals_off_leaves_the_handlers_alone(
    sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    svc = Sleeper()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert signal.getsignal(signal.SIGINT) is sentinel_handlers
            assert signal.getsignal(signal.SIGTERM) is sentinel_handlers
            await svc.stop()

    assert_restored(sentinel_handlers)


async def test_handle_signals_restores_the_handlers_after_a_plain_stop(
    sentinel_handlers: SentinelHandlers,
) -> None:
    svc = Sleeper(loop_seconds=0, handle_signals=True)

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=2)
        await svc.start(loops=1)  # again: installs and restores again

    assert svc.status.loop_count == 3
    assert_restored(sentinel_handlers)


async def test_handle_signals_setup_error_propagates_as_raised_and_restores_the_handlers(
    sentinel_handlers: SentinelHandlers,
) -> None:
    class BadSetup(Sleeper):
        async def setup(self) -> None:
            raise ConnectionError("database unreachable")

    svc = BadSetup(handle_signals=True)

    # The exception itself, not an ExceptionGroup from an internal task group.
    with anyio.fail_after(WAIT_TIMEOUT), pytest.raises(ConnectionError):
        await svc.start()

    assert svc.status.state is ServiceState.CRASHED
    assert_restored(sentinel_handlers)


async def test_handle_signals_cancellation_restores_the_handlers(
    sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    svc = Sleeper(handle_signals=True)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            tg.cancel_scope.cancel()

    assert svc.events == ["setup", "run", "teardown"]
    assert_restored(sentinel_handlers)


async def test_handle_signals_stop_while_installing_handlers_is_honoured(
    sentinel_handlers: SentinelHandlers,
) -> None:
    """A stop that lands while start() installs its signal handlers is not lost."""
    svc = Sleeper(handle_signals=True)
    install_handlers = svc._watch_signals

    async def stop_then_install(**kwargs: Any) -> None:
        await svc.stop()  # arrives between start()'s checks and its first loop
        await install_handlers(**kwargs)

    svc._watch_signals = stop_then_install  # type: ignore[method-assign]

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()  # runs until the timeout if the stop were lost

    assert svc.events == []
    assert svc.status.state is ServiceState.STOPPED
    assert_restored(sentinel_handlers)


# -- run_multiple_services ---------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS)
async def test_run_multiple_services_stops_all_on_a_signal_and_restores_the_handlers(
    sig: signal.Signals, sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    services = [Sleeper(), OtherSleeper()]
    returned = anyio.Event()

    async def run() -> None:
        await run_multiple_services(services)
        returned.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            for svc in services:
                await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)

            os.kill(os.getpid(), sig)
            await returned.wait()

    for svc in services:
        assert svc.status.state is ServiceState.STOPPED
        assert svc.events == ["setup", "run", "teardown"]
    assert_restored(sentinel_handlers)


async def test_run_multiple_services_returns_when_all_have_stopped(
    sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    first, second = Sleeper(), OtherSleeper()
    returned = anyio.Event()

    async def run() -> None:
        await run_multiple_services([first, second])
        returned.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await wait_for(first, lambda s: s.state is ServiceState.SLEEPING)
            await wait_for(second, lambda s: s.state is ServiceState.SLEEPING)

            await first.stop()
            await anyio.wait_all_tasks_blocked()
            assert not returned.is_set()  # one is still running

            await second.stop()
            await returned.wait()

    assert_restored(sentinel_handlers)


async def test_run_multiple_services_a_crash_does_not_stop_the_others(
    sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    class Crashes(Sleeper):
        async def setup(self) -> None:
            raise RuntimeError("setup failed")

    crashes, runs = Crashes(), Sleeper()
    returned = anyio.Event()

    async def run() -> None:
        await run_multiple_services([crashes, runs])  # does not raise
        returned.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await wait_for(crashes, lambda s: s.state is ServiceState.CRASHED)
            await wait_for(runs, lambda s: s.state is ServiceState.SLEEPING)
            os.kill(os.getpid(), signal.SIGTERM)
            await returned.wait()

    assert runs.status.state is ServiceState.STOPPED
    assert crashes.status.state is ServiceState.CRASHED
    assert_restored(sentinel_handlers)


async def test_run_multiple_services_with_no_services_returns(
    sentinel_handlers: SentinelHandlers,
) -> None:
    with anyio.fail_after(WAIT_TIMEOUT):
        await run_multiple_services([])

    assert_restored(sentinel_handlers)


async def test_run_multiple_services_one_signal_stops_services_that_handle_signals_too(
    sentinel_handlers: SentinelHandlers, wait_for: WaitFor
) -> None:
    # Their own handlers would each take the signal from the others (one handler per
    # signal): under run_multiple_services the global one must stop them all.
    services = [Sleeper(handle_signals=True), OtherSleeper(handle_signals=True)]
    returned = anyio.Event()

    async def run() -> None:
        await run_multiple_services(services)
        returned.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            for svc in services:
                await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)

            os.kill(os.getpid(), signal.SIGTERM)
            await returned.wait()

    for svc in services:
        assert svc.status.state is ServiceState.STOPPED
    assert_restored(sentinel_handlers)
