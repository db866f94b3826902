"""`ServiceSession` on its own, with no app: it starts the enabled services, stops them
when ended, keeps a report it is given, and keeps a service's BaseException to exit with."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from support import DEADLINE

from servicedeck import LoopService
from servicedeck.control import ServiceStop, StopReport
from servicedeck.controller import ServiceController
from servicedeck.tui.session import ServiceSession

pytestmark = pytest.mark.anyio


class Ticking(LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        pass


class Interrupting(LoopService):
    """Raises KeyboardInterrupt in its first loop, as a Ctrl-C in a service would."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise KeyboardInterrupt


async def run(
    session: ServiceSession, report: StopReport | None = None, on_started: object = None
) -> asyncio.Task[None]:
    """Start `session`, wait for its start, end it (with `report`), and return its task
    once it has ended."""
    ended: asyncio.Future[asyncio.Task[None]] = asyncio.get_running_loop().create_future()
    session.start(on_started or (lambda: None), ended.set_result)  # type: ignore[arg-type]
    with anyio.fail_after(DEADLINE):
        await session.started.wait()
        session.end(report)
        return await ended


async def test_a_session_starts_the_enabled_services_and_stops_them_when_ended() -> None:
    control = ServiceController([Ticking], propagate_logs=False)
    seen: list[bool] = []
    session = ServiceSession(control, start_paused=False, stop_timeout=1.0)
    await run(session, on_started=lambda: seen.append(control.snapshot("Ticking").has_task))
    assert seen == [True], "started before it says so"
    assert session.done
    assert session.report is not None
    assert session.report.stopped == ("Ticking",)
    assert not control.snapshot("Ticking").has_task


async def test_a_session_that_starts_nothing_keeps_a_report_it_is_given() -> None:
    control = ServiceController([Ticking], propagate_logs=False)
    session = ServiceSession(control, start_paused=False, stop_timeout=1.0, start_nothing=True)
    given = StopReport((ServiceStop("Ticking", "stopped", 0.5),), 0.5)
    task = await run(session, given)
    assert session.report is given
    assert session.outcome(task) == (0, None)


async def test_a_services_base_exception_ends_the_session_with_its_status() -> None:
    control = ServiceController([Interrupting, Ticking], propagate_logs=False)
    session = ServiceSession(control, start_paused=False, stop_timeout=1.0)
    ended: asyncio.Future[asyncio.Task[None]] = asyncio.get_running_loop().create_future()
    session.start(lambda: None, ended.set_result)
    with anyio.fail_after(DEADLINE):
        task = await ended
    assert isinstance(session.fatal, KeyboardInterrupt)
    status, message = session.outcome(task)
    assert status == 130
    assert message is not None
    assert "Interrupting raised KeyboardInterrupt" in message.plain
    assert not control.snapshot("Ticking").has_task, "every other service was stopped"
