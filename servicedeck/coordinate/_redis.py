"""Leases in Redis or Valkey, through redis-py's asyncio client (`servicedeck[redis]`).

Each lease is a hash `servicedeck:lease:<name>` (holder, epoch, expires) with a TTL:
Redis expires it on its own clock. Its epoch comes from `servicedeck:epoch:<name>`, a
counter without a TTL, so that it keeps increasing after the lease key expired. Every
round trip is one Lua script over the whole batch (atomic on the server). A release
deletes the key and PUBLISHes the name on `servicedeck:lease:released`.

Epochs live only as long as the data: run Redis with persistence (`appendonly yes`) if
a restart must not start them again from 1. The fence still refuses a stale write after
such a restart, since it compares the holder too; idempotency keys may repeat.
Redis Cluster is not supported (the scripts touch keys of several slots).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from servicedeck import Lease
from servicedeck.coordinate._base import ServerCoordinator, StaleLeaseError
from servicedeck.coordinate._timings import LeaseTimings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline
    from redis.commands.core import AsyncScript

__all__ = ["CHANNEL", "RedisCoordinator", "epoch_key", "fence_redis", "lease_key"]

CHANNEL = "servicedeck:lease:released"
"""The pub/sub channel on which releases are announced (the message: the name)."""

FENCE_ATTEMPTS = 10
"""How often `fence_redis()` retries when the lease key changed under its WATCH."""

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: lease key, epoch key, for each name. ARGV: holder, lease in ms.
_ACQUIRE = (
    _NOW
    + """
local out = {}
for i = 1, #KEYS, 2 do
    local cur = redis.call('HMGET', KEYS[i], 'holder', 'epoch', 'expires')
    if cur[1] then
        out[#out + 1] = {0, cur[1], tonumber(cur[2]), tonumber(cur[3])}
    else
        local epoch = redis.call('INCR', KEYS[i + 1])
        local expires = now + tonumber(ARGV[2])
        redis.call('HSET', KEYS[i], 'holder', ARGV[1], 'epoch', epoch, 'expires', expires)
        redis.call('PEXPIRE', KEYS[i], ARGV[2])
        out[#out + 1] = {1, ARGV[1], epoch, expires}
    end
end
return out
"""
)

# KEYS: lease keys. ARGV: holder, lease in ms, then each lease's epoch.
_RENEW = (
    _NOW
    + """
local out = {}
for i = 1, #KEYS do
    local cur = redis.call('HMGET', KEYS[i], 'holder', 'epoch')
    if cur[1] == ARGV[1] and cur[2] == ARGV[i + 2] then
        local expires = now + tonumber(ARGV[2])
        redis.call('HSET', KEYS[i], 'expires', expires)
        redis.call('PEXPIRE', KEYS[i], ARGV[2])
        out[#out + 1] = expires
    else
        out[#out + 1] = 0
    end
end
return out
"""
)

# KEYS: lease keys. ARGV: holder, channel, then name and epoch of each lease.
_RELEASE = """
for i = 1, #KEYS do
    local cur = redis.call('HMGET', KEYS[i], 'holder', 'epoch')
    if cur[1] == ARGV[1] and cur[2] == ARGV[2 * i + 2] then
        redis.call('DEL', KEYS[i])
        redis.call('PUBLISH', ARGV[2], ARGV[2 * i + 1])
    end
end
return 0
"""


def lease_key(name: str) -> str:
    """The key of lease `name`: a hash of holder, epoch and expires, with a TTL."""
    return f"servicedeck:lease:{name}"


def epoch_key(name: str) -> str:
    """The key of lease `name`'s epoch counter (no TTL)."""
    return f"servicedeck:epoch:{name}"


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisCoordinator(ServerCoordinator):
    """Leases as Redis keys (`redis://`, `rediss://`, `unix://` URLs).

    Args:
        url: a redis-py URL, e.g. `redis://:password@host:6379/0` or
            `unix:///run/redis.sock?db=0`.
        timings: see `LeaseTimings`.
        holder: this process's name as a holder (default `host:pid`).
    """

    def __init__(
        self, url: str, *, timings: LeaseTimings | None = None, holder: str | None = None
    ) -> None:
        super().__init__(url, timings=timings, holder=holder)
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    async def _open(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries inside the client: the coordinator retries on its own schedule,
        # and a retry with backoff could outlast the renew deadline.
        tcp = {} if self.url.startswith("unix:") else {"socket_keepalive": True}
        self._client = Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=self.timings.renew,
            retry=Retry(NoBackoff(), 0),
            **tcp,
        )
        for name, source in (("acquire", _ACQUIRE), ("renew", _RENEW), ("release", _RELEASE)):
            self._scripts[name] = self._client.register_script(source)
        await self._client.ping()

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[script](keys=keys, args=args)

    async def _acquire(self, names: Sequence[str]) -> dict[str, tuple[Lease | None, bool]]:
        keys = [key for name in names for key in (lease_key(name), epoch_key(name))]
        rows = await self._run("acquire", keys, [self.holder, int(self.timings.lease * 1000)])
        return {
            name: (Lease(name, str(holder), int(epoch), int(expires) / 1000), bool(taken))
            for name, (taken, holder, epoch, expires) in zip(names, rows, strict=True)
        }

    async def _renew(self, leases: Sequence[Lease]) -> dict[str, Lease]:
        keys = [lease_key(lease.name) for lease in leases]
        args = [self.holder, int(self.timings.lease * 1000), *(lease.epoch for lease in leases)]
        expiries = await self._run("renew", keys, args)
        return {
            lease.name: Lease(lease.name, self.holder, lease.epoch, int(expires) / 1000)
            for lease, expires in zip(leases, expiries, strict=True)
            if expires
        }

    async def _release(self, leases: Sequence[Lease]) -> None:
        keys = [lease_key(lease.name) for lease in leases]
        args: list[Any] = [self.holder, CHANNEL]
        for lease in leases:
            args += [lease.name, lease.epoch]
        await self._run("release", keys, args)

    async def _listen(self, released: Callable[[], None]) -> None:
        assert self._client is not None
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            released()  # a release may have been missed while not listening
            async for _ in pubsub.listen():
                released()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py


async def fence_redis(
    client: Redis, lease: Lease, write: Callable[[Pipeline], object]
) -> list[Any]:
    """Make the writes that `write(pipe)` queues only if `lease` is still held.

    A `WATCH`/`MULTI` transaction: the lease key is watched, its holder and epoch
    checked, then `write(pipe)` queues your commands and `EXEC` runs them, which Redis
    refuses if the lease key changed meanwhile (then this checks again: a renewal
    changes the key too).

        await fence_redis(client, self.lease, lambda pipe: pipe.hset("orders", ...))

    Returns:
        The results of the queued commands.

    Raises:
        StaleLeaseError: the lease expired or moved to another process; nothing written.
        CoordinationError: the key kept changing for `FENCE_ATTEMPTS` attempts.
    """
    from redis.exceptions import WatchError

    from servicedeck.coordinate._base import CoordinationError

    key = lease_key(lease.name)
    async with client.pipeline(transaction=True) as pipe:
        for _ in range(FENCE_ATTEMPTS):
            try:
                await pipe.watch(key)
                holder, epoch = await pipe.hmget(key, ["holder", "epoch"])
                if _text(holder) != lease.holder or _text(epoch) != str(lease.epoch):
                    raise StaleLeaseError(lease)
                pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py
                write(pipe)
                return list(await pipe.execute())
            except WatchError:
                continue
    raise CoordinationError(
        f"the lease key {key!r} changed under every one of {FENCE_ATTEMPTS} attempts to "
        "write; try again"
    )
