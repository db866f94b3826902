"""Ctrl+C (SIGINT) during `Service.run_services()`: the same outcome on both backends.

On asyncio, `asyncio.run()` turns SIGINT into a cancellation of the main task and then
raises KeyboardInterrupt; trio raises KeyboardInterrupt in the main task, inside
`running()`'s task group, which used to wrap it in a `BaseExceptionGroup` (exit 1).
Either way the services must stop gracefully and the process must end as Python ends
on an uncaught KeyboardInterrupt: killed by SIGINT (a shell shows status 130).

Each run is a real process, signalled once its service has run a loop (it prints a
line; the test waits for it under a deadline, never sleeps).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import DEADLINE

PROGRAM = """
import sys

import anyio

from servicedeck import LoopService, Service


class Ticker(LoopService):
    loop_seconds = 0.05

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            print("running", flush=True)

    async def teardown(self) -> None:
        print(f"teardown, stop requested {self.should_stop}", flush=True)


anyio.run(Service.run_services, backend=sys.argv[1])
"""


def read_line(proc: subprocess.Popen[bytes]) -> str:
    """The next line `proc` prints, waited for under the deadline."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + DEADLINE
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(fd, 1) if ready else b""
        if not chunk:
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"no line from the program (got {line!r}); stderr:\n{err.decode()}")
        line += chunk
    return line.decode().rstrip("\n")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_during_run_services_stops_gracefully_then_ends_as_keyboard_interrupt(
    tmp_path: Path, backend: str
) -> None:
    (tmp_path / "program.py").write_text(textwrap.dedent(PROGRAM).lstrip())
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEDECK_")}
    proc = subprocess.Popen(
        [sys.executable, "program.py", backend],
        cwd=tmp_path,  # no stray .env
        env=clean,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert read_line(proc) == "running"

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    stderr = err.decode()
    assert proc.returncode == -signal.SIGINT, stderr  # what a shell shows as 130
    assert stderr.rstrip().splitlines()[-1] == "KeyboardInterrupt", stderr
    assert "ExceptionGroup" not in stderr
    assert out.decode() == "teardown, stop requested True\n", "stopped gracefully"
