"""What several commands share: finding services, reading the command's settings, and
building the controller (the composition of the layers)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from servicedeck.cli._command import EXIT_FAILURE, EXIT_USAGE, CliExit, fail, positive_seconds

if TYPE_CHECKING:
    import argparse

    from servicedeck import Service
    from servicedeck.cli._daemon import PidFile, PidFileError
    from servicedeck.cli._settings import CliSettings
    from servicedeck.controller import ServiceController
    from servicedeck.coordinate import LeaseCoordinator
    from servicedeck.discovery import Discovered
    from servicedeck.tui import ServiceDeckApp

__all__ = [
    "add_reload_argument",
    "build_controller",
    "build_coordinator",
    "check_reload",
    "console_class",
    "discover",
    "load_settings",
    "one_line",
    "pid_file_failed",
    "pid_file_of",
    "reload_on_save",
]

# Control characters (newlines, tabs, escape sequences) would break a line or drive
# the terminal: each is shown as a space.
_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], " ")


def one_line(text: str) -> str:
    """`text` on one line: every control character (a newline too) becomes a space."""
    return text.translate(_CONTROLS)


def discover(targets: Sequence[str], debug: bool) -> Discovered:
    """The services of `targets` (see `servicedeck.discovery`), or a one-line error (exit 2)."""
    from servicedeck import DuplicateServiceError
    from servicedeck.discovery import DiscoveryError
    from servicedeck.discovery import discover as find

    try:
        return find(targets)
    except (DiscoveryError, DuplicateServiceError) as exc:
        if debug:
            traceback.print_exception(exc.__cause__ or exc)
        raise fail(str(exc)) from None


def add_reload_argument(parser: argparse.ArgumentParser) -> None:
    """The `--reload` option of the console and of `run`."""
    parser.add_argument(
        "--reload",
        action="store_true",
        help="reload a service when a file of its module, or of a project module it "
        "imports, is saved (needs servicedeck[reload])",
    )


def add_refresh_argument(parser: argparse.ArgumentParser) -> None:
    """The `--refresh` option of the consoles (local and attached)."""
    parser.add_argument(
        "--refresh",
        type=positive_seconds,
        metavar="SECONDS",
        help="how often the table and the detail panel show the services' changes; a key's "
        "effect shows at once (default: SERVICEDECK_REFRESH_SECONDS, else 0.5)",
    )


def check_reload() -> None:
    """A one-line error (exit 2) when `--reload` cannot work: watchfiles is missing."""
    import importlib.util

    if importlib.util.find_spec("watchfiles") is None:
        raise fail(
            "--reload needs watchfiles, which is not installed: pip install 'servicedeck[reload]'"
        )


def reload_on_save(controller: ServiceController, targets: Sequence[str]) -> None:
    """Reload `controller`'s services when their files change (`--reload`), or a one-line
    error (exit 2) when watchfiles is not installed."""
    check_reload()
    from servicedeck.discovery import discover as find
    from servicedeck.reload import Reloader

    reloader = Reloader(controller, lambda: find(targets).classes)
    controller.run_beside(reloader.watch)


def load_settings(**flags: tuple[str, Any]) -> CliSettings:
    """The command's own `SERVICEDECK_*` settings, or a one-line error naming the variable
    (or the option, or the `.env` file that cannot be read), exit 2.

    Every command reads them first: the `.env` file is the services' too, and a broken
    one would otherwise fail every service with the same decoding error.

    Args:
        flags: values given on the command line, as `field=(option, value)` (e.g.
            `coordinate=("--coordinate", url)`); None values are left out. They win over
            the environment, and are validated by the same model.
    """
    # Imported here: pydantic-settings would be most of `servicedeck --help`'s time.
    from pathlib import Path

    from pydantic import ValidationError

    from servicedeck._core import expected_type
    from servicedeck.cli._settings import CliSettings

    given = {name: value for name, (_, value) in flags.items() if value is not None}
    try:
        return CliSettings(**given)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        flagged = [e for e in errors if e["loc"] and str(e["loc"][0]) in given]
        if flagged:
            err = flagged[0]
            message = str(err["msg"]).removeprefix("Value error, ")
            raise fail(f"invalid {flags[str(err['loc'][0])][0]}: {message}.") from None
        problems = []
        for err in errors:
            message = str(err["msg"]).removeprefix("Value error, ")
            if not err["loc"]:  # the settings together (the lease timings): it names them
                problems.append(message)
                continue
            field = str(err["loc"][0])
            problems.append(
                f"SERVICEDECK_{field.upper()}={err.get('input')!r}: {message}"
                f" (expected {expected_type(CliSettings, field)})"
            )
        raise fail(f"invalid setting: {'; '.join(problems)}; fix or unset the variable.") from None
    except (UnicodeDecodeError, OSError) as exc:
        env_file = Path(str(CliSettings.model_config.get("env_file") or ".env")).absolute()
        if isinstance(exc, UnicodeDecodeError):
            byte = exc.object[exc.start : exc.start + 1].hex()
            why = f"it is not UTF-8 text (byte 0x{byte} at offset {exc.start})"
            todo = "save it as UTF-8, or remove it"
        else:
            why, todo = exc.strerror or str(exc), "fix it, or remove it"
        raise fail(f"cannot read {str(env_file)!r}: {why}; {todo}.") from None


def build_coordinator(settings: CliSettings) -> LeaseCoordinator | None:
    """The coordinator `settings.coordinate` names (not entered), or None."""
    if settings.coordinate is None:
        return None
    from servicedeck.coordinate import connect

    return connect(settings.coordinate, timings=settings.lease_timings())


def console_class(debug: bool, meanwhile: str) -> type[ServiceDeckApp]:
    """The console's app class, or a one-line error (exit 1) when it cannot be loaded.

    Args:
        debug: print the import error's traceback too.
        meanwhile: the commands to use instead, e.g. "`servicedeck status`".
    """
    try:
        from servicedeck.tui import ServiceDeckApp
    except ImportError as exc:
        if debug:
            traceback.print_exception(exc)
        raise fail(
            f"the console could not be loaded ({exc}); reinstall servicedeck, or use "
            f"{meanwhile} meanwhile.",
            EXIT_FAILURE,
        ) from None
    return ServiceDeckApp


def build_controller(classes: Sequence[type[Service]], **kwargs: Any) -> ServiceController:
    """A `ServiceController` of `classes`, built before any event loop runs."""
    from servicedeck.controller import ServiceController

    # time.monotonic is the clock asyncio (and so anyio's current_time) uses, and it
    # works outside a loop too.
    return ServiceController(classes, clock=time.monotonic, **kwargs)


def pid_file_of(settings: CliSettings) -> PidFile:
    """The pid file of the state directory."""
    from servicedeck.cli._daemon import PID_FILE_NAME, PidFile

    return PidFile(settings.state_dir / PID_FILE_NAME)


def pid_file_failed(exc: PidFileError) -> CliExit:
    """Print a `PidFileError`; exit 2 when a setting is at fault, else 1."""
    return fail(str(exc), EXIT_USAGE if exc.usage else EXIT_FAILURE)
