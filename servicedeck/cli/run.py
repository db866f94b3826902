"""`servicedeck run`: run the enabled services headless until SIGINT, SIGTERM or SIGHUP."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from servicedeck.cli._command import (
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    Subcommand,
    fail,
    positive_seconds,
)
from servicedeck.cli._common import (
    add_reload_argument,
    check_reload,
    discover,
    load_settings,
    pid_file_failed,
    pid_file_of,
    reload_on_save,
)
from servicedeck.cli._control import (
    ControlError,
    add_control_arguments,
    control_args,
    plan_control,
    serve_with_control,
)

if TYPE_CHECKING:
    from servicedeck.cli._settings import CliSettings

__all__ = ["COMMAND"]

log = logging.getLogger("servicedeck.cli")

EPILOG = """\
SIGINT (Ctrl+C), SIGTERM or SIGHUP (its terminal closed) stops every service gracefully
(teardown runs) and exits 0; a second one during that stop forces exit with status 130.
The pid file lives in the state directory (SERVICEDECK_STATE_DIR); one `run` per state
directory.

It serves a control endpoint (servicedeck attach, servicedeck status, /livez, /readyz,
/metrics) on STATE_DIR/servicedeck.sock, or on --control ADDRESS; TCP needs a token
(SERVICEDECK_CONTROL_TOKEN). docs/how-to/operate.md says more.

With --coordinate (or SERVICEDECK_COORDINATE), several `run`s share the services: each
service that is not RunInAllServers runs in one of them at a time, and the others stand
by to take over (see docs/how-to/replicas.md).

examples:
  servicedeck run myapp.services
  servicedeck run --background && servicedeck stop
  servicedeck run --coordinate postgresql://app@db/app myapp.services
  servicedeck run --control tcp://127.0.0.1:8484
  servicedeck run --reload myapp/services.py"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--background",
        action="store_true",
        help="run as a background process (log: STATE_DIR/servicedeck.log); stop it with "
        "`servicedeck stop`",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the least level logged (default: SERVICEDECK_LOG_LEVEL, else INFO)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="how long each service may take to stop before it is cancelled "
        "(default: SERVICEDECK_STOP_TIMEOUT, else 5)",
    )
    add_control_arguments(parser)
    parser.add_argument(
        "--coordinate",
        metavar="URL",
        help="run each service on one replica at a time, with leases kept at URL: "
        "postgresql://..., redis://..., rediss://..., unix://..., sqlite:///path "
        "(default: SERVICEDECK_COORDINATE, else no coordination)",
    )
    add_reload_argument(parser)
    # Internal: the pipe a background run reports readiness on.
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)


def _run(args: argparse.Namespace) -> int:
    from servicedeck.cli import _daemon

    settings = load_settings(coordinate=("--coordinate", args.coordinate))
    level = args.log_level or settings.log_level
    stop_timeout = args.stop_timeout or settings.stop_timeout
    plan = plan_control(args, settings.state_dir)
    pid_file = pid_file_of(settings)
    if args.background:
        discover(args.targets, args.debug)  # fail fast, before forking
        if args.reload:
            check_reload()
        try:
            pid = pid_file.running_pid()
        except _daemon.PidFileError as exc:
            raise pid_file_failed(exc) from None
        if pid is not None:
            raise fail(
                f"Services are already running in the background (pid {pid}); stop them "
                "with `servicedeck stop`.",
                EXIT_FAILURE,
            )
        return _start_background(args, settings, level, stop_timeout)

    from servicedeck.cli._logging import configure_logging

    logs = configure_logging(level)
    found = discover(args.targets, args.debug)
    try:
        pid_file.claim()
    except _daemon.AlreadyRunningError as exc:
        raise fail(str(exc), EXIT_FAILURE) from None
    except _daemon.PidFileError as exc:
        raise pid_file_failed(exc) from None

    def force() -> NoReturn:
        log.error(
            "Forced exit: services were not stopped gracefully (exit status %d).", EXIT_FORCED
        )
        pid_file.release()
        logs.close(timeout=1.0)  # bounded: the output may be a pipe nobody reads
        os._exit(EXIT_FORCED)

    def ready() -> None:
        if args.ready_fd is None:
            return
        # The launcher may have given up waiting (and closed its end): run on regardless.
        with contextlib.suppress(OSError):
            os.write(args.ready_fd, _daemon.READY)
        with contextlib.suppress(OSError):
            os.close(args.ready_fd)

    import anyio

    from servicedeck.cli._common import build_controller, build_coordinator
    from servicedeck.cli._serve import serve

    coordinator = build_coordinator(settings)
    # Log lines are kept (a bounded ring per service) only for a console attached through
    # the endpoint; they go to stderr either way.
    controller = build_controller(
        found.classes, capture_logs=plan.address is not None, coordinator=coordinator
    )
    if args.reload:
        reload_on_save(controller, args.targets)
    # A breakpoint() in a service: pdb, with the stall watchdog told it holds the loop.
    hook, sys.breakpointhook = sys.breakpointhook, controller.breakpointhook

    async def serve_coordinated() -> int:
        if coordinator is None:
            return await serve_with_control(plan, serve, controller, stop_timeout, ready, force)
        # Entered around the services: their leases are released after they stopped.
        async with coordinator:
            return await serve_with_control(plan, serve, controller, stop_timeout, ready, force)

    try:
        return anyio.run(serve_coordinated)
    except ControlError as exc:
        raise fail(str(exc), EXIT_FAILURE) from None
    except Exception:
        raise
    except BaseException as exc:
        # A service raised KeyboardInterrupt, SystemExit, ...: the controller stopped every
        # service, noted which one raised it, and re-raised it. Its traceback is logged.
        notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith("servicedeck: ")]
        if not notes:
            raise
        log.error("%s Exiting.", notes[-1])
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise  # main() exits 130 for the one, Python with its code for the other
        return EXIT_FAILURE
    finally:
        sys.breakpointhook = hook
        pid_file.release()


def _start_background(
    args: argparse.Namespace,
    settings: CliSettings,
    level: str,
    stop_timeout: float,
) -> int:
    from servicedeck.cli import _daemon

    state_dir = settings.state_dir.resolve()
    log_path = state_dir / _daemon.LOG_FILE_NAME
    child_args = [
        *args.targets,
        "--log-level",
        level,
        "--stop-timeout",
        repr(stop_timeout),
        *control_args(args),
    ]
    if args.coordinate:
        child_args += ["--coordinate", args.coordinate]
    if args.reload:
        child_args.append("--reload")
    env = dict(os.environ, SERVICEDECK_STATE_DIR=str(state_dir))
    try:
        pid, ready, returncode, output = _daemon.spawn_background(
            child_args, log_path, env, ready_timeout=60.0
        )
    except OSError as exc:
        raise fail(
            f"cannot start the background process ({exc}); check SERVICEDECK_STATE_DIR "
            f"({str(state_dir)!r}) is writable.",
            EXIT_FAILURE,
        ) from None
    if ready:
        print(
            f"Services are running in the background (pid {pid}). Log: {log_path}\n"
            "Stop them with `servicedeck stop`."
        )
        return EXIT_OK
    sys.stderr.write(output)
    if returncode is None:
        raise fail(
            f"the background process (pid {pid}) did not report ready within 60 s; see "
            f"its log {str(log_path)!r}, and stop it with `servicedeck stop`.",
            EXIT_FAILURE,
        )
    raise fail(
        f"the background process exited with status {returncode} before its services "
        f"started (its output is above, and in {str(log_path)!r}).",
        returncode or EXIT_FAILURE,
    )


COMMAND = Subcommand(
    name="run",
    summary="run the enabled services headless until SIGINT/SIGTERM/SIGHUP",
    description="Run the enabled services headless until SIGINT, SIGTERM or SIGHUP, logging "
    "to stderr.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
)
