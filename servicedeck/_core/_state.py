"""Observable state of a service: what it is doing and what it did (`_health` judges it).

`ServiceStatus` is an immutable snapshot, built on demand from a service's private
counters, so reading one is cheap and its fields always agree with each other.
Times in it are on the monotonic clock of the event loop (`anyio.current_time()`),
except `ErrorInfo.wall_time`, which is for people.
"""

from __future__ import annotations

import enum
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._lease import LeaseStatus

__all__ = ["ErrorInfo", "ServiceState", "ServiceStatus"]


class ServiceState(enum.Enum):
    """What a service is doing now."""

    STOPPED = "stopped"
    """Not running: never started, or finished cleanly."""
    STARTING = "starting"
    """Running its `setup()` hook."""
    RUNNING = "running"
    """Running a loop (`run_once()`), or, for a non-loop service, its `start()`."""
    SLEEPING = "sleeping"
    """Waiting for its next scheduled loop."""
    PAUSED = "paused"
    """Waiting without a schedule until resumed, stepped or stopped."""
    STOPPING = "stopping"
    """A stop was requested: finishing the current loop, or running `teardown()`."""
    CRASHED = "crashed"
    """Its `__init__`, settings, `setup()`, `teardown()` or `start()` raised."""

    @property
    def is_active(self) -> bool:
        """True while the service has a task that runs it."""
        return self not in (ServiceState.STOPPED, ServiceState.CRASHED)


def message_of(exc: BaseException) -> str:
    """`str(exc)`, or a placeholder saying it could not be rendered when its `__str__` raises.

    Recording an error must never fail: the error being recorded is what matters.
    """
    try:
        return str(exc)
    except Exception as failure:
        return f"<message could not be rendered: {type(failure).__name__} in __str__>"


class SafeRepr:
    """A `%r` log argument that never breaks the log line: `repr(obj)`, computed only if
    the record is formatted, or a placeholder when `obj.__repr__` raises.

    Given a raising `__repr__`, `logging` drops the whole record and prints `--- Logging
    error ---` instead, so a service's error would go unlogged.
    """

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __repr__(self) -> str:
        try:
            return repr(self.obj)
        except Exception as failure:
            return (
                f"<{type(self.obj).__qualname__}: repr could not be rendered: "
                f"{type(failure).__name__} in __repr__>"
            )


class ErrorInfo:
    """An exception raised by a service, kept without holding its frames alive.

    The traceback is captured when the error happens and formatted only when read,
    so a failing loop costs little when nobody looks.
    """

    __slots__ = ("_formatted", "_tb", "loop", "message", "phase", "type_name", "wall_time", "when")

    def __init__(
        self, exc: BaseException, *, when: float, phase: str, loop: int | None = None
    ) -> None:
        self.type_name: str = type(exc).__qualname__
        """The exception's class name, e.g. `ValueError`."""
        self.message: str = message_of(exc)
        """`str(exc)`; may be long or span lines. If `__str__` raises, a placeholder that
        says so: `<message could not be rendered: ValueError in __str__>`."""
        self.when: float = when
        """Monotonic time (`anyio.current_time()`) it was recorded."""
        self.wall_time: float = time.time()
        """Wall-clock time (`time.time()`) it was recorded, for display."""
        self.phase: str = phase
        """Where it was raised: `run_once`, `setup`, `teardown`, `start`, `stop`, `init`,
        `settings`."""
        self.loop: int | None = loop
        """Which loop (1-based) raised it, for `run_once` errors."""
        self._formatted: str | None = None
        self._tb: traceback.TracebackException | None = None
        try:
            self._tb = traceback.TracebackException(
                type(exc), exc, exc.__traceback__, lookup_lines=False
            )
        except Exception as failure:  # e.g. a `__notes__` property that raises
            self._formatted = (
                f"{self.summary}\n<traceback could not be captured: "
                f"{type(failure).__name__}: {message_of(failure)}>\n"
            )

    @property
    def traceback(self) -> str:
        """The formatted traceback, as Python prints it."""
        if self._formatted is None:
            assert self._tb is not None
            self._formatted = "".join(self._tb.format())
            self._tb = None
        return self._formatted

    @property
    def summary(self) -> str:
        """One line: `TypeName: first line of the message`."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.type_name}: {first}" if first else self.type_name

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (the traceback formatted)."""
        return {
            "type_name": self.type_name,
            "message": self.message,
            "when": self.when,
            "wall_time": self.wall_time,
            "phase": self.phase,
            "loop": self.loop,
            "traceback": self.traceback,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorInfo:
        """The `ErrorInfo` that `to_json()` described (e.g. received from another process).

        Raises:
            KeyError: a field is missing.
        """
        info = cls.__new__(cls)
        info.type_name = str(data["type_name"])
        info.message = str(data["message"])
        info.when = float(data["when"])
        info.wall_time = float(data["wall_time"])
        info.phase = str(data["phase"])
        loop = data.get("loop")
        info.loop = None if loop is None else int(loop)
        info._tb = None
        info._formatted = str(data["traceback"])
        return info

    def _key(self) -> tuple[object, ...]:
        return (self.type_name, self.message, self.when, self.wall_time, self.phase, self.loop)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, ErrorInfo):
            return NotImplemented
        # The traceback last: formatting it is the only costly part.
        return self._key() == other._key() and self.traceback == other.traceback

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<ErrorInfo {self.summary!r} phase={self.phase!r} loop={self.loop}>"


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """A consistent, immutable snapshot of one service instance."""

    name: str
    """The service's name."""
    state: ServiceState
    """What it is doing now."""
    loop_count: int = 0
    """Loops completed (successful or not), over all starts of this instance."""
    error_count: int = 0
    """Loops that raised, over all starts."""
    consecutive_errors: int = 0
    """Loops that raised since the last successful one."""
    overrun_count: int = 0
    """Loops that took longer than the interval."""
    last_duration: float | None = None
    """Seconds the last loop took."""
    recent_durations: tuple[float, ...] = ()
    """Durations of the most recent loops, oldest first (bounded)."""
    loop_seconds: float | None = None
    """The interval; None for a service that does not loop."""
    next_loop_at: float | None = None
    """When the next scheduled loop is due (monotonic); None when none is scheduled (paused,
    from the moment `pause()` is asked, running, or stopped)."""
    started_at: float | None = None
    """When the current (or last) run started (monotonic)."""
    last_loop_at: float | None = None
    """When the last loop finished (monotonic)."""
    last_error: ErrorInfo | None = None
    """The most recent error, or None."""
    recent_errors: tuple[ErrorInfo, ...] = field(default=())
    """The most recent errors, oldest first (bounded)."""
    paused: bool = False
    """A pause is in effect (the state may still be RUNNING until the loop ends)."""
    stop_requested: bool = False
    """A stop was requested since the last start (or before the next one)."""
    recent_failed: tuple[bool, ...] = ()
    """For each of `recent_durations`, whether that loop raised (same length, same order)."""
    loop_started_at: float | None = None
    """When the loop running now started (monotonic); None when no loop is running.
    It stays set while a stop waits for that loop (state STOPPING)."""
    queued_steps: int = 0
    """Loops asked for by `run_now()` that have not started yet (`cancel_steps()` drops
    them)."""
    cancelled: bool = False
    """The last run ended because its task was cancelled (killed, or cancelled by a
    runner whose stop timed out), not by a stop or an error. A cancellation that never
    reached it (the run ended on its own first) does not count. Reset by the next start."""
    lease: LeaseStatus | None = None
    """Its lease as this process sees it (leader, standby, ...); None when it runs
    without a coordinator."""

    @property
    def is_active(self) -> bool:
        """True while the service has a task that runs it."""
        return self.state.is_active

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field; errors as `ErrorInfo.to_json()` dicts."""
        return {
            "name": self.name,
            "state": self.state.value,
            "loop_count": self.loop_count,
            "error_count": self.error_count,
            "consecutive_errors": self.consecutive_errors,
            "overrun_count": self.overrun_count,
            "last_duration": self.last_duration,
            "recent_durations": list(self.recent_durations),
            "loop_seconds": self.loop_seconds,
            "next_loop_at": self.next_loop_at,
            "started_at": self.started_at,
            "last_loop_at": self.last_loop_at,
            "last_error": None if self.last_error is None else self.last_error.to_json(),
            "recent_errors": [error.to_json() for error in self.recent_errors],
            "paused": self.paused,
            "stop_requested": self.stop_requested,
            "recent_failed": list(self.recent_failed),
            "loop_started_at": self.loop_started_at,
            "queued_steps": self.queued_steps,
            "cancelled": self.cancelled,
            "lease": None if self.lease is None else self.lease.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceStatus:
        """The `ServiceStatus` that `to_json()` described.

        Raises:
            KeyError: a required field is missing.
            ValueError: `state` is not a `ServiceState` value.
        """
        recent = tuple(ErrorInfo.from_json(error) for error in data.get("recent_errors", ()))
        raw = data.get("last_error")
        last = None if raw is None else ErrorInfo.from_json(raw)
        lease = data.get("lease")
        if lease is not None:
            from ._lease import LeaseStatus
        if recent and last == recent[-1]:
            last = recent[-1]  # one object, as the framework makes them
        return cls(
            name=str(data["name"]),
            state=ServiceState(data["state"]),
            loop_count=int(data.get("loop_count", 0)),
            error_count=int(data.get("error_count", 0)),
            consecutive_errors=int(data.get("consecutive_errors", 0)),
            overrun_count=int(data.get("overrun_count", 0)),
            last_duration=_float_or_none(data.get("last_duration")),
            recent_durations=tuple(float(d) for d in data.get("recent_durations", ())),
            loop_seconds=_float_or_none(data.get("loop_seconds")),
            next_loop_at=_float_or_none(data.get("next_loop_at")),
            started_at=_float_or_none(data.get("started_at")),
            last_loop_at=_float_or_none(data.get("last_loop_at")),
            last_error=last,
            recent_errors=recent,
            paused=bool(data.get("paused", False)),
            stop_requested=bool(data.get("stop_requested", False)),
            recent_failed=tuple(bool(f) for f in data.get("recent_failed", ())),
            loop_started_at=_float_or_none(data.get("loop_started_at")),
            queued_steps=int(data.get("queued_steps", 0)),
            cancelled=bool(data.get("cancelled", False)),
            lease=None if lease is None else LeaseStatus.from_json(lease),
        )


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
