"""`ManualClock`: a controller clock that only moves when a test tells it to."""

from __future__ import annotations


class ManualClock:
    """A monotonic clock that only moves when told: `ServiceController(clock=ManualClock())`.

    Every time the controller shows (durations, countdowns, error and log times) is read
    from it, so a test or a screenshot renders the same on every run. It does not wake
    sleeping services: a scheduled loop still waits for its interval in real time, and
    never runs while the clock stands still. Drive such services with `step()`.

    Args:
        start: the time it shows first, in seconds.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (>= 0); returns the new time.

        Raises:
            ValueError: `seconds` is negative or not a number.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
            raise ValueError(f"a clock only moves forward: seconds must be >= 0, got {seconds!r}")
        self._now += seconds
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now!r})"
