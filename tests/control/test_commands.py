"""`refusal()`: why a command is refused, as a pure function of a snapshot."""

from __future__ import annotations

import dataclasses

import pytest

from servicedeck.control import (
    Command,
    Health,
    Lease,
    LeaseRole,
    LeaseStatus,
    ServiceSnapshot,
    ServiceState,
    ServiceStatus,
    refusal,
)


def snap(
    *,
    kind: str = "loop",
    state: ServiceState = ServiceState.STOPPED,
    has_task: bool = False,
    paused: bool = False,
    stop_requested: bool = False,
    stuck: bool = False,
    settings_error: str | None = None,
    lease: LeaseStatus | None = None,
    queued_steps: int = 0,
) -> ServiceSnapshot:
    return ServiceSnapshot(
        name="Reaper",
        qualname="shop.Reaper",
        kind=kind,
        markers=(),
        description="",
        enabled=settings_error is None or None,
        enabled_source="default",
        env_var="SERVICEDECK_SERVICES_REAPER_ENABLED",
        settings=(),
        settings_error=settings_error,
        status=ServiceStatus(
            name="Reaper",
            state=state,
            paused=paused,
            stop_requested=stop_requested,
            queued_steps=queued_steps,
            lease=lease,
        ),
        health=Health.HEALTHY,
        stuck=stuck,
        has_task=has_task,
    )


RUNNING = {"state": ServiceState.SLEEPING, "has_task": True}
ELSEWHERE = Lease("Reaper", "host-b:4242", 7, 1.7e9)
STANDBY = {"has_task": True, "lease": LeaseStatus(LeaseRole.STANDBY, ELSEWHERE, 0)}
WAITING = {"has_task": True, "lease": LeaseStatus(LeaseRole.STANDBY, None, 0)}
LOST = {"has_task": True, "lease": LeaseStatus(LeaseRole.LOST, ELSEWHERE, 2)}
LEADING = {**RUNNING, "lease": LeaseStatus(LeaseRole.LEADER, ELSEWHERE, 1)}
OFF = {"lease": LeaseStatus(LeaseRole.OFF, ELSEWHERE, 2)}


@pytest.mark.parametrize(
    ("snapshot", "command", "reason"),
    [
        (snap(), Command.START, None),
        (snap(), Command.STEP, None),
        (snap(), Command.STOP, "Reaper is not running"),
        (snap(), Command.KILL, "Reaper is not running"),
        (snap(), Command.RESUME, "Reaper is not paused"),
        (snap(**RUNNING), Command.START, "Reaper is already running"),
        (snap(**RUNNING), Command.STOP, None),
        (snap(**RUNNING, stop_requested=True), Command.STOP, "Reaper is already stopping"),
        (snap(**RUNNING, stop_requested=True, stuck=True), Command.STOP, None),
        (snap(**RUNNING, paused=True), Command.RESUME, None),
        (snap(**RUNNING, paused=True), Command.START, None),  # start resumes it
        (
            snap(**RUNNING, paused=True, stop_requested=True),
            Command.START,
            "Reaper is already running",
        ),
        (snap(kind="service", **RUNNING, paused=True), Command.START, "Reaper is already running"),
        (snap(), Command.CANCEL_STEPS, "Reaper has no queued steps"),
        (snap(**RUNNING), Command.CANCEL_STEPS, "Reaper has no queued steps"),
        (snap(**RUNNING, queued_steps=2), Command.CANCEL_STEPS, None),
        (snap(kind="service"), Command.CANCEL_STEPS, "Reaper is not a loop service"),
        (snap(), Command.SET_LOG_LEVEL, None),
        (snap(kind="service"), Command.STEP, "Reaper is not a loop service"),
        (snap(kind="service"), Command.PAUSE_ON_ERROR, "Reaper is not a loop service"),
        (snap(kind="service"), Command.START, None),
        (snap(settings_error="X=1: bad"), Command.START, "Reaper has a settings error: X=1: bad"),
        (snap(settings_error="X=1: bad"), Command.SET_ENABLED, None),
        # Several replicas: a standby says who runs the service, and can be stopped.
        (snap(**STANDBY), Command.STEP, "Reaper stands by: running on host-b:4242, epoch 7"),
        (snap(**STANDBY), Command.START, "Reaper stands by: running on host-b:4242, epoch 7"),
        (snap(**STANDBY), Command.STOP, None),
        (snap(**WAITING), Command.STEP, "Reaper stands by for its lease"),
        (snap(**LOST), Command.STEP, "Reaper lost its lease (epoch 7) and stands by"),
        (snap(**LEADING), Command.STEP, None),
        (snap(**LEADING), Command.START, "Reaper is already running"),
        (snap(**OFF), Command.STEP, None),
        (snap(**OFF), Command.START, None),
    ],
)
def test_refusal_says_why_from_the_snapshot_alone(
    snapshot: ServiceSnapshot, command: Command, reason: str | None
) -> None:
    assert refusal(snapshot, command) == reason


@pytest.mark.parametrize("command", list(Command))
def test_refusal_while_stopping_refuses_only_what_starts_a_run(command: Command) -> None:
    starts = command in (Command.START, Command.STEP, Command.PAUSE, Command.RESTART, Command.DEBUG)

    reason = refusal(snap(), command, stopping="Relay raised SystemExit in run_once")

    if starts:
        assert reason == "servicedeck is stopping: Relay raised SystemExit in run_once"
    else:
        assert reason is None or "stopping" not in reason


def test_refusal_is_pure() -> None:
    before = snap(**RUNNING)
    copy = dataclasses.replace(before)

    assert [refusal(before, c) for c in Command] == [refusal(copy, c) for c in Command]


@pytest.mark.parametrize("command", list(Command))
def test_refusal_of_an_unreachable_service_refuses_every_command_with_why(
    command: Command,
) -> None:
    why = "unix:/srv/app/servicedeck.sock cannot be reached: connection refused"
    out_of_reach = dataclasses.replace(snap(), unreachable=why)

    assert refusal(out_of_reach, command) == why
