"""Faults in every phase of a service, through the controller: recorded, shown, contained.

Each faulty service fails in one place (`__init__`, `service_settings`, `setup`,
`run_once`, `teardown`, a non-loop `start` or `stop`); the test checks the error is
recorded with its traceback, the snapshot says crashed / failing, and a healthy service
beside it keeps looping.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from servicedeck import Health, LoopService, ServiceState
from servicedeck.controller import ServiceController

pytestmark = pytest.mark.anyio


class InitFails(LoopService):
    loop_seconds = 3600

    def __init__(self) -> None:
        super().__init__()
        raise RuntimeError("init broke")

    async def run_once(self) -> None:
        pass


def test_controller_built_outside_an_event_loop_records_a_failing_init() -> None:
    controller = ServiceController([InitFails])

    snap = controller.snapshot("InitFails")

    assert snap.status.state is ServiceState.CRASHED
    assert snap.status.last_error is not None
    assert snap.status.last_error.phase == "init"
    assert "init broke" in snap.status.last_error.traceback
    assert snap.health is Health.CRASHED


class Counted(LoopService):
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
        service = controller.instance("Counted")
        assert isinstance(service, Counted)

        controller.start("Counted")
        await controller.step("Counted")

        snap = controller.snapshot("Counted")
        assert (service.setups, service.teardowns) == (1, 0), "one run: the started one"
        assert snap.has_task
        assert snap.status.state is not ServiceState.CRASHED
        assert snap.status.last_error is None
        assert snap.status.loop_count >= 1
        assert service.most_inside == 1
