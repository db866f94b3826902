"""Replica workloads: what a coordinator costs, and how fast a failover is.

- **lease-loop**: the per-loop time of a service run under its lease
  (`run_with_lease()`), against the same service without a coordinator, in one event
  loop, interleaved. The loop never touches the engine.
- **lease-traffic**: 200 services on 3 replicas (three coordinators, each running all
  200 under `running(coordinator)`), on the real engine: the round trips each process
  makes per renew interval, counted by wrapping each coordinator's engine calls here.
  Unbatched, a leader of 200 services would renew 200 times per interval.
- **failover**: 3 `servicedeck run` replicas at the default timings (lease 15 s, renew
  5 s, deadline 10 s, poll 1 s); the leader is `kill -9`ed 20 times, each at a random
  moment of its renew cycle, and each time the failover is how long until another
  replica runs the service (the lease expires 10 to 15 s after the crash). Printed beside
  Kubernetes client-go's defaults (a 15 s lease a crashed leader's successor waits out)
  and docket's 5-minute redelivery of a perpetual task whose worker died.

The full run uses PostgreSQL (started here, as the tests do); `--quick` uses SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio

from servicedeck import LeaseRole, LoopService, Service, run_with_lease
from servicedeck.coordinate import LeaseCoordinator, LeaseTimings, connect

from ._harness import Row, Scale, Target, Unit, Workload, compared, median, p95
from .framework import NoopService, interleaved

__all__ = ["WORKLOADS"]

perf = time.perf_counter
DOCKET_REDELIVERY = 300.0
"""docket's redelivery of a perpetual task whose worker died (Prefect's replacement)."""
CLIENT_GO_LEASE = 15.0
"""Kubernetes client-go's default LeaseDuration: how long a crashed leader's lease lasts."""


@contextlib.contextmanager
def engine_url(scale: Scale) -> Iterator[str]:
    """PostgreSQL for a full run (started for it), SQLite for a quick one."""
    with tempfile.TemporaryDirectory(prefix="servicedeck-bench-") as folder:
        if scale.quick:
            yield f"sqlite:///{folder}/leases.db"
            return
        from tests.cluster.harness import Postgres

        problem = Postgres.problem()
        if problem is not None:
            raise SystemExit(f"the replica benchmarks need PostgreSQL: {problem}")
        server = Postgres()
        try:
            server.init()
            yield server.url
        finally:
            server.close()


# -- per-loop overhead under a lease ------------------------------------------------------


async def per_loop_plain(loops: int) -> float:
    service = NoopService(loop_seconds=0)
    started = perf()
    await service.start(loops=loops)
    return (perf() - started) / loops


async def per_loop_leased(coordinator: LeaseCoordinator, loops: int) -> float:
    service = NoopService(loop_seconds=0)
    seconds: list[float] = []

    async def work() -> None:
        started = perf()
        await service.start(loops=loops)
        seconds.append((perf() - started) / loops)

    await run_with_lease(service, coordinator, work)
    return seconds[0]


def measure_lease_loop(scale: Scale) -> list[Row]:
    loops = scale.pick(10_000, 100)

    async def run() -> list[list[float]]:
        with tempfile.TemporaryDirectory() as folder:
            async with connect(f"sqlite:///{folder}/leases.db") as coordinator:
                # Warm both sides up first: the first runs of either pay for caches.
                await per_loop_plain(loops)
                await per_loop_leased(coordinator, loops)
                results: list[list[float]] = await interleaved(
                    scale.pick(21, 1),
                    lambda: per_loop_plain(loops),
                    lambda: per_loop_leased(coordinator, loops),
                )
                return results

    plain, leased = asyncio.run(run())
    return [
        compared(
            "time per loop under a lease (`run_with_lease`), against no coordinator (the baseline)",
            Unit.SECONDS,
            Target(1.1, ratio=True),
            plain,
            leased,
        )
    ]


# -- lease traffic: 200 services, 3 replicas ---------------------------------------------


class Fleet(LoopService):
    """Abstract: the services of the traffic workload."""

    loop_seconds = 3600


async def _no_work(self: Service) -> None:
    pass


_FLEET: list[type[Service]] = []  # the registry holds classes weakly: keep them


def service_classes(count: int) -> type[Service]:
    """`Fleet`, with `count` concrete services (made once)."""
    while len(_FLEET) < count:
        _FLEET.append(type(f"Fleet{len(_FLEET):03}", (Fleet,), {"run_once": _no_work}))
    return Fleet


def leaders(replicas: list[list[Service]]) -> int:
    return sum(
        1
        for services in replicas
        for service in services
        if service.status.lease is not None and service.status.lease.role is LeaseRole.LEADER
    )


@contextlib.asynccontextmanager
async def counted(coordinator: LeaseCoordinator, calls: dict[str, int]) -> AsyncIterator[None]:
    """Count `coordinator`'s engine round trips (each engine call is one)."""
    for method in ("_acquire", "_renew", "_release"):
        original = getattr(coordinator, method)

        async def call(*args: Any, _original: Any = original, _method: str = method) -> Any:
            calls[_method] += 1
            return await _original(*args)

        setattr(coordinator, method, call)
    yield


async def lease_traffic(
    url: str, services: int, window: float, timings: LeaseTimings
) -> list[dict[str, int]]:
    fleet = service_classes(services)
    calls = [{"_acquire": 0, "_renew": 0, "_release": 0} for _ in range(3)]
    leading: list[list[Service]] = [[] for _ in range(3)]
    measuring = anyio.Event()
    done = anyio.Event()

    async def replica(index: int) -> None:
        coordinator = connect(url, timings=timings, holder=f"replica-{index}")
        async with (
            coordinator,
            counted(coordinator, calls[index]),
            fleet.running(coordinator) as running,
        ):
            leading[index] = running
            await measuring.wait()
            for key in calls[index]:
                calls[index][key] = 0
            await done.wait()

    async with anyio.create_task_group() as tg:
        for index in range(3):
            tg.start_soon(replica, index)
        # Settled: every service has a leader somewhere (looked at a few times a
        # second: the workload's set-up, not a measurement).
        with anyio.fail_after(60):
            while leaders(leading) < services:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        measuring.set()
        await anyio.sleep(window)
        snapshot = [dict(c) for c in calls]
        done.set()
    return snapshot


def measure_lease_traffic(scale: Scale) -> list[Row]:
    services = scale.pick(200, 20)
    timings = LeaseTimings(lease=3.0, renew=1.0, deadline=2.0, poll=0.2)
    intervals = scale.pick(10, 2)
    with engine_url(scale) as url:
        calls = anyio.run(lease_traffic, url, services, intervals * timings.renew, timings)
    per_interval = [{k: v / intervals for k, v in c.items()} for c in calls]
    renewing = max(per_interval, key=lambda c: c["_renew"])
    polling = [c for c in per_interval if c is not renewing]
    title = f"{services} services on 3 replicas, round trips per renew interval per process"
    return [
        Row(
            f"{title}: the leader's renewals (baseline: one per lease)",
            Unit.COUNT,
            Target(1.0),
            float(services),
            renewing["_renew"],
        ),
        Row(
            f"{title}: a standby's polls, every {timings.poll:g} s (baseline: one per lease)",
            Unit.COUNT,
            Target(timings.renew / timings.poll * 1.3),
            services * timings.renew / timings.poll,
            median([c["_acquire"] for c in polling]),
        ),
    ]


# -- failover at the default timings --------------------------------------------------------


def measure_failover(scale: Scale) -> list[Row]:
    from tests.cluster.harness import Cluster, SqliteEngine, make_engine

    kills = scale.pick(20, 1)
    timings = scale.pick(LeaseTimings(), LeaseTimings(lease=3.0, renew=1.0, deadline=2.0, poll=0.2))
    with tempfile.TemporaryDirectory(prefix="servicedeck-failover-") as folder:
        root = Path(folder)
        engine = SqliteEngine(root) if scale.quick else make_engine("postgres", root)
        cluster = Cluster(engine, timings, root)
        try:
            for _ in range(3):
                cluster.start_replica()
            chance = random.Random(13)
            for _ in range(kills):
                # At a random moment of the renew cycle, as a crash would come.
                cluster.kill_leader(phase=chance.uniform(0, timings.renew))
        finally:
            cluster.close()
            engine.close()
    seconds = [f.seconds for f in cluster.failovers]
    bound = timings.lease + timings.poll + 0.5
    title = (
        f"failover after kill -9, {len(seconds)} kills, lease {timings.lease:g} s, "
        f"poll {timings.poll:g} s"
    )
    return [
        Row(
            f"{title}: median (baseline: client-go's 15 s lease)",
            Unit.SECONDS,
            Target(bound),
            CLIENT_GO_LEASE,
            median(seconds),
        ),
        Row(
            f"{title}: p95 (baseline: docket's 5-minute redelivery)",
            Unit.SECONDS,
            Target(bound),
            DOCKET_REDELIVERY,
            p95(seconds),
        ),
    ]


WORKLOADS = [
    Workload("lease-loop", measure_lease_loop),
    Workload("lease-traffic", measure_lease_traffic),
    Workload("failover", measure_failover),
]
