"""An event-loop watchdog: notices when synchronous work blocks the loop, and names who.

A service whose `run_once()` calls `time.sleep(2)` (or crunches numbers without
awaiting) freezes every other service and the console. `LoopWatchdog` runs a tiny
heartbeat task in the event loop and a daemon thread beside it. When the heartbeat is
late by more than `threshold`, the thread looks at what the event-loop thread is doing
and finds the service responsible:

1. the stack: the innermost frame whose code belongs to a watched service's class (code
   objects only; it never reads another thread's locals). No such frame, no service to
   blame: a listener or the console may be what runs in a service's task;
2. on asyncio, the running task tells whose that code is: runners name each service's
   task `servicedeck:<name>` (`ServiceController`, `Service.running()`,
   `run_multiple_services()`), which tells apart services that share their code
   (subclasses of one base class).

When the loop comes back, the stall is reported: logged as a warning (in the service's
own log when one is named) and passed to `on_stall`.

Cost when nothing stalls: the task wakes every `interval` (default: a fifth of the
threshold), the thread about twice per `threshold`: ten and four wake-ups a second by
default. A stall is measured as how late the heartbeat woke, which is up to `interval`
less than the loop was blocked: a shorter interval measures closer, at more wake-ups.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import CodeType, FrameType
from typing import Any

import anyio

from servicedeck import LoopService, Service
from servicedeck.control import Stall

__all__ = ["LoopWatchdog"]

logger = logging.getLogger("servicedeck.watchdog")

TASK_PREFIX = "servicedeck:"
"""How runners name a service's task: `servicedeck:<service name>`."""

RECENT_STALLS = 32
"""How many stalls `LoopWatchdog.stalls` keeps."""


class LoopWatchdog:
    """Measures event-loop lag and names the service that blocked the loop.

    Args:
        services: the service instances to recognise (more with `watch()`).
        threshold: lag in seconds that counts as a stall.
        interval: how often the heartbeat beats, in seconds (default: `threshold` / 5).
        on_stall: called in the event loop with each `Stall`, after it ended.
        clock: stamps each stall's `when` (default: none).

    Raises:
        ValueError: `threshold` or `interval` is not a number > 0.
    """

    def __init__(
        self,
        services: Iterable[Service] = (),
        *,
        threshold: float = 0.5,
        interval: float | None = None,
        on_stall: Callable[[Stall], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if interval is None:
            interval = threshold / 5 if isinstance(threshold, int | float) else threshold
        for what, value in (("threshold", threshold), ("interval", interval)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"the watchdog's {what} must be seconds > 0, got {value!r}")
        self.threshold = float(threshold)
        self.interval = float(interval)
        self.on_stall = on_stall
        self.clock = clock
        self.stalls: list[Stall] = []
        """The most recent stalls, oldest first (at most `RECENT_STALLS`)."""
        self._codes: dict[CodeType, str] = {}
        self._names: set[str] = set()
        self._beat = time.monotonic()
        # Filled by the thread while the beat is late: each service seen on the loop's
        # stack (and where), and the last place seen when no service was there.
        self._seen: dict[str, str | None] = {}
        self._elsewhere: str | None = None
        # Samples per service during the current stall: the one on most of them blocked.
        self._counts: dict[str, int] = {}
        self._loop_thread: int | None = None
        self._asyncio_loop: Any = None
        self._stop = threading.Event()
        # Debugger holds (see hold()): counted, so a hold that began and ended within one
        # beat is still seen by it.
        self._holds = 0
        self._held = False
        for service in services:
            self.watch(service)

    @property
    def last_beat(self) -> float:
        """`time.monotonic()` at the heartbeat's latest beat (while `run()` runs, never
        older than `interval` plus however long the event loop was blocked)."""
        return self._beat

    def watch(self, service: Service) -> None:
        """Recognise `service`: its task's name, and its code (`run_once`, hooks, helpers)."""
        self._names.add(service.name)
        for cls in type(service).__mro__:
            if cls in (LoopService, Service, object):
                continue
            for value in cls.__dict__.values():
                code = getattr(getattr(value, "__wrapped__", value), "__code__", None)
                if code is not None:
                    self._codes.setdefault(code, service.name)

    def forget(self, name: str) -> None:
        """Stop recognising service `name` (its code is being replaced by a reload)."""
        self._names.discard(name)
        for code in [code for code, owner in self._codes.items() if owner == name]:
            del self._codes[code]

    def hold(self, held: bool) -> None:
        """Say that a debugger holds the event loop (True) or let it go (False): a lag
        that overlaps a hold is the user at pdb's prompt, not a stall."""
        self._holds += 1
        self._held = held

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Watch until cancelled. Start it in the task group that runs the services."""
        self._loop_thread = threading.get_ident()
        self._asyncio_loop = _running_asyncio_loop()
        self._stop.clear()
        thread = threading.Thread(
            target=self._watch_thread, name="servicedeck-watchdog", daemon=True
        )
        thread.start()
        task_status.started()
        try:
            while True:
                before = time.monotonic()
                self._beat = before
                holds = self._holds
                await anyio.sleep(self.interval)
                lag = time.monotonic() - before - self.interval
                if self._held or holds != self._holds:
                    self._forget()  # a debugger held the loop: not a stall
                elif lag > self.threshold:
                    self._report(lag)
                elif self._seen or self._elsewhere:
                    self._forget()  # samples of a stall too short to count
        finally:
            # Cancelled while its beat is late: the loop was blocked and shutting down won
            # the race with the heartbeat's wake-up. The stall still happened: tell it.
            lag = time.monotonic() - self._beat - self.interval
            if lag > self.threshold and not self._held:
                self._report(lag)
            self._stop.set()
            thread.join(timeout=1.0)  # it wakes at once: nothing left running after us

    def _forget(self) -> tuple[dict[str, str | None], str | None, dict[str, int]]:
        seen, elsewhere, counts = self._seen, self._elsewhere, self._counts
        self._seen, self._elsewhere, self._counts = {}, None, {}
        return seen, elsewhere, counts

    def _report(self, lag: float) -> None:
        seen, elsewhere, counts = self._forget()
        top = max(counts, key=counts.__getitem__) if counts else None
        if len(seen) == 1:
            [(name, where)] = seen.items()
        elif top in seen and counts[top] * 2 > sum(counts.values()):
            # On most samples: it blocked; the others ran just before or after it.
            name, where = top, seen[top]
        else:
            # None seen, or several: a busy loop (many short callbacks), not one blocker.
            name, where = None, elsewhere if not seen else None
        when = self.clock() if self.clock is not None else None
        stall = Stall(seconds=lag, service=name, where=where, at=time.time(), when=when)
        del self.stalls[: -(RECENT_STALLS - 1)]
        self.stalls.append(stall)
        if name is None:
            logger.warning(
                "the event loop was blocked for %.2f s (%s%s)",
                lag,
                f"several services ran: {', '.join(sorted(seen))}" if seen
                else "no service code was running",
                f"; at {where}" if where else "",
            )  # fmt: skip
        else:
            # In the service's own log: the console's log tab and `run` show it there.
            logging.getLogger(f"servicedeck.services.{name}").warning(
                "%s blocked the event loop for %.2f s (at %s): it ran synchronous code "
                "without awaiting; every other service and the console were frozen meanwhile",
                name, lag, where or "an unknown place",
            )  # fmt: skip
        if self.on_stall is not None:
            try:
                self.on_stall(stall)
            except Exception:
                logger.exception("on_stall callback raised")

    # -- the thread -------------------------------------------------------------------

    def _watch_thread(self) -> None:
        resample = min(self.threshold, self.interval) / 2
        # Sampled from half the threshold on: by the time the beat is a whole threshold
        # late, the loop may be running again and the culprit gone from its stack.
        sample_from = self.threshold / 2
        while True:
            # The next beat is due at `_beat + interval`. Sleep until it is `sample_from`
            # late (not a fixed poll: idle, this thread wakes about once per threshold),
            # then sample the loop's stack while it stays late.
            late = time.monotonic() - self._beat - self.interval
            if late > sample_from and not self._held:
                # Sampled for as long as it lasts: a service seen on every sample blocked
                # the loop; several different ones mean a loop busy with many of them.
                frame = sys._current_frames().get(self._loop_thread or 0)
                if frame is not None:
                    name, where = self._find_service(frame)
                    if name is None:
                        self._elsewhere = where
                    else:
                        self._seen.setdefault(name, where)
                        self._counts[name] = self._counts.get(name, 0) + 1
                wait = resample
            else:
                wait = max(sample_from - late, resample)
            if self._stop.wait(wait):
                return

    def _find_service(self, frame: FrameType) -> tuple[str | None, str | None]:
        """The service blocking the loop in `frame`'s stack, and where: never raises."""
        innermost = frame
        while frame is not None:
            name = self._codes.get(frame.f_code)
            if name is not None:
                # Service code is running: the task's name says whose (a base class's
                # code is shared by its subclasses). Without service code on the stack,
                # a service's task may still be running someone else's code (a listener,
                # the console applying a change): no service is to blame.
                return self._service_of_current_task() or name, _where(frame)
            frame = frame.f_back  # type: ignore[assignment]
        return None, _where(innermost)

    def _service_of_current_task(self) -> str | None:
        if self._asyncio_loop is None:
            return None
        try:
            import asyncio

            # A dict lookup in asyncio's table of running tasks: safe from another thread.
            task = asyncio.current_task(self._asyncio_loop)
            name = task.get_name() if task is not None else ""
        except Exception:  # pragma: no cover - defensive: the thread must never die
            return None
        if name.startswith(TASK_PREFIX) and name[len(TASK_PREFIX) :] in self._names:
            return name[len(TASK_PREFIX) :]
        return None


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"


def _running_asyncio_loop() -> Any:
    """The running asyncio event loop, or None (trio). Never imports asyncio itself."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or anyio.get_cancelled_exc_class() is not asyncio.CancelledError:
        return None
    return asyncio.get_running_loop()
