"""Process management for `servicedeck run` and `servicedeck stop`: the pid file, the
background process, and stopping it. Standard library only; knows nothing of services.

A running `servicedeck run` (foreground or background) holds a pid file in the state
directory, and an advisory lock on it (`flock`) for as long as it lives;
`servicedeck stop` signals the process that holds that lock, waits for it to exit,
and escalates to SIGKILL after a timeout. docs/architecture.md ("The headless run")
says why a lock.

Errors:

    PidFileError            the state directory or the pid file cannot be used
    └── AlreadyRunningError another live run holds the pid file
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LOG_FILE_NAME",
    "PID_FILE_NAME",
    "AlreadyRunningError",
    "PidFile",
    "PidFileError",
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

PID_MAX = 2**31 - 1
"""The largest pid any system gives (pid_t is 32 bits): a larger number is not a pid."""

_CONTENDED_SECONDS = 0.5
"""How long a lock held by no verifiable run (another command checking the file for an
instant, or a run writing its pid) is tried again before it counts as held."""


class PidFileError(Exception):
    """The state directory or the pid file cannot be used; the message says what to do.

    Attributes:
        usage: True when a setting is at fault (SERVICEDECK_STATE_DIR names a file).
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


class AlreadyRunningError(PidFileError):
    """Another `servicedeck run` holds the pid file and is alive.

    Attributes:
        pid: its process id (None when the file does not say).
    """

    def __init__(self, pid: int | None, path: Path) -> None:
        who = f"pid {pid}" if pid is not None else "its pid is not written yet"
        super().__init__(
            f"Services are already running ({who}, pid file {str(path)!r}); stop them "
            "with `servicedeck stop`, or set SERVICEDECK_STATE_DIR to run another instance."
        )
        self.pid = pid


def _proc_stat_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat (Linux), or None when unavailable."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return line.rpartition(")")[2].split()[0] if ")" in line else None


def is_alive(pid: int) -> bool:
    """True if process `pid` exists and has not exited (a zombie counts as exited)."""
    if not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    return _proc_stat_state(pid) not in ("Z", "X")


def _holds_open(pid: int, fd: int) -> bool | None:
    """Whether process `pid` has the file open that `fd` is open on (Linux: its
    /proc/<pid>/fd); None when that cannot be told (no /proc, another user's process)."""
    target = os.fstat(fd)
    try:
        entries = list(os.scandir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return False if Path("/proc/self/fd").exists() else None  # gone, or no /proc
    except OSError:
        return None
    for entry in entries:
        with contextlib.suppress(OSError):
            found = os.stat(entry.path)
            if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
                return True
    return False


def _parse_pid(data: bytes) -> int:
    """The pid a pid file holds: its first word; -1 when that is not a pid."""
    words = data.split()
    if not words:
        return -1
    try:
        pid = int(words[0].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return -1
    return pid if 0 < pid <= PID_MAX else -1


class PidFile:
    """The pid file of a running `servicedeck run`, and the lock that proves it runs.

    The run that claims it holds an exclusive `flock` on it until it exits (the OS
    drops the lock of a process that died, however it died). So a file whose lock
    nobody holds is stale, whatever pid it names; and a held one names the run of this
    state directory, never a process of another one that happens to reuse its pid.

    Args:
        path: the file, usually `<state dir>/servicedeck.pid`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    # -- reading ----------------------------------------------------------------------

    def read(self) -> int | None:
        """The pid in the file; None when there is no file, -1 when it holds no pid.

        Raises:
            PidFileError: the state directory or the pid file cannot be read.
        """
        try:
            with self._opened(os.O_RDONLY) as fd:
                return _parse_pid(os.pread(fd, 64, 0))
        except FileNotFoundError:
            return None

    def running_pid(self) -> int | None:
        """The pid of the live run that holds the file's lock, else None (no file, or a
        stale one).

        Raises:
            PidFileError: the state directory or the pid file cannot be read.
        """
        try:
            with self._opened(os.O_RDONLY) as fd:
                return self._holder(fd)
        except FileNotFoundError:
            return None

    def remove_stale(self) -> bool:
        """Remove the file if no run holds it; True when it was removed.

        Raises:
            PidFileError: the state directory or the pid file cannot be used.
        """
        try:
            with self._opened(os.O_RDONLY) as fd:
                if not _try_lock(fd):
                    return False
                # Removed while we hold the lock: a run claiming the same file at this
                # moment finds it gone once it gets the lock, and makes a new one.
                if _same_file(fd, self.path):
                    self.path.unlink()
                return True
        except FileNotFoundError:
            return False

    # -- holding ----------------------------------------------------------------------

    def claim(self) -> None:
        """Take the file for this process: lock it, and write our pid in it.

        Atomic: of processes claiming it at once, exactly one gets it. A stale file (its
        process died) is taken over. The lock is held until `release()` or exit.

        Raises:
            AlreadyRunningError: a live run holds it.
            PidFileError: the state directory or the pid file cannot be used.
        """
        self._check_state_dir(create=True)
        deadline = time.monotonic() + _CONTENDED_SECONDS
        while True:
            with self._errors_named():
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if not _try_lock(fd):
                pid = self._holder(fd, deadline)
                os.close(fd)
                if pid is not None:
                    raise AlreadyRunningError(pid, self.path)
                continue  # it was let go meanwhile: try again
            if not _same_file(fd, self.path):
                os.close(fd)  # a stale file removed (by `stop`) while we waited: again
                continue
            data = f"{os.getpid()}\n".encode()
            # Written over the old pid, then cut to length: the file is never empty, so
            # a reader sees the old pid or ours, never nothing.
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
            self._fd = fd
            return

    def release(self) -> None:
        """Remove the file and let go of its lock, if this process holds it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.path):
                self.path.unlink()  # under the lock: nobody else can be using it
        except OSError:
            pass
        finally:
            os.close(fd)  # lets go of the lock

    # -- machinery --------------------------------------------------------------------

    def _holder(self, fd: int, deadline: float | None = None) -> int | None:
        """The pid of the run holding `fd`'s file locked; None when nobody holds it.

        The lock may be held for an instant by another command checking the file, or by
        a run that has not written its pid yet: it is looked at again until `deadline`.

        Raises:
            PidFileError: it stays held by a process other than the one it names (a
                fork of the run that outlived it, say): running, but whom to signal is
                not known.
        """
        if deadline is None:
            deadline = time.monotonic() + _CONTENDED_SECONDS
        while True:
            if _try_lock(fd, shared=True):
                _unlock(fd)
                return None
            pid = _parse_pid(os.pread(fd, 64, 0))
            if pid > 0 and is_alive(pid) and _holds_open(pid, fd) is not False:
                return pid
            if time.monotonic() >= deadline:
                raise PidFileError(
                    f"the pid file {str(self.path)!r} is locked by a running process, "
                    f"but not by the one it names ({pid if pid > 0 else 'none'}); find "
                    f"it with `fuser {self.path}` and stop it."
                )
            time.sleep(0.005)

    @contextlib.contextmanager
    def _opened(self, flags: int) -> Iterator[int]:
        self._check_state_dir(create=False)
        with self._errors_named():
            fd = os.open(self.path, flags | os.O_CLOEXEC)
            try:
                if stat.S_ISDIR(os.fstat(fd).st_mode):  # open() takes a folder read-only
                    raise IsADirectoryError(self.path)
                yield fd
            finally:
                os.close(fd)

    def _check_state_dir(self, *, create: bool) -> None:
        folder = self.path.parent
        if folder.exists() and not folder.is_dir():
            raise PidFileError(
                f"the state directory {str(folder)!r} is a file, not a folder; point "
                "SERVICEDECK_STATE_DIR at a folder (or unset it).",
                usage=True,
            )
        if create:
            with self._errors_named():
                folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _errors_named(self) -> Iterator[None]:
        """Turn an OS error on the file into a `PidFileError` that says what to do."""
        try:
            yield
        except FileNotFoundError:
            raise
        except IsADirectoryError:
            raise PidFileError(
                f"the pid file {str(self.path)!r} is a folder; remove it, or set "
                "SERVICEDECK_STATE_DIR to another folder."
            ) from None
        except NotADirectoryError:
            raise PidFileError(
                f"the state directory {str(self.path.parent)!r} is not a folder (a part "
                "of its path is a file); point SERVICEDECK_STATE_DIR at a folder.",
                usage=True,
            ) from None
        except OSError as exc:
            raise PidFileError(
                f"cannot use the pid file {str(self.path)!r}: {exc.strerror or exc}; set "
                "SERVICEDECK_STATE_DIR to a folder you can write to."
            ) from None


def _try_lock(fd: int, *, shared: bool = False) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


def _same_file(fd: int, path: Path) -> bool:
    """True if `path` still names the file `fd` is open on."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


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
