"""The schedule rule: the pure function, row by row, and a running service that follows it.

`schedule_next_loop()` is tested on its own from a table; then real services, on asyncio's
clock and on trio's mock clock, must announce (`next_loop_at`) exactly the due times the
rule gives for the loops they ran, and never start a loop before it is due.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import anyio
import pytest
import trio

from servicedeck import LoopService, Service, ServiceState
from servicedeck._core._schedule import schedule_next_loop

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time

pytestmark = pytest.mark.anyio

INF = math.inf


# -- the rule, row by row ----------------------------------------------------------------


# One loop a row: when it was due, started and ended, the interval, the errors in a row
# (0: it succeeded) and the backoff cap; then what the rule must answer.
# fmt: off
ROWS = [
    # id                        due started ended  interval errors cap   next due    overrun skipped
    # On time: the next loop is due one interval after this one was due.
    ("on-time",                 10, 10,     10.25, 1,       0,     None, 11,         False,  False),
    ("on-time-instant",         10, 10,     10,    1,       0,     None, 11,         False,  False),
    # Started late, within an interval: still due on the grid (lateness does not add up).
    ("late-keeps-the-grid",     10, 10.5,   10.75, 1,       0,     None, 11,         False,  False),
    ("late-by-one-interval",    10, 11,     11,    1,       0,     None, 11,         False,  False),
    # ... and ran into the next slot: not an overrun; the next loop starts at once.
    ("late-runs-past-next-due", 10, 10.5,   11.25, 1,       0,     None, 11.25,      False,  False),
    # Started more than an interval late: the missed slots are skipped, re-anchored.
    ("skips-one-slot",          10, 11.5,   11.75, 1,       0,     None, 12.5,       False,  True),
    ("skips-ten-slots",         10, 20.5,   20.5,  1,       0,     None, 21.5,       False,  True),
    ("skips-and-overruns",      10, 20.5,   23,    1,       0,     None, 23,         True,   True),
    # Overruns: the next loop starts at once, and the schedule counts from there.
    ("as-long-as-interval",     10, 10,     11,    1,       0,     None, 11,         False,  False),
    ("overrun-by-half",         10, 10,     11.5,  1,       0,     None, 11.5,       True,   False),
    ("overrun-by-slots",        10, 10,     12.5,  1,       0,     None, 12.5,       True,   False),
    ("late-and-overrun",        10, 10.5,   11.75, 1,       0,     None, 11.75,      True,   False),
    # Zero interval: back to back, never an overrun, never a skip.
    ("zero",                    10, 10,     10.25, 0,       0,     None, 10.25,      False,  False),
    ("zero-long-loop",          10, 10,     15,    0,       0,     None, 15,         False,  False),
    ("zero-late-start",         10, 13,     13.5,  0,       0,     None, 13.5,       False,  False),
    # Backoff: the wait after the n-th error in a row is interval * 2**n, up to the cap.
    ("backoff-1",               10, 10,     10.25, 1,       1,     10,   12.25,      False,  False),
    ("backoff-2",               10, 10,     10.25, 1,       2,     10,   14.25,      False,  False),
    ("backoff-3",               10, 10,     10.25, 1,       3,     10,   18.25,      False,  False),
    ("backoff-capped",          10, 10,     10.25, 1,       4,     10,   20.25,      False,  False),
    ("backoff-stays-capped",    10, 10,     10.25, 1,       50,    10,   20.25,      False,  False),
    ("backoff-half-interval",   10, 10,     10.25, 0.5,     1,     10,   11.25,      False,  False),
    ("backoff-zero-from-1ms",   10, 10,     10,    0,       1,     10,   10.002,     False,  False),
    ("backoff-zero-capped",     10, 10,     10,    0,       20,    0.5,  10.5,       False,  False),
    ("backoff-max-2**60",       10, 10,     10,    1,       10**4, INF,  10 + 2**60, False,  False),
    ("backoff-overrun",         10, 10,     12.5,  1,       1,     10,   14.5,       True,   False),
    ("backoff-skipped",         10, 15,     15.25, 1,       1,     10,   17.25,      False,  True),
    # A wait shorter than the schedule changes nothing: the backoff never pulls a loop in.
    ("backoff-under-the-grid",  10, 10,     10.25, 1,       1,     0.5,  11,         False,  False),
    # A success resets it; without a cap (the default), or with 0, it is off.
    ("success-resets",          10, 10,     10.25, 1,       0,     10,   11,         False,  False),
    ("backoff-off-by-default",  10, 10,     10.25, 1,       3,     None, 11,         False,  False),
    ("backoff-off-with-0",      10, 10,     10.25, 1,       3,     0,    11,         False,  False),
]
# fmt: on


@pytest.mark.parametrize(
    ("due", "started", "ended", "interval", "errors", "cap", "next_due", "overrun", "skipped"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_schedule_rule(
    due: float,
    started: float,
    ended: float,
    interval: float,
    errors: int,
    cap: float | None,
    next_due: float,
    overrun: bool,
    skipped: bool,
) -> None:
    result = schedule_next_loop(due, started, ended, interval, errors, cap)

    assert result[0] == pytest.approx(next_due, rel=0, abs=1e-12)
    assert result[1:] == (overrun, skipped)


def test_schedule_rule_lateness_does_not_accumulate() -> None:
    # Every loop starts 0.25 s late and lasts 0.5 s: a hundred loops later, still on the grid.
    due = 0.0
    for _ in range(100):
        started = due + 0.25
        due, overrun, skipped = schedule_next_loop(due, started, started + 0.5, 1)
        assert not overrun
        assert not skipped
    assert due == 100.0


def test_schedule_rule_backoff_doubles_until_the_cap_then_a_success_resets_it() -> None:
    waits = []
    due = 0.0
    for errors in [1, 2, 3, 4, 5, 0]:
        next_due, _, _ = schedule_next_loop(due, due, due, 1, errors, 10)
        waits.append(next_due - due)
        due = next_due
    assert waits == [2, 4, 8, 10, 10, 1]


# -- a running service follows the rule -------------------------------------------------


@dataclass
class SeenLoop:
    """One loop of a running service, as its status showed it."""

    started: float
    ended: float
    consecutive_errors: int
    announced: float | None = None
    """`next_loop_at` of the sleep that followed the loop, if one did."""


class Timeline:
    """Every loop a service runs, and the due time it announces after each, from its status."""

    def __init__(self, service: Service) -> None:
        self.loops: list[SeenLoop] = []
        service.subscribe(self.on_change)

    def on_change(self, service: Service) -> None:
        status = service.status
        if status.loop_count > len(self.loops):
            # Notified once after every loop, so this is the loop that just ended.
            if status.last_loop_at is not None and status.last_duration is not None:
                started = status.last_loop_at - status.last_duration
                self.loops.append(SeenLoop(started, status.last_loop_at, status.consecutive_errors))
        elif status.state is ServiceState.SLEEPING and not status.paused and self.loops:
            # (A pause asked during the sleep schedules nothing: no next loop to compare.)
            self.loops[-1].announced = status.next_loop_at


@dataclass
class Checked:
    """What chaining the rule through a timeline found."""

    outcomes: dict[int, tuple[float, bool, bool]]
    """The rule's answer after each scheduled loop, by loop number."""

    announcements: int
    """How many announced due times were compared with the rule's."""


def check_timeline(
    timeline: Timeline,
    interval: float,
    max_backoff: float | None = None,
    *,
    first_due: float | None = None,
    steps: Collection[int] = (),
    exact_starts: bool = False,
) -> Checked:
    """Chain the rule through the loops a service ran and compare with what it did.

    Starts from `first_due` (the first loop's due time, where the test knows it exactly)
    or else from the first due time the service announced. Loops numbered in `steps` were
    `run_now()` steps: they leave the due time where it was.
    """
    due = first_due
    ended: float | None = None
    checked = Checked({}, 0)
    for number, loop in enumerate(timeline.loops, start=1):
        if due is not None and number not in steps:
            earliest = due if ended is None else max(due, ended)
            if exact_starts:
                assert loop.started == pytest.approx(earliest, abs=1e-9), f"loop {number} start"
            else:
                assert loop.started >= earliest - 1e-9, f"loop {number} started early"
            outcome = schedule_next_loop(
                due, loop.started, loop.ended, interval, loop.consecutive_errors, max_backoff
            )
            checked.outcomes[number] = outcome
            due = outcome[0]
        if loop.announced is not None:
            if due is None:
                due = loop.announced  # the anchor: the first due time the service showed
            else:
                assert loop.announced == pytest.approx(due, abs=1e-9), f"after loop {number}"
                checked.announcements += 1
        ended = loop.ended
    return checked


class Scripted(LoopService):
    """Loop k lasts `durations.get(k, 0)` seconds, then raises if k is in `failing`."""

    def __init__(
        self,
        loop_seconds: float,
        *,
        durations: dict[int, float] | None = None,
        failing: Collection[int] = (),
        max_backoff_seconds: float | None = None,
    ) -> None:
        super().__init__(loop_seconds)
        self.max_backoff_seconds = max_backoff_seconds
        self.durations = durations or {}
        self.failing = failing
        self.runs = 0

    async def run_once(self) -> None:
        self.runs += 1
        duration = self.durations.get(self.runs)
        if duration:
            await anyio.sleep(duration)
        if self.runs in self.failing:
            raise RuntimeError(f"loop {self.runs} fails")


def jump(seconds: float) -> None:
    """Advance trio's mock clock, as if `seconds` passed while every task slept."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, trio.testing.MockClock)
    clock.jump(seconds)


async def test_schedule_of_a_running_service_follows_the_rule(anyio_backend_name: str) -> None:
    # 5 ms loops; three errors in a row stretch the waits up to the 20 ms cap; then a
    # 12 ms loop overruns. On asyncio the times are real, whatever this machine makes
    # of them: each due time the service announces must be the rule's for those times.
    svc = Scripted(0.005, durations={5: 0.012}, failing={2, 3, 4}, max_backoff_seconds=0.02)
    timeline = Timeline(svc)
    virtual = anyio_backend_name == "trio"
    t0 = anyio.current_time()

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=8)

    checked = check_timeline(
        timeline, 0.005, 0.02, first_due=t0 if virtual else None, exact_starts=virtual
    )
    assert len(timeline.loops) == 8
    if virtual:
        # Loops 1-4 and 6-7 slept before the next; 5 overran, so 6 started at once.
        assert checked.announcements == 6
        assert [overrun for _, overrun, _ in checked.outcomes.values()] == [
            False, False, False, False, True, False, False, False,
        ]  # fmt: skip
        assert svc.status.overrun_count == 1
    else:
        # After each error the backoff wait is ahead: those sleeps are always announced.
        assert checked.announcements >= 2


async def test_schedule_is_not_moved_by_steps_even_failing_ones(wait_for: WaitFor) -> None:
    svc = Scripted(60, failing={2, 3}, max_backoff_seconds=600)

    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            before = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)

            await svc.run_now(2)

            after = await wait_for(
                svc, lambda s: s.loop_count == 3 and s.state is ServiceState.SLEEPING
            )
            await svc.stop()

    assert after.consecutive_errors == 2
    # Two errors in a row with a backoff on, yet the next loop is still due on time.
    assert before.next_loop_at is not None
    assert after.next_loop_at == before.next_loop_at


@virtual_time
async def test_schedule_after_steps_and_a_long_pause_follows_the_rule(wait_for: WaitFor) -> None:
    svc = Scripted(1)
    timeline = Timeline(svc)
    t0 = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        await svc.run_now(2)  # loops 2 and 3
        svc.pause()
        await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
        jump(10.5)
        svc.resume()
        await wait_for(svc, lambda s: s.loop_count == 5 and s.state is ServiceState.SLEEPING)
        await svc.stop()

    checked = check_timeline(timeline, 1, first_due=t0, steps={2, 3})
    # After loop 1, after the steps (the due time unchanged), after loops 4 and 5.
    assert checked.announcements == 4
    assert list(checked.outcomes) == [1, 4, 5]
    dues, overruns, skips = zip(*checked.outcomes.values(), strict=True)
    assert dues == pytest.approx([t0 + 1, t0 + 11.5, t0 + 12.5])
    assert overruns == (False, False, False)
    assert skips == (False, True, False)  # loop 4 resumed 9.5 s late: missed slots skipped
