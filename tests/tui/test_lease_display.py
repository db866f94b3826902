"""Several replicas in the console: a standby's state cell and its detail line."""

from __future__ import annotations

import dataclasses

import pytest
from support.records import loop_snapshot

from servicedeck.control import Lease, LeaseRole, LeaseStatus, ServiceSnapshot, ServiceState
from servicedeck.tui import format as fmt

ELSEWHERE = Lease("Reaper", "host-b:4242", 7, 1.7e9)


def snap(
    lease: LeaseStatus | None, *, has_task: bool = True, state: ServiceState = ServiceState.STOPPED
) -> ServiceSnapshot:
    base = loop_snapshot(lease=lease)
    return dataclasses.replace(
        base, status=dataclasses.replace(base.status, state=state), has_task=has_task
    )


@pytest.mark.parametrize(
    ("lease", "has_task", "state", "cell"),
    [
        (
            LeaseStatus(LeaseRole.STANDBY, ELSEWHERE, 0),
            True,
            ServiceState.STOPPED,
            ("◌ standby", "stopped"),
        ),
        (
            LeaseStatus(LeaseRole.LOST, ELSEWHERE, 2),
            True,
            ServiceState.STOPPED,
            ("◌ lost", "paused"),
        ),
        (
            LeaseStatus(LeaseRole.OFF, ELSEWHERE, 2),
            False,
            ServiceState.STOPPED,
            ("○ stopped", "stopped"),
        ),
        (None, False, ServiceState.STOPPED, ("○ stopped", "stopped")),
        (
            LeaseStatus(LeaseRole.LEADER, ELSEWHERE, 1),
            True,
            ServiceState.SLEEPING,
            ("● sleeping", "sleeping"),
        ),
    ],
)
def test_lease_display_state_cell_says_a_standby_waits(
    lease: LeaseStatus | None, has_task: bool, state: ServiceState, cell: tuple[str, str]
) -> None:
    assert fmt.state_cell(snap(lease, has_task=has_task, state=state)) == cell


@pytest.mark.parametrize(
    ("lease", "line"),
    [
        (None, None),
        (LeaseStatus(LeaseRole.LEADER, ELSEWHERE, 1), "leader here, epoch 7 · 1 transition"),
        (
            LeaseStatus(LeaseRole.STANDBY, ELSEWHERE, 0),
            "standby: running on host-b:4242, epoch 7 · 0 transitions",
        ),
        (LeaseStatus(LeaseRole.STANDBY, None, 0), "standby: nobody holds it · 0 transitions"),
        (LeaseStatus(LeaseRole.LOST, ELSEWHERE, 2), "lost (epoch 7): standing by · 2 transitions"),
        (LeaseStatus(LeaseRole.OFF, None, 2), "off: stopped here · 2 transitions"),
    ],
)
def test_lease_display_detail_line(lease: LeaseStatus | None, line: str | None) -> None:
    assert fmt.lease_line(snap(lease)) == line
