"""`running(coordinator)` and `run_with_lease()`: each service on one replica at a time.

Two replicas in one process: two `running()` blocks, each with its own coordinator (its
own holder name) on one SQLite file, the real engine. Both anyio backends, real time:
the lease is timed by the machine's clock, so trio's mock clock does not apply.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from servicedeck import LeaseRole, LoopService, RunInAllServers, Service, ServiceState
from servicedeck.coordinate import LeaseCoordinator, LeaseTimings, connect

from .conftest import WAIT_TIMEOUT, WaitFor

pytestmark = pytest.mark.anyio

FAST = LeaseTimings(lease=2.0, renew=0.4, deadline=1.2, poll=0.1)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Both backends on real time (the lease is timed by the engine's clock)."""
    return request.param


class Replicated(LoopService):
    """Abstract: the services of this module."""

    loop_seconds = 60

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def run_once(self) -> None:
        lease = self.lease
        self.events.append(f"run {lease.holder} {lease.epoch}" if lease else "run")

    async def teardown(self) -> None:
        self.events.append("teardown")


class Reaper(Replicated):
    pass


class Relay(Replicated):
    pass


class Cache(Replicated, RunInAllServers):
    pass


@contextlib.asynccontextmanager
async def replica(path: Path, holder: str) -> AsyncIterator[dict[str, Service]]:
    coordinator = connect(f"sqlite:///{path}", timings=FAST, holder=holder)
    async with coordinator, Replicated.running(coordinator) as services:
        yield {s.name: s for s in services}


def leading(service: Service) -> bool:
    lease = service.status.lease
    return lease is not None and lease.role is LeaseRole.LEADER


async def test_leasing_each_service_runs_on_one_replica_and_all_servers_on_every_one(
    tmp_path: Path, wait_for: WaitFor
) -> None:
    db = tmp_path / "leases.db"
    with anyio.fail_after(WAIT_TIMEOUT):
        async with replica(db, "a:1") as a:
            for name in ("Reaper", "Relay", "Cache"):
                await wait_for(a[name], lambda s: s.loop_count >= 1)
            async with replica(db, "b:1") as b:
                await wait_for(b["Cache"], lambda s: s.loop_count >= 1)
                for name in ("Reaper", "Relay"):
                    status = await wait_for(
                        b[name], lambda s: s.lease is not None and s.lease.lease is not None
                    )
                    assert status.lease is not None
                    assert status.lease.lease is not None
                    assert status.lease.role is LeaseRole.STANDBY
                    assert (status.lease.lease.holder, status.lease.lease.epoch) == ("a:1", 1)
                    assert b[name].status.loop_count == 0
                    assert b[name].lease is None
                    assert a[name].lease is not None
                    assert a[name].lease.holder == "a:1"
                    assert a[name].events[0] == "run a:1 1"
                assert a["Cache"].status.lease is None  # RunInAllServers takes no lease
                assert b["Cache"].status.lease is None
            # b was stopped while standing by: it let go at once, and says so.
            assert b["Reaper"].status.lease is not None
            assert b["Reaper"].status.lease.role is LeaseRole.OFF
            assert leading(a["Reaper"])


async def test_leasing_a_graceful_stop_hands_the_services_over(
    tmp_path: Path, wait_for: WaitFor
) -> None:
    db = tmp_path / "leases.db"
    a: dict[str, Service] = {}
    up, stop = anyio.Event(), anyio.Event()

    async def run_a() -> None:
        async with replica(db, "a:1") as services:
            a.update(services)
            up.set()
            await stop.wait()

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_a)
            await up.wait()
            await wait_for(a["Reaper"], lambda s: s.loop_count >= 1)
            async with replica(db, "b:1") as b:
                await wait_for(b["Reaper"], lambda s: s.lease is not None)
                stop.set()  # a stops gracefully: it releases its leases
                await wait_for(b["Reaper"], lambda s: s.loop_count >= 1)
                assert b["Reaper"].events == ["run b:1 2"]
    lease = a["Reaper"].status.lease
    assert lease is not None
    assert lease.role is LeaseRole.OFF
    assert lease.transitions == 2  # acquired, released
    assert a["Reaper"].events == ["run a:1 1", "teardown"]


async def test_leasing_a_lost_lease_cancels_the_run_and_stands_by_again(
    tmp_path: Path, wait_for: WaitFor
) -> None:
    db = tmp_path / "leases.db"
    with anyio.fail_after(WAIT_TIMEOUT):
        async with replica(db, "a:1") as a:
            reaper = a["Reaper"]
            await wait_for(reaper, lambda s: s.loop_count >= 1)
            with contextlib.closing(sqlite3.connect(db)) as conn, conn:
                conn.execute(
                    "UPDATE servicedeck_leases SET holder = 'b:1', epoch = epoch + 1, "
                    "expires = ? WHERE name = 'Reaper'",
                    (time.monotonic() + 3600,),
                )
            status = await wait_for(
                reaper,
                lambda s: (
                    s.lease is not None
                    and s.lease.role is LeaseRole.STANDBY
                    and s.lease.lease is not None
                ),
            )
            assert status.state is ServiceState.STOPPED
            assert reaper.events == ["run a:1 1", "teardown"]  # cancelled; teardown ran
            assert status.lease is not None
            assert status.lease.lease is not None
            assert (status.lease.lease.holder, status.lease.lease.epoch) == ("b:1", 2)
            assert status.lease.transitions == 2  # acquired, lost
            assert reaper.lease is None
            assert leading(a["Relay"])  # the others were not disturbed


async def test_leasing_without_a_coordinator_nothing_changes(wait_for: WaitFor) -> None:
    with anyio.fail_after(WAIT_TIMEOUT):
        async with Replicated.running() as services:
            for service in services:
                status = await wait_for(service, lambda s: s.loop_count >= 1)
                assert status.lease is None
                assert service.lease is None


async def test_leasing_running_refuses_what_is_not_a_coordinator() -> None:
    with pytest.raises(TypeError, match=r"coordinator must be a Coordinator .*got 'sqlite:"):
        async with Replicated.running("sqlite:///leases.db"):  # type: ignore[arg-type]
            pass


def test_leasing_a_coordinator_is_a_coordinator(tmp_path: Path) -> None:
    from servicedeck import Coordinator

    coordinator = connect(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(coordinator, LeaseCoordinator)
    assert isinstance(coordinator, Coordinator)
