"""The controller with a coordinator: two replicas in one process, on one SQLite file.

Each leased service runs in one controller at a time; the other's snapshot says it
stands by, and for whom; stepping or starting it is refused with that reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from servicedeck import Health, LeaseRole, LoopService, RunInAllServers
from servicedeck.control import Command, CommandError, ServiceSnapshot
from servicedeck.controller import ServiceController
from servicedeck.coordinate import LeaseTimings, connect

from .conftest import Until

pytestmark = pytest.mark.anyio

FAST = LeaseTimings(lease=2.0, renew=0.4, deadline=1.2, poll=0.1)


class Reaper(LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        pass


class Cache(RunInAllServers, LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        pass


@asynccontextmanager
async def replica(db: Path, holder: str) -> AsyncIterator[ServiceController]:
    coordinator = connect(f"sqlite:///{db}", timings=FAST, holder=holder)
    async with coordinator, ServiceController([Reaper, Cache], coordinator=coordinator) as c:
        yield c


def role(controller: ServiceController, name: str = "Reaper") -> LeaseRole | None:
    lease = controller.snapshot(name).status.lease
    return None if lease is None else lease.role


async def test_controller_runs_a_leased_service_in_one_replica(
    tmp_path: Path, wait_until: Until
) -> None:
    db = tmp_path / "leases.db"
    async with replica(db, "a:1") as a, replica(db, "b:1") as b:
        await a.start_enabled()
        await wait_until(a, lambda: a.snapshot("Reaper").status.loop_count == 1)
        await b.start_enabled()
        await wait_until(b, lambda: b.snapshot("Cache").status.loop_count == 1)
        await wait_until(
            b,
            lambda: (
                (lease := b.snapshot("Reaper").status.lease) is not None and lease.lease is not None
            ),
        )

        standby = b.snapshot("Reaper")
        assert standby.has_task
        assert standby.status.loop_count == 0
        assert role(b) is LeaseRole.STANDBY
        assert standby.health is Health.HEALTHY  # another replica runs it: b is ready
        assert role(a) is LeaseRole.LEADER
        assert a.snapshot("Cache").status.lease is None  # RunInAllServers: no lease
        reason = "Reaper stands by: running on a:1, epoch 1"
        assert b.check("Reaper", Command.STEP) == reason
        assert b.check("Reaper", Command.START) == reason
        with pytest.raises(CommandError, match=reason):
            await b.step("Reaper")
        # The lease crosses the protocol like every other field.
        wire = json.loads(json.dumps(standby.to_json()))
        assert ServiceSnapshot.from_json(wire) == standby

        # Stopping a standby: it stops competing, at once.
        with anyio.fail_after(2):
            assert await b.stop("Reaper")
        assert not b.snapshot("Reaper").has_task
        assert role(b) is LeaseRole.OFF
        assert b.check("Reaper", Command.START) is None

        # Started again it stands by; the leader stopping hands the service over.
        await b.start("Reaper")
        await wait_until(b, lambda: role(b) is LeaseRole.STANDBY)
        await a.stop("Reaper")
        await wait_until(b, lambda: b.snapshot("Reaper").status.loop_count == 1)
        lease = b.snapshot("Reaper").status.lease
        assert lease is not None
        assert lease.lease is not None
        assert (lease.role, lease.lease.holder, lease.lease.epoch) == (LeaseRole.LEADER, "b:1", 2)
        assert role(a) is LeaseRole.OFF


async def test_controller_steps_a_stopped_leased_service_under_its_lease(
    tmp_path: Path, wait_until: Until
) -> None:
    async with replica(tmp_path / "leases.db", "a:1") as a:
        with anyio.fail_after(5):
            await a.step("Reaper")
        snapshot = a.snapshot("Reaper")
        assert snapshot.status.loop_count == 1
        assert not snapshot.has_task
        assert snapshot.status.lease is not None
        assert snapshot.status.lease.role is LeaseRole.OFF
        assert snapshot.status.lease.transitions == 2  # held for the step, then released


async def test_controller_refuses_what_is_not_a_coordinator() -> None:
    with pytest.raises(TypeError, match="coordinator must be a Coordinator, got 'sqlite"):
        ServiceController([Reaper], coordinator="sqlite:///x.db")  # type: ignore[arg-type]
