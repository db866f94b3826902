"""The commands of the control protocol, and when a service's state refuses one.

`refusal()` is a pure function of a `ServiceSnapshot`: every implementation of the
protocol (in process, or a client of another process) and every view (a greyed-out key)
gives the same answer for the same snapshot.
"""

from __future__ import annotations

import enum

from servicedeck import LeaseRole
from servicedeck.control._records import ServiceSnapshot

__all__ = ["STARTING", "Command", "CommandError", "refusal"]


class CommandError(Exception):
    """A command the service's current state does not allow; the message says why."""


class Command(enum.Enum):
    """The commands the protocol takes, each checked by `ServiceControl.check()`."""

    START = "start"
    STEP = "step"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    KILL = "kill"
    RESTART = "restart"
    SET_ENABLED = "set_enabled"
    PAUSE_ON_ERROR = "pause_on_error"
    CANCEL_STEPS = "cancel_steps"
    SET_LOG_LEVEL = "set_log_level"
    DEBUG = "debug"


STARTING = frozenset({Command.START, Command.STEP, Command.PAUSE, Command.RESTART, Command.DEBUG})
"""Commands that start a run: refused while every service is being stopped."""

_LOOP_ONLY = frozenset(
    {
        Command.STEP,
        Command.PAUSE,
        Command.RESUME,
        Command.PAUSE_ON_ERROR,
        Command.CANCEL_STEPS,
        Command.DEBUG,
    }
)


def refusal(snapshot: ServiceSnapshot, command: Command, stopping: str | None = None) -> str | None:
    """Why `command` is not allowed on the service of `snapshot` now, or None if it is.

    A snapshot marked `unreachable` (its process cannot be reached now) refuses every
    command, with that reason.

    Args:
        snapshot: the service as it is now.
        command: the command asked for.
        stopping: why every service is being stopped (a service raised a
            BaseException), or None. Commands that start a run are refused meanwhile.
    """
    name = snapshot.name
    if snapshot.unreachable is not None:
        # Seen through a client whose process cannot be reached now: nothing can be sent.
        return snapshot.unreachable
    if stopping is not None and command in STARTING:
        return f"servicedeck is stopping: {stopping}"
    if snapshot.removed and command in STARTING:
        return f"{name} was removed from its module (a reload found its class gone)"
    if command in _LOOP_ONLY and not snapshot.is_loop:
        return f"{name} is not a loop service"
    if command in STARTING and snapshot.settings_error is not None:
        return f"{name} has a settings error: {snapshot.settings_error}"
    running = snapshot.has_task
    if command in (Command.START, Command.STEP, Command.DEBUG) and running:
        waiting = _standby(snapshot)
        if waiting is not None:
            return waiting
    if command is Command.START and running and not _resumable(snapshot):
        return f"{name} is already running"
    if command is Command.RESUME and not snapshot.status.paused:
        return f"{name} is not paused"
    if command in (Command.STOP, Command.KILL) and not running:
        return f"{name} is not running"
    if command is Command.STOP and snapshot.status.stop_requested and not snapshot.stuck:
        return f"{name} is already stopping"
    if command is Command.CANCEL_STEPS and not snapshot.status.queued_steps:
        return f"{name} has no queued steps"
    return None


def _standby(snapshot: ServiceSnapshot) -> str | None:
    """Why the service of `snapshot` does not run here: it stands by for its lease
    (`"Reaper stands by: running on host-b:4242, epoch 7"`), or None."""
    status = snapshot.status.lease
    if status is None or status.role not in (LeaseRole.STANDBY, LeaseRole.LOST):
        return None
    lease = status.lease
    if status.role is LeaseRole.LOST:
        where = "" if lease is None else f" (epoch {lease.epoch})"
        return f"{snapshot.name} lost its lease{where} and stands by"
    if lease is None:
        return f"{snapshot.name} stands by for its lease"
    return f"{snapshot.name} stands by: running on {lease.holder}, epoch {lease.epoch}"


def _resumable(snapshot: ServiceSnapshot) -> bool:
    """A running loop service that is paused: START resumes it."""
    status = snapshot.status
    return snapshot.is_loop and status.paused and not status.stop_requested
