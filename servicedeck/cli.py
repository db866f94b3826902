"""The `servicedeck` command line: the composition root.

    CliSettings -> discovery -> ServiceController -> the console, `ls`, or a headless `run`

Only this module knows every layer. It imports the console (and so Textual) only when
it opens it, so `servicedeck --help`, `ls`, `run` and `stop` never import Textual.

Exit statuses (docs/reference/cli.md):

    0    success
    1    the command ran and failed: already running, no service enabled, `ls` found a
         service whose settings (or __init__) fail, every service of `run` crashed,
         `stop` could not end the process
    2    usage error: bad option, a target that does not import, an invalid
         [tool.servicedeck] table or SERVICEDECK_* variable, two services with one name
    130  `run` forced to exit by a second SIGINT/SIGTERM during its graceful stop, or a
         service raised KeyboardInterrupt (after every service was stopped); a service's
         SystemExit(n) exits with n, another BaseException with 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from servicedeck._parser import parse_args

if TYPE_CHECKING:
    from servicedeck import Service
    from servicedeck._cli_settings import CliSettings
    from servicedeck.controller import ServiceController, ServiceSnapshot
    from servicedeck.discovery import Discovered

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_USAGE",
    "main",
    "parse_args",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FORCED = 130

log = logging.getLogger("servicedeck.cli")


class _Exit(Exception):
    """Leave `main()` with this status (its message, if any, was printed)."""

    def __init__(self, status: int) -> None:
        self.status = status


# -- shared helpers ---------------------------------------------------------------------


def _error(message: str, status: int = EXIT_USAGE) -> _Exit:
    print(f"servicedeck: error: {message}", file=sys.stderr)
    return _Exit(status)


def _discover(targets: Sequence[str], debug: bool) -> Discovered:
    from servicedeck import DuplicateServiceError
    from servicedeck.discovery import DiscoveryError, discover

    try:
        return discover(targets)
    except (DiscoveryError, DuplicateServiceError) as exc:
        if debug:
            traceback.print_exception(exc.__cause__ or exc)
        raise _error(str(exc)) from None


def _settings() -> CliSettings:
    # Imported here: pydantic-settings would be most of `servicedeck --help`'s time.
    from pydantic import ValidationError

    from servicedeck._cli_settings import CliSettings
    from servicedeck._core import expected_type

    try:
        return CliSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SERVICEDECK_{str(err['loc'][0]).upper()}={err.get('input')!r}: {err['msg']}"
            f" (expected {expected_type(CliSettings, str(err['loc'][0]))})"
            for err in exc.errors(include_url=False)
        )
        raise _error(f"invalid setting: {problems}; fix or unset the variable.") from None


def _controller(classes: Sequence[type[Service]], **kwargs: Any) -> ServiceController:
    from servicedeck.controller import ServiceController

    # Built before any event loop runs: time.monotonic is the clock asyncio (and so
    # anyio's current_time) uses, and works outside a loop too.
    return ServiceController(classes, clock=time.monotonic, **kwargs)


# -- the console ------------------------------------------------------------------------


def _cmd_console(args: argparse.Namespace) -> int:
    found = _discover(args.targets, args.debug)
    try:
        from servicedeck.tui import ServiceDeckApp
    except ImportError as exc:
        if args.debug:
            traceback.print_exception(exc)
        raise _error(
            f"the console could not be loaded ({exc}); reinstall servicedeck, or use "
            "`servicedeck ls` and `servicedeck run` meanwhile.",
            EXIT_FAILURE,
        ) from None
    controller = _controller(found.classes, propagate_logs=False)
    app = ServiceDeckApp(controller, start_paused=args.paused)
    app.run()
    return int(app.return_code or 0)


# -- ls ---------------------------------------------------------------------------------


def ls_rows(found: Discovered) -> list[dict[str, Any]]:
    """The rows of `servicedeck ls`, as `--output json` prints them (schema in the docs)."""
    controller = _controller(found.classes, capture_logs=False)
    return [
        _ls_row(cls, snap) for cls, snap in zip(found.classes, controller.snapshots(), strict=True)
    ]


def _ls_row(cls: type[Service], snap: ServiceSnapshot) -> dict[str, Any]:
    error = snap.settings_error
    if (
        error is None
        and snap.status.last_error is not None
        and snap.status.last_error.phase == "init"
    ):
        error = f"__init__ failed: {snap.status.last_error.summary}"
    interval = snap.status.loop_seconds
    if interval is None and snap.is_loop:
        interval = float(getattr(cls, "loop_seconds", 0) or 0)
    return {
        "name": snap.name,
        "class": snap.qualname,
        "kind": snap.kind,
        "markers": list(snap.markers),
        "enabled": snap.enabled,
        "enabled_source": snap.enabled_source,
        "environment_variable": snap.env_var,
        "loop_seconds": interval,
        "description": snap.description.strip().splitlines()[0] if snap.description.strip() else "",
        "error": error,
    }


def _print_table(rows: list[dict[str, Any]], found: Discovered) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tty = sys.stdout.isatty()
    # In a pipe, never wrap a row: one service per line, for grep.
    console = Console(width=None if tty else 1000, highlight=False)
    origin = {
        "targets": f"from the command line: {found.origin}",
        "pyproject": f"from {found.origin}",
        "entry points": f"from the entry points of {found.origin}",
        "demo": "the built-in demo (nothing configured; see docs/how-to/discovery.md)",
    }[found.source]
    title = f"Available Services: {origin}"
    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for column in ("Name", "Kind", "Enabled", "Env var", "Interval", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for row in rows:
        kind = ", ".join([row["kind"], *row["markers"]])
        if row["error"] is not None:
            enabled = Text("error", style="bold red")
            description = Text(row["error"], style="red")
        else:
            enabled = Text(
                "yes" if row["enabled"] else "no", style="green" if row["enabled"] else "dim"
            )
            if row["enabled_source"] != "default":
                enabled.append(f" ({row['enabled_source']})")
            description = Text(row["description"])
        interval = "-" if row["loop_seconds"] is None else f"{row['loop_seconds']:g} s"
        table.add_row(
            row["name"], kind, enabled, row["environment_variable"], interval, description
        )
    with console.capture() as captured:
        console.print(table)
    # Rich pads cells to the column width; trailing blanks are noise in a pipe.
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


@contextlib.contextmanager
def _framework_logs_silenced() -> Iterator[None]:
    """Keep servicedeck's log records (e.g. a failing __init__) off the screen meanwhile."""
    framework = logging.getLogger("servicedeck")
    # A handler of its own, or logging's last resort would print to stderr anyway.
    null, propagate = logging.NullHandler(), framework.propagate
    framework.addHandler(null)
    framework.propagate = False
    try:
        yield
    finally:
        framework.propagate = propagate
        framework.removeHandler(null)


def _cmd_ls(args: argparse.Namespace) -> int:
    if args.debug:
        _configure_logging("DEBUG")
    found = _discover(args.targets, args.debug)
    # Errors are shown in their rows; with --debug, their tracebacks are logged too.
    with contextlib.nullcontext() if args.debug else _framework_logs_silenced():
        rows = ls_rows(found)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, found)
    return EXIT_FAILURE if any(row["error"] is not None for row in rows) else EXIT_OK


# -- run and stop -----------------------------------------------------------------------


class _LogFormatter(logging.Formatter):
    """Fills `%(who)s` with the service that logged the record (`Heartbeat: `).

    Left empty for the command's own records, and when the message already starts with
    the service's name (the framework's own messages do).
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        name = record.name
        if name.startswith("servicedeck.services."):
            who = name.split(".")[2]
        elif name == "servicedeck.cli":
            who = ""
        else:
            who = name
        if who and str(record.message).startswith(f"{who}:"):
            who = ""
        record.who = f"{who}: " if who else ""
        return super().formatMessage(record)


def _configure_logging(level: str) -> None:
    """Rich logging to stderr in a terminal; plain timestamped lines in a file or pipe."""
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_path=False,
            markup=False,
            rich_tracebacks=True,
            log_time_format="[%X]",
        )
        handler.setFormatter(_LogFormatter("%(who)s%(message)s"))
    else:
        # Rich pads every line to the console width, which bloats a log file.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LogFormatter("%(asctime)s %(levelname)-8s %(who)s%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)


def _cmd_run(args: argparse.Namespace) -> int:
    from servicedeck import _daemon

    settings = _settings()
    level = args.log_level or settings.log_level
    stop_timeout = args.stop_timeout or settings.stop_timeout
    pid_file = _daemon.PidFile(settings.state_dir / _daemon.PID_FILE_NAME)
    if args.background:
        _discover(args.targets, args.debug)  # fail fast, before forking
        pid = pid_file.running_pid()
        if pid is not None:
            raise _error(
                f"Services are already running in the background (pid {pid}); stop them "
                "with `servicedeck stop`.",
                EXIT_FAILURE,
            )
        return _start_background(args, settings, level, stop_timeout)

    _configure_logging(level)
    found = _discover(args.targets, args.debug)
    try:
        pid_file.claim()
    except _daemon.AlreadyRunningError as exc:
        raise _error(str(exc), EXIT_FAILURE) from None
    except OSError as exc:
        raise _error(
            f"cannot write the pid file {str(pid_file.path)!r}: {exc}; set "
            "SERVICEDECK_STATE_DIR to a writable folder.",
            EXIT_FAILURE,
        ) from None

    def force() -> NoReturn:
        log.error(
            "Forced exit: services were not stopped gracefully (exit status %d).", EXIT_FORCED
        )
        pid_file.release()
        logging.shutdown()
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

    from servicedeck._serve import serve

    try:
        return anyio.run(serve, found.classes, stop_timeout, ready, force)
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
        pid_file.release()


def _start_background(
    args: argparse.Namespace,
    settings: CliSettings,
    level: str,
    stop_timeout: float,
) -> int:
    from servicedeck import _daemon

    state_dir = settings.state_dir.resolve()
    log_path = state_dir / _daemon.LOG_FILE_NAME
    child_args = [*args.targets, "--log-level", level, "--stop-timeout", repr(stop_timeout)]
    env = dict(os.environ, SERVICEDECK_STATE_DIR=str(state_dir))
    try:
        pid, ready, returncode, output = _daemon.spawn_background(
            child_args, log_path, env, ready_timeout=60.0
        )
    except OSError as exc:
        raise _error(
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
        raise _error(
            f"the background process (pid {pid}) did not report ready within 60 s; see "
            f"its log {str(log_path)!r}, and stop it with `servicedeck stop`.",
            EXIT_FAILURE,
        )
    raise _error(
        f"the background process exited with status {returncode} before its services "
        f"started (its output is above, and in {str(log_path)!r}).",
        returncode or EXIT_FAILURE,
    )


def _cmd_stop(args: argparse.Namespace) -> int:
    from servicedeck import _daemon

    settings = _settings()
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
        raise _error(
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


# -- main -------------------------------------------------------------------------------

_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "": _cmd_console,
    "ls": _cmd_ls,
    "run": _cmd_run,
    "stop": _cmd_stop,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `servicedeck` command with `argv` (default `sys.argv[1:]`); return its status."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _HANDLERS[args.command](args)
    except _Exit as exc:
        return exc.status
    except KeyboardInterrupt:
        return EXIT_FORCED
