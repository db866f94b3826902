"""Helpers of the reliability tests.

Waiting is event-driven: `settled(controller, condition)` re-checks its condition after
every change the controller reports, under an `anyio.fail_after` deadline. Nothing
sleeps for a fixed time. Faults under test (a `time.sleep` that blocks the event loop,
a `run_once` that hangs) are the services' own code, never the tests'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import anyio.lowlevel
from textual.pilot import Pilot

from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

DEADLINE = 10.0
"""Seconds a test waits for a state before failing: generous, the machine may be slow."""


async def settled(
    controller: ServiceController, condition: Callable[[], bool], deadline: float = DEADLINE
) -> None:
    """Return once `condition()` holds, re-checked after each controller change."""
    if condition():
        return
    event = anyio.Event()

    def on_change(name: str) -> None:
        if condition():
            event.set()

    unsubscribe = controller.subscribe(on_change)
    try:
        with anyio.fail_after(deadline):
            await event.wait()
    finally:
        unsubscribe()


async def app_until(pilot: Pilot[object], condition: Callable[[], bool]) -> None:
    """Let the console run until `condition()` holds, re-checked after each controller
    change once the console has applied it to the screen; under a deadline."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(DEADLINE):
        while True:
            app.flush()
            await pilot.pause()
            if condition():
                return
            changed = anyio.Event()
            unsubscribe = app.controller.subscribe(lambda name, event=changed: event.set())
            try:
                if not condition():
                    await changed.wait()
            finally:
                unsubscribe()


async def app_ready(pilot: Pilot[object]) -> None:
    """Wait until the console has entered its controller and finished its command workers."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(DEADLINE):
        await app.ready.wait()
        await pilot.pause()
        await app.workers.wait_for_complete()
    app.flush()
    await pilot.pause()


async def services_ended(app: ServiceDeckApp) -> None:
    """Wait until the console's services have stopped (the app exits right after)."""
    with anyio.fail_after(DEADLINE):
        await app.stopped.wait()


async def quiet() -> None:
    """Return once every other task waits (on asyncio), under a deadline.

    `anyio.wait_all_tasks_blocked()` re-checks every 0.1 s, the period of the watchdog's
    heartbeat: in phase, it can find the heartbeat just woken on every check, for ever.
    This lets any task that is ready run first (a checkpoint) and checks again.
    """
    me = asyncio.current_task()
    with anyio.fail_after(DEADLINE):
        while True:
            ready = [
                task
                for task in asyncio.all_tasks()
                if task is not me and (task._fut_waiter is None or task._fut_waiter.done())  # type: ignore[attr-defined]
            ]
            if not ready:
                return
            await anyio.lowlevel.checkpoint()
