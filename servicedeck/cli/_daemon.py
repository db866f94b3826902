"""Process management for `servicedeck run` and `servicedeck stop`: the pid file, the
background process, and stopping it. Standard library only; knows nothing of services.

A running `servicedeck run` (foreground or background) holds a pid file in the state
directory; `servicedeck stop` reads it, sends SIGTERM, waits for the process to exit,
and escalates to SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOG_FILE_NAME",
    "PID_FILE_NAME",
    "AlreadyRunningError",
    "PidFile",
    "StopOutcome",
    "is_alive",
    "spawn_background",
    "stop_process",
    "wait_for_exit",
]

PID_FILE_NAME = "servicedeck.pid"
LOG_FILE_NAME = "servicedeck.log"

READY = b"ready\n"
"""What a background `run` writes to its ready pipe once its services are started."""


class AlreadyRunningError(Exception):
    """Another `servicedeck run` holds the pid file and is alive.

    Attributes:
        pid: its process id.
    """

    def __init__(self, pid: int, path: Path) -> None:
        super().__init__(
            f"Services are already running (pid {pid}, pid file {str(path)!r}); stop them "
            "with `servicedeck stop`, or set SERVICEDECK_STATE_DIR to run another instance."
        )
        self.pid = pid


def _proc_stat_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat (Linux), or None when unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return stat.rpartition(")")[2].split()[0] if ")" in stat else None


def is_alive(pid: int) -> bool:
    """True if process `pid` exists and has not exited (a zombie counts as exited)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return _proc_stat_state(pid) not in ("Z", "X")


def _looks_like_servicedeck(pid: int) -> bool:
    """Guard against a recycled pid: on Linux, its command line must be a `servicedeck run`
    (`.../servicedeck run ...` or `python -m servicedeck run ...`)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust the pid
    except OSError:
        return True
    args = [arg.decode(errors="replace") for arg in cmdline.split(b"\0") if arg]
    for index, arg in enumerate(args):
        launcher = Path(arg).name == "servicedeck" or (
            arg == "servicedeck" and index and args[index - 1] == "-m"
        )
        if launcher:
            return "run" in args[index + 1 :]
    return False


class PidFile:
    """The pid file of a running `servicedeck run`.

    Args:
        path: the file, usually `<state dir>/servicedeck.pid`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> int | None:
        """The pid in the file; None when there is no file. -1 when it is not a pid."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        try:
            return int(text.split()[0]) if text else -1
        except ValueError:
            return -1

    def running_pid(self) -> int | None:
        """The pid of a live servicedeck process holding the file, else None."""
        pid = self.read()
        if pid is not None and pid > 0 and is_alive(pid) and _looks_like_servicedeck(pid):
            return pid
        return None

    def claim(self) -> None:
        """Write our pid, atomically; replace a stale file.

        Raises:
            AlreadyRunningError: a live servicedeck process holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = self.running_pid()
                if pid is not None and pid != os.getpid():
                    raise AlreadyRunningError(pid, self.path) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            return
        pid = self.running_pid() or -1
        raise AlreadyRunningError(pid, self.path)

    def release(self, pid: int | None = None) -> None:
        """Remove the file if it holds `pid` (default: ours)."""
        if self.read() == (os.getpid() if pid is None else pid):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def remove(self) -> None:
        """Remove the file, whatever it holds."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for process `pid` (not necessarily our child) to exit.

    Uses a pidfd where the OS has one (Linux), so the wait ends the moment it exits;
    elsewhere checks every 50 ms. Returns True if it has exited.
    """
    deadline = time.monotonic() + timeout
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return True
        except OSError:
            fd = None
        if fd is not None:
            try:
                readable, _, _ = select.select([fd], [], [], max(0.0, timeout))
            finally:
                os.close(fd)
            return bool(readable) or not is_alive(pid)
    while is_alive(pid):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))
    return True


@dataclass(frozen=True, slots=True)
class StopOutcome:
    """What `stop_process()` did."""

    stopped: bool
    """The process is gone."""
    killed: bool
    """It had to be killed with SIGKILL (its services did not stop gracefully)."""
    seconds: float


def stop_process(
    pid: int,
    timeout: float,
    *,
    kill_wait: float = 5.0,
    send: Callable[[int, int], None] = os.kill,
) -> StopOutcome:
    """SIGTERM `pid`, wait up to `timeout`, then SIGKILL it and wait up to `kill_wait`."""
    began = time.monotonic()
    try:
        send(pid, signal.SIGTERM)
    except ProcessLookupError:
        return StopOutcome(True, False, time.monotonic() - began)
    if wait_for_exit(pid, timeout):
        return StopOutcome(True, False, time.monotonic() - began)
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)
    gone = wait_for_exit(pid, kill_wait)
    return StopOutcome(gone, True, time.monotonic() - began)


def spawn_background(
    args: Sequence[str], log_path: Path, env: dict[str, str], ready_timeout: float
) -> tuple[int, bool, int | None, str]:
    """Start `python -m servicedeck run ARGS --ready-fd N` detached, logging to `log_path`.

    Waits until it reports that its services started, or exits, or `ready_timeout` passes.

    Returns:
        `(pid, ready, returncode, log_text)`: `ready` is False when it exited or timed
        out first; `returncode` is None while it still runs; `log_text` is what it wrote
        to the log meanwhile (for the error message).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    with open(log_path, "ab") as log:
        offset = log.tell()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "servicedeck", "run", *args, "--ready-fd", str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_end,),
                # Its own session: Ctrl+C in this terminal, or closing it, does not reach it.
                start_new_session=True,
                env=env,
            )
        finally:
            os.close(write_end)
    try:
        readable, _, _ = select.select([read_end], [], [], ready_timeout)
        message = os.read(read_end, 64) if readable else b""
    finally:
        os.close(read_end)
    ready = message == READY
    if not ready:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with open(log_path, "rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return proc.pid, ready, proc.poll(), text
