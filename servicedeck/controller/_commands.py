"""The commands a controller takes, and when a service's state refuses one."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicedeck.controller._entry import Entry


class CommandError(Exception):
    """A command the service's current state does not allow (the message says why)."""


class Command(enum.Enum):
    """The commands a controller takes, each checked by `ServiceController.check()`."""

    START = "start"
    STEP = "step"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    KILL = "kill"
    RESTART = "restart"
    TOGGLE_ENABLED = "toggle_enabled"
    PAUSE_ON_ERROR = "pause_on_error"


STARTING = (Command.START, Command.STEP, Command.PAUSE, Command.RESTART)
"""Commands that start a run: refused once a service's BaseException is stopping all."""


def refusal(entry: Entry, command: Command, stopping: str | None) -> str | None:
    """Why `command` is not allowed on `entry`'s service now, or None if it is.

    Args:
        entry: the controller's record of the service.
        command: the command asked for.
        stopping: why every service is being stopped (a service raised a
            BaseException; commands that start a run are refused), or None.
    """
    name = entry.name
    if stopping is not None and command in STARTING:
        return f"servicedeck is stopping: {stopping}"
    loop = entry.kind == "loop"
    running = entry.scope is not None
    status = entry.instance.status if entry.instance else None
    if (
        command in (Command.STEP, Command.PAUSE, Command.RESUME, Command.PAUSE_ON_ERROR)
        and not loop
    ):
        return f"{name} is not a loop service"
    if (
        command in (Command.START, Command.STEP, Command.PAUSE, Command.RESTART)
        and entry.settings_error is not None
    ):
        return f"{name} has a settings error: {entry.settings_error}"
    if command is Command.START and running:
        return f"{name} is already running"
    if command is Command.RESUME and not (status and status.paused):
        return f"{name} is not paused"
    if command in (Command.STOP, Command.KILL) and not running:
        return f"{name} is not running"
    if command is Command.STOP and status is not None and status.stop_requested and not entry.stuck:
        return f"{name} is already stopping"
    return None
