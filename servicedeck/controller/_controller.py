"""`ServiceController`: the in-process implementation of the control protocol.

It owns one instance of each service class and the tasks that run them.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio

import servicedeck
from servicedeck import (
    AwaitStack,
    Coordinator,
    ErrorInfo,
    LoopService,
    RunInAllServers,
    Service,
    ServiceSettingsError,
    check_unique_names,
    run_with_lease,
    service_name,
)
from servicedeck.control import (
    Command,
    CommandError,
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    ServiceStop,
    Stall,
    StopReport,
    refusal,
    wait_until,
)
from servicedeck.controller._debugger import TakeTerminal, TerminalDebugger
from servicedeck.controller._entry import Entry
from servicedeck.controller._fatal import Fatal
from servicedeck.controller._logs import LOGGER_PREFIX, LogCapture
from servicedeck.controller._settings import load_settings
from servicedeck.controller._watchdog import LoopWatchdog

logger = logging.getLogger("servicedeck")

DEFAULT_STOP_TIMEOUT = 5.0
"""How long a blocking stop of a non-loop service, or a stop-all, waits per service."""

KILL_GRACE = 1.0
"""Seconds a killed service's task may take to end before a warning says it runs on."""

ReloadHook = Callable[[str], Awaitable[tuple[str, ...]]]
"""`hook(name)`: reload service `name`'s code if it changed; the changed files, or ()."""


@dataclass
class ReloadOutcome:
    """What `ServiceController.replace_classes()` did, by service name."""

    reloaded: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    """Did not stop in time: they run on with their old code."""


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
        self._coordinator = coordinator
        self._clock = clock or anyio.current_time
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
        self._subscribers: list[Callable[[str], None]] = []
        self._entries: dict[str, Entry] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._capture = (
            LogCapture(log_capacity, on_record=self._changed, clock=self._clock)
            if capture_logs
            else None
        )
        self._propagate_logs = propagate_logs
        self._epoch: float | None = None
        self._fatal = Fatal()
        self._take_terminal: TakeTerminal | None = None
        self._beside: list[Callable[..., Coroutine[Any, Any, None]]] = []
        self._beside_scope: anyio.CancelScope | None = None
        self._reload_hook: ReloadHook | None = None
        for cls in classes:
            self._add(cls)

    # -- life cycle -------------------------------------------------------------------

    async def __aenter__(self) -> ServiceController:
        if self._capture is not None:
            self._capture.attach(propagate=self._propagate_logs)
        self._epoch = self._clock()
        self._fatal.what = None
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self._watchdog is not None:
            await self._tg.start(self._watchdog.run, name="servicedeck:watchdog")
        if self._beside:
            self._beside_scope = anyio.CancelScope()
            await self._tg.start(self._run_beside, name="servicedeck:beside")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        assert tg is not None, "controller was not entered"
        try:
            if self._beside_scope is not None:
                self._beside_scope.cancel()  # e.g. a reloader: nothing restarts a service now
            with anyio.CancelScope(shield=True):
                await self.stop_all()
            tg.cancel_scope.cancel()
            if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
                swallowed = await tg.__aexit__(exc_type, exc, tb)
            else:
                # The block's own exception goes on as itself: handed to the task group,
                # it would come out wrapped in an exception group.
                await tg.__aexit__(None, None, None)
                swallowed = False
        finally:
            self._tg = None
            if self._capture is not None:
                self._capture.detach()
            for entry in self._entries.values():
                if entry.log_level is not None:  # the loggers are the process's: give back
                    entry.log_level = None
                    _log_of(entry.name).setLevel(logging.NOTSET)
        # Every service has stopped: now the process may exit.
        self._fatal.raise_held()
        return swallowed

    # -- reading ----------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Service names, in display order."""
        return tuple(self._entries)

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
        return self._tg is not None

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
        if self._watchdog is None or self._tg is None:
            return None
        return max(time.monotonic() - self._watchdog.last_beat, 0.0)

    def snapshot(self, name: str) -> ServiceSnapshot:
        """A consistent snapshot of service `name`.

        Raises:
            KeyError: no service has that name.
        """
        entry = self._entry(name)
        return entry.snapshot(self.now(), self._capture.count(name) if self._capture else 0)

    def snapshots(self) -> list[ServiceSnapshot]:
        """Snapshots of every service, in display order."""
        return [self.snapshot(name) for name in self._entries]

    def logs(self, name: str) -> list[LogLine]:
        """The captured log lines of service `name`, oldest first."""
        self._entry(name)
        return self._capture.lines(name) if self._capture else []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change of a service (state, counters, logs).

        Called synchronously, often: coalesce in the callback. Returns an unsubscriber.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is not allowed on service `name` now, or None if it is."""
        return refusal(self.snapshot(name), command, self._fatal.what)

    async def where(self, name: str) -> AwaitStack | None:
        """Where the task of service `name` waits now (see `Service.await_stack()`);
        None when it has no running task."""
        entry = self._entry(name)
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
        self._start(name)

    def _start(self, name: str) -> None:
        """Start service `name` as a task; a paused one is resumed (running or not).

        Raises:
            CommandError: it is running (and not paused) already, or its settings or
                `__init__` fail.
        """
        entry = self._allow(name, Command.START)
        service = self._require_instance(entry)
        if isinstance(service, LoopService):
            service.resume()
        entry.paused_on_error = False
        if entry.scope is None:
            self._spawn(entry, self._leased(service, service.start))
        else:
            self._changed(name)  # a paused run, resumed

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
        entry = self._allow(name, Command.STEP)
        service = self._require_instance(entry)
        assert isinstance(service, LoopService)
        entry.paused_on_error = False
        if entry.scope is not None and not service.is_running:
            # Its task was spawned (start, pause) but its run has not begun: run_now()
            # would make a whole run of its own beside it. Step the started run instead.
            await wait_until(self, lambda: service.is_running or entry.scope is None)
        if entry.scope is None:
            done = self._spawn(entry, self._leased(service, lambda: service.run_now(loops)))
            await done.wait()
        else:
            await service.run_now(loops)

    async def pause(self, name: str) -> None:
        """Pause service `name` after its current loop; a stopped one starts paused
        (setup, then waits for `step` or `resume`)."""
        self._start_paused(self._allow(name, Command.PAUSE))

    def _start_paused(self, entry: Entry) -> None:
        """Pause the loop service of `entry`, starting it (paused) if it is stopped."""
        service = self._require_instance(entry)
        assert isinstance(service, LoopService)
        service.pause()
        if entry.scope is None:
            self._spawn(entry, self._leased(service, service.start))

    async def resume(self, name: str) -> None:
        """Resume a paused service."""
        entry = self._allow(name, Command.RESUME)
        service = entry.instance
        assert isinstance(service, LoopService)
        entry.paused_on_error = False
        service.resume()

    async def stop(
        self,
        name: str,
        *,
        block: bool = True,
        timeout: float | None = None,
    ) -> bool:
        """Ask service `name` to stop; with `block`, wait until it has.

        Args:
            block: wait until its task ended (teardown done).
            timeout: how long `block` waits; default the loop interval (at least 1 s),
                or 5 s for a non-loop service. On timeout the service is marked stuck.

        Returns:
            True when it has stopped (always True-ish for `block=False`: the request was made).
        """
        entry = self._allow(name, Command.STOP)
        service = self._require_instance(entry)
        done = entry.done
        if isinstance(service, LoopService):
            await service.stop(block=False)
            limit = timeout if timeout is not None else max(float(service.loop_seconds), 1.0)
        else:
            self._tg_required().start_soon(self._stop_plain, entry, service)
            limit = timeout if timeout is not None else DEFAULT_STOP_TIMEOUT
        self._changed(name)
        if not block or done is None:
            return True
        with anyio.move_on_after(limit):
            await done.wait()
        if not done.is_set():
            entry.stuck = True
            service.logger.warning(
                "%s did not stop within %.3g s; it is stuck (kill cancels it)", name, limit
            )
            self._changed(name)
            return False
        return True

    async def cancel_steps(self, name: str) -> int:
        """Drop the loops of service `name` that `step` queued and that have not started;
        every `step` waiting for them returns. Returns how many were dropped."""
        entry = self._allow(name, Command.CANCEL_STEPS)
        service = entry.instance
        assert isinstance(service, LoopService)
        return service.cancel_steps()

    async def kill(self, name: str) -> None:
        """Cancel the task of service `name` (its teardown still runs, shielded).

        The kill is recorded: a warning in the service's log, `kill_requested_at` in its
        snapshot until the task ends, and another warning if it has not ended after
        `KILL_GRACE` seconds (it shields itself from cancellation, or blocks).
        """
        self._kill(self._allow(name, Command.KILL))

    def _kill(self, entry: Entry, why: str = "") -> None:
        """Cancel the task of `entry`, recorded as `kill()` says; `why` ends the log line's
        first part (e.g. ` (it did not stop within 5 s)`)."""
        scope, done = entry.scope, entry.done
        assert scope is not None
        assert done is not None
        if entry.kill_requested_at is None:
            entry.kill_requested_at = self.now()
            _log_of(entry.name).warning("%s: killed%s: its task is cancelled", entry.name, why)
            self._tg_required().start_soon(
                self._watch_kill, entry, done, name=f"servicedeck:kill:{entry.name}"
            )
        scope.cancel()
        self._changed(entry.name)

    async def _watch_kill(self, entry: Entry, done: anyio.Event) -> None:
        with anyio.move_on_after(KILL_GRACE):
            await done.wait()
        if not done.is_set():
            _log_of(entry.name).warning(
                "%s is still running %.3g s after it was killed: it does not give way to "
                "cancellation (a shielded cancel scope, or code that never awaits)",
                entry.name,
                KILL_GRACE,
            )
            self._changed(entry.name)

    async def restart(self, name: str) -> RestartReport:
        """Stop service `name` (blocking) if it runs, then start it again. With a reload
        hook (`--reload`) and changed code, it is reloaded and started with the new code.

        Returns:
            What it did (also logged in the service's log), for a notification.

        Raises:
            CommandError: it did not stop in time (it is then stuck, and not restarted),
                or its changed code does not import (the old code runs on).
        """
        entry = self._allow(name, Command.RESTART)
        was_running = entry.scope is not None
        began = time.perf_counter()
        reloaded: tuple[str, ...] = ()
        if self._reload_hook is not None:
            reloaded = await self._reload_hook(name)
            entry = self._entry(name)
        if reloaded:
            stop_seconds = entry.last_stop_seconds
            if entry.scope is None:
                self._start(name)
        else:
            if was_running and not await self.stop(name, block=True):
                raise CommandError(f"{name} did not stop; not restarted")
            stop_seconds = time.perf_counter() - began if was_running else 0.0
            self._start(name)
        report = RestartReport(
            name, was_running, stop_seconds, reloaded, watching=self._reload_hook is not None
        )
        _log_of(name).info("%s", report.summary)
        return report

    async def debug(self, name: str) -> None:
        """Run the next loop of service `name` under pdb, stopped at the first line of its
        `run_once`, and wait until that loop has run (recorded as for `step`).

        pdb takes the terminal through the hook given to `use_terminal()` (the console's
        `App.suspend`) and gives it back on `c`; the event loop is blocked meanwhile, and
        the stall watchdog does not count it as a stall.
        """
        entry = self._allow(name, Command.DEBUG)
        service = self._require_instance(entry)
        assert isinstance(service, LoopService)
        debugger = self._debugger()
        debugger.break_in(type(service).run_once, service)
        try:
            await self.step(name)
        finally:
            debugger.disarm()

    def run_beside(self, work: Callable[..., Coroutine[Any, Any, None]]) -> None:
        """Run `work` (e.g. `Reloader.watch`) while the controller is entered: started with
        `TaskGroup.start()` on entry (it calls `task_status.started()`), cancelled before
        the services stop on exit."""
        self._beside.append(work)

    async def _run_beside(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        assert self._beside_scope is not None
        with self._beside_scope:
            async with anyio.create_task_group() as tg:
                for work in self._beside:
                    await tg.start(work)
                task_status.started()

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
        entry = self._entry(name)
        entry.override = enabled
        self._changed(name)

    async def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception: when a loop of service `name` raises, pause it and drop its
        queued steps (a `step(name, 5)` returns after the first failing loop)."""
        entry = self._allow(name, Command.PAUSE_ON_ERROR)
        entry.pause_on_error = on
        if entry.instance is not None:
            entry.errors_seen = entry.instance.status.error_count
        self._changed(name)

    async def set_log_level(self, name: str, level: int | None) -> None:
        """Capture the log records of service `name` from `level` up (e.g.
        `logging.DEBUG`), for this session; None: back to the default.

        Raises:
            ValueError: `level` is not a logging level (a whole number >= 0) or None.
        """
        entry = self._entry(name)
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, int) or level < 0
        ):
            raise ValueError(
                f"a log level is a whole number >= 0 such as logging.DEBUG (10), or None; "
                f"got {level!r}"
            )
        entry.log_level = level
        _log_of(name).setLevel(logging.NOTSET if level is None else level)
        self._changed(name)

    async def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start every enabled service that is not running; returns their names.

        Args:
            paused: start each loop service paused (setup done, no loop run: `step`
                runs loops, `resume` or `start` lets it loop), and leave every service
                that is not a loop stopped: it cannot be paused, and its `start()` is
                all of its work.
        """
        started = []
        for entry in self._entries.values():
            snap_enabled = entry.override if entry.override is not None else entry.enabled
            if (
                snap_enabled
                and entry.scope is None
                and self.check(entry.name, Command.START) is None
                and (not paused or entry.kind == "loop")
            ):
                try:
                    if paused:
                        self._start_paused(entry)
                    else:
                        self._start(entry.name)
                except CommandError as exc:
                    logger.error("%s", exc)
                    continue
                started.append(entry.name)
        return started

    async def stop_all(
        self,
        timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> StopReport:
        """Stop every running service together; cancel those not stopped after `timeout`.

        One still running `timeout` after its cancellation ignores it: it is marked
        stuck, and this returns without waiting for it (its task still runs). The report
        has each service's own outcome (`stopped`, `cancelled`, `stuck`) and time.
        """
        began = time.perf_counter()
        running = [e for e in self._entries.values() if e.scope is not None]
        outcomes: dict[str, ServiceStop] = {}

        async def stop_one(entry: Entry) -> None:
            done = entry.done
            if entry.scope is None or done is None:
                return
            with contextlib.suppress(CommandError):  # stopping already: wait all the same
                await self.stop(entry.name, block=False)
            outcome = "stopped"
            with anyio.move_on_after(timeout):
                await done.wait()
            if entry.scope is not None and not done.is_set():
                outcome = "cancelled"
                self._kill(entry, f" (it did not stop within {timeout:.3g} s)")
                with anyio.move_on_after(timeout):
                    await done.wait()
                if not done.is_set():
                    outcome = "stuck"
                    entry.stuck = True
                    _log_of(entry.name).warning(
                        "%s: did not end within %.3g s of its cancellation either: it is "
                        "stuck (it ignores cancellation), and still running",
                        entry.name,
                        timeout,
                    )
                    self._changed(entry.name)
            outcomes[entry.name] = ServiceStop(entry.name, outcome, time.perf_counter() - began)

        async with anyio.create_task_group() as tg:
            for entry in running:
                tg.start_soon(stop_one, entry)
        services = tuple(outcomes[e.name] for e in running if e.name in outcomes)
        return StopReport(services, time.perf_counter() - began)

    async def wait_stopped(self, names: Iterable[str] | None = None) -> None:
        """Return once none of `names` (default: every service) has a task."""
        entries = [self._entry(name) for name in (self._entries if names is None else names)]
        for entry in entries:
            while entry.done is not None and entry.scope is not None:
                await entry.done.wait()

    # -- reloading changed code (servicedeck.reload drives these) --------------------------

    def set_reload_hook(self, hook: ReloadHook | None) -> None:
        """What `restart()` asks first: `hook(name)` reloads the service's code if it
        changed, returning the changed files (empty: unchanged). None: no reloading."""
        self._reload_hook = hook

    def class_of(self, name: str) -> type[Service]:
        """The class service `name` is made from now."""
        return self._entry(name).cls

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
        check_unique_names(classes)
        new = {service_name(cls): cls for cls in classes}
        outcome = ReloadOutcome()
        for name, entry in list(self._entries.items()):
            if entry.cls.__module__ not in modules or entry.removed:
                continue
            cls = new.get(name)
            was = await self._stop_for_reload(entry)
            if was is None:
                outcome.stuck.append(name)
                continue
            self._forget_instance(entry)
            if cls is None:
                entry.removed = True
                entry.reload_error = None
                _log_of(name).warning("%s: removed (its class is gone from its module)", name)
                outcome.removed.append(name)
            else:
                entry.describe(cls)
                load_settings(entry)
                self._instantiate(entry)
                entry.reloaded_at = self.now()
                entry.reload_error = None
                _log_of(name).info("%s: reloaded (new code)", name)
                outcome.reloaded.append(name)
                self._restore(entry, was)
            self._changed(name)
        for name, cls in new.items():
            if name not in self._entries or self._entries[name].removed:
                self._entries.pop(name, None)
                entry = self._add(cls)
                entry.reloaded_at = self.now()
                _log_of(name).info("%s: added by a reload (stopped: start it with s)", name)
                outcome.added.append(name)
                self._changed(name)
        return outcome

    def set_reload_error(self, names: Iterable[str], error: str | None) -> None:
        """Mark services `names` as running their old code because a reload failed with
        `error` (one line: file, line, error); None clears it."""
        for name in names:
            entry = self._entry(name)
            if entry.reload_error != error:
                entry.reload_error = error
                self._changed(name)

    def _add(self, cls: type[Service]) -> Entry:
        entry = Entry(cls=cls, name=service_name(cls))
        entry.describe(cls)
        self._entries[entry.name] = entry
        load_settings(entry)
        self._instantiate(entry)
        return entry

    async def _stop_for_reload(self, entry: Entry) -> str | None:
        """Stop `entry`'s service (waiting) and say what state to restore: `running`,
        `paused` or `stopped`; None when it did not stop (it keeps its old code)."""
        if entry.scope is None:
            return "stopped"
        service = entry.instance
        paused = isinstance(service, LoopService) and service.is_paused
        began = time.perf_counter()
        done = entry.done
        try:
            stopped = await self.stop(entry.name, block=True)
        except CommandError:  # stopping already: wait for it as a stop would
            with anyio.move_on_after(DEFAULT_STOP_TIMEOUT):
                if done is not None:
                    await done.wait()
            stopped = entry.scope is None
        if not stopped:
            return None
        entry.last_stop_seconds = time.perf_counter() - began
        return "paused" if paused else "running"

    def _restore(self, entry: Entry, was: str) -> None:
        if entry.instance is None:
            return  # its new __init__ raised: the row shows why
        if was == "running":
            self._start(entry.name)
        elif was == "paused":
            self._start_paused(entry)

    def _forget_instance(self, entry: Entry) -> None:
        """Let go of the old instance, so that its class and module can be collected."""
        if entry.unsubscribe is not None:
            entry.unsubscribe()
            entry.unsubscribe = None
        if self._watchdog is not None:
            self._watchdog.forget(entry.name)
        entry.instance = None
        entry.stall = None

    def reload_settings(self, name: str | None = None) -> None:
        """Read the settings of service `name` (or of all) from the environment again."""
        for entry in [self._entry(name)] if name else list(self._entries.values()):
            load_settings(entry)
            self._changed(entry.name)

    # -- machinery --------------------------------------------------------------------

    def _entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(
                f"no service named {name!r}; known: {', '.join(self._entries)}"
            ) from None

    def _allow(self, name: str, command: Command) -> Entry:
        reason = self.check(name, command)
        if reason is not None:
            raise CommandError(reason)
        return self._entry(name)

    def _tg_required(self) -> anyio.abc.TaskGroup:
        if self._tg is None:
            raise RuntimeError("use the controller as `async with ServiceController(...)` first")
        return self._tg

    def _require_instance(self, entry: Entry) -> Service:
        if entry.instance is None:
            self._instantiate(entry)
        if entry.instance is None:
            assert entry.init_error is not None
            raise CommandError(f"{entry.name} failed to initialise: {entry.init_error.summary}")
        return entry.instance

    def _instantiate(self, entry: Entry) -> None:
        try:
            service = entry.cls()
        except (Exception, SystemExit) as exc:
            # SystemExit too (a `sys.exit("no DATABASE_URL")` in `__init__`): it would end
            # the command silently, without a word of which service did it.
            tb = exc.__traceback__
            if tb is not None and tb.tb_next is not None:
                # Start at the class's own code: this frame tells the user nothing.
                exc.__traceback__ = tb.tb_next
            entry.init_error = ErrorInfo(exc, when=self.now(), phase="init")
            log = _log_of(entry.name)
            if isinstance(exc, ServiceSettingsError) and entry.settings_error is not None:
                # Its settings error is reported as such (a row, `run`'s "not started"):
                # a traceback of reading the environment would only repeat it.
                log.debug("%s failed to initialise: %s", entry.name, exc)
            else:
                log.error("%s failed to initialise: %r", entry.name, exc, exc_info=exc)
            return
        entry.init_error = None
        service.set_clock(self._clock)
        entry.instance = service
        entry.errors_seen = service.status.error_count
        entry.unsubscribe = service.subscribe(self._on_service_change)
        if self._watchdog is not None:
            self._watchdog.watch(service)

    def _leased(self, service: Service, work: Callable[[], Any]) -> Callable[[], Any]:
        """`work`, run only while this process holds the service's lease (if leased)."""
        coordinator = self._coordinator
        if coordinator is None or isinstance(service, RunInAllServers):
            return work
        return lambda: run_with_lease(service, coordinator, work)

    def _spawn(self, entry: Entry, work: Callable[[], Any]) -> anyio.Event:
        tg = self._tg_required()
        if entry.scope is not None:
            raise CommandError(f"{entry.name} is already running")
        scope = anyio.CancelScope()
        done = anyio.Event()
        entry.scope, entry.done, entry.stuck = scope, done, False
        entry.kill_requested_at = None
        tg.start_soon(self._run_task, entry, work, scope, done, name=f"servicedeck:{entry.name}")
        self._changed(entry.name)
        return done

    async def _run_task(
        self, entry: Entry, work: Callable[[], Any], scope: anyio.CancelScope, done: anyio.Event
    ) -> None:
        task = anyio.get_current_task().id
        try:
            with scope:
                await work()
        except anyio.get_cancelled_exc_class():
            raise  # the controller's own task group is being cancelled
        except Exception as exc:
            # The framework recorded it on the service (state CRASHED, last_error). A loop
            # service logged it too; a plain service's start() is all of its run: say so
            # in its own log, where the console's log tab and `run` show it.
            if entry.kind == "loop":
                logger.debug("service %s ended with an error", entry.name, exc_info=True)
            else:
                logging.getLogger(f"servicedeck.services.{entry.name}").error(
                    "%s crashed: %r", entry.name, exc, exc_info=exc
                )
        except BaseException as exc:
            if isinstance(exc, GeneratorExit) and not _running_in(task):
                raise  # this coroutine itself is being closed (collected): let it close
            # KeyboardInterrupt, SystemExit, GeneratorExit, ... from the service: it must
            # end the process, but not by tearing through the task group (on asyncio it
            # would leave the event loop with every other service half-run, and the
            # process would end in an exception group naming no service). Stop them all,
            # then raise it, as itself, with a note naming the service.
            self._on_fatal(entry, exc)
        finally:
            if entry.kill_requested_at is not None:
                killed = entry.instance is not None and entry.instance.status.cancelled
                _log_of(entry.name).warning(
                    "%s: %s %.3g s after the kill",
                    entry.name,
                    "killed: its task ended" if killed else "its run ended by itself",
                    self.now() - entry.kill_requested_at,
                )
                entry.kill_requested_at = None
            entry.scope = None
            entry.stuck = False
            done.set()
            self._changed(entry.name)

    def _on_fatal(self, entry: Entry, exc: BaseException) -> None:
        tg = self._tg
        if self._fatal.hold(entry, exc, can_stop=tg is not None):
            assert tg is not None
            tg.start_soon(self._stop_after_fatal, name="servicedeck:fatal-stop")

    async def _stop_after_fatal(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop_all()
        if self._tg is not None:
            self._tg.cancel_scope.cancel()  # ends the `async with` block; __aexit__ raises

    async def _stop_plain(self, entry: Entry, service: Service) -> None:
        try:
            await service.stop()
        except Exception:
            service.logger.exception("%s: stop() failed", service.name)
            if entry.scope is not None:
                # Its stop did not take: it runs on, and only kill can end it.
                entry.stuck = True
                self._changed(entry.name)

    def _on_stall(self, stall: Stall) -> None:
        entry = self._entries.get(stall.service or "")
        if entry is not None:
            entry.stall = stall
            entry.stall_count += 1
            self._changed(entry.name)

    def _on_service_change(self, service: Service) -> None:
        entry = self._entries.get(service.name)
        if entry is not None and entry.pause_on_error and isinstance(service, LoopService):
            errors = service.status.error_count
            if errors > entry.errors_seen:
                entry.errors_seen = errors
                # Also when already paused (stepping): it breaks at this error.
                entry.paused_on_error = True
                service.pause()
                # A count of steps stops at the first error: its caller returns.
                service.cancel_steps()
        self._changed(service.name)

    def _changed(self, name: str) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(name)
            except Exception:
                logger.exception("controller subscriber %r raised", callback)


def _log_of(name: str) -> logging.Logger:
    """The log of service `name`: what the console's log tab and `run` show."""
    return logging.getLogger(f"{LOGGER_PREFIX}.{name}")


def _running_in(task: int) -> bool:
    """True when the code calling this runs in task `task` (an `anyio` task id)."""
    try:
        return anyio.get_current_task().id == task
    except Exception:  # no event loop runs here: a coroutine closed by the collector
        return False
