"""The private per-instance record behind a service's observable state.

Every framework field of a service lives on one object, `service._servicedeck`, so that
a user's own attributes (`self.state`, `self.stats`, ...) never collide with ours.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Callable
from math import copysign
from typing import TYPE_CHECKING, Any

import anyio

from ._state import ErrorInfo, SafeRepr, ServiceState, ServiceStatus

if TYPE_CHECKING:
    import asyncio

    from ._lease import Lease, LeaseRole, LeaseStatus
    from ._service import Service

__all__ = ["Listener", "Runtime"]

RECENT_DURATIONS = 32
RECENT_ERRORS = 16

Listener = Callable[["Service"], None]

_log = logging.getLogger("servicedeck")


class Runtime:
    """Counters, flags and wake-ups of one service instance. Event-loop thread only."""

    __slots__ = (
        "active",
        "cancelled",
        "clock",
        "consecutive_errors",
        "crashed",
        "depth",
        "durations",
        "error_count",
        "errors",
        "handle_signals",
        "last_duration",
        "last_loop_at",
        "lease_status",
        "listeners",
        "loop_count",
        "loop_seconds",
        "loop_started_at",
        "next_loop_at",
        "overrun_count",
        "paused",
        "pending_stop",
        "service",
        "sleeper",
        "standby",
        "started_at",
        "state",
        "step_event",
        "step_running",
        "steps",
        "steps_done",
        "stop_requested",
        "stopped_event",
        "task_id",
    )

    def __init__(self, service: Service) -> None:
        self.service = service
        # Injectable (tests, snapshot tests): everything the loop times uses this clock.
        self.clock: Callable[[], float] = anyio.current_time
        self.state = ServiceState.STOPPED
        self.active = False
        self.crashed = False
        self.cancelled = False
        self.depth = 0
        self.loop_count = 0
        self.error_count = 0
        self.consecutive_errors = 0
        self.overrun_count = 0
        self.last_duration: float | None = None
        # Memory per idle service counts (issue 5): durations are packed doubles, not a
        # deque of float objects; errors and stopped_event are made when first needed.
        # A loop that raised is kept with its sign bit set (-0.0 for an instant one):
        # the window `health_verdict()` judges costs no memory of its own.
        self.durations: array[float] = array("d")
        self.errors: deque[ErrorInfo] | None = None
        self.loop_seconds: float | None = None
        self.next_loop_at: float | None = None
        self.started_at: float | None = None
        self.last_loop_at: float | None = None
        self.loop_started_at: float | None = None
        self.paused = False
        self.stop_requested = False
        self.pending_stop = False
        # Loops asked for by run_now() and not finished (the one running included), and
        # those finished or dropped by cancel_steps(): a caller waits for its ticket.
        self.steps = 0
        self.steps_done = 0
        self.step_running = False
        # What wake() ends: a cancel scope, or on asyncio the future the loop awaits.
        self.sleeper: anyio.CancelScope | asyncio.Future[None] | None = None
        self.stopped_event: anyio.Event | None = None
        self.step_event: anyio.Event | None = None
        self.task_id: int | None = None
        # A list from the first subscribe(); most services never have a listener.
        self.listeners: list[Listener] | tuple[()] = ()
        # Here, not on the service, so a subclass that skips super().__init__() still starts.
        self.handle_signals = False
        # Only under a coordinator (run_with_lease): the lease as seen, and the scope
        # that a stop cancels while the service waits for its lease.
        self.lease_status: LeaseStatus | None = None
        self.standby: anyio.CancelScope | None = None

    # -- notification -------------------------------------------------------------

    def notify(self) -> None:
        """Tell every listener that something changed. Free when nobody listens."""
        if self.listeners:
            for listener in tuple(self.listeners):
                try:
                    listener(self.service)
                except Exception:
                    # A broken listener must not break the service it watches.
                    _log.exception(
                        "state listener %r of %s raised", SafeRepr(listener), self.service.name
                    )

    def set_state(self, state: ServiceState) -> None:
        self.state = state
        if self.listeners:
            self.notify()

    # -- life cycle -----------------------------------------------------------------

    def begin(self, state: ServiceState) -> None:
        """Mark the start of a run (setup included)."""
        self.active = True
        self.crashed = False
        self.cancelled = False
        self.stop_requested = False
        self.pending_stop = False
        self.steps = 0
        self.next_loop_at = None
        self.started_at = self.clock()
        self.stopped_event = None  # made by stopped() when someone waits
        try:
            self.task_id = anyio.get_current_task().id
        except Exception:  # pragma: no cover - outside a task
            self.task_id = None
        self.set_state(state)

    def end(self, *, cancelled: bool = False) -> None:
        """Mark the end of a run (teardown included); releases every waiter.

        Args:
            cancelled: the run ended because its task was cancelled (killed).
        """
        self.active = False
        self.cancelled = cancelled
        self.sleeper = None
        self.steps = 0
        self.step_running = False
        self.loop_started_at = None
        self.next_loop_at = None
        self.task_id = None
        self.release_steppers()
        if self.stopped_event is not None:
            self.stopped_event.set()
        self.set_state(ServiceState.CRASHED if self.crashed else ServiceState.STOPPED)

    def stopped(self) -> anyio.Event:
        """An event set when the current run ends (already set when none is running)."""
        if self.stopped_event is None:
            self.stopped_event = anyio.Event()
            if not self.active:
                self.stopped_event.set()
        return self.stopped_event

    def record_duration(self, duration: float) -> None:
        """Keep `duration` among the last RECENT_DURATIONS loop durations; a failed
        loop's with its sign bit set (`-duration`)."""
        durations = self.durations
        durations.append(duration)
        if len(durations) > RECENT_DURATIONS:
            del durations[0]

    def wake(self) -> None:
        """Cut a sleep (scheduled or paused) short, so the loop looks at its flags."""
        sleeper = self.sleeper
        if isinstance(sleeper, anyio.CancelScope):
            sleeper.cancel()
        elif sleeper is not None:
            release(sleeper)

    def set_lease(self, role: LeaseRole, lease: Lease | None) -> None:
        """Record the lease as seen now, counting each change to or from leader."""
        from ._lease import LeaseRole, LeaseStatus  # loaded with a coordinator only

        previous = self.lease_status
        transitions = 0 if previous is None else previous.transitions
        if (previous is not None and previous.role is LeaseRole.LEADER) != (
            role is LeaseRole.LEADER
        ):
            transitions += 1
        self.lease_status = LeaseStatus(role, lease, transitions)
        self.notify()

    def leave_standby(self) -> None:
        """A stop while waiting for the lease: stop waiting (see `run_with_lease()`)."""
        if self.standby is not None:
            self.standby.cancel()

    def release_steppers(self) -> None:
        if self.step_event is not None:
            self.step_event.set()
            self.step_event = None

    def in_own_task(self) -> bool:
        """True when called from the task that runs this service."""
        if self.task_id is None:
            return False
        try:
            return anyio.get_current_task().id == self.task_id
        except Exception:  # pragma: no cover - outside a task
            return False

    def in_own_run(self) -> bool:
        """True when called from this service's task, or from a task started from it
        (or from one of those, and so on): code its run may be waiting for.

        Follows anyio's record of which task started which: every task on trio; on
        asyncio, the tasks started through anyio (task groups), not bare
        `asyncio.create_task()`. Walks every running task, so it is for rare calls only
        (a context variable set in each run would cost every idle service memory).
        """
        if self.task_id is None:
            return False
        try:
            current = anyio.get_current_task()
        except Exception:  # pragma: no cover - outside a task
            return False
        if current.id == self.task_id:
            return True
        if current.parent_id is None:
            return False
        parent_of = {task.id: task.parent_id for task in anyio.get_running_tasks()}
        seen: set[int] = set()
        parent: int | None = current.parent_id
        while parent is not None and parent not in seen:
            if parent == self.task_id:
                return True
            seen.add(parent)
            parent = parent_of.get(parent)
        return False

    # -- records --------------------------------------------------------------------

    def record_error(
        self, exc: BaseException, phase: str, loop: int | None = None, *, crash: bool = False
    ) -> ErrorInfo:
        info = ErrorInfo(exc, when=self.clock(), phase=phase, loop=loop)
        if self.errors is None:
            self.errors = deque(maxlen=RECENT_ERRORS)
        self.errors.append(info)
        if crash:
            self.crashed = True
        return info

    def queued_steps(self) -> int:
        """Steps asked for that have not started (the one running is not queued)."""
        return self.steps - 1 if self.step_running else self.steps

    def snapshot(self, name: str) -> ServiceStatus:
        errors = tuple(self.errors) if self.errors else ()
        durations = tuple(self.durations)
        if self.error_count:
            failed = tuple(copysign(1.0, d) < 0 for d in durations)
            durations = tuple(map(abs, durations))
        else:
            failed = (False,) * len(durations)
        return ServiceStatus(
            name=name,
            state=self.state,
            loop_count=self.loop_count,
            error_count=self.error_count,
            consecutive_errors=self.consecutive_errors,
            overrun_count=self.overrun_count,
            last_duration=self.last_duration,
            recent_durations=durations,
            loop_seconds=self.loop_seconds,
            # Paused: no loop is scheduled, even in the moment before the sleeping loop
            # has woken to notice (a snapshot taken right after `pause()`).
            next_loop_at=None if self.paused else self.next_loop_at,
            started_at=self.started_at,
            last_loop_at=self.last_loop_at,
            last_error=errors[-1] if errors else None,
            recent_errors=errors,
            paused=self.paused,
            stop_requested=self.stop_requested or self.pending_stop,
            recent_failed=failed,
            loop_started_at=self.loop_started_at,
            queued_steps=self.queued_steps(),
            cancelled=self.cancelled,
            lease=self.lease_status,
        )

    def __repr__(self) -> str:
        return f"<Runtime {self.state.value} loops={self.loop_count}>"


def release(waiter: asyncio.Future[None]) -> None:
    """End an asyncio sleep: its timer fired, or `Runtime.wake()` cut it short."""
    if not waiter.done():
        waiter.set_result(None)


def describe(obj: Any) -> str:
    """`module.Qualname (file)` for error messages about classes."""
    import sys

    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    where = getattr(module, "__file__", None) or "<unknown file>"
    return f"{obj.__module__}.{obj.__qualname__} ({where})"
