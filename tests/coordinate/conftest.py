"""The shared lease suite's fixtures: each engine, and what a test does to it from outside
(take a lease over by force, stop writes for a while, make a fenced write)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from servicedeck import Lease
from servicedeck.coordinate import (
    LeaseTimings,
    fence_postgres,
    fence_redis,
    fence_sqlite,
)
from servicedeck.coordinate._redis import epoch_key, lease_key
from servicedeck.coordinate._url import _sqlite_path

FAST = LeaseTimings(lease=2.0, renew=0.4, deadline=1.2, poll=0.1)
"""Short timings, so that expiry and deadlines happen within a test."""


@dataclass
class Engine:
    """A coordination engine under test, and the hands to act on it from outside."""

    name: str
    url: str
    request: pytest.FixtureRequest

    def steal(self, lease_name: str, thief: str = "thief:1") -> None:
        """Give the lease to `thief` with the next epoch, as a takeover would."""
        if self.name == "postgres":
            self.request.getfixturevalue("postgres_server").execute(
                "UPDATE servicedeck_leases SET holder = %s, epoch = epoch + 1, "
                "expires_at = now() + interval '1 hour' WHERE name = %s",
                (thief, lease_name),
            )
        elif self.name == "redis":
            server = self.request.getfixturevalue("redis_server")
            epoch = server.command("INCR", epoch_key(lease_name))
            key = lease_key(lease_name)
            server.command("HSET", key, "holder", thief, "epoch", str(epoch), "expires", "0")
            server.command("PEXPIRE", key, "3600000")
        else:
            with contextlib.closing(sqlite3.connect(_sqlite_path(self.url[9:]))) as db, db:
                db.execute(
                    "UPDATE servicedeck_leases SET holder = ?, epoch = epoch + 1, "
                    "expires = ? WHERE name = ?",
                    (thief, time.monotonic() + 3600, lease_name),
                )

    @contextlib.contextmanager
    def writes_blocked(self) -> Iterator[None]:
        """No lease can be written meanwhile (an engine that stopped answering)."""
        if self.name == "postgres":
            import psycopg

            with psycopg.connect(self.request.getfixturevalue("postgres_server").url) as conn:
                conn.execute("LOCK TABLE servicedeck_leases IN EXCLUSIVE MODE")
                yield
                conn.rollback()
        elif self.name == "redis":
            server = self.request.getfixturevalue("redis_server")
            server.command("CLIENT", "PAUSE", "60000", "WRITE")
            try:
                yield
            finally:
                server.command("CLIENT", "UNPAUSE")
        else:
            with contextlib.closing(
                sqlite3.connect(_sqlite_path(self.url[9:]), isolation_level=None)
            ) as db:
                db.execute("BEGIN EXCLUSIVE")
                yield
                db.execute("ROLLBACK")

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Any]:
        """A connection of the user's own to the same store, with a `runs` table."""
        if self.name == "postgres":
            import psycopg

            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                await conn.execute("CREATE TABLE IF NOT EXISTS runs (epoch bigint, what text)")
                yield conn
        elif self.name == "redis":
            from redis.asyncio import Redis

            client = Redis.from_url(self.url, decode_responses=True)
            try:
                yield client
            finally:
                await client.aclose()
        else:
            with contextlib.closing(sqlite3.connect(_sqlite_path(self.url[9:]))) as db:
                db.execute("CREATE TABLE IF NOT EXISTS runs (epoch INTEGER, what TEXT)")
                db.commit()
                yield db

    async def fenced_write(self, store: Any, lease: Lease, what: str) -> None:
        """Write `what` into `runs` through the engine's fence."""
        if self.name == "postgres":
            async with store.transaction():
                await fence_postgres(store, lease)
                await store.execute("INSERT INTO runs VALUES (%s, %s)", (lease.epoch, what))
        elif self.name == "redis":
            await fence_redis(store, lease, lambda pipe: pipe.rpush("runs", what))
        else:
            store.execute("BEGIN IMMEDIATE")
            try:
                fence_sqlite(store, lease)
                store.execute("INSERT INTO runs VALUES (?, ?)", (lease.epoch, what))
                store.commit()
            except BaseException:
                store.rollback()
                raise

    async def written(self, store: Any) -> list[str]:
        if self.name == "postgres":
            cursor = await store.execute("SELECT what FROM runs")
            return [row[0] for row in await cursor.fetchall()]
        if self.name == "redis":
            return list(await store.lrange("runs", 0, -1))
        return [row[0] for row in store.execute("SELECT what FROM runs")]


@pytest.fixture
def engine_under_test(engine: str, coordinate_url: str, request: pytest.FixtureRequest) -> Engine:
    return Engine(engine, coordinate_url, request)
