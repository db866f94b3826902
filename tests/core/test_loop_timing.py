"""The loop schedule: deadlines without drift, overruns, back-to-back loops, backoff.

Exact times are asserted in trio's virtual time (`virtual_time`), where a sleep ends
exactly at its deadline, so the assertions hold on any machine.
"""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest
import trio

from servicedeck import LoopService, ServiceState, ServiceStatus

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time

pytestmark = pytest.mark.anyio


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class Timed(Base):
    """Records when each loop starts; loop k takes `durations.get(k, default)` seconds."""

    def __init__(
        self,
        loop_seconds: float,
        durations: dict[int, float] | None = None,
        default: float = 0.0,
    ) -> None:
        super().__init__(loop_seconds)
        self.durations = durations or {}
        self.default = default
        self.starts: list[float] = []

    async def run_once(self) -> None:
        self.starts.append(anyio.current_time())
        duration = self.durations.get(len(self.starts), self.default)
        if duration:
            await anyio.sleep(duration)


def jump(seconds: float) -> None:
    """Advance trio's mock clock, as if `seconds` passed while every task slept."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    clock.jump(seconds)


@virtual_time
async def test_schedule_first_loop_runs_at_once_then_every_interval() -> None:
    svc = Timed(loop_seconds=5)
    t0 = anyio.current_time()

    await svc.start(loops=3)

    assert svc.starts == [t0, t0 + 5, t0 + 10]


@virtual_time
async def test_schedule_deadlines_do_not_drift() -> None:
    svc = Timed(loop_seconds=0.02, default=0.005)
    t0 = anyio.current_time()

    await svc.start(loops=100)
    ended = anyio.current_time()

    # Each loop is due one interval after the previous one was due, not after it ended.
    for k, started in enumerate(svc.starts):
        assert started == pytest.approx(t0 + k * 0.02, abs=1e-9), f"loop {k + 1}"
    ideal_end = t0 + 99 * 0.02 + 0.005
    assert abs(ended - ideal_end) < 0.002
    assert svc.status.overrun_count == 0


@virtual_time
async def test_schedule_lateness_does_not_accumulate(wait_for: WaitFor) -> None:
    svc = Timed(loop_seconds=0.02, default=0.005)
    t0 = anyio.current_time()
    late = 0.003

    async def stall_the_event_loop_whenever_a_loop_is_due() -> None:
        # Just before each loop is due, the clock leaps 3 ms, as when the event loop
        # is busy elsewhere: every loop from the second on starts 3 ms late.
        due: float | None = None
        for _ in range(99):
            previous = due

            def next_sleep(s: ServiceStatus, previous: float | None = previous) -> bool:
                return s.state is ServiceState.SLEEPING and s.next_loop_at != previous

            status = await wait_for(svc, next_sleep)
            due = status.next_loop_at
            assert due is not None
            await anyio.sleep_until(due - 1e-6)
            jump(late)

    async with anyio.create_task_group() as tg:
        tg.start_soon(stall_the_event_loop_whenever_a_loop_is_due)
        await svc.start(loops=100)
    ended = anyio.current_time()

    assert svc.starts[0] == t0
    for k, started in enumerate(svc.starts[1:], start=1):
        # Late by 3 ms, never by 3 ms per earlier loop (that would be 0.3 s at the end).
        assert started == pytest.approx(t0 + k * 0.02 + late - 1e-6, abs=1e-9), f"loop {k + 1}"
    assert abs(ended - (t0 + 99 * 0.02 + 0.005)) < 0.002 + late


@virtual_time
async def test_schedule_ignores_how_long_each_loop_took() -> None:
    # Loops of varying length inside the interval: still exactly on the grid.
    durations = {1: 0.015, 2: 0.0, 3: 0.019, 4: 0.007, 5: 0.011}
    svc = Timed(loop_seconds=0.02, durations=durations)
    t0 = anyio.current_time()

    await svc.start(loops=6)

    assert svc.starts == pytest.approx([t0 + k * 0.02 for k in range(6)], abs=1e-9)


@virtual_time
@pytest.mark.parametrize("overrun", [1.5, 2.5], ids=["by-half-an-interval", "by-slots"])
async def test_overrun_is_counted_warned_and_reanchors_the_schedule(
    overrun: float, caplog: pytest.LogCaptureFixture
) -> None:
    svc = Timed(loop_seconds=1, durations={2: overrun})
    t0 = anyio.current_time()

    await svc.start(loops=5)

    # Loop 2 ends late: loop 3 starts at once, and the schedule counts from there.
    end = t0 + 1 + overrun
    assert svc.starts == pytest.approx([t0, t0 + 1, end, end + 1, end + 2])
    status = svc.status
    assert status.overrun_count == 1
    assert status.recent_durations[1] == pytest.approx(overrun)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "servicedeck.services.Timed"
    assert "loop 2" in warning.getMessage()
    assert "longer than its interval" in warning.getMessage()


@virtual_time
async def test_loop_exactly_as_long_as_its_interval_is_not_an_overrun() -> None:
    svc = Timed(loop_seconds=1, default=1)
    t0 = anyio.current_time()

    await svc.start(loops=3)

    assert svc.starts == pytest.approx([t0, t0 + 1, t0 + 2])
    assert svc.status.overrun_count == 0


async def test_loop_seconds_zero_runs_back_to_back_and_never_overruns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = Timed(loop_seconds=0, default=0.001)

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=5)

    assert svc.status.loop_count == 5
    assert svc.status.overrun_count == 0
    assert all(d > 0 for d in svc.status.recent_durations)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_loop_seconds_zero_yields_to_sibling_tasks() -> None:
    class Busy(Base):
        loop_seconds = 0

        async def run_once(self) -> None:
            pass  # never awaits: only the framework can yield

    svc = Busy()
    loops = 1000
    seen: list[int] = []

    async def sibling() -> None:
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
            seen.append(svc.status.loop_count)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start, loops)
            tg.start_soon(sibling)

    assert svc.status.loop_count == loops
    # The sibling made all its progress while the service was still looping.
    assert len(seen) == 5
    assert max(seen) < loops


@virtual_time
async def test_next_loop_at_is_the_due_time_while_sleeping(wait_for: WaitFor) -> None:
    svc = Timed(loop_seconds=5, default=1)
    t0 = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        status = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        assert status.next_loop_at == pytest.approx(t0 + 5)
        assert status.last_loop_at == pytest.approx(t0 + 1)
        assert status.started_at == pytest.approx(t0)
        await svc.stop()

    # Nothing is scheduled once stopped.
    assert svc.status.next_loop_at is None


@virtual_time
async def test_backoff_stretches_waits_after_errors_caps_and_resets(wait_for: WaitFor) -> None:
    class Failing(Base):
        loop_seconds = 1
        max_backoff_seconds = 10

        def __init__(self) -> None:
            super().__init__()
            self.starts: list[float] = []

        async def run_once(self) -> None:
            self.starts.append(anyio.current_time())
            if len(self.starts) <= 5:
                raise RuntimeError("upstream down")

    svc = Failing()
    scheduled: list[float] = []

    def on_change(service: LoopService) -> None:
        status = service.status
        if status.state is ServiceState.SLEEPING and status.next_loop_at not in scheduled:
            assert status.next_loop_at is not None
            scheduled.append(status.next_loop_at)

    svc.subscribe(on_change)  # type: ignore[arg-type]
    await svc.start(loops=7)

    gaps = [b - a for a, b in zip(svc.starts, svc.starts[1:], strict=False)]
    failing, after_success = gaps[:5], gaps[5]
    assert all(gap > 1 for gap in failing)  # every error stretched the wait
    assert failing == sorted(failing)  # growing ...
    assert max(failing) == pytest.approx(10)  # ... up to the cap, not beyond
    assert failing[-1] == pytest.approx(10)
    assert after_success == pytest.approx(1)  # a success resets it
    # The stretched wait is visible ahead of time, as the next scheduled loop.
    assert scheduled == pytest.approx(svc.starts[1:])


@virtual_time
async def test_backoff_is_off_by_default() -> None:
    class Failing(Timed):
        async def run_once(self) -> None:
            await super().run_once()
            raise RuntimeError("always")

    svc = Failing(loop_seconds=1)
    t0 = anyio.current_time()

    await svc.start(loops=4)

    assert svc.starts == pytest.approx([t0, t0 + 1, t0 + 2, t0 + 3])
    assert svc.status.consecutive_errors == 4


@virtual_time
async def test_resume_after_a_long_pause_skips_missed_slots(wait_for: WaitFor) -> None:
    svc = Timed(loop_seconds=1)
    t0 = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        svc.pause()
        await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
        jump(10.5)
        svc.resume()
        status: ServiceStatus = await wait_for(
            svc, lambda s: s.loop_count == 2 and s.state is ServiceState.SLEEPING
        )
        # One overdue loop at once, then the schedule counts from it: no burst of
        # catch-up loops for the ten slots missed while paused.
        assert svc.starts == pytest.approx([t0, t0 + 10.5])
        assert status.next_loop_at == pytest.approx(t0 + 11.5)
        await svc.stop()

    assert svc.status.loop_count == 2
