"""The console's life cycle: enter the controller, start the services, and stop them
all on the way out.

The controller lives in a task of the app's event loop. q asks it to stop every service
gracefully (the quit dialog shows progress); a second q, or ctrl+q, forces the exit. A
service's `BaseException` ends the app cleanly with the status Python would choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

from rich.text import Text

from servicedeck.control import CommandError
from servicedeck.tui.base import DeckBase
from servicedeck.tui.fatal import exit_status, fatal_message
from servicedeck.tui.screens.quit import QuitScreen

__all__ = ["LifecycleMixin"]


class LifecycleMixin(DeckBase):
    """Run the services for as long as the app runs; quit gracefully, or by force."""

    async def _run_services(self) -> None:
        try:
            async with self.controller:
                if not self.start_paused:
                    await self.controller.start_enabled()
                self._note = ""
                # What exists now (the app, its widgets, the services) lives as long as the
                # app: out of the collector's full passes, which otherwise rescan it all and
                # stall a key press or a filter by up to ~100 ms at 1,000 services.
                # Unfrozen on unmount, so a process running many apps can collect them.
                gc.freeze()
                self._services_ready.set()
                self._update_summary()
                await self._quit_requested.wait()
                self._report = await self.controller.stop_all(self.stop_timeout)
        except (asyncio.CancelledError, Exception, GeneratorExit):
            raise
        except BaseException as exc:
            # A service raised KeyboardInterrupt, SystemExit, ...: the controller stopped
            # every other service and re-raised it. Out of this task it would leave
            # Textual's event loop with the screen half torn down: exit cleanly instead.
            self._fatal = exc

    def _services_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._leaving:
            return  # the app is exiting already: keep the result it exits with
        error = task.exception()
        if error is not None:
            message = Text(f"servicedeck: the services' task failed: {error!r}")
            self.exit(self._report, return_code=1, message=message)
        elif self._fatal is not None:
            fatal, self._fatal = self._fatal, None
            message = fatal_message(fatal)
            self.exit(self._report, return_code=exit_status(fatal), message=message)
        else:
            self.exit(self._report)

    async def on_unmount(self) -> None:
        self._leaving = True
        gc.unfreeze()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._quit_requested.set()
        task = self._lifecycle
        if task is None or task.done():
            return
        # The app may be leaving without q (a test's pilot, ctrl+q): still stop gracefully.
        done, _ = await asyncio.wait({task}, timeout=0.5 if self._forced else self.stop_timeout + 1)
        if not done:
            await self._kill_all()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                task.cancel()

    async def action_quit(self) -> None:
        if self._quitting:
            await self.action_force_quit()
            return
        self._quitting = True
        running = [snap.name for snap in self.controller.snapshots() if snap.has_task]
        self._update_summary()
        self.refresh_bindings()
        if running:
            self._quit_screen = QuitScreen(running, self.stop_timeout)
            await self.push_screen(self._quit_screen)
            self._quit_screen.update(self.controller.snapshots())
        self._quit_requested.set()
        if self._lifecycle is None or self._lifecycle.done():
            self.exit(self._report)

    async def action_force_quit(self) -> None:
        """Quit now: cancel every service still running."""
        self._forced = True
        await self._kill_all()
        self.exit(self._report)

    async def _kill_all(self) -> None:
        for snap in self.controller.snapshots():
            if snap.has_task:
                with contextlib.suppress(CommandError):
                    await self.controller.kill(snap.name)
