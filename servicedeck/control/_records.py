"""The records of the control protocol: plain, immutable data about services.

Every record that crosses the protocol survives a JSON round trip:
`Record.from_json(json.loads(json.dumps(record.to_json()))) == record`, so the same
records can be served over a socket. The framework's own value types (`ServiceStatus`,
`ErrorInfo`, `ServiceState`, `Health`, `HealthVerdict`, `AwaitStack`, `StackFrame`) are
records too, re-exported by `servicedeck.control`. Times are on the serving process's
monotonic clock (see `ServiceControl.now()`), except the wall-clock fields named
`created`, `at` or `wall_time`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicedeck import Health, ServiceStatus

__all__ = [
    "STOP_OUTCOMES",
    "LogLine",
    "ProcessInfo",
    "RestartReport",
    "ServiceSnapshot",
    "ServiceStop",
    "SettingInfo",
    "Stall",
    "StopReport",
]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class Stall:
    """The event loop was blocked for `seconds`, by service `service` (None: unknown)."""

    seconds: float
    """How late the watchdog's heartbeat was: how long the loop was blocked, less up to
    one heartbeat interval."""
    service: str | None
    """The service whose code was running, or None when none was."""
    where: str | None
    """`file:line in function` of the innermost frame seen blocking, if any."""
    at: float
    """Wall-clock time (`time.time()`) the stall ended."""
    when: float | None = None
    """The controller's clock (monotonic) when it ended."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "seconds": self.seconds,
            "service": self.service,
            "where": self.where,
            "at": self.at,
            "when": self.when,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stall:
        """The `Stall` that `to_json()` described."""
        return cls(
            seconds=float(data["seconds"]),
            service=data.get("service"),
            where=data.get("where"),
            at=float(data["at"]),
            when=_float_or_none(data.get("when")),
        )


@dataclass(frozen=True, slots=True)
class LogLine:
    """One captured log record of a service, reduced to what a person reads."""

    created: float
    """Wall-clock time of the record (`time.time()`)."""
    level: int
    """The numeric level, e.g. `logging.ERROR`."""
    level_name: str
    message: str
    """The formatted message, with the exception's traceback appended if any."""
    at: float | None = None
    """The controller's clock (monotonic) when it was captured; None when the record came
    from outside the event loop (e.g. another thread)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "created": self.created,
            "level": self.level,
            "level_name": self.level_name,
            "message": self.message,
            "at": self.at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogLine:
        """The `LogLine` that `to_json()` described."""
        return cls(
            created=float(data["created"]),
            level=int(data["level"]),
            level_name=str(data["level_name"]),
            message=str(data["message"]),
            at=_float_or_none(data.get("at")),
        )


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One field of a service's settings, with where its value came from."""

    name: str
    value: str
    """The value as Python shows it (`repr()`), so any type crosses the protocol; a
    `SecretStr` shows as `SecretStr('**********')`."""
    env_var: str
    """The environment variable that sets it."""
    source: str
    """`default`, `env` or `.env`."""
    description: str = ""
    error: str | None = None
    """Why its value is invalid (then `value` is the value that was rejected), or None.
    The service's `settings_error` says the same of every invalid field."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "name": self.name,
            "value": self.value,
            "env_var": self.env_var,
            "source": self.source,
            "description": self.description,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SettingInfo:
        """The `SettingInfo` that `to_json()` described."""
        return cls(
            name=str(data["name"]),
            value=str(data["value"]),
            env_var=str(data["env_var"]),
            source=str(data["source"]),
            description=str(data.get("description", "")),
            error=data.get("error"),
        )


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
    """None when it is not known: its own setting is invalid, or the settings do not
    load at all (see `settings_error`). Known despite another field's error."""
    enabled_source: str
    """`default`, `env`, `.env` or `override` (set for this session through the protocol)."""
    env_var: str
    settings: tuple[SettingInfo, ...]
    """Every field, also when the settings do not load: an invalid field carries its
    `error`; empty when nothing could be read."""
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
    """The last time its synchronous code blocked the event loop."""
    health_reason: str = ""
    """Why `health` is what it is, in a few words (`3 of the last 10 loops failed`,
    `never started`, `killed (its task was cancelled)`): never just the state's name,
    so a view can show the state and this side by side."""
    kill_requested_at: float | None = None
    """When `kill` was asked (the controller's clock), while its task has not ended yet:
    a task that shields itself from cancellation, or blocks, runs on after a kill."""
    log_level: int | None = None
    """The least level captured in its log, set for this session with `set_log_level`
    (e.g. `logging.DEBUG`); None: the default (`logging.INFO`)."""
    stall_count: int = 0
    """How many times its synchronous code blocked the event loop (it only grows)."""
    process: ProcessInfo | None = None
    """The process that runs it, set by a control that shows the services of several
    processes together; None: the control's own `process`."""
    unreachable: str | None = None
    """Set by a client of another process while that process cannot be reached: why (one
    sentence). The rest of the record is then the last state it was seen in."""
    reloaded_at: float | None = None
    """When its code was last reloaded (`servicedeck --reload`; the controller's clock);
    None: it runs the code the process loaded first. Its loop counts restart at a reload."""
    reload_error: str | None = None
    """Why the last reload of its code failed (`services.py:12: SyntaxError: invalid
    syntax`): it runs its old code meanwhile. Cleared by the next reload that works."""
    removed: bool = False
    """A reload found its class gone from its module: it is stopped, and refuses to start."""

    @property
    def is_loop(self) -> bool:
        """True for a `LoopService`."""
        return self.kind == "loop"

    @property
    def is_failing(self) -> bool:
        """Its health is FAILING (loops of the window raised, even if it has stopped
        since) or CRASHED, it is stuck, or its settings do not load.

        Judged over a window of loops (see `servicedeck.health_verdict`), so a service
        that fails now and then does not flicker in and out of a failing view.
        """
        return (
            self.health in (Health.FAILING, Health.CRASHED)
            or self.settings_error is not None
            or self.stuck
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field; nested records as their own `to_json()`."""
        return {
            "name": self.name,
            "qualname": self.qualname,
            "kind": self.kind,
            "markers": list(self.markers),
            "description": self.description,
            "enabled": self.enabled,
            "enabled_source": self.enabled_source,
            "env_var": self.env_var,
            "settings": [setting.to_json() for setting in self.settings],
            "settings_error": self.settings_error,
            "status": self.status.to_json(),
            "health": self.health.value,
            "pause_on_error": self.pause_on_error,
            "paused_on_error": self.paused_on_error,
            "stuck": self.stuck,
            "has_task": self.has_task,
            "log_count": self.log_count,
            "stall": None if self.stall is None else self.stall.to_json(),
            "health_reason": self.health_reason,
            "kill_requested_at": self.kill_requested_at,
            "log_level": self.log_level,
            "stall_count": self.stall_count,
            "process": None if self.process is None else self.process.to_json(),
            "unreachable": self.unreachable,
            "reloaded_at": self.reloaded_at,
            "reload_error": self.reload_error,
            "removed": self.removed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceSnapshot:
        """The `ServiceSnapshot` that `to_json()` described.

        Raises:
            KeyError: a required field is missing.
            ValueError: a state or health is not one of its values.
        """
        stall = data.get("stall")
        enabled = data.get("enabled")
        log_level = data.get("log_level")
        process = data.get("process")
        unreachable = data.get("unreachable")
        reload_error = data.get("reload_error")
        return cls(
            name=str(data["name"]),
            qualname=str(data["qualname"]),
            kind=str(data["kind"]),
            markers=tuple(str(marker) for marker in data.get("markers", ())),
            description=str(data.get("description", "")),
            enabled=None if enabled is None else bool(enabled),
            enabled_source=str(data["enabled_source"]),
            env_var=str(data["env_var"]),
            settings=tuple(SettingInfo.from_json(s) for s in data.get("settings", ())),
            settings_error=data.get("settings_error"),
            status=ServiceStatus.from_json(data["status"]),
            health=Health(data["health"]),
            pause_on_error=bool(data.get("pause_on_error", False)),
            paused_on_error=bool(data.get("paused_on_error", False)),
            stuck=bool(data.get("stuck", False)),
            has_task=bool(data.get("has_task", False)),
            log_count=int(data.get("log_count", 0)),
            stall=None if stall is None else Stall.from_json(stall),
            health_reason=str(data.get("health_reason", "")),
            kill_requested_at=_float_or_none(data.get("kill_requested_at")),
            log_level=None if log_level is None else int(log_level),
            stall_count=int(data.get("stall_count", 0)),
            process=None if process is None else ProcessInfo.from_json(process),
            unreachable=None if unreachable is None else str(unreachable),
            reloaded_at=_float_or_none(data.get("reloaded_at")),
            reload_error=None if reload_error is None else str(reload_error),
            removed=bool(data.get("removed", False)),
        )


STOP_OUTCOMES = ("stopped", "cancelled", "stuck")
"""How a service's part of a stop-all can end (`ServiceStop.outcome`)."""


@dataclass(frozen=True, slots=True)
class ServiceStop:
    """How one service's part of a stop-all ended, and when."""

    name: str
    outcome: str
    """`stopped`: it stopped within the timeout. `cancelled`: it did not, was cancelled,
    and its task then ended (a loop service's teardown ran). `stuck`: it did not end
    within the timeout after its cancellation either (it ignores cancellation); its task
    still runs."""
    seconds: float
    """From the stop request until its task ended; for `stuck`, until the stop gave up
    waiting for it."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {"name": self.name, "outcome": self.outcome, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceStop:
        """The `ServiceStop` that `to_json()` described.

        Raises:
            ValueError: the outcome is not one of `STOP_OUTCOMES`.
        """
        outcome = str(data["outcome"])
        if outcome not in STOP_OUTCOMES:
            raise ValueError(f"{outcome!r} is not a stop outcome ({', '.join(STOP_OUTCOMES)})")
        return cls(name=str(data["name"]), outcome=outcome, seconds=float(data["seconds"]))


@dataclass(frozen=True, slots=True)
class StopReport:
    """The outcome of stopping every service (`ServiceControl.stop_all()`): each
    service's own outcome and time, in the order the services are listed."""

    services: tuple[ServiceStop, ...]
    seconds: float
    """From the start of the stop until its last service ended, or was given up on."""

    @property
    def stopped(self) -> tuple[str, ...]:
        """The services that stopped within the timeout."""
        return self._named("stopped")

    @property
    def cancelled(self) -> tuple[str, ...]:
        """The services that did not stop in time, were cancelled, and have ended."""
        return self._named("cancelled")

    @property
    def stuck(self) -> tuple[str, ...]:
        """The services still running after their cancellation: they ignore it."""
        return self._named("stuck")

    def _named(self, outcome: str) -> tuple[str, ...]:
        return tuple(stop.name for stop in self.services if stop.outcome == outcome)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field; each service as its own `to_json()`."""
        return {
            "services": [stop.to_json() for stop in self.services],
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StopReport:
        """The `StopReport` that `to_json()` described."""
        return cls(
            services=tuple(ServiceStop.from_json(stop) for stop in data["services"]),
            seconds=float(data["seconds"]),
        )


@dataclass(frozen=True, slots=True)
class RestartReport:
    """What `ServiceControl.restart()` did: for a notification, and its log line."""

    name: str
    """The service."""
    was_running: bool
    """It had a task, and was stopped before it started again."""
    stop_seconds: float
    """How long stopping it took (0 when it was not running)."""
    reloaded: tuple[str, ...] = ()
    """The changed files whose new code it was started with (`servicedeck --reload`);
    empty: it runs the code it had."""
    watching: bool = False
    """Its process reloads changed code (`--reload`): an empty `reloaded` means its code
    had not changed."""

    @property
    def summary(self) -> str:
        """One sentence: `Reaper restarted: stopped in 0.20 s, started again (same code
        and settings: code is loaded once per process)`, or `Reaper reloaded
        (services.py changed): stopped in 0.20 s, started with the new code`."""
        if self.reloaded:
            files = ", ".join(self.reloaded)
            if not self.was_running:
                return f"{self.name} reloaded ({files} changed): started with the new code"
            return (
                f"{self.name} reloaded ({files} changed): stopped in {self.stop_seconds:.2f} s, "
                "started with the new code"
            )
        if not self.was_running:
            done = "started (it was not running)"
        else:
            done = f"restarted: stopped in {self.stop_seconds:.2f} s, started again"
        if self.watching:
            return f"{self.name} {done} (its code has not changed since it was loaded)"
        return f"{self.name} {done} (same code and settings: code is loaded once per process)"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "name": self.name,
            "was_running": self.was_running,
            "stop_seconds": self.stop_seconds,
            "reloaded": list(self.reloaded),
            "watching": self.watching,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestartReport:
        """The `RestartReport` that `to_json()` described."""
        return cls(
            name=str(data["name"]),
            was_running=bool(data["was_running"]),
            stop_seconds=float(data["stop_seconds"]),
            reloaded=tuple(str(path) for path in data.get("reloaded", ())),
            watching=bool(data.get("watching", False)),
        )


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process that runs the services: who it is and how to show its paths."""

    pid: int
    host: str
    root: str
    """Paths under this folder are shown relative to it: the working directory, unless
    the controller was given another root."""
    framework_path: str
    """The folder of servicedeck's framework code there: its frames are hidden from
    tracebacks (they say nothing about the service)."""
    version: str
    """The servicedeck version it runs."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "pid": self.pid,
            "host": self.host,
            "root": self.root,
            "framework_path": self.framework_path,
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessInfo:
        """The `ProcessInfo` that `to_json()` described."""
        return cls(
            pid=int(data["pid"]),
            host=str(data["host"]),
            root=str(data["root"]),
            framework_path=str(data["framework_path"]),
            version=str(data["version"]),
        )
