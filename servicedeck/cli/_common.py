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
    from servicedeck.discovery import Discovered

__all__ = ["build_controller", "discover", "load_settings", "one_line"]

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


def load_settings() -> CliSettings:
    """The command's own `SERVICEDECK_*` settings, or a one-line error naming the variable."""
    # Imported here: pydantic-settings would be most of `servicedeck --help`'s time.
    from pydantic import ValidationError

    from servicedeck._core import expected_type
    from servicedeck.cli._settings import CliSettings

    try:
        return CliSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SERVICEDECK_{str(err['loc'][0]).upper()}={err.get('input')!r}: {err['msg']}"
            f" (expected {expected_type(CliSettings, str(err['loc'][0]))})"
            for err in exc.errors(include_url=False)
        )
        raise fail(f"invalid setting: {problems}; fix or unset the variable.") from None


def build_controller(classes: Sequence[type[Service]], **kwargs: Any) -> ServiceController:
    """A `ServiceController` of `classes`, built before any event loop runs."""
    from servicedeck.controller import ServiceController

    # time.monotonic is the clock asyncio (and so anyio's current_time) uses, and it
    # works outside a loop too.
    return ServiceController(classes, clock=time.monotonic, **kwargs)
