"""The chaos suite, CI variant: three `servicedeck run --coordinate` replicas per engine,
through kill -9, SIGSTOP longer than the lease, SIGTERM and an engine outage.

The full run (50 failovers on PostgreSQL, 10 on Redis and SQLite, 30-second outages)
is `python -m tests.cluster`; this one keeps every kind of fault on every engine, with
a shorter outage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.engines import ENGINES, Postgres, Redis, require

from .harness import CI_TIMINGS, Cluster, make_engine

OUTAGE = 5.0
"""Seconds the engine is down: longer than the lease (3 s), so that it expires meanwhile."""


@pytest.mark.parametrize("engine", ENGINES)
def test_chaos_one_leader_at_a_time_through_every_fault(engine: str, tmp_path: Path) -> None:
    if engine == "postgres":
        require(engine, Postgres.problem())
    elif engine == "redis":
        require(engine, Redis.problem())
    store = make_engine(engine, tmp_path)
    cluster = Cluster(store, CI_TIMINGS, tmp_path)
    try:
        for _ in range(3):
            cluster.start_replica()
        cluster.kill_leader()
        cluster.stop_leader()
        cluster.term_leader()
        cluster.outage(OUTAGE)
    finally:
        cluster.close()
    try:
        problems = cluster.check()
        print(cluster.summary())
    finally:
        store.close()
    assert problems == [], "\n".join(problems)
