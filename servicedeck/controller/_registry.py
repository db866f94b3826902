"""The controller's services: one `Entry` per service, its instance, and its snapshot.

`ServiceRegistry` is the bookkeeping the other parts of the controller share: it finds
a service's entry by name, makes its instance (recording an `__init__` that fails),
lets go of it for a reload, takes snapshots, says whether a command is allowed, and
turns a service's own changes (an error to break on, a stall) into entry state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from servicedeck import (
    ErrorInfo,
    LoopService,
    Service,
    ServiceSettingsError,
    service_name,
)
from servicedeck.control import Command, CommandError, ServiceSnapshot, Stall, refusal
from servicedeck.controller._entry import Entry
from servicedeck.controller._fatal import Fatal
from servicedeck.controller._logs import LogCapture, service_log
from servicedeck.controller._settings import load_settings
from servicedeck.controller._watchdog import LoopWatchdog


class ServiceRegistry:
    """The entries of the controller's services, in display order, and their instances.

    Args:
        clock: given to every instance (`Service.set_clock`).
        now: the controller's clock, read for snapshots and error times.
        changed: called with a service's name after each change of it.
        capture: the log capture, whose counts go in snapshots (None: no capture).
        fatal: the held fatal exception, which refuses every command while it stops all.
        watchdog: told of each instance made or forgotten (None: no watchdog).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        now: Callable[[], float],
        changed: Callable[[str], None],
        capture: LogCapture | None,
        fatal: Fatal,
        watchdog: LoopWatchdog | None,
    ) -> None:
        self.entries: dict[str, Entry] = {}
        self._clock = clock
        self._now = now
        self._changed = changed
        self._capture = capture
        self._fatal = fatal
        self._watchdog = watchdog

    # -- finding and judging --------------------------------------------------------------

    def entry(self, name: str) -> Entry:
        """The entry of service `name`.

        Raises:
            KeyError: no service has that name (the message lists the known ones).
        """
        try:
            return self.entries[name]
        except KeyError:
            raise KeyError(f"no service named {name!r}; known: {', '.join(self.entries)}") from None

    def snapshot(self, name: str) -> ServiceSnapshot:
        """A consistent snapshot of service `name` (see `ServiceController.snapshot`)."""
        entry = self.entry(name)
        return entry.snapshot(self._now(), self._capture.count(name) if self._capture else 0)

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is not allowed on service `name` now, or None if it is."""
        return refusal(self.snapshot(name), command, self._fatal.what)

    def allow(self, name: str, command: Command) -> Entry:
        """The entry of service `name`, if `command` is allowed on it now.

        Raises:
            CommandError: its state refuses `command` (the message says why).
        """
        reason = self.check(name, command)
        if reason is not None:
            raise CommandError(reason)
        return self.entry(name)

    # -- instances ------------------------------------------------------------------------

    def add(self, cls: type[Service]) -> Entry:
        """Add an entry for `cls` (last in display order), read its settings, make it."""
        entry = Entry(cls=cls, name=service_name(cls))
        entry.describe(cls)
        self.entries[entry.name] = entry
        load_settings(entry)
        self.instantiate(entry)
        return entry

    def require_instance(self, entry: Entry) -> Service:
        """`entry`'s instance, made again if its `__init__` failed before.

        Raises:
            CommandError: its `__init__` fails (the message has the error).
        """
        if entry.instance is None:
            self.instantiate(entry)
        if entry.instance is None:
            assert entry.init_error is not None
            raise CommandError(f"{entry.name} failed to initialise: {entry.init_error.summary}")
        return entry.instance

    def instantiate(self, entry: Entry) -> None:
        """Make `entry`'s instance from its class; an error goes to `entry.init_error`."""
        try:
            service = entry.cls()
        except (Exception, SystemExit) as exc:
            # SystemExit too (a `sys.exit("no DATABASE_URL")` in `__init__`): it would end
            # the command silently, without a word of which service did it.
            tb = exc.__traceback__
            if tb is not None and tb.tb_next is not None:
                # Start at the class's own code: this frame tells the user nothing.
                exc.__traceback__ = tb.tb_next
            entry.init_error = ErrorInfo(exc, when=self._now(), phase="init")
            log = service_log(entry.name)
            if isinstance(exc, ServiceSettingsError) and entry.settings_error is not None:
                # Its settings error is reported as such (a row, `run`'s "not started"):
                # a traceback of reading the environment would only repeat it.
                log.debug("%s failed to initialise: %s", entry.name, exc)
            else:
                log.error("%s failed to initialise: %r", entry.name, exc, exc_info=exc)
            return
        entry.init_error = None
        service.set_clock(self._clock)
        entry.instance = service
        entry.errors_seen = service.status.error_count
        entry.unsubscribe = service.subscribe(self._on_service_change)
        if self._watchdog is not None:
            self._watchdog.watch(service)

    def forget_instance(self, entry: Entry) -> None:
        """Let go of the old instance, so that its class and module can be collected."""
        if entry.unsubscribe is not None:
            entry.unsubscribe()
            entry.unsubscribe = None
        if self._watchdog is not None:
            self._watchdog.forget(entry.name)
        entry.instance = None
        entry.stall = None

    # -- this session's overrides ------------------------------------------------------

    def set_enabled(self, name: str, enabled: bool | None) -> None:
        """Override whether service `name` is enabled (None: no override)."""
        entry = self.entry(name)
        entry.override = enabled
        self._changed(name)

    def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception (or not) when a loop of service `name` raises."""
        entry = self.allow(name, Command.PAUSE_ON_ERROR)
        entry.pause_on_error = on
        if entry.instance is not None:
            entry.errors_seen = entry.instance.status.error_count
        self._changed(name)

    def set_log_level(self, name: str, level: int | None) -> None:
        """Capture the records of service `name` from `level` up; None: the default.

        Raises:
            ValueError: `level` is not a logging level (a whole number >= 0) or None.
        """
        entry = self.entry(name)
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, int) or level < 0
        ):
            raise ValueError(
                f"a log level is a whole number >= 0 such as logging.DEBUG (10), or None; "
                f"got {level!r}"
            )
        entry.log_level = level
        service_log(name).setLevel(logging.NOTSET if level is None else level)
        self._changed(name)

    def release_log_levels(self) -> None:
        """Give back the levels `set_log_level` put on the services' loggers."""
        for entry in self.entries.values():
            if entry.log_level is not None:  # the loggers are the process's: give back
                entry.log_level = None
                service_log(entry.name).setLevel(logging.NOTSET)

    # -- what the services report ---------------------------------------------------------

    def record_stall(self, stall: Stall) -> None:
        """The watchdog's `on_stall`: keep `stall` on the service it names."""
        entry = self.entries.get(stall.service or "")
        if entry is not None:
            entry.stall = stall
            entry.stall_count += 1
            self._changed(entry.name)

    def _on_service_change(self, service: Service) -> None:
        entry = self.entries.get(service.name)
        if entry is not None and entry.pause_on_error and isinstance(service, LoopService):
            errors = service.status.error_count
            if errors > entry.errors_seen:
                entry.errors_seen = errors
                # Also when already paused (stepping): it breaks at this error.
                entry.paused_on_error = True
                service.pause()
                # A count of steps stops at the first error: its caller returns.
                service.cancel_steps()
        self._changed(service.name)
