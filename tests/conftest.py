"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.engines import ENGINES, Postgres, Redis, SqliteFile, require


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio unless a folder says otherwise.

    anyio's own default runs every test on each installed backend; trio is installed for
    the framework tests (`tests/core/conftest.py` runs them on both), and the Textual
    tests must not be forced onto it.
    """
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Each test runs in an empty working folder, with no `SERVICEDECK_*` variable set
    (nor `COLUMNS` / `LINES`).

    A stray `.env` or `pyproject.toml` where the suite was started, or a variable
    exported in the developer's shell, must not change any outcome. Both are restored
    after the test.
    """
    folder = tmp_path_factory.mktemp("cwd")
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    for name in list(os.environ):
        # COLUMNS and LINES too: Python's `shutil.get_terminal_size()` (so Rich and
        # Textual) prefers them to a terminal's own size, and a test that gives a
        # program a terminal of its own means that terminal's size.
        if name.upper().startswith("SERVICEDECK_") or name in ("COLUMNS", "LINES"):
            del os.environ[name]
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh folder with a short path (for Unix sockets), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="sd-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- coordination engines (tests/support/engines.py) --------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL cluster for the whole session (skipped, or failed under CI=true,
    where PostgreSQL is not installed)."""
    require("postgres", Postgres.problem())
    server = Postgres()
    try:
        server.init()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    """A Redis server for the whole session (skipped, or failed under CI=true, where
    Redis is not installed)."""
    require("redis", Redis.problem())
    server = Redis()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each coordination engine in turn: one shared suite, parametrised by engine."""
    return str(request.param)


@pytest.fixture
def coordinate_url(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of `engine` with no lease in it yet."""
    if engine == "postgres":
        server: Postgres = request.getfixturevalue("postgres_server")
        server.execute("DROP TABLE IF EXISTS servicedeck_leases, runs")
        return server.url
    if engine == "redis":
        redis_server: Redis = request.getfixturevalue("redis_server")
        redis_server.command("FLUSHALL")
        return redis_server.url
    return SqliteFile(tmp_path / "leases.db").url
