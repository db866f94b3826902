"""Measure `servicedeck run`'s log under a flood of huge errors, and its event loop with
an output pipe nobody reads (not a test; prints).

    python -m tests.reliability.measure_logs [--flood-seconds 60] [--lag-seconds 10]

1. A service raising the same 1 MB, multi-line error every 0.2 s, for `--flood-seconds`:
   the size of the log `run` writes (stderr to a file), and its longest line.
2. A service logging 4,000 lines a second and another measuring how late the event loop
   wakes it every 10 ms, for `--lag-seconds`, with stdout and stderr pipes nobody reads:
   the lag's 95th percentile and maximum; then the pipe is read, and the line saying how
   many records were dropped is shown.

The services are the process-level tests' (tests/cli/test_logs.py), at full length.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from tests.cli.test_logs import FLOOD_PY, PROBE_PY


def clean_env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEDECK_")}
    return {**env, "SERVICEDECK_STATE_DIR": str(state)}


def flood(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "flood.py").write_text(textwrap.dedent(FLOOD_PY))
        log_path = project / "run.log"
        with open(log_path, "wb") as log:
            run = subprocess.Popen(
                [sys.executable, "-m", "servicedeck", "run", "flood.py"],
                cwd=project,
                env=clean_env(project / "state"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            time.sleep(seconds)  # the measurement's window: this is what is measured
            run.send_signal(signal.SIGTERM)
            run.wait(timeout=30)
        data = log_path.read_bytes()
    lines = data.decode().splitlines()
    print(
        f"flood, {seconds:g} s of a 1 MB error every 0.2 s: {len(data):,} bytes of log, "
        f"{len(lines):,} lines, the longest {max(map(len, lines)):,} characters, "
        f"{data.count(b'Traceback (most recent call last)')} traceback(s), "
        f"{data.count(b'[the same error again')} repeat line(s); exit status {run.returncode}"
    )


def lag(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "probe.py").write_text(textwrap.dedent(PROBE_PY))
        notes, writer = os.pipe()
        run = subprocess.Popen(
            [sys.executable, "-m", "servicedeck", "run", "probe.py", "--stop-timeout", "0.2"],
            cwd=project,
            env={
                **clean_env(project / "state"),
                "SD_NOTES_FD": str(writer),
                "SD_PROBE_SAMPLES": str(int(seconds * 100)),
            },
            pass_fds=(writer,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(writer)
        readable, _, _ = select.select([notes], [], [], seconds * 3 + 10)
        note = os.read(notes, 200).decode().strip() if readable else "none: the loop is blocked"
        print(f"event-loop lag over {seconds:g} s with an output pipe nobody reads: {note}")
        assert run.stderr is not None
        seen = b""
        deadline = time.monotonic() + 10
        while b"were dropped" not in seen and time.monotonic() < deadline:
            seen += os.read(run.stderr.fileno(), 65536)
        dropped = [line for line in seen.decode(errors="replace").splitlines() if "dropped" in line]
        print(f"  once read: {dropped[0] if dropped else 'no line about dropped records'}")
        run.send_signal(signal.SIGTERM)
        run.communicate(timeout=30)
        os.close(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-seconds", type=float, default=60.0)
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    args = parser.parse_args()
    flood(args.flood_seconds)
    lag(args.lag_seconds)


if __name__ == "__main__":
    main()
