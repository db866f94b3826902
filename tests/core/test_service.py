"""Non-loop `Service` subclasses, and running services: `running()`, `run_services()`."""

from __future__ import annotations

import logging
import signal

import anyio
import pytest

from servicedeck import LoopService, RunInAllServers, Service, ServiceState

from .conftest import WAIT_TIMEOUT, SentinelHandlers, WaitFor, virtual_time

pytestmark = pytest.mark.anyio


class PlainBase(Service):
    """Abstract (no `start` / `stop`): the plain services of this module derive from it."""


class LoopBase(LoopService):
    """Abstract (no `run_once`): the loop services of this module derive from it."""


class Waiter(PlainBase):
    """A plain service that runs until its `stop()` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.started = anyio.Event()
        self.stopping = anyio.Event()
        self.calls: list[str] = []

    async def start(self) -> None:  # type: ignore[override]
        self.calls.append("start")
        self.started.set()
        await self.stopping.wait()

    async def stop(self) -> None:
        self.calls.append("stop")
        self.stopping.set()


def test_base_classes_are_abstract() -> None:
    with pytest.raises(TypeError):
        Service()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        RunInAllServers()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        LoopBase()  # type: ignore[abstract]


# -- plain services ---------------------------------------------------------------------


async def test_plain_service_state_follows_start_and_stop(wait_for: WaitFor) -> None:
    svc = Waiter()
    assert svc.status.state is ServiceState.STOPPED
    assert not svc.is_running

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.started.wait()
            assert svc.status.state is ServiceState.RUNNING
            assert svc.is_running
            assert not svc.should_stop
            assert svc.status.loop_seconds is None  # it does not loop

            await svc.stop()
            assert svc.should_stop
            assert svc.status.stop_requested
            assert svc.status.state is ServiceState.STOPPING  # until start() returns
            await wait_for(svc, lambda s: s.state is ServiceState.STOPPED)

    assert not svc.is_running
    assert not svc.status.cancelled, "stopped, not killed"
    assert svc.status.last_error is None
    assert svc.calls == ["start", "stop"]


async def test_plain_service_crash_in_start_is_recorded_with_traceback() -> None:
    class Crashes(PlainBase):
        async def start(self) -> None:  # type: ignore[override]
            raise ConnectionRefusedError("no broker at localhost:5672")

        async def stop(self) -> None:
            pass

    svc = Crashes()

    with pytest.raises(ConnectionRefusedError):
        await svc.start()

    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert not svc.is_running
    assert status.last_error is not None
    assert status.last_error.phase == "start"
    assert status.last_error.type_name == "ConnectionRefusedError"
    assert "in start" in status.last_error.traceback
    assert "no broker at localhost:5672" in status.last_error.traceback


async def test_plain_service_stop_error_is_recorded_and_raised() -> None:
    class BadStop(PlainBase):
        async def start(self) -> None:  # type: ignore[override]
            pass

        async def stop(self) -> None:
            raise RuntimeError("cannot stop")

    svc = BadStop()

    with pytest.raises(RuntimeError, match="cannot stop"):
        await svc.stop()

    assert svc.status.last_error is not None
    assert svc.status.last_error.phase == "stop"


async def test_plain_service_stop_before_start_is_honoured() -> None:
    svc = Waiter()

    await svc.stop()
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()  # returns at once instead of waiting for a stop

    assert svc.calls == ["stop"]
    assert svc.status.state is ServiceState.STOPPED


async def test_plain_service_start_while_running_raises(wait_for: WaitFor) -> None:
    svc = Waiter()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.started.wait()
            with pytest.raises(RuntimeError, match="already running"):
                await svc.start()
            assert svc.status.state is ServiceState.RUNNING
            await svc.stop()

    assert svc.calls == ["start", "stop"]


async def test_plain_service_cancellation_propagates_and_leaves_it_stopped() -> None:
    svc = Waiter()
    returned = False

    async def run() -> None:
        nonlocal returned
        await svc.start()
        returned = True

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await svc.started.wait()
            tg.cancel_scope.cancel()

    assert not returned
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.cancelled
    assert svc.status.last_error is None


async def test_plain_subclass_calling_super_start_is_tracked_once() -> None:
    class Child(Waiter):
        async def start(self) -> None:  # type: ignore[override]
            self.calls.append("child")
            assert self.status.state is ServiceState.RUNNING
            await super().start()  # must not be refused as "already running"

    svc = Child()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.started.wait()
            await svc.stop()

    assert svc.calls == ["child", "start", "stop"]
    assert svc.status.state is ServiceState.STOPPED


# -- running() / run_services() --------------------------------------------------------


async def test_running_starts_every_enabled_service_and_stops_them_on_exit(
    monkeypatch: pytest.MonkeyPatch, wait_for: WaitFor
) -> None:
    class Local(LoopBase):
        loop_seconds = 60
        torn_down = False

        async def teardown(self) -> None:
            self.torn_down = True

    class One(Local):
        async def run_once(self) -> None:
            pass

    class Two(Local):
        async def run_once(self) -> None:
            pass

    class Disabled(Local):
        async def run_once(self) -> None:
            pytest.fail("a disabled service ran")

    monkeypatch.setenv(Disabled.environment_variable_name(), "false")

    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as services:
            assert [type(s) for s in services] == [One, Two]
            for svc in services:
                await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
                assert svc.is_running

    for svc in services:
        assert svc.status.state is ServiceState.STOPPED
        assert svc.torn_down  # type: ignore[attr-defined]


async def test_running_runs_plain_services_too(wait_for: WaitFor) -> None:
    class Local(PlainBase):
        """Abstract."""

    class One(Waiter, Local):
        pass

    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as [svc]:
            await wait_for(svc, lambda s: s.state is ServiceState.RUNNING)

    assert svc.status.state is ServiceState.STOPPED
    assert svc.calls == ["start", "stop"]  # type: ignore[attr-defined]


async def test_running_a_service_whose_init_raises_is_logged_and_the_others_run(
    caplog: pytest.LogCaptureFixture, wait_for: WaitFor
) -> None:
    class Local(LoopBase):
        loop_seconds = 60

    class BadInit(Local):
        def __init__(self) -> None:
            super().__init__()
            raise LookupError("no such queue")

        async def run_once(self) -> None:
            pass

    class Good(Local):
        async def run_once(self) -> None:
            pass

    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as services:
            assert [type(s) for s in services] == [Good]
            await wait_for(services[0], lambda s: s.state is ServiceState.SLEEPING)

    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "BadInit" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is LookupError


async def test_running_a_crashing_service_does_not_stop_the_others(
    wait_for: WaitFor, caplog: pytest.LogCaptureFixture
) -> None:
    class Local(LoopBase):
        loop_seconds = 60

    class BadSetup(Local):
        async def setup(self) -> None:
            raise RuntimeError("setup failed")

        async def run_once(self) -> None:
            pass

    class Healthy(Local):
        async def run_once(self) -> None:
            pass

    class BadTeardown(Local):
        async def run_once(self) -> None:
            pass

        async def teardown(self) -> None:
            raise RuntimeError("teardown failed")

    with anyio.fail_after(WAIT_TIMEOUT):
        # No exception escapes the block: each failure stays with its service.
        async with Local.running() as services:
            bad_setup, healthy, bad_teardown = services
            await wait_for(bad_setup, lambda s: s.state is ServiceState.CRASHED)
            await wait_for(healthy, lambda s: s.state is ServiceState.SLEEPING)
            await wait_for(bad_teardown, lambda s: s.state is ServiceState.SLEEPING)

    assert bad_setup.status.last_error is not None
    assert bad_setup.status.last_error.phase == "setup"
    assert healthy.status.state is ServiceState.STOPPED
    assert bad_teardown.status.state is ServiceState.CRASHED
    assert bad_teardown.status.last_error is not None
    assert bad_teardown.status.last_error.phase == "teardown"
    assert any("setup failed" in r.getMessage() for r in caplog.records)


async def test_running_a_crashing_plain_service_does_not_stop_the_others(
    wait_for: WaitFor,
) -> None:
    class Local(PlainBase):
        """Abstract."""

    class Crashes(Local):
        async def start(self) -> None:  # type: ignore[override]
            raise RuntimeError("start failed")

        async def stop(self) -> None:
            pass

    class Runs(Waiter, Local):
        pass

    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as [crashes, runs]:
            await wait_for(crashes, lambda s: s.state is ServiceState.CRASHED)
            await wait_for(runs, lambda s: s.state is ServiceState.RUNNING)

    assert runs.status.state is ServiceState.STOPPED
    assert crashes.status.last_error is not None
    assert "start failed" in crashes.status.last_error.traceback


async def test_running_lets_an_error_in_the_block_propagate_unchanged(
    wait_for: WaitFor,
) -> None:
    class Local(LoopBase):
        loop_seconds = 60

    class One(Local):
        async def run_once(self) -> None:
            pass

    ran: list[Service] = []

    async def use_services() -> None:
        async with Local.running() as services:
            ran.extend(services)
            await wait_for(services[0], lambda s: s.state is ServiceState.SLEEPING)
            raise KeyError("from the block")

    with anyio.fail_after(WAIT_TIMEOUT), pytest.raises(KeyError, match="from the block"):
        await use_services()

    [svc] = ran
    assert isinstance(svc, One)
    assert svc.status.state is ServiceState.STOPPED


@virtual_time
async def test_running_cancels_a_service_that_does_not_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Local(PlainBase):
        """Abstract."""

    class Stubborn(Local):
        async def start(self) -> None:  # type: ignore[override]
            await anyio.sleep_forever()

        async def stop(self) -> None:
            pass  # ignores the request

    before = anyio.current_time()
    async with Local.running() as [svc]:
        await anyio.wait_all_tasks_blocked()
        assert svc.is_running

    # It was given the stop timeout (5 s), then cancelled.
    assert anyio.current_time() - before == pytest.approx(5.0)
    assert svc.status.state is ServiceState.STOPPED
    assert any("did not stop" in r.getMessage() for r in caplog.records)


async def test_run_services_runs_until_cancelled(
    wait_for: WaitFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="servicedeck")
    instances: list[LoopService] = []
    up = anyio.Event()

    class Local(LoopBase):
        """Abstract."""

    class One(Local):
        loop_seconds = 60
        torn_down = False

        async def setup(self) -> None:
            instances.append(self)
            up.set()

        async def run_once(self) -> None:
            pass

        async def teardown(self) -> None:
            self.torn_down = True

    returned = False

    async def run() -> None:
        nonlocal returned
        await Local.run_services()
        returned = True

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await up.wait()
            [svc] = instances
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            await anyio.wait_all_tasks_blocked()
            assert not returned  # it keeps running
            tg.cancel_scope.cancel()

    assert not returned
    assert svc.status.state is ServiceState.STOPPED
    assert svc.torn_down  # type: ignore[attr-defined]
    assert any("received cancellation" in r.getMessage() for r in caplog.records)


async def test_run_services_stops_gracefully_on_sigint_then_raises_keyboard_interrupt(
    sentinel_handlers: SentinelHandlers,
) -> None:
    # The process-level proof on both backends is tests/reliability/test_ctrl_c.py.
    class Local(LoopBase):
        """Abstract."""

    class Interrupted(Local):
        loop_seconds = 60
        torn_down_gracefully: bool | None = None

        async def run_once(self) -> None:
            signal.raise_signal(signal.SIGINT)  # Ctrl+C, while the services run

        async def teardown(self) -> None:
            type(self).torn_down_gracefully = self.should_stop

    with anyio.fail_after(WAIT_TIMEOUT), pytest.raises(KeyboardInterrupt):
        await Local.run_services()

    assert Interrupted.torn_down_gracefully is True
    assert sentinel_handlers.received == [], "run_services() took the signal"
    assert signal.getsignal(signal.SIGINT) is sentinel_handlers, "the handler is back"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_run_services_leaves_an_ignored_sigint_ignored(
    sentinel_handlers: SentinelHandlers, backend: str
) -> None:
    class Local(LoopBase):
        """Abstract."""

    class Ignoring(Local):
        loop_seconds = 60
        signalled = False

        async def run_once(self) -> None:
            signal.raise_signal(signal.SIGINT)  # ignored: nothing may come of it
            type(self).signalled = True

    async def scenario() -> None:
        with anyio.fail_after(WAIT_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(Local.run_services)
                await anyio.wait_all_tasks_blocked()  # a taken signal would have acted
                assert Ignoring.signalled
                tg.cancel_scope.cancel()  # still running: only this ends it

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        anyio.run(scenario, backend=backend)
    except KeyboardInterrupt:
        pytest.fail("run_services() took an ignored SIGINT")

    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


# -- the logger, made on first use -------------------------------------------------------


class QuietService(LoopService):
    async def run_once(self) -> None:
        return None


class LoggingNamed(LoopService):
    name = "custom-name"

    async def run_once(self) -> None:
        self.logger.info("ran")


def test_a_service_that_never_logs_makes_no_logger() -> None:
    """A logger per service cost about 0.4 KB each, for services that may never log."""
    logging.Logger.manager.loggerDict.pop("servicedeck.services.QuietService", None)

    QuietService()

    assert "servicedeck.services.QuietService" not in logging.Logger.manager.loggerDict


def test_the_logger_is_named_after_the_service_and_may_be_replaced() -> None:
    service = LoggingNamed()

    assert service.logger is logging.getLogger("servicedeck.services.custom-name")
    assert service.logger is service.logger
    mine = logging.getLogger("mine")
    service.logger = mine
    assert service.logger is mine
    assert LoggingNamed().logger is logging.getLogger("servicedeck.services.custom-name")
