"""Every record a service leaves behind is bounded: memory stays flat however long it runs.

Per service: the last `log_capacity` log lines, the last 32 loop durations, the last 16
errors (each with its traceback, formatted only when read); per watchdog: the last 32
stalls; per console: a few notifications at once. A service that logs and fails on
every loop, for ten thousand loops, must not grow memory between loop 2,000 and 10,000.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from support import notifications

from servicedeck import LoopService
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

from .conftest import app_ready

pytestmark = pytest.mark.anyio

FLAT = 64 * 1024
"""Bytes of growth that count as none: allocator and interpreter noise (interned strings,
a dict resized once), never a record per loop (10,000 loops of even 16 bytes is more)."""


class Noisy(LoopService):
    """Logs a line and fails, on every loop, as fast as it can."""

    loop_seconds = 0

    async def run_once(self) -> None:
        self.logger.info("loop %d: about to fail", self.status.loop_count + 1)
        raise ValueError(f"bad record {self.status.loop_count + 1}")


def traced_bytes() -> int:
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    return current


async def test_a_service_failing_every_loop_for_10000_loops_keeps_memory_flat() -> None:
    async with ServiceController([Noisy], log_capacity=100, propagate_logs=False) as controller:
        tracemalloc.start()
        try:
            await controller.step("Noisy", loops=2_000)
            after_2000 = traced_bytes()
            await controller.step("Noisy", loops=8_000)
            after_10000 = traced_bytes()
        finally:
            tracemalloc.stop()
        snap = controller.snapshot("Noisy")

        assert snap.status.loop_count == 10_000
        assert snap.status.error_count == 10_000
        assert len(snap.status.recent_errors) == 16
        assert len(snap.status.recent_durations) == 32
        assert len(controller.logs("Noisy")) == 100
        assert snap.log_count == 20_000, "counted, though only the last 100 are kept"
    growth = after_10000 - after_2000
    print(f"memory growth from loop 2,000 to 10,000: {growth} bytes")
    assert growth < FLAT, f"{growth} bytes more after 8,000 more loops"


async def test_console_keeps_at_most_a_few_notifications() -> None:
    app = ServiceDeckApp(ServiceController([Noisy], propagate_logs=False), open_stopped=True)
    async with app.run_test(notifications=True) as pilot:
        await app_ready(pilot)
        for i in range(500):
            app.notify(f"note {i}", markup=False)
        await pilot.pause()
        shown = notifications(app)
    newest = range(500 - ServiceDeckApp.MAX_NOTIFICATIONS, 500)
    assert shown == [f"note {i}" for i in newest], "the newest few, on screen, in order"
