"""Observable state: `ServiceStatus`, `ErrorInfo`, `health()`, `subscribe()`, the clock."""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicedeck import (
    ErrorInfo,
    Health,
    LoopService,
    Service,
    ServiceState,
    ServiceStatus,
    health,
)

from .conftest import WAIT_TIMEOUT, WaitFor, virtual_time

pytestmark = pytest.mark.anyio


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""


class Counter(Base):
    """Back-to-back loops that do nothing."""

    loop_seconds = 0

    async def run_once(self) -> None:
        pass


class Failing(Base):
    """Every loop raises."""

    loop_seconds = 0

    async def run_once(self) -> None:
        raise ValueError("bad input\nsecond line")


# -- the public namespace ---------------------------------------------------------------

SERVICE_API = {
    "all_services",
    "await_stack",
    "enabled",
    "enabled_services",
    "environment_variable_name",
    "is_running",
    "lease",
    "logger",  # made on first use (a descriptor on the class)
    "run_services",
    "running",
    "service_settings",
    "set_clock",
    "should_stop",
    "start",
    "status",
    "stop",
    "subscribe",
}
LOOP_SERVICE_API = SERVICE_API | {
    "cancel_steps",
    "is_paused",
    "loop_seconds",
    "max_backoff_seconds",
    "pause",
    "resume",
    "run_now",
    "run_once",
    "setup",
    "teardown",
}


def test_base_classes_keep_their_public_namespace_to_the_documented_names() -> None:
    assert {n for n in dir(Service) if not n.startswith("_")} == SERVICE_API
    assert {n for n in dir(LoopService) if not n.startswith("_")} == LOOP_SERVICE_API

    svc = Counter()
    assert {n for n in dir(svc) if not n.startswith("_")} == LOOP_SERVICE_API | {
        "name",
        "logger",
    }
    # All framework data lives on one private attribute.
    assert set(vars(svc)) <= {"_servicedeck", "name", "logger", "loop_seconds"}


async def test_user_attributes_never_collide_with_the_framework() -> None:
    class Busy(Base):
        loop_seconds = 0

        def __init__(self) -> None:
            super().__init__()
            # Names a framework might be tempted to use for itself.
            self.state = "user state"
            self.stats = {"rows": 0}
            self.paused = "user paused"
            self.errors = ["user error"]
            self.steps = -1
            self.runtime = None
            self.active = "user active"

        async def run_once(self) -> None:
            self.stats["rows"] += 1

    svc = Busy()
    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=3)

    assert svc.stats == {"rows": 3}
    assert (svc.state, svc.paused, svc.errors, svc.steps, svc.active) == (
        "user state",
        "user paused",
        ["user error"],
        -1,
        "user active",
    )
    status = svc.status
    assert (status.state, status.loop_count, status.paused) == (ServiceState.STOPPED, 3, False)


# -- ServiceStatus ----------------------------------------------------------------------


async def test_status_is_an_immutable_snapshot() -> None:
    svc = Counter()
    await svc.start(loops=1)
    snapshot = svc.status

    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.loop_count = 99  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.state = ServiceState.CRASHED  # type: ignore[misc]
    assert isinstance(snapshot.recent_durations, tuple)
    assert isinstance(snapshot.recent_errors, tuple)

    await svc.start(loops=2)

    assert snapshot.loop_count == 1  # taken before: unchanged
    assert len(snapshot.recent_durations) == 1
    assert svc.status.loop_count == 3
    assert svc.status is not svc.status  # each read is a new snapshot
    assert svc.status == svc.status  # ... of the same values


async def test_status_recent_durations_are_a_bounded_ring_of_the_latest() -> None:
    svc = Counter()
    await svc.start(loops=100)

    status = svc.status
    assert 0 < len(status.recent_durations) < 100
    assert status.recent_durations[-1] == status.last_duration
    assert all(d >= 0 for d in status.recent_durations)


async def test_status_recent_errors_are_a_bounded_ring_of_the_latest() -> None:
    svc = Failing()
    await svc.start(loops=100)

    status = svc.status
    assert status.error_count == 100
    assert 0 < len(status.recent_errors) < 100
    assert status.recent_errors[-1] is status.last_error
    assert [e.loop for e in status.recent_errors] == list(
        range(101 - len(status.recent_errors), 101)
    )


async def test_status_of_a_fresh_service() -> None:
    status = Counter().status

    assert status == ServiceStatus(name="Counter", state=ServiceState.STOPPED, loop_seconds=0)
    assert not status.is_active


@pytest.mark.parametrize(
    ("state", "active"),
    [
        (ServiceState.STOPPED, False),
        (ServiceState.CRASHED, False),
        (ServiceState.STARTING, True),
        (ServiceState.RUNNING, True),
        (ServiceState.SLEEPING, True),
        (ServiceState.PAUSED, True),
        (ServiceState.STOPPING, True),
    ],
)
def test_service_state_is_active_while_a_task_runs_the_service(
    state: ServiceState, active: bool
) -> None:
    assert state.is_active is active
    assert ServiceStatus(name="x", state=state).is_active is active


# -- ErrorInfo ----------------------------------------------------------------------------


async def test_error_info_describes_the_exception() -> None:
    svc = Failing()
    before = time.time()
    await svc.start(loops=1)

    error = svc.status.last_error
    assert isinstance(error, ErrorInfo)
    assert error.type_name == "ValueError"
    assert error.message == "bad input\nsecond line"
    assert error.summary == "ValueError: bad input"
    assert error.phase == "run_once"
    assert error.loop == 1
    assert before <= error.wall_time <= time.time()
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert error.traceback.rstrip().endswith("second line")
    assert error.traceback == error.traceback  # formatted once, then kept
    assert "ValueError: bad input" in repr(error)


def test_error_info_summary_of_an_exception_without_a_message() -> None:
    error = ErrorInfo(KeyboardInterrupt(), when=0.0, phase="run_once")

    assert error.summary == "KeyboardInterrupt"
    assert error.traceback.strip() == "KeyboardInterrupt"


def test_error_info_does_not_keep_the_exception_or_its_frames_alive() -> None:
    class Big:
        pass

    def fail(payload: Big) -> None:
        raise RuntimeError("with a local")

    payload = Big()
    ref = weakref.ref(payload)
    try:
        fail(payload)
    except RuntimeError as exc:
        error = ErrorInfo(exc, when=0.0, phase="run_once")
    del payload

    assert ref() is None  # the traceback was captured without its frames
    assert "with a local" in error.traceback


# -- health() -----------------------------------------------------------------------------


def status_of(**fields: object) -> ServiceStatus:
    values: dict[str, object] = {
        "name": "svc",
        "state": ServiceState.SLEEPING,
        "loop_seconds": 10.0,
        "started_at": 0.0,
        "last_loop_at": 0.0,
    }
    values.update(fields)
    return ServiceStatus(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "now", "verdict"),
    [
        pytest.param(status_of(), 5.0, Health.HEALTHY, id="healthy"),
        pytest.param(status_of(state=ServiceState.RUNNING), 29.0, Health.HEALTHY, id="running"),
        pytest.param(status_of(consecutive_errors=1), 5.0, Health.FAILING, id="failing"),
        pytest.param(
            status_of(error_count=5, consecutive_errors=0), 5.0, Health.HEALTHY, id="recovered"
        ),
        pytest.param(status_of(), 30.0, Health.HEALTHY, id="three-intervals-is-not-stale"),
        pytest.param(status_of(), 30.5, Health.STALE, id="stale"),
        pytest.param(
            status_of(state=ServiceState.RUNNING), 31.0, Health.STALE, id="stuck-in-a-loop"
        ),
        pytest.param(
            status_of(last_loop_at=None, started_at=100.0), 131.0, Health.STALE, id="no-loop-yet"
        ),
        pytest.param(
            status_of(last_loop_at=None, started_at=100.0), 120.0, Health.HEALTHY, id="starting"
        ),
        pytest.param(status_of(state=ServiceState.PAUSED), 1e6, Health.HEALTHY, id="paused"),
        pytest.param(status_of(state=ServiceState.STARTING), 1e6, Health.HEALTHY, id="setup"),
        pytest.param(status_of(loop_seconds=None), 1e6, Health.HEALTHY, id="not-a-loop"),
        pytest.param(status_of(loop_seconds=0.0), 1e6, Health.HEALTHY, id="back-to-back"),
        pytest.param(status_of(state=ServiceState.CRASHED), 5.0, Health.CRASHED, id="crashed"),
        pytest.param(
            status_of(state=ServiceState.CRASHED, consecutive_errors=9),
            1e6,
            Health.CRASHED,
            id="crashed-wins",
        ),
        pytest.param(status_of(state=ServiceState.STOPPED), 5.0, Health.STOPPED, id="stopped"),
        pytest.param(
            status_of(state=ServiceState.STOPPED, consecutive_errors=3),
            1e6,
            Health.FAILING,
            id="failing-though-stopped",
        ),
        pytest.param(
            status_of(consecutive_errors=2), 1e6, Health.FAILING, id="failing-wins-over-stale"
        ),
    ],
)
def test_health_verdicts(status: ServiceStatus, now: float, verdict: Health) -> None:
    assert health(status, now) is verdict


def test_health_thresholds_are_adjustable() -> None:
    two_errors = status_of(consecutive_errors=2)
    assert health(two_errors, 0.0, failing_after=3) is Health.HEALTHY
    assert health(two_errors, 0.0, failing_after=2) is Health.FAILING

    quiet = status_of()
    assert health(quiet, 45.0, stale_after=5) is Health.HEALTHY
    assert health(quiet, 45.0, stale_after=4) is Health.STALE


statuses = st.builds(
    ServiceStatus,
    name=st.just("svc"),
    state=st.sampled_from(ServiceState),
    consecutive_errors=st.integers(0, 10),
    loop_seconds=st.none() | st.floats(0, 1e4),
    started_at=st.none() | st.floats(-1e6, 1e6),
    last_loop_at=st.none() | st.floats(-1e6, 1e6),
)


@given(status=statuses, now=st.floats(-1e7, 1e7), failing_after=st.integers(1, 5))
def test_health_is_a_pure_function_with_fixed_precedence(
    status: ServiceStatus, now: float, failing_after: int
) -> None:
    verdict = health(status, now, failing_after=failing_after)

    assert health(status, now, failing_after=failing_after) is verdict
    assert (verdict is Health.CRASHED) == (status.state is ServiceState.CRASHED)
    if status.state is not ServiceState.CRASHED:
        # Without recent outcomes, the errors in a row are the window's failures.
        failing = min(status.consecutive_errors, 10) >= failing_after
        assert (verdict is Health.FAILING) == failing
        stopped = status.state is ServiceState.STOPPED and not failing
        assert (verdict is Health.STOPPED) == stopped
    if verdict is Health.STALE:
        assert status.state in (ServiceState.RUNNING, ServiceState.SLEEPING, ServiceState.STOPPING)


async def test_health_of_live_services(wait_for: WaitFor) -> None:
    class Fails(Base):
        loop_seconds = 60

        async def run_once(self) -> None:
            raise RuntimeError("down")

    ok, failing = Counter(loop_seconds=60), Fails()
    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            for svc in (ok, failing):
                tg.start_soon(svc.start)
                await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
            now = anyio.current_time()
            assert health(ok.status, now) is Health.HEALTHY
            assert health(failing.status, now) is Health.FAILING
            assert health(ok.status, now + 181) is Health.STALE  # over 3 x 60 s
            await ok.stop()
            await failing.stop()

    assert health(ok.status, anyio.current_time()) is Health.STOPPED


# -- subscribe() --------------------------------------------------------------------------


async def test_subscribe_is_called_on_every_change() -> None:
    svc = Counter()
    seen: list[tuple[ServiceState, int]] = []

    def listener(service: Service) -> None:
        assert service is svc
        seen.append((service.status.state, service.status.loop_count))

    svc.subscribe(listener)
    await svc.start(loops=2)

    states = [state for state, _ in seen]
    transitions = [s for i, s in enumerate(states) if i == 0 or s is not states[i - 1]]
    assert transitions == [
        ServiceState.STARTING,
        ServiceState.RUNNING,
        ServiceState.STOPPING,
        ServiceState.STOPPED,
    ]
    # Each finished loop is announced too, not only state changes.
    assert (ServiceState.RUNNING, 1) in seen
    assert (ServiceState.RUNNING, 2) in seen
    assert seen[-1] == (ServiceState.STOPPED, 2)


async def test_subscribe_sees_control_requests() -> None:
    svc = Counter()
    seen: list[ServiceStatus] = []
    svc.subscribe(lambda s: seen.append(s.status))

    svc.pause()
    await svc.stop()  # not running: recorded for the next start

    assert [s.paused for s in seen] == [True, True]
    assert [s.stop_requested for s in seen] == [False, True]


async def test_unsubscribe_stops_the_calls() -> None:
    svc = Counter()
    calls: list[str] = []
    unsubscribe = svc.subscribe(lambda s: calls.append("a"))
    svc.subscribe(lambda s: calls.append("b"))

    unsubscribe()
    unsubscribe()  # harmless twice
    await svc.start(loops=1)

    assert calls
    assert set(calls) == {"b"}


async def test_a_listener_that_raises_breaks_neither_the_service_nor_other_listeners(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = Counter()
    later: list[int] = []

    def broken(service: Service) -> None:
        raise RuntimeError("listener bug")

    svc.subscribe(broken)
    svc.subscribe(lambda s: later.append(s.status.loop_count))

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=3)

    assert svc.status.loop_count == 3
    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.error_count == 0  # not counted against the service
    assert later[-1] == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in errors)


async def test_a_listener_may_control_the_service(wait_for: WaitFor) -> None:
    svc = Counter()

    def pause_after_two(service: Service) -> None:
        assert isinstance(service, LoopService)
        if service.status.loop_count == 2:
            service.pause()

    svc.subscribe(pause_after_two)
    with anyio.fail_after(WAIT_TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(svc.start)
            await wait_for(svc, lambda s: s.state is ServiceState.PAUSED)
            await svc.stop()

    assert svc.status.loop_count == 2


# -- the injectable clock -------------------------------------------------------------------


@virtual_time
async def test_runtime_clock_is_injectable_and_sleeps_are_relative_to_it(
    wait_for: WaitFor,
) -> None:
    class Once(Base):
        loop_seconds = 5

        async def run_once(self) -> None:
            if self.status.loop_count == 1:
                raise RuntimeError("second loop fails")

    svc = Once()
    offset = 1000.0
    svc._servicedeck.clock = lambda: anyio.current_time() + offset
    t0 = anyio.current_time()

    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        status = await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        assert status.started_at == pytest.approx(t0 + offset)
        assert status.next_loop_at == pytest.approx(t0 + offset + 5)
        status = await wait_for(svc, lambda s: s.loop_count == 2)
        # The sleep took 5 s of the event loop's time, not 1005 s.
        assert anyio.current_time() == pytest.approx(t0 + 5)
        assert status.last_error is not None
        assert status.last_error.when == pytest.approx(t0 + offset + 5)
        await svc.stop()
