"""Builders of the snapshot apps and the helpers that bring them to a settled state.

Determinism: a `ManualClock` (durations, countdowns and times are read from it), no
header clock, services stepped rather than scheduled, and every wait is on the app's
own state (workers done, changes applied), never a sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import anyio
from support import REPOSITORY
from textual.pilot import Pilot

from servicedeck import Service
from servicedeck.controller import ManualClock, ServiceController
from servicedeck.tui import ServiceDeckApp

from . import services

ROOT = REPOSITORY
"""Tracebacks show paths relative to the repository, the same in every checkout."""

WAIT = 15.0
"""Seconds a helper waits for the app to reach a state (real time; generous)."""


def make_app(
    classes: Sequence[type[Service]] = services.ALL,
    *,
    start: Literal["stopped", "paused", "enabled"] = "stopped",
    clock: ManualClock | None = None,
) -> ServiceDeckApp:
    """The console on `classes`, on a fresh frozen clock (test services advance it).

    `start`: open with every service stopped (the tests step them), with the enabled
    loops paused (`servicedeck --paused`), or with the enabled services running.
    """
    clock = clock or ManualClock(1000.0)
    services.OrderReaper.clock = clock
    controller = ServiceController(classes, clock=clock, propagate_logs=False, root=ROOT)
    return ServiceDeckApp(
        controller, start_paused=start == "paused", open_stopped=start == "stopped"
    )


async def settle(pilot: Pilot[object]) -> None:
    """Wait until the services run, every command worker is done, and changes are shown."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(WAIT):
        await app.ready.wait()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
    app.flush()
    await pilot.pause()


async def wait_for(pilot: Pilot[object], condition: Callable[[], bool]) -> None:
    """Let the app run until `condition()` holds, re-checked after each service change."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    with anyio.fail_after(WAIT):
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


async def press_and_settle(pilot: Pilot[object], *keys: str) -> None:
    """Press keys one by one, settling after each (commands run as workers)."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
