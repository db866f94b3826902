"""A few hundred random key presses in the console never break it.

Seeded, so a failure replays: keys from the binding table (all but quit and the command
palette, whose search would pick commands at random), arrows and paging, counts (`12n`;
never a 9999-loop step, which would keep the event loop busy for a while, as asked),
escape, and `/` followed by text. The services are demo-like (one fails every other loop,
one is slow, one never finishes its loop, one is not a loop) on a frozen `ManualClock`.
After every burst of keys: the app runs, no service has two tasks, loop and error counts
never decrease, and once the event loop is quiet a service has a task exactly when it is
active. At the end, `q` stops everything and no task started by servicedeck remains.
"""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest
from support import REPOSITORY

from servicedeck import LoopService, Service
from servicedeck.controller import ManualClock, ServiceController
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.keys import KEYS

from . import faulty
from .conftest import app_ready, quiet, services_ended
from .test_state_machine import SERVICEDECK_TASK, servicedeck_tasks

pytestmark = pytest.mark.anyio

PRESSES = 300
BURST = 15


class Flaky(LoopService):
    """Fails every other loop."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        if self.status.loop_count % 2:
            raise RuntimeError("every other loop fails")


class Slow(LoopService):
    """Each loop awaits a little."""

    loop_seconds = 2.0

    async def run_once(self) -> None:
        await anyio.sleep(0.01)


class Stubborn(LoopService):
    """Its second loop never finishes: stopping it takes a kill."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        if self.status.loop_count == 1:
            await anyio.Event().wait()
        await anyio.lowlevel.checkpoint()


CLASSES: list[type[Service]] = [Flaky, Slow, Stubborn, faulty.Relay]

KEYS_PRESSED = [
    *(key for spec in KEYS if spec.id not in ("quit", "command_palette") for key in spec.keys),
    *("up", "down", "pageup", "pagedown", "home", "end"),
    "escape",
    "count",  # a count of 1 to 20 typed as digits, then n (e.g. 12n)
]
TEXT = "flakyslowrelay "


def random_keys(seed: int, count: int) -> list[str]:
    """`count` keys; a `/` is followed by a few letters of text, as a person types."""
    rng = random.Random(seed)
    keys: list[str] = []
    while len(keys) < count:
        key = rng.choice(KEYS_PRESSED)
        if key == "count":
            keys += [*str(rng.randint(1, 20)), "n"]
            continue
        keys.append(key)
        if key == "slash":
            keys += [rng.choice(TEXT).replace(" ", "space") for _ in range(rng.randint(0, 4))]
            keys.append(rng.choice(["enter", "escape"]))
    return keys[:count]


def check_running(controller: ServiceController, counts: dict[str, tuple[int, int]]) -> None:
    """What holds at any moment: one task per service at most, counts never go down."""
    tasks = servicedeck_tasks()
    for snap in controller.snapshots():
        assert tasks.count(SERVICEDECK_TASK + snap.name) <= 1, tasks
        loops, errors = counts.get(snap.name, (0, 0))
        assert snap.status.loop_count >= loops, snap.name
        assert snap.status.error_count >= errors, snap.name
        counts[snap.name] = (snap.status.loop_count, snap.status.error_count)


def check_quiet(controller: ServiceController, burst: list[str]) -> None:
    """What holds once every task waits: a task exactly while the service is active."""
    tasks = servicedeck_tasks()
    for snap in controller.snapshots():
        assert snap.has_task == snap.status.state.is_active, (snap.name, burst)
        if not snap.has_task:
            assert SERVICEDECK_TASK + snap.name not in tasks, (snap.name, burst)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_keys_never_break_the_console(seed: int) -> None:
    controller = ServiceController(
        CLASSES, clock=ManualClock(), propagate_logs=False, root=REPOSITORY
    )
    app = ServiceDeckApp(controller, start_paused=seed % 2 == 0, stop_timeout=0.1)
    counts: dict[str, tuple[int, int]] = {}
    keys = random_keys(seed, PRESSES)

    async with app.run_test(size=(120, 36)) as pilot:
        await app_ready(pilot)
        for start in range(0, len(keys), BURST):
            burst = keys[start : start + BURST]
            for key in burst:  # as a terminal sends them, without waiting in between
                app.simulate_key(key)
                await anyio.lowlevel.checkpoint()
                check_running(controller, counts)
            # Quiet: the keys are handled, and every task waits (a step of a loop that
            # never ends waits for ever, as it should: its worker keeps the screen live).
            await quiet()
            assert app.is_running, f"the app stopped after {keys[: start + BURST]}"
            check_quiet(controller, burst)

        app.clear_notifications()
        await pilot.press("escape", "escape", "q")  # out of a dialog or the filter, then quit
        await services_ended(app)
        report = app.return_value
    assert not any(snap.has_task for snap in controller.snapshots())
    assert servicedeck_tasks() == []
    assert report is None or not set(report.stopped) & set(report.cancelled)
