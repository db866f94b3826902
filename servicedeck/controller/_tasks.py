"""The tasks that run the controller's services: started, stopped, killed, and watched.

`ServiceTasks` owns the controller's task group. Each service runs in a task of its own
(`servicedeck:<name>`), under a cancel scope kept on its entry; when the task ends, for
whatever reason, the entry says so. A stop asks the service and waits (a service that
does not stop in time is marked stuck); a kill cancels the task and warns when it runs
on; a BaseException from a service stops every service before it ends the process.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any

import anyio

from servicedeck import Coordinator, LoopService, RunInAllServers, Service, run_with_lease
from servicedeck.control import Command, CommandError, ServiceStop, StopReport
from servicedeck.controller._entry import Entry
from servicedeck.controller._fatal import Fatal
from servicedeck.controller._logs import service_log
from servicedeck.controller._registry import ServiceRegistry

logger = logging.getLogger("servicedeck")

DEFAULT_STOP_TIMEOUT = 5.0
"""How long a blocking stop of a non-loop service, or a stop-all, waits per service."""

KILL_GRACE = 1.0
"""Seconds a killed service's task may take to end before a warning says it runs on."""


class ServiceTasks:
    """Runs each service in a task of the controller's task group, and ends it.

    Args:
        services: the controller's entries.
        now: the controller's clock.
        changed: called with a service's name after each change of it.
        fatal: where a service's BaseException is held while every service stops.
        coordinator: leases for replicas (None: every service runs here).
    """

    def __init__(
        self,
        services: ServiceRegistry,
        *,
        now: Callable[[], float],
        changed: Callable[[str], None],
        fatal: Fatal,
        coordinator: Coordinator | None,
    ) -> None:
        self._services = services
        self._now = now
        self._changed = changed
        self._fatal = fatal
        self._coordinator = coordinator
        self.tg: anyio.abc.TaskGroup | None = None
        """The task group, while the controller is entered."""
        self._beside: list[Callable[..., Coroutine[Any, Any, None]]] = []
        self._beside_scope: anyio.CancelScope | None = None

    # -- the task group -------------------------------------------------------------------

    async def open(self) -> anyio.abc.TaskGroup:
        """Enter a new task group (the controller's `__aenter__`) and return it."""
        self.tg = anyio.create_task_group()
        await self.tg.__aenter__()
        return self.tg

    def run_beside(self, work: Callable[..., Coroutine[Any, Any, None]]) -> None:
        """Run `work` beside the services (see `ServiceController.run_beside`)."""
        self._beside.append(work)

    async def start_beside(self) -> None:
        """Start the work given to `run_beside()` (once the task group is open)."""
        if self._beside:
            self._beside_scope = anyio.CancelScope()
            await self.required().start(self._run_beside, name="servicedeck:beside")

    async def _run_beside(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        assert self._beside_scope is not None
        with self._beside_scope:
            async with anyio.create_task_group() as tg:
                for work in self._beside:
                    await tg.start(work)
                task_status.started()

    async def close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Cancel the work beside, stop every service, then leave the task group (the
        controller's `__aexit__`)."""
        tg = self.tg
        assert tg is not None, "controller was not entered"
        try:
            if self._beside_scope is not None:
                self._beside_scope.cancel()  # e.g. a reloader: nothing restarts a service now
            with anyio.CancelScope(shield=True):
                await self.stop_all()
            tg.cancel_scope.cancel()
            if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
                return await tg.__aexit__(exc_type, exc, tb)
            # The block's own exception goes on as itself: handed to the task group,
            # it would come out wrapped in an exception group.
            await tg.__aexit__(None, None, None)
            return False
        finally:
            self.tg = None

    def required(self) -> anyio.abc.TaskGroup:
        """The task group.

        Raises:
            RuntimeError: the controller is not entered.
        """
        if self.tg is None:
            raise RuntimeError("use the controller as `async with ServiceController(...)` first")
        return self.tg

    # -- starting -------------------------------------------------------------------------

    def start(self, name: str) -> None:
        """Start service `name` as a task; a paused one is resumed (running or not).

        Raises:
            CommandError: it is running (and not paused) already, or its settings or
                `__init__` fail.
        """
        entry = self._services.allow(name, Command.START)
        service = self._services.require_instance(entry)
        if isinstance(service, LoopService):
            service.resume()
        entry.paused_on_error = False
        if entry.scope is None:
            self.spawn(entry, self.leased(service, service.start))
        else:
            self._changed(name)  # a paused run, resumed

    def start_paused(self, entry: Entry) -> None:
        """Pause the loop service of `entry`, starting it (paused) if it is stopped."""
        service = self._services.require_instance(entry)
        assert isinstance(service, LoopService)
        service.pause()
        if entry.scope is None:
            self.spawn(entry, self.leased(service, service.start))

    def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start every enabled service that is not running (only the loop services,
        paused, with `paused`); returns their names. One that fails is logged."""
        started = []
        for entry in self._services.entries.values():
            snap_enabled = entry.override if entry.override is not None else entry.enabled
            if (
                snap_enabled
                and entry.scope is None
                and self._services.check(entry.name, Command.START) is None
                and (not paused or entry.kind == "loop")
            ):
                try:
                    if paused:
                        self.start_paused(entry)
                    else:
                        self.start(entry.name)
                except CommandError as exc:
                    logger.error("%s", exc)
                    continue
                started.append(entry.name)
        return started

    def leased(self, service: Service, work: Callable[[], Any]) -> Callable[[], Any]:
        """`work`, run only while this process holds the service's lease (if leased)."""
        coordinator = self._coordinator
        if coordinator is None or isinstance(service, RunInAllServers):
            return work
        return lambda: run_with_lease(service, coordinator, work)

    def spawn(self, entry: Entry, work: Callable[[], Any]) -> anyio.Event:
        """Run `work` as `entry`'s task; the event is set when the task has ended.

        Raises:
            CommandError: it has a task already.
        """
        tg = self.required()
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
                service_log(entry.name).error("%s crashed: %r", entry.name, exc, exc_info=exc)
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
                service_log(entry.name).warning(
                    "%s: %s %.3g s after the kill",
                    entry.name,
                    "killed: its task ended" if killed else "its run ended by itself",
                    self._now() - entry.kill_requested_at,
                )
                entry.kill_requested_at = None
            entry.scope = None
            entry.stuck = False
            done.set()
            self._changed(entry.name)

    def _on_fatal(self, entry: Entry, exc: BaseException) -> None:
        tg = self.tg
        if self._fatal.hold(entry, exc, can_stop=tg is not None):
            assert tg is not None
            tg.start_soon(self._stop_after_fatal, name="servicedeck:fatal-stop")

    async def _stop_after_fatal(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stop_all()
        if self.tg is not None:
            self.tg.cancel_scope.cancel()  # ends the `async with` block; __aexit__ raises

    # -- stopping -------------------------------------------------------------------------

    async def stop(self, name: str, *, block: bool = True, timeout: float | None = None) -> bool:
        """Ask service `name` to stop; with `block`, wait until it has (see
        `ServiceController.stop`). False: it did not stop in time, and is marked stuck."""
        entry = self._services.allow(name, Command.STOP)
        service = self._services.require_instance(entry)
        done = entry.done
        if isinstance(service, LoopService):
            await service.stop(block=False)
            limit = timeout if timeout is not None else max(float(service.loop_seconds), 1.0)
        else:
            self.required().start_soon(self._stop_plain, entry, service)
            limit = timeout if timeout is not None else DEFAULT_STOP_TIMEOUT
        self._changed(name)
        if not block or done is None:
            return True
        if not await _ended(done, within=limit):
            entry.stuck = True
            service.logger.warning(
                "%s did not stop within %.3g s; it is stuck (kill cancels it)", name, limit
            )
            self._changed(name)
            return False
        return True

    async def _stop_plain(self, entry: Entry, service: Service) -> None:
        try:
            await service.stop()
        except Exception:
            service.logger.exception("%s: stop() failed", service.name)
            if entry.scope is not None:
                # Its stop did not take: it runs on, and only kill can end it.
                entry.stuck = True
                self._changed(entry.name)

    def kill(self, entry: Entry, why: str = "") -> None:
        """Cancel the task of `entry`, recorded as `ServiceController.kill()` says; `why`
        ends the log line's first part (e.g. ` (it did not stop within 5 s)`)."""
        scope, done = entry.scope, entry.done
        assert scope is not None
        assert done is not None
        if entry.kill_requested_at is None:
            entry.kill_requested_at = self._now()
            service_log(entry.name).warning("%s: killed%s: its task is cancelled", entry.name, why)
            self.required().start_soon(
                self._watch_kill, entry, done, name=f"servicedeck:kill:{entry.name}"
            )
        scope.cancel()
        self._changed(entry.name)

    async def _watch_kill(self, entry: Entry, done: anyio.Event) -> None:
        if not await _ended(done, within=KILL_GRACE):
            service_log(entry.name).warning(
                "%s is still running %.3g s after it was killed: it does not give way to "
                "cancellation (a shielded cancel scope, or code that never awaits)",
                entry.name,
                KILL_GRACE,
            )
            self._changed(entry.name)

    async def stop_all(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> StopReport:
        """Stop every running service together; cancel those not stopped after `timeout`
        (see `ServiceController.stop_all`)."""
        began = time.perf_counter()
        running = [e for e in self._services.entries.values() if e.scope is not None]
        outcomes: dict[str, ServiceStop] = {}

        async def stop_one(entry: Entry) -> None:
            done = entry.done
            if entry.scope is None or done is None:
                return
            with contextlib.suppress(CommandError):  # stopping already: wait all the same
                await self.stop(entry.name, block=False)
            outcome = "stopped"
            if not await _ended(done, within=timeout) and entry.scope is not None:
                outcome = "cancelled"
                self.kill(entry, f" (it did not stop within {timeout:.3g} s)")
                if not await _ended(done, within=timeout):
                    outcome = "stuck"
                    entry.stuck = True
                    service_log(entry.name).warning(
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
        entries = self._services.entries
        for entry in [self._services.entry(name) for name in (entries if names is None else names)]:
            while entry.done is not None and entry.scope is not None:
                await entry.done.wait()


async def _ended(done: anyio.Event, *, within: float) -> bool:
    """Wait at most `within` seconds for a task's `done`; True when it is set."""
    with anyio.move_on_after(within):
        await done.wait()
    return done.is_set()


def _running_in(task: int) -> bool:
    """True when the code calling this runs in task `task` (an `anyio` task id)."""
    try:
        return anyio.get_current_task().id == task
    except Exception:  # no event loop runs here: a coroutine closed by the collector
        return False
