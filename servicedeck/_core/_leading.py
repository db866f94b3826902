"""`run_with_lease()`: run a service only while this process holds its lease."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from ._lease import Coordinator, Lease, LeaseRole

if TYPE_CHECKING:
    from ._service import Service

__all__ = ["run_with_lease"]

logger = logging.getLogger("servicedeck")


async def run_with_lease(
    service: Service,
    coordinator: Coordinator,
    run: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run `service` whenever this process holds its lease, until it stops.

    Waits for the lease (the service stands by), then runs it; if the lease is lost,
    the run is cancelled (its teardown runs, shielded) and the service stands by again.
    Returns when a run ends by itself or the service is stopped: `stop()` ends the wait
    of a standby at once. `service.status.lease` follows each step.

    Args:
        service: the service; its name is the lease's name.
        coordinator: grants the lease; entered by the caller.
        run: what to run while leader (default `service.start`).
    """
    rt = service._servicedeck
    work = service.start if run is None else run
    leading = False

    def observe(seen: Lease | None) -> None:
        rt.set_lease(LeaseRole.LEADER if leading else LeaseRole.STANDBY, seen)

    try:
        while True:
            if rt.pending_stop:  # stopped while standing by (or before it began)
                rt.pending_stop = False
                return
            if rt.lease_status is None or rt.lease_status.role is LeaseRole.OFF:
                rt.set_lease(LeaseRole.STANDBY, None)
            completed = False
            lease: Lease | None = None
            with anyio.CancelScope() as standby:
                rt.standby = standby
                try:
                    async with coordinator.leadership(service.name, observe) as lease:
                        rt.standby = None
                        leading = True
                        rt.set_lease(LeaseRole.LEADER, lease)
                        try:
                            await work()
                            completed = True
                        finally:
                            leading = False
                finally:
                    rt.standby = None
            if completed:
                return
            if not standby.cancelled_caught:
                # The coordinator ended the block: the lease is lost. It logged why.
                last = rt.lease_status.lease if rt.lease_status is not None else lease
                rt.set_lease(LeaseRole.LOST, last)
    finally:
        last = rt.lease_status.lease if rt.lease_status is not None else None
        rt.set_lease(LeaseRole.OFF, last)
