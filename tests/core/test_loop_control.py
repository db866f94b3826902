"""Stepping a loop service: `pause()`, `resume()` and `run_now()` in every state."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from servicedeck import LoopService, ServiceState

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time
from .services import Recorder

pytestmark = pytest.mark.anyio


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class Gated(Recorder):
    """Each loop waits for `gate`, which the test opens (and may close again)."""

    def __init__(self, loop_seconds: float | None = None) -> None:
        super().__init__(loop_seconds)
        self.entered = anyio.Event()
        self.gate = anyio.Event()

    async def run_once(self) -> None:
        await super().run_once()
        self.entered.set()
        await self.gate.wait()


# -- pause / resume ---------------------------------------------------------------------


async def test_pause_while_sleeping_parks_the_service(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=0.01)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            svc.pause()
            status = await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert status.paused
            assert status.next_loop_at is None
            assert svc.is_running
            await svc.stop()  # a paused service still stops

    assert svc.status.state is ServiceState.STOPPED
    assert svc.events[-1] == "teardown"


async def test_pause_while_sleeping_schedules_no_loop_from_the_moment_it_is_asked(
    wait_for: WaitFor,
) -> None:
    """The status read right after `pause()`, before the sleeping loop has woken to
    notice, shows no next loop (an attached console drew a countdown beside ‖ paused)."""
    svc = Recorder(loop_seconds=60)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            asleep = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert asleep.next_loop_at is not None
            svc.pause()
            status = svc.status
            assert status.paused
            assert status.next_loop_at is None
            await svc.stop()


@virtual_time
async def test_pause_runs_no_loop_however_long_it_lasts(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=1)

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        svc.pause()
        await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
        await anyio.sleep(100)  # virtual: a hundred intervals pass
        assert svc.status.loop_count == 1
        assert svc.status.state is ServiceState.PAUSED
        await svc.stop()


async def test_pause_during_a_loop_finishes_that_loop_first(wait_for: WaitFor) -> None:
    svc = Gated()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.entered.wait()

            svc.pause()
            status = svc.status
            assert status.state is ServiceState.RUNNING  # the loop is not interrupted
            assert status.paused

            svc.gate.set()
            status = await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert status.loop_count == 1
            await svc.stop()


async def test_pause_from_inside_run_once_parks_after_that_loop(wait_for: WaitFor) -> None:
    class PausesItself(Recorder):
        async def run_once(self) -> None:
            await super().run_once()
            self.pause()

    svc = PausesItself(loop_seconds=0)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            status = await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert status.loop_count == 1
            await svc.stop()

    assert svc.events == ["setup", "run", "teardown"]


async def test_pause_before_start_starts_paused(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=0)
    svc.pause()
    assert svc.status.paused
    assert svc.status.state is ServiceState.STOPPED

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert svc.events == ["setup"]  # set up, then waits without looping
            await svc.stop()

    assert svc.events == ["setup", "teardown"]
    assert svc.status.loop_count == 0


async def test_resume_returns_to_the_schedule(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=0)
    svc.pause()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)

            svc.resume()
            assert not svc.status.paused
            await wait_for(svc, lambda s: s.loop_count >= 3)
            await svc.stop()


@virtual_time
async def test_resume_before_the_due_time_sleeps_until_it(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=10)
    t0 = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        svc.pause()
        await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
        svc.resume()
        status = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        assert status.next_loop_at == pytest.approx(t0 + 10)  # the schedule is kept
        assert status.loop_count == 1
        await svc.stop()


async def test_resume_from_inside_a_stepped_loop_returns_to_the_schedule(
    wait_for: WaitFor,
) -> None:
    class ResumesItself(Recorder):
        async def run_once(self) -> None:
            await super().run_once()
            self.resume()

    svc = ResumesItself(loop_seconds=60)
    svc.pause()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            await svc.run_now()  # a loop while paused, which un-pauses the service
            status = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert not status.paused
            assert status.next_loop_at is not None
            await svc.stop()

    assert svc.events[:2] == ["setup", "run"]


async def test_pause_and_resume_are_idempotent_and_notify_once() -> None:
    svc = Recorder()
    changes: list[bool] = []
    svc.subscribe(lambda s: changes.append(s.status.paused))

    svc.pause()
    svc.pause()
    svc.resume()
    svc.resume()

    assert changes == [True, False]


# -- run_now --------------------------------------------------------------------------


async def test_run_now_while_sleeping_runs_one_loop_and_keeps_the_schedule(
    wait_for: WaitFor,
) -> None:
    svc = Recorder()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            before = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)

            await svc.run_now()

            # It returned after the loop had run, not when it was queued.
            assert svc.status.loop_count == 2
            after = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert after.next_loop_at == before.next_loop_at
            await svc.stop()

    assert svc.events == ["setup", "run", "run", "teardown"]


async def test_run_now_while_paused_runs_the_loops_and_stays_paused(wait_for: WaitFor) -> None:
    svc = Recorder(loop_seconds=0)
    svc.pause()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)

            await svc.run_now(3)

            assert svc.status.loop_count == 3
            status = await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert status.paused
            assert status.loop_count == 3
            await svc.stop()

    assert svc.events == ["setup", "run", "run", "run", "teardown"]


async def test_run_now_during_a_loop_runs_right_after_it(wait_for: WaitFor) -> None:
    svc = Gated()
    returned = False

    async def step() -> None:
        nonlocal returned
        await svc.run_now()
        returned = True

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.entered.wait()
            tg.start_soon(step)
            await anyio.wait_all_tasks_blocked()  # the step is queued and waiting
            assert not returned  # loop 1 is still running; the step has not run
            assert svc.status.loop_count == 0

            svc.gate.set()  # loop 1 ends; the step (loop 2) runs without waiting 60 s
            await wait_for(svc, lambda s: s.loop_count == 2)
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            await svc.stop()

    assert returned
    assert svc.events == ["setup", "run", "run", "teardown"]


@pytest.mark.parametrize("paused", [False, True], ids=["unpaused", "paused"])
async def test_run_now_when_stopped_runs_setup_n_loops_teardown(paused: bool) -> None:
    svc = Recorder()
    if paused:
        svc.pause()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.run_now(2)

    assert svc.events == ["setup", "run", "run", "teardown"]
    assert svc.status.loop_count == 2
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.paused is paused


async def test_run_now_from_inside_run_once_queues_without_waiting() -> None:
    class StepsItself(Recorder):
        async def run_once(self) -> None:
            await super().run_once()
            if self.status.loop_count == 0:
                await self.run_now()  # must not wait for a loop that runs after this one

    svc = StepsItself()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=1)

    # The scheduled loop, then the queued one, then the end: no 60 s sleep in between.
    assert svc.events == ["setup", "run", "run", "teardown"]


@pytest.mark.parametrize("depth", [1, 2], ids=["child", "grandchild"])
@pytest.mark.parametrize("hook", ["setup", "run_once"])
async def test_run_now_from_a_child_task_of_the_run_queues_without_waiting(
    hook: str, depth: int
) -> None:
    class StepsFromAChild(Recorder):
        """Calls run_now() from a task that its setup() / first loop waits for."""

        async def from_a_child(self, depth: int = depth) -> None:
            async with anyio.create_task_group() as tg:
                if depth == 1:
                    tg.start_soon(self.run_now)  # must not wait: this hook waits for it
                else:
                    tg.start_soon(self.from_a_child, depth - 1)

        async def setup(self) -> None:
            await super().setup()
            if hook == "setup":
                await self.from_a_child()

        async def run_once(self) -> None:
            await super().run_once()
            if hook == "run_once" and self.status.loop_count == 0:
                await self.from_a_child()

    svc = StepsFromAChild()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=1)

    # The queued loop and the scheduled one, then the end: no 60 s sleep in between.
    assert svc.events == ["setup", "run", "run", "teardown"]
    assert svc.status.loop_count == 2


async def test_run_now_of_another_service_from_inside_a_loop_still_waits(
    wait_for: WaitFor,
) -> None:
    other = Recorder()

    class StepsAnother(Recorder):
        other_loops = -1

        async def run_once(self) -> None:
            await super().run_once()
            async with anyio.create_task_group() as tg:
                tg.start_soon(other.run_now)
            self.other_loops = other.status.loop_count

    svc = StepsAnother()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(other.start)
            await wait_for(other, lambda s: s.state is ServiceState.SLEEPING)
            await svc.start(loops=1)
            await other.stop()

    assert svc.other_loops == 2, "it waited for the other service's loop"


async def test_run_now_concurrent_callers_each_wait_for_their_own_loop(
    wait_for: WaitFor,
) -> None:
    class TwoGates(Recorder):
        """Loop k waits for gate k."""

        def __init__(self) -> None:
            super().__init__(loop_seconds=0)
            self.gates = [anyio.Event(), anyio.Event()]

        async def run_once(self) -> None:
            await super().run_once()
            await self.gates[self.status.loop_count].wait()

    svc = TwoGates()
    svc.pause()
    counts_on_return: dict[str, int] = {}

    async def step(who: str) -> None:
        await svc.run_now()
        counts_on_return[who] = svc.status.loop_count

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)

            tg.start_soon(step, "first")
            await wait_for(svc, lambda s: s.state is ServiceState.RUNNING)
            tg.start_soon(step, "second")  # queued while the first step's loop runs
            await anyio.wait_all_tasks_blocked()

            svc.gates[0].set()  # the first loop ends; the second one starts and blocks
            await anyio.wait_all_tasks_blocked()
            assert counts_on_return == {"first": 1}  # the second caller still waits

            svc.gates[1].set()
            await wait_for(svc, lambda s: s.loop_count == 2 and s.state is ServiceState.PAUSED)
            await anyio.wait_all_tasks_blocked()
            await svc.stop()

    assert counts_on_return == {"first": 1, "second": 2}


async def test_run_now_many_loops_still_yields_to_sibling_tasks(wait_for: WaitFor) -> None:
    class Busy(Base):
        loop_seconds = 60

        async def run_once(self) -> None:
            pass  # never awaits: only the framework can yield

    svc = Busy()
    svc.pause()
    loops = 1000
    seen: list[int] = []

    async def sibling() -> None:
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
            seen.append(svc.status.loop_count)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            tg.start_soon(sibling)
            await svc.run_now(loops)
            await svc.stop()

    assert svc.status.loop_count == loops
    # The sibling made all its progress while the steps were still running.
    assert len(seen) == 5
    assert max(seen) < loops


@pytest.mark.parametrize("loops", [0, -1, 1.5, True, None])
async def test_run_now_rejects_a_bad_loop_count(loops: object) -> None:
    svc = Recorder()

    with pytest.raises(ValueError, match="loops"):
        await svc.run_now(loops)  # type: ignore[arg-type]

    assert svc.events == []


async def test_run_now_returns_when_the_service_stops_first(wait_for: WaitFor) -> None:
    svc = Gated()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.entered.wait()
            await svc.stop(block=False)  # the step queued below never gets to run
            tg.start_soon(svc.run_now)
            await anyio.wait_all_tasks_blocked()
            svc.gate.set()

    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.loop_count == 1


async def test_run_now_on_a_stopped_service_overrides_a_stop_asked_while_stopped() -> None:
    service = Recorder()
    await service.stop()  # on a stopped service: would make the next start() a no-op
    with anyio.fail_after(WAIT_TIMEOUT):
        await service.run_now()
    assert service.events == ["setup", "run", "teardown"]
    assert not service.should_stop


# -- queued steps, and cancelling them --------------------------------------------------


class Numbered(Recorder):
    """Each loop waits for its own gate (loop k for `gates[k]`), and says it began."""

    def __init__(self) -> None:
        super().__init__(loop_seconds=60)
        self.gates = [anyio.Event() for _ in range(10)]
        self.began = [anyio.Event() for _ in range(10)]

    async def run_once(self) -> None:
        await super().run_once()
        number = self.status.loop_count
        self.began[number].set()
        await self.gates[number].wait()


async def test_queued_steps_count_the_steps_that_have_not_started(wait_for: WaitFor) -> None:
    svc = Numbered()
    svc.pause()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            assert svc.status.queued_steps == 0

            tg.start_soon(svc.run_now, 3)
            await svc.began[0].wait()
            assert svc.status.queued_steps == 2, "the running step is not queued"
            tg.start_soon(svc.run_now, 2)
            await anyio.wait_all_tasks_blocked()
            assert svc.status.queued_steps == 4

            svc.gates[0].set()
            await svc.began[1].wait()
            assert svc.status.queued_steps == 3
            for gate in svc.gates:
                gate.set()
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED and s.loop_count == 5)
            assert svc.status.queued_steps == 0
            await svc.stop()


async def test_cancel_steps_drops_the_queue_and_releases_every_waiting_caller(
    wait_for: WaitFor,
) -> None:
    """The defect: steps asked during a running loop queued silently, and nothing could
    cancel them (issue 10, defect 8)."""
    svc = Numbered()
    svc.pause()
    returned: list[str] = []

    async def step(who: str, loops: int) -> None:
        await svc.run_now(loops)
        returned.append(who)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            tg.start_soon(step, "first", 2)
            await svc.began[0].wait()
            tg.start_soon(step, "second", 3)
            await anyio.wait_all_tasks_blocked()

            assert svc.cancel_steps() == 4
            await anyio.wait_all_tasks_blocked()
            # Loop 1 runs on; its caller, and those of the dropped loops, wait for it.
            assert returned == []
            assert svc.status.queued_steps == 0
            assert svc.status.loop_started_at is not None

            svc.gates[0].set()
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            await anyio.wait_all_tasks_blocked()
            assert sorted(returned) == ["first", "second"]
            assert svc.status.loop_count == 1, "no dropped loop ran"
            assert svc.cancel_steps() == 0

            # Stepping works as before afterwards.
            svc.gates[1].set()
            await svc.run_now()
            assert svc.status.loop_count == 2
            await svc.stop()


async def test_cancel_steps_while_no_step_runs_releases_the_callers_at_once(
    wait_for: WaitFor,
) -> None:
    svc = Numbered()
    returned = anyio.Event()

    async def step() -> None:
        await svc.run_now(3)
        returned.set()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await svc.began[0].wait()  # the scheduled loop runs; the steps wait for it
            tg.start_soon(step)
            await anyio.wait_all_tasks_blocked()
            assert svc.status.queued_steps == 3

            assert svc.cancel_steps() == 3
            await returned.wait()  # while the scheduled loop still runs
            assert svc.status.loop_count == 0
            svc.gates[0].set()
            await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            assert svc.status.loop_count == 1
            await svc.stop()


async def test_cancel_steps_of_a_stepped_stopped_service_ends_its_run() -> None:
    svc = Numbered()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.run_now, 5)  # a run of its own: setup, 5 loops, teardown
            await svc.began[0].wait()
            assert svc.cancel_steps() == 4
            svc.gates[0].set()

    assert svc.events == ["setup", "run", "teardown"]
    assert svc.status.state is ServiceState.STOPPED
