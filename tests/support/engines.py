"""Real coordination engines for the tests: a PostgreSQL cluster and a Redis server of
their own, in a temporary folder, talked to over Unix sockets.

PostgreSQL comes from Debian's `postgresql` package (`initdb`, `pg_ctl` under
`/usr/lib/postgresql/*/bin`); it refuses to run as root, so as root it runs as the
`postgres` user (`runuser`). Redis is `redis-server --port 0 --unixsocket ...`. Both can
be stopped and started again (the chaos suite's outages); data survives a restart.

Where an engine is not installed, `require()` skips the test with the install command,
except under `CI=true`, where it fails: CI must run every test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

INSTALL = {
    "postgres": "apt-get install postgresql (and pip install -e '.[postgres]')",
    "redis": "apt-get install redis-server (and pip install -e '.[redis]')",
}

ENGINES = ("postgres", "redis", "sqlite")
"""Every engine a coordinator runs on, as the tests name them."""

READY_TIMEOUT = 30.0


def require(engine: str, problem: str | None) -> None:
    """Skip (fail under CI=true) when `problem` says the engine cannot run here."""
    if problem is None:
        return
    message = f"{engine} is not available ({problem}): {INSTALL[engine]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run every test, but {message}", pytrace=False)
    pytest.skip(message)


def _wait(ready: object, what: str, log: Path | None = None) -> None:
    """Poll `ready()` until it is true (start-up of a server: no event to wait on)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} did not start within {READY_TIMEOUT} s\n{tail}")
        time.sleep(0.02)


def _as_user(user: str | None, args: list[str]) -> list[str]:
    return args if user is None else ["runuser", "-u", user, "--", *args]


class Postgres:
    """A PostgreSQL cluster in a folder of its own, listening on a Unix socket only."""

    def __init__(self) -> None:
        self.bin = Postgres.find_bin()
        assert self.bin is not None
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="servicedeck-pg-"))
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "log"
        self.url = f"postgresql:///postgres?host={self.root}&user=postgres"

    @staticmethod
    def find_bin() -> Path | None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return Path(found[-1]).parent if found else None

    @staticmethod
    def problem() -> str | None:
        """Why a cluster cannot run here, or None."""
        if Postgres.find_bin() is None:
            return "no initdb under /usr/lib/postgresql/*/bin"
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user"
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed"
        return None

    def _run(self, *args: str) -> None:
        subprocess.run(
            _as_user(self.user, [str(self.bin / args[0]), *args[1:]]),
            check=True,
            capture_output=True,
            cwd=self.root,
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = ''\nunix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 300\n"
            )
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def execute(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Run one statement in its own transaction; the rows it returned."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A redis-server on a Unix socket; `persistent` keeps its data across a restart."""

    def __init__(self, *, persistent: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="servicedeck-redis-"))
        self.socket = self.root / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.persistent = persistent
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def problem() -> str | None:
        if shutil.which("redis-server") is None:
            return "no redis-server on PATH"
        try:
            import redis  # noqa: F401
        except ImportError:
            return "redis-py is not installed"
        return None

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--dir", str(self.root), *persistence],
            stdout=(self.root / "log").open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait(self.ping, "redis-server", self.root / "log")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis writes its AOF and exits
            self.process.wait(timeout=30)
            self.process = None
        self.socket.unlink(missing_ok=True)

    def command(self, *args: str) -> object:
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket), decode_responses=True)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class SqliteFile:
    """An SQLite database file for a coordinator; `lock()` makes it unwritable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"  # an absolute path makes sqlite:////...
        self._locker: sqlite3.Connection | None = None

    def lock(self) -> None:
        """Take the database's write lock and keep it: every writer gets `database is
        locked` (running as root, permissions would not stop anyone)."""
        self._locker = sqlite3.connect(self.path, isolation_level=None)
        self._locker.execute("BEGIN EXCLUSIVE")

    def unlock(self) -> None:
        if self._locker is not None:
            self._locker.execute("ROLLBACK")
            self._locker.close()
            self._locker = None
