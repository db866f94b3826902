"""`servicedeck stop`: stop a running `servicedeck run` and wait until it has exited."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

from servicedeck.cli._command import EXIT_FAILURE, EXIT_OK, Subcommand, fail, positive_seconds
from servicedeck.cli._common import load_settings, pid_file_failed, pid_file_of

if TYPE_CHECKING:
    from servicedeck.cli._daemon import PidFile

__all__ = ["COMMAND"]

EPILOG = """\
Sends SIGTERM to the `run` that holds the state directory's pid file (its lock, not just
the pid it names: a pid reused by another process is never signalled) and waits for it
to exit; after --timeout, sends SIGKILL. Exits 0 once it is gone (or was not running: a
stale pid file is removed), 1 if it is still alive.

examples:
  servicedeck stop
  SERVICEDECK_STATE_DIR=/srv/app/state servicedeck stop --timeout 30"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait after SIGTERM before sending SIGKILL (default: 15)",
    )


def _run(args: argparse.Namespace) -> int:
    from servicedeck.cli import _daemon

    pid_file = pid_file_of(load_settings())
    try:
        pid = pid_file.running_pid()
        if pid is None:
            return _not_running(pid_file)
    except _daemon.PidFileError as exc:
        raise pid_file_failed(exc) from None
    print(f"Stopping servicedeck (pid {pid})...", flush=True)
    outcome = _daemon.stop_process(pid, args.timeout)
    if not outcome.stopped:
        raise fail(
            f"servicedeck (pid {pid}) is still alive after SIGTERM, {args.timeout:g} s, and "
            "SIGKILL; check it with `ps`.",
            EXIT_FAILURE,
        )
    with contextlib.suppress(_daemon.PidFileError):
        pid_file.remove_stale()  # left behind by a run that had to be killed
    if outcome.killed:
        print(
            f"servicedeck (pid {pid}) did not stop within {args.timeout:g} s and was killed "
            "(SIGKILL): its services' teardown did not finish. See its log."
        )
    else:
        print(f"All services stopped ({outcome.seconds:.2f} s).")
    return EXIT_OK


def _not_running(pid_file: PidFile) -> int:
    """Nothing holds the pid file: say so, and remove a stale one."""
    named = pid_file.read()
    if named is None:
        print(f"No services are running (no pid file at {pid_file.path}).")
        return EXIT_OK
    pid_file.remove_stale()
    what = (
        f"no process holds the pid file; the pid it names, {named}, is not its run"
        if named > 0
        else "the pid file holds no pid"
    )
    print(f"Services were not running ({what}); removed the stale pid file {pid_file.path}.")
    return EXIT_OK


COMMAND = Subcommand(
    name="stop",
    summary="stop a running `servicedeck run`",
    description="Stop a running `servicedeck run` (background or foreground) and wait until "
    "it has exited.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
    targets=False,
)
