"""`servicedeck run --coordinate URL`: replicas share the services; bad input is one line."""

from __future__ import annotations

import signal

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
