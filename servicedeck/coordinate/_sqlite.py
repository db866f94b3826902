"""Leases in an SQLite file: several processes on one machine, no server.

The standard library's `sqlite3`, its blocking calls run in worker threads
(`anyio.to_thread`), one short connection per round trip: no dependency, and a
connection never outlives a failure (a locked or unwritable file) to be reused broken.

**The clock** is the machine's monotonic clock (`time.monotonic()`, CLOCK_MONOTONIC on
Linux), read inside the write transaction. Every process of one machine reads the same
monotonic clock, and it never steps: the wall clock can jump (NTP, a person), which
would expire a lease early and let two processes lead at once. A reboot restarts the
monotonic clock; a lease renewed "in the future" (`renewed > now`) is from before the
reboot and counts as expired. The file must therefore never be shared between
machines (SQLite's locking does not hold over a network file system anyway).

**Announcing releases**: SQLite has no LISTEN; standbys poll (every `poll` s ± 20 %).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import anyio

from servicedeck import Lease
from servicedeck.coordinate._base import LeaseCoordinator, StaleLeaseError
from servicedeck.coordinate._timings import LeaseTimings

__all__ = ["TABLE", "SqliteCoordinator", "fence_sqlite"]

TABLE = "servicedeck_leases"
"""The lease table, in the coordinator's database file."""

_T = TypeVar("_T")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    renewed REAL NOT NULL,
    expires REAL NOT NULL
)"""

# Held now: unexpired, and not renewed "in the future" (from before a reboot).
_HELD = "expires > :now AND renewed <= :now"


class SqliteCoordinator(LeaseCoordinator):
    """Leases in the table `servicedeck_leases` of an SQLite file (`sqlite:///path`).

    For several processes on one machine. See the module docstring for the clock.

    Args:
        path: the database file (created if missing).
        timings: see `LeaseTimings`.
        holder: this process's name as a holder (default `host:pid`).
    """

    def __init__(
        self, path: str, *, timings: LeaseTimings | None = None, holder: str | None = None
    ) -> None:
        super().__init__(timings=timings, holder=holder)
        self.path = path

    @property
    def where(self) -> str:
        """`sqlite:///path`."""
        return f"sqlite:///{self.path}"

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: each round trip says BEGIN IMMEDIATE itself, taking the write
        # lock before it reads the clock, so that the reads and writes of two processes
        # never interleave. The busy timeout is the longest any round trip may take.
        return sqlite3.connect(self.path, timeout=self.timings.renew, isolation_level=None)

    async def _in_thread(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        def run() -> _T:
            connection = self._connect()
            try:
                return work(connection)
            finally:
                connection.close()

        # Abandoned if it takes too long: the busy timeout ends the thread soon after.
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)

    async def _open(self) -> None:
        def create(connection: sqlite3.Connection) -> None:
            # WAL: readers never wait for the writer. Persistent: set once per file.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

        await self._in_thread(create)

    async def _close(self) -> None:
        pass  # no connection outlives its round trip

    async def _listen(self, released: Callable[[], None]) -> None:
        pass  # SQLite cannot announce a release: standbys poll

    async def _acquire(self, names: Sequence[str]) -> dict[str, tuple[Lease | None, bool]]:
        holder, seconds = self.holder, self.timings.lease

        def acquire(connection: sqlite3.Connection) -> dict[str, tuple[Lease | None, bool]]:
            found: dict[str, tuple[Lease | None, bool]] = {}
            connection.execute("BEGIN IMMEDIATE")
            try:
                now = time.monotonic()
                marks = ",".join("?" * len(names))
                rows = {
                    row[0]: row
                    for row in connection.execute(
                        f"SELECT name, holder, epoch, renewed, expires FROM {TABLE} "
                        f"WHERE name IN ({marks})",
                        list(names),
                    )
                }
                for name in names:
                    row = rows.get(name)
                    if row is not None and row[4] > now and row[3] <= now:
                        found[name] = (Lease(name, row[1], row[2], row[4]), False)
                        continue
                    epoch = 1 if row is None else row[2] + 1
                    connection.execute(
                        f"INSERT INTO {TABLE} (name, holder, epoch, renewed, expires) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                        "holder = excluded.holder, epoch = excluded.epoch, "
                        "renewed = excluded.renewed, expires = excluded.expires",
                        (name, holder, epoch, now, now + seconds),
                    )
                    found[name] = (Lease(name, holder, epoch, now + seconds), True)
                connection.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise
            return found

        return await self._in_thread(acquire)

    async def _renew(self, leases: Sequence[Lease]) -> dict[str, Lease]:
        holder, seconds = self.holder, self.timings.lease

        def renew(connection: sqlite3.Connection) -> dict[str, Lease]:
            renewed: dict[str, Lease] = {}
            connection.execute("BEGIN IMMEDIATE")
            try:
                now = time.monotonic()
                for lease in leases:
                    cursor = connection.execute(
                        f"UPDATE {TABLE} SET renewed = :now, expires = :expires "
                        f"WHERE name = :name AND holder = :holder AND epoch = :epoch AND {_HELD}",
                        {
                            "now": now,
                            "expires": now + seconds,
                            "name": lease.name,
                            "holder": holder,
                            "epoch": lease.epoch,
                        },
                    )
                    if cursor.rowcount:
                        renewed[lease.name] = Lease(lease.name, holder, lease.epoch, now + seconds)
                connection.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise
            return renewed

        return await self._in_thread(renew)

    async def _release(self, leases: Sequence[Lease]) -> None:
        holder = self.holder

        def release(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")
            try:
                now = time.monotonic()
                connection.executemany(
                    f"UPDATE {TABLE} SET expires = ?, renewed = ? "
                    "WHERE name = ? AND holder = ? AND epoch = ?",
                    [(now, now, lease.name, holder, lease.epoch) for lease in leases],
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.rollback()
                raise

        await self._in_thread(release)


def fence_sqlite(connection: sqlite3.Connection, lease: Lease) -> None:
    """Check, inside your write transaction, that `lease` is still held.

    Call it in the same transaction as the write it guards, on the coordinator's
    database file, after `BEGIN IMMEDIATE` (which takes the write lock, so no takeover
    can commit before your write does):

        connection.execute("BEGIN IMMEDIATE")
        fence_sqlite(connection, self.lease)
        connection.execute("INSERT INTO ...")
        connection.commit()

    Raises:
        StaleLeaseError: the lease expired or moved to another process (roll back).
        ValueError: `connection` is not in a transaction.
    """
    if not connection.in_transaction:
        raise ValueError(
            "fence_sqlite() must be called inside the write transaction it guards; "
            'run connection.execute("BEGIN IMMEDIATE") first'
        )
    row = connection.execute(
        f"SELECT 1 FROM {TABLE} WHERE name = :name AND holder = :holder AND epoch = :epoch "
        f"AND {_HELD}",
        {"name": lease.name, "holder": lease.holder, "epoch": lease.epoch, "now": time.monotonic()},
    ).fetchone()
    if row is None:
        raise StaleLeaseError(lease)
