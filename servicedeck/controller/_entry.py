"""The controller's private, mutable record of one service, and its snapshot."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from servicedeck import (
    ErrorInfo,
    Health,
    HealthVerdict,
    LoopService,
    RunInAllServers,
    Service,
    ServiceState,
    ServiceStatus,
    health_verdict,
)
from servicedeck.control import ServiceSnapshot, SettingInfo, Stall

KILLED_RUNNING = HealthVerdict(
    Health.STALE, "killed, and still running: it does not give way to cancellation"
)
STUCK = HealthVerdict(Health.STALE, "stuck in stopping: a stop timed out (kill cancels it)")


@dataclass(eq=False)
class Entry:
    """The controller's mutable record of one service: instance, task, settings, flags."""

    cls: type[Service]
    name: str
    # What never changes, computed once: snapshots are taken thousands of times a second.
    qualname: str = ""
    kind: str = "service"
    markers: tuple[str, ...] = ()
    description: str = ""
    instance: Service | None = None
    init_error: ErrorInfo | None = None
    settings: tuple[SettingInfo, ...] = ()
    settings_error: str | None = None
    enabled: bool | None = None
    enabled_source: str = "default"
    env_var: str = ""
    override: bool | None = None
    scope: anyio.CancelScope | None = None
    done: anyio.Event | None = None
    pause_on_error: bool = False
    paused_on_error: bool = False
    errors_seen: int = 0
    stuck: bool = False
    unsubscribe: Callable[[], None] | None = field(default=None, repr=False)
    stall: Stall | None = None
    kill_requested_at: float | None = None
    log_level: int | None = None
    stall_count: int = 0
    reloaded_at: float | None = None
    reload_error: str | None = None
    removed: bool = False
    last_stop_seconds: float = 0.0

    def describe(self, cls: type[Service]) -> None:
        """Take `cls` as the service's class (at first, and after a reload): what the
        snapshots show of it that never changes until the next reload."""
        self.cls = cls
        self.qualname = f"{cls.__module__}.{cls.__qualname__}"
        self.kind = "loop" if issubclass(cls, LoopService) else "service"
        self.markers = ("all-servers",) if issubclass(cls, RunInAllServers) else ()
        self.description = inspect.cleandoc(cls.__dict__.get("__doc__") or "")

    def snapshot(self, now: float, log_count: int) -> ServiceSnapshot:
        """A consistent snapshot, its health judged at time `now`."""
        if self.instance is not None:
            status = self.instance.status
        else:
            status = ServiceStatus(
                name=self.name,
                state=ServiceState.CRASHED,
                last_error=self.init_error,
                recent_errors=(self.init_error,) if self.init_error else (),
            )
        running = self.scope is not None
        verdict = health_verdict(status, now)
        if running and self.kill_requested_at is not None:
            verdict = KILLED_RUNNING
        elif running and self.stuck:
            verdict = STUCK
        return ServiceSnapshot(
            name=self.name,
            qualname=self.qualname,
            kind=self.kind,
            markers=self.markers,
            description=self.description,
            enabled=self.override if self.override is not None else self.enabled,
            enabled_source="override" if self.override is not None else self.enabled_source,
            env_var=self.env_var,
            settings=self.settings,
            settings_error=self.settings_error,
            status=status,
            health=verdict.health,
            pause_on_error=self.pause_on_error,
            paused_on_error=self.paused_on_error,
            stuck=self.stuck and running,
            has_task=running,
            log_count=log_count,
            stall=self.stall,
            health_reason=verdict.reason,
            kill_requested_at=self.kill_requested_at if running else None,
            log_level=self.log_level,
            stall_count=self.stall_count,
            reloaded_at=self.reloaded_at,
            reload_error=self.reload_error,
            removed=self.removed,
        )
