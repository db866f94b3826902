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
