"""An event-loop watchdog: notices when synchronous work blocks the loop, and names who.

A service whose `run_once()` calls `time.sleep(2)` (or crunches numbers without
awaiting) freezes every other service and the console. `LoopWatchdog` runs a tiny
heartbeat task in the event loop and a daemon thread beside it. When the heartbeat is
late by more than `threshold`, the thread looks at the event-loop thread's stack (code
objects only; it never touches another thread's locals) and finds the service whose
code is running. When the loop comes back, the stall is reported: logged as a warning
and passed to `on_stall`.

Cost when nothing stalls: one wake-up of the task and one of the thread per `interval`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType, FrameType

import anyio

from servicedeck import LoopService, Service

__all__ = ["LoopWatchdog", "Stall"]

logger = logging.getLogger("servicedeck.watchdog")

_HOOKS = ("run_once", "setup", "teardown", "start", "stop")


@dataclass(frozen=True, slots=True)
class Stall:
    """The event loop was blocked for `seconds`, by service `service` (None: unknown)."""

    seconds: float
    service: str | None
    where: str | None
    """`file:line in function` of the innermost service frame seen blocking, if any."""
    at: float
    """Wall-clock time (`time.time()`) the stall ended."""


class LoopWatchdog:
    """Measures event-loop lag and names the service that blocked the loop.

    Args:
        services: the service instances to recognise (more with `watch()`).
        threshold: lag in seconds that counts as a stall.
        interval: how often the heartbeat beats, in seconds.
        on_stall: called in the event loop with each `Stall`, after it ended.
    """

    def __init__(
        self,
        services: Iterable[Service] = (),
        *,
        threshold: float = 0.5,
        interval: float = 0.1,
        on_stall: Callable[[Stall], None] | None = None,
    ) -> None:
        if threshold <= 0 or interval <= 0:
            raise ValueError(
                f"threshold and interval must be > 0 seconds, got {threshold!r} and {interval!r}"
            )
        self.threshold = threshold
        self.interval = interval
        self.on_stall = on_stall
        self.stalls: list[Stall] = []
        self._codes: dict[CodeType, str] = {}
        self._beat = time.monotonic()
        self._suspect: tuple[str, str] | None = None
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        for service in services:
            self.watch(service)

    def watch(self, service: Service) -> None:
        """Recognise `service`'s code (`run_once`, hooks, `start`) in a blocked stack."""
        for cls in type(service).__mro__:
            if cls in (LoopService, Service, object):
                continue
            for hook in _HOOKS:
                func = cls.__dict__.get(hook)
                func = getattr(func, "__wrapped__", func)
                code = getattr(func, "__code__", None)
                if code is not None:
                    self._codes[code] = service.name
            # Helpers of the class (called from run_once) count too.
            for value in cls.__dict__.values():
                code = getattr(getattr(value, "__wrapped__", value), "__code__", None)
                if code is not None:
                    self._codes.setdefault(code, service.name)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled. Start it in the task group that runs the services."""
        self._loop_thread = threading.get_ident()
        self._stop.clear()
        thread = threading.Thread(target=self._watch_thread, name="servicedeck-watchdog", daemon=True)
        thread.start()
        task_status.started()
        try:
            while True:
                before = time.monotonic()
                self._beat = before
                await anyio.sleep(self.interval)
                lag = time.monotonic() - before - self.interval
                if lag > self.threshold:
                    self._report(lag)
        finally:
            self._stop.set()

    def _report(self, lag: float) -> None:
        suspect, self._suspect = self._suspect, None
        name, where = suspect if suspect else (None, None)
        stall = Stall(seconds=lag, service=name, where=where, at=time.time())
        del self.stalls[:-31]
        self.stalls.append(stall)
        logger.warning(
            "the event loop was blocked for %.2f s%s",
            lag,
            f" by service {name} ({where})" if name else " (no service code on the stack)",
        )
        if self.on_stall is not None:
            try:
                self.on_stall(stall)
            except Exception:
                logger.exception("on_stall callback raised")

    def _watch_thread(self) -> None:
        while not self._stop.wait(self.interval / 2):
            if self._suspect is None and time.monotonic() - self._beat > self.threshold:
                frame = sys._current_frames().get(self._loop_thread or 0)
                if frame is not None:
                    self._suspect = self._find_service(frame)

    def _find_service(self, frame: FrameType | None) -> tuple[str, str] | None:
        while frame is not None:
            name = self._codes.get(frame.f_code)
            if name is not None:
                summary = traceback.FrameSummary(
                    frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, lookup_line=False
                )
                return name, f"{summary.filename}:{summary.lineno} in {summary.name}"
            frame = frame.f_back
        return None
