"""`debug()` and `breakpointhook()`: a loop in pdb, the terminal handed over and back.

pdb reads the user's commands from `sys.stdin`; here a script stands in for the user. A
terminal and the console are tested in `tests/tui/test_debugger_pty.py`.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from servicedeck import LoopService
from servicedeck.control import Command
from servicedeck.controller import ServiceController

pytestmark = pytest.mark.anyio


class Stepper(LoopService):
    loop_seconds = 60
    seen: list[int] = []

    async def run_once(self) -> None:
        value = 41
        value += 1
        Stepper.seen.append(value)


class Breaking(LoopService):
    loop_seconds = 60

    async def run_once(self) -> None:
        marker = "in run_once"
        breakpoint()
        self.logger.info("after the breakpoint: %s", marker)


class SlowUser(io.StringIO):
    """A user who types each command after `seconds`: the event loop waits meanwhile."""

    def __init__(self, text: str, seconds: float) -> None:
        super().__init__(text)
        self.seconds = seconds

    def readline(self, size: int | None = -1) -> str:
        time.sleep(self.seconds)  # the user thinking, at pdb's prompt: the loop is blocked
        return super().readline(size)


def typed(monkeypatch: pytest.MonkeyPatch, text: str, seconds: float = 0.0) -> None:
    monkeypatch.setattr(sys, "stdin", SlowUser(text, seconds))


def recording_terminal(held: list[str]) -> Callable[[], AbstractContextManager[None]]:
    """A `use_terminal()` hook that notes in `held` when pdb takes the terminal and gives
    it back."""

    @contextlib.contextmanager
    def take() -> Iterator[None]:
        held.append("pdb")
        yield
        held.append("console")

    return take


async def test_debug_stops_at_the_first_line_of_run_once_and_counts_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed(monkeypatch, "p value\nn\np value\nc\n")
    held: list[str] = []
    take = recording_terminal(held)

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    Stepper.seen = []
    async with ServiceController([Stepper], stall_threshold=None) as controller:
        controller.use_terminal(take)
        await controller.pause("Stepper")
        await controller.debug("Stepper")
        snap = controller.snapshot("Stepper")
    assert held == ["pdb", "console"]
    text = out.getvalue()
    assert "-> value = 41" in text  # stopped at the first line of run_once
    assert "41" in text.split("-> value += 1", 1)[1]  # `n` then `p value`
    assert Stepper.seen == [42]
    assert snap.status.loop_count == 1
    assert snap.status.paused  # a paused service stays paused, as with `n`
    assert sys.gettrace() is None


async def test_the_watchdog_does_not_call_the_debugger_a_stall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed(monkeypatch, "c\n", seconds=0.6)  # three thresholds at the prompt
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    async with ServiceController([Stepper], stall_threshold=0.2) as controller:
        await controller.debug("Stepper")
        await controller.step("Stepper")  # the loop runs on after it: beats again
        snap = controller.snapshot("Stepper")
    assert snap.status.loop_count == 2
    assert snap.stall is None
    assert snap.stall_count == 0


async def test_a_breakpoint_in_run_once_hands_the_terminal_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed(monkeypatch, "p marker\nc\n")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    held: list[str] = []
    take = recording_terminal(held)

    async with ServiceController([Breaking], stall_threshold=None) as controller:
        controller.use_terminal(take)
        monkeypatch.setattr(sys, "breakpointhook", controller.breakpointhook)
        await controller.step("Breaking")
        logs = [line.message for line in controller.logs("Breaking")]
    assert held == ["pdb", "console"]
    assert "'in run_once'" in out.getvalue()
    assert "after the breakpoint: in run_once" in logs


async def test_debug_on_a_running_service_debugs_its_next_loop_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed(monkeypatch, "c\n")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    Stepper.seen = []
    async with ServiceController([Stepper], stall_threshold=None) as controller:
        await controller.start("Stepper")
        assert controller.check("Stepper", Command.DEBUG) is None
        await controller.debug("Stepper")
        assert controller.snapshot("Stepper").has_task  # back on its schedule
    assert len(Stepper.seen) >= 1
