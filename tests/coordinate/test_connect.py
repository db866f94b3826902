"""`connect(url)` and `LeaseTimings`: the engine by scheme, and clear errors for bad input."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest

from servicedeck.coordinate import (
    CoordinationError,
    LeaseTimings,
    PostgresCoordinator,
    RedisCoordinator,
    SqliteCoordinator,
    connect,
)
from servicedeck.coordinate._base import redacted


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("postgresql://app:secret@db/app", PostgresCoordinator),
        ("postgres://db/app", PostgresCoordinator),
        ("redis://localhost:6379/0", RedisCoordinator),
        ("rediss://cache.example:6380", RedisCoordinator),
        ("unix:///run/redis.sock", RedisCoordinator),
        ("sqlite:///leases.db", SqliteCoordinator),
        ("sqlite:////var/lib/app/leases.db", SqliteCoordinator),
    ],
)
def test_connect_picks_the_engine_by_scheme(url: str, kind: type) -> None:
    assert type(connect(url)) is kind


def test_connect_reads_sqlite_paths_as_sqlalchemy_does() -> None:
    assert connect("sqlite:///leases.db").path == "leases.db"  # type: ignore[attr-defined]
    assert connect("sqlite:////var/lib/leases.db").path == "/var/lib/leases.db"  # type: ignore[attr-defined]


def test_connect_imports_no_driver_until_its_url_is_used() -> None:
    # In a fresh interpreter: this one may have imported the drivers already.
    code = (
        "import sys; from servicedeck.coordinate import connect; "
        "connect('postgresql://db/app'); connect('redis://cache'); "
        "print(sorted(m for m in ('psycopg', 'redis') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"  # not entered: nothing connects, nothing is imported


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/app", r"cannot coordinate through 'mysql://db/app': use a postgresql://"),
        ("leases.db", r"cannot coordinate through 'leases.db'"),
        ("sqlite://", r"SQLite needs a file that every process opens"),
        ("sqlite:///:memory:", r"SQLite needs a file"),
        ("mysql://app:secret@db/app", r"'mysql://app:\*\*\*@db/app'"),
    ],
)
def test_connect_refuses_a_bad_url_in_one_sentence(url: str, message: str) -> None:
    with pytest.raises(CoordinationError, match=message):
        connect(url)


@pytest.mark.parametrize(
    ("url", "command"),
    [
        ("postgresql://db/app", "pip install 'servicedeck[postgres]'"),
        ("redis://localhost", "pip install 'servicedeck[redis]'"),
    ],
)
def test_connect_names_the_missing_extra(
    url: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def without_drivers(name: str, *args: Any) -> Any:
        return None if name in ("psycopg", "redis") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_drivers)
    with pytest.raises(
        CoordinationError, match=f"needs .*: {command.replace('[', '.').replace(']', '.')}"
    ):
        connect(url)


def test_connect_messages_never_show_a_password() -> None:
    assert redacted("postgresql://app:secret@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redacted("redis://:secret@cache/0") == "redis://:***@cache/0"
    assert redacted("sqlite:///leases.db") == "sqlite:///leases.db"
    assert connect("postgresql://app:secret@db/app").where == "postgresql://app:***@db/app"


def test_timings_default_to_client_go_like_values() -> None:
    timings = LeaseTimings()
    assert (timings.lease, timings.renew, timings.deadline, timings.poll) == (15, 5, 10, 1)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"deadline": 15.0},
            r"the renew deadline \(15 s\) must be shorter than the lease \(15 s\)",
        ),
        ({"lease": 8.0}, r"the renew deadline \(10 s\) must be shorter than the lease \(8 s\)"),
        ({"renew": 10.0}, r"the renew interval \(10 s\) must be shorter than the renew deadline"),
        ({"poll": 0}, r"the poll interval must be a finite number of seconds > 0, got 0"),
        ({"lease": float("inf")}, r"the lease must be a finite number of seconds > 0, got inf"),
        ({"renew": "5"}, r"the renew interval must be a number of seconds, got '5'"),
        ({"renew": True}, r"got True"),
    ],
)
def test_timings_refuse_an_invalid_combination(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeaseTimings(**values)
