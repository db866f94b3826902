"""Smoke test of the benchmark suite: `--quick` runs every workload and prints every row.

No timing is asserted (figures on a shared machine mean nothing in a test); only that
the suite completes and every row has both figures.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# One fragment per row, in table order.
MEASURED = (
    "`stop(block=True)` of an idle service",  # median
    "`stop(block=True)` of an idle service",  # p95
    "nobody listening",
    "a state listener attached",
    "p95 deviation from the ideal schedule",
    "total drift",
    "start all",
    "stop all",
    "memory per service after",
    "started in an anyio task group",
    "CPU per wake-up",
    "cost per loop",
    "first logged failure",
    "constructing",
    "constructed, started and run once (in an anyio task group)",
    "peak memory growth per service (tracemalloc)",
    "peak memory growth per service, in an anyio task group",
    "peak memory growth per service, each of its own class",
    "await-stack refresh of a hung service",
    "`import servicedeck`",
    "`servicedeck ls` on the demo services (baseline: `python -c pass`)",
    "`servicedeck ls` on the demo services (baseline: importing the libraries",
    "`servicedeck ls` on a file of",
    "`servicedeck --help`",
    "the app's own CPU",
    "table refreshes",
    "event-loop lag",
    "key `n`",
    "time to open",
    "`/` filter",
    "hung loop in its detail panel, refreshed once a second",
    "hung loop in its detail panel, refreshed 20 times a second",
    "hung loop in its detail panel: one `where()`",
    "one console attached (taking the changes every",
    "one client following at the endpoint's full rate",
    "memory held for a client that never reads",
    "event-loop lag p95 with a client that never reads",
    "`GET /v1/services` over the Unix socket, median",
    "`GET /v1/services` over the Unix socket, p95",
    "attached console, 30 services looping every 50 ms (in a `servicedeck run`): its process",
    "attached console, 30 services looping every 50 ms (in a `servicedeck run`): table",
    "key `n` over the Unix socket",
    "under a lease",
    "the leader's renewals",
    "a standby's polls",
    "failover after kill -9",  # median
    "failover after kill -9",  # p95
    "save → the new code's first loop started",
)


def run_quick(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[1:]]


# The terminal workload's rows (it needs tmux: tested on its own, below).
TERMINAL = (
    "6 services looping every 50 ms: key `p` to its row and the detail panel on screen, median",
    "6 services looping every 50 ms: key `p` to its row and the detail panel on screen, p95",
    "6 services looping every 50 ms: the console process's CPU",
    "6 services looping every 50 ms: the console process's memory",
    "30 services looping every 50 ms: key `p` to its row and the detail panel on screen, median",
    "30 services looping every 50 ms: key `p` to its row and the detail panel on screen, p95",
    "30 services looping every 50 ms: the console process's CPU",
    "30 services looping every 50 ms: the console process's memory",
    "50 services: from launching the console to its table on screen",
)


def test_quick_run_prints_every_row() -> None:
    done = run_quick("--skip", "terminal")

    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert len(rows) == len(MEASURED), done.stdout
    for row, fragment in zip(rows, MEASURED, strict=True):
        assert fragment in row[0], row
        _, baseline, servicedeck, ratio, _, verdict = row
        assert baseline[0].isdigit(), row
        assert servicedeck[0].isdigit(), row
        assert ratio.endswith("x"), row
        assert verdict == "—", row  # a smoke run judges nothing
    assert f"{len(MEASURED)} rows measured (not judged); 0 rows not yet measured." in done.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="the terminal rows need tmux")
def test_quick_terminal_run_prints_every_row() -> None:
    done = run_quick("--only", "terminal")

    assert done.returncode == 0, done.stderr
    rows = table_rows(done.stdout)
    assert len(rows) == len(TERMINAL), done.stdout
    for row, fragment in zip(rows, TERMINAL, strict=True):
        assert row[0].startswith("terminal (tmux 200x50)"), row
        assert fragment in row[0], row
        _, baseline, servicedeck, _, _, verdict = row
        assert baseline[0].isdigit(), row
        assert servicedeck[0].isdigit(), row
        assert verdict == "—", row


def test_unknown_workload_is_refused_with_the_choices() -> None:
    done = run_quick("--only", "stop,nonsense")

    assert done.returncode == 2
    assert "unknown workload 'nonsense'" in done.stderr
    assert "per-loop" in done.stderr
