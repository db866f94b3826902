"""`ServiceDeckApp`: the Textual console over a `ServiceController`.

A thin view. The app enters the controller in a task of its own event loop, starts the
enabled services (unless `start_paused`), and turns the controller's change stream into
screen updates: each change marks its service dirty; a timer applies the dirty ones a
few times a second (a service the user just acted on is applied at once, so a key press
shows its effect within a frame). Actions call the controller; long ones (step, blocking
stop, restart) run as workers, so the screen never freezes. Quitting stops every service
gracefully with progress; a second q forces the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.notifications import Notify
from textual.widgets import Footer, Input

from servicedeck.controller import (
    DEFAULT_STOP_TIMEOUT,
    Command,
    CommandError,
    ServiceController,
    ServiceSnapshot,
    StopReport,
)
from servicedeck.tui import format as fmt
from servicedeck.tui import keys
from servicedeck.tui.commands import PaletteCommand, ServiceCommands
from servicedeck.tui.keys import KeySpec
from servicedeck.tui.screens.help import HelpScreen
from servicedeck.tui.screens.quit import QuitScreen
from servicedeck.tui.widgets.columns import COLUMNS
from servicedeck.tui.widgets.detail import DetailPanel
from servicedeck.tui.widgets.service_table import ServiceTable
from servicedeck.tui.widgets.summary import Summary, SummaryBar

__all__ = ["ServiceDeckApp"]

_BY_ACTION: dict[str, KeySpec] = {spec.action: spec for spec in keys.KEYS}
_SERVICE_KEYS = tuple(spec for spec in keys.KEYS if spec.command is not None)
_VIEW_KEYS = {"show_logs": "logs", "show_error": "error", "show_detail": "detail"}


class ServiceDeckApp(App[StopReport | None]):
    """The servicedeck console.

        app = ServiceDeckApp(ServiceController(classes, propagate_logs=False))
        app.run()

    Args:
        controller: a `ServiceController` not yet entered; the app enters it.
        start_paused: open with every service stopped (for stepping), instead of
            starting the enabled ones.
        stop_timeout: on quit, how long each service may take to stop before it is
            cancelled.

    `run()` returns the `StopReport` of the final stop (None if forced before it ended).
    """

    CSS_PATH = "servicedeck.tcss"
    TITLE = "servicedeck"
    BINDINGS: ClassVar[list[BindingType]] = list(keys.BINDINGS)
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {ServiceCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    FLUSH_SECONDS: ClassVar[float] = 0.25
    """How often changes are applied to the screen (at most 4 refreshes a second)."""
    URGENT_SECONDS: ClassVar[float] = 2.0
    """After an action, changes of that service are applied at once for this long."""
    URGENT_SPACING: ClassVar[float] = 1 / 30
    """The least time between two immediate applies (a fast loop cannot flood the UI)."""
    TICK_SECONDS: ClassVar[float] = 0.5
    """How often countdowns are redrawn."""
    STALL_NOTICE_SECONDS: ClassVar[float] = 30.0
    """The least time between two notifications of one service blocking the event loop."""
    MAX_NOTIFICATIONS: ClassVar[int] = 5
    """Notifications shown at once; a burst (a hundred services breaking on error) drops
    the oldest, so they stay readable and bounded."""

    def __init__(
        self,
        controller: ServiceController,
        start_paused: bool = False,
        *,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.start_paused = start_paused
        self.stop_timeout = stop_timeout
        self._snapshots: dict[str, ServiceSnapshot] = {}
        self._dirty: set[str] = set()
        self._urgent: dict[str, float] = {}
        self._urgent_pending = False
        self._applying = False
        self._filtering = False
        self._last_urgent = 0.0
        self._lifecycle: asyncio.Task[None] | None = None
        self._quit_requested = asyncio.Event()
        self._services_ready = asyncio.Event()
        self._quitting = False
        self._forced = False
        self._leaving = False
        self._report: StopReport | None = None
        self._fatal: BaseException | None = None
        self._count = ""
        self._note = "starting…"
        self._broken: set[str] = set()
        self._stalls_seen: dict[str, tuple[object, float]] = {}
        self._allowed: tuple[bool, ...] = ()
        self._unsubscribe: Callable[[], None] | None = None
        self._ui_thread = threading.get_ident()
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._quit_screen: QuitScreen | None = None
        self._table: ServiceTable | None = None
        self._detail: DetailPanel | None = None

    # -- composition and life cycle -----------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SummaryBar(id="summary")
        yield ServiceTable(self.controller.now, id="table")
        yield DetailPanel(id="detail")
        yield Input(placeholder="filter by name  (enter keeps it, esc clears it)", id="filter")
        yield Footer(compact=True, show_command_palette=False)

    @property
    def table(self) -> ServiceTable:
        """The service table."""
        if self._table is None:
            self._table = self.query_one("#table", ServiceTable)
        return self._table

    @property
    def detail(self) -> DetailPanel:
        """The detail panel."""
        if self._detail is None:
            self._detail = self.query_one("#detail", DetailPanel)
        return self._detail

    @property
    def ready(self) -> asyncio.Event:
        """Set once the controller is entered (and the enabled services were started)."""
        return self._services_ready

    def on_mount(self) -> None:
        self._ui_thread = threading.get_ident()
        self._event_loop = asyncio.get_running_loop()
        if self.is_headless:
            self.query_one("#filter", Input).cursor_blink = False
        snapshots = self.controller.snapshots()
        self._snapshots = {snap.name: snap for snap in snapshots}
        self.table.set_rows(snapshots)
        self._unsubscribe = self.controller.subscribe(self._on_change)
        self.set_interval(self.FLUSH_SECONDS, self.flush)
        self.set_interval(self.TICK_SECONDS, self.table.tick)
        self._lifecycle = asyncio.create_task(self._run_services(), name="servicedeck:controller")
        self._lifecycle.add_done_callback(self._services_ended)
        self.table.focus()
        self._update_summary()
        self._show_detail()

    async def _run_services(self) -> None:
        try:
            async with self.controller:
                if not self.start_paused:
                    self.controller.start_enabled()
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
            message = _fatal_message(fatal)
            self.exit(self._report, return_code=_exit_status(fatal), message=message)
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
            self._kill_all()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                task.cancel()

    # -- the change stream --------------------------------------------------------------

    def on_notify(self, event: Notify) -> None:
        """Drop the oldest notifications beyond the bound (Textual shows the new one)."""
        shown = list(self._notifications)
        # This handler runs before Textual's own adds the new one (but allow either order).
        room = self.MAX_NOTIFICATIONS - (0 if event.notification in self._notifications else 1)
        for old in shown[: max(0, len(shown) - room)]:
            self._unnotify(old, refresh=False)

    def _on_change(self, name: str) -> None:
        """Controller callback: runs in a service's task (or a thread, for log records)."""
        if self._leaving:
            return
        if threading.get_ident() != self._ui_thread:
            if self._event_loop is not None:
                self._event_loop.call_soon_threadsafe(self._on_change, name)
            return
        self._dirty.add(name)
        if name not in self._urgent or self._urgent_pending:
            return
        delay = self._last_urgent + self.URGENT_SPACING - time.monotonic()
        self._urgent_pending = True
        if delay <= 0 and not self._applying:
            # Show it at the end of this event-loop turn, with the service's other changes
            # of the turn (a loop's start, end and sleep come together): a message to the
            # app would wait for turns that hundreds of busy services make long.
            asyncio.get_running_loop().call_soon(self._flush_urgent)
        else:
            self.set_timer(max(delay, 0.0), self._flush_urgent)

    def _mark_urgent(self, name: str) -> None:
        self._urgent[name] = time.monotonic() + self.URGENT_SECONDS
        self._dirty.add(name)
        # At the end of this turn, after the command that follows (its immediate changes
        # show together); unspaced, so the first change it causes later shows at once.
        asyncio.get_running_loop().call_soon(self._flush_urgent, False)
        self._urgent_pending = True

    def _flush_urgent(self, spaced: bool = True) -> None:
        self._urgent_pending = False
        now = time.monotonic()
        if spaced:
            self._last_urgent = now
        for name, until in list(self._urgent.items()):
            if until < now:
                del self._urgent[name]
        names = self._dirty.intersection(self._urgent)
        if names:
            self._dirty.difference_update(names)
            self._apply(names)

    def flush(self) -> None:
        """Apply every pending change to the screen now (the timer calls this)."""
        if self._dirty:
            names, self._dirty = self._dirty, set()
            self._apply(names)

    def _apply(self, names: set[str]) -> None:
        if self._leaving:
            return  # the screens are closing: nothing left to update
        self._applying = True
        try:
            self._apply_snapshots([self.controller.snapshot(name) for name in names])
        finally:
            self._applying = False

    def _apply_snapshots(self, snapshots: list[ServiceSnapshot]) -> None:
        names = {snap.name for snap in snapshots}
        for snap in snapshots:
            self._snapshots[snap.name] = snap
        table = self.table
        table.update_rows(snapshots)
        self._update_summary()
        if table.cursor_name in names:
            self._show_detail()
            self._refresh_allowed()
        for snap in snapshots:
            if snap.paused_on_error and snap.name not in self._broken:
                self._broken.add(snap.name)
                self._on_break(snap)
            elif not snap.paused_on_error:
                self._broken.discard(snap.name)
            if snap.stall is not None:
                self._on_stall(snap)
        if self._quit_screen is not None:
            self._quit_screen.update(snapshots)

    def _on_break(self, snap: ServiceSnapshot) -> None:
        """Break on exception: show the service that paused on error, traceback open."""
        error = snap.status.last_error
        summary = error.summary if error else "an error"
        self.notify(f"{snap.name} paused on error: {summary[:200]}", severity="error", markup=False)
        if snap.name in self.table.visible_names:
            self.table.move_cursor(snap.name)
            self.detail.tab = "error"

    def _on_stall(self, snap: ServiceSnapshot) -> None:
        """Notify a service blocking the event loop: once per stall, at most every 30 s."""
        stall, now = snap.stall, time.monotonic()
        seen, noticed = self._stalls_seen.get(snap.name, (None, -self.STALL_NOTICE_SECONDS))
        if stall is seen:
            return
        if now - noticed < self.STALL_NOTICE_SECONDS:
            self._stalls_seen[snap.name] = (stall, noticed)
            return
        self._stalls_seen[snap.name] = (stall, now)
        assert stall is not None
        self.notify(
            f"{snap.name} {fmt.stall_line(stall)}: every service and the console were "
            "frozen meanwhile.",
            severity="warning",
            timeout=6,
            markup=False,
        )

    def _update_summary(self) -> None:
        if self._leaving or not self.is_mounted(self.table):
            return
        snaps = self._snapshots.values()
        table = self.table
        sort, reverse = table.sort_column
        self.query_one("#summary", SummaryBar).show(
            Summary(
                services=len(self._snapshots),
                running=sum(1 for s in snaps if s.has_task and not s.status.paused),
                paused=sum(1 for s in snaps if s.has_task and s.status.paused),
                failing=sum(1 for s in snaps if s.is_failing),
                shown=len(table.visible_names),
                filter=table.filter_text,
                failing_only=table.failing_only,
                sort=None if sort is None else f"{sort}{' (reversed)' if reverse else ''}",
                count=self._count,
                note="stopping services…" if self._quitting else self._note,
            )
        )

    def _show_detail(self) -> None:
        name = self.table.cursor_name
        snap = self._snapshots.get(name) if name else None
        logs = self.controller.logs(name) if name and self.detail.tab != "error" else []
        self.detail.show(snap, logs, self.controller.epoch)

    def _refresh_allowed(self) -> None:
        allowed = tuple(self._reason(spec) is None for spec in _SERVICE_KEYS)
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

    @on(ServiceTable.Highlighted)
    def _highlighted(self) -> None:
        self._show_detail()
        self._refresh_allowed()

    @on(ServiceTable.Selected)
    def _selected(self) -> None:
        self.action_show_detail()

    # -- checks: greyed-out keys and their reasons ------------------------------------------

    def _reason(self, spec: KeySpec, name: str | None = None) -> str | None:
        """Why the binding `spec` cannot act on service `name` (default: highlighted) now."""
        name = name or self.table.cursor_name
        if name is None:
            return "no service is highlighted"
        if spec.action in _VIEW_KEYS:
            return None
        if self._quitting:
            return "servicedeck is quitting"
        if not self.controller.entered:
            return "the services are not running yet"
        command = spec.command
        if command is None:
            return None
        if spec.id == "pause":
            snap = self._snapshots.get(name)
            if snap is not None and snap.status.paused and snap.has_task:
                command = Command.RESUME
        return self.controller.check(name, command)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        spec = _BY_ACTION.get(action)
        if spec is None:
            return True
        typing = self._filtering or isinstance(self.focused, Input)
        if self.screen.is_modal or (typing and spec.key != "escape"):
            # Our bindings are priority bindings: leave keys to a dialog or the filter box.
            return False
        if spec.command is None and action not in _VIEW_KEYS:
            return True
        return True if self._reason(spec) is None else None

    def on_key(self, event: events.Key) -> None:
        """Count prefixes (5n), and a notification for a greyed-out key."""
        if self.screen.is_modal:
            return
        char = event.character
        if self._filtering:
            # Typed before the filter box had focus (the box stops the keys it gets).
            if char is not None and char.isprintable():
                self.query_one("#filter", Input).insert_text_at_cursor(char)
                event.stop()
                event.prevent_default()
            return
        if isinstance(self.focused, Input):
            return
        if char is not None and char.isdigit() and (self._count or char != "0"):
            self._count = (self._count + char)[-4:]
            self._update_summary()
            event.stop()
            event.prevent_default()
            return
        active = self.screen.active_bindings.get(event.key)
        spec = _BY_ACTION.get(active.binding.action) if active else None
        if spec is None:
            return
        if spec.id != "step" and self._count:
            self._count = ""
            self._update_summary()
        if active is not None and not active.enabled:
            reason = self._reason(spec)
            if reason:
                self.notify(reason, severity="warning", timeout=3, markup=False)

    # -- running commands -------------------------------------------------------------------

    def _target(self, binding_id: str) -> str | None:
        """The highlighted service if binding `binding_id` may act on it; else notify why."""
        spec = keys.spec(binding_id)
        reason = self._reason(spec)
        if reason is not None:
            self.notify(reason, severity="warning", timeout=3, markup=False)
            return None
        return self.table.cursor_name

    def _run(self, name: str, command: Callable[[], object]) -> None:
        self._mark_urgent(name)
        try:
            command()
        except CommandError as exc:
            self.notify(str(exc), severity="warning", timeout=4, markup=False)
        except Exception as exc:
            self.notify(f"{name}: {exc!r}", severity="error", markup=False)

    def _run_worker(self, name: str, work: Callable[[], Coroutine[Any, Any, object]]) -> None:
        self._mark_urgent(name)

        async def guarded() -> None:
            try:
                await work()
            except CommandError as exc:
                self.notify(str(exc), severity="warning", timeout=4, markup=False)
            except Exception as exc:
                self.notify(f"{name}: {exc!r}", severity="error", markup=False)
            finally:
                self._mark_urgent(name)

        self.run_worker(guarded(), name=f"command:{name}", group="commands", exit_on_error=False)

    def run_binding(self, binding_id: str, name: str) -> None:
        """Run the action of binding `binding_id` on service `name` (the palette uses this).

        The cursor moves to `name` first (clearing a filter that hides it), so the action
        hits the service the user sees highlighted.
        """
        if name not in self.table.visible_names:
            self._set_filter("", failing_only=False)
        self.table.move_cursor(name)
        spec = keys.spec(binding_id)
        reason = self._reason(spec, name)
        if reason is not None:
            self.notify(reason, severity="warning", timeout=3, markup=False)
            return
        getattr(self, f"action_{spec.action}")()

    def _take_count(self) -> int:
        count, self._count = self._count, ""
        self._update_summary()
        return max(1, int(count)) if count else 1

    def _kill_all(self) -> None:
        for snap in self.controller.snapshots():
            if snap.has_task:
                with contextlib.suppress(CommandError):
                    self.controller.kill(snap.name)

    # -- actions: services ------------------------------------------------------------------

    def action_start(self) -> None:
        if name := self._target("start"):
            self._run(name, partial(self.controller.start, name))

    def action_step(self) -> None:
        loops = self._take_count()
        if name := self._target("step"):
            self._run_worker(name, partial(self.controller.step, name, loops))

    def action_toggle_pause(self) -> None:
        if name := self._target("pause"):
            self._run(name, partial(self.controller.toggle_pause, name))

    def action_stop(self) -> None:
        if name := self._target("stop"):
            self._run_worker(name, partial(self.controller.stop, name, block=False))

    def action_stop_wait(self) -> None:
        if name := self._target("stop_wait"):
            self._run_worker(name, partial(self._stop_and_wait, name))

    async def _stop_and_wait(self, name: str) -> None:
        self.table.set_blocking(name, True)
        interval = self._snapshots[name].status.loop_seconds or 0
        try:
            # A loop may be mid-run: wait at least the quit grace, not just one interval.
            stopped = await self.controller.stop(
                name, block=True, timeout=max(self.stop_timeout, interval)
            )
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

    def action_restart(self) -> None:
        if name := self._target("restart"):
            self._run_worker(name, partial(self.controller.restart, name))

    def action_kill(self) -> None:
        if name := self._target("kill"):
            self._run(name, partial(self.controller.kill, name))

    def action_toggle_enabled(self) -> None:
        if name := self._target("toggle_enabled"):
            self._run(name, partial(self.controller.toggle_enabled, name))

    def action_toggle_pause_on_error(self) -> None:
        if name := self._target("pause_on_error"):
            on = not self._snapshots[name].pause_on_error
            self._run(name, partial(self.controller.set_pause_on_error, name, on))
            self.notify(
                f"Break on error {'on' if on else 'off'} for {name}.", timeout=3, markup=False
            )

    # -- actions: the view ------------------------------------------------------------------

    def _show_tab(self, tab: str) -> None:
        detail = self.detail
        if detail.tab == tab and self.screen.maximized is not detail:
            self.screen.maximize(detail)
        elif detail.tab == tab:
            self.screen.minimize()
        detail.tab = tab  # type: ignore[assignment]
        self._show_detail()

    def action_show_logs(self) -> None:
        self._show_tab("logs")

    def action_show_error(self) -> None:
        self._show_tab("error")

    def action_show_detail(self) -> None:
        self._show_tab("detail")

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = self.table.filter_text
        box.add_class("-shown")
        box.focus()
        # Focus moves on a later turn: keys typed meanwhile belong to the filter too.
        self._filtering = True

    def action_failing_only(self) -> None:
        self._set_filter(None, failing_only=not self.table.failing_only)

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        self._filtering = False
        if self._count:
            self._count = ""
            self._update_summary()
        elif self.screen.maximized is not None:
            self.screen.minimize()
        elif box.has_class("-shown") or self.table.filter_text or self.table.failing_only:
            box.value = ""
            box.remove_class("-shown")
            self._set_filter("", failing_only=False)
            self.table.focus()

    def _set_filter(self, text: str | None, failing_only: bool | None = None) -> None:
        self.table.set_filter(text, failing_only)
        self._update_summary()
        self._show_detail()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._filtering = False
        self.query_one("#filter", Input).remove_class("-shown")
        self.table.focus()

    def sort_by(self, column_key: str | None, reverse: bool = False) -> None:
        """Sort the table by a column (None: definition order)."""
        self.table.sort_by(column_key, reverse)
        self._update_summary()

    def action_help(self) -> None:
        bound: dict[str, list[str]] = {}
        for key, active in self.screen.active_bindings.items():
            if active.binding.id:
                bound.setdefault(active.binding.id, []).append(key)
        remapped = {
            spec.id: " / ".join(keys.display_key(key) for key in found)
            for spec in keys.KEYS
            if (found := bound.get(spec.id)) and set(found) != set(spec.keys)
        }
        self.push_screen(HelpScreen(remapped))

    async def action_quit(self) -> None:
        if self._quitting:
            self.action_force_quit()
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

    def action_force_quit(self) -> None:
        """Quit now: cancel every service still running."""
        self._forced = True
        self._kill_all()
        self.exit(self._report)

    # -- the palette ------------------------------------------------------------------------

    def palette_commands(self, highlighted_only: bool = False) -> Iterator[PaletteCommand]:
        """The command palette's entries: each service action for each service, then the
        view's commands (only the highlighted service's, when `highlighted_only`)."""
        cursor = self.table.cursor_name
        names = ([cursor] if cursor else []) if highlighted_only else list(self.controller.names)
        for name in names:
            for spec in keys.KEYS:
                if spec.palette:
                    yield PaletteCommand(
                        spec.palette.format(name=name),
                        spec.help,
                        partial(self.run_binding, spec.id, name),
                    )
        yield PaletteCommand(
            "Filter services by name", keys.spec("filter").help, self.action_filter
        )
        yield PaletteCommand(
            "Show failing services only (or all)",
            keys.spec("failing").help,
            self.action_failing_only,
        )
        for column in COLUMNS:
            yield PaletteCommand(
                f"Sort by {column.title.lower()}",
                "Sort the table by this column.",
                partial(self.sort_by, column.key),
            )
        yield PaletteCommand(
            "Sort in definition order", "Undo sorting.", partial(self.sort_by, None)
        )
        yield PaletteCommand("Show keys (help)", keys.spec("help").help, self.action_help)
        yield PaletteCommand("Quit servicedeck", keys.spec("quit").help, self.action_quit)


def _exit_status(fatal: BaseException) -> int:
    """The status a process ends with when `fatal` escapes it, as Python would choose."""
    if isinstance(fatal, KeyboardInterrupt):
        return 130  # 128 + SIGINT, as shells report an interrupted command
    if isinstance(fatal, SystemExit):
        return fatal.code if isinstance(fatal.code, int) else (0 if fatal.code is None else 1)
    return 1


def _fatal_message(fatal: BaseException) -> Text:
    """What the console prints on leaving because a service raised `fatal`."""
    notes = [n for n in getattr(fatal, "__notes__", ()) if n.startswith("servicedeck: ")]
    return Text(notes[-1] if notes else f"servicedeck: a service raised {fatal!r}.")
