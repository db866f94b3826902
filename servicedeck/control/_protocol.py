"""`ServiceControl`: the one interface through which anything outside the framework
operates services.

The console, the headless `servicedeck run` and your own tools drive services only
through it: they read consistent snapshots, send commands, and hear about changes. Its
in-process implementation is `servicedeck.controller.ServiceController`; because
everything that crosses it is a plain record (see `_records`), the same interface can
be served over a socket and implemented by a client of another process.

Reading is synchronous and never blocks: an implementation keeps the current snapshots
at hand (the controller reads its services; a remote client keeps what its change stream
told it). Commands are coroutines: over a socket, any of them may wait.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Protocol, runtime_checkable

import anyio

from servicedeck import AwaitStack
from servicedeck.control._commands import Command
from servicedeck.control._records import (
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    StopReport,
)

__all__ = ["ServiceControl", "wait_until"]


@runtime_checkable
class ServiceControl(Protocol):
    """Read, command and watch a set of services (see the module docstring).

    Use it as an async context manager: inside, commands work; on exit an
    implementation that owns its services stops them.

    Errors every command may raise:

        CommandError    the service's state does not allow the command now (the
                        message is `check()`'s reason)
        KeyError        no service has that name (the message lists the known ones)
    """

    # -- reading ------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Service names, in display order."""
        ...

    @property
    def process(self) -> ProcessInfo:
        """The process that runs the services."""
        ...

    @property
    def epoch(self) -> float | None:
        """`now()` when the services' session began (None before): session time 0."""
        ...

    @property
    def entered(self) -> bool:
        """True inside `async with`, where commands work."""
        ...

    @property
    def owns_services(self) -> bool:
        """True when this control runs the services, so leaving it stops them (in
        process); False for a client of another process: leaving it only disconnects,
        and the services run on."""
        ...

    @property
    def unreachable(self) -> tuple[str, ...]:
        """One sentence per process that runs some of the services and cannot be reached
        now; empty when every one answers (always, in process). Their snapshots keep the
        last state seen, marked `ServiceSnapshot.unreachable`."""
        ...

    def heartbeat_age(self) -> float | None:
        """Seconds since the serving event loop last beat (the stall watchdog's heartbeat),
        or None when nothing measures it. A loop that runs beats every fraction of a
        second; a large age means it is blocked or starved."""
        ...

    def now(self) -> float:
        """The time base of every snapshot: the serving process's monotonic clock."""
        ...

    def snapshot(self, name: str) -> ServiceSnapshot:
        """A consistent snapshot of service `name`."""
        ...

    def snapshots(self) -> list[ServiceSnapshot]:
        """Snapshots of every service, in display order."""
        ...

    def logs(self, name: str) -> list[LogLine]:
        """The recent log lines of service `name`, oldest first."""
        ...

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change of a service (state, counters, logs).

        Called synchronously and often: coalesce in the callback. Returns a function
        that unsubscribes.
        """
        ...

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is refused on service `name` now, or None if it is allowed."""
        ...

    async def where(self, name: str) -> AwaitStack | None:
        """Where the task of service `name` waits now: its await stack, the innermost
        frame of the user's code marked (for a hung loop: the line it is stuck at).

        A request, not a command: never refused. Cheap enough to ask once a second
        while a loop runs.

        Returns:
            The stack, or None when the service has no running task.
        """
        ...

    # -- commands -----------------------------------------------------------------------

    async def start(self, name: str) -> None:
        """Start service `name`; a paused one is resumed (running or not)."""
        ...

    async def step(self, name: str, loops: int = 1) -> None:
        """Run `loops` loops of service `name` now, and wait until they have run.

        Stopped: setup, exactly `loops` loops, teardown. Sleeping or paused: the loops
        run at once, then it goes back to its schedule (or stays paused).
        """
        ...

    async def pause(self, name: str) -> None:
        """Pause service `name` after its current loop; a stopped one starts paused."""
        ...

    async def resume(self, name: str) -> None:
        """Resume a paused service."""
        ...

    async def stop(self, name: str, *, block: bool = True, timeout: float | None = None) -> bool:
        """Ask service `name` to stop; with `block`, wait up to `timeout` until it has.

        Returns:
            False when a blocking stop timed out (the service is then marked stuck).
        """
        ...

    async def cancel_steps(self, name: str) -> int:
        """Drop the loops of service `name` that `step` queued and that have not started;
        every `step` waiting for them returns. Returns how many were dropped."""
        ...

    async def kill(self, name: str) -> None:
        """Cancel the task of service `name` (its teardown still runs, shielded).

        Recorded: a log line in its log; `kill_requested_at` in its snapshot until its
        task ends (a task that shields itself from cancellation runs on, and a warning
        says so); then `status.cancelled` and the health reason say it was killed.
        """
        ...

    async def restart(self, name: str) -> RestartReport:
        """Stop service `name` (waiting) if it runs, then start it again; says what it did
        (also in the service's log). Where changed code is reloaded (`--reload`) and its
        code changed, it is started with the new code (`RestartReport.reloaded`)."""
        ...

    async def debug(self, name: str) -> None:
        """Run the next loop of service `name` under pdb, in the terminal of the process
        that runs it, and wait until that loop has run (recorded as for `step`).

        pdb stops at the first line of `run_once`; the event loop of that process is
        blocked while it holds the prompt. Only in process: a client of another process
        has no terminal there, and raises `CommandError` saying so.
        """
        ...

    async def set_enabled(self, name: str, enabled: bool | None) -> None:
        """Override whether service `name` is enabled, for this session (None: no override).

        It decides whether `start_enabled()` starts it; it does not start or stop it.
        """
        ...

    async def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception: when a loop of service `name` raises, pause it and drop its
        queued steps (a `step(name, 5)` stops at the first error)."""
        ...

    async def set_log_level(self, name: str, level: int | None) -> None:
        """Capture the log records of service `name` from `level` up (e.g.
        `logging.DEBUG`), for this session; None: back to the default."""
        ...

    async def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start every enabled service that is not running; returns their names.

        With `paused`, each loop service starts paused (setup done, no loop run) and a
        service that is not a loop is left stopped: it cannot be paused.
        """
        ...

    async def stop_all(self, timeout: float = ...) -> StopReport:
        """Stop every running service together; cancel those not stopped after `timeout`,
        and give up on one still running `timeout` after its cancellation (`stuck`).
        The report has each service's own outcome and time."""
        ...

    async def wait_stopped(self, names: Iterable[str] | None = None) -> None:
        """Return once none of `names` (default: every service) has a task."""
        ...

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> ServiceControl: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...


async def wait_until(
    control: ServiceControl,
    condition: Callable[[], bool],
    *,
    timeout: float | None = None,
) -> None:
    """Return once `condition()` holds, re-checked after every change `control` reports.

    Event-driven, never polling: for tests and tools that wait for a state
    (`await wait_until(control, lambda: control.snapshot("Reaper").status.loop_count >= 3)`).

    Args:
        control: where the changes come from.
        condition: checked now, then after each change.
        timeout: seconds to wait at most (None: no limit).

    Raises:
        TimeoutError: `timeout` passed first.
    """
    with anyio.fail_after(timeout):
        while not condition():
            changed = anyio.Event()

            def on_change(name: str, changed: anyio.Event = changed) -> None:
                changed.set()

            unsubscribe = control.subscribe(on_change)
            try:
                if not condition():
                    await changed.wait()
            finally:
                unsubscribe()
