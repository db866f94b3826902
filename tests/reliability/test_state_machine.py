"""A property test: random command sequences through the controller keep its invariants.

Hypothesis drives start / step / pause / resume / stop (blocking or not) / kill /
cancel-steps / set-enabled / start-enabled (paused or not), and start-then-step at once,
on a few services whose loops follow a drawn script (ok, raise, slow). Every command runs
in one event loop, behind anyio's blocking portal; the services keep running between
commands. After every step:

- no service ever has two tasks, and no loop ever runs twice at once;
- loop and error counts never decrease;
- once the event loop is quiet, a service has a task exactly when its state is active
  (so a stopped service has no task);

and after the final stop-all, no task started by servicedeck remains (nor its watchdog
thread). Bounded: a few dozen examples of a few dozen steps, each command under a
deadline; the whole test takes seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from support.tracked import Tracked

from servicedeck import LoopService, Service
from servicedeck.control import Command, CommandError
from servicedeck.controller import ServiceController

from . import faulty
from .conftest import DEADLINE, quiet

Behaviour = str  # "ok", "raise" or "slow"


class Scripted(Tracked, LoopService):
    """Each loop does the next thing of its script. Notes how many of its runs (setup to
    teardown) and loops were in flight at once, and runs in a task not its own."""

    loop_seconds = 0.005

    def __init__(self) -> None:
        super().__init__()
        self.script: list[Behaviour] = ["ok"]
        self.inside = self.most_inside = 0
        self.runs = self.most_runs = 0
        self.foreign_runs: list[str] = []

    async def setup(self) -> None:
        self.runs += 1
        self.most_runs = max(self.most_runs, self.runs)
        task = anyio.get_current_task().name or ""
        if task != SERVICEDECK_TASK + self.name:
            self.foreign_runs.append(task)

    async def teardown(self) -> None:
        self.runs -= 1

    async def run_once(self) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            what = self.script[self.status.loop_count % len(self.script)]
            if what == "raise":
                raise RuntimeError("scripted failure")
            if what == "slow":
                await anyio.sleep(0.02)
            else:
                await anyio.lowlevel.checkpoint()
        finally:
            self.inside -= 1


class Busy(Scripted):
    loop_seconds = 0.005


class Hourly(Scripted):
    loop_seconds = 3600


CLASSES: list[type[Service]] = [Busy, Hourly, faulty.Relay]
NAMES = [cls.__name__ for cls in CLASSES]
LOOPS = ["Busy", "Hourly"]
SCRIPTS = st.lists(st.sampled_from(["ok", "raise", "slow"]), min_size=1, max_size=4)
SERVICEDECK_TASK = "servicedeck:"


def servicedeck_tasks() -> list[str]:
    """Names of the running tasks that servicedeck started (for one service, or its own)."""
    return [
        task.name
        for task in anyio.get_running_tasks()
        if task.name and task.name.startswith(SERVICEDECK_TASK)
    ]


SCRIPTED: dict[str, type[Scripted]] = {"Busy": Busy, "Hourly": Hourly}


class ControllerMachine(RuleBasedStateMachine):
    """One controller, entered in a portal's event loop for the whole example."""

    def __init__(self) -> None:
        super().__init__()
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self.portal = self._portal_cm.__enter__()
        self.controller = ServiceController(CLASSES, propagate_logs=False)
        self._entered = self.portal.wrap_async_context_manager(self.controller)
        self._entered.__enter__()
        self.counts: dict[str, tuple[int, int]] = {name: (0, 0) for name in NAMES}

    # -- running commands in the event loop ---------------------------------------------

    def attempt(self, name: str, command: Command, call: Callable[[], Any]) -> None:
        """Run `call` in the event loop; it must fail exactly when `check()` says so."""

        async def checked() -> None:
            reason = self.controller.check(name, command)
            refused: str | None = None
            with anyio.fail_after(DEADLINE):
                try:
                    result = call()
                    if isinstance(result, Awaitable):
                        await result
                except CommandError as exc:
                    refused = str(exc)
            assert refused == reason, f"{command.name} {name}: check() said {reason!r}"

        self.portal.call(checked)

    # -- rules --------------------------------------------------------------------------

    @initialize(busy=SCRIPTS, hourly=SCRIPTS)
    def scripts(self, busy: list[Behaviour], hourly: list[Behaviour]) -> None:
        for name, script in (("Busy", busy), ("Hourly", hourly)):
            service = SCRIPTED[name].latest()
            service.script = script

    @rule(name=st.sampled_from(NAMES))
    def start(self, name: str) -> None:
        self.attempt(name, Command.START, lambda: self.controller.start(name))

    @rule(name=st.sampled_from(NAMES), loops=st.integers(1, 3))
    def step(self, name: str, loops: int) -> None:
        self.attempt(name, Command.STEP, lambda: self.controller.step(name, loops))

    @rule(name=st.sampled_from(LOOPS))
    def start_then_step(self, name: str) -> None:
        """Both in one turn of the event loop: the step must step the started run."""

        async def both() -> None:
            await self.controller.start(name)  # returns without yielding to the loop
            await self.controller.step(name)

        self.attempt(name, Command.START, both)

    @rule(name=st.sampled_from(NAMES))
    def pause(self, name: str) -> None:
        self.attempt(name, Command.PAUSE, lambda: self.controller.pause(name))

    @rule(name=st.sampled_from(NAMES))
    def resume(self, name: str) -> None:
        self.attempt(name, Command.RESUME, lambda: self.controller.resume(name))

    @rule(name=st.sampled_from(NAMES), block=st.booleans())
    def stop(self, name: str, block: bool) -> None:
        self.attempt(
            name, Command.STOP, lambda: self.controller.stop(name, block=block, timeout=0.5)
        )

    @rule(name=st.sampled_from(NAMES))
    def kill(self, name: str) -> None:
        self.attempt(name, Command.KILL, lambda: self.controller.kill(name))

    @rule(name=st.sampled_from(NAMES))
    def cancel_steps(self, name: str) -> None:
        self.attempt(name, Command.CANCEL_STEPS, lambda: self.controller.cancel_steps(name))

    @rule(name=st.sampled_from(NAMES), enabled=st.sampled_from([True, False, None]))
    def set_enabled(self, name: str, enabled: bool | None) -> None:
        self.portal.call(self.controller.set_enabled, name, enabled)
        assert self.portal.call(self.controller.snapshot, name).enabled is not False or (
            enabled is False
        )

    @rule(paused=st.booleans())
    def start_enabled(self, paused: bool) -> None:
        started = self.portal.call(partial(self.controller.start_enabled, paused=paused))
        for name in started:
            snap = self.portal.call(self.controller.snapshot, name)
            assert snap.enabled
            assert snap.is_loop or not paused, "a plain service is left stopped"

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def counts_never_decrease(self) -> None:
        for name in LOOPS:
            status = self.portal.call(self.controller.snapshot, name).status
            loops, errors = self.counts[name]
            assert status.loop_count >= loops, name
            assert status.error_count >= errors, name
            self.counts[name] = (status.loop_count, status.error_count)

    @invariant()
    def never_two_runs_of_one_service(self) -> None:
        tasks = self.portal.call(servicedeck_tasks)
        for name in NAMES:
            assert tasks.count(SERVICEDECK_TASK + name) <= 1, tasks
        for name in LOOPS:
            service = SCRIPTED[name].latest()
            assert service.most_inside <= 1, f"two loops of {name} ran at once"
            assert service.most_runs <= 1, f"two runs of {name} at once"
            assert service.foreign_runs == [], f"{name} ran outside its own task"

    @invariant()
    def a_task_exactly_while_active_once_quiet(self) -> None:
        async def when_quiet() -> tuple[list[str], list[tuple[str, bool, bool]]]:
            await quiet()
            snaps = self.controller.snapshots()
            return servicedeck_tasks(), [
                (s.name, s.has_task, s.status.state.is_active) for s in snaps
            ]

        tasks, states = self.portal.call(when_quiet)
        for name, has_task, active in states:
            assert has_task == active, f"{name}: task {has_task}, active {active}"
            if not has_task:
                assert SERVICEDECK_TASK + name not in tasks, f"{name} is stopped: no task"

    # -- the end ------------------------------------------------------------------------

    def teardown(self) -> None:
        try:
            self._entered.__exit__(None, None, None)  # stop_all(), then the task group ends
            left = self.portal.call(servicedeck_tasks)
            assert left == [], f"tasks left after the final stop-all: {left}"
            assert not any(s.has_task for s in self.controller.snapshots())
        finally:
            self._portal_cm.__exit__(None, None, None)
        assert "servicedeck-watchdog" not in {t.name for t in threading.enumerate()}


ControllerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,  # each command has its own anyio deadline (DEADLINE seconds)
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same sequences on every run: CI stays deterministic
)
test_controller_state_machine = ControllerMachine.TestCase


@pytest.fixture(autouse=True)
def _no_enabled_overrides_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUSY", "HOURLY", "RELAY"):
        monkeypatch.delenv(f"SERVICEDECK_SERVICES_{name}_ENABLED", raising=False)
