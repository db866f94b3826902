"""What several commands share: finding services, reading the command's settings, and
building the controller (the composition of the layers)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from servicedeck.cli._command import fail

if TYPE_CHECKING:
    from servicedeck import Service
    from servicedeck.cli._settings import CliSettings
    from servicedeck.controller import ServiceController
    from servicedeck.coordinate import LeaseCoordinator
    from servicedeck.discovery import Discovered

__all__ = ["build_controller", "build_coordinator", "discover", "load_settings"]


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


def load_settings(**flags: tuple[str, Any]) -> CliSettings:
    """The command's own `SERVICEDECK_*` settings, or a one-line error naming the variable.

    Args:
        flags: values given on the command line, as `field=(option, value)` (e.g.
            `coordinate=("--coordinate", url)`); None values are left out. They win over
            the environment, and are validated by the same model.
    """
    # Imported here: pydantic-settings would be most of `servicedeck --help`'s time.
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


def build_coordinator(settings: CliSettings) -> LeaseCoordinator | None:
    """The coordinator `settings.coordinate` names (not entered), or None."""
    if settings.coordinate is None:
        return None
    from servicedeck.coordinate import connect

    return connect(settings.coordinate, timings=settings.lease_timings())


def build_controller(classes: Sequence[type[Service]], **kwargs: Any) -> ServiceController:
    """A `ServiceController` of `classes`, built before any event loop runs."""
    from servicedeck.controller import ServiceController

    # time.monotonic is the clock asyncio (and so anyio's current_time) uses, and it
    # works outside a loop too.
    return ServiceController(classes, clock=time.monotonic, **kwargs)
