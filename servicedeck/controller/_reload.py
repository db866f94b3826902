"""Reloading a service's code: a restart with changed code, and a reload's new classes.

A restart asks the reload hook first (`--reload`): when the service's code changed, it
starts again with the new code.
`servicedeck.reload` reloads the changed modules and hands the classes they define now
to `ServiceController.replace_classes()`, which `CodeReload` carries out: each service of
those modules is stopped, made again from its new class and put back in the state it
was in; a class that is gone is marked removed, a new one is added, stopped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import anyio

from servicedeck import LoopService, Service, check_unique_names, service_name
from servicedeck.control import Command, CommandError, RestartReport
from servicedeck.controller._entry import Entry
from servicedeck.controller._logs import service_log
from servicedeck.controller._registry import ServiceRegistry
from servicedeck.controller._settings import load_settings
from servicedeck.controller._tasks import DEFAULT_STOP_TIMEOUT, ServiceTasks

ReloadHook = Callable[[str], Awaitable[tuple[str, ...]]]
"""`hook(name)`: reload service `name`'s code if it changed; the changed files, or ()."""


@dataclass
class ReloadOutcome:
    """What `ServiceController.replace_classes()` did, by service name."""

    reloaded: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    """Did not stop in time: they run on with their old code."""


class CodeReload:
    """Restarts services with their changed code, and takes a reload's new classes.

    Args:
        services: the controller's entries.
        tasks: stops the services of reloaded modules, and starts them again.
        now: the controller's clock (`reloaded_at`).
        changed: called with a service's name after each change of it.
    """

    def __init__(
        self,
        services: ServiceRegistry,
        tasks: ServiceTasks,
        *,
        now: Callable[[], float],
        changed: Callable[[str], None],
    ) -> None:
        self._services = services
        self._tasks = tasks
        self._now = now
        self._changed = changed
        self.hook: ReloadHook | None = None
        """What `restart()` asks first (None: no reloading)."""

    async def restart(self, name: str) -> RestartReport:
        """Stop service `name` (blocking) if it runs, then start it again, reloaded first
        when the hook says its code changed (see `ServiceController.restart`).

        Raises:
            CommandError: it did not stop in time, or its changed code does not import.
        """
        entry = self._services.allow(name, Command.RESTART)
        was_running = entry.scope is not None
        began = time.perf_counter()
        reloaded: tuple[str, ...] = ()
        if self.hook is not None:
            reloaded = await self.hook(name)
            entry = self._services.entry(name)
        if reloaded:
            stop_seconds = entry.last_stop_seconds
            if entry.scope is None:
                self._tasks.start(name)
        else:
            if was_running and not await self._tasks.stop(name, block=True):
                raise CommandError(f"{name} did not stop; not restarted")
            stop_seconds = time.perf_counter() - began if was_running else 0.0
            self._tasks.start(name)
        report = RestartReport(
            name, was_running, stop_seconds, reloaded, watching=self.hook is not None
        )
        service_log(name).info("%s", report.summary)
        return report

    def set_error(self, names: Iterable[str], error: str | None) -> None:
        """Mark services `names` as running their old code because a reload failed with
        `error`; None clears it."""
        for name in names:
            entry = self._services.entry(name)
            if entry.reload_error != error:
                entry.reload_error = error
                self._changed(name)

    async def replace_classes(
        self, classes: Sequence[type[Service]], modules: Collection[str]
    ) -> ReloadOutcome:
        """Take `classes`, what `modules` define after their reload (see
        `ServiceController.replace_classes`).

        Raises:
            DuplicateServiceError: two of `classes` share a service name.
        """
        check_unique_names(classes)
        new = {service_name(cls): cls for cls in classes}
        outcome = ReloadOutcome()
        entries = self._services.entries
        for name, entry in list(entries.items()):
            if entry.cls.__module__ not in modules or entry.removed:
                continue
            cls = new.get(name)
            was = await self._stop_for_reload(entry)
            if was is None:
                outcome.stuck.append(name)
                continue
            self._services.forget_instance(entry)
            if cls is None:
                entry.removed = True
                entry.reload_error = None
                service_log(name).warning("%s: removed (its class is gone from its module)", name)
                outcome.removed.append(name)
            else:
                entry.describe(cls)
                load_settings(entry)
                self._services.instantiate(entry)
                entry.reloaded_at = self._now()
                entry.reload_error = None
                service_log(name).info("%s: reloaded (new code)", name)
                outcome.reloaded.append(name)
                self._restore(entry, was)
            self._changed(name)
        for name, cls in new.items():
            if name not in entries or entries[name].removed:
                entries.pop(name, None)
                entry = self._services.add(cls)
                entry.reloaded_at = self._now()
                service_log(name).info("%s: added by a reload (stopped: start it with s)", name)
                outcome.added.append(name)
                self._changed(name)
        return outcome

    async def _stop_for_reload(self, entry: Entry) -> str | None:
        """Stop `entry`'s service (waiting) and say what state to restore: `running`,
        `paused` or `stopped`; None when it did not stop (it keeps its old code)."""
        if entry.scope is None:
            return "stopped"
        service = entry.instance
        paused = isinstance(service, LoopService) and service.is_paused
        began = time.perf_counter()
        done = entry.done
        try:
            stopped = await self._tasks.stop(entry.name, block=True)
        except CommandError:  # stopping already: wait for it as a stop would
            with anyio.move_on_after(DEFAULT_STOP_TIMEOUT):
                if done is not None:
                    await done.wait()
            stopped = entry.scope is None
        if not stopped:
            return None
        entry.last_stop_seconds = time.perf_counter() - began
        return "paused" if paused else "running"

    def _restore(self, entry: Entry, was: str) -> None:
        if entry.instance is None:
            return  # its new __init__ raised: the row shows why
        if was == "running":
            self._tasks.start(entry.name)
        elif was == "paused":
            self._tasks.start_paused(entry)
