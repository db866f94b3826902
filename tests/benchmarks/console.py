"""Console workloads: the Textual console, headless at 160x45, next to the same services
run by a `ServiceController` with no app (the baseline), in the same process and run.

Two workloads:

- `console`: N services (500) looping every 50 ms. Over a window (10 s) of one-second
  samples: the process CPU with the console open minus the CPU of the services alone
  (the console's own CPU); the frames that redrew table rows a second, next to the
  change notifications a second that the services alone send (what the table
  coalesces); and the event loop's lag (how late a probe timer fires). Then key presses:
  `n` on a paused service, from the key to the first frame that shows the stepped
  loop's count, next to `await controller.step()` with no app.
- `console-large`: N services (1,000) looping every second: the time to open the console
  (from building the controller to the first frame after the services started), next to
  entering a bare controller and starting them; and the time from a keystroke in the `/`
  filter box to the first frame that shows the filtered rows, next to the event loop's
  lag with the same services and no app (what any response waits for).

"Frame" is Textual's: a compositor update handed to the (headless) driver, seen through
`App.post_display_hook`. What a frame drew is recorded by `MeasuredTable`, a subclass of
the table that notes each line Textual asks it to draw (`render_line`), and from which
snapshot.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from textual.app import ComposeResult
from textual.strip import Strip
from textual.widgets import Static

from servicedeck import LoopService, ServiceState
from servicedeck.control import ServiceSnapshot
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.widgets.detail import DetailPanel
from servicedeck.tui.widgets.service_table import ServiceTable

from ._harness import Row, Scale, Target, Unit, Workload, compared, median, p95

__all__ = ["WORKLOADS"]

perf = time.perf_counter
SIZE = (160, 45)
BUSY_INTERVAL = 0.05
LARGE_INTERVAL = 1.0
FRAME_TIMEOUT = 10.0
"""A frame that has not come after this long means the console is stuck: fail loudly."""


def make_services(count: int, interval: float) -> list[type[LoopService]]:
    """`count` no-op loop service classes named Svc0000, Svc0001, ..."""

    async def run_once(self: LoopService) -> None:
        return None

    return [
        type(f"Svc{i:04d}", (LoopService,), {"loop_seconds": interval, "run_once": run_once})
        for i in range(count)
    ]


def controller_for(classes: list[type[LoopService]]) -> ServiceController:
    return ServiceController(classes, propagate_logs=False)


class MeasuredTable(ServiceTable):
    """The service table, noting what Textual has it draw: every row line, and the
    snapshot and filter each was drawn from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows_drawn = 0
        """Row lines drawn so far (each a row that changed, or a redraw of the table)."""
        self.painted: dict[str, ServiceSnapshot] = {}
        """The snapshot each service's row was last drawn from."""
        self.painted_filter: str | None = None
        """The filter in effect when a line was last drawn."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        self.painted_filter = self.filter_text
        name = self.name_at(y)
        if name is not None:
            self.rows_drawn += 1
            snapshot = self.snapshot(name)
            assert snapshot is not None
            self.painted[name] = snapshot
        return strip


class MeasuredApp(ServiceDeckApp):
    """The console with a `MeasuredTable`, counting the frames that drew table rows, and
    waking waiters on the first frame that satisfies their condition."""

    # Textual finds CSS_PATH next to the module of the class: point at the console's.
    CSS_PATH = str(Path(inspect.getfile(ServiceDeckApp)).with_name(str(ServiceDeckApp.CSS_PATH)))

    def __init__(self, controller: ServiceController) -> None:
        super().__init__(controller)
        self.table_frames = 0
        """Frames in which at least one table row was drawn."""
        self._rows_drawn = 0
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        self._measured: MeasuredTable | None = None

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, ServiceTable):
                widget = self._measured = MeasuredTable(
                    self.controller.now, root=self.controller.process.root, id=widget.id
                )
            yield widget

    @property
    def measured(self) -> MeasuredTable:
        """The table."""
        assert self._measured is not None, "not composed yet"
        return self._measured

    def post_display_hook(self) -> None:
        now = perf()
        table = self._measured
        if table is None:
            return
        if table.rows_drawn != self._rows_drawn:
            self._rows_drawn = table.rows_drawn
            self.table_frames += 1
        if self._waiters:
            waiting = []
            for condition, future in self._waiters:
                if future.done():
                    continue
                if condition():
                    future.set_result(now)
                else:
                    waiting.append((condition, future))
            self._waiters = waiting

    async def frame_when(self, condition: Callable[[], bool]) -> float:
        """The time of the first frame displayed with `condition()` true."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((condition, future))
        async with asyncio.timeout(FRAME_TIMEOUT):
            return await future

    async def opened(self) -> None:
        """Return once the services were started (raise if the app failed to get there)."""
        async with asyncio.timeout(FRAME_TIMEOUT):
            await self.ready.wait()


# -- measuring a window -----------------------------------------------------------------


class LagProbe:
    """How late a timer fires: a task sleeping `interval` again and again, recording each
    wake-up's lateness (the event loop was busy with something else)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.lateness: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            due = perf() + self.interval
            await asyncio.sleep(self.interval)
            self.lateness.append(max(perf() - due, 0.0))  # never early: clock jitter

    @contextmanager
    def running(self) -> Iterator[LagProbe]:
        self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self._task.cancel()


@dataclass
class Window:
    """One-second samples over a window: CPU fraction of a core, and a counter's rate."""

    cpu: list[float]
    rates: list[float]
    lag: list[float]


async def sample_window(samples: int, sample: float, counter: Callable[[], int]) -> Window:
    """CPU and `counter()` growth over `samples` samples of `sample` seconds each.

    The sleeps are the workload's window, not a wait for an event.
    """
    cpu: list[float] = []
    rates: list[float] = []
    with LagProbe().running() as probe:
        for _ in range(samples):
            wall, process, count = perf(), time.process_time(), counter()
            await asyncio.sleep(sample)
            wall = perf() - wall
            cpu.append((time.process_time() - process) / wall)
            rates.append((counter() - count) / wall)
    return Window(cpu, rates, probe.lateness)


async def until_state(controller: ServiceController, name: str, state: ServiceState) -> None:
    """Return once service `name` is in `state` (through the controller's change stream)."""
    reached = asyncio.Event()

    def changed(changed_name: str) -> None:
        if changed_name == name and controller.snapshot(name).status.state is state:
            reached.set()

    unsubscribe = controller.subscribe(changed)
    try:
        if controller.snapshot(name).status.state is not state:
            async with asyncio.timeout(FRAME_TIMEOUT):
                await reached.wait()
    finally:
        unsubscribe()


# -- 500 services looping every 50 ms ----------------------------------------------------


@dataclass
class Busy:
    window: Window
    key_latencies: list[float]


@dataclass(frozen=True)
class BusyPlan:
    count: int
    samples: int
    sample: float
    warm_up: float
    presses: int

    @property
    def target(self) -> str:
        """The service the key presses step: in view, near the top."""
        return "Svc0003"


def jitter(rng: random.Random) -> float:
    """A wait before each key press, so that presses fall anywhere in the services' 50 ms
    cycle of wake-ups."""
    return rng.uniform(0, BUSY_INTERVAL)


async def busy_alone(plan: BusyPlan) -> Busy:
    """The services with no app: CPU, change notifications, loop lag; then steps."""
    controller = controller_for(make_services(plan.count, BUSY_INTERVAL))
    changes = 0

    def count_change(_: str) -> None:
        nonlocal changes
        changes += 1

    controller.subscribe(count_change)
    rng = random.Random(5)
    async with controller:
        await controller.start_enabled()
        await asyncio.sleep(plan.warm_up)  # every service past its first loops
        window = await sample_window(plan.samples, plan.sample, lambda: changes)
        await controller.pause(plan.target)
        await until_state(controller, plan.target, ServiceState.PAUSED)
        latencies = []
        for _ in range(plan.presses):
            await asyncio.sleep(jitter(rng))
            started = perf()
            await controller.step(plan.target)
            latencies.append(perf() - started)
        await controller.stop_all(5.0)
    return Busy(window, latencies)


async def busy_console(plan: BusyPlan) -> Busy:
    """The same services with the console open: CPU, table frames, loop lag; then `n`."""
    app = MeasuredApp(controller_for(make_services(plan.count, BUSY_INTERVAL)))
    rng = random.Random(5)
    name = plan.target
    async with app.run_test(size=SIZE) as pilot:
        await app.opened()
        await asyncio.sleep(plan.warm_up)
        window = await sample_window(plan.samples, plan.sample, lambda: app.table_frames)
        table, controller = app.measured, app.controller
        await controller.pause(name)
        await until_state(controller, name, ServiceState.PAUSED)
        table.move_cursor(name)
        await pilot.pause()
        latencies = await step_presses(app, name, plan.presses, rng)
    return Busy(window, latencies)


async def step_presses(
    app: MeasuredApp, name: str, presses: int, rng: random.Random
) -> list[float]:
    """Press `n` on the highlighted service `name` (paused) `presses` times, after a
    random wait each: the time from each key to the first frame that drew its effect."""
    table = app.measured
    latencies = []
    for _ in range(presses):
        await asyncio.sleep(jitter(rng))
        stepped = app.controller.snapshot(name).status.loop_count + 1

        def shown(stepped: int = stepped) -> bool:
            painted = table.painted.get(name)
            return painted is not None and painted.status.loop_count >= stepped

        frame = asyncio.ensure_future(app.frame_when(shown))
        started = perf()
        # As a terminal delivers it; Pilot.press() would also wait for an idle screen.
        app.simulate_key("n")
        latencies.append(await frame - started)
    return latencies


def measure_busy(scale: Scale) -> list[Row]:
    plan = BusyPlan(
        count=scale.pick(500, 30),
        samples=scale.pick(10, 2),
        sample=scale.pick(1.0, 0.1),
        warm_up=scale.pick(1.0, 0.1),
        presses=scale.pick(60, 3),
    )
    alone = asyncio.run(busy_alone(plan))
    console = asyncio.run(busy_console(plan))
    cpu_alone, cpu_console = median(alone.window.cpu), median(console.window.cpu)
    title = (
        f"console, {plan.count:,} services looping every 50 ms, {plan.samples * plan.sample:g} s"
    )
    return [
        Row(
            f"{title}: the app's own CPU",
            Unit.FRACTION_OF_A_CORE,
            Target(0.60),
            cpu_alone,
            max(cpu_console - cpu_alone, 0.0),
        ),
        compared(
            f"{title}: table refreshes (frames that redraw rows)",
            Unit.PER_SECOND,
            # "No more than a few per second": we hold it to 5.
            Target(5),
            alone.window.rates,
            console.window.rates,
        ),
        Row(
            f"{title}: event-loop lag, p95",
            Unit.SECONDS,
            None,
            p95(alone.window.lag),
            p95(console.window.lag),
        ),
        Row(
            f"{title}: key `n` to its effect on screen, p95",
            Unit.SECONDS,
            Target(0.1),
            p95(alone.key_latencies),
            p95(console.key_latencies),
        ),
    ]


# -- 1,000 services: open, filter ----------------------------------------------------------


def filter_keys(count: int) -> list[tuple[str, str]]:
    """Keystrokes typed into the filter box, each with the filter it makes."""
    keys: list[tuple[str, str]] = []
    text = ""
    for key in ["1", "2", "backspace", "backspace", "9", "9", "backspace", "0", "5", "ctrl+u"]:
        if key == "backspace":
            text = text[:-1]
        elif key == "ctrl+u":
            text = ""
        else:
            text += key
        keys.append((key, text))
    return keys if count >= 100 else keys[:3]


async def open_alone(
    classes: list[type[LoopService]], lag_window: float
) -> tuple[float, list[float]]:
    """Enter a bare controller and start every service; then the event loop's lag while
    they run (what any response waits for, with no app)."""
    started = perf()
    controller = controller_for(classes)
    async with controller:
        await controller.start_enabled()
        opened = perf() - started
        with LagProbe().running() as probe:
            await asyncio.sleep(lag_window)  # the window is the workload
        await controller.stop_all(5.0)
    return opened, probe.lateness


async def open_console(
    classes: list[type[LoopService]], keys: list[tuple[str, str]]
) -> tuple[float, list[float]]:
    """Open the console on the services; then type the filter keys into `/`'s box."""
    started = perf()
    app = MeasuredApp(controller_for(classes))
    async with app.run_test(size=SIZE) as pilot:
        await app.opened()
        table = app.measured
        opened = await app.frame_when(lambda: table.rows_drawn > 0) - started
        await pilot.press("slash")
        filters = []
        for key, text in keys:

            def shown(text: str = text) -> bool:
                return table.filter_text == text and table.painted_filter == text

            frame = asyncio.ensure_future(app.frame_when(shown))
            started = perf()
            app.simulate_key(key)
            filters.append(await frame - started)
        await pilot.press("escape")
    return opened, filters


def measure_large(scale: Scale) -> list[Row]:
    count = scale.pick(1000, 30)
    classes = make_services(count, LARGE_INTERVAL)
    keys = filter_keys(count)
    opened_alone: list[float] = []
    opened_console: list[float] = []
    lags_alone: list[float] = []
    filters_console: list[float] = []
    lag_window = scale.pick(2.0, 0.1)
    for repetition in range(scale.pick(3, 1)):
        sides = [
            (lambda: open_alone(classes, lag_window), opened_alone, lags_alone),
            (lambda: open_console(classes, keys), opened_console, filters_console),
        ]
        for side, opened, latencies in sides[:: -1 if repetition % 2 else 1]:
            seconds, measured = asyncio.run(side())
            opened.append(seconds)
            latencies.extend(measured)
    title = f"console, {count:,} services"
    return [
        compared(
            f"{title}: time to open",
            Unit.SECONDS,
            Target(2.0),
            opened_alone,
            opened_console,
        ),
        Row(
            f"{title}: `/` filter, time to respond, p95",
            Unit.SECONDS,
            Target(0.1),
            p95(lags_alone),
            p95(filters_console),
        ),
    ]


# -- the await stack of a hung loop, refreshed once a second ------------------------------


def hung_services(sleepers: int) -> list[type[LoopService]]:
    """One service whose loop hangs a few user frames deep, in a task group with two
    child tasks (a stack of some depth to capture and draw), and `sleepers` idle ones."""

    class Hung(LoopService):
        loop_seconds = 1.0

        async def run_once(self) -> None:
            await self.fetch()

        async def fetch(self) -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(self.wait_reply, "prices")
                group.start_soon(self.wait_reply, "stock")

        async def wait_reply(self, what: str) -> None:
            await anyio.Event().wait()

    return [Hung, *make_services(sleepers, LARGE_INTERVAL)]


async def stack_window(
    plan: BusyPlan, *, on_hung: bool, period: float
) -> tuple[list[float], list[float], list[float]]:
    """The console on a hung service and sleepers, its detail panel refreshing a running
    loop every `period` seconds: CPU with the cursor on the hung one (its stack and
    "running for" refreshed) or on a sleeper (nothing to refresh); and how long
    `where()` takes for the hung one and for a sleeper."""
    DetailPanel.LIVE_SECONDS = period  # read when the panel is mounted
    try:
        return await _stack_window(plan, on_hung=on_hung)
    finally:
        DetailPanel.LIVE_SECONDS = 1.0


async def _stack_window(
    plan: BusyPlan, *, on_hung: bool
) -> tuple[list[float], list[float], list[float]]:
    app = MeasuredApp(controller_for(hung_services(plan.count)))
    async with app.run_test(size=SIZE) as pilot:
        await app.opened()
        controller = app.controller
        await until_state(controller, "Hung", ServiceState.RUNNING)
        app.measured.move_cursor("Hung" if on_hung else "Svc0000")
        await pilot.pause()
        await asyncio.sleep(plan.warm_up)  # the first captures done
        view = app.detail.query_one("#detail-stack", Static)
        # The first capture is asked for after the cursor moved, about 0.1 s on a busy
        # machine: the quick run's warm-up is as short, so wait for it (a deadline).
        for _ in range(int(FRAME_TIMEOUT / 0.01)):
            if not on_hung or "wait_reply" in str(view.render()):
                break
            await asyncio.sleep(0.01)
        drawn = str(view.render())
        if on_hung and "wait_reply" not in drawn:
            raise RuntimeError(f"the hung service's stack is not shown: {drawn!r}")
        window = await sample_window(plan.samples, plan.sample, lambda: 0)
        hung: list[float] = []
        sleeping: list[float] = []
        for _ in range(plan.presses):
            for name, times in (("Hung", hung), ("Svc0000", sleeping)):
                started = perf()
                await controller.where(name)
                times.append(perf() - started)
        await controller.kill("Hung")
    return window.cpu, hung, sleeping


def measure_stack(scale: Scale) -> list[Row]:
    plan = BusyPlan(
        count=scale.pick(5, 2),
        samples=scale.pick(5, 2),
        sample=scale.pick(1.0, 0.1),
        warm_up=scale.pick(1.5, 0.1),
        presses=scale.pick(100, 3),
    )
    cpu: dict[str, list[float]] = {"idle": [], "1/s": [], "20/s": []}
    wheres: list[float] = []
    asleep: list[float] = []
    sides = [("idle", False, 1.0), ("1/s", True, 1.0), ("20/s", True, 0.05)]
    for repetition in range(scale.pick(3, 1)):
        for key, on_hung, period in sides[:: -1 if repetition % 2 else 1]:
            used, hung, sleeping = asyncio.run(stack_window(plan, on_hung=on_hung, period=period))
            cpu[key].extend(used)
            wheres.extend(hung)
            asleep.extend(sleeping)
    idle = median(cpu["idle"])
    title = "console, the await stack of a hung loop in its detail panel"
    return [
        Row(
            f"{title}, refreshed once a second: its CPU (baseline: the console on a "
            "sleeping service)",
            Unit.FRACTION_OF_A_CORE,
            Target(0.05),
            idle,
            max(median(cpu["1/s"]) - idle, 0.0),
        ),
        Row(
            f"{title}, refreshed 20 times a second (a stress: the console does 1): its CPU",
            Unit.FRACTION_OF_A_CORE,
            None,
            idle,
            max(median(cpu["20/s"]) - idle, 0.0),
        ),
        compared(
            f"{title}: one `where()` of it, median (baseline: of a sleeping service)",
            Unit.SECONDS,
            None,
            asleep,
            wheres,
        ),
    ]


WORKLOADS = [
    Workload("console", measure_busy),
    Workload("console-large", measure_large),
    Workload("console-stack", measure_stack),
]
