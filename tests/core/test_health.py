"""`health_verdict()`: failing judged over a window of loops, with a reason for people."""

from __future__ import annotations

import json

import anyio
import pytest

from servicedeck import (
    ErrorInfo,
    Health,
    HealthVerdict,
    LoopService,
    ServiceState,
    ServiceStatus,
    health,
    health_verdict,
)

from .conftest import virtual_time
from .test_state import status_of as sleeping_status

pytestmark = pytest.mark.anyio

PATTERN = (True, False, True, False, False)
"""Which loops fail, repeating: 40 % of them, never more than one in a row."""


def status_of(outcomes: tuple[bool, ...] = (), **fields: object) -> ServiceStatus:
    """A sleeping loop service (10 s interval, last loop at 0) whose recent loops failed
    as `outcomes` says (oldest first)."""
    values: dict[str, object] = {
        "loop_count": len(outcomes),
        "recent_durations": (0.01,) * len(outcomes),
        "recent_failed": outcomes,
        "consecutive_errors": (*outcomes[::-1], False).index(False),  # the last in a row
    }
    return sleeping_status(**{**values, **fields})


def raised() -> ErrorInfo:
    try:
        raise ConnectionError("refused")
    except ConnectionError as exc:
        return ErrorInfo(exc, when=0.0, phase="setup")


@pytest.mark.parametrize(
    ("status", "now", "verdict"),
    [
        pytest.param(status_of(), 5.0, (Health.HEALTHY, "no loop has run yet"), id="new"),
        pytest.param(
            status_of((False,) * 12), 5.0, (Health.HEALTHY, "none of the last 10 loops failed")
        ),
        pytest.param(
            status_of((False,) * 3), 5.0, (Health.HEALTHY, "none of the last 3 loops failed")
        ),
        pytest.param(
            status_of((True, False, False)), 5.0, (Health.FAILING, "1 of the last 3 loops failed")
        ),
        pytest.param(status_of((True,)), 5.0, (Health.FAILING, "the last loop failed")),
        pytest.param(
            status_of((True,) + (False,) * 9),
            5.0,
            (Health.FAILING, "1 of the last 10 loops failed"),
            id="an-error-10-loops-ago-counts",
        ),
        pytest.param(
            status_of((True,) + (False,) * 10),
            5.0,
            (Health.HEALTHY, "none of the last 10 loops failed"),
            id="an-error-11-loops-ago-is-forgotten",
        ),
        pytest.param(
            status_of(PATTERN * 2),
            5.0,
            (Health.FAILING, "4 of the last 10 loops failed"),
            id="forty-percent",
        ),
        pytest.param(
            status_of(state=ServiceState.STOPPED, started_at=None, last_loop_at=None),
            5.0,
            (Health.STOPPED, "never started"),
        ),
        pytest.param(
            status_of((False, False), state=ServiceState.STOPPED),
            5.0,
            (Health.STOPPED, "its last run ended cleanly"),
        ),
        pytest.param(
            status_of((False,), state=ServiceState.STOPPED, cancelled=True),
            5.0,
            (Health.STOPPED, "killed (its task was cancelled)"),
        ),
        pytest.param(
            status_of((False, True), state=ServiceState.STOPPED),
            5.0,
            (Health.FAILING, "1 of its last 2 loops failed"),
            id="failing-though-stopped",
        ),
        pytest.param(
            status_of((True,), state=ServiceState.STOPPED, cancelled=True),
            5.0,
            (Health.FAILING, "killed; its last loop failed"),
        ),
        pytest.param(
            status_of(state=ServiceState.CRASHED, last_error=raised()),
            5.0,
            (Health.CRASHED, "setup() raised ConnectionError: refused"),
        ),
        pytest.param(
            status_of((False,), state=ServiceState.RUNNING, loop_started_at=0.0),
            95.0,
            (Health.STALE, "no loop finished for 95 s (9 intervals)"),
            id="hung-loop",
        ),
        pytest.param(
            status_of((False,), state=ServiceState.STOPPING, stop_requested=True),
            95.0,
            (Health.STALE, "stuck in stopping: no loop finished for 95 s (9 intervals)"),
        ),
        pytest.param(
            status_of((True,) * 3, state=ServiceState.RUNNING),
            95.0,
            (Health.FAILING, "3 of the last 3 loops failed"),
            id="failing-wins-over-stale",
        ),
        pytest.param(
            status_of((False,) * 2, state=ServiceState.PAUSED, paused=True),
            1e6,
            (Health.HEALTHY, "none of the last 2 loops failed"),
            id="paused-is-never-stale",
        ),
        pytest.param(
            status_of(loop_seconds=None, state=ServiceState.RUNNING),
            1e6,
            (Health.HEALTHY, "no error recorded"),
            id="not-a-loop",
        ),
    ],
)
def test_health_verdict_and_its_reason(
    status: ServiceStatus, now: float, verdict: tuple[Health, str]
) -> None:
    assert health_verdict(status, now) == HealthVerdict(*verdict)
    assert health(status, now) is verdict[0]


@pytest.mark.parametrize("state", list(ServiceState))
def test_health_reason_never_just_repeats_the_state(state: ServiceState) -> None:
    for outcomes in ((), (False,), (True,)):
        verdict = health_verdict(status_of(outcomes, state=state), 5.0)
        assert verdict.reason
        assert verdict.reason != state.value
        assert verdict.reason != verdict.health.value


def test_health_window_and_threshold_are_adjustable() -> None:
    two_of_ten = status_of((True, True) + (False,) * 8)

    assert health(two_of_ten, 5.0, failing_after=3) is Health.HEALTHY
    assert health_verdict(two_of_ten, 5.0, failing_after=3).reason == (
        "2 of the last 10 loops failed (below 3)"
    )
    assert health(two_of_ten, 5.0, failing_after=2) is Health.FAILING
    assert health(two_of_ten, 5.0, window=8) is Health.HEALTHY
    assert health(two_of_ten, 5.0, window=9) is Health.FAILING


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"window": 0}, "window must be a whole number of loops >= 1, got 0"),
        ({"failing_after": 1.5}, "failing_after must be a whole number of loops >= 1, got 1.5"),
        ({"stale_after": 0}, "stale_after must be a number of intervals > 0, got 0"),
        ({"stale_after": "3"}, "stale_after must be a number of intervals > 0, got '3'"),
    ],
)
def test_health_verdict_refuses_bad_arguments(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        health_verdict(status_of(), 0.0, **arguments)  # type: ignore[arg-type]


def test_health_verdict_survives_a_json_round_trip() -> None:
    verdict = health_verdict(status_of(PATTERN * 2), 5.0)

    assert HealthVerdict.from_json(json.loads(json.dumps(verdict.to_json()))) == verdict


class Flaky(LoopService):
    """Every 0.7 s a loop; the loops in `failures` (1-based) raise."""

    loop_seconds = 0.7

    def __init__(self, failures: set[int]) -> None:
        super().__init__()
        self.failures = failures
        self.loops = 0

    async def run_once(self) -> None:
        self.loops += 1
        if self.loops in self.failures:
            raise ConnectionError("flaky")


@virtual_time
async def test_health_of_a_service_failing_forty_percent_stays_failing_for_a_minute() -> None:
    """The defect: "failing" meant "the last loop raised", so such a service flickered
    between failing and healthy at every loop (issue 10, defect 5)."""
    loops = int(60 / 0.7) + 1
    svc = Flaky({n for n in range(1, loops + 1) if PATTERN[(n - 1) % len(PATTERN)]})
    seen: list[tuple[int, Health]] = []

    def judge(service: object) -> None:
        status = svc.status
        if status.state is ServiceState.SLEEPING:  # after each loop
            seen.append((status.loop_count, health(status, anyio.current_time())))

    svc.subscribe(judge)
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await anyio.sleep(60)  # virtual time
        await svc.stop()

    assert len(seen) >= 85
    assert {verdict for _, verdict in seen} == {Health.FAILING}


@virtual_time
async def test_health_of_a_service_that_recovers_is_healthy_after_the_window() -> None:
    svc = Flaky({1, 2, 3})
    seen: dict[int, Health] = {}

    def judge(service: object) -> None:
        status = svc.status
        if status.state is ServiceState.SLEEPING:
            seen[status.loop_count] = health(status, anyio.current_time())

    svc.subscribe(judge)
    await svc.start(loops=20)

    failing = [n for n, verdict in seen.items() if verdict is Health.FAILING]
    assert failing == list(range(1, 13)), "failing until 10 loops in a row have passed"
    assert all(seen[n] is Health.HEALTHY for n in range(13, 20))
