"""Coordinators: run each service on one process of several at a time.

    connect(url)            the coordinator for a URL: postgresql://, redis://,
                            rediss://, unix://, sqlite:///path
    LeaseTimings            lease 15 s, renew 5 s, renew deadline 10 s, poll 1 s
    LeaseCoordinator        what every engine shares: batched polls, renewals, releases
    PostgresCoordinator     a lease table, psycopg 3 (`pip install 'servicedeck[postgres]'`)
    RedisCoordinator        lease keys, redis-py asyncio (`pip install 'servicedeck[redis]'`)
    SqliteCoordinator       a lease table in a file, standard library (one machine)
    fence_postgres, fence_redis, fence_sqlite
                            make a write in the same store only while a lease is held

Errors:

    CoordinationError       a bad URL, a missing extra
      StaleLeaseError       a fenced write was refused: the lease moved on

A coordinator implements the framework's `servicedeck.Coordinator`; give it to
`Service.running()`, `run_services()`, `ServiceController(coordinator=...)`, or use
`servicedeck run --coordinate URL`. psycopg and redis-py are imported only when a URL
of theirs is used.
"""

from servicedeck.coordinate._base import CoordinationError, LeaseCoordinator, StaleLeaseError
from servicedeck.coordinate._postgres import PostgresCoordinator, fence_postgres
from servicedeck.coordinate._redis import RedisCoordinator, fence_redis
from servicedeck.coordinate._sqlite import SqliteCoordinator, fence_sqlite
from servicedeck.coordinate._timings import LeaseTimings
from servicedeck.coordinate._url import check_url, connect

__all__ = [
    "CoordinationError",
    "LeaseCoordinator",
    "LeaseTimings",
    "PostgresCoordinator",
    "RedisCoordinator",
    "SqliteCoordinator",
    "StaleLeaseError",
    "check_url",
    "connect",
    "fence_postgres",
    "fence_redis",
    "fence_sqlite",
]
