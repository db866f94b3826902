"""Event-driven waits with deadlines, for the controller and the console."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from textual.pilot import Pilot

from servicedeck.control import ServiceControl
from servicedeck.control import wait_until as _wait_until
from servicedeck.tui import ServiceDeckApp

DEADLINE = 10.0
"""Seconds a test waits for a state before failing: generous (the machine may be slow);
a broken build fails sooner where it can."""


async def wait_until(
    control: ServiceControl, condition: Callable[[], bool], deadline: float = DEADLINE
) -> None:
    """Return once `condition()` holds, re-checked after each change of `control`."""
    await _wait_until(control, condition, timeout=deadline)


async def app_until(
    pilot: Pilot[object], condition: Callable[[], bool], deadline: float = DEADLINE
) -> None:
    """Let the console run until `condition()` holds, re-checked after each change once
    the console has applied it to the screen; under a deadline."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(deadline):
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


async def app_ready(pilot: Pilot[object], deadline: float = DEADLINE) -> None:
    """Wait until the console runs its services, its command workers are done, and every
    change is on the screen."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(deadline):
        await app.ready.wait()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    app.flush()
    await pilot.pause()
