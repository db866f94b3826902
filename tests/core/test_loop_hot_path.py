"""The loop's hot path (issue 5 optimisations): cheap, and still exact at the edges."""

from __future__ import annotations

import anyio
import pytest

from servicedeck import LoopService, Service, ServiceState

pytestmark = pytest.mark.anyio


class Noop(LoopService):
    async def run_once(self) -> None:
        pass


async def test_loop_deadline_passed_while_listeners_ran_runs_the_next_loop_at_once() -> None:
    svc = Noop(loop_seconds=0.05)
    now = [0.0]
    svc._servicedeck.clock = lambda: now[0]

    def slow_listener(changed: Service) -> None:
        # The deadline passes after the loop decided to sleep, before the sleep begins.
        if changed.status.state is ServiceState.SLEEPING:
            now[0] += 1.0

    svc.subscribe(slow_listener)
    with anyio.fail_after(10):
        await svc.start(loops=3)

    status = svc.status
    assert status.state is ServiceState.STOPPED
    assert status.loop_count == 3
    assert status.last_error is None


class Failing(LoopService):
    async def run_once(self) -> None:
        raise ValueError("bad batch")


async def test_loop_error_traceback_starts_at_run_once_in_status_and_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = Failing(loop_seconds=0)

    with caplog.at_level("ERROR", logger="servicedeck.services.Failing"):
        await svc.start(loops=1)

    error = svc.status.last_error
    assert error is not None
    lines = error.traceback.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].endswith("in run_once")  # the framework's own frame is left out
    assert 'raise ValueError("bad batch")' in error.traceback
    assert lines[-1] == "ValueError: bad batch"
    (record,) = caplog.records
    logged = caplog.text
    assert record.exc_info is not None
    assert "in run_once" in logged
    assert "in _loop" not in logged


async def test_loop_pause_from_a_listener_as_it_goes_to_sleep_pauses_at_once() -> None:
    svc = Noop(loop_seconds=60)
    paused = anyio.Event()

    def listener(changed: Service) -> None:
        status = changed.status
        if status.state is ServiceState.SLEEPING and not status.paused:
            changed.pause()  # before the sleep has begun: nothing for wake() to cut yet
        elif status.state is ServiceState.PAUSED:
            paused.set()

    svc.subscribe(listener)
    started = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        with anyio.fail_after(10):
            await paused.wait()
        # Not after the 60 s sleep (trio's mock clock would jump there without failing).
        assert anyio.current_time() - started < 10
        assert svc.status.loop_count == 1
        await svc.stop()


async def test_loop_resume_from_a_listener_as_it_pauses_goes_back_to_the_schedule() -> None:
    svc = Noop(loop_seconds=60)
    svc.pause()
    sleeping = anyio.Event()

    def listener(changed: Service) -> None:
        status = changed.status
        if status.state is ServiceState.PAUSED:
            changed.resume()  # before the paused wait has begun
        elif status.state is ServiceState.SLEEPING:
            sleeping.set()

    svc.subscribe(listener)
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        with anyio.fail_after(10):
            await sleeping.wait()
        assert svc.status.loop_count == 1
        assert not svc.status.paused
        await svc.stop()
