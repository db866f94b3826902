"""`LeaseCoordinator`: the engine-independent half of every coordinator.

It keeps the leases this process wants and the ones it holds, and talks to its engine
in batches, so that the traffic does not grow with the number of services:

- one **poll** round trip tries to take every wanted lease at once (every `poll` s ± 20 %,
  and at once when a holder announces a release);
- one **renew** round trip renews every held lease at once (every `renew` s);
- one **release** round trip gives back the leases that were let go meanwhile.

Each held lease runs its `leadership()` block in a cancel scope whose deadline is its
last successful renewal (the moment the renew request was *sent*) plus the renew
deadline: if no renewal succeeds in time, the event loop itself cancels the block, even
if the renewer is stuck. A renewal that finds the lease taken cancels it at once.

An engine implements `_open`, `_acquire`, `_renew`, `_release`, `_close` and, where it
can announce releases, `_listen`.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.abc

from servicedeck import Lease
from servicedeck.coordinate._timings import JITTER, LeaseTimings

__all__ = [
    "CoordinationError",
    "LeaseCoordinator",
    "ServerCoordinator",
    "StaleLeaseError",
    "default_holder",
    "redacted",
]

logger = logging.getLogger("servicedeck.coordinate")

LeaseObserver = Callable[[Lease | None], None]


class CoordinationError(Exception):
    """The coordination engine cannot be used: a bad URL or a missing extra."""


class StaleLeaseError(CoordinationError):
    """A fenced write was refused: the lease it carries is no longer held (its epoch
    moved on, or it expired). Nothing was written."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(
            f"the lease {lease.name!r} of {lease.holder} at epoch {lease.epoch} is no longer "
            "held (it expired or moved to another process); the write was not made"
        )
        self.lease = lease


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def default_holder() -> str:
    """This process as a lease holder: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(eq=False)
class _Waiter:
    """A `leadership()` block waiting for its lease."""

    name: str
    observe: LeaseObserver | None
    granted: anyio.Event = field(default_factory=anyio.Event)
    lease: Lease | None = None
    sent: float = 0.0
    """When the round trip that granted it was sent (this process's clock)."""
    seen: Lease | None = None


@dataclass(eq=False)
class _Held:
    """A lease this process holds, and the block it guards."""

    lease: Lease
    observe: LeaseObserver | None
    scope: anyio.CancelScope
    why: str = "its renewal missed the renew deadline"


@dataclass(eq=False)
class _Release:
    lease: Lease
    done: anyio.Event = field(default_factory=anyio.Event)


class _Trouble:
    """Logs the first failure of a kind of round trip, and the recovery; not each retry."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    def failed(self, exc: BaseException) -> None:
        if not self.failing:
            self.failing = True
            logger.warning("lease %s failed: %s; retrying", self.what, _describe(exc))
        else:
            logger.debug("lease %s failed again: %s", self.what, _describe(exc))

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            logger.info("lease %s works again", self.what)


def _who(lease: Lease | None) -> tuple[str, int] | None:
    return None if lease is None else (lease.holder, lease.epoch)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class LeaseCoordinator(ABC):
    """A `servicedeck.Coordinator` on an engine: batched polls, renewals and releases.

    Use it as an async context manager, around the services it coordinates:

        async with connect(url) as coordinator, Service.running(coordinator):
            ...

    Args:
        timings: the lease, renew, deadline and poll timings (default `LeaseTimings()`).
        holder: this process's name as a holder (default `host:pid`).
    """

    def __init__(self, *, timings: LeaseTimings | None = None, holder: str | None = None) -> None:
        self.timings = timings if timings is not None else LeaseTimings()
        self._holder = holder if holder is not None else default_holder()
        self._tg: anyio.abc.TaskGroup | None = None
        self._wanted: dict[str, _Waiter] = {}
        self._held: dict[str, _Held] = {}
        self._releases: list[_Release] = []
        self._poll_now = anyio.Event()
        self._release_now = anyio.Event()
        self._random = random.Random()
        self._opened = False

    # -- the Coordinator protocol ---------------------------------------------------

    @property
    def holder(self) -> str:
        """This process's name as a holder, e.g. `host-b:4242`."""
        return self._holder

    @asynccontextmanager
    async def leadership(
        self, name: str, observe: LeaseObserver | None = None
    ) -> AsyncIterator[Lease]:
        """Wait until this process holds lease `name`; hold it for the block.

        See `servicedeck.Coordinator.leadership()`.

        Raises:
            RuntimeError: the coordinator was not entered, or lease `name` is already
                wanted or held by another block of this process.
        """
        if self._tg is None:
            raise RuntimeError(
                "enter the coordinator first: `async with servicedeck.coordinate.connect(url) "
                "as coordinator:`"
            )
        if name in self._wanted or name in self._held:
            raise RuntimeError(f"lease {name!r} is already wanted by this process")
        waiter = _Waiter(name, observe)
        self._wanted[name] = waiter
        self._poll_now.set()
        try:
            await waiter.granted.wait()
        except BaseException:
            if self._wanted.get(name) is waiter:
                del self._wanted[name]
            if waiter.lease is not None:  # granted as we were cancelled: give it back
                self._queue_release(waiter.lease)
            raise
        lease = waiter.lease
        assert lease is not None
        deadline = waiter.sent + self.timings.deadline
        held = _Held(lease, observe, anyio.CancelScope(deadline=deadline))
        logger.info("lease %s acquired (epoch %d)", name, lease.epoch)
        try:
            with held.scope:
                self._held[name] = held
                try:
                    yield lease
                finally:
                    del self._held[name]
            if held.scope.cancelled_caught:
                logger.warning(
                    "lease %s lost (epoch %d): %s; stepped down", name, lease.epoch, held.why
                )
        finally:
            # Released even when lost: a renewal that succeeded too late would otherwise
            # keep every other process waiting for the lease to expire.
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self.timings.renew):
                    await self._queue_release(held.lease).wait()
            if not held.scope.cancelled_caught:
                logger.info("lease %s released (epoch %d)", name, held.lease.epoch)

    # -- life cycle -------------------------------------------------------------------

    async def __aenter__(self) -> LeaseCoordinator:
        """Connect (and create the lease table), then start polling and renewing.

        An engine that cannot be reached now is not an error: it is logged, and the
        services stand by until it answers (a replica started during an outage of the
        engine must still run its `RunInAllServers` services).
        """
        try:
            await self._ensure_open()
        except Exception as exc:
            logger.warning(
                "cannot use the coordination engine at %s yet (%s): the leased services "
                "stand by until it answers",
                self.where,
                _describe(exc),
            )
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._poll_loop, name="servicedeck:lease-poll")
        self._tg.start_soon(self._renew_loop, name="servicedeck:lease-renew")
        self._tg.start_soon(self._release_loop, name="servicedeck:lease-release")
        self._tg.start_soon(self._listen_loop, name="servicedeck:lease-listen")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg = self._tg
        assert tg is not None, "coordinator was not entered"
        try:
            for held in list(self._held.values()):
                held.why = "the coordinator was closed"
                held.scope.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.timings.renew):
                await self._flush_releases()
            tg.cancel_scope.cancel()
            return await tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            self._opened = False
            with anyio.CancelScope(shield=True):
                await self._close()

    # -- the engine's part ------------------------------------------------------------

    @property
    @abstractmethod
    def where(self) -> str:
        """The engine, for messages (its URL without a password)."""

    @abstractmethod
    async def _open(self) -> None:
        """Connect, and create the lease table (or check the server) if needed."""

    @abstractmethod
    async def _acquire(self, names: Sequence[str]) -> dict[str, tuple[Lease | None, bool]]:
        """One round trip: take each of `names` that is free or expired.

        Returns, for each name, the lease as it is now (None: free) and whether this
        process just took it.
        """

    @abstractmethod
    async def _renew(self, leases: Sequence[Lease]) -> dict[str, Lease]:
        """One round trip: extend each of `leases` still held at its epoch; returns those."""

    @abstractmethod
    async def _release(self, leases: Sequence[Lease]) -> None:
        """One round trip: give back each of `leases` still held, and announce it."""

    @abstractmethod
    async def _listen(self, released: Callable[[], None]) -> None:
        """Call `released()` whenever another process announces a release; engines that
        cannot announce return at once (standbys then only poll)."""

    @abstractmethod
    async def _close(self) -> None:
        """Close every connection (also after a failed `_open()`)."""

    # -- the background tasks ---------------------------------------------------------

    async def _ensure_open(self) -> None:
        """Open the engine (connect, create the table) unless that has succeeded before."""
        if self._opened:
            return
        try:
            with anyio.fail_after(self.timings.renew):
                await self._open()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._close()
            raise
        self._opened = True

    def _jittered(self, seconds: float) -> float:
        return seconds * self._random.uniform(1 - JITTER, 1 + JITTER)

    async def _poll_loop(self) -> None:
        trouble = _Trouble("poll")
        while True:
            self._poll_now = anyio.Event()
            if self._wanted:
                await self._poll_once(trouble)
            wait = self._jittered(self.timings.poll) if self._wanted else None
            with anyio.move_on_after(wait if wait is not None else float("inf")):
                await self._poll_now.wait()

    async def _poll_once(self, trouble: _Trouble) -> None:
        names = sorted(self._wanted)
        sent = anyio.current_time()
        try:
            await self._ensure_open()
            with anyio.fail_after(self.timings.renew):
                found = await self._acquire(names)
        except Exception as exc:
            trouble.failed(exc)
            return
        trouble.ok()
        for name, (lease, taken) in found.items():
            waiter = self._wanted.get(name)
            if taken:
                assert lease is not None
                if waiter is None:  # nobody waits for it any more
                    self._queue_release(lease)
                    continue
                del self._wanted[name]
                waiter.lease, waiter.sent = lease, sent
                waiter.granted.set()
            elif waiter is not None and _who(lease) != _who(waiter.seen):
                waiter.seen = lease  # told on a change of hands, not on every renewal
                if lease is not None:
                    logger.info(
                        "lease %s held by %s (epoch %d): standing by",
                        name,
                        lease.holder,
                        lease.epoch,
                    )
                if waiter.observe is not None:
                    waiter.observe(lease)

    async def _renew_loop(self) -> None:
        trouble = _Trouble("renewal")
        wait = self.timings.renew
        while True:
            await anyio.sleep(wait)
            wait = self.timings.renew
            held = list(self._held.values())
            if not held:
                continue
            sent = anyio.current_time()
            # No use waiting past the first deadline: that lease is lost by then anyway.
            limit = min(min(h.scope.deadline for h in held) - sent, self.timings.renew)
            try:
                with anyio.fail_after(max(limit, 0.001)):
                    renewed = await self._renew([h.lease for h in held])
            except Exception as exc:
                trouble.failed(exc)
                wait = min(self.timings.poll, self.timings.renew)  # retry soon
                continue
            trouble.ok()
            for h in held:
                if self._held.get(h.lease.name) is not h:
                    continue  # let go meanwhile
                lease = renewed.get(h.lease.name)
                if lease is None:
                    h.why = "it expired or another process took it over"
                    h.scope.cancel()
                    continue
                h.lease = lease
                h.scope.deadline = sent + self.timings.deadline
                if h.observe is not None:
                    h.observe(lease)

    def _queue_release(self, lease: Lease) -> anyio.Event:
        release = _Release(lease)
        if self._tg is None:  # closed: the lease expires by itself
            release.done.set()
            return release.done
        self._releases.append(release)
        self._release_now.set()
        return release.done

    async def _release_loop(self) -> None:
        while True:
            await self._release_now.wait()
            self._release_now = anyio.Event()
            await self._flush_releases()

    async def _flush_releases(self) -> None:
        batch, self._releases = self._releases, []
        if not batch:
            return
        try:
            with anyio.fail_after(self.timings.renew):
                await self._release([r.lease for r in batch])
        except Exception as exc:
            # The leases expire by themselves; others take them over then.
            logger.warning(
                "lease release of %s failed: %s; they expire in %g s at most",
                ", ".join(r.lease.name for r in batch),
                _describe(exc),
                self.timings.lease,
            )
        finally:
            for release in batch:
                release.done.set()

    async def _listen_loop(self) -> None:
        trouble = _Trouble("release listener")

        def released() -> None:
            trouble.ok()
            self._poll_now.set()  # the current event: the poller makes a new one each pass

        while True:
            try:
                await self._listen(released)
                return
            except Exception as exc:
                trouble.failed(exc)
            await anyio.sleep(self._jittered(self.timings.poll))


class ServerCoordinator(LeaseCoordinator, ABC):
    """A coordinator on a server that a URL names (PostgreSQL, Redis)."""

    def __init__(
        self, url: str, *, timings: LeaseTimings | None = None, holder: str | None = None
    ) -> None:
        super().__init__(timings=timings, holder=holder)
        self.url = url

    @property
    def where(self) -> str:
        """The URL, without its password."""
        return redacted(self.url)
