"""`servicedeck run` as a process, under faults the command-line tests do not cover.

tests/cli/test_run.py covers SIGTERM / SIGINT, a second SIGINT (exit 130) and a service
that ignores the stop. Here: a service raising KeyboardInterrupt / SystemExit / another
BaseException, a signal while a service blocks the event loop, a signal during a setup
that never ends, and a teardown that raises during the graceful stop.

The services tell the test what they do through a pipe (`SD_NOTES_FD`): the test waits
for a note, with a deadline, instead of parsing the log or sleeping.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import DEADLINE

SERVICES = '''
import os
import time

import anyio

from servicedeck import LoopService


def note(text: str) -> None:
    os.write(int(os.environ["SD_NOTES_FD"]), f"{text}\\n".encode())


class Abort(BaseException):
    """Neither KeyboardInterrupt nor SystemExit."""


FATAL = {
    "KeyboardInterrupt": KeyboardInterrupt("from run_once"),
    "SystemExit": SystemExit(3),
    "Abort": Abort("from run_once"),
}


class Interrupting(LoopService):
    loop_seconds = 0.02

    async def run_once(self) -> None:
        if self.status.loop_count >= 1:
            raise FATAL[os.environ["SD_FATAL"]]

    async def teardown(self) -> None:
        note("Interrupting: teardown")


class Bystander(LoopService):
    loop_seconds = 0.02

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            note("Bystander: first loop")

    async def teardown(self) -> None:
        note(f"Bystander: teardown, stop requested {self.should_stop}")


class Blocking(LoopService):
    """Blocks the event loop for 0.8 s of each second: the fault under test.

    (Blocking it back to back, with no idle time between loops, would delay everything
    else by a whole loop per wake-up it needs: a signal takes several; see
    docs/reliability.md.)
    """

    loop_seconds = 1.0

    async def run_once(self) -> None:
        note("Blocking: blocking")
        time.sleep(0.8)

    async def teardown(self) -> None:
        note("Blocking: teardown")


class EndlessSetup(LoopService):
    async def setup(self) -> None:
        note("EndlessSetup: in setup")
        await anyio.sleep_forever()

    async def run_once(self) -> None:
        pass


class BadTeardown(LoopService):
    loop_seconds = 0.02

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            note("BadTeardown: first loop")

    async def teardown(self) -> None:
        raise RuntimeError("teardown broke")
'''


@dataclass
class Run:
    """A `servicedeck run` process and the notes its services write."""

    proc: subprocess.Popen[str]
    notes_fd: int
    notes: list[str] = field(default_factory=list)
    _buffer: bytes = b""

    def wait_for(self, *notes: str) -> None:
        """Wait until the services wrote each of `notes`; fail after the deadline."""
        for note in notes:
            self._wait_for(note)

    def _wait_for(self, note: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while note not in self.notes:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.notes_fd], [], [], max(left, 0))
            chunk = os.read(self.notes_fd, 4096) if ready else b""
            if not chunk:
                self.proc.kill()
                _, err = self.proc.communicate()
                pytest.fail(f"no note {note!r} (got {self.notes}); output:\n{err}")
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            self.notes += [line.decode() for line in lines]

    def signal_and_finish(self, signum: int) -> tuple[int, str, float]:
        """Send `signum`, wait for the exit: (status, stderr, seconds from signal to exit)."""
        self.proc.send_signal(signum)
        sent = time.monotonic()
        code, err = self.finish()
        return code, err, time.monotonic() - sent

    def finish(self) -> tuple[int, str]:
        """Wait for the exit (bounded) and read the rest of the notes; (status, stderr)."""
        try:
            _, err = self.proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running after {DEADLINE} s: {self.proc.communicate()[1]}")
        rest = self._buffer + b"".join(iter(lambda: os.read(self.notes_fd, 4096), b""))
        self.notes += [line.decode() for line in rest.split(b"\n") if line]
        return self.proc.returncode, err


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "services.py").write_text(textwrap.dedent(SERVICES).lstrip())
    return tmp_path


def state_dir(project: Path) -> dict[str, str]:
    return {"SERVICEDECK_STATE_DIR": str(project / "state")}


@pytest.fixture
def start(project: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(*targets: str, **env: str) -> Run:
        read, write = os.pipe()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEDECK_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "servicedeck", "run", *targets],
            cwd=project,
            env={**clean, "SD_NOTES_FD": str(write), **env, **state_dir(project)},
            pass_fds=(write,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(write)  # the child holds the only writer: EOF when it exits
        run = Run(proc, read)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        os.close(run.notes_fd)


@pytest.mark.parametrize(
    ("fatal", "status"), [("KeyboardInterrupt", 130), ("SystemExit", 3), ("Abort", 1)]
)
def test_run_stops_every_service_then_exits_when_one_raises_a_base_exception(
    start: Callable[..., Run], project: Path, fatal: str, status: int
) -> None:
    run = start("services.py:Bystander", "services.py:Interrupting", SD_FATAL=fatal)

    code, err = run.finish()

    assert code == status, err
    assert "Interrupting: teardown" in run.notes
    assert "Bystander: teardown, stop requested True" in run.notes, "stopped, not cancelled"
    assert f"Interrupting raised {fatal} in run_once: stopping every service" in err
    assert (
        f"servicedeck: Interrupting raised {fatal} in run_once; every other service was "
        "stopped. Exiting." in err
    )
    assert err.count("Traceback (most recent call last)") == 1, "logged once, not twice"
    assert not (project / "state" / "servicedeck.pid").exists()


GRACEFUL_BOUND = 5.0
"""A graceful stop of services that stop promptly ends the process within this."""


def test_run_stops_gracefully_on_sigterm_while_a_service_blocks_the_event_loop(
    start: Callable[..., Run],
) -> None:
    run = start("services.py:Blocking", "services.py:Bystander")
    run.wait_for("Bystander: first loop", "Blocking: blocking")

    code, err, seconds = run.signal_and_finish(signal.SIGTERM)  # while the loop is blocked

    assert code == 0, err
    assert seconds < GRACEFUL_BOUND
    assert "Blocking: teardown" in run.notes
    assert "Bystander: teardown, stop requested True" in run.notes
    assert "Stopped 2 service(s): Blocking " in err
    assert "All services stopped in " in err
    assert "Blocking blocked the event loop for " in err, "the watchdog names it"


def test_run_cancels_a_setup_that_never_ends_on_sigterm_and_names_it(
    start: Callable[..., Run],
) -> None:
    run = start("services.py:EndlessSetup", "services.py:Bystander", "--stop-timeout", "0.3")
    run.wait_for("EndlessSetup: in setup", "Bystander: first loop")

    code, err, _ = run.signal_and_finish(signal.SIGTERM)

    assert code == 0, err
    assert "Bystander: teardown, stop requested True" in run.notes
    assert "did not stop within 0.3 s: EndlessSetup " in err


def test_run_stops_the_others_when_a_teardown_raises_during_the_graceful_stop(
    start: Callable[..., Run],
) -> None:
    run = start("services.py:BadTeardown", "services.py:Bystander")
    run.wait_for("BadTeardown: first loop", "Bystander: first loop")

    code, err, _ = run.signal_and_finish(signal.SIGINT)

    assert code == 0, err
    assert "Bystander: teardown, stop requested True" in run.notes
    assert "BadTeardown: teardown() failed: RuntimeError('teardown broke')" in err
    assert "Stopped 2 service(s): BadTeardown " in err
    assert "All services stopped in " in err
