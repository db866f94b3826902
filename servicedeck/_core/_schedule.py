"""The loop schedule: when a `LoopService`'s next scheduled loop is due.

The rule is one pure function of the clock readings the loop takes, so that it can be
tested on its own; `LoopService._loop()` only applies it. All times are readings of the
monotonic clock the loop runs on, in seconds:

- each loop is due `interval` after the previous one was *due*, not after it ended, so
  lateness never accumulates;
- a loop that started more than an interval late (the service was paused, or the event
  loop stalled) skips the whole slots it missed: the schedule re-anchors on its start,
  with no burst of catch-up loops;
- a loop that took longer than its interval is an overrun: the next loop is due at once,
  and the schedule re-anchors on the overrun's end (a loop exactly as long as its
  interval is not an overrun);
- an interval of 0 runs loops back to back, each due when the previous one ended, and
  is never an overrun;
- with a backoff cap, each consecutive error stretches the wait after the failed loop:
  `max(interval, 1 ms) * 2 ** errors` (the exponent at most 60), at most the cap,
  counted from the loop's end; the first success resets it.

Steps (`run_now()`) run outside the schedule: the loop does not consult this rule for
them, so they never move the next due time.
"""

from __future__ import annotations

__all__ = ["schedule_next_loop"]

MIN_BACKOFF_BASE = 1e-3
"""The wait the backoff doubles from when the interval is shorter (0 included), in seconds."""

MAX_BACKOFF_DOUBLINGS = 60
"""The most times the backoff doubles: 2 ** 60 intervals is beyond any cap already."""


def schedule_next_loop(
    due: float,
    started: float,
    ended: float,
    interval: float,
    consecutive_errors: int = 0,
    max_backoff_seconds: float | None = None,
) -> tuple[float, bool, bool]:
    """When the next scheduled loop is due, after one that was due at `due` has run.

    A plain tuple, not a named one or a dataclass: the loop calls this once a loop, and
    building and unpacking a `NamedTuple` cost 0.23 µs more (a loop's whole overhead over
    a bare asyncio loop is about 1 µs).

    Args:
        due: when the loop that just ran was due.
        started: when it started (`>= due`: a loop never starts early).
        ended: when it ended (`>= started`).
        interval: the seconds between loops (`loop_seconds`, `>= 0`).
        consecutive_errors: how many loops in a row have raised, this one included
            (0 when it succeeded).
        max_backoff_seconds: the longest wait consecutive errors may stretch to; None
            or 0 turns the backoff off.

    Returns:
        `(due, overrun, skipped)`: when the next loop is due (a time that may have
        passed already: the next loop then starts at once); whether this loop took
        longer than its non-zero interval; whether it started more than an interval
        late, so that the whole slots it missed were skipped.
    """
    skipped = started - due > interval > 0
    if skipped:
        due = started
    overrun = False
    if interval > 0:
        overrun = ended - started > interval
        due += interval
        if due < ended:
            due = ended  # fell behind: start at once and re-anchor
    else:
        due = ended
    if max_backoff_seconds and consecutive_errors:
        doublings = min(consecutive_errors, MAX_BACKOFF_DOUBLINGS)
        wait = min(max(interval, MIN_BACKOFF_BASE) * 2**doublings, max_backoff_seconds)
        due = max(due, ended + wait)
    return due, overrun, skipped
