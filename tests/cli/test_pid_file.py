"""The pid file under faults: claimed by several processes at once, unreadable, naming no
pid or a process of another state directory, a folder, and a state directory that is a
file. Each ends in correct behaviour or one line saying what to do; never a traceback,
never a stale file left, never a signal to a process that is not this run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servicedeck.cli import _daemon

from .conftest import DEADLINE, ServiceDeck

CLAIMER = """
import os, sys, time
from pathlib import Path
from servicedeck.cli._daemon import AlreadyRunningError, PidFile


def line() -> str:  # unbuffered: a forked child reads from the same pipe
    data = b""
    while not data.endswith(b"\\n"):
        data += os.read(0, 1)
    return data.decode().strip()


while True:
    start_at, how = line().split()  # a trial: when to claim (on the system's monotonic
    child = os.fork()                # clock), and how its winner lets go
    if child:
        os.waitpid(child, 0)
        continue
    pid_file = PidFile(Path(sys.argv[1]))
    while time.monotonic() < float(start_at):  # all at once: a sleep would wake each apart
        pass
    try:
        pid_file.claim()
    except AlreadyRunningError:
        print("lost", flush=True)
    else:
        print("won", flush=True)
    line()  # hold it until the test has heard from everyone
    if how == "release":
        pid_file.release()
    os._exit(0)  # without release: as a killed run, the file stays, stale
"""


@pytest.fixture
def pid_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "servicedeck.pid"


def test_pid_file_claimed_by_six_processes_at_once_has_exactly_one_holder(
    pid_path: Path,
) -> None:
    # Each claimer's command line reads like a `servicedeck run`'s, so that nothing but
    # the claim itself can tell them from real runs. Each trial is claimed by children
    # they fork, so that the interpreter starts only once.
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(pid_path), "servicedeck", "run"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]

    def tell(text: str) -> None:
        for claimer in claimers:
            assert claimer.stdin is not None
            claimer.stdin.write(text)
            claimer.stdin.flush()

    try:
        # Odd trials start from the stale file the last winner left (it died holding
        # it): the takeover of a stale file is where two claimers used to both succeed.
        for trial in range(20):
            how = "die" if trial % 2 == 0 else "release"
            tell(f"{time.monotonic() + (1.0 if trial == 0 else 0.05)!r} {how}\n")
            outcomes = []
            for claimer in claimers:
                assert claimer.stdout is not None
                outcomes.append(claimer.stdout.readline().strip())
            tell("done\n")

            assert sorted(outcomes) == ["lost"] * 5 + ["won"], f"trial {trial}: {outcomes}"
    finally:
        for claimer in claimers:
            claimer.kill()
            claimer.communicate(timeout=DEADLINE)


def test_pid_file_of_a_dead_run_is_stale_whatever_it_holds(pid_path: Path) -> None:
    pid_path.parent.mkdir()
    pid_file = _daemon.PidFile(pid_path)
    for content in (b"\xff\xfe\n", b"4294967296\n", b"-5\n", b"", str(os.getpid()).encode()):
        pid_path.write_bytes(content)  # even our own live pid: nobody holds the lock

        assert pid_file.running_pid() is None
        assert pid_file.remove_stale()
        assert not pid_path.exists()


# -- as a user meets them ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\xfd\n", b"4294967296\n", b"12 34 not a pid\x00"], ids=repr
)
def test_stop_and_run_take_a_pid_file_that_is_not_a_pid_as_stale(
    sd: ServiceDeck, content: bytes
) -> None:
    pid_path = sd.state_dir / "servicedeck.pid"
    sd.state_dir.mkdir()
    pid_path.write_bytes(content)

    stopped = sd("stop")

    assert stopped.status == 0, stopped.stderr
    assert "removed the stale pid file" in stopped.stdout
    assert not pid_path.exists()

    pid_path.write_bytes(content)
    run = sd.start("run", "services.py:Ticker")
    run.wait_for(r"Started 1 service\(s\)")
    assert pid_path.read_text() == f"{run.proc.pid}\n"
    run.signal(signal.SIGTERM)
    assert run.finish() == 0, run.output()
    assert not pid_path.exists()
    assert "Traceback" not in run.output() + stopped.stderr


def test_stop_and_run_refuse_a_pid_file_that_is_a_folder_naming_it(sd: ServiceDeck) -> None:
    pid_path = sd.state_dir / "servicedeck.pid"
    pid_path.mkdir(parents=True)

    for result in (sd("stop"), sd("run", "services.py:Ticker")):
        assert result.status == 1
        assert result.stderr.splitlines()[-1] == (
            f"servicedeck: error: the pid file {str(pid_path)!r} is a folder; remove it, "
            "or set SERVICEDECK_STATE_DIR to another folder."
        )
        assert "Traceback" not in result.stderr
    assert pid_path.is_dir()  # not ours to remove: it may hold anything


@pytest.mark.parametrize("command", [["stop"], ["run", "services.py"], ["run", "--background"]])
def test_a_state_dir_that_is_a_file_is_one_line_exit_2(sd: ServiceDeck, command: list[str]) -> None:
    sd.state_dir.write_text("not a folder")

    result = sd(*command)

    assert result.status == 2
    assert result.stderr.splitlines()[-1] == (
        f"servicedeck: error: the state directory {str(sd.state_dir)!r} is a file, not a "
        "folder; point SERVICEDECK_STATE_DIR at a folder (or unset it)."
    )
    assert sd.state_dir.read_text() == "not a folder"


def test_stop_never_signals_the_run_of_another_state_directory(
    sd: ServiceDeck, tmp_path: Path
) -> None:
    # This state directory's run died and left its pid file; the pid in it now belongs
    # to a live `servicedeck run` of another state directory.
    other_state = tmp_path / "other-state"
    other = sd.start("run", "services.py:Ticker", SERVICEDECK_STATE_DIR=str(other_state))
    other.wait_for(r"Started 1 service\(s\)")
    sd.state_dir.mkdir()
    (sd.state_dir / "servicedeck.pid").write_text(f"{other.proc.pid}\n")

    result = sd("stop")

    assert result.status == 0, result.stderr
    assert "Services were not running" in result.stdout
    assert f"the pid it names, {other.proc.pid}, is not its run" in result.stdout
    assert not (sd.state_dir / "servicedeck.pid").exists()
    assert other.proc.poll() is None, "the other run was signalled"
    stopped_other = sd("stop", SERVICEDECK_STATE_DIR=str(other_state))
    assert stopped_other.status == 0, stopped_other.stderr
    assert other.finish() == 0
