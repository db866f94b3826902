"""Every record of the control protocol survives a JSON round trip, as it must to cross a
socket: `Record.from_json(json.loads(json.dumps(record.to_json()))) == record`."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from servicedeck.control import (
    AwaitStack,
    ErrorInfo,
    Health,
    HealthVerdict,
    Lease,
    LeaseRole,
    LeaseStatus,
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    ServiceState,
    ServiceStatus,
    ServiceStop,
    SettingInfo,
    StackFrame,
    Stall,
    StopReport,
)


def raised_error() -> ErrorInfo:
    """A real error, with a real traceback of two frames and a multi-line message."""

    def parse(record: dict[str, object]) -> float:
        return float(record["expires"])  # type: ignore[arg-type]

    try:
        parse({"expires": "[bold]never[/bold]\nsecond line"})
    except ValueError as exc:
        return ErrorInfo(exc, when=1012.5, phase="run_once", loop=3)
    raise AssertionError("unreachable")


STALL = Stall(
    seconds=2.25, service="Reaper", where="/srv/app/reaper.py:12 in crunch", at=1.7e9, when=1020.0
)


def status() -> ServiceStatus:
    error = raised_error()
    return ServiceStatus(
        name="Reaper",
        state=ServiceState.SLEEPING,
        loop_count=7,
        error_count=2,
        consecutive_errors=1,
        overrun_count=1,
        last_duration=0.012,
        recent_durations=(0.01, 0.5, 0.012),
        loop_seconds=30.0,
        next_loop_at=1042.0,
        started_at=1000.0,
        last_loop_at=1012.5,
        last_error=error,
        recent_errors=(raised_error(), error),
        paused=False,
        stop_requested=False,
        lease=LeaseStatus(LeaseRole.STANDBY, Lease("Reaper", "host-b:4242", 7, 1.7e9 + 0.25), 3),
        recent_failed=(False, True, False),
        loop_started_at=1040.5,
        queued_steps=3,
        cancelled=True,
    )


def snapshot() -> ServiceSnapshot:
    return ServiceSnapshot(
        name="Reaper",
        qualname="shop.services.Reaper",
        kind="loop",
        markers=("all-servers",),
        description="Reaps expired orders.\n\nEvery 30 s.",
        enabled=True,
        enabled_source="env",
        env_var="SERVICEDECK_SERVICES_REAPER_ENABLED",
        settings=(
            SettingInfo("enabled", "True", "SERVICEDECK_SERVICES_REAPER_ENABLED", "env"),
            SettingInfo("token", "SecretStr('**********')", "SHOP_TOKEN", ".env", "API token"),
        ),
        settings_error=None,
        status=status(),
        health=Health.FAILING,
        pause_on_error=True,
        paused_on_error=False,
        stuck=False,
        has_task=True,
        log_count=42,
        stall=STALL,
        health_reason="1 of the last 3 loops failed",
        kill_requested_at=1041.0,
        log_level=logging.DEBUG,
        stall_count=3,
    )


PROCESS = ProcessInfo(
    pid=4242, host="web-1", root="/srv/app", framework_path="/x/_core", version="1"
)


def await_stack() -> AwaitStack:
    """A hung loop's stack, waiting in a task group for a child task."""
    loop = StackFrame(
        "/x/_core/_loop.py", 480, "LoopService._loop", "await run_once()", "framework"
    )
    fetch = StackFrame("/srv/app/reaper.py", 12, "Reaper.run_once", "async with tg:", "user")
    child = AwaitStack(
        "Reaper",
        1042.0,
        (StackFrame("/srv/app/reaper.py", 30, "fetch", "await client.get(url)", "user"),),
        0,
        task="fetch",
    )
    return AwaitStack("Reaper", 1042.0, (loop, fetch), 1, "servicedeck:Reaper", (child,))


EXAMPLES: list[Any] = [
    raised_error(),
    status(),
    ServiceStatus(name="Idle", state=ServiceState.STOPPED),
    Lease("Reaper", "host-b:4242", 7, 4420.46),
    LeaseStatus(LeaseRole.LOST, None, 2),
    snapshot(),
    SettingInfo("loop_seconds", "2.0", "SHOP_LOOP_SECONDS", "default"),
    SettingInfo("batch_size", "'lots'", "SHOP_BATCH_SIZE", "env", error="not an integer"),
    STALL,
    Stall(seconds=0.6, service=None, where=None, at=1.7e9),
    LogLine(1.7e9, logging.ERROR, "ERROR", "loop 3 failed\nTraceback ...", at=1012.5),
    LogLine(1.7e9, logging.INFO, "INFO", "from a thread", at=None),
    StopReport(
        services=(
            ServiceStop("Reaper", "stopped", 0.02),
            ServiceStop("Hanging", "cancelled", 5.01),
            ServiceStop("Deaf", "stuck", 10.02),
        ),
        seconds=10.02,
    ),
    RestartReport("Reaper", was_running=True, stop_seconds=0.25),
    HealthVerdict(Health.STALE, "no loop finished for 95 s (3 intervals)"),
    await_stack(),
    AwaitStack("Idle", 1.0, (), None),
    StackFrame("<frozen importlib._bootstrap>", 1, "f", "", "library"),
    PROCESS,
    # As a client of several processes shows it: whose it is, and that it is out of reach.
    dataclasses.replace(
        snapshot(), process=PROCESS, unreachable="unix:/srv/app/servicedeck.sock cannot be reached"
    ),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: type(r).__name__)
def test_record_survives_a_json_round_trip(record: Any) -> None:
    wire = json.dumps(record.to_json())

    back = type(record).from_json(json.loads(wire))

    assert back == record
    assert back.to_json() == record.to_json()


def test_record_round_trip_keeps_the_traceback_and_the_error_it_belongs_to() -> None:
    original = status()

    back = ServiceStatus.from_json(json.loads(json.dumps(original.to_json())))

    assert back.last_error is not None
    assert back.last_error.traceback == original.recent_errors[-1].traceback
    assert "in parse" in back.last_error.traceback
    assert back.last_error is back.recent_errors[-1], "the last error is the latest recent one"
    assert back.last_error.summary.startswith("ValueError: could not convert string to float")


def test_record_equality_notices_every_field() -> None:
    error = raised_error()
    other = ErrorInfo.from_json({**error.to_json(), "traceback": "another"})

    assert other != error
    assert snapshot() != ServiceSnapshot.from_json({**snapshot().to_json(), "log_count": 43})


def test_record_from_json_names_a_missing_field() -> None:
    data = snapshot().to_json()
    del data["status"]

    with pytest.raises(KeyError, match="status"):
        ServiceSnapshot.from_json(data)


def test_record_from_json_refuses_an_unknown_state() -> None:
    data = status().to_json()
    data["state"] = "dancing"

    with pytest.raises(ValueError, match="'dancing' is not a valid ServiceState"):
        ServiceStatus.from_json(data)


def test_stop_report_names_each_outcome() -> None:
    report = StopReport(
        (ServiceStop("A", "stopped", 0.1), ServiceStop("B", "stuck", 2.0)), seconds=2.0
    )

    assert (report.stopped, report.cancelled, report.stuck) == (("A",), (), ("B",))
    with pytest.raises(ValueError, match="'gone' is not a stop outcome"):
        ServiceStop.from_json({"name": "A", "outcome": "gone", "seconds": 1.0})
