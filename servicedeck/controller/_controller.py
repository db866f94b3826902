"""`ServiceController`: the in-process implementation of the control protocol.

It owns one instance of each service class and the tasks that run them, through its
parts: `ServiceRegistry` (the entries, instances and snapshots, `_registry`),
`ServiceTasks` (the tasks: start, stop, kill, stop-all, `_tasks`), `CodeReload` (restart
with changed code, a reload's new classes, `_reload`) and `Subscribers` (the change
stream, shared with the remote client: `control/_subscribers.py`). The controller is the
protocol's face: it hands each command to its part.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from types import TracebackType
from typing import Any

import anyio

import servicedeck
from servicedeck import (
    AwaitStack,
    Coordinator,
    LoopService,
    Service,
    check_unique_names,
)
from servicedeck.control import (
    Command,
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    Stall,
    StopReport,
    wait_until,
)
from servicedeck.control._subscribers import Subscribers
from servicedeck.controller._debugger import TakeTerminal, TerminalDebugger
from servicedeck.controller._fatal import Fatal
from servicedeck.controller._logs import LogCapture
from servicedeck.controller._registry import ServiceRegistry
from servicedeck.controller._reload import CodeReload, ReloadHook, ReloadOutcome
from servicedeck.controller._settings import load_settings
from servicedeck.controller._tasks import DEFAULT_STOP_TIMEOUT, ServiceTasks
from servicedeck.controller._watchdog import LoopWatchdog

__all__ = ["DEFAULT_STOP_TIMEOUT", "ReloadHook", "ReloadOutcome", "ServiceController"]

logger = logging.getLogger("servicedeck")


class ServiceController:
    """Owns one instance of each service class and the tasks that run them.

    The in-process implementation of `servicedeck.control.ServiceControl`. Use it as an
    async context manager: inside, commands may start tasks; on exit every service is
    stopped (then cancelled after a timeout).

        async with ServiceController([Reaper, Relay]) as controller:
            await controller.step("Reaper")          # setup, one loop, teardown
            print(controller.snapshot("Reaper").status.loop_count)

    Args:
        classes: the service classes, in display order.
        clock: the monotonic clock (default `anyio.current_time`); given to every
            service, so tests and snapshot tests can drive time.
        log_capacity: log lines kept per service.
        capture_logs: capture each service's log records (see `logs()`).
        propagate_logs: let service log records reach the root logger too; a
            full-screen console passes False so nothing is written over it.
        stall_threshold: seconds of event-loop lag that count as a stall: a
            `LoopWatchdog` names the service whose synchronous code blocked the loop
            (`ServiceSnapshot.stall`, and a warning in its log). None: no watchdog.
        root: paths under this folder are shown relative to it (`process.root`);
            default: the working directory.
        coordinator: with several replicas, run each service that is not
            `RunInAllServers` only while this process holds its lease (see
            `servicedeck.coordinate`); entered by the caller, around the controller.
            Its services' snapshots then show their lease (`status.lease`), and a
            standby refuses to start or step.

    Raises:
        DuplicateServiceError: two classes share a service name.
        ValueError: `stall_threshold` is not a number of seconds > 0 (or None).
    """

    def __init__(
        self,
        classes: Sequence[type[Service]],
        *,
        clock: Callable[[], float] | None = None,
        log_capacity: int = 200,
        capture_logs: bool = True,
        propagate_logs: bool = True,
        stall_threshold: float | None = 0.5,
        root: str | None = None,
        coordinator: Coordinator | None = None,
    ) -> None:
        check_unique_names(classes)
        if coordinator is not None and not isinstance(coordinator, Coordinator):
            raise TypeError(f"coordinator must be a Coordinator, got {coordinator!r}")
        self._clock = clock or anyio.current_time
        self._default_clock = clock is None
        self._process = ProcessInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            root=os.getcwd() if root is None else root,
            framework_path=os.path.dirname(inspect.getfile(Service)),
            version=servicedeck.__version__,
        )
        self._watchdog = (
            None
            if stall_threshold is None
            else LoopWatchdog(threshold=stall_threshold, on_stall=self._on_stall, clock=self.now)
        )
        self._changes = Subscribers(logger, "controller")
        self._capture = (
            LogCapture(log_capacity, on_record=self._changes.changed, clock=self._clock)
            if capture_logs
            else None
        )
        self._propagate_logs = propagate_logs
        self._epoch: float | None = None
        self._fatal = Fatal()
        self._services = ServiceRegistry(
            clock=self._clock,
            now=self.now,
            changed=self._changes.changed,
            capture=self._capture,
            fatal=self._fatal,
            watchdog=self._watchdog,
        )
        self._tasks = ServiceTasks(
            self._services,
            now=self.now,
            changed=self._changes.changed,
            fatal=self._fatal,
            coordinator=coordinator,
        )
        self._reload = CodeReload(
            self._services, self._tasks, now=self.now, changed=self._changes.changed
        )
        self._take_terminal: TakeTerminal | None = None
        for cls in classes:
            self._services.add(cls)

    # -- life cycle -------------------------------------------------------------------

    async def __aenter__(self) -> ServiceController:
        if self._default_clock:
            self._clock = _running_clock()
        if self._capture is not None:
            self._capture.attach(propagate=self._propagate_logs)
        self._epoch = self._clock()
        self._fatal.what = None
        tg = await self._tasks.open()
        if self._watchdog is not None:
            await tg.start(self._watchdog.run, name="servicedeck:watchdog")
        await self._tasks.start_beside()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tasks.tg is not None, "controller was not entered"
        try:
            swallowed = await self._tasks.close(exc_type, exc, tb)
        finally:
            if self._capture is not None:
                self._capture.detach()
            self._services.release_log_levels()
            if self._default_clock:
                self._clock = anyio.current_time
        # Every service has stopped: now the process may exit.
        self._fatal.raise_held()
        return swallowed

    def run_beside(self, work: Callable[..., Coroutine[Any, Any, None]]) -> None:
        """Run `work` (e.g. `Reloader.watch`) while the controller is entered: started with
        `TaskGroup.start()` on entry (it calls `task_status.started()`), cancelled before
        the services stop on exit."""
        self._tasks.run_beside(work)

    # -- reading ----------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Service names, in display order."""
        return tuple(self._services.entries)

    @property
    def process(self) -> ProcessInfo:
        """This process: its pid and host, and how its paths are shown."""
        return self._process

    def now(self) -> float:
        """The controller's clock (monotonic), the time base of every status.

        Outside an event loop anyio's default clock cannot be read; the monotonic clock
        (asyncio's) stands in, so a controller can be built and read before `anyio.run`.
        """
        try:
            return self._clock()
        except Exception:  # anyio.NoEventLoopError (sniffio's error on older anyio)
            return time.monotonic()

    @property
    def epoch(self) -> float | None:
        """The clock's time when the controller was entered (None before): session time 0."""
        return self._epoch

    @property
    def entered(self) -> bool:
        """True inside `async with controller:` (commands that start tasks work)."""
        return self._tasks.tg is not None

    @property
    def owns_services(self) -> bool:
        """True: the controller runs its services, and leaving it stops them."""
        return True

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Empty: the services run in this process."""
        return ()

    def heartbeat_age(self) -> float | None:
        """Seconds since the watchdog's heartbeat last beat in the event loop; None when
        the controller runs no watchdog (`stall_threshold=None`) or is not entered."""
        if self._watchdog is None or self._tasks.tg is None:
            return None
        return max(time.monotonic() - self._watchdog.last_beat, 0.0)

    def snapshot(self, name: str) -> ServiceSnapshot:
        """A consistent snapshot of service `name`.

        Raises:
            KeyError: no service has that name.
        """
        return self._services.snapshot(name)

    def snapshots(self) -> list[ServiceSnapshot]:
        """Snapshots of every service, in display order."""
        return [self.snapshot(name) for name in self._services.entries]

    def logs(self, name: str) -> list[LogLine]:
        """The captured log lines of service `name`, oldest first."""
        self._services.entry(name)
        return self._capture.lines(name) if self._capture else []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change of a service (state, counters, logs).

        Called synchronously, often: coalesce in the callback. Returns an unsubscriber.
        """
        return self._changes.subscribe(callback)

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is not allowed on service `name` now, or None if it is."""
        return self._services.check(name, command)

    async def where(self, name: str) -> AwaitStack | None:
        """Where the task of service `name` waits now (see `Service.await_stack()`);
        None when it has no running task."""
        entry = self._services.entry(name)
        if entry.instance is None or entry.scope is None:
            return None
        return entry.instance.await_stack()

    # -- commands ---------------------------------------------------------------------

    async def start(self, name: str) -> None:
        """Start service `name` as a task; a paused one is resumed (running or not).

        Raises:
            CommandError: it is running (and not paused) already, or its settings or
                `__init__` fail.
        """
        self._tasks.start(name)

    async def step(self, name: str, loops: int = 1) -> None:
        """Run `loops` loops of service `name` now, and wait until they have run.

        Stopped: setup, exactly `loops` loops, teardown. Sleeping or paused: the loops
        run at once and the service goes back to its schedule (or stays paused).

        Raises:
            ValueError: `loops` is not a whole number >= 1 (whatever the service's state).
            CommandError: its state refuses a step now.
        """
        if isinstance(loops, bool) or not isinstance(loops, int) or loops < 1:
            # Checked here: a stopped service's step runs in a task of its own, where the
            # framework's own ValueError would only end that task.
            raise ValueError(f"loops must be a whole number >= 1, got {loops!r}")
        entry = self._services.allow(name, Command.STEP)
        service = self._services.require_instance(entry)
        assert isinstance(service, LoopService)
        entry.paused_on_error = False
        if entry.scope is not None and not service.is_running:
            # Its task was spawned (start, pause) but its run has not begun: run_now()
            # would make a whole run of its own beside it. Step the started run instead.
            await wait_until(self, lambda: service.is_running or entry.scope is None)
        if entry.scope is None:
            work = self._tasks.leased(service, lambda: service.run_now(loops))
            await self._tasks.spawn(entry, work).wait()
        else:
            await service.run_now(loops)

    async def pause(self, name: str) -> None:
        """Pause service `name` after its current loop; a stopped one starts paused
        (setup, then waits for `step` or `resume`)."""
        self._tasks.start_paused(self._services.allow(name, Command.PAUSE))

    async def resume(self, name: str) -> None:
        """Resume a paused service."""
        entry = self._services.allow(name, Command.RESUME)
        service = entry.instance
        assert isinstance(service, LoopService)
        entry.paused_on_error = False
        service.resume()

    async def stop(self, name: str, *, block: bool = True, timeout: float | None = None) -> bool:
        """Ask service `name` to stop; with `block`, wait until it has.

        Args:
            block: wait until its task ended (teardown done).
            timeout: how long `block` waits; default the loop interval (at least 1 s),
                or 5 s for a non-loop service. On timeout the service is marked stuck.

        Returns:
            True when it has stopped (always True-ish for `block=False`: the request was made).
        """
        return await self._tasks.stop(name, block=block, timeout=timeout)

    async def cancel_steps(self, name: str) -> int:
        """Drop the loops of service `name` that `step` queued and that have not started;
        every `step` waiting for them returns. Returns how many were dropped."""
        entry = self._services.allow(name, Command.CANCEL_STEPS)
        service = entry.instance
        assert isinstance(service, LoopService)
        return service.cancel_steps()

    async def kill(self, name: str) -> None:
        """Cancel the task of service `name` (its teardown still runs, shielded).

        The kill is recorded: a warning in the service's log, `kill_requested_at` in its
        snapshot until the task ends, and another warning if it has not ended after
        `KILL_GRACE` seconds (it shields itself from cancellation, or blocks).
        """
        self._tasks.kill(self._services.allow(name, Command.KILL))

    async def restart(self, name: str) -> RestartReport:
        """Stop service `name` (blocking) if it runs, then start it again. With a reload
        hook (`--reload`) and changed code, it is reloaded and started with the new code.

        Returns:
            What it did (also logged in the service's log), for a notification.

        Raises:
            CommandError: it did not stop in time (it is then stuck, and not restarted),
                or its changed code does not import (the old code runs on).
        """
        return await self._reload.restart(name)

    async def debug(self, name: str) -> None:
        """Run the next loop of service `name` under pdb, stopped at the first line of its
        `run_once`, and wait until that loop has run (recorded as for `step`).

        pdb takes the terminal through the hook given to `use_terminal()` (the console's
        `App.suspend`) and gives it back on `c`; the event loop is blocked meanwhile, and
        the stall watchdog does not count it as a stall.
        """
        entry = self._services.allow(name, Command.DEBUG)
        service = self._services.require_instance(entry)
        assert isinstance(service, LoopService)
        debugger = self._debugger()
        debugger.break_in(type(service).run_once, service)
        try:
            await self.step(name)
        finally:
            debugger.disarm()

    def use_terminal(self, take_terminal: TakeTerminal | None) -> None:
        """How pdb takes the terminal from whoever draws on it (`debug()`,
        `breakpointhook()`): a context manager factory such as Textual's `App.suspend`;
        None: the terminal is free."""
        self._take_terminal = take_terminal

    def breakpointhook(self, *args: object, **kwargs: object) -> None:
        """`sys.breakpointhook` for a process whose terminal a console holds: a
        `breakpoint()` in service code stops in pdb with the terminal handed over (as
        `debug()` does), instead of writing over the screen."""
        self._debugger().set_trace(sys._getframe(1))

    def _debugger(self) -> TerminalDebugger:
        watchdog = self._watchdog
        return TerminalDebugger(self._take_terminal, None if watchdog is None else watchdog.hold)

    async def set_enabled(self, name: str, enabled: bool | None) -> None:
        """Override whether service `name` is enabled, for this session (None: no override).

        This decides whether `start_enabled()` starts it; it does not start or stop it.
        """
        self._services.set_enabled(name, enabled)

    async def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception: when a loop of service `name` raises, pause it and drop its
        queued steps (a `step(name, 5)` returns after the first failing loop)."""
        self._services.set_pause_on_error(name, on)

    async def set_log_level(self, name: str, level: int | None) -> None:
        """Capture the log records of service `name` from `level` up (e.g.
        `logging.DEBUG`), for this session; None: back to the default.

        Raises:
            ValueError: `level` is not a logging level (a whole number >= 0) or None.
        """
        self._services.set_log_level(name, level)

    async def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start every enabled service that is not running; returns their names.

        Args:
            paused: start each loop service paused (setup done, no loop run: `step`
                runs loops, `resume` or `start` lets it loop), and leave every service
                that is not a loop stopped: it cannot be paused, and its `start()` is
                all of its work.
        """
        return self._tasks.start_enabled(paused=paused)

    async def stop_all(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> StopReport:
        """Stop every running service together; cancel those not stopped after `timeout`.

        One still running `timeout` after its cancellation ignores it: it is marked
        stuck, and this returns without waiting for it (its task still runs). The report
        has each service's own outcome (`stopped`, `cancelled`, `stuck`) and time.
        """
        return await self._tasks.stop_all(timeout)

    async def wait_stopped(self, names: Iterable[str] | None = None) -> None:
        """Return once none of `names` (default: every service) has a task."""
        await self._tasks.wait_stopped(names)

    # -- reloading changed code (servicedeck.reload drives these) --------------------------

    def set_reload_hook(self, hook: ReloadHook | None) -> None:
        """What `restart()` asks first: `hook(name)` reloads the service's code if it
        changed, returning the changed files (empty: unchanged). None: no reloading."""
        self._reload.hook = hook

    def class_of(self, name: str) -> type[Service]:
        """The class service `name` is made from now."""
        return self._services.entry(name).cls

    async def replace_classes(
        self, classes: Sequence[type[Service]], modules: Collection[str]
    ) -> ReloadOutcome:
        """Take `classes` (what the services' modules define after a reload of `modules`):
        each service whose class comes from one of `modules` is stopped (teardown runs),
        made again from its new class and put back in the state it was in (running,
        paused or stopped; its enabled override and break on error kept); a class that is
        gone is marked removed; a new one is added, stopped. The others run on.

        Raises:
            DuplicateServiceError: two of `classes` share a service name.
        """
        return await self._reload.replace_classes(classes, modules)

    def set_reload_error(self, names: Iterable[str], error: str | None) -> None:
        """Mark services `names` as running their old code because a reload failed with
        `error` (one line: file, line, error); None clears it."""
        self._reload.set_error(names, error)

    def reload_settings(self, name: str | None = None) -> None:
        """Read the settings of service `name` (or of all) from the environment again."""
        entries = self._services.entries
        for entry in [self._services.entry(name)] if name else list(entries.values()):
            load_settings(entry)
            self._changes.changed(entry.name)

    # -- machinery --------------------------------------------------------------------

    def _on_stall(self, stall: Stall) -> None:
        # The watchdog is made before the registry it reports to.
        self._services.record_stall(stall)


def _running_clock() -> Callable[[], float]:
    """The running event loop's clock, for `now()`: on asyncio the loop's own `time`
    (monotonic, and readable from the watchdog's thread), so that each of the thousands
    of snapshots a second that the console and the event stream read skips anyio's
    backend lookup; on any other backend `anyio.current_time`."""
    try:
        return asyncio.get_running_loop().time
    except RuntimeError:  # not asyncio (trio)
        return anyio.current_time
