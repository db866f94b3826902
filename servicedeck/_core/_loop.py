"""`LoopService`: a service that runs `run_once()` on a schedule, and can be stepped."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, ClassVar, NoReturn, overload

import anyio

from ._runtime import release
from ._schedule import schedule_next_loop
from ._service import Service
from ._state import SafeRepr, ServiceState

__all__ = ["LoopService"]

MIN_STOP_TIMEOUT = 1.0
"""The least time `stop(block=True)` waits by default, for services with tiny intervals."""

TEARDOWN_TIMEOUT = 30.0
"""How long a shielded `teardown()` may run after the service was cancelled."""

# The states the loop sets on every pass: a module global is read faster than an enum
# member (an attribute lookup through the enum class), 70 ns a loop on Python 3.11.
_RUNNING = ServiceState.RUNNING
_SLEEPING = ServiceState.SLEEPING
_PAUSED = ServiceState.PAUSED


def _check_loop_seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"loop_seconds must be a number of seconds >= 0, got {value!r} ({where})")
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"loop_seconds must be a finite number >= 0, got {value!r} ({where})")
    return float(value)


def _running_asyncio() -> ModuleType | None:
    """The `asyncio` module when anyio runs on it in this thread, else None (trio).

    Lets the hot loop call asyncio directly: anyio looks its backend up on every call.
    Never imports asyncio itself, so `import servicedeck` stays light.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or anyio.get_cancelled_exc_class() is not asyncio.CancelledError:
        return None
    return asyncio


async def _no_run() -> None:
    """What `LoopService._start()` returns when the run was refused (a stop came first)."""


_IDLE = (ServiceState.SLEEPING, ServiceState.PAUSED)
"""States in which a service's task waits for nobody's code: no child task can block it."""


def _check_loops(loops: object, what: str = "loops") -> int:
    if isinstance(loops, bool) or not isinstance(loops, int) or loops < 0:
        raise ValueError(
            f"{what} must be a whole number >= 0 (or None to run forever), got {loops!r}"
        )
    return loops


class LoopService(Service, ABC):
    """A service that runs `run_once()` every `loop_seconds`, until stopped.

    Define `async def run_once(self)`; optionally `setup()` / `teardown()`. Loops run on a
    deadline schedule on the monotonic clock: each is due `loop_seconds` after the previous
    one was due, so lateness never accumulates. Errors from `run_once()` are logged,
    recorded in `status`, and the loop goes on.

    Attributes:
        loop_seconds: seconds between loops (class default 60). A `loop_seconds` field in
            the service's settings wins over the class attribute; the constructor
            argument wins over both. 0 runs loops back to back.
        max_backoff_seconds: when set (> 0), consecutive errors stretch the wait before
            the next loop (doubling from `loop_seconds`, capped at this); a success
            resets it. Off (None) by default.
    """

    loop_seconds: float = 60
    max_backoff_seconds: float | None = None
    _servicedeck_self_managed: ClassVar[bool] = True

    def __init__(self, loop_seconds: float | None = None, handle_signals: bool = False) -> None:
        """Create the service.

        Args:
            loop_seconds: overrides the interval from the settings and the class.
            handle_signals: if True, SIGINT and SIGTERM stop the service gracefully
                while it runs; the previous handlers are restored when it stops.

        Raises:
            ValueError: `loop_seconds` is negative or not a number.
            ServiceSettingsError: the service's settings do not load.
        """
        super().__init__()
        if loop_seconds is not None:
            self.loop_seconds = _check_loop_seconds(loop_seconds, "the loop_seconds argument")
        else:
            from_settings = getattr(self.service_settings(), "loop_seconds", None)
            if from_settings is not None:
                self.loop_seconds = _check_loop_seconds(from_settings, "settings")
            else:
                _check_loop_seconds(self.loop_seconds, f"{type(self).__name__}.loop_seconds")
        self._servicedeck.loop_seconds = float(self.loop_seconds)
        self._servicedeck.handle_signals = handle_signals

    # -- hooks ------------------------------------------------------------------------

    async def setup(self) -> None:
        """Called once before the first loop of each `start()`. Override as needed."""

    async def teardown(self) -> None:
        """Called once after the last loop of each `start()` whose `setup()` completed,
        also after errors and cancellation. Override as needed."""

    @abstractmethod
    async def run_once(self) -> None:
        """One loop of the service. Subclasses must override this.

        To run it with its hooks, call `start(loops=1)` or `run_now()`, not this.
        """

    # -- control ----------------------------------------------------------------------

    @overload
    async def start(self, loops: None = None) -> NoReturn: ...

    @overload
    async def start(self, loops: int) -> None: ...

    async def start(self, loops: int | None = None) -> None:
        """Run `setup()`, then `run_once()` `loops` times (forever for None), then `teardown()`.

        May be called again after it returns; counts accumulate. If `stop()` was called
        while the service was not running, this returns at once without running anything.

        Raises:
            ValueError: `loops` is negative or not a whole number, or `loop_seconds` is invalid.
            RuntimeError: the service is already running.
            Exception: whatever `setup()` or `teardown()` raised (also recorded as a crash).
        """
        if loops is not None:
            _check_loops(loops)
        await self._start(loops, 0)

    def _start(self, loops: int | None, steps: int) -> Awaitable[None]:
        """Check that a run may begin, and return it to await.

        Not a coroutine itself, so that a running service's await chain has one frame
        fewer (an idle service holds it for as long as it runs). The checks raise or
        return before the caller awaits anything, as they did inside a coroutine.
        """
        interval = _check_loop_seconds(self.loop_seconds, f"{self.name}.loop_seconds")
        rt = self._servicedeck
        if not self._may_begin():
            return _no_run()
        rt.loop_seconds = interval
        if rt.handle_signals and threading.current_thread() is threading.main_thread():
            return self._run_with_signals(loops, interval, steps)
        return self._run(loops, interval, steps)

    async def _run_with_signals(self, loops: int | None, interval: float, steps: int) -> None:
        """`_run()` while SIGINT / SIGTERM request a graceful stop."""
        error: BaseException | None = None
        async with anyio.create_task_group() as tg:
            await tg.start(self._watch_signals)
            try:
                await self._run(loops, interval, steps)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                # Re-raised below as it is: out of the task group it would come
                # wrapped in an ExceptionGroup.
                error = exc
            finally:
                tg.cancel_scope.cancel()
        if error is not None:
            try:
                raise error
            finally:
                error = None

    def _may_begin(self) -> bool:
        """Refuse a second run; False (and use it up) if a stop was requested meanwhile."""
        rt = self._servicedeck
        if rt.active:
            raise RuntimeError(f"service {self.name!r} is already running")
        if rt.pending_stop:
            rt.pending_stop = False
            self.logger.debug("%s: stop was requested before start; not starting", self.name)
            rt.notify()
            return False
        return True

    async def stop(self, block: bool = True, timeout: float | None = None) -> None:
        """Ask the service to stop after its current loop; wakes it at once if it sleeps.

        Args:
            block: wait until the service has stopped (teardown done). Called from inside
                the service's own loop, it returns at once (with a warning) instead of
                deadlocking; the service stops after the current loop.
            timeout: how long `block` waits at most; default `loop_seconds`, but at least
                one second. On timeout a warning is logged and this returns.

        A stop requested while the service is not running applies to the next `start()`.
        """
        rt = self._servicedeck
        if not rt.active:
            rt.pending_stop = True
            rt.notify()
            return
        if not rt.stop_requested:
            rt.stop_requested = True
            if rt.state is not ServiceState.STOPPING:
                rt.set_state(ServiceState.STOPPING)
        rt.wake()
        if not block:
            return
        if rt.in_own_task():
            self.logger.warning(
                "stop(block=True) was called from inside %s's own loop; not waiting "
                "(it stops after this loop). Use stop(block=False) there.",
                self.name,
            )
            return
        limit = timeout if timeout is not None else max(float(self.loop_seconds), MIN_STOP_TIMEOUT)
        with anyio.move_on_after(limit):
            await rt.stopped().wait()
        if rt.active:
            self.logger.warning(
                "stop(block=True) on %s gave up after %.3g s: the service is still running "
                "(its loop or teardown has not returned).",
                self.name,
                limit,
            )

    def pause(self) -> None:
        """Finish the current loop, then wait without looping until `resume()`.

        While paused, `run_now()` still runs loops and `stop()` still stops. Pausing a
        stopped service makes it start paused (setup, then wait).
        """
        rt = self._servicedeck
        if not rt.paused:
            rt.paused = True
            rt.wake()
            rt.notify()

    @property
    def is_paused(self) -> bool:
        """True from `pause()` until `resume()` (a loop may still be finishing)."""
        return self._servicedeck.paused

    def resume(self) -> None:
        """Undo `pause()`: go back to the schedule (a loop that fell due meanwhile runs now)."""
        rt = self._servicedeck
        if rt.paused:
            rt.paused = False
            rt.wake()
            rt.notify()

    async def run_now(self, loops: int = 1) -> None:
        """Run `loops` loops now, ahead of the schedule, and wait until they have run.

        Sleeping or paused: the loops run at once, and the service goes back to its
        schedule (or stays paused). Running a loop: they run right after it. Stopped:
        the same as `start(loops=loops)`, with setup and teardown (a `stop()` asked while
        it was stopped does not cancel this explicit request).

        Called from the service's own task (`run_once()`, `setup()`), or from a task
        started there (a child in a task group of `run_once()`: one started through
        anyio on asyncio, any on trio), it queues the loops and returns without
        waiting: the run waits for that code, so waiting for the loops would deadlock.
        They run once the current loop (or setup) is over.

        Raises:
            ValueError: `loops` is not a whole number >= 1.
        """
        if isinstance(loops, bool) or not isinstance(loops, int) or loops < 1:
            raise ValueError(f"loops must be a whole number >= 1, got {loops!r}")
        rt = self._servicedeck
        if not rt.active:
            # Exactly `loops` loops with setup and teardown, even if paused. Asking for a
            # loop is an explicit wish to run: it overrides a stop left from before.
            rt.pending_stop = False
            await self._start(0, loops)
            return
        rt.steps += loops
        ticket = rt.steps_done + rt.steps
        rt.wake()
        rt.notify()
        if rt.in_own_task() or (rt.state not in _IDLE and rt.in_own_run()):
            return  # the run waits for the caller: waiting for the loop would deadlock
        while rt.active and rt.steps_done < ticket:
            if rt.step_event is None:
                rt.step_event = anyio.Event()
            await rt.step_event.wait()

    def cancel_steps(self) -> int:
        """Drop the loops asked for by `run_now()` that have not started yet.

        The loop running now, if any, is not interrupted. Every caller waiting in
        `run_now()` returns: at once, or, when the loop running now is a step, once it
        has ended. A stopped service's `run_now()` (a run of its own) then ends its run:
        teardown, and it stops.

        Returns:
            How many loops were dropped.
        """
        rt = self._servicedeck
        queued = rt.queued_steps()
        if not queued:
            return 0
        # Counted as settled, so every run_now() ticket up to them is satisfied.
        rt.steps -= queued
        rt.steps_done += queued
        if not rt.step_running:
            rt.release_steppers()
        self.logger.info("%s: cancelled the queued steps (%d)", self.name, queued)
        rt.notify()
        return queued

    # -- machinery --------------------------------------------------------------------

    async def _request_stop(self) -> None:
        await self.stop(block=False)

    async def _run(self, loops: int | None, interval: float, steps: int) -> None:
        rt = self._servicedeck
        # Checked again: installing signal handlers awaited, and a stop may have come.
        # No await from here to begin(), so none can slip in between.
        if not self._may_begin():
            return
        rt.begin(ServiceState.STARTING)
        rt.steps = steps
        setup_done = False
        cancelled = False
        try:
            try:
                await self.setup()
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                rt.record_error(exc, "setup", crash=True)
                self.logger.error("%s: setup() failed: %r", self.name, SafeRepr(exc), exc_info=exc)
                raise
            setup_done = True
            await self._loop(loops, interval)
        except anyio.get_cancelled_exc_class():
            cancelled = True
            raise
        except BaseException as exc:
            if not rt.crashed:  # KeyboardInterrupt, SystemExit, ... from run_once
                rt.record_error(exc, "run_once", rt.loop_count + 1, crash=True)
            raise
        finally:
            try:
                if setup_done:
                    try:
                        await self._teardown()
                    except Exception:
                        # Recorded and logged by _teardown(); a cancellation must not be
                        # replaced by it, or the cancel scope that asked never sees it.
                        if not cancelled:
                            raise
            finally:
                rt.end(cancelled=cancelled)

    async def _teardown(self) -> None:
        rt = self._servicedeck
        if rt.state is not ServiceState.STOPPING:
            rt.set_state(ServiceState.STOPPING)
        if type(self).teardown is LoopService.teardown:
            return  # nothing to run: spare the shielded scope and its timer (every stop pays)
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + TEARDOWN_TIMEOUT
            try:
                await self.teardown()
            except BaseException as exc:
                rt.record_error(exc, "teardown", crash=True)
                self.logger.error(
                    "%s: teardown() failed: %r", self.name, SafeRepr(exc), exc_info=exc
                )
                raise
        if scope.cancelled_caught:
            self.logger.warning(
                "%s: teardown() did not finish within %s s", self.name, TEARDOWN_TIMEOUT
            )

    async def _sleep_until(self, deadline: float | None, now: Callable[[], float]) -> None:
        """Sleep until `deadline` (forever for None), unless woken by `Runtime.wake()`.

        The generic anyio sleep (trio): on asyncio, `_loop()` sleeps on a future itself.
        `now` is the runtime's clock (tests may replace it): the sleep lasts `deadline -
        now()`, never negative (the deadline may have passed while listeners ran).
        """
        rt = self._servicedeck
        with anyio.CancelScope() as scope:
            rt.sleeper = scope
            try:
                if deadline is None:
                    await anyio.sleep_forever()
                else:
                    await anyio.sleep(max(deadline - now(), 0.0))
            finally:
                rt.sleeper = None

    async def _loop(self, loops: int | None, interval: float) -> None:
        """Run `loops` scheduled loops (None: for ever) and every step asked, until a stop.

        Each pass looks at the flags and does one thing: return, sleep (paused, or until
        the next loop is due), or run one loop (a step, or the scheduled loop). When the
        next loop is due is `schedule_next_loop()`'s rule; steps do not move it.
        """
        rt = self._servicedeck
        now, yield_now, loop = self._loop_primitives()
        run_once = self.run_once
        done = 0  # scheduled loops run (steps are not counted)
        due = now()  # when the next scheduled loop is due
        slept = False  # since the last loop: a sleep is also the yield a loop owes
        while not rt.stop_requested:
            # Pause and step handling: sleep, or pick the loop to run.
            step = rt.steps > 0  # run_now() asked for a loop: now, paused or not
            if not step:
                if loops is not None and done >= loops:
                    return
                paused = rt.paused
                if paused or due > now():
                    deadline = None if paused else due
                    if self._announce_sleep(deadline):
                        continue  # a listener asked for more; wake() had no sleep to cut
                    if loop is None:
                        await self._sleep_until(deadline, now)
                    else:
                        # What asyncio.sleep() does (a future and a timer), wakeable: an
                        # anyio cancel scope per sleep cost as much again, in CPU per
                        # wake-up and memory per service. Not in a helper coroutine: its
                        # frame, held by every idle service, cost 0.27 KB a service (2.80
                        # -> 3.07 KB, 1.93x -> 2.12x the bare loop; `python -m
                        # tests.benchmarks --only idle`).
                        waiter = rt.sleeper = loop.create_future()
                        timer = None
                        if deadline is not None:
                            timer = loop.call_later(max(deadline - now(), 0.0), release, waiter)
                        try:
                            await waiter
                        finally:
                            rt.sleeper = None
                            if timer is not None:
                                timer.cancel()
                    slept = True
                    continue
            if not slept:
                # Yield before every loop, a step too, or a service that never awaits
                # (loop_seconds=0, run_now(1000)) would starve every other task.
                await yield_now(0)
                if rt.stop_requested or (rt.steps > 0) != step or (rt.paused and not step):
                    continue  # something changed meanwhile: decide again
            slept = False

            # Run one loop and record it. Its start time is set before the listeners
            # hear of the state change, so a hung loop shows how long it has run.
            rt.next_loop_at = None
            number = rt.loop_count + 1
            started = rt.loop_started_at = now()
            if step:
                rt.step_running = True
            if rt.state is not _RUNNING:
                rt.state = _RUNNING
                if rt.listeners:
                    rt.notify()
                    started = now()  # the listeners' time is not the loop's
            try:
                await run_once()
            except Exception as exc:
                ended = now()
                duration = ended - started
                self._record_failure(exc, number)
                rt.record_duration(-duration)  # the sign bit marks a failed loop
            else:
                ended = now()
                duration = ended - started
                rt.consecutive_errors = 0
                rt.record_duration(duration)
            rt.loop_started_at = None
            rt.loop_count = number
            rt.last_duration = duration
            rt.last_loop_at = ended

            # The schedule: a scheduled loop sets when the next is due; a step moves nothing.
            if step:
                self._record_step()
            else:
                done += 1
                due, overrun, _ = schedule_next_loop(
                    due, started, ended, interval, rt.consecutive_errors, self.max_backoff_seconds
                )
                if overrun:
                    self._record_overrun(number, duration, interval)
            if rt.listeners:
                rt.notify()

    def _announce_sleep(self, deadline: float | None) -> bool:
        """Show the service asleep until `deadline` (None: paused) and tell the listeners.

        Returns:
            True when a listener changed the flags meanwhile (stopped, paused, resumed or
            stepped the service): the loop must look again instead of sleeping.
        """
        rt = self._servicedeck
        paused = deadline is None
        rt.next_loop_at = deadline
        # rt.set_state() inlined (here and in _loop()): a call per state change counts.
        rt.state = _PAUSED if paused else _SLEEPING
        if not rt.listeners:
            return False
        rt.notify()
        return rt.stop_requested or rt.paused != paused or rt.steps > 0

    def _loop_primitives(
        self,
    ) -> tuple[Callable[[], float], Callable[[float], Awaitable[None]], Any]:
        """The clock, the checkpoint and the asyncio event loop (None on trio) for `_loop()`.

        On asyncio, asyncio's own clock and checkpoint: anyio looks its backend up on
        every call. The checkpoint is awaited as `yield_now(0)`.
        """
        now = self._servicedeck.clock
        asyncio = _running_asyncio()
        if asyncio is None:
            return now, anyio.sleep, None  # anyio.sleep(0) is a checkpoint on every backend
        loop = asyncio.get_running_loop()
        if now is anyio.current_time:
            # asyncio's own loop.time() is time.monotonic(): skip the bound method.
            stock = getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
            now = time.monotonic if stock else loop.time
        return now, asyncio.sleep, loop

    def _record_failure(self, exc: Exception, number: int) -> None:
        """Count, record and log the error loop `number` raised; the loop goes on."""
        rt = self._servicedeck
        rt.error_count += 1
        rt.consecutive_errors += 1
        tb = exc.__traceback__
        if tb is not None and tb.tb_next is not None:
            # Start the traceback at run_once(): `_loop()`'s line tells the user nothing,
            # and locating it in that long function made capturing and formatting the
            # traceback cost more than the rest of a failing loop.
            exc.__traceback__ = tb.tb_next
        rt.record_error(exc, "run_once", number)
        self.logger.error("%s: loop %d failed: %r", self.name, number, SafeRepr(exc), exc_info=exc)

    def _record_step(self) -> None:
        """A step has run: release the `run_now()` callers waiting for it."""
        rt = self._servicedeck
        # Counted in `steps` until it has run: run_now() tickets rely on it.
        rt.steps -= 1
        rt.steps_done += 1
        rt.step_running = False
        rt.release_steppers()

    def _record_overrun(self, number: int, duration: float, interval: float) -> None:
        """Count and warn about loop `number`, which took longer than its interval."""
        self._servicedeck.overrun_count += 1
        self.logger.warning(
            "%s: loop %d took %.3f s, longer than its interval of %.3g s",
            self.name,
            number,
            duration,
            interval,
        )

    async def _watch_signals(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            with anyio.open_signal_receiver(*previous) as signals:
                task_status.started()
                async for signum in signals:
                    self.logger.info(
                        "%s: received %s, stopping", self.name, signal.Signals(signum).name
                    )
                    await self.stop(block=False)
        finally:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)
