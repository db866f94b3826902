"""Framework workloads: servicedeck's `LoopService` against a hand-written asyncio loop.

Every workload runs its servicedeck side and its bare-asyncio side in the same event
loop (asyncio), alternating repetitions so that both see the same machine noise.

The baseline is the loop people write by hand, `while True: await run_once(); await
asyncio.sleep(seconds)`, stopped by cancelling its task (the cheapest hand-written stop,
so the fairest baseline for a stop latency; an Event-based loop would need a
`wait_for` or a second task per sleep). Its `run_once` does the same work as the
servicedeck service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import time
import traceback
import tracemalloc
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from servicedeck import LoopService, ServiceState

from ._harness import Row, Scale, Target, Unit, Workload, compared, median, p95

__all__ = ["WORKLOADS"]

perf = time.perf_counter
RunOnce = Callable[[], Awaitable[None]]


# -- the two sides of every comparison ------------------------------------------------


async def bare_loop(run_once: RunOnce, seconds: float) -> None:
    """The hand-written loop that every figure is compared with."""
    while True:
        await run_once()
        await asyncio.sleep(seconds)


async def bare_logging_loop(run_once: RunOnce, seconds: float, logger: logging.Logger) -> None:
    """The hand-written loop for a `run_once` that may raise: log it, go on."""
    while True:
        try:
            await run_once()
        except Exception:
            logger.exception("loop failed")
        await asyncio.sleep(seconds)


async def noop() -> None:
    """A `run_once` that does nothing."""


async def fail() -> None:
    """A `run_once` that always raises."""
    raise ValueError("boom")


class Counter:
    """Counts loops (on either side) and sets `reached` when `count` reaches `goal`."""

    def __init__(self, goal: int = 0) -> None:
        self.count = 0
        self.goal = goal
        self.reached = asyncio.Event()

    async def run_once(self) -> None:
        self.count += 1
        if self.count == self.goal:
            self.reached.set()


class NoopService(LoopService):
    """servicedeck's side of `noop`."""

    async def run_once(self) -> None:
        pass


class FailingService(LoopService):
    """servicedeck's side of `fail`."""

    async def run_once(self) -> None:
        raise ValueError("boom")


class CountingService(LoopService):
    """servicedeck's side of `Counter.run_once`."""

    counter: Counter

    async def run_once(self) -> None:
        await self.counter.run_once()


class StampingService(LoopService):
    """Records when each loop starts (`perf_counter`)."""

    starts: list[float]

    async def run_once(self) -> None:
        self.starts.append(perf())


async def wait_for_state(service: LoopService, state: ServiceState) -> None:
    """Return once `service` has entered `state` (via its listener, no polling)."""
    if service.status.state is state:
        return
    reached = anyio.Event()

    def listener(changed: Any) -> None:
        if changed.status.state is state:
            reached.set()

    unsubscribe = service.subscribe(listener)
    try:
        await reached.wait()
    finally:
        unsubscribe()


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until every one has ended."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def counting_services(
    counter: Counter, count: int, loop_seconds: float | None
) -> list[CountingService]:
    services = [CountingService(loop_seconds=loop_seconds) for _ in range(count)]
    for service in services:
        service.counter = counter
    return services


def interleaved(repetitions: int, *sides: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run each side once per repetition, alternating; returns one list of results per side."""

    async def run() -> list[list[Any]]:
        results: list[list[Any]] = [[] for _ in sides]
        for repetition in range(repetitions):
            order = list(enumerate(sides))
            if repetition % 2:
                order.reverse()  # neither side always goes first
            for index, side in order:
                gc.collect()
                results[index].append(await side())
        return results

    return run()


# -- stop(block=True) of an idle service -------------------------------------------------


async def stop_latency_bare(samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        counter = Counter(goal=1)
        task = asyncio.create_task(bare_loop(counter.run_once, 60))
        await counter.reached.wait()  # the task is asleep by the time we resume
        started = perf()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        latencies.append(perf() - started)
    return latencies


async def stop_latency_servicedeck(samples: int) -> list[float]:
    latencies = []
    async with anyio.create_task_group() as tg:
        for _ in range(samples):
            service = NoopService(loop_seconds=60)
            returned = Stamp()
            tg.start_soon(returned.after, service.start)
            await wait_for_state(service, ServiceState.SLEEPING)
            started = perf()
            await service.stop(block=True)
            stopped = perf()
            await returned.event.wait()
            latencies.append(max(stopped, returned.at) - started)
    return latencies


class Stamp:
    """When an awaited call returned."""

    def __init__(self) -> None:
        self.at = 0.0
        self.event = anyio.Event()

    async def after(self, call: Callable[[], Awaitable[object]]) -> None:
        await call()
        self.at = perf()
        self.event.set()


def measure_stop(scale: Scale) -> list[Row]:
    samples = scale.pick(60, 3)
    bare, servicedeck = asyncio.run(
        interleaved(
            scale.pick(5, 1),
            lambda: stop_latency_bare(samples),
            lambda: stop_latency_servicedeck(samples),
        )
    )
    bare = [x for batch in bare for x in batch]
    servicedeck = [x for batch in servicedeck for x in batch]
    title = "`stop(block=True)` of an idle service (`loop_seconds=60`) until `start()` returns"
    return [
        Row(f"{title}: median", Unit.SECONDS, None, median(bare), median(servicedeck)),
        Row(f"{title}: p95", Unit.SECONDS, Target(1e-3), p95(bare), p95(servicedeck)),
    ]


# -- per-loop overhead ----------------------------------------------------------------------


async def per_loop_bare(loops: int) -> float:
    started = perf()
    for _ in range(loops):
        await noop()
        await asyncio.sleep(0)
    return (perf() - started) / loops


async def per_loop_servicedeck(loops: int, *, listener: bool) -> float:
    service = NoopService(loop_seconds=0)
    if listener:
        service.subscribe(lambda _: None)  # what the console does
    started = perf()
    await service.start(loops=loops)
    return (perf() - started) / loops


def measure_per_loop(scale: Scale) -> list[Row]:
    loops = scale.pick(10_000, 100)
    bare, quiet, watched = asyncio.run(
        interleaved(
            scale.pick(7, 1),
            lambda: per_loop_bare(loops),
            lambda: per_loop_servicedeck(loops, listener=False),
            lambda: per_loop_servicedeck(loops, listener=True),
        )
    )
    title = "time per loop, `loop_seconds=0`, no-op `run_once`"
    return [
        compared(f"{title}, nobody listening", Unit.SECONDS, Target(3, ratio=True), bare, quiet),
        compared(
            f"{title}, a state listener attached",
            Unit.SECONDS,
            Target(5, ratio=True),
            bare,
            watched,
        ),
    ]


# -- schedule accuracy ----------------------------------------------------------------------


def schedule_errors(starts: list[float], interval: float) -> tuple[float, float]:
    """(p95 of |start - ideal start|, drift of the last start), the ideal anchored on the first."""
    deviations = [abs(start - (starts[0] + i * interval)) for i, start in enumerate(starts)]
    return p95(deviations), deviations[-1]


async def schedule_bare(loops: int, interval: float) -> tuple[float, float]:
    starts: list[float] = []
    for _ in range(loops):
        starts.append(perf())
        await asyncio.sleep(interval)  # the naive loop: sleeps a full interval after each loop
    return schedule_errors(starts, interval)


async def schedule_servicedeck(loops: int, interval: float) -> tuple[float, float]:
    service = StampingService(loop_seconds=interval)
    service.starts = []
    await service.start(loops=loops)
    return schedule_errors(service.starts, interval)


def measure_schedule(scale: Scale) -> list[Row]:
    loops, interval = scale.pick(100, 5), 0.02
    bare, servicedeck = asyncio.run(
        interleaved(
            scale.pick(5, 1),
            lambda: schedule_bare(loops, interval),
            lambda: schedule_servicedeck(loops, interval),
        )
    )
    (bare_p95, bare_drift), (p95_, drift) = zip(*bare, strict=True), zip(*servicedeck, strict=True)
    title = f"schedule accuracy, {interval * 1000:g} ms interval, {loops} loops"
    return [
        compared(
            f"{title}: p95 deviation from the ideal schedule",
            Unit.SECONDS,
            Target(2e-3),
            bare_p95,
            p95_,
        ),
        compared(f"{title}: total drift", Unit.SECONDS, Target(2e-3), bare_drift, drift),
    ]


# -- many services: start all, stop all -------------------------------------------------


async def many_bare(count: int) -> tuple[float, float]:
    counter = Counter(goal=count)
    started = perf()
    tasks = [asyncio.create_task(bare_loop(counter.run_once, 60)) for _ in range(count)]
    await counter.reached.wait()
    start_all = perf() - started
    started = perf()
    await cancel_all(tasks)
    return start_all, perf() - started


async def many_servicedeck(count: int) -> tuple[float, float]:
    counter = Counter(goal=count)
    services = counting_services(counter, count, 60)
    started = perf()
    async with anyio.create_task_group() as tg:
        for service in services:
            tg.start_soon(service.start)
        await counter.reached.wait()
        start_all = perf() - started
        started = perf()
        async with anyio.create_task_group() as stoppers:
            for service in services:
                stoppers.start_soon(service.stop)  # block=True, all together
    # The outer group has also waited for every start() to return.
    return start_all, perf() - started


def measure_many(scale: Scale) -> list[Row]:
    count = scale.pick(1000, 20)
    bare, servicedeck = asyncio.run(
        interleaved(scale.pick(5, 1), lambda: many_bare(count), lambda: many_servicedeck(count))
    )
    (bare_start, bare_stop), (start, stop) = zip(*bare, strict=True), zip(*servicedeck, strict=True)
    title = f"{count:,} services (`loop_seconds=60`)"
    return [
        compared(
            f"{title}: start all, until each has run its first loop",
            Unit.SECONDS,
            Target(0.1),
            bare_start,
            start,
        ),
        compared(
            f"{title}: stop all (blocking, together)", Unit.SECONDS, Target(0.1), bare_stop, stop
        ),
    ]


# -- idle services: memory and CPU per wake-up ------------------------------------------

Stop = Callable[[], Awaitable[object]]
Launch = Callable[[Counter, int, float | None], Awaitable[Stop]]

LOOPS_BEFORE_MEASURING_MEMORY = 36
"""Loops each service runs before its memory is measured: past every bounded history
(the last 32 durations), so the figure is an idle service's steady state."""

MEMORY_LOOP_SECONDS = 0.02
"""The interval while memory is measured: short, to get there soon, but longer than a
garbage-collector pause under tracemalloc (or the services would log overruns)."""


async def launch_bare(counter: Counter, count: int, loop_seconds: float | None) -> Stop:
    seconds = 60 if loop_seconds is None else loop_seconds
    tasks = [asyncio.create_task(bare_loop(counter.run_once, seconds)) for _ in range(count)]
    return lambda: cancel_all(tasks)


async def launch_servicedeck(counter: Counter, count: int, loop_seconds: float | None) -> Stop:
    """Services started like the baseline's loops (`asyncio.create_task`): the framework's cost."""
    services = counting_services(counter, count, loop_seconds)
    tasks = [asyncio.create_task(service.start()) for service in services]
    return lambda: cancel_all(tasks)


async def launch_servicedeck_task_group(
    counter: Counter, count: int, loop_seconds: float | None
) -> Stop:
    """Services started in an anyio task group, as `running()` and the controller do."""
    stack = contextlib.AsyncExitStack()
    tg = await stack.enter_async_context(anyio.create_task_group())
    for service in counting_services(counter, count, loop_seconds):
        tg.start_soon(service.start)

    async def stop() -> None:
        tg.cancel_scope.cancel()
        await stack.aclose()

    return stop


async def memory_per_service(launch: Launch, count: int, loops: int) -> float:
    """Traced memory per service (or bare loop), once they have looped `loops` times each."""
    counter = Counter(goal=count * loops)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    stop = await launch(counter, count, MEMORY_LOOP_SECONDS)
    await counter.reached.wait()
    memory = (tracemalloc.get_traced_memory()[0] - before) / count
    tracemalloc.stop()
    await stop()
    return memory


async def cpu_per_wake_up(launch: Launch, count: int, loop_seconds: float) -> float:
    """Process CPU time per loop while `count` services idle for two and a half intervals."""
    counter = Counter(goal=count)
    stop = await launch(counter, count, loop_seconds)
    await counter.reached.wait()  # every one has looped once and is asleep
    counter.count = 0
    started = time.process_time()
    await asyncio.sleep(2.5 * loop_seconds)  # the window is the workload: two rounds of wake-ups
    cpu = time.process_time() - started
    await stop()
    if not counter.count:
        raise RuntimeError(f"no service woke up in {2.5 * loop_seconds!r} s; widen the window")
    return cpu / counter.count


def measure_idle(scale: Scale) -> list[Row]:
    count, loop_seconds, repetitions = scale.pick(1000, 20), scale.pick(1.0, 0.02), scale.pick(3, 1)
    loops = scale.pick(LOOPS_BEFORE_MEASURING_MEMORY, 2)
    # Warm up caches (settings classes, loggers, anyio's backend) outside the measurement.
    asyncio.run(NoopService(loop_seconds=0).start(loops=1))
    bare_memory, memory, in_task_group = asyncio.run(
        interleaved(
            scale.pick(2, 1),  # the same to a few bytes every time
            lambda: memory_per_service(launch_bare, count, loops),
            lambda: memory_per_service(launch_servicedeck, count, loops),
            lambda: memory_per_service(launch_servicedeck_task_group, count, loops),
        )
    )
    bare_cpu, cpu = asyncio.run(
        interleaved(
            repetitions,
            lambda: cpu_per_wake_up(launch_bare, count, loop_seconds),
            lambda: cpu_per_wake_up(launch_servicedeck, count, loop_seconds),
        )
    )
    memory_title = f"{count:,} services: memory per service after {loops} loops"
    return [
        compared(
            f"{memory_title} (tracemalloc)", Unit.BYTES, Target(2, ratio=True), bare_memory, memory
        ),
        compared(
            f"{memory_title}, started in an anyio task group",
            Unit.BYTES,
            None,
            bare_memory,
            in_task_group,
        ),
        compared(
            f"{count:,} idle services (`loop_seconds={loop_seconds:g}`): CPU per wake-up",
            Unit.SECONDS,
            Target(2, ratio=True),
            bare_cpu,
            cpu,
        ),
    ]


# -- a loop that raises every time ------------------------------------------------------


class NullStream:
    """A stream that drops what it is given (after the handler has formatted it)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class FormattingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Formats every record, traceback included, to a null stream; notes the first one."""

    def __init__(self) -> None:
        super().__init__(NullStream())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.first_at: float | None = None
        self.first = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self.first_at is None:
            self.first_at = perf()
            self.first.set()

    def reset(self) -> None:
        self.first_at = None
        self.first = asyncio.Event()


async def failing_bare(loops: int) -> float:
    logger = logging.getLogger("benchmarks.bare")
    started = perf()
    for _ in range(loops):
        try:
            await fail()
        except Exception:
            logger.exception("loop failed")
        await asyncio.sleep(0)
    return (perf() - started) / loops


async def failing_servicedeck(loops: int) -> float:
    service = FailingService(loop_seconds=0)
    started = perf()
    await service.start(loops=loops)
    return (perf() - started) / loops


async def first_failure_bare(handler: FormattingHandler) -> float:
    handler.reset()
    started = perf()
    task = asyncio.create_task(bare_logging_loop(fail, 60, logging.getLogger("benchmarks.bare")))
    await handler.first.wait()
    assert handler.first_at is not None
    await cancel_all([task])
    return handler.first_at - started


async def first_failure_servicedeck(handler: FormattingHandler) -> float:
    handler.reset()
    service = FailingService(loop_seconds=60)
    async with anyio.create_task_group() as tg:
        started = perf()
        tg.start_soon(service.start)
        await handler.first.wait()
        assert handler.first_at is not None
        await service.stop(block=True)
    return handler.first_at - started


def measure_failing(scale: Scale) -> list[Row]:
    handler = FormattingHandler()
    root = logging.getLogger()
    root.addHandler(handler)  # one handler for both sides; both loggers propagate to it
    try:
        loops, repetitions = scale.pick(2000, 20), scale.pick(7, 1)
        bare, servicedeck = asyncio.run(
            interleaved(
                repetitions,
                lambda: failing_bare(loops),
                lambda: failing_servicedeck(loops),
            )
        )
        first_bare, first_servicedeck = asyncio.run(
            interleaved(
                scale.pick(30, 2),
                lambda: first_failure_bare(handler),
                lambda: first_failure_servicedeck(handler),
            )
        )
    finally:
        root.removeHandler(handler)
    title = "a loop that raises every time"
    return [
        compared(
            f"{title}: cost per loop, incl. traceback capture and one formatted log record",
            Unit.SECONDS,
            Target(1.5, ratio=True),
            bare,
            servicedeck,
        ),
        compared(
            f"{title}: time from start to the first logged failure",
            Unit.SECONDS,
            Target(5e-3),
            first_bare,
            first_servicedeck,
        ),
    ]


# -- constructing services ---------------------------------------------------------------

FROM_SETTINGS = None
"""`loop_seconds` for the launchers: none given, so each service reads its settings (env,
`.env`) as `running()` builds them, and keeps its class's interval (60 s)."""


class BareService:
    """The baseline's service: a hand-written class holding its interval and its loop."""

    def __init__(self, counter: Counter, loop_seconds: float | None = None) -> None:
        self.counter = counter
        self.loop_seconds = 60 if loop_seconds is None else loop_seconds

    async def loop(self) -> None:
        await bare_loop(self.counter.run_once, self.loop_seconds)


async def launch_bare_services(counter: Counter, count: int, loop_seconds: float | None) -> Stop:
    services = [BareService(counter, loop_seconds) for _ in range(count)]
    tasks = [asyncio.create_task(service.loop()) for service in services]
    return lambda: cancel_all(tasks)


async def construct_bare(count: int) -> float:
    counter = Counter()
    started = perf()
    services = [BareService(counter) for _ in range(count)]
    elapsed = perf() - started
    del services
    return elapsed


async def construct_servicedeck(count: int) -> float:
    started = perf()
    services = counting_services(Counter(), count, FROM_SETTINGS)
    elapsed = perf() - started
    del services
    return elapsed


async def until_each_ran_once(launch: Launch, count: int) -> float:
    """Seconds to build `count` services, start them and see each run its first loop."""
    counter = Counter(goal=count)
    started = perf()
    stop = await launch(counter, count, FROM_SETTINGS)
    await counter.reached.wait()
    elapsed = perf() - started
    await stop()
    return elapsed


async def peak_memory_per_service(launch: Launch, count: int) -> float:
    """Peak traced memory per service while building, starting and running them once."""
    counter = Counter(goal=count)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    stop = await launch(counter, count, FROM_SETTINGS)
    await counter.reached.wait()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await stop()
    return (peak - before) / count


_batches = itertools.count()


async def peak_memory_of_distinct_classes(count: int) -> float:
    """`peak_memory_per_service` for `count` services of as many classes, as a services
    file defines them (the classes made first: they are the user's code, not its cost)."""
    # New names every time: a process builds its services once, and what is kept per
    # name (a logger, a settings model) would be found made by the previous repetition.
    batch = next(_batches)
    classes = [type(f"Distinct{batch}x{i:04d}", (CountingService,), {}) for i in range(count)]
    counter = Counter(goal=count)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    services = [cls() for cls in classes]
    for service in services:
        service.counter = counter
    tasks = [asyncio.create_task(service.start()) for service in services]
    await counter.reached.wait()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await cancel_all(tasks)
    return (peak - before) / count


def warm_up_construction() -> None:
    """Pay the one-off costs (pydantic-settings' import, the settings model, anyio's
    backend, imported by the first start) up front."""
    asyncio.run(until_each_ran_once(launch_servicedeck, 1))


def measure_construct(scale: Scale) -> list[Row]:
    count = scale.pick(1000, 20)
    warm_up_construction()
    bare, servicedeck = asyncio.run(
        interleaved(
            scale.pick(9, 1), lambda: construct_bare(count), lambda: construct_servicedeck(count)
        )
    )
    return [
        compared(
            f"constructing {count:,} services (settings read from the environment)",
            Unit.SECONDS,
            Target(0.05),
            bare,
            servicedeck,
        )
    ]


def measure_construct_start(scale: Scale) -> list[Row]:
    count = scale.pick(1000, 20)
    warm_up_construction()
    bare, servicedeck = asyncio.run(
        interleaved(
            scale.pick(7, 1),
            lambda: until_each_ran_once(launch_bare_services, count),
            # Started in a task group, as running() and the controller start them.
            lambda: until_each_ran_once(launch_servicedeck_task_group, count),
        )
    )
    bare_peak, peak, peak_in_task_group, peak_of_classes = asyncio.run(
        interleaved(
            scale.pick(3, 1),  # the same to a few bytes every time
            lambda: peak_memory_per_service(launch_bare_services, count),
            lambda: peak_memory_per_service(launch_servicedeck, count),
            lambda: peak_memory_per_service(launch_servicedeck_task_group, count),
            lambda: peak_memory_of_distinct_classes(count),
        )
    )
    title = f"{count:,} services constructed, started and run once"
    return [
        compared(f"{title} (in an anyio task group)", Unit.SECONDS, Target(0.1), bare, servicedeck),
        compared(
            f"{title}: peak memory growth per service (tracemalloc)",
            Unit.BYTES,
            Target(2, ratio=True),
            bare_peak,
            peak,
        ),
        compared(
            f"{title}: peak memory growth per service, in an anyio task group",
            Unit.BYTES,
            None,
            bare_peak,
            peak_in_task_group,
        ),
        compared(
            f"{title}: peak memory growth per service, each of its own class (a services file)",
            Unit.BYTES,
            Target(2, ratio=True),
            bare_peak,
            peak_of_classes,
        ),
    ]


# -- the await stack of a hung service, refreshed once a second -----------------------------

STACK_REFRESH_HZ = 1.0
"""How often a console refreshes the await stack of a hung loop it shows."""


async def hung_deeper(depth: int, blocker: anyio.Event) -> None:
    """A chain of `depth` user frames down to an await that never returns."""
    if depth:
        await hung_deeper(depth - 1, blocker)
    else:
        await blocker.wait()


class HungService(LoopService):
    """Its loop hangs ten calls deep, beside a child task that hangs too (a task group)."""

    async def run_once(self) -> None:
        blocker = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(hung_deeper, 10, blocker)
            await hung_deeper(10, blocker)


def asyncio_stack(name: str) -> str:
    """The baseline: what asyncio offers by hand, the task found by name and its
    `get_stack()` formatted (its own frame only: asyncio does not follow the awaits)."""
    task = next(t for t in asyncio.all_tasks() if t.get_name() == name)
    frames = [(frame, frame.f_lineno) for frame in task.get_stack()]
    return "".join(traceback.StackSummary.extract(frames).format())


async def stack_refresh_cpu(
    count: int, captures: int, repetitions: int
) -> tuple[list[float], list[float]]:
    """CPU seconds per capture of a hung service's stack among `count` idle ones, each
    time: by asyncio's `get_stack()` (the baseline), and by `where()`."""
    from servicedeck.control import wait_until
    from servicedeck.controller import ServiceController

    idle = [type(f"Idle{i}", (NoopService,), {"loop_seconds": 1.0}) for i in range(count)]
    classes: list[type[LoopService]] = [HungService, *idle]
    bare: list[float] = []
    costs: list[float] = []
    async with ServiceController(classes, capture_logs=False, stall_threshold=None) as controller:
        await controller.start_enabled()

        def settled() -> bool:
            snaps = controller.snapshots()
            hung, others = snaps[0], snaps[1:]
            asleep = all(s.status.state is ServiceState.SLEEPING for s in others)
            return hung.status.loop_started_at is not None and asleep

        await wait_until(controller, settled, timeout=30)
        stack = await controller.where("HungService")
        if stack is None or not stack.children or stack.innermost_user_frame is None:
            raise RuntimeError(f"the hung service's stack was not captured: {stack!r}")
        for _ in range(repetitions):
            gc.collect()
            started = time.process_time()
            for _ in range(captures):
                asyncio_stack("servicedeck:HungService")
                await asyncio.sleep(0)
            bare.append((time.process_time() - started) / captures)
            gc.collect()
            started = time.process_time()
            for _ in range(captures):
                await controller.where("HungService")
            costs.append((time.process_time() - started) / captures)
        await controller.kill("HungService")
    return bare, costs


def measure_stack_refresh(scale: Scale) -> list[Row]:
    count, captures = scale.pick(500, 10), scale.pick(200, 5)
    bare, costs = asyncio.run(stack_refresh_cpu(count, captures, scale.pick(7, 1)))
    return [
        compared(
            f"await-stack refresh of a hung service (10 frames deep, and a child task) among "
            f"{count:,} idle ones, once a second: CPU (baseline: asyncio's `Task.get_stack()`)",
            Unit.FRACTION_OF_A_CORE,
            Target(0.05),
            [cost * STACK_REFRESH_HZ for cost in bare],
            [cost * STACK_REFRESH_HZ for cost in costs],
        )
    ]


WORKLOADS = [
    Workload("stop", measure_stop),
    Workload("per-loop", measure_per_loop),
    Workload("schedule", measure_schedule),
    Workload("many", measure_many),
    Workload("idle", measure_idle),
    Workload("failing", measure_failing),
    Workload("construct", measure_construct),
    Workload("construct-start", measure_construct_start),
    Workload("await-stack", measure_stack_refresh),
]
