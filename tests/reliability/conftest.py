"""Helpers of the reliability tests.

Waiting is event-driven: `settled(controller, condition)` re-checks its condition after
every change the controller reports, under an `anyio.fail_after` deadline. Nothing
sleeps for a fixed time. Faults under test (a `time.sleep` that blocks the event loop,
a `run_once` that hangs) are the services' own code, never the tests'.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from servicedeck.controller import ServiceController

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
