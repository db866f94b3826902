"""Faults in every phase of a service, through the controller: recorded, shown, contained.

Each faulty service fails in one place (`__init__`, `service_settings`, `setup`,
`run_once`, `teardown`, a non-loop `start` or `stop`); the test checks the error is
recorded with its traceback, the snapshot says crashed / failing, and a healthy service
beside it keeps looping.
"""

from __future__ import annotations

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
