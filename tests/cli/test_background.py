"""`servicedeck run --background` and `servicedeck stop`: pid file, duplicates, stale pids."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from servicedeck.cli import _daemon

from .conftest import DEADLINE, ServiceDeck


def _pid(sd: ServiceDeck) -> int:
    return int((sd.state_dir / "servicedeck.pid").read_text())


def test_background_run_then_stop(sd: ServiceDeck) -> None:
    started = sd("run", "--background", "services.py:Ticker")

    assert started.status == 0, started.stderr
    assert "Services are running in the background" in started.stdout
    pid = _pid(sd)
    assert f"pid {pid}" in started.stdout
    assert _daemon.is_alive(pid)

    stopped = sd("stop")

    assert stopped.status == 0, stopped.stderr
    assert "All services stopped" in stopped.stdout
    assert not _daemon.is_alive(pid)
    assert not (sd.state_dir / "servicedeck.pid").exists()
    assert (sd.marks / "Ticker.teardown").read_text() == "done"  # SIGTERM ran teardown
    log = (sd.state_dir / "servicedeck.log").read_text()
    assert "Started 1 service(s): Ticker" in log
    assert "Received SIGTERM" in log


def test_background_refuses_a_second_run(sd: ServiceDeck) -> None:
    assert sd("run", "--background", "services.py:Ticker").status == 0
    pid = _pid(sd)

    again = sd("run", "--background", "services.py:Ticker")
    foreground = sd("run", "services.py:Ticker")

    assert again.status == 1
    assert "Services are already running in the background" in again.stderr
    assert foreground.status == 1
    assert "already running" in foreground.stderr
    assert _pid(sd) == pid
    assert sd("stop").status == 0


def test_background_reports_a_child_that_fails_to_start(sd: ServiceDeck) -> None:
    result = sd(
        "run", "--background", "services.py:Ticker", SERVICEDECK_SERVICES_TICKER_ENABLED="0"
    )

    assert result.status == 1
    assert "No services are enabled!" in result.stderr
    assert "exited with status 1" in result.stderr
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_stop_removes_a_stale_pid_file(sd: ServiceDeck) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    sd.state_dir.mkdir()
    (sd.state_dir / "servicedeck.pid").write_text(f"{dead.pid}\n")

    result = sd("stop")

    assert result.status == 0
    assert "Services were not running" in result.stdout
    assert "removed the stale pid file" in result.stdout
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_stop_never_signals_a_recycled_pid(sd: ServiceDeck) -> None:
    # A live process that is not a `servicedeck run` (though its command line mentions
    # servicedeck, as a checkout's path might) holds the pid the file names.
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", "/src/servicedeck"],
        stdin=subprocess.PIPE,
    )
    try:
        sd.state_dir.mkdir()
        (sd.state_dir / "servicedeck.pid").write_text(f"{bystander.pid}\n")

        result = sd("stop")

        assert result.status == 0
        assert "Services were not running" in result.stdout
        assert bystander.poll() is None
    finally:
        bystander.communicate(b"", timeout=DEADLINE)


def test_stop_without_a_pid_file_says_nothing_runs(sd: ServiceDeck) -> None:
    result = sd("stop")

    assert result.status == 0
    assert "No services are running" in result.stdout


def test_stop_kills_a_run_that_does_not_stop_in_time(sd: ServiceDeck) -> None:
    assert sd("run", "--background", "services.py:SlowTeardown").status == 0
    pid = _pid(sd)

    result = sd("stop", "--timeout", "0.5")

    assert result.status == 0, result.stderr
    assert "was killed (SIGKILL)" in result.stdout
    assert not _daemon.is_alive(pid)
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_stop_process_exits_nonzero_when_the_process_survives(tmp_path: Path) -> None:
    # SIGKILL cannot be ignored, so stand in for an unkillable process (one in
    # uninterruptible sleep) by a kill that does nothing.
    survivor = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        outcome = _daemon.stop_process(survivor.pid, 0.2, kill_wait=0.2, send=lambda pid, sig: None)
        assert (outcome.stopped, outcome.killed) == (False, True)
    finally:
        survivor.send_signal(signal.SIGKILL)
        survivor.wait(timeout=DEADLINE)
