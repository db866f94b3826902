"""pdb in the console, in a real terminal: `d`, and `breakpoint()` in `run_once`.

The console runs in a pseudo-terminal (pexpect), as a user runs it; the test types the
keys and pdb's commands, and reads what the terminal shows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

TIMEOUT = 30.0
"""Seconds to wait for the console or pdb to show something (a slow machine)."""

SERVICES = """
from pathlib import Path

from servicedeck import LoopService


class Stepper(LoopService):
    loop_seconds = 60

    async def run_once(self) -> None:
        value = 41
        value += 1
        Path("stepper.txt").open("a").write(f"{value}\\n")


class Breaking(LoopService):
    loop_seconds = 60

    async def run_once(self) -> None:
        marker = "inside " + "run_once"
        breakpoint()
        Path("breaking.txt").open("a").write(marker + "\\n")
"""


@pytest.fixture
def console() -> Iterator[pexpect.spawn]:
    folder = Path.cwd()  # a fresh one, the autouse `_isolated` fixture's
    (folder / "services.py").write_text(SERVICES)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONBREAKPOINT"}
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "servicedeck", "services.py", "--paused"],
        cwd=str(folder),
        env=env,
        dimensions=(30, 120),
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    try:
        child.expect("Breaking")  # the table is drawn
        yield child
    finally:
        child.close(force=True)


def quit_console(child: pexpect.spawn) -> int:
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus or 0)


def test_d_runs_the_next_loop_in_pdb_and_the_console_comes_back(
    console: pexpect.spawn,
) -> None:
    console.send("d")  # the cursor is on the first row: Stepper
    console.expect(r"-> value = 41")  # pdb, at the first line of run_once
    console.expect(r"\(Pdb\) ")
    console.send("n\r")
    console.expect(r"-> value \+= 1")
    console.expect(r"\(Pdb\) ")
    console.send("p value\r")
    console.expect("41")
    console.expect(r"\(Pdb\) ")
    console.send("c\r")
    console.expect("its loop ran under pdb")  # the console is back, and says so
    console.expect("loop 1")
    assert (Path.cwd() / "stepper.txt").read_text() == "42\n"
    assert quit_console(console) == 0


def test_a_breakpoint_in_run_once_stops_in_pdb_and_the_console_comes_back(
    console: pexpect.spawn,
) -> None:
    console.send("\x1b[B")  # down: Breaking
    console.send("n")
    console.expect(r"\(Pdb\) ")
    console.send("p marker\r")
    console.expect("'inside run_once'")
    console.expect(r"\(Pdb\) ")
    console.send("c\r")
    console.expect("Stepper")  # the console redrew its table
    assert quit_console(console) == 0
    assert (Path.cwd() / "breaking.txt").read_text() == "inside run_once\n"
