"""`LoopService.start()`: setup, N loops, teardown; errors, crashes and cancellation."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest

from servicedeck import LoopService, ServiceState

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time

pytestmark = pytest.mark.anyio


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class Recorder(Base):
    """Records every hook call, in order, with what it saw of its own state."""

    loop_seconds = 0

    def __init__(self, loop_seconds: float | None = None) -> None:
        super().__init__(loop_seconds)
        self.events: list[str] = []
        self.running_seen: list[bool] = []
        self.should_stop_seen: list[bool] = []

    async def setup(self) -> None:
        self.events.append("setup")
        self.running_seen.append(self.is_running)
        self.should_stop_seen.append(self.should_stop)

    async def run_once(self) -> None:
        self.events.append("run")
        self.running_seen.append(self.is_running)

    async def teardown(self) -> None:
        self.events.append("teardown")
        self.running_seen.append(self.is_running)


async def test_start_runs_setup_then_n_loops_then_teardown() -> None:
    svc = Recorder()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=3)

    assert svc.events == ["setup", "run", "run", "run", "teardown"]
    status = svc.status
    assert status.loop_count == 3
    assert status.error_count == 0
    assert status.state is ServiceState.STOPPED
    assert len(status.recent_durations) == 3
    assert status.last_duration == status.recent_durations[-1]


async def test_start_zero_loops_runs_setup_and_teardown_only() -> None:
    svc = Recorder(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=0)

    assert svc.events == ["setup", "teardown"]
    assert svc.status.loop_count == 0
    assert svc.status.state is ServiceState.STOPPED


@pytest.mark.parametrize("loops", [-1, 1.5, True, "3"])
async def test_start_invalid_loops_raises_value_error(loops: object) -> None:
    svc = Recorder()

    with pytest.raises(ValueError, match="loops"):
        await svc.start(loops=loops)  # type: ignore[call-overload]

    assert svc.events == []
    assert svc.status.state is ServiceState.STOPPED


async def test_start_again_after_return_accumulates_counts() -> None:
    svc = Recorder()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=2)
        await svc.start(loops=3)

    assert svc.events == ["setup", "run", "run", "teardown"] + ["setup"] + ["run"] * 3 + [
        "teardown"
    ]
    assert svc.status.loop_count == 5
    assert len(svc.status.recent_durations) == 5


async def test_start_again_after_stop_accumulates_counts(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=60)

    for run in (1, 2):
        with anyio.fail_after(WAIT_TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(svc.start)
                await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
                await svc.stop()
        assert svc.status.loop_count == run
        assert svc.status.state is ServiceState.STOPPED

    assert svc.events == ["setup", "run", "teardown"] * 2


async def test_start_while_running_raises_runtime_error(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            with pytest.raises(RuntimeError, match="already running"):
                await svc.start(loops=1)
            await svc.stop()

    # The refused start() changed nothing.
    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.state is ServiceState.STOPPED


async def test_stop_requested_before_start_is_honoured() -> None:
    svc = Recorder()

    await svc.stop()
    assert svc.should_stop
    assert svc.status.stop_requested

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()  # would loop forever if the stop were lost

    assert svc.events == []
    assert svc.status.loop_count == 0
    assert svc.status.state is ServiceState.STOPPED

    # The request was used up by that start; the next one runs.
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=1)
    assert svc.events == ["setup", "run", "teardown"]


async def test_stop_right_after_start_soon_is_race_free() -> None:
    svc = Recorder()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.stop()

    assert svc.events == []
    assert svc.status.state is ServiceState.STOPPED
    assert not svc.is_running


async def test_is_running_spans_setup_to_teardown() -> None:
    svc = Recorder()
    assert not svc.is_running

    await svc.start(loops=2)

    assert svc.running_seen == [True, True, True, True]
    assert not svc.is_running


async def test_should_stop_is_set_by_stop_and_reset_by_the_next_start() -> None:
    class StopsItself(Base):
        loop_seconds = 0

        def __init__(self) -> None:
            super().__init__()
            self.seen_in_setup: list[bool] = []
            self.seen_after_stop: list[bool] = []

        async def setup(self) -> None:
            self.seen_in_setup.append(self.should_stop)

        async def run_once(self) -> None:
            await self.stop(block=False)
            self.seen_after_stop.append(self.should_stop)

    svc = StopsItself()
    assert not svc.should_stop

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()
    assert svc.should_stop  # a stop was requested since the last start
    assert svc.status.loop_count == 1

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start()
    assert svc.seen_in_setup == [False, False]
    assert svc.seen_after_stop == [True, True]
    assert svc.status.loop_count == 2


async def test_run_once_error_is_recorded_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(Base):
        loop_seconds = 0
        calls = 0

        async def run_once(self) -> None:
            self.calls += 1
            if self.calls == 2:
                raise ValueError("bad record 2")

    svc = Flaky()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=4)

    status = svc.status
    assert svc.calls == 4
    assert status.loop_count == 4
    assert status.error_count == 1
    assert status.consecutive_errors == 0
    assert status.state is ServiceState.STOPPED
    error = status.last_error
    assert error is not None
    assert error.type_name == "ValueError"
    assert error.message == "bad record 2"
    assert error.phase == "run_once"
    assert error.loop == 2
    assert "Traceback (most recent call last)" in error.traceback
    assert "in run_once" in error.traceback
    assert "ValueError: bad record 2" in error.traceback
    assert status.recent_errors == (error,)

    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "servicedeck.services.Flaky"
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError


async def test_run_once_errors_count_consecutively_until_a_success() -> None:
    class FailsThrice(Base):
        loop_seconds = 0
        calls = 0

        async def run_once(self) -> None:
            self.calls += 1
            if self.calls <= 3:
                raise RuntimeError(f"failure {self.calls}")

    svc = FailsThrice()
    await svc.start(loops=3)
    assert (svc.status.error_count, svc.status.consecutive_errors) == (3, 3)
    assert [e.loop for e in svc.status.recent_errors] == [1, 2, 3]

    await svc.start(loops=1)
    assert (svc.status.error_count, svc.status.consecutive_errors) == (3, 0)


async def test_setup_error_crashes_with_traceback_and_skips_loops_and_teardown() -> None:
    class BadSetup(Recorder):
        async def setup(self) -> None:
            await super().setup()
            raise ConnectionError("database unreachable")

    svc = BadSetup()

    with pytest.raises(ConnectionError, match="database unreachable"):
        await svc.start(loops=3)

    assert svc.events == ["setup"]
    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert status.loop_count == 0
    assert not svc.is_running
    assert status.last_error is not None
    assert status.last_error.phase == "setup"
    assert status.last_error.type_name == "ConnectionError"
    assert "in setup" in status.last_error.traceback
    assert "database unreachable" in status.last_error.traceback


async def test_teardown_error_crashes_with_traceback() -> None:
    class BadTeardown(Recorder):
        async def teardown(self) -> None:
            await super().teardown()
            raise OSError("cannot close")

    svc = BadTeardown()

    with pytest.raises(OSError, match="cannot close"):
        await svc.start(loops=2)

    assert svc.events == ["setup", "run", "run", "teardown"]
    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert status.loop_count == 2
    assert status.last_error is not None
    assert status.last_error.phase == "teardown"
    assert "in teardown" in status.last_error.traceback


async def test_start_after_crash_runs_normally_and_clears_the_crash() -> None:
    class FailsFirstSetup(Recorder):
        attempts = 0

        async def setup(self) -> None:
            await super().setup()
            self.attempts += 1
            if self.attempts == 1:
                raise RuntimeError("first setup fails")

    svc = FailsFirstSetup()
    with pytest.raises(RuntimeError):
        await svc.start(loops=1)
    assert svc.status.state is ServiceState.CRASHED

    await svc.start(loops=1)

    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.loop_count == 1
    assert svc.events == ["setup", "setup", "run", "teardown"]


async def test_teardown_runs_after_run_once_errors() -> None:
    class AlwaysFails(Recorder):
        async def run_once(self) -> None:
            await super().run_once()
            raise KeyError("gone")

    svc = AlwaysFails()
    await svc.start(loops=2)

    assert svc.events == ["setup", "run", "run", "teardown"]
    assert svc.status.error_count == 2
    assert svc.status.state is ServiceState.STOPPED


async def test_cancellation_while_sleeping_runs_teardown_and_propagates(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=60)
    returned = False

    async def run() -> None:
        nonlocal returned
        await svc.start()
        returned = True

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            tg.cancel_scope.cancel()

    assert not returned  # start() did not swallow the cancellation
    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.cancelled, "recorded as cancelled (killed), not as stopped"
    assert svc.status.error_count == 0
    assert not svc.is_running

    # The next run starts afresh, and a stop is not a cancellation.
    svc.loop_seconds = 0
    await svc.start(loops=1)
    assert not svc.status.cancelled


async def test_cancellation_inside_run_once_is_not_recorded_or_swallowed(
    wait_for: WaitFor,
) -> None:
    class Blocks(Recorder):
        async def run_once(self) -> None:
            await super().run_once()
            await anyio.sleep_forever()

    svc = Blocks()
    returned = False

    async def run() -> None:
        nonlocal returned
        await svc.start()
        returned = True

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await wait_for(svc, lambda s: s.state is ServiceState.RUNNING)
            tg.cancel_scope.cancel()

    assert not returned
    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.error_count == 0
    assert svc.status.recent_errors == ()
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.cancelled
    assert svc.status.loop_started_at is None
    assert svc.status.loop_count == 0, "the cancelled loop did not finish"


async def test_cancellation_during_setup_skips_teardown(wait_for: WaitFor) -> None:
    class SlowSetup(Recorder):
        async def setup(self) -> None:
            await super().setup()
            await anyio.sleep_forever()

    svc = SlowSetup()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.STARTING)
            tg.cancel_scope.cancel()

    assert svc.events == ["setup"]  # teardown only follows a completed setup
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.cancelled


async def test_teardown_after_cancellation_can_still_await(wait_for: WaitFor) -> None:
    """Teardown is shielded: after a cancel it can still await (close connections)."""

    class AwaitingTeardown(Recorder):
        closed = False

        async def teardown(self) -> None:
            await super().teardown()
            await anyio.sleep(0.01)
            await anyio.lowlevel.checkpoint()
            self.closed = True

    svc = AwaitingTeardown(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            tg.cancel_scope.cancel()

    assert svc.closed
    assert svc.status.state is ServiceState.STOPPED


async def test_cancellation_wins_over_a_failing_teardown(wait_for: WaitFor) -> None:
    class BadTeardown(Recorder):
        async def teardown(self) -> None:
            await super().teardown()
            raise RuntimeError("teardown failed")

    svc = BadTeardown(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        # Must exit cleanly: the cancel reaches its scope, the teardown error is recorded.
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            tg.cancel_scope.cancel()

    assert svc.events == ["setup", "run", "teardown"]
    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert status.last_error is not None
    assert status.last_error.phase == "teardown"


async def test_subclass_that_skips_super_init_still_runs() -> None:
    class NoSuperInit(Base):
        loop_seconds = 0

        def __init__(self) -> None:  # forgets super().__init__(): the framework copes
            self.runs = 0

        async def run_once(self) -> None:
            self.runs += 1

    svc = NoSuperInit()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=2)

    assert svc.runs == 2
    assert svc.name == "NoSuperInit"
    assert svc.status.loop_count == 2


# -- when the loop running now started ----------------------------------------------------


@virtual_time
async def test_loop_started_at_says_since_when_a_loop_runs(wait_for: WaitFor) -> None:
    """The defect: a hung loop showed nothing of how long it had run (issue 10, defect 10)."""

    class Slow(Base):
        loop_seconds = 10

        def __init__(self) -> None:
            super().__init__()
            self.gate = anyio.Event()

        async def run_once(self) -> None:
            await self.gate.wait()

    svc = Slow()
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        running = await wait_for(svc, lambda s: s.state is ServiceState.RUNNING)
        began = anyio.current_time()
        # Already set when the listeners hear the loop has started.
        assert running.loop_started_at == began
        await anyio.sleep(95)  # virtual: the loop hangs
        await svc.stop(block=False)
        stopping = svc.status
        assert stopping.state is ServiceState.STOPPING
        assert stopping.loop_started_at == began, "still running while the stop waits for it"
        svc.gate.set()
        await wait_for(svc, lambda s: s.state is ServiceState.STOPPED)

    status = svc.status
    assert status.loop_started_at is None
    assert status.last_duration == 95


async def test_loop_started_at_is_none_between_loops(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            sleeping = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert sleeping.loop_started_at is None
            await svc.stop()


async def test_failed_loops_are_marked_among_the_recent_durations() -> None:
    class Alternating(Base):
        loop_seconds = 0

        async def run_once(self) -> None:
            if self.status.loop_count % 2:
                raise ValueError("odd")

    svc = Alternating()
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=40)

    status = svc.status
    assert len(status.recent_failed) == len(status.recent_durations) == 32
    assert status.recent_failed == (False, True) * 16
    assert all(duration >= 0 for duration in status.recent_durations)
