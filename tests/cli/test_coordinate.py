"""`servicedeck run --coordinate URL`: replicas share the services; bad input is one line."""

from __future__ import annotations

import signal
import socket

from .conftest import ServiceDeck


def test_coordinate_a_bad_url_is_a_usage_error(sd: ServiceDeck) -> None:
    result = sd("run", "services.py:Ticker", "--coordinate", "mysql://app:secret@db/app")

    assert result.status == 2
    assert result.stderr.strip().splitlines() == [
        "servicedeck: error: invalid --coordinate: cannot coordinate through "
        "'mysql://app:***@db/app': use a postgresql://, redis://, rediss://, unix:// or "
        "sqlite:///path URL."
    ]


def test_coordinate_a_bad_variable_is_named(sd: ServiceDeck) -> None:
    result = sd("run", "services.py:Ticker", SERVICEDECK_COORDINATE="leases.db")

    assert result.status == 2
    assert "SERVICEDECK_COORDINATE='leases.db': cannot coordinate through" in result.stderr


def test_coordinate_invalid_timings_are_refused_with_their_values(sd: ServiceDeck) -> None:
    result = sd(
        "run",
        "services.py:Ticker",
        "--coordinate",
        "sqlite:///leases.db",
        SERVICEDECK_RENEW_DEADLINE_SECONDS="20",
    )

    assert result.status == 2
    assert "the renew deadline (20 s) must be shorter than the lease (15 s)" in result.stderr
    assert "SERVICEDECK_RENEW_DEADLINE_SECONDS=20.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_coordinate_two_runs_share_a_service_and_hand_it_over(sd: ServiceDeck) -> None:
    fast = {"SERVICEDECK_POLL_SECONDS": "0.1"}
    first = sd.start("run", "services.py:Ticker", "--coordinate", "sqlite:///leases.db", **fast)
    first.wait_for(r"lease Ticker acquired \(epoch 1\)")
    second = sd.start(
        "run",
        "services.py:Ticker",
        SERVICEDECK_COORDINATE="sqlite:///leases.db",
        SERVICEDECK_STATE_DIR=str(sd.state_dir / "second"),
        **fast,
    )
    second.wait_for("Started 1 service")

    first.signal(signal.SIGTERM)

    first.wait_for(r"lease Ticker released \(epoch 1\)")
    assert first.finish() == 0
    second.wait_for(r"lease Ticker acquired \(epoch 2\)")
    second.signal(signal.SIGTERM)
    assert second.finish() == 0


def test_coordinate_status_shows_who_leads_and_a_standby_is_healthy(sd: ServiceDeck) -> None:
    fast = {"SERVICEDECK_POLL_SECONDS": "0.1", "SERVICEDECK_COORDINATE": "sqlite:///leases.db"}
    first = sd.start("run", "services.py:Ticker", **fast)
    first.wait_for(r"lease Ticker acquired \(epoch 1\)")
    second_state = sd.state_dir / "second"
    second = sd.start("run", "services.py:Ticker", SERVICEDECK_STATE_DIR=str(second_state), **fast)
    second.wait_for(rf"lease Ticker held by \S+:{first.proc.pid} \(epoch 1\): standing by")
    try:
        table = sd("status", str(second_state))
        leader = sd("status")
    finally:
        for run in (second, first):
            run.signal(signal.SIGTERM)
            assert run.finish() == 0, run.output()

    assert table.status == 0, table.stdout  # a standby is healthy: another replica runs it
    header, row = table.stdout.splitlines()[:2]
    assert "Lease" in header.split()
    assert f"standby: running on {socket.gethostname()}:{first.proc.pid}, epoch 1" in row
    assert "healthy" in row
    assert leader.status == 0, leader.stdout
    assert "leader here, epoch 1" in leader.stdout.splitlines()[1]
