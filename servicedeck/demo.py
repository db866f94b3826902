"""The built-in demo services: what `servicedeck` shows when given nothing else to run.

Read this file as an example: each service below is written the way you would write
your own. Together they show every feature of the console within a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from pydantic_settings import SettingsConfigDict

from servicedeck import LoopService, RunInAllServers, Service, ServicesBaseSetting

__all__ = [
    "EventDistributor",
    "FlakyReaper",
    "Heartbeat",
    "LateRunsMonitor",
    "SlowReport",
    "TelemetryUploader",
]

# An in-memory stream between two services: Heartbeat produces, EventDistributor consumes.
_events_out: MemoryObjectSendStream[int]
_events_in: MemoryObjectReceiveStream[int]
_events_out, _events_in = anyio.create_memory_object_stream[int](max_buffer_size=100)


class Heartbeat(LoopService):
    """Beats twice a second and publishes each beat to the event stream."""

    loop_seconds = 0.5

    async def run_once(self) -> None:
        try:
            _events_out.send_nowait(self.status.loop_count + 1)
        except anyio.WouldBlock:
            self.logger.debug("event stream full; beat dropped")


class FlakyReaper(LoopService):
    """Reaps expired orders every second; every third run hits a bad record and raises."""

    loop_seconds = 1.0

    def __init__(self, loop_seconds: float | None = None, handle_signals: bool = False) -> None:
        super().__init__(loop_seconds, handle_signals)
        self.runs = 0

    async def run_once(self) -> None:
        self.runs += 1
        if self.runs % 3 == 0:
            order = {"id": self.runs, "expires": None}
            self._expiry_of(order)
        self.logger.info("reaped %d expired orders", self.runs % 3 + 1)

    def _expiry_of(self, order: Mapping[str, int | None]) -> float:
        expires = order["expires"]
        return float(math.floor(expires))  # type: ignore[arg-type]  # the bug to find


class SlowReport(LoopService):
    """Builds a report every second that takes 1.5 s: it overruns its interval."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        await anyio.sleep(1.5)
        self.logger.info("report built")


class TelemetryUploader(LoopService):
    """Uploads usage telemetry; off unless SERVICEDECK_SERVICES_TELEMETRY_UPLOADER_ENABLED=true."""

    loop_seconds = 5.0

    @classmethod
    def service_settings(cls) -> ServicesBaseSetting:
        return _TelemetrySettings()

    async def run_once(self) -> None:
        self.logger.info("uploaded telemetry")


class _TelemetrySettings(ServicesBaseSetting):
    model_config = SettingsConfigDict(env_prefix="SERVICEDECK_SERVICES_TELEMETRY_UPLOADER_")

    enabled: bool = False


class LateRunsSettings(ServicesBaseSetting):
    """Settings of LateRunsMonitor, under its own prefix `DEMO_LATE_RUNS_`."""

    model_config = SettingsConfigDict(env_prefix="DEMO_LATE_RUNS_")

    loop_seconds: float = 2.0
    """Seconds between checks."""
    grace_seconds: float = 15.0
    """How late a run may be before it is marked late."""


class LateRunsMonitor(LoopService):
    """Marks runs late once they are past their grace period (custom settings class)."""

    @classmethod
    def service_settings(cls) -> LateRunsSettings:
        return LateRunsSettings()

    async def run_once(self) -> None:
        grace = self.service_settings().grace_seconds
        self.logger.info("checked for runs later than %.0f s", grace)


class EventDistributor(RunInAllServers, Service):
    """Consumes the event stream and fans events out; runs in every server (not a loop)."""

    def __init__(self) -> None:
        super().__init__()
        self.distributed = 0
        self._stopping = anyio.Event()

    async def start(self) -> None:
        self._stopping = anyio.Event()
        async with anyio.create_task_group() as tg:

            async def consume() -> None:
                with _events_in.clone() as events:
                    async for beat in events:
                        self.distributed += 1
                        self.logger.debug("distributed beat %d", beat)

            tg.start_soon(consume)
            await self._stopping.wait()
            tg.cancel_scope.cancel()

    async def stop(self) -> None:
        self._stopping.set()
