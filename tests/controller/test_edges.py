"""The controller at its edges: a step of no loops, an exception in the `async with` block,
a SystemExit in a service's `__init__`, and a GeneratorExit from a service's loop.

Scenarios that let an exception out of the controller run in their own `anyio.run()`, on
both backends, so that one escaping by mistake fails its test, not the pytest session.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from support.tracked import Tracked

from servicedeck import LoopService, ServiceState
from servicedeck.controller import ManualClock, ServiceController

from .conftest import WAIT_TIMEOUT, until

BACKENDS = ["asyncio", "trio"]


class Idle(Tracked, LoopService):
    """Loops every hour; notes whether its teardown followed a stop request."""

    loop_seconds = 3600

    def __init__(self) -> None:
        super().__init__()
        self.stopped_gracefully: bool | None = None

    async def run_once(self) -> None:
        pass

    async def teardown(self) -> None:
        self.stopped_gracefully = self.should_stop


class ExitsInInit(LoopService):
    def __init__(self) -> None:
        raise SystemExit("no DATABASE_URL")

    async def run_once(self) -> None: ...


class Closing(LoopService):
    """Raises GeneratorExit from its second loop (a generator's close() gone astray)."""

    loop_seconds = 0

    async def run_once(self) -> None:
        if self.status.loop_count >= 1:
            raise GeneratorExit


def run(scenario: Callable[[], Awaitable[Any]], backend: str) -> None:
    async def bounded() -> None:
        with anyio.fail_after(WAIT_TIMEOUT):
            await scenario()

    anyio.run(bounded, backend=backend)


@pytest.mark.parametrize("loops", [0, -1, True, 1.5, "1"])
@pytest.mark.anyio
async def test_step_refuses_a_count_below_one_as_start_does(loops: Any) -> None:
    async with ServiceController([Idle], clock=ManualClock()) as controller:
        with pytest.raises(ValueError, match=f"loops must be a whole number >= 1, got {loops!r}"):
            await controller.step("Idle", loops)

        snap = controller.snapshot("Idle")
        assert (snap.has_task, snap.status.loop_count) == (False, 0)
        await controller.step("Idle", 2)
        assert controller.snapshot("Idle").status.loop_count == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("error", [LookupError("from the block"), KeyboardInterrupt()])
def test_an_exception_in_the_block_comes_out_as_itself(backend: str, error: BaseException) -> None:
    async def scenario() -> None:
        async with ServiceController([Idle]) as controller:
            await controller.start("Idle")
            await until(controller, lambda: controller.snapshot("Idle").status.loop_count > 0)
            raise error

    with pytest.raises(type(error)) as raised:
        run(scenario, backend)

    assert raised.value is error  # not an exception group around it
    assert Idle.latest().stopped_gracefully is True


def test_a_system_exit_in_init_is_recorded_as_that_services_init_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        controller = ServiceController([ExitsInInit, Idle], clock=ManualClock())

    snap = controller.snapshot("ExitsInInit")
    assert snap.status.state is ServiceState.CRASHED
    assert snap.status.last_error is not None
    assert (snap.status.last_error.phase, snap.status.last_error.summary) == (
        "init",
        "SystemExit: no DATABASE_URL",
    )
    assert "ExitsInInit failed to initialise: SystemExit('no DATABASE_URL')" in caplog.text
    assert controller.snapshot("Idle").status.state is ServiceState.STOPPED


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_generator_exit_from_a_loop_stops_every_service_and_names_it(backend: str) -> None:
    async def scenario() -> None:
        async with ServiceController([Closing, Idle]) as controller:
            await controller.start_enabled()
            await anyio.sleep_forever()  # ended by the controller, once all have stopped

    with pytest.raises(GeneratorExit) as raised:
        run(scenario, backend)

    assert type(raised.value) is GeneratorExit  # as itself, not in an exception group
    assert raised.value.__notes__ == [
        "servicedeck: Closing raised GeneratorExit in run_once; every other service was stopped."
    ]
    assert Idle.latest().stopped_gracefully is True
