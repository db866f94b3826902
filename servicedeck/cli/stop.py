"""`servicedeck stop`: stop a running `servicedeck run` and wait until it has exited."""

from __future__ import annotations

import argparse

from servicedeck.cli._command import EXIT_FAILURE, EXIT_OK, Subcommand, fail, positive_seconds
from servicedeck.cli._common import load_settings

__all__ = ["COMMAND"]

EPILOG = """\
Sends SIGTERM and waits for the process to exit; after --timeout, sends SIGKILL. Exits 0
once it is gone (or was not running: a stale pid file is removed), 1 if it is still alive.

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

    settings = load_settings()
    pid_file = _daemon.PidFile(settings.state_dir / _daemon.PID_FILE_NAME)
    pid = pid_file.read()
    if pid is None:
        print(f"No services are running (no pid file at {pid_file.path}).")
        return EXIT_OK
    if pid_file.running_pid() is None:
        pid_file.remove()
        what = f"pid {pid} is not a running servicedeck" if pid > 0 else "it held no pid"
        print(f"Services were not running ({what}); removed the stale pid file {pid_file.path}.")
        return EXIT_OK
    print(f"Stopping servicedeck (pid {pid})...", flush=True)
    outcome = _daemon.stop_process(pid, args.timeout)
    if not outcome.stopped:
        raise fail(
            f"servicedeck (pid {pid}) is still alive after SIGTERM, {args.timeout:g} s, and "
            "SIGKILL; check it with `ps`.",
            EXIT_FAILURE,
        )
    pid_file.release(pid)
    if outcome.killed:
        print(
            f"servicedeck (pid {pid}) did not stop within {args.timeout:g} s and was killed "
            "(SIGKILL): its services' teardown did not finish. See its log."
        )
    else:
        print(f"All services stopped ({outcome.seconds:.2f} s).")
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
