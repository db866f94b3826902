"""The services of the chaos suite, written as user code: `servicedeck run` runs this file.

`Recorder` holds a lease: each loop announces itself (`@ begin`), works for `WORK`
seconds, and records the run `(service, epoch, holder, started, finished)` through the
engine's fence. The work and the write are shielded from cancellation: they stand for
a write already in flight when the lease is lost (a pause between the check and the
write, a thread, a commit on its way), which only the fence can stop. `Everywhere` is
`RunInAllServers`: it beats on every replica.

The harness reads the `@ ...` lines this prints on stdout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import anyio

from servicedeck import Lease, LoopService, RunInAllServers
from servicedeck.coordinate import StaleLeaseError, fence_postgres, fence_redis, fence_sqlite

URL = os.environ["SERVICEDECK_COORDINATE"]
WORK = 0.3


def say(*words: object) -> None:
    print("@", *words, flush=True)


class Store:
    """The `runs` table (a list in Redis), written through the fence, reconnecting."""

    def __init__(self) -> None:
        self.connection: Any = None

    async def write(self, row: dict[str, Any], lease: Lease) -> None:
        try:
            if URL.startswith("postgresql"):
                await self._postgres(row, lease)
            elif URL.startswith("sqlite"):
                await anyio.to_thread.run_sync(self._sqlite, row, lease)
            else:
                await self._redis(row, lease)
        except StaleLeaseError:
            raise
        except Exception:
            await self.close()  # reconnect next time
            raise

    async def _postgres(self, row: dict[str, Any], lease: Lease) -> None:
        import psycopg

        if self.connection is None:
            self.connection = await psycopg.AsyncConnection.connect(URL, autocommit=True)
        async with self.connection.transaction():
            await fence_postgres(self.connection, lease)
            await self.connection.execute(
                "INSERT INTO runs (service, epoch, holder, started, finished) "
                "VALUES (%(service)s, %(epoch)s, %(holder)s, %(started)s, %(finished)s)",
                row,
            )

    def _sqlite(self, row: dict[str, Any], lease: Lease) -> None:
        path = URL.partition("://")[2][1:]
        # A short busy timeout: a locked database fails the write soon.
        with sqlite3.connect(path, timeout=0.2, isolation_level=None) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                fence_sqlite(db, lease)
                db.execute(
                    "INSERT INTO runs (service, epoch, holder, started, finished) "
                    "VALUES (:service, :epoch, :holder, :started, :finished)",
                    row,
                )
                db.execute("COMMIT")
            except BaseException:
                db.rollback()
                raise

    async def _redis(self, row: dict[str, Any], lease: Lease) -> None:
        from redis.asyncio import Redis

        if self.connection is None:
            self.connection = Redis.from_url(URL, socket_timeout=1.0)
        await fence_redis(self.connection, lease, lambda pipe: pipe.rpush("runs", json.dumps(row)))

    async def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            with anyio.CancelScope(shield=True):
                if hasattr(connection, "aclose"):  # redis-py
                    await connection.aclose()
                else:  # psycopg
                    await connection.close()


class Recorder(LoopService):
    """Records each run through the fence."""

    loop_seconds = 0.05

    def __init__(self) -> None:
        super().__init__()
        self.store = Store()

    async def run_once(self) -> None:
        lease = self.lease
        assert lease is not None
        started = time.time()
        say("begin", lease.epoch, lease.holder, started)
        with anyio.CancelScope(shield=True):
            await anyio.sleep(WORK)
            finished = time.time()
            row = {
                "service": self.name,
                "epoch": lease.epoch,
                "holder": lease.holder,
                "started": started,
                "finished": finished,
            }
            try:
                await self.store.write(row, lease)
            except StaleLeaseError:
                say("stale", lease.epoch, lease.holder, time.time())
                return
        say("end", lease.epoch, lease.holder, finished)

    async def teardown(self) -> None:
        await self.store.close()


class Everywhere(LoopService, RunInAllServers):
    """Beats on every replica."""

    loop_seconds = 0.2

    async def run_once(self) -> None:
        say("beat", os.getpid(), time.time())
