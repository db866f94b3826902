"""The service keys: which are allowed now (greyed out otherwise, with the reason on a
press), count prefixes (5n steps five loops), and the actions that call the controller.

Quick commands run inline; long ones (step, blocking stop, restart) run as workers, so
the screen never freezes. Either way the service turns urgent, so its changes show at once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from textual import events
from textual.widgets import Input

from servicedeck.control import Command, CommandError
from servicedeck.tui import keys
from servicedeck.tui.base import DeckBase
from servicedeck.tui.keys import KeySpec

__all__ = ["ServiceActionsMixin"]

_BY_ACTION: dict[str, KeySpec] = {spec.action: spec for spec in keys.KEYS}
_SERVICE_KEYS = tuple(spec for spec in keys.KEYS if spec.command is not None)
_IN_ORDER_ACTIONS = {"cursor", "page", "edge", "count_digit"}
_VIEW_KEYS = {"show_logs": "logs", "show_error": "error", "show_detail": "detail"}


class ServiceActionsMixin(DeckBase):
    """Check, run and report the commands of the service keys."""

    def _refresh_allowed(self) -> None:
        allowed = tuple(self._reason(spec) is None for spec in _SERVICE_KEYS)
        if allowed != self._allowed:
            self._allowed = allowed
            self.refresh_bindings()

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
        if action in _IN_ORDER_ACTIONS:
            # Only for the table: a dialog, the filter box or a focused panel keeps its keys.
            return self.focused is self.table and not self.screen.is_modal and not self._filtering
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

    def action_count_digit(self, digit: str) -> None:
        """A digit of the count for the next n (`5n`); a leading 0 is no count."""
        if self._count or digit != "0":
            self._count = (self._count + digit)[-4:]
            self._update_summary()

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

    # -- actions: services ------------------------------------------------------------------

    def action_start(self) -> None:
        if name := self._target("start"):
            self._run_worker(name, partial(self.controller.start, name))

    def action_step(self) -> None:
        loops = self._take_count()
        if name := self._target("step"):
            self._run_worker(name, partial(self.controller.step, name, loops))

    def action_toggle_pause(self) -> None:
        if name := self._target("pause"):
            snap = self._snapshots.get(name)
            paused = snap is not None and snap.status.paused
            command = self.controller.resume if paused else self.controller.pause
            self._run_worker(name, partial(command, name))

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
            self._run_worker(name, partial(self.controller.kill, name))

    def action_toggle_enabled(self) -> None:
        if name := self._target("toggle_enabled"):
            snap = self._snapshots.get(name)
            enabled = not (snap is not None and snap.enabled)
            self._run_worker(name, partial(self.controller.set_enabled, name, enabled))

    def action_toggle_pause_on_error(self) -> None:
        if name := self._target("pause_on_error"):
            on = not self._snapshots[name].pause_on_error
            self._run_worker(name, partial(self.controller.set_pause_on_error, name, on))
            self.notify(
                f"Break on error {'on' if on else 'off'} for {name}.", timeout=3, markup=False
            )
