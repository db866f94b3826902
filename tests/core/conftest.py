"""The framework tests run on both anyio backends; trio runs them on a virtual clock.

trio's `MockClock(autojump_threshold=0)` jumps to the next deadline whenever every task
is blocked, so a test of a 60-second interval takes milliseconds, and a test that
asserts an exact schedule asserts it in virtual time, independent of the machine.

Tests decorated with `virtual_time` assert exact times and run on the mock clock only.
Everything else runs on both backends and waits on events and `anyio.fail_after()`
deadlines, never on sleeps.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

from servicedeck import Service, ServiceStatus

WAIT_TIMEOUT = 10.0
"""How long a test waits for a service to reach a state before it fails.

Generous: on asyncio it is real time, and the machine may be slow. A broken service
usually makes the test fail much sooner (trio jumps its virtual clock to the deadline).
"""

WaitFor = Callable[[Service, Callable[[ServiceStatus], bool]], Awaitable[ServiceStatus]]


virtual_time = pytest.mark.parametrize("anyio_backend", ["trio"], indirect=True)
"""Decorator for tests that assert exact times: run them on trio's mock clock only."""


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """asyncio, and trio with a fresh autojumping mock clock for each test."""
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return "asyncio"


@pytest.fixture
def wait_for() -> WaitFor:
    """`await wait_for(service, predicate)`: the first status that satisfies `predicate`.

    Event-driven (through `Service.subscribe`), bounded by `anyio.fail_after`.
    """

    async def wait_for(
        service: Service, predicate: Callable[[ServiceStatus], bool]
    ) -> ServiceStatus:
        status = service.status
        if predicate(status):
            return status
        event = anyio.Event()
        seen: list[ServiceStatus] = []

        def listener(svc: Service) -> None:
            snapshot = svc.status
            if not event.is_set() and predicate(snapshot):
                seen.append(snapshot)
                event.set()

        unsubscribe = service.subscribe(listener)
        try:
            with anyio.fail_after(WAIT_TIMEOUT):
                await event.wait()
        finally:
            unsubscribe()
        return seen[0]

    return wait_for


class SentinelHandlers:
    """Recording Python handlers for SIGINT and SIGTERM, installed by a fixture."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, frame: object) -> None:
        self.received.append(signum)


@pytest.fixture
def sentinel_handlers() -> Iterator[SentinelHandlers]:
    """Install a recording handler for SIGINT and SIGTERM; restore the old ones after.

    Tests assert that the framework puts this handler back when it is done. It also
    keeps a signal that arrives too late from killing the test process.
    """
    sentinel = SentinelHandlers()
    sigs = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in sigs:
        signal.signal(sig, sentinel)
    try:
        yield sentinel
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
