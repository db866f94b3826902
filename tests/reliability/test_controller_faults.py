"""Faults in every phase of a service, through the controller: recorded, shown, contained.

Each faulty service fails in one place (`__init__`, `service_settings`, `setup`,
`run_once`, `teardown`, a non-loop `start` or `stop`); the test checks the error is
recorded with its traceback, the snapshot says crashed / failing, and a healthy service
beside it keeps looping.
"""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import pytest
from support.tracked import Tracked

from servicedeck import Health, LoopService, ServiceState
from servicedeck.controller import ServiceController

from . import faulty
from .conftest import DEADLINE, settled

pytestmark = pytest.mark.anyio


def test_controller_built_outside_an_event_loop_records_a_failing_init() -> None:
    controller = ServiceController([faulty.InitFails])

    snap = controller.snapshot("InitFails")

    assert snap.status.state is ServiceState.CRASHED
    assert snap.status.last_error is not None
    assert snap.status.last_error.phase == "init"
    assert "init broke" in snap.status.last_error.traceback
    assert snap.health is Health.CRASHED


class Counted(Tracked, LoopService):
    """Counts its setups and teardowns, and how many of its loops run at once."""

    loop_seconds = 3600

    def __init__(self) -> None:
        super().__init__()
        self.setups = self.teardowns = self.inside = self.most_inside = 0

    async def setup(self) -> None:
        self.setups += 1

    async def run_once(self) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        await anyio.lowlevel.checkpoint()
        self.inside -= 1

    async def teardown(self) -> None:
        self.teardowns += 1


async def test_step_right_after_start_steps_the_started_run_not_a_second_one() -> None:
    async with ServiceController([Counted]) as controller:
        service = Counted.latest()

        await controller.start("Counted")
        await controller.step("Counted")

        snap = controller.snapshot("Counted")
        assert (service.setups, service.teardowns) == (1, 0), "one run: the started one"
        assert snap.has_task
        assert snap.status.state is not ServiceState.CRASHED
        assert snap.status.last_error is None
        assert snap.status.loop_count >= 1
        assert service.most_inside == 1


async def test_a_fault_in_each_phase_is_recorded_shown_and_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    classes = faulty.ALL
    async with ServiceController(classes, propagate_logs=False) as controller:
        started = await controller.start_enabled()
        assert set(started) == {c.__name__ for c in classes} - {"InitFails", "SettingsFail"}
        await controller.stop("StopFails", block=False)

        def faults_shown() -> bool:
            snaps = {s.name: s for s in controller.snapshots()}
            return (
                all(snaps[name].status.state is ServiceState.CRASHED for name in faulty.CRASHING)
                and snaps["LoopFails"].status.error_count >= 2
                and snaps["StopFails"].status.last_error is not None
            )

        await settled(controller, faults_shown)
        snaps = {s.name: s for s in controller.snapshots()}

        for name, phase in faulty.CRASHING.items():
            error = snaps[name].status.last_error
            assert error is not None, name
            assert (error.phase, error.type_name) == (phase, "RuntimeError"), name
            assert "broke" in error.traceback, name
            assert snaps[name].health is Health.CRASHED, name
            assert snaps[name].is_failing, name
            assert not snaps[name].has_task, name
        assert snaps["SettingsFail"].settings_error == "RuntimeError: settings broke"

        loop_error = snaps["LoopFails"].status.last_error
        assert loop_error is not None
        assert loop_error.phase == "run_once"
        assert "in run_once" in loop_error.traceback
        assert snaps["LoopFails"].health is Health.FAILING
        assert snaps["LoopFails"].has_task, "a failing loop goes on"

        stop_error = snaps["StopFails"].status.last_error
        assert stop_error is not None
        assert stop_error.phase == "stop"
        assert "stop broke" in stop_error.traceback
        assert snaps["StopFails"].stuck, "its stop failed and it still runs: kill cancels it"
        assert snaps["StopFails"].is_failing

        # The neighbour kept looping through all of it.
        loops = snaps["Healthy"].status.loop_count
        await settled(controller, lambda: controller.snapshot("Healthy").status.loop_count > loops)
        assert controller.snapshot("Healthy").status.last_error is None

        # Every fault is in its service's own log, with its traceback.
        for name in [*faulty.CRASHING, "LoopFails", "StopFails"]:
            if name == "SettingsFail":
                continue  # its settings error is shown as such, not logged per service
            text = "\n".join(line.message for line in controller.logs(name))
            assert "broke" in text, name
            assert "Traceback" in text, name

        await controller.kill("StopFails")
        await settled(controller, lambda: not controller.snapshot("StopFails").has_task)
        report = await controller.stop_all(timeout=5)
    assert set(report.stopped) == {"Healthy", "LoopFails"}


async def test_a_service_blocking_the_event_loop_is_named_in_its_snapshot_and_log() -> None:
    async with ServiceController([faulty.Healthy, faulty.Blocking]) as controller:
        await controller.start("Healthy")
        await controller.start("Blocking")

        await settled(controller, lambda: controller.snapshot("Blocking").stall is not None)

        stall = controller.snapshot("Blocking").stall
        assert stall is not None
        assert stall.service == "Blocking"
        assert stall.seconds >= 0.5
        assert stall.where is not None
        assert "in crunch" in stall.where
        assert stall.when is not None
        assert stall.when <= controller.now()
        assert controller.snapshot("Healthy").stall is None
        log = [line.message for line in controller.logs("Blocking")]
        assert any("Blocking blocked the event loop for" in line for line in log)
    assert "servicedeck-watchdog" not in {thread.name for thread in threading.enumerate()}


async def test_a_controller_without_watchdog_runs_no_watchdog_thread() -> None:
    async with ServiceController([faulty.Healthy], stall_threshold=None):
        assert "servicedeck-watchdog" not in {thread.name for thread in threading.enumerate()}


def test_a_bad_stall_threshold_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"threshold must be seconds > 0, got -1"):
        ServiceController([faulty.Healthy], stall_threshold=-1)


class Hanging(Tracked, LoopService):
    """Its loop awaits an event that never comes."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        await anyio.Event().wait()


async def test_a_hanging_loop_blocking_stops_time_out_with_a_warning_and_kill_ends_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with ServiceController([Hanging, faulty.Healthy]) as controller:
        await controller.start("Hanging")
        await controller.start("Healthy")
        await settled(
            controller, lambda: controller.snapshot("Hanging").status.state is ServiceState.RUNNING
        )
        service = Hanging.latest()

        with anyio.fail_after(DEADLINE):
            stopped = await controller.stop("Hanging", block=True, timeout=0.05)
            await service.stop(block=True, timeout=0.05)  # the framework's own, as well

        assert stopped is False
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("stop(block=True) on Hanging gave up after 0.05 s" in m for m in warnings)
        assert "Hanging did not stop within 0.05 s; it is stuck (kill cancels it)" in warnings
        assert controller.snapshot("Hanging").stuck
        assert controller.snapshot("Healthy").has_task, "the neighbour runs on"

        await controller.kill("Hanging")
        await settled(controller, lambda: not controller.snapshot("Hanging").has_task)
        assert controller.snapshot("Hanging").status.state is ServiceState.STOPPED
        assert not controller.snapshot("Hanging").stuck
