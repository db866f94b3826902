"""`ServiceDeckApp`: the Textual console over the control protocol (`ServiceControl`).

A thin view. The app enters the controller in a task of its own event loop, starts the
enabled services (unless `start_paused`), and turns the controller's change stream into
screen updates: each change marks its service dirty; a timer applies the dirty ones a
few times a second (a service the user just acted on is applied at once, so a key press
shows its effect within a frame). Actions call the controller; long ones (step, blocking
stop, restart) run as workers, so the screen never freezes. Quitting stops every service
gracefully with progress; a second q forces the exit.

Each of those ideas is a mixin in a module of its own; this module composes them and
owns the state, the widgets and the summary line:

- `lifecycle`: enter the controller, run the services, quit gracefully or by force
  (`fatal`: how a service's BaseException ends the process).
- `refresh`: the change stream, coalesced into a few refreshes a second.
- `notices`: bounded notifications, break on error, event-loop stalls.
- `service_actions`: greyed-out keys and their reasons, counts, the service commands.
- `view_actions`: detail tabs, filter, sort, help, the palette's entries.
- `base`: the shared state and cross-mixin methods, declared for the type checker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import Footer, Input

from servicedeck.control import ServiceControl, ServiceSnapshot, StopReport
from servicedeck.tui import keys
from servicedeck.tui.commands import ServiceCommands
from servicedeck.tui.lifecycle import LifecycleMixin
from servicedeck.tui.notices import NoticesMixin
from servicedeck.tui.refresh import RefreshMixin
from servicedeck.tui.screens.quit import QuitScreen
from servicedeck.tui.service_actions import ServiceActionsMixin
from servicedeck.tui.view_actions import ViewActionsMixin
from servicedeck.tui.widgets.detail import DetailPanel
from servicedeck.tui.widgets.service_table import ServiceTable
from servicedeck.tui.widgets.summary import Summary, SummaryBar

__all__ = ["ServiceDeckApp"]


class ServiceDeckApp(
    LifecycleMixin,
    RefreshMixin,
    NoticesMixin,
    ServiceActionsMixin,
    ViewActionsMixin,
    App[StopReport | None],
):
    """The servicedeck console.

        app = ServiceDeckApp(ServiceController(classes, propagate_logs=False))
        app.run()

    Args:
        controller: a `ServiceControl` (e.g. a `ServiceController`) not yet entered;
            the app enters it.
        start_paused: open with every service stopped (for stepping), instead of
            starting the enabled ones.
        stop_timeout: on quit, how long each service may take to stop before it is
            cancelled.

    `run()` returns the `StopReport` of the final stop (None if forced before it ended).
    """

    CSS_PATH = "servicedeck.tcss"
    TITLE = "servicedeck"
    BINDINGS: ClassVar[list[BindingType]] = [*keys.BINDINGS, *keys.IN_ORDER_BINDINGS]
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {ServiceCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    # The tuning knobs (FLUSH_SECONDS, URGENT_SECONDS, URGENT_SPACING, TICK_SECONDS,
    # STALL_NOTICE_SECONDS, MAX_NOTIFICATIONS) are documented in the mixins that use them.

    def __init__(
        self,
        controller: ServiceControl,
        start_paused: bool = False,
        *,
        stop_timeout: float = 5.0,
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
        yield ServiceTable(self.controller.now, root=self.controller.process.root, id="table")
        yield DetailPanel(self.controller.process, id="detail")
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

    @on(ServiceTable.Highlighted)
    def _highlighted(self) -> None:
        self._show_detail()
        self._refresh_allowed()

    @on(ServiceTable.Selected)
    def _selected(self) -> None:
        self.action_show_detail()

    # Textual registers @on handlers only on its own classes (a mixin's would be ignored).

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self._filtering = False
        self.query_one("#filter", Input).remove_class("-shown")
        self.table.focus()
