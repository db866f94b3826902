"""The framework's verdict on a service: `Health`, with a reason a person can read.

`health_verdict()` is a pure function of a `ServiceStatus` and the time: the console, a
readiness probe and a metrics exporter reading the same status agree. "Failing" is
judged over a window of recent loops, not on the last one alone: a service that fails
40 % of its loops stays FAILING instead of flickering between failing and healthy at
every loop, and a service that recovers is HEALTHY again once a whole window of loops
has passed without an error.

The reason never just repeats the state (`stopped`, `paused`, ...): a view shows the
state and the verdict side by side, and the verdict says what the state does not
(`3 of the last 10 loops failed`, `never started`, `killed (its task was cancelled)`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ._state import ServiceState, ServiceStatus

__all__ = ["Health", "HealthVerdict", "health", "health_verdict"]

HEALTH_WINDOW = 10
"""How many recent loops `health_verdict()` judges by default."""
_FAILING_AFTER = 1
_STALE = 3.0

_ACTIVE_LOOP_STATES = (ServiceState.RUNNING, ServiceState.SLEEPING, ServiceState.STOPPING)


class Health(enum.Enum):
    """A verdict on a service, from `health()`."""

    HEALTHY = "healthy"
    """Nothing is wrong: no loop of the window failed, and loops finish on time."""
    FAILING = "failing"
    """Loops of the window raised (also when it has stopped since)."""
    STALE = "stale"
    """No loop finished for several intervals: stuck, or starved."""
    CRASHED = "crashed"
    """Its `__init__`, settings, `setup()`, `teardown()` or `start()` raised."""
    STOPPED = "stopped"
    """Not running, with nothing wrong recorded (the reason says how its last run ended)."""


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """A `Health` and the one-line reason for it, e.g. `3 of the last 10 loops failed`."""

    health: Health
    """The verdict."""
    reason: str
    """Why, in a few words; never just the name of the state."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {"health": self.health.value, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HealthVerdict:
        """The `HealthVerdict` that `to_json()` described.

        Raises:
            KeyError: a field is missing.
            ValueError: `health` is not a `Health` value.
        """
        return cls(Health(data["health"]), str(data["reason"]))


def health_verdict(
    status: ServiceStatus,
    now: float,
    *,
    window: int = HEALTH_WINDOW,
    failing_after: int = _FAILING_AFTER,
    stale_after: float = _STALE,
) -> HealthVerdict:
    """Judge a status at time `now` (monotonic), and say why. Pure: same input, same verdict.

    Args:
        status: the snapshot to judge.
        now: the current monotonic time (`anyio.current_time()`, or the runner's clock).
        window: how many of the most recent loops are judged (at most the
            `len(status.recent_durations)` the status keeps).
        failing_after: how many loops of the window must have raised to make the
            service FAILING.
        stale_after: how many intervals may pass without a finished loop before a
            running loop service is STALE (stuck, or starved); a service stuck in
            `stopping` too.

    Returns:
        CRASHED, FAILING, STOPPED, STALE or HEALTHY, in that order of precedence, with
        its reason.

    Raises:
        ValueError: `window` or `failing_after` is not a whole number >= 1, or
            `stale_after` is not a number > 0.
    """
    # Judged thousands of times a second: the defaults (the very objects) are not checked.
    if not (window is HEALTH_WINDOW and failing_after is _FAILING_AFTER and stale_after is _STALE):
        _check_arguments(window, failing_after, stale_after)
    state = status.state
    if state is ServiceState.CRASHED:
        error = status.last_error
        if error is None:
            return HealthVerdict(Health.CRASHED, "its run ended with an error")
        return HealthVerdict(Health.CRASHED, f"{_phase(error.phase)} raised {error.summary}")
    outcomes = status.recent_failed[-window:]
    failed, judged = sum(outcomes), len(outcomes)
    if not outcomes and status.consecutive_errors:
        # A status made without its outcomes (by hand, or from an older record).
        failed = judged = min(status.consecutive_errors, window)
    stopped = state is ServiceState.STOPPED
    if failed >= failing_after:
        its = "its" if stopped else "the"
        reason = f"{failed} of {its} last {_loops(judged)} failed"
        if judged == 1:
            reason = f"{its} last loop failed"
        if stopped and status.cancelled:
            reason = f"killed; {reason}"
        return HealthVerdict(Health.FAILING, reason)
    if stopped:
        if status.lease is not None:
            standby = _standby(status)
            if standby is not None:
                return standby
        if status.cancelled:
            return HealthVerdict(Health.STOPPED, "killed (its task was cancelled)")
        if status.started_at is None:
            return HealthVerdict(Health.STOPPED, "never started")
        return HealthVerdict(Health.STOPPED, "its last run ended cleanly")
    interval = status.loop_seconds
    if interval and state in _ACTIVE_LOOP_STATES:
        since = status.last_loop_at if status.last_loop_at is not None else status.started_at
        if since is not None and now - since > stale_after * interval:
            waited = now - since
            reason = (
                f"no loop finished for {_seconds(waited)} ({int(waited // interval)} intervals)"
            )
            if state is ServiceState.STOPPING:
                reason = f"stuck in stopping: {reason}"
            return HealthVerdict(Health.STALE, reason)
    if interval is None:
        return HealthVerdict(Health.HEALTHY, "no error recorded")
    if judged == 0:
        return HealthVerdict(Health.HEALTHY, "no loop has run yet")
    if failed:
        return HealthVerdict(
            Health.HEALTHY, f"{failed} of the last {_loops(judged)} failed (below {failing_after})"
        )
    return HealthVerdict(Health.HEALTHY, f"none of the last {_loops(judged)} failed")


def health(
    status: ServiceStatus,
    now: float,
    *,
    window: int = HEALTH_WINDOW,
    failing_after: int = _FAILING_AFTER,
    stale_after: float = _STALE,
) -> Health:
    """Judge a status at time `now` (monotonic): `health_verdict()`, with the same
    arguments, without its reason.

    Raises:
        ValueError: as `health_verdict()`.
    """
    return health_verdict(
        status, now, window=window, failing_after=failing_after, stale_after=stale_after
    ).health


def _standby(status: ServiceStatus) -> HealthVerdict | None:
    """A service that waits for its lease (several replicas): healthy while another
    process runs it, so a readiness probe keeps a standby replica in service."""
    from ._lease import LeaseRole

    assert status.lease is not None
    role, lease = status.lease.role, status.lease.lease
    if role is LeaseRole.STANDBY:
        if lease is None:
            return HealthVerdict(Health.HEALTHY, "standing by for its lease")
        return HealthVerdict(
            Health.HEALTHY, f"standing by: running on {lease.holder}, epoch {lease.epoch}"
        )
    if role is LeaseRole.LOST:
        epoch = "" if lease is None else f" (epoch {lease.epoch})"
        return HealthVerdict(
            Health.STOPPED, f"lost its lease{epoch}; stands by once the engine answers"
        )
    return None


def _check_arguments(window: int, failing_after: int, stale_after: float) -> None:
    _check_count(window, "window")
    _check_count(failing_after, "failing_after")
    if isinstance(stale_after, bool) or not isinstance(stale_after, int | float):
        raise ValueError(f"stale_after must be a number of intervals > 0, got {stale_after!r}")
    if not stale_after > 0:
        raise ValueError(f"stale_after must be a number of intervals > 0, got {stale_after!r}")


def _check_count(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a whole number of loops >= 1, got {value!r}")


def _phase(phase: str) -> str:
    """`setup()` for `setup`; `__init__` and `settings` as they are."""
    if phase in ("run_once", "setup", "teardown", "start", "stop"):
        return f"{phase}()"
    return "__init__" if phase == "init" else phase


def _loops(count: int) -> str:
    return "loop" if count == 1 else f"{count} loops"


def _seconds(seconds: float) -> str:
    """`0.35 s`, `95 s`, `12 min`, `3 h`: how long, in a few characters."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"
