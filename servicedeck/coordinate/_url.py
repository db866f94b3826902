"""`connect(url)`: the coordinator for a URL, chosen by its scheme."""

from __future__ import annotations

import importlib.util

from servicedeck.coordinate._base import CoordinationError, LeaseCoordinator, redacted
from servicedeck.coordinate._timings import LeaseTimings

__all__ = ["SCHEMES", "check_url", "connect"]

SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "sqlite": "sqlite",
}
"""Each URL scheme, and the engine it names."""

# The extra that brings each engine's client, and the module it installs.
_EXTRAS = {"postgres": ("postgres", "psycopg"), "redis": ("redis", "redis")}


def check_url(url: str) -> str:
    """The engine `url` names (`postgres`, `redis` or `sqlite`), with its client installed.

    Raises:
        CoordinationError: an unknown scheme, an SQLite URL without a file, or the
            engine's extra is not installed (the message names the `pip install`).
    """
    scheme, sep, rest = url.partition("://")
    engine = SCHEMES.get(scheme.lower()) if sep else None
    if engine is None:
        raise CoordinationError(
            f"cannot coordinate through {redacted(url)!r}: use a postgresql://, redis://, "
            "rediss://, unix:// or sqlite:///path URL"
        )
    if engine == "sqlite" and _sqlite_path(rest) in ("", ":memory:"):
        raise CoordinationError(
            f"cannot coordinate through {url!r}: SQLite needs a file that every process "
            "opens, e.g. sqlite:///leases.db (relative) or sqlite:////var/lib/app/leases.db"
        )
    extra = _EXTRAS.get(engine)
    if extra is not None and importlib.util.find_spec(extra[1]) is None:
        raise CoordinationError(
            f"coordinating through {scheme}:// needs {extra[1]}: "
            f"pip install 'servicedeck[{extra[0]}]'"
        )
    return engine


def _sqlite_path(rest: str) -> str:
    # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute.db.
    return rest[1:] if rest.startswith("/") else rest


def connect(
    url: str, *, timings: LeaseTimings | None = None, holder: str | None = None
) -> LeaseCoordinator:
    """The coordinator for `url`; enter it (`async with`) to connect.

    `postgresql://` (psycopg), `redis://`, `rediss://`, `unix://` (redis-py),
    `sqlite:///relative/path` or `sqlite:////absolute/path` (standard library). Nothing
    is connected until it is entered; a driver is imported only for its own URLs.

    Args:
        url: where the leases are kept.
        timings: see `LeaseTimings` (default: lease 15 s, renew 5 s, deadline 10 s, poll 1 s).
        holder: this process's name as a holder (default `host:pid`).

    Raises:
        CoordinationError: see `check_url()`.
    """
    engine = check_url(url)
    if engine == "postgres":
        from servicedeck.coordinate._postgres import PostgresCoordinator

        return PostgresCoordinator(url, timings=timings, holder=holder)
    if engine == "redis":
        from servicedeck.coordinate._redis import RedisCoordinator

        return RedisCoordinator(url, timings=timings, holder=holder)
    from servicedeck.coordinate._sqlite import SqliteCoordinator

    return SqliteCoordinator(_sqlite_path(url.partition("://")[2]), timings=timings, holder=holder)
