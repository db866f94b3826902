"""`Service`, the `RunInAllServers` marker, and the registry of service classes."""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import signal
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar, overload

import anyio

from ._runtime import Listener, Runtime, describe
from ._state import ErrorInfo, ServiceState, ServiceStatus

if TYPE_CHECKING:
    # Imported where used: pydantic-settings is most of `import servicedeck`'s time, and
    # the command line's --help, like any code that only defines services, needs none of it.
    from ._lease import Coordinator, Lease
    from ._settings import ServicesBaseSetting
    from ._stack import AwaitStack

__all__ = [
    "Caught",
    "DuplicateServiceError",
    "FatalHandler",
    "RunInAllServers",
    "Service",
    "add_fatal_note",
    "check_unique_names",
    "fatal_handler",
    "raise_fatal",
    "report_fatal",
    "service_name",
]

logger = logging.getLogger("servicedeck")

_S = TypeVar("_S", bound="Service")

# Definition order of every service class; weak, so throwaway classes can go away.
_order: weakref.WeakKeyDictionary[type, int] = weakref.WeakKeyDictionary()
_counter = itertools.count()
# Marker classes: never listed as services themselves.
_markers: weakref.WeakSet[type] = weakref.WeakSet()

STOP_TIMEOUT = 5.0
"""How long `running()` waits for services to stop before cancelling them."""


class DuplicateServiceError(ValueError):
    """Two service classes with the same name were loaded to run together.

    Raised by `running()` and by discovery, never by defining a class. The message
    names both classes and the files they were defined in.
    """


def service_name(service_class: type[Service]) -> str:
    """The name a service class's instances get: its own `name` attribute, else its class name."""
    own = service_class.__dict__.get("name")
    return own if isinstance(own, str) else service_class.__name__


def check_unique_names(classes: Iterable[type[Service]]) -> None:
    """Raise `DuplicateServiceError` if two of `classes` share a service name."""
    seen: dict[str, type[Service]] = {}
    for cls in classes:
        name = service_name(cls)
        other = seen.get(name)
        if other is not None and other is not cls:
            raise DuplicateServiceError(
                f"two services are named {name!r}: {describe(other)} and {describe(cls)}; "
                "rename one of the classes or give it its own `name`."
            )
        seen[name] = cls


def _tracked_start(start: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a non-loop service's `start()` so that its state and crash are recorded."""

    @functools.wraps(start)
    async def wrapper(self: Service, *args: Any, **kwargs: Any) -> Any:
        rt = self._servicedeck
        if rt.depth and rt.in_own_task():  # a subclass's start() calling super().start()
            return await start(self, *args, **kwargs)
        if rt.active:
            raise RuntimeError(f"service {self.name!r} is already running")
        if rt.pending_stop:
            rt.pending_stop = False
            rt.notify()
            return None
        rt.begin(ServiceState.RUNNING)
        rt.depth += 1
        cancelled = False
        try:
            return await start(self, *args, **kwargs)
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise
        except BaseException as exc:
            rt.record_error(exc, "start", crash=True)
            raise
        finally:
            rt.depth -= 1
            rt.end(cancelled=cancelled)

    return wrapper


def _tracked_stop(stop: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a non-loop service's `stop()` so that the request shows in its state."""

    @functools.wraps(stop)
    async def wrapper(self: Service, *args: Any, **kwargs: Any) -> Any:
        rt = self._servicedeck
        if rt.active:
            rt.stop_requested = True
            if rt.depth and rt.state is not ServiceState.STOPPING:
                rt.set_state(ServiceState.STOPPING)
        else:
            rt.pending_stop = True
            rt.leave_standby()
        try:
            return await stop(self, *args, **kwargs)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            rt.record_error(exc, "stop")
            rt.notify()
            raise

    return wrapper


class _ServiceLogger:
    """`service.logger`: `logging.getLogger("servicedeck.services.<name>")`, made on first
    use and then kept; a service may set its own.

    Made lazily because a logger lives for the rest of the process (the logging module
    keeps it): about 0.4 KB for each of a thousand services that may never log.
    """

    @overload
    def __get__(self, service: None, owner: type[Any]) -> _ServiceLogger: ...

    @overload
    def __get__(self, service: Service, owner: type[Any]) -> logging.Logger: ...

    def __get__(self, service: Service | None, owner: type[Any]) -> logging.Logger | _ServiceLogger:
        if service is None:
            return self
        found = service.__dict__.get("logger")
        if found is None:
            found = service.__dict__["logger"] = logging.getLogger(
                f"servicedeck.services.{service.name}"
            )
        return found

    def __set__(self, service: Service, logger: logging.Logger) -> None:
        service.__dict__["logger"] = logger


class Service(ABC):
    """An async service: something started as a task that runs until stopped.

    Subclasses implement `start()` and `stop()`. Their state (running, stopping,
    crashed with a traceback) is recorded and readable through `status`.

    Attributes:
        name: the service's name; its class name unless the class sets `name`.
        logger: a `logging.Logger` named `servicedeck.services.<name>`.
    """

    name: str
    logger: _ServiceLogger = _ServiceLogger()
    _servicedeck: Runtime
    _servicedeck_self_managed: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _order[cls] = next(_counter)
        if not cls._servicedeck_self_managed:
            if "start" in cls.__dict__:
                cls.start = _tracked_start(cls.__dict__["start"])  # type: ignore[method-assign,assignment]
            if "stop" in cls.__dict__:
                cls.stop = _tracked_stop(cls.__dict__["stop"])  # type: ignore[method-assign,assignment]

    def __new__(cls, *args: Any, **kwargs: Any) -> Service:
        self = super().__new__(cls)
        # Made here, not in __init__, so it exists even if a subclass forgets super().__init__().
        self._servicedeck = Runtime(self)
        self.name = service_name(cls)
        return self

    def __init__(self) -> None:
        self.name = service_name(type(self))

    # -- settings ---------------------------------------------------------------------

    @classmethod
    def service_settings(cls) -> ServicesBaseSetting:
        """The settings that control this service, read fresh from the environment.

        By default a model with `enabled: bool = True` and the env prefix
        `SERVICEDECK_SERVICES_<NAME>_`, `<NAME>` being the class name in upper snake case
        (`OrderReaper` -> `SERVICEDECK_SERVICES_ORDER_REAPER_`), even when the class sets `name`.
        The default model is read again only when its variables or the `.env` file
        changed (compared by value on each call), so constructing many services is
        cheap; the values are always those of a fresh read.
        Override it to return your own `ServicesBaseSetting` subclass.

        Raises:
            ServiceSettingsError: a value does not validate; names the variable and value.
        """
        from ._settings import read_default_settings

        return read_default_settings(cls.__name__)

    @classmethod
    def environment_variable_name(cls) -> str:
        """The env var that enables or disables this service, e.g. `..._ORDER_REAPER_ENABLED`."""
        return cls._settings_env_prefix() + "ENABLED"

    @classmethod
    def _settings_env_prefix(cls) -> str:
        """The prefix of the settings' variables, without reading the environment when
        we can avoid it."""
        from ._settings import ServiceSettingsError, default_env_prefix, env_prefix_of

        if cls.service_settings.__func__ is Service.service_settings.__func__:  # type: ignore[attr-defined]
            return default_env_prefix(cls.__name__)
        try:
            return env_prefix_of(cls.service_settings())
        except ServiceSettingsError as exc:
            # The variable's name is wanted most when its value is bad.
            return exc.env_prefix

    @classmethod
    def enabled(cls) -> bool:
        """Whether the service is enabled, read fresh on each call.

        Raises:
            ServiceSettingsError: the enabling variable (or another setting) is invalid.
        """
        return cls.service_settings().enabled

    # -- registry ---------------------------------------------------------------------

    @classmethod
    def all_services(cls: type[_S]) -> Sequence[type[_S]]:
        """Every concrete, non-marker subclass of this class, in definition order."""
        found: set[type[_S]] = set()
        stack: list[type[_S]] = list(cls.__subclasses__())
        while stack:
            sub = stack.pop()
            if sub in found:
                continue
            found.add(sub)
            stack.extend(sub.__subclasses__())
        concrete = [c for c in found if not inspect.isabstract(c) and c not in _markers]
        concrete.sort(key=lambda c: _order.get(c, -1))
        return concrete

    @classmethod
    def enabled_services(cls: type[_S]) -> list[type[_S]]:
        """The enabled ones of `all_services()`.

        A service whose settings do not load is left out, and the error is logged.
        """
        return [c for c in cls.all_services() if _enabled_or_log(c)]

    # -- running ----------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def running(cls, coordinator: Coordinator | None = None) -> AsyncIterator[list[Service]]:
        """Run every enabled service of this class for the duration of the block.

        On entry each enabled service is instantiated and started as a task; on exit
        all are asked to stop, awaited (up to a few seconds each, then cancelled).
        A service that fails to construct, set up or run is logged and recorded as
        crashed; the others go on. Yields the service instances.

        With a `coordinator` (entered by the caller; see `servicedeck.coordinate`),
        each service that is not `RunInAllServers` runs only while this process holds
        its lease (`run_with_lease()`): on several replicas, each runs on one at a time.

        An exception raised in the block (KeyboardInterrupt from Ctrl+C included) stops
        every service gracefully, then comes out of here as itself, on every backend.
        A service that raises KeyboardInterrupt, SystemExit or another BaseException
        ends the block: the others are stopped gracefully (their teardown runs), the
        block is cancelled, and that exception is raised from here, as itself, with a
        note (PEP 678) naming the service.

        Raises:
            DuplicateServiceError: two enabled services share a name.
            TypeError: `coordinator` is not a `Coordinator`.
        """
        _check_coordinator(coordinator)
        classes = cls.enabled_services()
        check_unique_names(classes)
        services: list[Service] = []
        for service_class in classes:
            try:
                services.append(service_class())
            except Exception:
                logger.exception("service %s failed to initialise", service_name(service_class))
        error: BaseException | None = None
        fatal: Caught = []
        async with anyio.create_task_group() as tg:
            on_fatal = fatal_handler(services, tg, fatal)
            for service in services:
                task = f"servicedeck:{service.name}"
                if coordinator is None or isinstance(service, RunInAllServers):
                    tg.start_soon(service._supervise, on_fatal, name=task)
                else:
                    from ._leading import run_with_lease  # loaded with a coordinator only

                    supervise = functools.partial(service._supervise, on_fatal)
                    tg.start_soon(run_with_lease, service, coordinator, supervise, name=task)
            try:
                yield services
            except (anyio.get_cancelled_exc_class(), GeneratorExit):
                raise
            except BaseException as exc:
                # Re-raised below as it is: out of the task group it would come wrapped
                # in an exception group. A KeyboardInterrupt lands here too: on trio,
                # Ctrl+C raises it in this task (asyncio cancels the task instead).
                error = exc
            finally:
                with anyio.CancelScope(shield=True):
                    await stop_all(services)
                tg.cancel_scope.cancel()
        if fatal:
            raise_fatal(fatal)
        if error is not None:
            try:
                raise error
            finally:
                error = None

    @classmethod
    async def run_services(cls, coordinator: Coordinator | None = None) -> NoReturn:
        """Run enabled services until cancelled, or until Ctrl+C.

        With a `coordinator`, each service runs on one replica at a time (see `running()`).

        In the main thread, Ctrl+C (SIGINT) stops every service gracefully and then
        raises KeyboardInterrupt from here, on asyncio and trio alike. Another Ctrl+C
        meanwhile does not interrupt the stop (it is bounded: see `running()`); the
        previous SIGINT handler is restored on return. An ignored SIGINT (`SIG_IGN`, as
        for a job started in the background) stays ignored.
        """
        take_sigint = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        )
        with _sigint_received() if take_sigint else nullcontext() as received:
            async with cls.running(coordinator):
                try:
                    if received is not None:
                        async for _ in received:
                            logger.info("received SIGINT, stopping services...")
                            raise KeyboardInterrupt
                    await anyio.sleep_forever()
                except anyio.get_cancelled_exc_class():
                    logger.info("received cancellation, stopping services...")
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request_stop(self) -> None:
        """Ask the service to stop without waiting for it (used by runners)."""
        await self.stop()

    async def _supervise(self, on_fatal: FatalHandler | None = None) -> None:
        """Run `start()` as a managed task: errors are recorded and logged, not raised.

        A KeyboardInterrupt, SystemExit or other BaseException goes to `on_fatal`, if
        given, instead of tearing through the task group (see `fatal_handler()`).
        """
        try:
            await self.start()
        except anyio.get_cancelled_exc_class():
            raise
        except Exception:
            self.logger.exception("service %s crashed", self.name)
        except BaseException as exc:
            if on_fatal is None or isinstance(exc, GeneratorExit):
                raise
            on_fatal(self, exc)

    # -- the service's own API ------------------------------------------------------

    @abstractmethod
    async def start(self) -> None:
        """Start running the service, which may run indefinitely.

        A service that runs until it is stopped may declare `-> NoReturn`, as
        `LoopService.start()` does when it loops forever; one that returns when it is
        stopped declares `-> None`. Both are correct overrides.
        """

    @abstractmethod
    async def stop(self) -> None:
        """Stop the service."""

    @property
    def is_running(self) -> bool:
        """True from the start of `setup()` (or `start()`) to the end of `teardown()`."""
        return self._servicedeck.active

    @property
    def should_stop(self) -> bool:
        """True when a stop was requested since the last start (or before the next)."""
        rt = self._servicedeck
        return rt.stop_requested or rt.pending_stop

    @property
    def lease(self) -> Lease | None:
        """The lease this process holds for the service while it runs as the leader.

        None without a coordinator, and while standing by. Carry its `epoch` (the
        fencing token) in writes and idempotency keys (docs/how-to/replicas.md).
        """
        status = self._servicedeck.lease_status
        if status is None:
            return None
        from ._lease import LeaseRole

        if status.role is not LeaseRole.LEADER:
            return None
        return status.lease

    @property
    def status(self) -> ServiceStatus:
        """A consistent, immutable snapshot of this service's state and counters."""
        return self._servicedeck.snapshot(self.name)

    def await_stack(self) -> AwaitStack | None:
        """Where this service's task waits now: its chain of awaits, from the task's
        coroutine down to the innermost, the innermost frame of your own code marked.

        For a loop that hangs, that frame is the line it is stuck at. Call it from the
        event loop that runs the service (a runner, a console's timer). It reads the
        suspended frames without disturbing them, in about a millisecond among 500
        other tasks (most of it listing them).

        Returns:
            The stack, or None when the service is not running.
        """
        rt = self._servicedeck
        if not rt.active or rt.task_id is None:
            return None
        from ._stack import capture_await_stack  # on first use: import servicedeck stays light

        return capture_await_stack(self, rt.task_id, rt.clock())

    def set_clock(self, clock: Callable[[], float] | None) -> None:
        """Read time from `clock` instead of `anyio.current_time` (None: back to it).

        Every time the framework records for this service (start, loop durations, the
        schedule, error times) is read from this clock; a runner gives all its services
        one clock, and tests and screenshots a `ManualClock`, so times are reproducible.
        Set it while the service is not running.

        Raises:
            RuntimeError: the service is running.
        """
        rt = self._servicedeck
        if rt.active:
            raise RuntimeError(f"cannot change the clock of {self.name!r} while it runs")
        rt.clock = anyio.current_time if clock is None else clock

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(service)` after every change of this service's status.

        Listeners run synchronously in the service's task: keep them cheap (set a
        flag, post a message). One that raises is logged and otherwise ignored.
        Returns a function that unsubscribes.
        """
        rt = self._servicedeck
        if not isinstance(rt.listeners, list):
            rt.listeners = []
        listeners = rt.listeners
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return unsubscribe

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._servicedeck.state.value}>"


class RunInAllServers(Service, ABC):
    """Marker: a service that runs in every server process (web server and services process).

    It adds no behaviour; `RunInAllServers.all_services()` lists the services that carry it.
    """


_markers.add(RunInAllServers)


def _check_coordinator(coordinator: object) -> None:
    if coordinator is None:
        return
    from ._lease import Coordinator

    if not isinstance(coordinator, Coordinator):
        raise TypeError(
            f"coordinator must be a Coordinator (e.g. servicedeck.coordinate.connect(url)), "
            f"got {coordinator!r}"
        )


@contextmanager
def _sigint_received() -> Iterator[AsyncIterator[int]]:
    """SIGINT, received as messages while the block runs; the previous handler after it.

    Left to the backends, asyncio turns Ctrl+C into a cancellation, and trio raises
    KeyboardInterrupt in whatever code runs when it comes: a service's loop, which then
    looks like that service's own, or the graceful stop, which it breaks. Received here,
    it is the same on both.
    """
    previous = signal.getsignal(signal.SIGINT)
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as received:
            yield received
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _enabled_or_log(cls: type[Service]) -> bool:
    from ._settings import ServiceSettingsError

    try:
        return cls.enabled()
    except ServiceSettingsError as exc:
        logger.error("service %s not started: %s", service_name(cls), exc)
        return False
    except Exception:
        # A broken service_settings() override: that service stays off, the rest run.
        logger.exception("service %s not started: its settings did not load", service_name(cls))
        return False


FatalHandler = Callable[[Service, BaseException], None]
"""Called in a service's task with the BaseException it raised (see `fatal_handler()`)."""


Caught = list[tuple[BaseException, str]]
"""The BaseException a `fatal_handler()` holds, with the reason from `report_fatal()`."""


def report_fatal(name: str, exc: BaseException, last_error: ErrorInfo | None) -> str:
    """Log that service `name` raised `exc` (a BaseException) and every service stops.

    Every runner (`running()`, `run_multiple_services()`, the controller) says it in
    these words. `last_error` is the service's last recorded error: the framework records
    such an exception (with its phase) before it reaches a runner.

    Returns:
        The reason, e.g. `Relay raised SystemExit in run_once`, for `add_fatal_note()`.
    """
    phase = last_error.phase if last_error is not None else "start"
    reason = f"{name} raised {type(exc).__name__} in {phase}"
    logging.getLogger(f"servicedeck.services.{name}").error(
        "%s: stopping every service", reason, exc_info=exc
    )
    return reason


def add_fatal_note(exc: BaseException, reason: str) -> None:
    """Add the note (PEP 678) naming the service to `exc`, as a runner raises it."""
    note = f"servicedeck: {reason}; every other service was stopped."
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)


def fatal_handler(
    services: Sequence[Service], tg: anyio.abc.TaskGroup, caught: Caught
) -> FatalHandler:
    """What runners do when a service raises KeyboardInterrupt, SystemExit or another
    BaseException that is not a cancellation.

    Such an exception must end the run, but not by tearing through the task group: on
    asyncio it would leave the event loop with every other task half-run. The handler
    logs it, keeps the first one in `caught`, stops the other services gracefully (their
    loops finish, their teardown runs; cancelled after `STOP_TIMEOUT`), then cancels
    `tg`. The runner raises it afterwards, with `raise_fatal(caught)`.
    """

    def on_fatal(service: Service, exc: BaseException) -> None:
        reason = report_fatal(service.name, exc, service.status.last_error)
        if caught:
            return  # the others are being stopped already
        caught.append((exc, reason))
        others = [s for s in services if s is not service]
        tg.start_soon(_stop_then_cancel, others, tg.cancel_scope)

    return on_fatal


async def _stop_then_cancel(services: Sequence[Service], scope: anyio.CancelScope) -> None:
    with anyio.CancelScope(shield=True):
        await stop_all(services)
    scope.cancel()


def raise_fatal(caught: Caught) -> NoReturn:
    """Raise the BaseException a `fatal_handler()` caught, as itself (not in a group),
    with the note naming the service that raised it."""
    exc, reason = caught[0]
    caught.clear()  # no reference cycle through its traceback
    add_fatal_note(exc, reason)
    raise exc


async def stop_all(services: Sequence[Service], timeout: float = STOP_TIMEOUT) -> None:
    """Ask every service to stop, concurrently, and wait up to `timeout` for each."""

    async def stop_one(service: Service) -> None:
        try:
            with anyio.move_on_after(timeout):
                await service._request_stop()
                if service.is_running:
                    await service._servicedeck.stopped().wait()
        except Exception:
            service.logger.exception("service %s failed to stop", service.name)
        if service.is_running:
            logger.warning(
                "service %s did not stop within %.3g s; cancelling it", service.name, timeout
            )

    async with anyio.create_task_group() as tg:
        for service in services:
            tg.start_soon(stop_one, service)
