"""Records made by hand, for tests of what reads them (the feed, the metrics)."""

from __future__ import annotations

from typing import Any

from servicedeck.control import Health, ServiceSnapshot, ServiceState, ServiceStatus


def loop_snapshot(name: str = "Reaper", **status: Any) -> ServiceSnapshot:
    """A healthy, sleeping loop service named `name`; `status` sets `ServiceStatus` fields."""
    return ServiceSnapshot(
        name=name,
        qualname=f"shop.{name}",
        kind="loop",
        markers=(),
        description="",
        enabled=True,
        enabled_source="default",
        env_var="",
        settings=(),
        settings_error=None,
        status=ServiceStatus(name, ServiceState.SLEEPING, **status),
        health=Health.HEALTHY,
    )
