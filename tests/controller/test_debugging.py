"""The controller as a debugger's back end (issue 10): where a loop waits, kill recorded,
stepping that never surprises, health that does not flicker, starting paused.

These run on asyncio and on trio (with an autojumping mock clock), like the framework's.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import anyio
import pytest
from support.tracked import Tracked
from trio.testing import MockClock

import servicedeck.controller._tasks as tasks_module
from servicedeck import LoopService, Service, ServiceState
from servicedeck.control import Command, CommandError, Health, RestartReport
from servicedeck.controller import ManualClock, ServiceController

from .conftest import Until
from .test_controller import Plain, Ticker

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """asyncio, and trio with a fresh autojumping mock clock for each test."""
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return "asyncio"


def controller_of(*classes: type[Service], **options: Any) -> ServiceController:
    """A controller without the watchdog (its thread measures real time), logs captured."""
    return ServiceController(list(classes), stall_threshold=None, propagate_logs=False, **options)


class Hanging(LoopService):
    """Its loop waits on an event nobody sets."""

    loop_seconds = 0.1

    async def run_once(self) -> None:
        await anyio.Event().wait()  # hangs here


class Shielded(Tracked, LoopService):
    """Its loop shields itself from cancellation until `release` is set."""

    loop_seconds = 60

    def __init__(self) -> None:
        super().__init__()
        self.release = anyio.Event()

    async def run_once(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.release.wait()


class Flaky(Ticker):
    """Counts its setups and teardowns; its loops in `failures` (1-based, across runs)
    raise."""

    loop_seconds = 0.7
    failures: frozenset[int] = frozenset()

    async def run_once(self) -> None:
        self.logger.debug("loop %d", self.status.loop_count + 1)
        if self.status.loop_count + 1 in self.failures:
            raise ConnectionError("flaky")


class Steady(LoopService):
    loop_seconds = 0.7

    async def run_once(self) -> None:
        pass


def messages(controller: ServiceController, name: str) -> list[str]:
    return [line.message for line in controller.logs(name)]


# -- where is my loop stuck? ---------------------------------------------------------------


async def test_where_shows_the_line_a_hung_loop_waits_at(wait_until: Until) -> None:
    async with controller_of(Hanging, Steady) as controller:
        assert await controller.where("Hanging") is None, "not running: no stack"
        await controller.start("Hanging")
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.loop_started_at is not None
        )
        await anyio.wait_all_tasks_blocked()

        stack = await controller.where("Hanging")

        assert stack is not None
        frame = stack.innermost_user_frame
        assert frame is not None
        lines, first = inspect.getsourcelines(Hanging.run_once)
        assert (frame.function, frame.file) == ("Hanging.run_once", __file__)
        assert frame.line == first + next(i for i, t in enumerate(lines) if "hangs here" in t)
        assert frame.source == "await anyio.Event().wait()  # hangs here"
        assert stack.task == "servicedeck:Hanging"
        kinds = {frame.function: frame.kind for frame in stack.frames}
        assert kinds["ServiceTasks._run_task"] == "framework"
        assert stack.captured_at <= controller.now()
        await controller.kill("Hanging")


# -- kill, recorded as such ----------------------------------------------------------------


async def test_kill_is_recorded_in_the_log_the_snapshot_and_the_status(wait_until: Until) -> None:
    """The defect: a killed service read `stopped`, like one stopped cleanly, with no log
    line (issue 10, defects 1 and 6)."""
    clock = ManualClock(100.0)
    async with controller_of(Hanging, clock=clock) as controller:
        await controller.start("Hanging")
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.loop_started_at is not None
        )
        clock.advance(2.0)

        await controller.kill("Hanging")
        killing = controller.snapshot("Hanging")
        await wait_until(controller, lambda: not controller.snapshot("Hanging").has_task)

        assert killing.kill_requested_at == 102.0
        assert killing.has_task, "the cancellation has not been delivered yet"
        snap = controller.snapshot("Hanging")
        assert snap.status.state is ServiceState.STOPPED
        assert snap.status.cancelled
        assert snap.kill_requested_at is None
        assert (snap.health, snap.health_reason) == (
            Health.STOPPED,
            "killed (its task was cancelled)",
        )
        assert messages(controller, "Hanging")[-2:] == [
            "Hanging: killed: its task is cancelled",
            "Hanging: killed: its task ended 0 s after the kill",
        ]
        # A later start is a fresh run: no longer marked killed.
        await controller.start("Hanging")
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.loop_started_at is not None
        )
        assert not controller.snapshot("Hanging").status.cancelled
        await controller.kill("Hanging")


async def test_kill_of_a_service_that_shields_itself_says_it_still_runs(
    wait_until: Until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The defect: `k` on such a service did nothing and said nothing (issue 10, defect 6)."""
    monkeypatch.setattr(tasks_module, "KILL_GRACE", 0.05)
    clock = ManualClock(100.0)
    async with controller_of(Shielded, clock=clock) as controller:
        await controller.start("Shielded")
        await wait_until(
            controller, lambda: controller.snapshot("Shielded").status.loop_started_at is not None
        )

        await controller.kill("Shielded")
        await wait_until(
            controller, lambda: "still running" in " ".join(messages(controller, "Shielded"))
        )

        snap = controller.snapshot("Shielded")
        assert snap.has_task
        assert snap.kill_requested_at == 100.0
        assert snap.health is Health.STALE
        assert snap.health_reason == (
            "killed, and still running: it does not give way to cancellation"
        )
        assert messages(controller, "Shielded")[-1] == (
            "Shielded is still running 0.05 s after it was killed: it does not give way to "
            "cancellation (a shielded cancel scope, or code that never awaits)"
        )
        Shielded.latest().release.set()
        await wait_until(controller, lambda: not controller.snapshot("Shielded").has_task)
        assert controller.snapshot("Shielded").status.cancelled


async def test_stop_all_records_the_services_it_had_to_kill(wait_until: Until) -> None:
    """What a quit dialog shows: "killed, still running for N s", then "killed"."""
    clock = ManualClock(100.0)
    async with controller_of(Shielded, Steady, clock=clock) as controller:
        await controller.start("Shielded")
        await controller.start("Steady")
        await wait_until(
            controller, lambda: controller.snapshot("Shielded").status.loop_started_at is not None
        )
        reports = []

        async def quit() -> None:
            reports.append(await controller.stop_all(timeout=0.05))

        async with anyio.create_task_group() as tg:
            tg.start_soon(quit)
            await wait_until(
                controller, lambda: controller.snapshot("Shielded").kill_requested_at is not None
            )
            snap = controller.snapshot("Shielded")
            assert (snap.has_task, snap.kill_requested_at) == (True, 100.0)
            assert "Shielded: killed (it did not stop within 0.05 s): its task is cancelled" in (
                messages(controller, "Shielded")
            )
            Shielded.latest().release.set()

        [report] = reports
        assert (report.stopped, report.cancelled) == (("Steady",), ("Shielded",))
        assert messages(controller, "Shielded")[-1] == (
            "Shielded: its run ended by itself 0 s after the kill"
        )
        # Its loop ended, and with it the run, since a stop was asked: the cancellation
        # never reached it, so its run is not recorded as cancelled.
        shielded = controller.snapshot("Shielded")
        assert not shielded.status.cancelled
        assert shielded.health_reason == "its last run ended cleanly"


async def test_stuck_service_is_never_healthy(wait_until: Until) -> None:
    """The defect: the detail read `◐ stuck · healthy` (issue 10, defect 10)."""
    async with controller_of(Shielded) as controller:
        await controller.start("Shielded")
        await wait_until(
            controller, lambda: controller.snapshot("Shielded").status.loop_started_at is not None
        )

        assert await controller.stop("Shielded", timeout=0.05) is False

        snap = controller.snapshot("Shielded")
        assert snap.stuck
        assert snap.health is Health.STALE
        assert snap.health_reason == "stuck in stopping: a stop timed out (kill cancels it)"
        Shielded.latest().release.set()


# -- stepping that never surprises -------------------------------------------------------


@pytest.mark.parametrize("started", [True, False], ids=["paused", "stopped"])
async def test_break_on_error_stops_a_count_at_the_first_error(
    started: bool, wait_until: Until
) -> None:
    """The defect: `5n` with break on error ran all five loops (issue 10, defect 9)."""
    Flaky.failures = frozenset({2, 4})
    async with controller_of(Flaky) as controller:
        await controller.set_pause_on_error("Flaky", True)
        if started:
            await controller.pause("Flaky")
            await wait_until(
                controller, lambda: controller.snapshot("Flaky").status.state is ServiceState.PAUSED
            )

        with anyio.fail_after(10):
            await controller.step("Flaky", 5)  # returns after loop 2

        snap = controller.snapshot("Flaky")
        assert snap.status.loop_count == 2
        assert snap.paused_on_error
        assert snap.status.paused
        assert snap.status.queued_steps == 0
        assert snap.status.last_error is not None
        assert (snap.status.last_error.loop, snap.status.last_error.summary) == (
            2,
            "ConnectionError: flaky",
        )
        flaky = Flaky.latest()
        if started:
            assert snap.status.state is ServiceState.PAUSED, "paused at the error, setup kept"
            assert (flaky.setups, flaky.teardowns) == (1, 0)
        else:
            assert snap.status.state is ServiceState.STOPPED, "a step's own run ends there"
            assert (flaky.setups, flaky.teardowns) == (1, 1)
        assert "Flaky: cancelled the queued steps (3)" in messages(controller, "Flaky")


async def test_queued_steps_show_and_cancel_through_the_protocol(wait_until: Until) -> None:
    """The defect: `n` during a running loop queued loops silently, with no way to
    cancel them (issue 10, defect 8)."""

    class Gated(LoopService):
        loop_seconds = 60

        def __init__(self) -> None:
            super().__init__()
            self.gate = anyio.Event()

        async def run_once(self) -> None:
            await self.gate.wait()

    async with controller_of(Gated) as controller:
        assert controller.check("Gated", Command.CANCEL_STEPS) == "Gated has no queued steps"
        await controller.start("Gated")  # its first loop waits at the gate
        await wait_until(
            controller, lambda: controller.snapshot("Gated").status.loop_started_at is not None
        )
        returned = anyio.Event()

        async def step() -> None:
            await controller.step("Gated", 6)
            returned.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(step)
            await wait_until(
                controller, lambda: controller.snapshot("Gated").status.queued_steps == 6
            )
            assert controller.check("Gated", Command.CANCEL_STEPS) is None

            assert await controller.cancel_steps("Gated") == 6
            with anyio.fail_after(10):
                await returned.wait()

        snap = controller.snapshot("Gated")
        assert snap.status.queued_steps == 0
        assert snap.status.loop_count == 0, "the running loop goes on; nothing else ran"
        with pytest.raises(CommandError, match="Gated has no queued steps"):
            await controller.cancel_steps("Gated")
        await controller.kill("Gated")


async def test_start_resumes_a_paused_service(wait_until: Until) -> None:
    """The defect: `s` on a paused service said "already running", though the help says
    it un-pauses (issue 10, defect 3)."""
    async with controller_of(Steady) as controller:
        await controller.pause("Steady")
        await wait_until(
            controller, lambda: controller.snapshot("Steady").status.state is ServiceState.PAUSED
        )
        assert controller.check("Steady", Command.START) is None

        await controller.start("Steady")

        await wait_until(controller, lambda: controller.snapshot("Steady").status.loop_count >= 1)
        assert not controller.snapshot("Steady").status.paused
        assert controller.check("Steady", Command.START) == "Steady is already running"


# -- --paused: every enabled service opens paused -----------------------------------------


async def test_start_enabled_paused_opens_loops_paused_after_setup(wait_until: Until) -> None:
    """The defect: `--paused` opened every service stopped, so each step ran setup and
    teardown, and the header said `0 paused` (issue 10, defect 7)."""
    Flaky.failures = frozenset()
    async with controller_of(Flaky, Steady, Plain) as controller:
        started = await controller.start_enabled(paused=True)

        assert started == ["Flaky", "Steady"], "a plain service cannot be paused: left stopped"
        await wait_until(
            controller,
            lambda: all(
                controller.snapshot(name).status.state is ServiceState.PAUSED for name in started
            ),
        )
        assert sum(1 for s in controller.snapshots() if s.status.state is ServiceState.PAUSED) == 2
        assert not controller.snapshot("Plain").has_task
        await controller.step("Flaky", 3)
        snap = controller.snapshot("Flaky")
        assert (snap.status.loop_count, snap.status.state) == (3, ServiceState.PAUSED)
        assert (Flaky.latest().setups, Flaky.latest().teardowns) == (1, 0)


# -- health that does not flicker ---------------------------------------------------------


async def test_a_service_failing_forty_percent_stays_failing_for_a_minute() -> None:
    """The defect: `!` and the header's failing count flickered every 0.7 s for such a
    service (issue 10, defect 5)."""
    pattern = (True, False, True, False, False)
    loops = int(60 / 0.7) + 1
    Flaky.failures = frozenset(n for n in range(1, loops + 1) if pattern[(n - 1) % 5])
    clock = ManualClock()
    async with controller_of(Flaky, Steady, clock=clock) as controller:
        await controller.start_enabled(paused=True)
        failing_counts = set()
        verdicts = set()
        for _ in range(loops):  # 60 s of loops, 0.7 s apart
            clock.advance(0.7)
            await controller.step("Flaky")
            await controller.step("Steady")
            snaps = controller.snapshots()
            failing_counts.add(sum(1 for s in snaps if s.is_failing))
            verdicts.add(controller.snapshot("Flaky").is_failing)

        assert verdicts == {True}
        assert failing_counts == {1}
        assert controller.snapshot("Flaky").health_reason == "4 of the last 10 loops failed"


async def test_a_service_that_recovers_is_healthy_after_the_window() -> None:
    Flaky.failures = frozenset({1, 2})
    async with controller_of(Flaky) as controller:
        await controller.start_enabled(paused=True)
        seen = []
        for _ in range(14):
            await controller.step("Flaky")
            seen.append(controller.snapshot("Flaky").health)

        assert seen == [Health.FAILING] * 11 + [Health.HEALTHY] * 3
        assert controller.snapshot("Flaky").health_reason == "none of the last 10 loops failed"


# -- a restart says what it did --------------------------------------------------------------


async def test_restart_reports_what_it_did(wait_until: Until) -> None:
    """The defect: `r` gave no feedback (issue 10, defect 11)."""
    async with controller_of(Steady) as controller:
        report = await controller.restart("Steady")
        assert report == RestartReport("Steady", was_running=False, stop_seconds=0.0)
        assert report.summary == (
            "Steady started (it was not running) "
            "(same code and settings: code is loaded once per process)"
        )
        await wait_until(controller, lambda: controller.snapshot("Steady").status.loop_count >= 1)

        report = await controller.restart("Steady")

        assert report.was_running
        assert report.stop_seconds >= 0
        assert report.summary.startswith("Steady restarted: stopped in ")
        assert messages(controller, "Steady")[-1] == report.summary
        assert controller.snapshot("Steady").has_task


# -- DEBUG lines on request ---------------------------------------------------------------


async def test_set_log_level_captures_debug_lines_of_one_service() -> None:
    Flaky.failures = frozenset()
    async with controller_of(Flaky) as controller:
        await controller.step("Flaky")
        assert messages(controller, "Flaky") == []

        await controller.set_log_level("Flaky", logging.DEBUG)
        await controller.step("Flaky")
        assert controller.snapshot("Flaky").log_level == logging.DEBUG
        assert messages(controller, "Flaky") == ["loop 2"]

        await controller.set_log_level("Flaky", None)
        await controller.step("Flaky")
        assert controller.snapshot("Flaky").log_level is None
        assert messages(controller, "Flaky") == ["loop 2"]
        with pytest.raises(ValueError, match=r"a log level is a whole number >= 0 .* got 'loud'"):
            await controller.set_log_level("Flaky", "loud")  # type: ignore[arg-type]
        await controller.set_log_level("Flaky", logging.DEBUG)

    # The service loggers belong to the process: given back when the controller ends.
    assert logging.getLogger("servicedeck.services.Flaky").level == logging.NOTSET
    assert controller.snapshot("Flaky").log_level is None


# -- a service whose __init__ raises -------------------------------------------------------


def test_init_error_traceback_starts_at_the_service_code() -> None:
    """The defect: the traceback showed the controller's own frame, with an absolute
    path (issue 10, defect 13)."""

    class Broken(LoopService):
        def __init__(self) -> None:
            raise RuntimeError("no database")

        async def run_once(self) -> None:
            pass

    snap = controller_of(Broken).snapshot("Broken")

    error = snap.status.last_error
    assert error is not None
    assert "servicedeck/controller" not in error.traceback
    assert "in __init__" in error.traceback
    assert snap.health_reason == "__init__ raised RuntimeError: no database"
