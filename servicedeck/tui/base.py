"""`DeckBase`: what the console's parts share, declared once for the type checker.

`ServiceDeckApp` is assembled from mixins, one idea each (`lifecycle`, `refresh`,
`notices`, `service_actions`, `view_actions`). Each mixin derives from `DeckBase`, which
names the app's state (set in `ServiceDeckApp.__init__`) and the methods one part calls
on another. At run time it is a plain class with annotations only; for the type checker
it is an `App`, so `self.notify(...)` and friends check as they would in the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

    from servicedeck.control import ServiceControl, ServiceSnapshot, StopReport
    from servicedeck.tui.keys import KeySpec
    from servicedeck.tui.screens.quit import QuitScreen
    from servicedeck.tui.widgets.detail import DetailPanel
    from servicedeck.tui.widgets.service_table import ServiceTable

    _App = App[StopReport | None]
else:
    _App = object

__all__ = ["DeckBase"]


class DeckBase(_App):
    """The state and cross-part methods of `ServiceDeckApp` (see the module docstring)."""

    controller: ServiceControl
    start_paused: bool
    stop_timeout: float
    _snapshots: dict[str, ServiceSnapshot]
    _dirty: set[str]
    _urgent: dict[str, float]
    _urgent_pending: bool
    _applying: bool
    _filtering: bool
    _last_urgent: float
    _lifecycle: asyncio.Task[None] | None
    _quit_requested: asyncio.Event
    _services_ready: asyncio.Event
    _quitting: bool
    _forced: bool
    _leaving: bool
    _report: StopReport | None
    _fatal: BaseException | None
    _count: str
    _note: str
    _broken: set[str]
    _stalls_seen: dict[str, tuple[object, float]]
    _allowed: tuple[bool, ...]
    _unsubscribe: Callable[[], None] | None
    _ui_thread: int
    _event_loop: asyncio.AbstractEventLoop | None
    _quit_screen: QuitScreen | None

    if TYPE_CHECKING:

        @property
        def table(self) -> ServiceTable: ...
        @property
        def detail(self) -> DetailPanel: ...
        def _update_summary(self) -> None: ...
        def _show_detail(self) -> None: ...
        def _refresh_allowed(self) -> None: ...
        def _reason(self, spec: KeySpec, name: str | None = None) -> str | None: ...
        def _on_break(self, snap: ServiceSnapshot) -> None: ...
        def _on_stall(self, snap: ServiceSnapshot) -> None: ...
        async def _kill_all(self) -> None: ...
        def _set_filter(self, text: str | None, failing_only: bool | None = None) -> None: ...
        def action_show_detail(self) -> None: ...
