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
