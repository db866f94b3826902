"""`ServiceDeckApp`: the Textual console over the control protocol (`ServiceControl`).

The app composes the widgets and routes what passes between them: it sets their
attributes, they post messages.

    SummaryBar     the header line: totals and the table's view, reactive attributes
    ConnectionBanner  shown while the services' process cannot be reached (attached)
    ServiceTable   one row per service; it owns the cursor, filter, sort and count
    DetailPanel    the highlighted service: detail, last error, logs
    FilterBar      the name filter box; it posts FilterChanged
    QuitScreen     q: stops every service with progress; q again forces

The app enters the controller in a task of its own event loop and starts the enabled
services (with `start_paused`, each loop service paused: setup done, no loop run, so `n`
steps it without re-running setup). A `ChangeFeed` turns the controller's change stream
into a few screen updates a second (a service the user just acted on at once), which the
app hands to each widget. The service keys are the app's: it checks whether the
highlighted service's state allows each (greyed out otherwise, with the reason on a
press) and runs the command as a worker, so the screen never freezes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable, Iterator
from functools import cached_property, partial
from typing import Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.notifications import Notify
from textual.widgets import Input

from servicedeck.control import (
    CommandError,
    ProcessInfo,
    ServiceControl,
    ServiceSnapshot,
    StopReport,
    wait_until,
)
from servicedeck.tui import format as fmt
from servicedeck.tui import keys
from servicedeck.tui.changes import ChangeFeed
from servicedeck.tui.commands import PaletteCommand, ServiceCommands, palette_commands
from servicedeck.tui.keys import KeySpec
from servicedeck.tui.notices import NotificationBound, ServiceNotices
from servicedeck.tui.screens.confirm import ConfirmScreen
from servicedeck.tui.screens.help import HelpScreen
from servicedeck.tui.screens.quit import QuitScreen
from servicedeck.tui.session import ServiceSession, kill_running
from servicedeck.tui.widgets.banner import ConnectionBanner
from servicedeck.tui.widgets.columns import with_process
from servicedeck.tui.widgets.detail import DetailPanel, Tab
from servicedeck.tui.widgets.filter_bar import FilterBar
from servicedeck.tui.widgets.footer import KeyFooter
from servicedeck.tui.widgets.log_view import LogView
from servicedeck.tui.widgets.reload_banner import ReloadBanner
from servicedeck.tui.widgets.service_table import ServiceTable
from servicedeck.tui.widgets.summary import SummaryBar

__all__ = ["ServiceDeckApp"]

_SERVICE_KEYS = tuple(spec for spec in keys.KEYS if spec.command is not None)


class ServiceDeckApp(App[StopReport | None]):
    """The servicedeck console.

        app = ServiceDeckApp(ServiceController(classes, propagate_logs=False))
        app.run()

    Args:
        controller: a `ServiceControl` (e.g. a `ServiceController`) not yet entered;
            the app enters it.
        start_paused: open with every enabled loop service paused (started, `setup()`
            done, no loop run; for stepping with `n`), instead of running them. A service
            that is not a loop cannot be paused: it is left stopped.
        stop_timeout: on quit, how long each service may take to stop before it is
            cancelled.
        open_stopped: start no service at all (tests, and tools that start services
            themselves); it wins over `start_paused`.
        refresh_seconds: how often the services' changes are drawn (`REFRESH_SECONDS`
            by default); the effect of a key shows at once, whatever it is.

    `run()` returns the `StopReport` of the final stop (None if forced before it ended);
    `return_code` is `FORCED_EXIT_STATUS` (130) when the user forced the exit (q twice).
    """

    CSS_PATH = "servicedeck.tcss"
    TITLE = "servicedeck"
    BINDINGS: ClassVar[list[BindingType]] = list(keys.APP_BINDINGS)
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {ServiceCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    REFRESH_SECONDS: ClassVar[float] = 0.5
    """How often, by default, the services' changes are drawn: counters, states and
    countdowns (`--refresh`). Twice a second: more often than `top` or `htop` redraw
    (every 1.5 to 3 s), and about 1.5 points of a core less than four times a second
    with 6 busy services (docs/performance.md). A key's effect is not waited for."""
    STALL_NOTICE_SECONDS: ClassVar[float] = 30.0
    """The least time between two notifications of one service blocking the event loop."""
    KILL_NOTICE_SECONDS: ClassVar[float] = 2.0
    """After ctrl+k, how long the console waits for the task to end before it says that
    the task runs on (it shields itself from cancellation, or never awaits)."""
    FORCED_EXIT_STATUS: ClassVar[int] = 130
    """The exit status of a forced quit (q twice): 128 + SIGINT, as shells report an
    interrupted command, since services may not have stopped cleanly."""
    MAX_NOTIFICATIONS: ClassVar[int] = 5
    """Notifications shown at once; a burst (a hundred services breaking on error) drops
    the oldest, so they stay readable and bounded."""

    def __init__(
        self,
        controller: ServiceControl,
        start_paused: bool = False,
        *,
        stop_timeout: float = 5.0,
        open_stopped: bool = False,
        refresh_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.refresh_seconds = refresh_seconds or self.REFRESH_SECONDS
        """How often the services' changes are drawn."""
        self._session = ServiceSession(
            controller,
            start_paused=start_paused,
            stop_timeout=stop_timeout,
            start_nothing=open_stopped,
        )
        self._changes = ChangeFeed(controller, self._show_snapshots, in_view=self._names_in_view)
        self._notices = ServiceNotices(controller.process.root, self.STALL_NOTICE_SECONDS)
        self._notifications_shown = NotificationBound(self.MAX_NOTIFICATIONS)
        self._stopped = asyncio.Event()
        self._quit_screen: QuitScreen | None = None
        self._quitting = False
        self._forced = False
        self._leaving = False
        self._allowed: tuple[bool, ...] = ()
        self._names: tuple[str, ...] = ()
        self._process: ProcessInfo = controller.process
        self._process_column = False

    @property
    def stop_timeout(self) -> float:
        """On quit, how long each service may take to stop before it is cancelled."""
        return self._session.stop_timeout

    @stop_timeout.setter
    def stop_timeout(self, seconds: float) -> None:
        self._session.stop_timeout = seconds

    # -- composition ----------------------------------------------------------------------
    # The widgets are looked up once: a change can still arrive while the app closes,
    # after Textual has taken its widgets off the screen.

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield ConnectionBanner(id="banner")
        yield ReloadBanner(id="reload-banner")
        yield ServiceTable(self.controller.now, root=self.controller.process.root, id="table")
        yield DetailPanel(
            self.controller.process,
            where=self.controller.where,
            now=self.controller.now,
            snapshot=self.controller.snapshot,
            id="detail",
        )
        yield FilterBar(id="filter")
        yield KeyFooter(compact=True, show_command_palette=False)

    @cached_property
    def table(self) -> ServiceTable:
        """The service table."""
        return self.query_one("#table", ServiceTable)

    @cached_property
    def detail(self) -> DetailPanel:
        """The detail panel."""
        return self.query_one("#detail", DetailPanel)

    @cached_property
    def summary(self) -> SummaryBar:
        """The header line."""
        return self.query_one("#summary", SummaryBar)

    @cached_property
    def banner(self) -> ConnectionBanner:
        """The line that says the services' process cannot be reached."""
        return self.query_one("#banner", ConnectionBanner)

    @cached_property
    def reload_banner(self) -> ReloadBanner:
        """The line that says a reload of changed code failed (`--reload`)."""
        return self.query_one("#reload-banner", ReloadBanner)

    @cached_property
    def filter_bar(self) -> FilterBar:
        """The name filter box."""
        return self.query_one("#filter", FilterBar)

    @property
    def ready(self) -> asyncio.Event:
        """Set once the controller is entered (and the enabled services were started)."""
        return self._session.started

    @property
    def stopped(self) -> asyncio.Event:
        """Set once the services are stopped and the controller is left (and the app has
        been told to exit)."""
        return self._stopped

    def flush(self) -> None:
        """Show every pending change of the services, and every countdown that moved,
        now (a timer does this every `refresh_seconds` for the rows on screen, once a
        second for the others)."""
        self._changes.flush()
        self.table.tick()

    # -- life cycle -----------------------------------------------------------------------

    def on_mount(self) -> None:
        snapshots = self.controller.snapshots()
        self.summary.note = "starting…"
        self.summary.count_services(snapshots)
        self._names = self.controller.names
        self.table.set_rows(snapshots)
        self.reload_banner.show(snapshots)
        self._changes.start()
        self.set_interval(self.refresh_seconds, self._refresh)
        self._session.start(self._services_started, self._services_ended)
        self.table.focus()
        self._show_detail()

    def _refresh(self) -> None:
        """Draw what changed: the services' changes, and the countdowns that moved (in
        one frame, from one timer: two would make twice the frames)."""
        self._changes.tick()
        self.table.tick()

    def _services_started(self) -> None:
        # What exists now (the app, its widgets, the services) lives as long as the app:
        # out of the collector's full passes, which otherwise rescan it all and stall a
        # key press or a filter by up to ~100 ms at 1,000 services. Unfrozen on unmount,
        # so a process running many apps can collect them.
        gc.freeze()
        if not self._leaving:
            self.summary.note = "stopping services…" if self._quitting else ""

    def _services_ended(self, task: asyncio.Task[None]) -> None:
        try:
            # Cancelled or leaving: the app is exiting already, with the result it has.
            if not task.cancelled() and not self._leaving:
                return_code, message = self._session.outcome(task)
                self.exit(self._session.report, return_code=return_code, message=message)
        finally:
            self._stopped.set()

    async def on_unmount(self) -> None:
        self._leaving = True
        gc.unfreeze()
        self._changes.close()
        # The app may be leaving without q (a test's pilot, ctrl+q): still stop gracefully.
        await self._session.leave(forced=self._forced)

    async def action_quit(self) -> None:
        """Quit: stop every service gracefully (the quit screen shows it); again: force.

        Attached to another process, quitting only detaches: its services run on."""
        if not self.controller.owns_services:
            self._quitting = True
            self._session.end()
            self.exit(None)
            return
        if self._quitting:
            await kill_running(self.controller)
            self._force_exit()
            return
        self._quitting = True
        self.summary.note = "stopping services…"
        self.refresh_bindings()
        if any(snap.has_task for snap in self.controller.snapshots()):
            self._quit_screen = QuitScreen(self.controller, self.stop_timeout)
            await self.push_screen(self._quit_screen)
        else:
            self._session.end()
            if self._session.done:
                self.exit(self._session.report)

    @on(QuitScreen.Stopped)
    def _quit_screen_stopped(self, event: QuitScreen.Stopped) -> None:
        self._session.end(event.report)  # its task leaves the controller, then the app exits

    @on(QuitScreen.Forced)
    def _force_exit(self) -> None:
        self._forced = True
        # Not a success: services may not have stopped (teardowns cut short, or stuck).
        self.exit(self._session.report, return_code=self.FORCED_EXIT_STATUS)

    # -- changes of the services ----------------------------------------------------------

    def _show_snapshots(self, snapshots: list[ServiceSnapshot], at_once: bool = True) -> None:
        """The change feed's callback: hand the new snapshots to everything that shows
        them (`at_once`: the effects of a key; else what draws less often may wait)."""
        table = self.table
        self._follow_the_process(snapshots)
        table.update_rows(snapshots)
        self.reload_banner.show(snapshots)
        self.summary.count_services(snapshots)
        cursor = table.cursor_name
        if any(snap.name == cursor for snap in snapshots):
            self._show_detail(at_once=at_once)
            self._refresh_allowed()
        for snap in snapshots:
            if self._notices.is_new_break(snap):
                self._show_break(snap)
            if (notice := self._notices.stall_notice(snap)) is not None:
                self.notify(notice, severity="warning", timeout=6, markup=False)
        if self._quit_screen is not None:
            self._quit_screen.update(snapshots)

    def _names_in_view(self) -> list[str] | None:
        """The services whose changes show now: the rows on screen, the highlighted one,
        and "" (the connection, attached); None when every service's do (a sort by a
        column that changes, failing only, the quit screen's progress)."""
        table = self.table
        if (
            self._quit_screen is not None
            or table.failing_only
            or table.sort_column[0] not in (None, "name")
        ):
            return None
        names = [name for y in range(1, table.size.height) if (name := table.name_at(y))]
        names += ["", table.cursor_name or ""]
        return names

    def _follow_the_process(self, snapshots: list[ServiceSnapshot]) -> None:
        """Attached to another process: it may be lost, reached (its services and paths
        known only then), replaced by a new one, or be one of several."""
        control = self.controller
        self.banner.reasons = control.unreachable
        process = control.process
        if process != self._process:
            self._process = process
            self.detail.process = process
            self.table.root = process.root
            self._notices.root = process.root
        if not self._process_column and any(snap.process is not None for snap in snapshots):
            self._process_column = True
            self.table.show_columns(with_process())
        names = control.names
        if names != self._names:
            self._names = names
            self.table.set_rows(control.snapshots())
            self._show_detail()

    def _show_break(self, snap: ServiceSnapshot) -> None:
        """Break on exception: show the service that paused on error, traceback open."""
        error = snap.status.last_error
        summary = error.summary if error else "an error"
        self.notify(f"{snap.name} paused on error: {summary[:200]}", severity="error", markup=False)
        if snap.name in self.table.visible_names:
            self.table.move_cursor(snap.name)
            self.detail.tab = "error"

    def _show_detail(self, at_once: bool = True) -> None:
        name = self.table.cursor_name
        snap = self.table.snapshot(name) if name else None
        logs = self.controller.logs(name) if name and self.detail.tab != "error" else []
        self.detail.show(snap, logs, self.controller.epoch, at_once=at_once)

    def on_notify(self, event: Notify) -> None:
        """Keep a few notifications on screen (Textual's own handler shows the new one)."""
        self._notifications_shown.add(event.notification)

    # -- what the widgets report ----------------------------------------------------------

    @on(ServiceTable.Highlighted)
    def _highlighted(self) -> None:
        self._show_detail()
        self._refresh_allowed()

    @on(ServiceTable.Selected)
    def _selected(self) -> None:
        self.action_show_detail()

    @on(ServiceTable.ViewChanged)
    def _view_changed(self, event: ServiceTable.ViewChanged) -> None:
        table, summary = event.table, self.summary
        summary.shown = len(table.visible_names)
        summary.filter_text = table.filter_text
        summary.failing_only = table.failing_only
        summary.sort_column = table.sort_column
        summary.count = table.count

    @on(FilterBar.FilterChanged)
    def _filter_changed(self, event: FilterBar.FilterChanged) -> None:
        self.table.filter_text = event.text

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self._focus_table()

    def _focus_table(self) -> None:
        # At once, not on a later turn as `focus()` would: the keys typed next are the
        # table's. On its own screen: a dialog may be on top by now.
        self.table.screen.set_focus(self.table)

    # -- keys: greyed out, and why ------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Whether a key of the app acts now: False leaves it to a dialog or the filter
        box; None greys it out (the highlighted service's state refuses it)."""
        spec = keys.by_action(action)
        if spec is None or spec.owner != "app":
            return True
        if self._log_viewer_takes(spec):
            return False
        typing = isinstance(self.focused, Input)
        if self.screen.is_modal or (typing and spec.key != "escape"):
            # Our bindings are priority bindings: leave keys to a dialog or the filter box.
            return False
        return True if self._reason(spec) is None else None

    def on_key(self, event: events.Key) -> None:
        """A key no binding took: a greyed-out one says why (and drops the count)."""
        if self.screen.is_modal or isinstance(self.focused, Input):
            return
        active = self.screen.active_bindings.get(event.key)
        spec = keys.by_action(active.binding.action) if active else None
        if spec is None:
            return
        if spec.id != "step":
            self.table.count = ""
        if active is not None and not active.enabled:
            reason = self._reason(spec)
            if reason:
                self.notify(reason, severity="warning", timeout=3, markup=False)

    def _reason(self, spec: KeySpec, name: str | None = None) -> str | None:
        """Why the binding `spec` cannot act on service `name` (default: highlighted) now."""
        name = name or self.table.cursor_name
        snap = self.table.snapshot(name) if name else None
        return keys.key_refusal(spec, self.controller, snap, quitting=self._quitting)

    def _refresh_allowed(self) -> None:
        allowed = tuple(self._reason(spec) is None for spec in _SERVICE_KEYS)
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

    # -- service keys: commands as workers ------------------------------------------------

    def _send(self, binding_id: str, count: int = 1) -> ServiceSnapshot | None:
        """Send the command of service key `binding_id` to the highlighted service (as it
        was: the returned snapshot), if the key may act on it; else notify why."""
        spec = keys.spec(binding_id)
        assert spec.send is not None
        if snap := self._target(spec):
            self._run_worker(snap.name, partial(spec.send, self.controller, snap, count))
        return snap

    def _target(self, spec: KeySpec) -> ServiceSnapshot | None:
        """The highlighted service if key `spec` may act on it; else notify why."""
        reason = self._reason(spec)
        if reason is not None:
            self.notify(reason, severity="warning", timeout=3, markup=False)
            return None
        name = self.table.cursor_name
        return self.table.snapshot(name) if name else None

    def _run_worker(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        self._changes.mark_urgent(name)

        async def guarded() -> None:
            try:
                await work()
            except CommandError as exc:
                self.notify(str(exc), severity="warning", timeout=4, markup=False)
            except Exception as exc:
                self.notify(f"{name}: {exc!r}", severity="error", markup=False)
            finally:
                self._changes.mark_urgent(name)

        self.run_worker(guarded(), name=f"command:{name}", group="commands", exit_on_error=False)

    def action_start(self) -> None:
        """Start the highlighted service."""
        self._send("start")

    def action_step(self) -> None:
        """Run the count typed (default 1) of loops of the highlighted service now."""
        self._send("step", self.table.take_count())

    def action_toggle_pause(self) -> None:
        """Pause the highlighted service, or resume it."""
        self._send("pause")

    def action_stop(self) -> None:
        """Ask the highlighted service to stop, without waiting."""
        self._send("stop")

    def action_restart(self) -> None:
        """Reload the highlighted service's changed code, else restart it; say which."""
        if snap := self._target(keys.spec("restart")):
            self._run_worker(snap.name, partial(self._restart, snap.name))

    async def _restart(self, name: str) -> None:
        # The controller logs the same sentence in the service's log.
        report = await self.controller.restart(name)
        self.notify(report.summary, timeout=5, markup=False)

    def action_debug(self) -> None:
        """Run the next loop of the highlighted service under pdb (the console steps aside)."""
        if self.is_headless:  # no terminal to hand to pdb (a test's pilot)
            self.notify("the debugger needs a terminal", severity="warning", markup=False)
            return
        if snap := self._target(keys.spec("debug")):
            self._run_worker(snap.name, partial(self._debug, snap.name))

    async def _debug(self, name: str) -> None:
        await self.controller.debug(name)
        loops = self.controller.snapshot(name).status.loop_count
        self.notify(f"{name}: its loop ran under pdb (loop {loops})", timeout=5, markup=False)

    def action_kill(self) -> None:
        """Cancel the highlighted service's task: at once when it is stuck (or a kill is
        under way), else after a one-key confirmation."""
        snap = self._target(keys.spec("kill"))
        if snap is None:
            return
        name = snap.name
        if snap.stuck or snap.kill_requested_at is not None:
            self._kill(name)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._kill(name)

        state = fmt.state_cell(snap)[0].split(" ", 1)[-1]
        self.push_screen(
            ConfirmScreen(
                f"Kill {name}? It is {state}, not stuck.",
                "Its task is cancelled mid-loop (teardown still runs); x stops it gracefully.",
                yes="Kill",
            ),
            answered,
        )

    def _kill(self, name: str) -> None:
        self._run_worker(name, partial(self._kill_and_tell, name))

    async def _kill_and_tell(self, name: str) -> None:
        """Kill `name`, then say whether its task ended (a log line records it too)."""
        control = self.controller
        await control.kill(name)
        with contextlib.suppress(TimeoutError):
            await wait_until(
                control,
                lambda: not control.snapshot(name).has_task,
                timeout=self.KILL_NOTICE_SECONDS,
            )
        if not control.snapshot(name).has_task:
            self.notify(f"{name} killed: its task was cancelled.", timeout=4, markup=False)
            return
        self.notify(
            f"{name} is still running {self.KILL_NOTICE_SECONDS:g} s after the kill: it "
            "shields itself from cancellation or never awaits. It ends when its code lets "
            "it; q twice exits anyway.",
            severity="warning",
            timeout=8,
            markup=False,
        )

    def action_cancel_steps(self) -> None:
        """Drop the loops that n queued on the highlighted service."""
        self._send("cancel_steps")

    def action_toggle_enabled(self) -> None:
        """Toggle whether the highlighted service is enabled, for this session."""
        self._send("toggle_enabled")

    def action_toggle_pause_on_error(self) -> None:
        """Toggle break on error for the highlighted service."""
        if snap := self._send("pause_on_error"):
            on = "off" if snap.pause_on_error else "on"
            self.notify(f"Break on error {on} for {snap.name}.", timeout=3, markup=False)

    def action_stop_wait(self) -> None:
        """Stop the highlighted service and wait, as a worker, saying how it went."""
        if snap := self._target(keys.spec("stop_wait")):
            self._run_worker(snap.name, partial(self._stop_and_wait, snap))

    async def _stop_and_wait(self, snap: ServiceSnapshot) -> None:
        name = snap.name
        self.table.set_blocking(name, True)
        try:
            # A loop may be mid-run: wait at least the quit grace, not just one interval.
            timeout = max(self.stop_timeout, snap.status.loop_seconds or 0)
            stopped = await self.controller.stop(name, block=True, timeout=timeout)
        finally:
            self.table.set_blocking(name, False)
        if stopped:
            self.notify(f"{name} stopped.", timeout=3, markup=False)
        else:
            self.notify(
                f"{name} did not stop in time: it is stuck; "
                f"{keys.key_display(keys.spec('kill'))} cancels it.",
                severity="warning",
                markup=False,
            )

    def run_binding(self, binding_id: str, name: str) -> None:
        """Run the action of binding `binding_id` on service `name` (the palette uses this).

        The cursor moves to `name` first (clearing a filter that hides it), so the action
        hits the service the user sees highlighted.
        """
        if name not in self.table.visible_names:
            self.table.set_filter("", failing_only=False)
        self.table.move_cursor(name)
        spec = keys.spec(binding_id)
        reason = self._reason(spec, name)
        if reason is not None:
            self.notify(reason, severity="warning", timeout=3, markup=False)
            return
        getattr(self, f"action_{spec.action}")()

    # -- view keys ----------------------------------------------------------------------

    def _show_tab(self, tab: Tab) -> None:
        self.detail.select_tab(tab)
        self._show_detail()

    def action_show_logs(self) -> None:
        """Show the logs tab (again: enlarge it)."""
        self._show_tab("logs")

    def action_show_error(self) -> None:
        """Show the last error tab (again: enlarge it)."""
        self._show_tab("error")

    def action_show_detail(self) -> None:
        """Show the detail tab (again: enlarge it)."""
        self._show_tab("detail")

    # -- the detail panel: copy, the log viewer ------------------------------------------

    def action_copy(self) -> None:
        """Copy what the detail panel shows: the await stack, the traceback, the log line."""
        found = self.detail.copy_text()
        if found is None:
            self.notify("Nothing to copy here.", severity="warning", timeout=3, markup=False)
            return
        text, what = found
        self.copy_to_clipboard(text)
        self.notify(f"Copied {what}.", timeout=3, markup=False)

    def _log_viewer_takes(self, spec: KeySpec) -> bool:
        """The log viewer has focus and binds a key of `spec` (/, n, k, esc): its own
        meaning wins there, and the key keeps the app's everywhere else."""
        return self.detail.log_view.has_focus_within and bool(set(spec.keys) & keys.LOG_KEY_NAMES)

    @on(LogView.LevelChanged)
    def _log_level_changed(self, event: LogView.LevelChanged) -> None:
        name, level = event.name, event.level
        self._run_worker(name, partial(self.controller.set_log_level, name, level))

    @on(LogView.Closed)
    def _log_viewer_closed(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
        self._focus_table()

    def action_filter(self) -> None:
        """Open the filter box."""
        self.filter_bar.open(self.table.filter_text)

    def action_clear(self) -> None:
        """Clear the count typed, else bring back the enlarged panel, else the filter."""
        table = self.table
        if table.count:
            table.count = ""
        elif self.screen.maximized is not None:
            self.screen.minimize()  # the table takes the focus back as it shows (on_show)
        elif self.filter_bar.shown or table.filter_text or table.failing_only:
            self.filter_bar.clear()
            table.set_filter("", failing_only=False)
            self._focus_table()

    def action_help(self) -> None:
        """Show every key (as bound now)."""
        self.push_screen(HelpScreen(self.screen.active_bindings))

    def sort_by(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort the table by a column (None: definition order)."""
        self.table.sort_by(column_key, reverse)

    def palette_commands(self, highlighted_only: bool = False) -> Iterator[PaletteCommand]:
        """The command palette's entries (see `commands.palette_commands`)."""
        return palette_commands(self, highlighted_only)
