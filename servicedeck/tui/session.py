"""`ServiceSession`: the services' run for as long as the console is open.

It enters the control in a task of the console's event loop, starts the enabled services
(paused with `start_paused`; none with `start_nothing`), waits until asked to end, stops
whatever still runs, and leaves the control. Attached to another process (the control
does not own its services), it starts and stops nothing: leaving only disconnects, and
they run on. A service's `BaseException` (KeyboardInterrupt, SystemExit, ...) is kept
for the console to exit with, rather than tearing through its event loop.

No Textual here: the app starts it, ends it, and exits as `outcome()` says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from rich.text import Text

from servicedeck.control import CommandError, ServiceControl, StopReport
from servicedeck.tui.fatal import exit_status, fatal_message

__all__ = ["ServiceSession", "kill_running"]


async def kill_running(control: ServiceControl) -> None:
    """Cancel the task of every service that has one (their teardowns still run)."""
    for snap in control.snapshots():
        if snap.has_task:
            with contextlib.suppress(CommandError):  # it ended meanwhile
                await control.kill(snap.name)


class ServiceSession:
    """Run the services of `control` from `start()` until `end()`.

    Args:
        control: a `ServiceControl` not yet entered.
        start_paused: start every enabled loop service paused (setup done, no loop run:
            for stepping); a service that is not a loop is left stopped.
        stop_timeout: at the end, how long each service may take to stop before it is
            cancelled.
        start_nothing: start no service at all (it wins over `start_paused`).
    """

    def __init__(
        self,
        control: ServiceControl,
        *,
        start_paused: bool,
        stop_timeout: float,
        start_nothing: bool = False,
    ) -> None:
        self.control = control
        self.start_paused = start_paused
        self.start_nothing = start_nothing
        self.stop_timeout = stop_timeout
        self.started = asyncio.Event()
        """Set once the control is entered and the enabled services were started."""
        self.report: StopReport | None = None
        """The final stop's report (or the one `end()` was given)."""
        self.fatal: BaseException | None = None
        """The `BaseException` a service raised, which ended the session."""
        self._end = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        """The session's task has ended (or never started)."""
        return self._task is None or self._task.done()

    def start(
        self, on_started: Callable[[], None], on_ended: Callable[[asyncio.Task[None]], None]
    ) -> None:
        """Run the session in a task of the running event loop.

        Args:
            on_started: called once the services were started.
            on_ended: called with the task once it has ended.
        """
        self._task = asyncio.create_task(self._run(on_started), name="servicedeck:controller")
        self._task.add_done_callback(on_ended)

    def end(self, report: StopReport | None = None) -> None:
        """Stop whatever still runs and leave the control.

        Args:
            report: the report of a stop of every service done already (the quit
                screen's), kept as the session's.
        """
        if report is not None:
            self.report = report
        self._end.set()

    def outcome(self, task: asyncio.Task[None]) -> tuple[int, Text | None]:
        """The status the app exits with once the session's `task` has ended, and the
        message it prints (None: none)."""
        error = task.exception()
        if error is not None:
            return 1, Text(f"servicedeck: the services' task failed: {error!r}")
        if self.fatal is not None:
            return exit_status(self.fatal), fatal_message(self.fatal)
        return 0, None

    async def leave(self, forced: bool) -> None:
        """End the session and wait for it; cancel the services, then the task, if it
        takes too long (half a second when `forced`, else the stop timeout and a second)."""
        self.end()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=0.5 if forced else self.stop_timeout + 1)
        if not done:
            if self.control.owns_services:
                await kill_running(self.control)
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                task.cancel()

    async def _run(self, on_started: Callable[[], None]) -> None:
        try:
            async with self.control:
                owned = self.control.owns_services
                if owned and not self.start_nothing:
                    await self.control.start_enabled(paused=self.start_paused)
                self.started.set()
                on_started()
                await self._end.wait()
                if owned:
                    # Whatever the quit screen did not stop (everything, when leaving without it).
                    report = await self.control.stop_all(self.stop_timeout)
                    self.report = self.report or report
        except (asyncio.CancelledError, Exception, GeneratorExit):
            raise
        except BaseException as exc:
            # A service raised KeyboardInterrupt, SystemExit, ...: the control stopped
            # every other service and re-raised it. Out of this task it would leave the
            # app's event loop with the screen half torn down: the app exits with it.
            self.fatal = exc
