"""`CombinedControl`: the services of several controls (processes) as one.

Replicas run services of the same names, so a combined name says whose it is:
`Reaper@2` is service `Reaper` of the second control given (the second address on the
command line). Each snapshot carries the `ProcessInfo` of its process (`process`), for a
PROCESS column. Commands go to the control that owns the service; reads and `check()`
are that control's. Times are on the first control's clock: a process whose clock is
far from it (another machine) has its snapshots' times shifted to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType

from servicedeck import AwaitStack, ErrorInfo, ServiceStatus
from servicedeck.control._commands import Command
from servicedeck.control._protocol import ServiceControl
from servicedeck.control._records import (
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    ServiceStop,
    StopReport,
)

__all__ = ["CombinedControl"]

SEPARATOR = "@"
CLOCK_TOLERANCE = 0.5
"""Seconds two processes' clocks may differ before their times are shifted."""


class CombinedControl:
    """One `ServiceControl` over several, with names `NAME@N` (N: the control's position,
    from 1).

    Args:
        controls: the controls, each not yet entered; entering this enters them all.

    Raises:
        ValueError: no control was given.
    """

    def __init__(self, controls: Sequence[ServiceControl]) -> None:
        if not controls:
            raise ValueError("CombinedControl needs at least one control")
        self.controls = tuple(controls)
        self._stack: contextlib.AsyncExitStack | None = None

    # -- names ----------------------------------------------------------------------------

    @staticmethod
    def qualify(name: str, position: int) -> str:
        """The combined name of service `name` of the control at `position` (from 1)."""
        return f"{name}{SEPARATOR}{position}"

    def split(self, name: str) -> tuple[ServiceControl, str]:
        """The control that owns combined name `name`, and the service's own name.

        Raises:
            KeyError: `name` is not `NAME@N` for a control N.
        """
        inner, _, position = name.rpartition(SEPARATOR)
        if inner and position.isdigit() and 1 <= int(position) <= len(self.controls):
            return self.controls[int(position) - 1], inner
        raise KeyError(
            f"no service named {name!r}; names are NAME{SEPARATOR}N, N from 1 to "
            f"{len(self.controls)} (the process's position)"
        )

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> CombinedControl:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            for control in self.controls:
                await stack.enter_async_context(control)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    # -- reading --------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Every control's names, qualified, control by control."""
        return tuple(
            self.qualify(name, position)
            for position, control in enumerate(self.controls, 1)
            for name in control.names
        )

    @property
    def process(self) -> ProcessInfo:
        """The first control's process (each snapshot names its own)."""
        return self.controls[0].process

    @property
    def epoch(self) -> float | None:
        """The first control's epoch."""
        return self.controls[0].epoch

    @property
    def entered(self) -> bool:
        """True when every control is entered."""
        return all(control.entered for control in self.controls)

    @property
    def owns_services(self) -> bool:
        """True only when every control runs its own services."""
        return all(control.owns_services for control in self.controls)

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Why each process that cannot be reached now is out of reach."""
        return tuple(reason for control in self.controls for reason in control.unreachable)

    def heartbeat_age(self) -> float | None:
        """None: each process measures its own."""
        return None

    def now(self) -> float:
        """The first control's clock: the time base of every snapshot."""
        return self.controls[0].now()

    def snapshot(self, name: str) -> ServiceSnapshot:
        """The snapshot of combined name `name`, with its process and combined name."""
        control, inner = self.split(name)
        snap = control.snapshot(inner)
        shift = self.now() - control.now()
        if abs(shift) > CLOCK_TOLERANCE:
            snap = _shifted(snap, shift)
        return dataclasses.replace(snap, name=name, process=control.process)

    def snapshots(self) -> list[ServiceSnapshot]:
        """Every service's snapshot, control by control."""
        return [self.snapshot(name) for name in self.names]

    def logs(self, name: str) -> list[LogLine]:
        """The recent log lines of combined name `name`."""
        control, inner = self.split(name)
        return control.logs(inner)

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(combined name)` after every change of any control's service."""
        unsubscribers = []
        for position, control in enumerate(self.controls, 1):

            def relay(name: str, position: int = position) -> None:
                callback(self.qualify(name, position) if name else name)

            unsubscribers.append(control.subscribe(relay))

        def unsubscribe() -> None:
            for undo in unsubscribers:
                undo()

        return unsubscribe

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is refused on combined name `name` now (its control's answer)."""
        control, inner = self.split(name)
        return control.check(inner, command)

    # -- commands -------------------------------------------------------------------------

    async def start(self, name: str) -> None:
        """Start the service of combined name `name`."""
        control, inner = self.split(name)
        await control.start(inner)

    async def step(self, name: str, loops: int = 1) -> None:
        """Step the service of combined name `name`."""
        control, inner = self.split(name)
        await control.step(inner, loops)

    async def pause(self, name: str) -> None:
        """Pause the service of combined name `name`."""
        control, inner = self.split(name)
        await control.pause(inner)

    async def resume(self, name: str) -> None:
        """Resume the service of combined name `name`."""
        control, inner = self.split(name)
        await control.resume(inner)

    async def stop(self, name: str, *, block: bool = True, timeout: float | None = None) -> bool:
        """Stop the service of combined name `name`."""
        control, inner = self.split(name)
        return await control.stop(inner, block=block, timeout=timeout)

    async def cancel_steps(self, name: str) -> int:
        """Drop the queued steps of the service of combined name `name`."""
        control, inner = self.split(name)
        return await control.cancel_steps(inner)

    async def kill(self, name: str) -> None:
        """Kill the service of combined name `name`."""
        control, inner = self.split(name)
        await control.kill(inner)

    async def restart(self, name: str) -> RestartReport:
        """Restart the service of combined name `name`."""
        control, inner = self.split(name)
        report = await control.restart(inner)
        return dataclasses.replace(report, name=name)

    async def debug(self, name: str) -> None:
        """Run the next loop of the service of combined name `name` under pdb (refused
        by a client of another process)."""
        control, inner = self.split(name)
        await control.debug(inner)

    async def set_enabled(self, name: str, enabled: bool | None) -> None:
        """Override whether the service of combined name `name` is enabled."""
        control, inner = self.split(name)
        await control.set_enabled(inner, enabled)

    async def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception for the service of combined name `name`."""
        control, inner = self.split(name)
        await control.set_pause_on_error(inner, on)

    async def set_log_level(self, name: str, level: int | None) -> None:
        """Set the captured log level of the service of combined name `name`."""
        control, inner = self.split(name)
        await control.set_log_level(inner, level)

    async def where(self, name: str) -> AwaitStack | None:
        """Where the task of the service of combined name `name` waits now."""
        control, inner = self.split(name)
        return await control.where(inner)

    async def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start the enabled services of every control; their combined names."""
        started: list[str] = []
        for position, control in enumerate(self.controls, 1):
            names = await control.start_enabled(paused=paused)
            started += [self.qualify(name, position) for name in names]
        return started

    async def stop_all(self, timeout: float = 5.0) -> StopReport:
        """Stop every service of every control, control by control."""
        stops: list[ServiceStop] = []
        seconds = 0.0
        for position, control in enumerate(self.controls, 1):
            report = await control.stop_all(timeout)
            stops += [
                dataclasses.replace(stop, name=self.qualify(stop.name, position))
                for stop in report.services
            ]
            seconds += report.seconds
        return StopReport(tuple(stops), seconds)

    async def wait_stopped(self, names: Iterable[str] | None = None) -> None:
        """Return once none of the combined names `names` (default: all) has a task."""
        for name in self.names if names is None else list(names):
            control, inner = self.split(name)
            await control.wait_stopped([inner])


def _shifted(snap: ServiceSnapshot, shift: float) -> ServiceSnapshot:
    """`snap` with its monotonic times moved by `shift` seconds (onto another clock)."""

    def move(value: float | None) -> float | None:
        return None if value is None else value + shift

    def moved(error: ErrorInfo) -> ErrorInfo:
        return ErrorInfo.from_json({**error.to_json(), "when": error.when + shift})

    status: ServiceStatus = snap.status
    errors = tuple(moved(error) for error in status.recent_errors)
    last = status.last_error
    if last is not None:
        last = errors[-1] if errors and status.recent_errors[-1] is last else moved(last)
    status = dataclasses.replace(
        status,
        next_loop_at=move(status.next_loop_at),
        started_at=move(status.started_at),
        last_loop_at=move(status.last_loop_at),
        last_error=last,
        recent_errors=errors,
    )
    stall = snap.stall
    if stall is not None:
        stall = dataclasses.replace(stall, when=move(stall.when))
    return dataclasses.replace(
        snap, status=status, stall=stall, kill_requested_at=move(snap.kill_requested_at)
    )
