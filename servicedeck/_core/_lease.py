"""Leases: what the framework needs to run a service on one process of several at a time.

A `Coordinator` grants a named lease to one process at a time; `Service.running()`,
`run_services()` and `run_with_lease()` run a service only while this process holds
its lease. The framework defines only this protocol and its records; the engines that
grant leases (PostgreSQL, Redis, SQLite) live outside it, in `servicedeck.coordinate`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Coordinator", "Lease", "LeaseObserver", "LeaseRole", "LeaseStatus"]


@dataclass(frozen=True, slots=True)
class Lease:
    """One grant of a lease: who holds it, its fencing token, and when it expires."""

    name: str
    """The lease's name: the service's name."""
    holder: str
    """Who holds it: a process, e.g. `host-b:4242` (host name and pid)."""
    epoch: int
    """The fencing token: it increases every time the lease changes hands. A write made
    under this lease carries it, so a store can refuse one from an older holder."""
    expires: float
    """When it expires unless renewed, in seconds on the engine's own clock (Unix time
    for PostgreSQL and Redis; the machine's monotonic clock for SQLite). Compare it only
    with the engine's clock, never with this process's."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "name": self.name,
            "holder": self.holder,
            "epoch": self.epoch,
            "expires": self.expires,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lease:
        """The `Lease` that `to_json()` described."""
        return cls(
            name=str(data["name"]),
            holder=str(data["holder"]),
            epoch=int(data["epoch"]),
            expires=float(data["expires"]),
        )


class LeaseRole(enum.Enum):
    """What this process is to a service's lease."""

    LEADER = "leader"
    """This process holds the lease and runs the service."""
    STANDBY = "standby"
    """This process waits for the lease (another holds it, or it is about to be taken)."""
    LOST = "lost"
    """This process held the lease and lost it (its renewal missed the renew deadline, or
    another process took it over): the service was cancelled here, and this process
    stands by again as soon as it hears from the engine."""
    OFF = "off"
    """This process does not compete for the lease: the service is stopped here."""


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    """A service's lease as this process sees it (`ServiceStatus.lease`)."""

    role: LeaseRole
    lease: Lease | None = None
    """The lease as last seen: this process's own while leader (or just lost), the
    holder's while standing by; None when nobody holds it or it is not known yet."""
    transitions: int = 0
    """How many times this process became, or stopped being, the leader."""

    @property
    def summary(self) -> str:
        """One line for people: `standby: running on host-b:4242, epoch 7`,
        `leader here, epoch 7`, `lost (epoch 7): standing by`, `off: stopped here`."""
        lease, role = self.lease, self.role
        if role is LeaseRole.STANDBY:
            if lease is None:
                return "standby: nobody holds it"
            return f"standby: running on {lease.holder}, epoch {lease.epoch}"
        epoch = "" if lease is None else f" epoch {lease.epoch}"
        if role is LeaseRole.LEADER:
            return f"leader here,{epoch}" if epoch else "leader here"
        if role is LeaseRole.LOST:
            return f"lost ({epoch.strip()}): standing by" if epoch else "lost: standing by"
        return "off: stopped here"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "role": self.role.value,
            "lease": None if self.lease is None else self.lease.to_json(),
            "transitions": self.transitions,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaseStatus:
        """The `LeaseStatus` that `to_json()` described.

        Raises:
            ValueError: `role` is not a `LeaseRole` value.
        """
        lease = data.get("lease")
        return cls(
            role=LeaseRole(data["role"]),
            lease=None if lease is None else Lease.from_json(lease),
            transitions=int(data.get("transitions", 0)),
        )


LeaseObserver = Callable[[Lease | None], None]
"""Called with the lease as seen (None: free or unknown) while waiting, and with each
renewal while holding it."""


@runtime_checkable
class Coordinator(Protocol):
    """Grants each named lease to one process at a time (see `servicedeck.coordinate`).

    An implementation renews the leases it holds in the background, and cancels the
    body of a `leadership()` block as soon as its lease may be lost, before any other
    process can take it over.
    """

    @property
    def holder(self) -> str:
        """This process's name as a holder, e.g. `host-b:4242`."""
        ...

    def leadership(
        self, name: str, observe: LeaseObserver | None = None
    ) -> AbstractAsyncContextManager[Lease]:
        """Wait until this process holds lease `name`, and hold it for the block.

        The block is cancelled when the lease is lost (its renewal missed the renew
        deadline, or another process took it over); the cancellation ends at the block,
        which then exits normally. On exit the lease is released, so that another process
        takes it over at once.

        Args:
            name: the lease, a service's name.
            observe: called with the lease as seen while waiting (another holder, or
                None when free or unknown), and with each renewal while holding it.
        """
        ...
