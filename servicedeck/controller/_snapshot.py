"""What a controller hands out: read-only records of services, their settings and a stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicedeck import Health, ServiceStatus
from servicedeck.watchdog import Stall


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One field of a service's settings, with where its value came from."""

    name: str
    value: Any
    env_var: str
    source: str
    """`default`, `env`, `.env` or `override`."""
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServiceSnapshot:
    """Everything a view shows about one service, read at one moment."""

    name: str
    qualname: str
    """`module.ClassName` of the service class."""
    kind: str
    """`loop` or `service`."""
    markers: tuple[str, ...]
    """e.g. `("all-servers",)` for `RunInAllServers` services."""
    description: str
    enabled: bool | None
    """None when the settings do not load (see `settings_error`)."""
    enabled_source: str
    """`default`, `env`, `.env` or `override`."""
    env_var: str
    settings: tuple[SettingInfo, ...]
    settings_error: str | None
    status: ServiceStatus
    health: Health
    pause_on_error: bool = False
    paused_on_error: bool = False
    """The controller paused it because a loop raised (break on exception)."""
    stuck: bool = False
    """A blocking stop timed out and the service still runs: `kill` cancels it."""
    has_task: bool = False
    """The controller runs a task for it (from start until teardown has ended)."""
    log_count: int = 0
    """Log lines captured for it so far (it only grows: new lines arrived when it changed)."""
    stall: Stall | None = None
    """The last time its synchronous code blocked the event loop (see `LoopWatchdog`)."""

    @property
    def is_loop(self) -> bool:
        """True for a `LoopService`."""
        return self.kind == "loop"

    @property
    def is_failing(self) -> bool:
        """Its last loop failed (even if it has stopped since), it crashed, it is stuck,
        or its settings do not load."""
        return (
            self.health in (Health.FAILING, Health.CRASHED)
            or self.status.consecutive_errors > 0
            or self.settings_error is not None
            or self.stuck
        )


@dataclass(frozen=True, slots=True)
class StopReport:
    """The outcome of `ServiceController.stop_all()`."""

    stopped: tuple[str, ...]
    cancelled: tuple[str, ...]
    """Services that did not stop in time and were cancelled."""
    seconds: float
