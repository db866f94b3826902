"""Terminal workloads: the console as a user sees it, in a real terminal (tmux).

The console runs as its own process (`servicedeck FILE`) in a tmux pane of 200x50, on
generated services files; the benchmark sends keys with `tmux send-keys` and polls what
the terminal shows with `tmux capture-pane`. Everything the in-process rows leave out is
in these figures: the driver writing escape codes, the terminal parsing them, the key
travelling through the pty, and every other widget the console repaints.

The floor is a minimal Textual app that toggles one `Static` on a key, measured the same
way in the same run: what Textual, the pty and tmux cost together, which no console can
beat.

Rows (medians of several runs; each run a fresh process):

- key `p` -> screen: the highlighted service (`Svc0000`) is paused or resumed; the time
  from `tmux send-keys p` to the first capture in which both its table row and the
  detail panel's State line show the new state; median and p95 over the presses of a
  run. Presses come after a random 0-50 ms wait, so they fall anywhere in the services'
  20 Hz cycle. 6 and 500 services, next to the floor.
- CPU: percent of one core of the console process (its `/proc/PID/stat` utime + stime)
  over a fixed window, nothing pressed, next to headless `servicedeck run` of the same file.
- memory: the console's resident set (VmRSS) at the end of that window, next to headless.
- open: 1,000 services, from spawning the console to the first capture that shows the
  table's rows, next to spawning the floor app until its text shows.

Skipped (rows "not yet measured") where tmux is not installed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ._harness import Row, Scale, Target, Unit, Workload, median, p95
from .startup import servicedeck_command

__all__ = ["WORKLOADS", "services_file"]

perf = time.perf_counter
WIDTH, HEIGHT = 200, 50
BUSY_INTERVAL = 0.05
OPEN_INTERVAL = 1.0
SCREEN_TIMEOUT = 20.0
"""A screen that has not shown what is awaited after this long: fail loudly."""
TARGET_NAME = "Svc0000"
"""The service the key presses act on: the first row, highlighted when the console opens."""

FLOOR_APP = """\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Floor(App[None]):
    BINDINGS = [("p", "toggle", "toggle"), ("q", "quit", "quit")]
    on = False

    def compose(self) -> ComposeResult:
        yield Static("state: off", id="state")

    def action_toggle(self) -> None:
        self.on = not self.on
        self.query_one("#state", Static).update(f"state: {'on' if self.on else 'off'}")


Floor().run()
"""


def services_file(count: int, interval: float) -> str:
    """A module defining `count` no-op loop services `Svc0000`, ... looping every
    `interval` seconds."""
    classes = "".join(
        f'\n\nclass Svc{i:04d}(LoopService):\n    """Service number {i}."""\n\n'
        f"    loop_seconds = {interval}\n\n"
        "    async def run_once(self) -> None: ...\n"
        for i in range(count)
    )
    return f"from servicedeck import LoopService\n{classes}"


# -- tmux --------------------------------------------------------------------------------


def child_environment() -> dict[str, str]:
    """The environment the measured processes run in: this one, with bytecode written
    and read as a user's interpreter does (a `PYTHONDONTWRITEBYTECODE` here would make
    every launch compile servicedeck and the services file again), and with no `COLUMNS`
    or `LINES`: Python's `shutil.get_terminal_size()`, which Textual asks, prefers them to
    the terminal's own size (under pytest they read 80 and 24, and the console drew a
    200x50 pane at 80x24)."""
    dropped = {"PYTHONDONTWRITEBYTECODE", "COLUMNS", "LINES"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


class Tmux:
    """A private tmux server (its own socket name), so no user session is touched."""

    def __init__(self) -> None:
        self.socket = f"servicedeck-bench-{os.getpid()}"
        self._sessions = 0
        self._environment = child_environment()
        # Kept running between sessions: a server that exits with its last session
        # refuses the next one while it goes.
        # default-size as well as new-session's -x/-y: a console seen drawn at 80x24 under
        # load (tmux's default) measured a different screen.
        self._run(
            "start-server", ";", "set-option", "-g", "exit-empty", "off",
            ";", "set-option", "-g", "default-size", f"{WIDTH}x{HEIGHT}",
        )  # fmt: skip

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            env=self._environment,  # the server's, and so its panes'
        )
        return done.stdout

    @contextmanager
    def pane(self, argv: list[str], cwd: Path) -> Iterator[Pane]:
        """A new session of WIDTH x HEIGHT running `argv` (exec'd: the pane's process is it)."""
        self._sessions += 1
        name = f"bench{self._sessions}"
        command = "exec " + " ".join(_quote(arg) for arg in argv)
        self._run(
            "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(cwd),
            command,
        )  # fmt: skip
        pid = int(self._run("display-message", "-p", "-t", name, "#{pane_pid}").strip())
        try:
            yield Pane(self, name, pid)
        finally:
            _end(pid)
            subprocess.run(
                ["tmux", "-L", self.socket, "kill-session", "-t", name],
                capture_output=True,
                timeout=10,
            )

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _end(pid: int) -> None:
    """End process `pid` (ours: the pane's program): SIGTERM, then SIGKILL after 5 s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = perf() + 5
    while perf() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.02)  # polling a process we do not parent: no event to wait for
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


@dataclass
class Pane:
    tmux: Tmux
    name: str
    pid: int

    def screen(self) -> list[str]:
        """What the terminal shows now, line by line."""
        return self.tmux._run("capture-pane", "-p", "-t", self.name).splitlines()

    def send(self, key: str) -> None:
        self.tmux._run("send-keys", "-t", self.name, key)

    def until(self, condition: Callable[[list[str]], bool]) -> float:
        """Poll the screen until `condition(lines)` holds; the time of that capture."""
        deadline = perf() + SCREEN_TIMEOUT
        while True:
            lines = self.screen()
            now = perf()
            if condition(lines):
                return now
            if now > deadline:
                raise TimeoutError(
                    f"the screen did not show what was awaited in {SCREEN_TIMEOUT} s; it shows:\n"
                    + "\n".join(lines)
                )

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss(self.pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (`/proc/PID/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss(pid: int) -> float:
    """Resident set size of process `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_over(pid: int, window: float) -> float:
    """The fraction of one core process `pid` used over the next `window` seconds."""
    wall, cpu = perf(), cpu_seconds(pid)
    time.sleep(window)  # the measuring window itself
    return (cpu_seconds(pid) - cpu) / (perf() - wall)


# -- what the screen shows ---------------------------------------------------------------


def table_row(lines: list[str], name: str) -> str | None:
    """The table's line for service `name` (its first occurrence on screen)."""
    for line in lines:
        if line.startswith(f" {name} "):
            return line
    return None


def detail_state(lines: list[str]) -> str | None:
    """The detail panel's State line."""
    for line in lines:
        if line.startswith(" State "):
            return line
    return None


def shows_paused(paused: bool) -> Callable[[list[str]], bool]:
    """Both the row of TARGET_NAME and the detail panel show it paused (or not)."""

    def condition(lines: list[str]) -> bool:
        row, state = table_row(lines, TARGET_NAME), detail_state(lines)
        if row is None or state is None:
            return False
        return ("paused" in row) is paused and ("paused" in state) is paused

    return condition


def console_started(lines: list[str]) -> bool:
    """The services run and the first row and the detail panel are drawn."""
    row = table_row(lines, TARGET_NAME)
    return (
        row is not None
        and ("sleeping" in row or "running" in row)
        and detail_state(lines) is not None
    )


def table_shown(lines: list[str]) -> bool:
    """The table's first row is on screen."""
    return table_row(lines, TARGET_NAME) is not None


def floor_shows(on: bool) -> Callable[[list[str]], bool]:
    text = f"state: {'on' if on else 'off'}"
    return lambda lines: any(line.strip() == text for line in lines)


# -- runs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    runs: int
    presses: int
    window: float
    warm_up: float
    small: int
    large: int
    opened: int


@dataclass
class KeyRun:
    median: float
    p95: float


def press_console(pane: Pane, presses: int, rng: random.Random) -> KeyRun:
    """`p` `presses` times on the highlighted service, alternating pause and resume."""
    pane.until(console_started)
    latencies: list[float] = []
    paused = False
    for _ in range(presses):
        time.sleep(rng.uniform(0, BUSY_INTERVAL))  # land anywhere in the services' cycle
        paused = not paused
        sent = perf()
        pane.send("p")
        latencies.append(pane.until(shows_paused(paused)) - sent)
    return KeyRun(median(latencies), p95(latencies))


def press_floor(pane: Pane, presses: int, rng: random.Random) -> KeyRun:
    pane.until(floor_shows(False))
    latencies: list[float] = []
    on = False
    for _ in range(presses):
        time.sleep(rng.uniform(0, BUSY_INTERVAL))  # the same waits as the console's
        on = not on
        sent = perf()
        pane.send("p")
        latencies.append(pane.until(floor_shows(on)) - sent)
    return KeyRun(median(latencies), p95(latencies))


@dataclass
class Console:
    keys: KeyRun
    cpu: float
    rss: float


def run_console(tmux: Tmux, files: Path, count: int, plan: Plan, rng: random.Random) -> Console:
    """One console process on `count` services: key presses, then CPU and memory idle."""
    argv = [str(servicedeck_command()), f"s{count}.py"]
    with tmux.pane(argv, files) as pane:
        keys = press_console(pane, plan.presses, rng)
        if not shows_paused(False)(pane.screen()):
            pane.send("p")  # leave every service running for the CPU window
            pane.until(shows_paused(False))
        time.sleep(plan.warm_up)  # let the last press's redraws settle
        cpu = cpu_over(pane.pid, plan.window)
        return Console(keys, cpu, pane.rss())


@dataclass
class Headless:
    cpu: float
    rss: float


def run_headless(files: Path, count: int, plan: Plan) -> Headless:
    """`servicedeck run` of the same file, with no console: CPU and memory."""
    argv = [str(servicedeck_command()), "run", "--no-control", f"s{count}.py"]
    process = subprocess.Popen(
        argv,
        cwd=files,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A state directory of its own: another `servicedeck run` on this machine (the
        # user's, or a second benchmark) holds the default one's pid file.
        env={**child_environment(), "SERVICEDECK_STATE_DIR": str(files / "state")},
    )
    try:
        time.sleep(plan.warm_up + 1.0)  # start-up, then the same settling as the console's
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(argv)} exited with status {process.returncode}")
        cpu = cpu_over(process.pid, plan.window)
        return Headless(cpu, rss(process.pid))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def open_console(tmux: Tmux, files: Path, count: int) -> float:
    argv = [str(servicedeck_command()), f"open{count}.py"]
    started = perf()
    with tmux.pane(argv, files) as pane:
        return pane.until(table_shown) - started


def open_floor(tmux: Tmux, files: Path) -> float:
    started = perf()
    with tmux.pane([sys.executable, "floor.py"], files) as pane:
        return pane.until(floor_shows(False)) - started


def measure(scale: Scale) -> list[Row]:
    if shutil.which("tmux") is None:
        return list(PENDING)
    plan = Plan(
        runs=scale.pick(3, 1),
        presses=scale.pick(20, 3),
        window=scale.pick(5.0, 0.5),
        warm_up=scale.pick(1.0, 0.2),
        small=6,
        large=scale.pick(500, 30),
        opened=scale.pick(1000, 50),
    )
    rng = random.Random(15)
    floor: list[KeyRun] = []
    consoles: dict[int, list[Console]] = {plan.small: [], plan.large: []}
    headless: dict[int, list[Headless]] = {plan.small: [], plan.large: []}
    opened_console: list[float] = []
    opened_floor: list[float] = []
    tmux = Tmux()
    with tempfile.TemporaryDirectory() as directory:
        files = Path(directory)
        (files / "floor.py").write_text(FLOOR_APP)
        for count in consoles:
            (files / f"s{count}.py").write_text(services_file(count, BUSY_INTERVAL))
        (files / f"open{plan.opened}.py").write_text(services_file(plan.opened, OPEN_INTERVAL))
        try:
            # Once each, unmeasured: bytecode written, files in the page cache.
            open_floor(tmux, files)
            open_console(tmux, files, plan.opened)
            for _ in range(plan.runs):
                with tmux.pane([sys.executable, "floor.py"], files) as pane:
                    floor.append(press_floor(pane, plan.presses, rng))
                for count in consoles:
                    consoles[count].append(run_console(tmux, files, count, plan, rng))
                    headless[count].append(run_headless(files, count, plan))
                opened_floor.append(open_floor(tmux, files))
                opened_console.append(open_console(tmux, files, plan.opened))
        finally:
            tmux.close()

    floor_p95 = median([run.p95 for run in floor])
    floor_median = median([run.median for run in floor])
    rows: list[Row] = []
    for count, limit in ((plan.small, 2.0), (plan.large, 3.0)):
        runs = consoles[count]
        title = f"terminal (tmux {WIDTH}x{HEIGHT}), {count} services looping every 50 ms"
        rows += [
            Row(
                f"{title}: key `p` to its row and the detail panel on screen, median "
                "(baseline: a minimal Textual app toggling one `Static`)",
                Unit.SECONDS,
                None,
                floor_median,
                median([run.keys.median for run in runs]),
            ),
            Row(
                f"{title}: key `p` to its row and the detail panel on screen, p95 "
                "(baseline: the minimal Textual app)",
                Unit.SECONDS,
                Target(limit, ratio=True),
                floor_p95,
                median([run.keys.p95 for run in runs]),
            ),
            Row(
                f"{title}: the console process's CPU (baseline: headless `servicedeck run`)",
                Unit.FRACTION_OF_A_CORE,
                Target({plan.small: 0.03, plan.large: 0.10}[count], over=True),
                median([run.cpu for run in headless[count]]),
                median([run.cpu for run in runs]),
            ),
            Row(
                f"{title}: the console process's memory, RSS (baseline: headless)",
                Unit.BYTES,
                None,
                median([run.rss for run in headless[count]]),
                median([run.rss for run in runs]),
            ),
        ]
    rows.append(
        Row(
            f"terminal (tmux {WIDTH}x{HEIGHT}), {plan.opened:,} services: from launching the "
            "console to its table on screen (baseline: launching the minimal Textual app)",
            Unit.SECONDS,
            Target(1.0),
            median(opened_floor),
            median(opened_console),
        )
    )
    return rows


PENDING = tuple(
    Row(f"terminal (tmux not installed): {what}", unit, None)
    for what, unit in (
        ("6 services: key `p` to its row and the detail panel on screen, median", Unit.SECONDS),
        ("6 services: key `p` to its row and the detail panel on screen, p95", Unit.SECONDS),
        ("6 services: the console process's CPU", Unit.FRACTION_OF_A_CORE),
        ("6 services: the console process's memory, RSS", Unit.BYTES),
        ("500 services: key `p` to its row and the detail panel on screen, median", Unit.SECONDS),
        ("500 services: key `p` to its row and the detail panel on screen, p95", Unit.SECONDS),
        ("500 services: the console process's CPU", Unit.FRACTION_OF_A_CORE),
        ("500 services: the console process's memory, RSS", Unit.BYTES),
        ("1,000 services: from launching the console to its table on screen", Unit.SECONDS),
    )
)

WORKLOADS = [Workload("terminal", measure)]
