"""The chaos harness: three `servicedeck run --coordinate URL` replicas and their faults.

Each replica is a real process running `app.py`. Reader threads take every line it
prints, stamped with the time it arrived; scenarios wait for the lines they need
(event-driven, with deadlines) and measure failovers from them. The faults are real:
`kill -9` of the leader, SIGSTOP for longer than the lease then SIGCONT, SIGTERM, and
the engine itself stopped (for SQLite, its database locked by another process).

`check()` then reads the runs recorded through the fence and asserts what the issue
asks: no two holders' runs overlap, epochs strictly increase, the fence refused a
stale write, every failover was within its bound, and `RunInAllServers` beat on every
replica throughout.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from servicedeck.coordinate import LeaseTimings

# `support` is imported from tests/, as pytest puts it on the path; the full run and the
# benchmarks (`python -m tests...`) put it there too.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from support.engines import Postgres, Redis, SqliteFile  # noqa: E402

APP = Path(__file__).with_name("app.py")
REPO = Path(__file__).resolve().parents[2]

CI_TIMINGS = LeaseTimings(lease=3.0, renew=1.0, deadline=2.0, poll=0.2)
SLACK = 0.5
"""Added to the lease + poll of a failover after kill -9 (the issue's bound)."""
TERM_BOUND = 1.5
"""A failover after SIGTERM (a graceful release) is within this many seconds."""
WAIT = 20.0
"""How long a scenario waits for a line before it fails (the machine may be slow)."""
BEAT_GAP = 1.5
"""The longest silence allowed between two beats of `Everywhere` on one replica."""

_RUNS_SQL = (
    "CREATE TABLE IF NOT EXISTS runs (service text, epoch bigint, holder text, "
    "started double precision, finished double precision)"
)


# -- the engines, as the harness acts on them --------------------------------------------


class Engine:
    """An engine of the chaos suite: its URL, its runs, and how to stop it for a while."""

    name = ""
    url = ""

    def outage_begin(self) -> None:
        raise NotImplementedError

    def outage_end(self) -> None:
        raise NotImplementedError

    def runs(self) -> list[Run]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self) -> None:
        self.server = Postgres()
        self.server.init()
        self.url = self.server.url
        self.server.execute(_RUNS_SQL)

    def outage_begin(self) -> None:
        self.server.stop()

    def outage_end(self) -> None:
        self.server.start()

    def runs(self) -> list[Run]:
        rows = self.server.execute("SELECT service, epoch, holder, started, finished FROM runs")
        return [Run(*row) for row in rows]  # type: ignore[arg-type]

    def close(self) -> None:
        self.server.close()


class RedisEngine(Engine):
    name = "redis"

    def __init__(self) -> None:
        # Persistent: the epochs and the runs survive the outage's restart.
        self.server = Redis(persistent=True)
        self.server.start()
        self.url = self.server.url

    def outage_begin(self) -> None:
        self.server.stop()

    def outage_end(self) -> None:
        self.server.start()

    def runs(self) -> list[Run]:
        rows = self.server.command("LRANGE", "runs", "0", "-1")
        assert isinstance(rows, list)
        return [Run(**json.loads(row)) for row in rows]

    def close(self) -> None:
        self.server.close()


class SqliteEngine(Engine):
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        self.file = SqliteFile(root / "leases.db")
        self.url = self.file.url
        with sqlite3.connect(self.file.path) as db:
            db.execute(_RUNS_SQL)

    def outage_begin(self) -> None:
        self.file.lock()

    def outage_end(self) -> None:
        self.file.unlock()

    def runs(self) -> list[Run]:
        with sqlite3.connect(self.file.path) as db:
            rows = db.execute("SELECT service, epoch, holder, started, finished FROM runs")
            return [Run(*row) for row in rows]

    def close(self) -> None:
        self.file.unlock()


def make_engine(name: str, root: Path) -> Engine:
    if name == "postgres":
        return PostgresEngine()
    if name == "redis":
        return RedisEngine()
    return SqliteEngine(root)


# -- what the replicas print -------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run of `Recorder`, as recorded through the fence."""

    service: str
    epoch: int
    holder: str
    started: float
    finished: float


@dataclass(frozen=True)
class Line:
    at: float
    """When the harness read it (`time.time()`)."""
    replica: Replica
    text: str

    @property
    def words(self) -> list[str]:
        return self.text.split()

    def is_(self, kind: str) -> bool:
        """`@ begin ...`, `@ stale ...`, `@ beat ...` lines of the app."""
        words = self.words
        return len(words) > 1 and words[0] == "@" and words[1] == kind

    @property
    def epoch(self) -> int:
        return int(self.words[2])

    @property
    def stamp(self) -> float:
        """The time the app wrote in the line."""
        return float(self.words[-1])


@dataclass
class Replica:
    index: int
    process: subprocess.Popen[str]
    started: float
    stopped: list[tuple[float, float]] = field(default_factory=list)
    """(SIGSTOP, SIGCONT) times: it cannot beat meanwhile."""
    ended: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def holder(self) -> str:
        return f"{socket.gethostname()}:{self.pid}"

    def __hash__(self) -> int:
        return self.index

    def __eq__(self, other: object) -> bool:
        return self is other


@dataclass
class Failover:
    kind: str
    seconds: float
    bound: float

    @property
    def ok(self) -> bool:
        return self.seconds <= self.bound


@dataclass
class Outage:
    seconds: float
    step_down: float
    """From the engine's stop to the leader stepping down."""
    step_down_bound: float
    recovery: float
    """From the engine's return to the first run."""
    recovery_bound: float
    ran_meanwhile: int
    leaders_after: int


class Cluster:
    """Replicas of `app.py` coordinated through `engine`, and everything they printed."""

    def __init__(self, engine: Engine, timings: LeaseTimings, root: Path) -> None:
        self.engine = engine
        self.timings = timings
        self.root = root
        self.lines: list[Line] = []
        self.replicas: list[Replica] = []
        self.failovers: list[Failover] = []
        self.outages: list[Outage] = []
        self.stale = 0
        self._changed = threading.Condition()

    # -- replicas ---------------------------------------------------------------------

    def start_replica(self) -> Replica:
        index = len(self.replicas)
        state = self.root / f"replica-{index}"
        state.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SERVICEDECK_")},
            "SERVICEDECK_STATE_DIR": str(state),
            "SERVICEDECK_COORDINATE": self.engine.url,
            "SERVICEDECK_LEASE_SECONDS": str(self.timings.lease),
            "SERVICEDECK_RENEW_SECONDS": str(self.timings.renew),
            "SERVICEDECK_RENEW_DEADLINE_SECONDS": str(self.timings.deadline),
            "SERVICEDECK_POLL_SECONDS": str(self.timings.poll),
            "SERVICEDECK_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "servicedeck", "run", str(APP)],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        replica = Replica(index, process, time.time())
        self.replicas.append(replica)
        since = self.mark()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            threading.Thread(target=self._read, args=(replica, stream), daemon=True).start()
        # Up: its RunInAllServers service beats (whatever the engine is doing).
        self.wait(
            f"replica {index} starting",
            lambda line: line.replica is replica and line.is_("beat"),
            since,
        )
        return replica

    def _read(self, replica: Replica, stream: IO[str]) -> None:
        for text in stream:
            with self._changed:
                self.lines.append(Line(time.time(), replica, text.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            if replica.ended is None:
                replica.ended = time.time()
            self._changed.notify_all()

    @property
    def alive(self) -> list[Replica]:
        return [r for r in self.replicas if r.process.poll() is None]

    def signal(self, replica: Replica, signum: int) -> float:
        """Send `signum` to `replica`; the time it was sent."""
        sent = time.time()
        os.kill(replica.pid, signum)
        return sent

    def close(self) -> None:
        for replica in self.alive:
            if replica.stopped and replica.stopped[-1][1] == 0.0:
                os.kill(replica.pid, signal.SIGCONT)
            replica.process.terminate()
        for replica in self.replicas:
            try:
                replica.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()

    # -- waiting ----------------------------------------------------------------------

    def mark(self) -> int:
        """An index in `lines`: wait for what comes after it."""
        with self._changed:
            return len(self.lines)

    def wait(
        self, what: str, match: Callable[[Line], bool], since: int, timeout: float = WAIT
    ) -> Line:
        """The first line after `since` that matches; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        index = since
        with self._changed:
            while True:
                while index < len(self.lines):
                    line = self.lines[index]
                    index += 1
                    if match(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout} s\n{self.tail()}")
                self._changed.wait(left)

    def tail(self, count: int = 40) -> str:
        with self._changed:
            return "\n".join(f"[{line.replica.index}] {line.text}" for line in self.lines[-count:])

    def begin(self, since: int, after_epoch: int = 0, not_by: Replica | None = None) -> Line:
        """The first run that begins after `since`, at an epoch above `after_epoch`."""
        return self.wait(
            f"run at an epoch above {after_epoch}",
            lambda line: (
                line.is_("begin") and line.epoch > after_epoch and line.replica is not not_by
            ),
            since,
        )

    def lines_of(self, kind: str) -> Iterator[Line]:
        with self._changed:
            lines = list(self.lines)
        return (line for line in lines if line.is_(kind))

    # -- scenarios --------------------------------------------------------------------

    def leader_run(self) -> Line:
        """A run that has just begun: its replica leads."""
        return self.begin(self.mark())

    def kill_leader(self, phase: float = 0.0) -> Failover:
        """`kill -9` the leader: another replica runs within lease + poll + 0.5 s.

        Args:
            phase: seconds to let the leader run first (the fault's moment in the renew
                cycle: right after a takeover, the lease was just renewed).
        """
        time.sleep(phase)  # the fault's timing, part of the scenario
        run = self.leader_run()
        sent = self.signal(run.replica, signal.SIGKILL)
        run.replica.process.wait()
        after = self.begin(0, run.epoch, run.replica)
        failover = Failover(
            "kill -9", after.stamp - sent, self.timings.lease + self.timings.poll + SLACK
        )
        self.failovers.append(failover)
        self.start_replica()
        return failover

    def stop_leader(self) -> Failover:
        """SIGSTOP the leader mid-write for longer than the lease, then SIGCONT: another
        replica takes over, and the fence refuses the stopped one's write."""
        run = self.leader_run()
        replica = run.replica
        sent = self.signal(replica, signal.SIGSTOP)
        since = self.mark()
        after = self.begin(0, run.epoch, replica)
        failover = Failover(
            "SIGSTOP", after.stamp - sent, self.timings.lease + self.timings.poll + SLACK
        )
        self.failovers.append(failover)
        # The fault itself: stopped for longer than the lease.
        time.sleep(max(sent + self.timings.lease + 1.0 - time.time(), 0.0))
        resumed = self.signal(replica, signal.SIGCONT)
        replica.stopped.append((sent, resumed))
        self.wait(
            f"stale write refused at epoch {run.epoch}",
            lambda line: line.replica is replica and line.is_("stale") and line.epoch == run.epoch,
            since,
        )
        self.stale += 1
        self.wait(
            "the stopped leader stepping down",
            lambda line: line.replica is replica and "lease Recorder lost" in line.text,
            since,
        )
        return failover

    def term_leader(self) -> Failover:
        """SIGTERM the leader: it releases its lease, and another runs within 1.5 s."""
        run = self.leader_run()
        sent = self.signal(run.replica, signal.SIGTERM)
        after = self.begin(0, run.epoch, run.replica)
        failover = Failover("SIGTERM", after.stamp - sent, TERM_BOUND)
        self.failovers.append(failover)
        run.replica.process.wait(timeout=WAIT)
        self.start_replica()
        return failover

    def outage(self, seconds: float) -> Outage:
        """The engine stopped for `seconds`: the leader steps down within the renew
        deadline, nothing runs meanwhile, and one leader runs within lease + poll of
        the engine's return."""
        run = self.leader_run()
        since = self.mark()
        began = time.time()
        self.engine.outage_begin()
        stepped = self.wait(
            "the leader stepping down",
            lambda line: line.replica is run.replica and "lease Recorder lost" in line.text,
            since,
        )
        time.sleep(max(began + seconds - time.time(), 0.0))  # the fault itself
        quiet_until = self.mark()
        self.engine.outage_end()
        back = time.time()
        first = self.begin(quiet_until, run.epoch)
        with self._changed:
            meanwhile = self.lines[since:quiet_until]
        ran = [line for line in meanwhile if line.is_("begin") and line.at > stepped.at]
        # Exactly one leader: one replica acquired the lease after the return.
        settle = self.mark()
        self.begin(settle, first.epoch - 1)  # one more run: the new leader goes on
        with self._changed:
            acquired = {
                line.replica
                for line in self.lines[quiet_until:]
                if "lease Recorder acquired" in line.text
            }
        outage = Outage(
            seconds=seconds,
            step_down=stepped.at - began,
            # The deadline counts from the last renewal (before the stop); the block
            # exits once the write in flight (WORK, shielded) has failed.
            step_down_bound=self.timings.deadline + 0.3 + SLACK,
            recovery=first.stamp - back,
            recovery_bound=self.timings.lease + self.timings.poll + SLACK,
            ran_meanwhile=len(ran),
            leaders_after=len(acquired),
        )
        self.outages.append(outage)
        return outage

    # -- the verdict ------------------------------------------------------------------

    def check(self) -> list[str]:
        """Everything that went wrong (empty when the run held every promise)."""
        problems: list[str] = []
        runs = sorted(self.engine.runs(), key=lambda r: r.started)
        if not runs:
            return ["no run was recorded"]
        holders: dict[int, str] = {}
        for run in runs:
            if holders.setdefault(run.epoch, run.holder) != run.holder:
                problems.append(
                    f"epoch {run.epoch} has two holders: {holders[run.epoch]}, {run.holder}"
                )
        for earlier, later in itertools.pairwise(runs):
            if later.epoch < earlier.epoch:
                problems.append(f"epoch went back: {earlier} then {later}")
            if later.epoch != earlier.epoch and later.started < earlier.finished:
                problems.append(f"overlapping runs of two holders: {earlier} and {later}")
        if any(f.kind == "SIGSTOP" for f in self.failovers) and self.stale < 1:
            problems.append("no stale write was refused")
        problems += [
            f"{f.kind} failover took {f.seconds:.2f} s > {f.bound:.2f} s"
            for f in self.failovers
            if not f.ok
        ]
        for o in self.outages:
            if o.step_down > o.step_down_bound:
                problems.append(
                    f"stepped down {o.step_down:.2f} s into the outage > {o.step_down_bound:.2f} s"
                )
            if o.recovery > o.recovery_bound:
                problems.append(
                    f"recovered {o.recovery:.2f} s after the outage > {o.recovery_bound:.2f} s"
                )
            if o.ran_meanwhile:
                problems.append(f"{o.ran_meanwhile} runs began while the engine was down")
            if o.leaders_after != 1:
                problems.append(f"{o.leaders_after} leaders after the outage")
        problems += self._check_beats()
        return problems

    def _check_beats(self) -> list[str]:
        problems = []
        beats: dict[Replica, list[float]] = {}
        for line in self.lines_of("beat"):
            beats.setdefault(line.replica, []).append(line.at)
        for replica in self.replicas:
            times = beats.get(replica, [])
            if not times:
                problems.append(f"replica {replica.index} never beat")
                continue
            for before, after in itertools.pairwise(times):
                paused = any(s - 0.5 <= after and before <= c + 0.5 for s, c in replica.stopped)
                if after - before > BEAT_GAP and not paused:
                    problems.append(
                        f"replica {replica.index} did not beat for {after - before:.2f} s"
                    )
        return problems

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, list[float]] = {}
        for f in self.failovers:
            by_kind.setdefault(f.kind, []).append(f.seconds)
        return {
            "engine": self.engine.name,
            "failovers": len(self.failovers),
            "by_kind": {k: (len(v), max(v)) for k, v in by_kind.items()},
            "stale_refused": self.stale,
            "runs": len(self.engine.runs()),
            "outages": [vars(o) for o in self.outages],
        }
