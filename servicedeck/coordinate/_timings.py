"""`LeaseTimings`: how long a lease lasts, and how often it is renewed and polled."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["JITTER", "LeaseTimings"]

JITTER = 0.2
"""Standbys poll every `poll` seconds ± this fraction, so they do not poll in step."""


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"the {what} must be a number of seconds, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ValueError(f"the {what} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """The timings of every lease of a coordinator (Kubernetes client-go's, by another name).

    A leader renews all its leases every `renew` seconds; if it cannot renew one within
    `deadline` seconds of its last successful renewal, it cancels that service and steps
    down, before the lease (`lease` seconds after that renewal, on the engine's clock)
    lets another process take it over. Standbys try to take free leases every `poll`
    seconds (± 20 %), and at once when a leader releases one.

    Raises:
        ValueError: a value is not a number of seconds > 0, or they are not
            `renew < deadline < lease`.
    """

    lease: float = 15.0
    """How long a lease lasts after each renewal (client-go's LeaseDuration)."""
    renew: float = 5.0
    """How often the leader renews its leases (client-go's RetryPeriod)."""
    deadline: float = 10.0
    """How long after its last renewal a leader steps down (client-go's RenewDeadline)."""
    poll: float = 1.0
    """How often a standby tries to take a lease, ± 20 %."""

    def __post_init__(self) -> None:
        lease = _seconds(self.lease, "lease")
        renew = _seconds(self.renew, "renew interval")
        deadline = _seconds(self.deadline, "renew deadline")
        _seconds(self.poll, "poll interval")
        if deadline >= lease:
            raise ValueError(
                f"the renew deadline ({deadline:g} s) must be shorter than the lease "
                f"({lease:g} s), so that a leader steps down before another process can "
                "take over; lower the deadline or lengthen the lease"
            )
        if renew >= deadline:
            raise ValueError(
                f"the renew interval ({renew:g} s) must be shorter than the renew deadline "
                f"({deadline:g} s), so that a renewal can be retried before the deadline; "
                "renew more often or raise the deadline"
            )
