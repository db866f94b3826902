"""Helpers for the headless controller tests (asyncio; the framework tests cover trio).

Tests wait on the controller's change stream with `anyio.fail_after` deadlines, never
on sleeps: `await until(controller, lambda: ...)` re-checks its condition after every
change the controller reports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from servicedeck.controller import ServiceController

WAIT_TIMEOUT = 10.0
"""Generous, real time: a slow machine must not fail a test; a broken one fails sooner."""

Until = Callable[..., Awaitable[None]]


async def until(controller: ServiceController, condition: Callable[[], bool]) -> None:
    """Return once `condition()` is true, re-checking it after each controller change."""
    if condition():
        return
    changed = anyio.Event()

    def on_change(name: str) -> None:
        if condition():
            changed.set()

    unsubscribe = controller.subscribe(on_change)
    try:
        with anyio.fail_after(WAIT_TIMEOUT):
            await changed.wait()
    finally:
        unsubscribe()


@pytest.fixture
def wait_until() -> Until:
    """The `until()` helper, as a fixture."""
    return until
