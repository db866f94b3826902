"""Run `servicedeck` as a user does: `python -m servicedeck ...` in a subprocess.

Every test gets its own working folder (no pyproject.toml above it that we know of), its
own state directory (SERVICEDECK_STATE_DIR) and an environment without SERVICEDECK_*
variables. Long-running commands are waited on line by line, with deadlines: a reader
thread queues each output line, and a test waits for the line it needs or fails after
`DEADLINE` seconds. Nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicedeck.cli import _daemon

DEADLINE = 20.0
"""How long a test waits for a line or an exit before failing. Generous: CI is slow."""

SERVICES_PY = '''
"""Services for the command-line tests; each notes what happened in $SD_TEST_MARKS."""

import os
from pathlib import Path

import anyio

from servicedeck import LoopService

MARKS = Path(os.environ.get("SD_TEST_MARKS", "."))


class Ticker(LoopService):
    """Ticks every 50 ms and notes its teardown."""

    loop_seconds = 0.05

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            self.logger.info("first tick")

    async def teardown(self) -> None:
        (MARKS / "Ticker.teardown").write_text("done")


class Stubborn(LoopService):
    """Never finishes a loop: stopping it means cancelling it."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        self.logger.info("ignoring every stop")
        await anyio.sleep_forever()

    async def teardown(self) -> None:
        (MARKS / "Stubborn.teardown").write_text("done")


class SlowTeardown(LoopService):
    """Its teardown never ends (until the process is forced out)."""

    loop_seconds = 0.05

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            self.logger.info("first tick")

    async def teardown(self) -> None:
        self.logger.info("tearing down slowly")
        await anyio.sleep_forever()
'''


@dataclass
class Result:
    """A finished command."""

    status: int
    stdout: str
    stderr: str


class Running:
    """A command still running; its stdout and stderr lines are read as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (proc.stdout, proc.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> str:
        """The first new output line matching regex `pattern`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        self.proc.kill()
        pytest.fail(f"no line matching {pattern!r} within {timeout} s; output:\n" + self.output())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Wait for the exit (fails after `timeout`), then collect the remaining output."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running after {timeout} s; output:\n{self.output()}")
        for reader in self._readers:
            reader.join(timeout=DEADLINE)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        return status

    def output(self) -> str:
        return "\n".join(self.seen)


class ServiceDeck:
    """Runs `python -m servicedeck` in `cwd` with a clean environment."""

    def __init__(self, cwd: Path, state_dir: Path, marks: Path) -> None:
        self.cwd = cwd
        self.state_dir = state_dir
        self.marks = marks
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SERVICEDECK_", "DEMO_")) and k != "PYTHONPATH"
        }
        self.env.update(SERVICEDECK_STATE_DIR=str(state_dir), SD_TEST_MARKS=str(marks))

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "servicedeck", *args]

    def __call__(self, *args: str, timeout: float = DEADLINE, **env: str) -> Result:
        done = subprocess.run(
            self.argv(*args),
            cwd=self.cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, **env: str) -> Running:
        proc = subprocess.Popen(
            self.argv(*args),
            cwd=self.cwd,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Running(proc)

    def write(self, relative: str, text: str) -> Path:
        path = self.cwd / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path


@pytest.fixture
def sd(tmp_path: Path) -> Iterator[ServiceDeck]:
    """A `servicedeck` runner in an empty project folder with `services.py` in it."""
    project = tmp_path / "project"
    marks = tmp_path / "marks"
    project.mkdir()
    marks.mkdir()
    deck = ServiceDeck(project, tmp_path / "state", marks)
    deck.write("services.py", SERVICES_PY)
    yield deck
    # Never leave a background `servicedeck run` behind, whatever the test did (a test
    # may have made the state directory unusable on purpose).
    with contextlib.suppress(_daemon.PidFileError):
        pid = _daemon.PidFile(deck.state_dir / "servicedeck.pid").running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
