"""Leases in a PostgreSQL table, through psycopg 3's async API (`servicedeck[postgres]`).

Why psycopg: it passes libpq's TCP keepalive settings, so a connection to a server that
vanished is noticed even while idle (asyncpg has no client-side keepalive).

Why a lease row and not an advisory lock: a session advisory lock belongs to a server
connection, and behind PgBouncer in transaction pooling that connection is shared and
reassigned between transactions, so the lock would be held by whoever got the
connection. Every statement here is one transaction, which works through any pooler;
and a row can carry the epoch that fences writes.

Expiry is decided by the server's clock (`now()`), so the replicas' clocks do not matter.
Two connections per process: one for the lease round trips, one that LISTENs for
releases (announced with NOTIFY in the releasing transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from servicedeck import Lease
from servicedeck.coordinate._base import ServerCoordinator, StaleLeaseError
from servicedeck.coordinate._timings import LeaseTimings

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["CHANNEL", "TABLE", "PostgresCoordinator", "fence_postgres"]

TABLE = "servicedeck_leases"
"""The lease table (in the connection's search path)."""
CHANNEL = "servicedeck_leases"
"""The LISTEN/NOTIFY channel on which releases are announced (the payload: the name)."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    renewed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
)"""

# One statement: take every free or expired lease of the batch, and return every lease
# of the batch as it now is. `taken` rows are this statement's; the others are the
# rows it did not change, from the statement's snapshot.
_ACQUIRE = f"""
WITH taken AS (
    INSERT INTO {TABLE} AS l (name, holder, epoch, renewed_at, expires_at)
    SELECT n, %(holder)s, 1, now(), now() + make_interval(secs => %(lease)s)
    FROM unnest(%(names)s::text[]) AS n
    ON CONFLICT (name) DO UPDATE
        SET holder = excluded.holder, epoch = l.epoch + 1,
            renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
        WHERE l.expires_at <= now()
    RETURNING l.name, l.holder, l.epoch, l.expires_at
)
SELECT name, holder, epoch, extract(epoch FROM expires_at)::float8, true FROM taken
UNION ALL
SELECT name, holder, epoch, extract(epoch FROM expires_at)::float8, false FROM {TABLE}
WHERE name = ANY(%(names)s::text[]) AND expires_at > now()
    AND name NOT IN (SELECT name FROM taken)
"""

_RENEW = f"""
UPDATE {TABLE} AS l
SET renewed_at = now(), expires_at = now() + make_interval(secs => %(lease)s)
FROM unnest(%(names)s::text[], %(epochs)s::bigint[]) AS r(name, epoch)
WHERE l.name = r.name AND l.epoch = r.epoch AND l.holder = %(holder)s AND l.expires_at > now()
RETURNING l.name, l.epoch, extract(epoch FROM l.expires_at)::float8
"""

_RELEASE = f"""
WITH gone AS (
    UPDATE {TABLE} AS l SET expires_at = now()
    FROM unnest(%(names)s::text[], %(epochs)s::bigint[]) AS r(name, epoch)
    WHERE l.name = r.name AND l.epoch = r.epoch AND l.holder = %(holder)s
    RETURNING l.name
)
SELECT pg_notify('{CHANNEL}', name) FROM gone
"""

_FENCE = f"""
SELECT 1 FROM {TABLE}
WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s
    AND expires_at > clock_timestamp()
FOR SHARE
"""


def _keepalives(timings: LeaseTimings) -> dict[str, Any]:
    """libpq settings that notice a dead server within about the renew deadline."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(timings.renew)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        # Unacknowledged data on the socket for this long closes it (libpq >= 12).
        "tcp_user_timeout": int(timings.deadline * 1000),
        "connect_timeout": max(2, int(timings.renew)),
        "application_name": "servicedeck",
    }


class PostgresCoordinator(ServerCoordinator):
    """Leases in the table `servicedeck_leases` of a PostgreSQL database.

    Args:
        url: a libpq URL, `postgresql://user:password@host/dbname?...`. Keepalive
            settings the URL does not set are added (see the module docstring).
        timings: see `LeaseTimings`.
        holder: this process's name as a holder (default `host:pid`).
    """

    def __init__(
        self, url: str, *, timings: LeaseTimings | None = None, holder: str | None = None
    ) -> None:
        super().__init__(url, timings=timings, holder=holder)
        self._conn: AsyncConnection[Any] | None = None

    async def _connect(self) -> AsyncConnection[Any]:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        given = conninfo_to_dict(self.url)
        extra = {k: v for k, v in _keepalives(self.timings).items() if k not in given}
        return await psycopg.AsyncConnection.connect(self.url, autocommit=True, **extra)

    async def _query(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement on the lease connection; a failure closes it (the next
        round trip reconnects), so a broken or cancelled connection is never reused."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await self._connect()
            cursor = await self._conn.execute(query, params)
            return await cursor.fetchall() if cursor.description else []
        except BaseException:
            conn, self._conn = self._conn, None
            if conn is not None:
                with anyio.CancelScope(shield=True):
                    await conn.close()
            raise

    async def _open(self) -> None:
        self._conn = await self._connect()
        # Replicas start together: the lock makes one create the table, the others wait.
        async with self._conn.transaction():
            await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            await self._conn.execute(_SCHEMA)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _acquire(self, names: Sequence[str]) -> dict[str, tuple[Lease | None, bool]]:
        rows = await self._query(
            _ACQUIRE, {"holder": self.holder, "lease": self.timings.lease, "names": list(names)}
        )
        found: dict[str, tuple[Lease | None, bool]] = dict.fromkeys(names, (None, False))
        for name, holder, epoch, expires, taken in rows:
            found[name] = (Lease(name, holder, epoch, expires), taken)
        return found

    async def _renew(self, leases: Sequence[Lease]) -> dict[str, Lease]:
        rows = await self._query(
            _RENEW,
            {
                "holder": self.holder,
                "lease": self.timings.lease,
                "names": [lease.name for lease in leases],
                "epochs": [lease.epoch for lease in leases],
            },
        )
        return {name: Lease(name, self.holder, epoch, expires) for name, epoch, expires in rows}

    async def _release(self, leases: Sequence[Lease]) -> None:
        await self._query(
            _RELEASE,
            {
                "holder": self.holder,
                "names": [lease.name for lease in leases],
                "epochs": [lease.epoch for lease in leases],
            },
        )

    async def _listen(self, released: Callable[[], None]) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f"LISTEN {CHANNEL}")
            released()  # a release may have been missed while not listening
            async for _ in conn.notifies():
                released()
        finally:
            with anyio.CancelScope(shield=True):
                await conn.close()


async def fence_postgres(connection: AsyncConnection[Any], lease: Lease) -> None:
    """Check, inside your transaction, that `lease` is still held; lock it until commit.

    Locks the lease row `FOR SHARE`: a takeover (which updates the row) waits until your
    transaction ends, so your write commits before any other process can lead, or not at
    all. Call it first in the transaction that makes the write, on the coordinator's
    database:

        async with connection.transaction():
            await fence_postgres(connection, self.lease)
            await connection.execute("INSERT INTO ...")

    Keep the transaction short: the leader's own renewal waits for it too.

    Raises:
        StaleLeaseError: the lease expired or moved to another process (the
            transaction is rolled back by the block).
        ValueError: `connection` is not in a transaction.
    """
    from psycopg import pq

    if connection.info.transaction_status is not pq.TransactionStatus.INTRANS:
        raise ValueError(
            "fence_postgres() must be called inside the transaction it guards: "
            "`async with connection.transaction():`"
        )
    cursor = await connection.execute(
        _FENCE, {"name": lease.name, "holder": lease.holder, "epoch": lease.epoch}
    )
    if await cursor.fetchone() is None:
        raise StaleLeaseError(lease)
