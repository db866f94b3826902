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
from ._service import Service
from ._state import SafeRepr, ServiceState

__all__ = ["LoopService"]

MIN_STOP_TIMEOUT = 1.0
"""The least time `stop(block=True)` waits by default, for services with tiny intervals."""

TEARDOWN_TIMEOUT = 30.0
"""How long a shielded `teardown()` may run after the service was cancelled."""


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
                rt.end()

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

    async def _sleep_until(
        self, deadline: float | None, now: Callable[[], float], loop: Any = None
    ) -> None:
        """Sleep until `deadline` (forever for None), unless woken by `Runtime.wake()`.

        `now` is the runtime's clock (tests may replace it): the sleep lasts `deadline -
        now()`, never negative (the deadline may have passed while listeners ran). `loop`
        is the running asyncio event loop, if any.
        """
        rt = self._servicedeck
        if loop is not None:
            # What asyncio.sleep() does (a future and a timer), wakeable: a cancel scope
            # per sleep cost as much again, in CPU per wake-up and memory per service.
            waiter = loop.create_future()
            timer = None
            if deadline is not None:
                timer = loop.call_later(max(deadline - now(), 0.0), release, waiter)
            rt.sleeper = waiter
            try:
                await waiter
            finally:
                rt.sleeper = None
                if timer is not None:
                    timer.cancel()
            return
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
        rt = self._servicedeck
        now = rt.clock
        # `await yield_now(0)`: a checkpoint (anyio.sleep(0) is one on every backend).
        yield_now: Callable[[float], Awaitable[None]] = anyio.sleep
        loop = None
        asyncio = _running_asyncio()
        if asyncio is not None:
            # What anyio does on asyncio, without its backend lookup on every call.
            loop = asyncio.get_running_loop()
            yield_now = asyncio.sleep
            if now is anyio.current_time:
                # asyncio's own loop.time() is time.monotonic(): skip the bound method.
                stock = getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
                now = time.monotonic if stock else loop.time
        run_once = self.run_once
        done = 0
        due = now()
        slept = False
        while True:
            if rt.stop_requested:
                return
            if rt.steps == 0:
                if loops is not None and done >= loops:
                    return
                if rt.paused:
                    rt.next_loop_at = None
                    rt.set_state(ServiceState.PAUSED)
                    if rt.stop_requested or not rt.paused or rt.steps:
                        continue  # a listener asked for more; wake() had no sleep to cut
                    await self._sleep_until(None, now, loop)
                    slept = True
                    continue
                if due > now():
                    rt.next_loop_at = due
                    # rt.set_state() inlined here and below: a call per state change counts.
                    rt.state = ServiceState.SLEEPING
                    if rt.listeners:
                        rt.notify()
                        if rt.stop_requested or rt.paused or rt.steps:
                            continue  # as above: look again before sleeping
                    if loop is None:
                        await self._sleep_until(due, now)
                    else:
                        # _sleep_until()'s asyncio branch, inlined: a coroutine frame per
                        # idle service is a fifth of its memory, and a call per wake-up.
                        waiter = rt.sleeper = loop.create_future()
                        timer = loop.call_later(max(due - now(), 0.0), release, waiter)
                        try:
                            await waiter
                        finally:
                            rt.sleeper = None
                            timer.cancel()
                    slept = True
                    continue
                # Due now: still yield, so a busy service never starves its neighbours;
                # a sleep since the last loop was such a yield (and its flags are checked).
                if not slept:
                    await yield_now(0)
                    if rt.stop_requested or rt.paused or rt.steps:
                        continue
                step = False
            else:
                # A step yields too (unless it just slept), or run_now(1000) on a loop
                # that never awaits would starve every other task until it is done.
                if not slept:
                    await yield_now(0)
                    if rt.stop_requested or not rt.steps:
                        continue
                # Counted in `steps` until it has run: run_now() tickets rely on it.
                step = True

            slept = False
            rt.next_loop_at = None
            if rt.state is not ServiceState.RUNNING:
                rt.state = ServiceState.RUNNING
                if rt.listeners:
                    rt.notify()
            number = rt.loop_count + 1
            started = now()
            if not step and started - due > interval > 0:
                due = started  # missed whole slots (paused, or the event loop stalled): skip them
            try:
                await run_once()
            except Exception as exc:
                ended = now()
                rt.error_count += 1
                rt.consecutive_errors += 1
                tb = exc.__traceback__
                if tb is not None and tb.tb_next is not None:
                    # Start the traceback at run_once(): this frame's line tells the user
                    # nothing, and locating it in this long function made capturing and
                    # formatting the traceback cost more than the rest of a failing loop.
                    exc.__traceback__ = tb.tb_next
                rt.record_error(exc, "run_once", number)
                self.logger.error(
                    "%s: loop %d failed: %r", self.name, number, SafeRepr(exc), exc_info=exc
                )
            else:
                ended = now()
                rt.consecutive_errors = 0
            duration = ended - started
            rt.loop_count = number
            rt.last_duration = duration
            rt.record_duration(duration)
            rt.last_loop_at = ended

            if step:
                rt.steps -= 1
                rt.steps_done += 1
                rt.release_steppers()
            else:
                done += 1
                if interval > 0:
                    if duration > interval:
                        rt.overrun_count += 1
                        self.logger.warning(
                            "%s: loop %d took %.3f s, longer than its interval of %.3g s",
                            self.name,
                            number,
                            duration,
                            interval,
                        )
                    due += interval
                    if due < ended:
                        due = ended  # fell behind: start at once and re-anchor
                else:
                    due = ended
                backoff = self.max_backoff_seconds
                if backoff and rt.consecutive_errors:
                    wait = min(max(interval, 1e-3) * 2 ** min(rt.consecutive_errors, 60), backoff)
                    due = max(due, ended + wait)
            if rt.listeners:
                rt.notify()

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
