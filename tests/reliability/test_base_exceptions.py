"""`run_once` raising KeyboardInterrupt, SystemExit or another BaseException.

The decided behaviour (docs/reliability.md): the service that raised is recorded as
crashed (its teardown runs); every other service is stopped gracefully (a stop is
requested, its loop finishes, its teardown runs); then the exception propagates, as
itself (never wrapped in an exception group), out of `ServiceController`,
`Service.running()` and `run_multiple_services()`, so the process exits. Never a
half-stopped process.

Each scenario runs in its own `anyio.run()`, on both backends, so that an exception
that escapes by mistake fails this test and not the whole pytest session.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from support.tracked import Tracked

from servicedeck import LoopService, ServiceState, run_multiple_services
from servicedeck.control import Command
from servicedeck.controller import ServiceController

from .conftest import DEADLINE


class Abort(BaseException):
    """A BaseException of the user's own, neither KeyboardInterrupt nor SystemExit."""


FATAL = [KeyboardInterrupt, SystemExit, Abort]
BACKENDS = ["asyncio", "trio"]


class Scope(Tracked, LoopService, ABC):
    """Abstract: `Scope.running()` runs only the services of this file."""


class Interrupting(Scope):
    """Raises `fatal` in its second loop."""

    loop_seconds = 0
    fatal: type[BaseException] = KeyboardInterrupt

    def __init__(self) -> None:
        super().__init__()
        self.torn_down = False

    async def run_once(self) -> None:
        if self.status.loop_count >= 1:
            raise self.fatal("from run_once")

    async def teardown(self) -> None:
        self.torn_down = True


class Bystander(Scope):
    """Loops on; notes whether its teardown came after a stop request (graceful)."""

    loop_seconds = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.stopped_gracefully: bool | None = None

    async def run_once(self) -> None:
        await anyio.lowlevel.checkpoint()

    async def teardown(self) -> None:
        self.stopped_gracefully = self.should_stop


def run(scenario: Callable[[], Awaitable[Any]], backend: str) -> None:
    async def bounded() -> None:
        with anyio.fail_after(DEADLINE):
            await scenario()

    anyio.run(bounded, backend=backend)


def check_outcome(interrupting: Interrupting, bystander: Bystander, fatal: type) -> None:
    status = interrupting.status
    assert status.state is ServiceState.CRASHED
    assert status.last_error is not None
    assert (status.last_error.type_name, status.last_error.phase) == (fatal.__name__, "run_once")
    assert interrupting.torn_down
    assert not bystander.is_running
    assert bystander.stopped_gracefully is True, "stopped, not cancelled"


def note(fatal: type) -> str:
    """The note every runner adds to the exception: the same words everywhere."""
    return (
        f"servicedeck: Interrupting raised {fatal.__name__} in run_once; "
        "every other service was stopped."
    )


@pytest.fixture(params=FATAL, ids=lambda t: t.__name__)
def fatal(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.setattr(Interrupting, "fatal", request.param)
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", BACKENDS)
def test_controller_stops_the_others_gracefully_then_reraises(fatal: type, backend: str) -> None:
    controller = ServiceController([Interrupting, Bystander], propagate_logs=False)

    refusals: list[str | None] = []

    def on_change(name: str) -> None:
        snap = controller.snapshot(name)
        ended = snap.status.state is ServiceState.CRASHED and not snap.has_task
        if name == "Interrupting" and ended and not refusals:
            refusals.append(controller.check("Bystander", Command.START))

    async def scenario() -> None:
        async with controller:
            controller.subscribe(on_change)
            await controller.start("Bystander")
            await controller.start("Interrupting")
            await anyio.Event().wait()  # until the controller cancels it

    with pytest.raises(fatal, match="from run_once") as raised:
        run(scenario, backend)

    assert raised.value.__notes__ == [note(fatal)]
    interrupting = Interrupting.latest()
    bystander = Bystander.latest()
    check_outcome(interrupting, bystander, fatal)
    assert not any(snap.has_task for snap in controller.snapshots())
    log = "\n".join(line.message for line in controller.logs("Interrupting"))
    assert f"raised {fatal.__name__} in run_once: stopping every service" in log
    assert refusals == [
        f"servicedeck is stopping: Interrupting raised {fatal.__name__} in run_once"
    ], "nothing may start meanwhile"


@pytest.mark.parametrize("backend", BACKENDS)
def test_running_stops_the_others_gracefully_then_reraises(fatal: type, backend: str) -> None:
    found: list[Any] = []

    async def scenario() -> None:
        async with Scope.running() as services:
            found.extend(services)
            await anyio.Event().wait()  # until running() cancels it

    with pytest.raises(fatal, match="from run_once") as raised:
        run(scenario, backend)

    assert raised.value.__notes__ == [note(fatal)]
    [interrupting] = [s for s in found if isinstance(s, Interrupting)]
    [bystander] = [s for s in found if isinstance(s, Bystander)]
    check_outcome(interrupting, bystander, fatal)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_multiple_services_stops_the_others_gracefully_then_reraises(
    fatal: type, backend: str
) -> None:
    interrupting, bystander = Interrupting(), Bystander()

    with pytest.raises(fatal, match="from run_once") as raised:
        run(lambda: run_multiple_services([interrupting, bystander]), backend)

    assert raised.value.__notes__ == [note(fatal)]
    check_outcome(interrupting, bystander, fatal)


class Alone(LoopService, ABC):
    """Abstract: `Alone.running()` runs only `Ticking`."""


class Ticking(Alone):
    """Loops on; notes its first loop, and whether its teardown came after a stop request."""

    loop_seconds = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.looped = anyio.Event()
        self.stopped_gracefully: bool | None = None

    async def run_once(self) -> None:
        self.looped.set()

    async def teardown(self) -> None:
        self.stopped_gracefully = self.should_stop


@pytest.mark.parametrize("backend", BACKENDS)
def test_running_stops_gracefully_then_reraises_a_base_exception_of_its_block_as_itself(
    fatal: type, backend: str
) -> None:
    # On trio, Ctrl+C raises KeyboardInterrupt right here, in the block's task.
    found: list[Any] = []

    async def scenario() -> None:
        async with Alone.running() as services:
            found.extend(services)
            await services[0].looped.wait()
            raise fatal("from the block")

    with pytest.raises(fatal, match="from the block") as raised:
        run(scenario, backend)

    assert not getattr(raised.value, "__notes__", None), "no service raised it"
    [ticking] = found
    assert not ticking.is_running
    assert ticking.stopped_gracefully is True, "stopped, not cancelled"
