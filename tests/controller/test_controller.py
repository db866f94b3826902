"""The headless controller: commands, checks, snapshots and the change stream."""

from __future__ import annotations

import logging

import anyio
import pytest
from support.tracked import Tracked

from servicedeck import Health, LoopService, Service, ServiceState
from servicedeck.control import Command, CommandError
from servicedeck.controller import ManualClock, ServiceController

from .conftest import Until

pytestmark = pytest.mark.anyio


class Ticker(Tracked, LoopService):
    """Counts its setups, loops and teardowns."""

    loop_seconds = 3600

    def __init__(self) -> None:
        super().__init__()
        self.setups = 0
        self.teardowns = 0

    async def setup(self) -> None:
        self.setups += 1

    async def run_once(self) -> None:
        self.logger.info("tick")

    async def teardown(self) -> None:
        self.teardowns += 1


class Failing(LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        raise RuntimeError("bad record")


class Hanging(LoopService):
    loop_seconds = 0.1

    async def run_once(self) -> None:
        await anyio.sleep_forever()


class Plain(Service):
    """Not a loop."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = anyio.Event()

    async def start(self) -> None:
        self.stopping = anyio.Event()
        await self.stopping.wait()

    async def stop(self) -> None:
        self.stopping.set()


def ticker(controller: ServiceController) -> Ticker:
    """The controller's instance of `Ticker` (the last one made)."""
    return Ticker.latest()


async def test_step_stopped_service_runs_setup_one_loop_and_teardown() -> None:
    async with ServiceController([Ticker]) as controller:
        await controller.step("Ticker")
        snap = controller.snapshot("Ticker")
        assert snap.status.loop_count == 1
        assert snap.status.state is ServiceState.STOPPED
        assert (ticker(controller).setups, ticker(controller).teardowns) == (1, 1)
        assert not snap.has_task


async def test_pause_stopped_service_starts_paused_so_steps_skip_setup(wait_until: Until) -> None:
    async with ServiceController([Ticker]) as controller:
        await controller.pause("Ticker")
        await wait_until(
            controller, lambda: controller.snapshot("Ticker").status.state is ServiceState.PAUSED
        )
        await controller.step("Ticker", loops=3)
        await controller.step("Ticker")
        snap = controller.snapshot("Ticker")
        assert snap.status.loop_count == 4
        assert snap.status.state is ServiceState.PAUSED
        assert ticker(controller).setups == 1
        assert ticker(controller).teardowns == 0


async def test_check_says_why_a_command_is_not_allowed() -> None:
    async with ServiceController([Ticker, Plain]) as controller:
        assert controller.check("Ticker", Command.STOP) == "Ticker is not running"
        assert controller.check("Ticker", Command.RESUME) == "Ticker is not paused"
        assert controller.check("Plain", Command.STEP) == "Plain is not a loop service"
        assert controller.check("Ticker", Command.START) is None
        await controller.start("Ticker")
        assert controller.check("Ticker", Command.START) == "Ticker is already running"
        with pytest.raises(CommandError, match="already running"):
            await controller.start("Ticker")


async def test_now_reads_the_event_loops_clock_in_the_loop_and_from_another_thread() -> None:
    """`now()` is the time base of every status: the loop's clock (anyio's), read the
    same from the watchdog's thread, before entering and after leaving too."""
    controller = ServiceController([Ticker])
    outside = controller.now()
    async with controller:
        before = anyio.current_time()
        inside = controller.now()
        elsewhere = await anyio.to_thread.run_sync(controller.now)
        after = anyio.current_time()
        assert outside <= before <= inside <= elsewhere <= after
    assert after <= controller.now() <= anyio.current_time()


async def test_snapshot_of_unknown_name_names_it() -> None:
    controller = ServiceController([Ticker])
    with pytest.raises(KeyError, match="'Nope'; known: Ticker"):
        controller.snapshot("Nope")


async def test_blocking_stop_of_hanging_loop_times_out_stuck_then_kill(wait_until: Until) -> None:
    async with ServiceController([Hanging]) as controller:
        await controller.start("Hanging")
        await wait_until(
            controller, lambda: controller.snapshot("Hanging").status.state is ServiceState.RUNNING
        )
        assert await controller.stop("Hanging", timeout=0.05) is False
        assert controller.snapshot("Hanging").stuck
        assert controller.snapshot("Hanging").is_failing
        assert controller.check("Hanging", Command.STOP) is None, (
            "a stuck service may be stopped again"
        )
        await controller.kill("Hanging")
        await wait_until(controller, lambda: not controller.snapshot("Hanging").has_task)
        assert not controller.snapshot("Hanging").stuck


async def test_pause_on_error_leaves_the_service_paused(wait_until: Until) -> None:
    async with ServiceController([Failing]) as controller:
        await controller.set_pause_on_error("Failing", True)
        await controller.start("Failing")
        await wait_until(
            controller, lambda: controller.snapshot("Failing").status.state is ServiceState.PAUSED
        )
        snap = controller.snapshot("Failing")
        assert snap.paused_on_error
        assert snap.status.error_count == 1
        assert snap.health is Health.FAILING
        assert snap.is_failing
        await controller.resume("Failing")
        assert not controller.snapshot("Failing").paused_on_error


async def test_snapshot_counts_captured_log_lines_stamped_by_the_clock() -> None:
    clock = ManualClock(500.0)
    async with ServiceController([Ticker], clock=clock, propagate_logs=False) as controller:
        assert controller.epoch == 500.0
        clock.advance(2.5)
        await controller.step("Ticker")
        lines = controller.logs("Ticker")
        assert [line.message for line in lines] == ["tick"]
        assert lines[0].at == 502.5
        assert lines[0].level == logging.INFO
        assert controller.snapshot("Ticker").log_count == 1


async def test_log_count_keeps_growing_past_the_ring_capacity() -> None:
    async with ServiceController([Ticker], log_capacity=2, propagate_logs=False) as controller:
        await controller.step("Ticker", loops=5)
        assert len(controller.logs("Ticker")) == 2
        assert controller.snapshot("Ticker").log_count == 5


async def test_durations_come_from_the_injected_clock() -> None:
    clock = ManualClock()

    class Slow(LoopService):
        loop_seconds = 3600

        async def run_once(self) -> None:
            clock.advance(0.25)

    async with ServiceController([Slow], clock=clock) as controller:
        await controller.step("Slow", loops=2)
        status = controller.snapshot("Slow").status
        assert status.last_duration == pytest.approx(0.25)
        assert status.recent_durations == pytest.approx((0.25, 0.25))


async def test_subscribers_hear_every_service_change_by_name(wait_until: Until) -> None:
    heard: list[str] = []
    async with ServiceController([Ticker, Plain]) as controller:
        unsubscribe = controller.subscribe(heard.append)
        await controller.step("Ticker")
        await controller.start("Plain")
        await wait_until(
            controller, lambda: controller.snapshot("Plain").status.state is ServiceState.RUNNING
        )
        unsubscribe()
        count = len(heard)
        await controller.step("Ticker")
    assert {"Ticker", "Plain"} <= set(heard)
    assert len(heard) == count, "no calls after unsubscribing"


async def test_entered_and_commands_outside_the_context_say_how_to_fix() -> None:
    controller = ServiceController([Ticker])
    assert not controller.entered
    with pytest.raises(RuntimeError, match="async with ServiceController"):
        await controller.start("Ticker")
    async with controller:
        assert controller.entered
    assert not controller.entered


async def test_stop_all_stops_together_and_reports(wait_until: Until) -> None:
    async with ServiceController([Ticker, Plain]) as controller:
        await controller.start("Ticker")
        await controller.start("Plain")
        await wait_until(
            controller, lambda: all(s.status.is_active for s in controller.snapshots())
        )
        report = await controller.stop_all(timeout=5)
        assert sorted(report.stopped) == ["Plain", "Ticker"]
        assert report.cancelled == ()
        assert not any(s.has_task for s in controller.snapshots())


async def test_set_enabled_is_a_session_override() -> None:
    controller = ServiceController([Ticker])
    assert controller.snapshot("Ticker").enabled is True
    await controller.set_enabled("Ticker", False)
    snap = controller.snapshot("Ticker")
    assert (snap.enabled, snap.enabled_source) == (False, "override")
    async with controller:
        assert await controller.start_enabled() == []


def test_manual_clock_refuses_to_go_back() -> None:
    clock = ManualClock(10)
    assert clock.advance(1.5) == 11.5
    with pytest.raises(ValueError, match=r"got -1"):
        clock.advance(-1)
    assert clock() == 11.5


async def test_a_stepped_service_whose_loop_failed_is_failing_though_stopped() -> None:
    async with ServiceController([Failing], propagate_logs=False) as controller:
        await controller.step("Failing")
        snap = controller.snapshot("Failing")
        assert snap.status.state is ServiceState.STOPPED
        assert snap.health is Health.FAILING
        assert snap.health_reason == "its last loop failed"
        assert snap.is_failing


def test_log_capacity_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ValueError, match=r"log capacity must be a whole number >= 1, got 0"):
        ServiceController([Ticker], log_capacity=0)
