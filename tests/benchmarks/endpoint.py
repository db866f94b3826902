"""Control-endpoint workloads: the services served over a Unix socket, next to the same
services with no endpoint (the baseline), in the same process and run.

- `endpoint`: N services (500) looping every 50 ms. The serving process's CPU with the
  endpoint and one client following its event stream (`RemoteControl`, in another
  process) minus its CPU with no endpoint: what serving costs, for a client that takes
  the changes as an attached console does (every 0.5 s) and for one that takes every
  change the endpoint sends (each service every 0.25 s). Then a client that sends
  `GET /v1/events` and never reads: the memory the serving process holds for it after a
  window (tracemalloc), next to a client that reads; and the event loop's lag meanwhile
  (what the services wait for).
- `endpoint-large`: 1,000 services looping every second: `GET /v1/services` from a
  client on the socket (request to the last byte of the answer), next to building the
  same snapshots' JSON in process.
- `attach`: a `servicedeck run` process of N services (500) looping every 50 ms, and the
  console attached to it here (`RemoteControl`): this process's CPU (all of it is the
  attached console's: the services run in the other), next to a `RemoteControl`
  following alone; the frames that redraw rows a second; and a key press: `n` on a
  paused service, from the key to the first frame that shows the stepped loop's count
  (the command applied there, its answer drawn here), next to `await remote.step()`
  with no app.

The client processes are plain Python on the socket: they run on the other core, so the
figures are the serving process's own.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from servicedeck import ServiceState
from servicedeck.control.endpoint import ControlEndpoint
from servicedeck.control.remote import RemoteControl
from servicedeck.control.server import serve_control
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

from ._harness import Row, Scale, Target, Unit, Workload, median, p95
from .console import (
    SIZE,
    LagProbe,
    MeasuredApp,
    jitter,
    make_services,
    sample_window,
    step_presses,
)

__all__ = ["WORKLOADS"]

perf = time.perf_counter
BUSY_INTERVAL = 0.05
LARGE_INTERVAL = 1.0
REPO = Path(__file__).resolve().parents[2]
DEADLINE = 20.0

FOLLOWER = """\
import sys, anyio
from servicedeck.control.remote import RemoteControl

async def main():
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else None
    async with RemoteControl(sys.argv[1], events_interval=interval) as remote:
        print("following", len(remote.names), flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (polling the benchmark's own state, 10 ms) until `condition()`, or fail."""
    deadline = perf() + DEADLINE
    while not condition():
        if perf() > deadline:
            raise TimeoutError(f"benchmark: {what} did not happen within {DEADLINE:g} s")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def served(
    controller: ServiceController, folder: str
) -> AsyncIterator[tuple[ControlEndpoint, str]]:
    endpoint = ControlEndpoint(controller)
    async with serve_control(controller, f"unix:{folder}/s.sock", endpoint=endpoint) as server:
        yield endpoint, server.address.path


def follower(path: str, interval: float | None = None) -> subprocess.Popen[str]:
    """A `RemoteControl` following the endpoint from another process, taking the changes
    at most once per `interval` seconds (None: as often as the endpoint sends them)."""
    extra = [] if interval is None else [repr(interval)]
    return subprocess.Popen(
        [sys.executable, "-c", FOLLOWER, f"unix:{path}", *extra],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def stuck_client(path: str) -> socket.socket:
    """A client that asks for the event stream and never reads a byte of it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(path)
    sock.sendall(b"GET /v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
    return sock


# -- 500 services looping every 50 ms ----------------------------------------------------


ALONE = "alone"
ATTACHED = "attached"
FULL_RATE = "full rate"
FOLLOWERS: dict[str, float | None] = {
    ATTACHED: ServiceDeckApp.REFRESH_SECONDS,  # what `servicedeck attach` asks for
    FULL_RATE: None,  # every change the endpoint sends (each service every 0.25 s)
}


async def busy(count: int, samples: int, sample: float, warm_up: float, side: str) -> list[float]:
    """CPU fractions of the serving process, with no endpoint (`ALONE`), or serving one
    follower (`ATTACHED`: at an attached console's interval; `FULL_RATE`)."""
    controller = ServiceController(make_services(count, BUSY_INTERVAL), propagate_logs=False)
    async with controller:
        await controller.start_enabled()
        if side == ALONE:
            await asyncio.sleep(warm_up)
            window = await sample_window(samples, sample, lambda: 0)
            await controller.stop_all(5.0)
            return window.cpu
        with tempfile.TemporaryDirectory(prefix="sd-") as folder:
            async with served(controller, folder) as (endpoint, path):
                client = follower(path, FOLLOWERS[side])
                try:
                    await until(lambda: endpoint.feed.listeners == 1, "the follower connecting")
                    await asyncio.sleep(warm_up)
                    window = await sample_window(samples, sample, lambda: 0)
                finally:
                    client.terminate()
                    client.wait(10)
        await controller.stop_all(5.0)
    return window.cpu


async def held_for_a_client(
    count: int, window: float, warm_up: float, reads: bool
) -> tuple[float, list[float]]:
    """Bytes the serving process holds after `window` s of one client (reading, or not),
    and the event loop's lag meanwhile."""
    controller = ServiceController(make_services(count, BUSY_INTERVAL), propagate_logs=False)
    async with controller:
        await controller.start_enabled()
        with tempfile.TemporaryDirectory(prefix="sd-") as folder:
            async with served(controller, folder) as (endpoint, path):
                if reads:
                    client: subprocess.Popen[str] | socket.socket = follower(path)
                else:
                    client = stuck_client(path)
                try:
                    await until(lambda: endpoint.feed.listeners == 1, "the client connecting")
                    await asyncio.sleep(warm_up)
                    tracemalloc.start()
                    before = tracemalloc.get_traced_memory()[0]
                    with LagProbe().running() as probe:
                        await asyncio.sleep(window)  # the window is the workload
                    held = tracemalloc.get_traced_memory()[0] - before
                    tracemalloc.stop()
                finally:
                    if isinstance(client, socket.socket):
                        client.close()
                    else:
                        client.terminate()
                        client.wait(10)
        await controller.stop_all(5.0)
    return max(held, 0), probe.lateness


def measure_busy(scale: Scale) -> list[Row]:
    count = scale.pick(500, 30)
    samples, sample = scale.pick(10, 2), scale.pick(1.0, 0.1)
    warm_up = scale.pick(1.0, 0.1)
    cpu: dict[str, list[float]] = {ALONE: [], ATTACHED: [], FULL_RATE: []}
    for repetition in range(scale.pick(2, 1)):
        for side in list(cpu)[:: -1 if repetition % 2 else 1]:
            cpu[side].extend(asyncio.run(busy(count, samples, sample, warm_up, side)))
    window = scale.pick(5.0, 0.2)
    reading_held, reading_lag = asyncio.run(held_for_a_client(count, window, warm_up, True))
    stuck_held, stuck_lag = asyncio.run(held_for_a_client(count, window, warm_up, False))
    title = f"endpoint, {count:,} services looping every 50 ms"
    cpu_alone = median(cpu[ALONE])
    return [
        Row(
            f"{title}, one console attached (taking the changes every "
            f"{FOLLOWERS[ATTACHED]:g} s, as `servicedeck attach` asks): the serving process's "
            "extra CPU (baseline: the services alone)",
            Unit.FRACTION_OF_A_CORE,
            Target(0.10),
            cpu_alone,
            max(median(cpu[ATTACHED]) - cpu_alone, 0.0),
        ),
        Row(
            f"{title}, one client following at the endpoint's full rate (each service "
            "every 0.25 s): the serving process's extra CPU",
            Unit.FRACTION_OF_A_CORE,
            None,
            cpu_alone,
            max(median(cpu[FULL_RATE]) - cpu_alone, 0.0),
        ),
        Row(
            f"{title}: memory held for a client that never reads, after {window:g} s "
            "(baseline: a client that reads)",
            Unit.BYTES,
            # At most one pending update per service (~1.6 KB each) plus what is in flight.
            Target(4e6),
            reading_held,
            stuck_held,
        ),
        Row(
            f"{title}: event-loop lag p95 with a client that never reads "
            "(baseline: one that reads)",
            Unit.SECONDS,
            None,
            p95(reading_lag),
            p95(stuck_lag),
        ),
    ]


# -- 1,000 services: GET /v1/services ------------------------------------------------------


async def large(count: int, requests: int) -> tuple[list[float], list[float]]:
    controller = ServiceController(make_services(count, LARGE_INTERVAL), propagate_logs=False)
    in_process: list[float] = []
    over_socket: list[float] = []
    async with controller:
        await controller.start_enabled()
        with tempfile.TemporaryDirectory(prefix="sd-") as folder:
            async with served(controller, folder) as (_, path):
                transport = httpx.AsyncHTTPTransport(uds=path)
                async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                    await client.get("/v1/services")  # the connection, and a warm cache
                    for _ in range(requests):
                        started = perf()
                        [snap.to_json() for snap in controller.snapshots()]
                        in_process.append(perf() - started)
                        started = perf()
                        response = await client.get("/v1/services")
                        over_socket.append(perf() - started)
                        assert response.status_code == 200
        await controller.stop_all(5.0)
    return in_process, over_socket


def measure_large(scale: Scale) -> list[Row]:
    count = scale.pick(1000, 30)
    in_process, over_socket = asyncio.run(large(count, scale.pick(30, 3)))
    title = f"endpoint, {count:,} services: `GET /v1/services` over the Unix socket"
    return [
        Row(
            f"{title}, median (baseline: their snapshots' JSON in process)",
            Unit.SECONDS,
            Target(0.050),
            median(in_process),
            median(over_socket),
        ),
        Row(f"{title}, p95", Unit.SECONDS, None, p95(in_process), p95(over_socket)),
    ]


# -- the console attached to a `servicedeck run` -------------------------------------------

SERVICES_FILE = """\
from servicedeck import LoopService


async def run_once(self):
    return None


for i in range({count}):
    name = f"Svc{{i:04d}}"
    body = {{"loop_seconds": {interval}, "run_once": run_once, "__module__": __name__}}
    globals()[name] = type(name, (LoopService,), body)
"""


@asynccontextmanager
async def a_run(count: int, folder: str) -> AsyncIterator[str]:
    """A `servicedeck run` of `count` services looping every 50 ms; yields its address."""
    services = Path(folder) / "many.py"
    services.write_text(SERVICES_FILE.format(count=count, interval=BUSY_INTERVAL))
    address = f"unix:{folder}/s.sock"
    env = dict(os.environ, SERVICEDECK_STATE_DIR=f"{folder}/state", SERVICEDECK_LOG_LEVEL="ERROR")
    process = await anyio.open_process(
        [sys.executable, "-m", "servicedeck", "run", str(services), "--control", address],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await until(lambda: Path(folder, "s.sock").exists(), "the run serving")
        yield address
    finally:
        process.terminate()
        with anyio.fail_after(30):
            await process.wait()


@dataclass
class Attached:
    cpu: list[float]
    rates: list[float]
    latencies: list[float]


async def attached(
    count: int, samples: int, sample: float, warm_up: float, presses: int, app: bool
) -> Attached:
    target = "Svc0003"
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="sd-") as folder:
        async with a_run(count, folder) as address:
            # As `servicedeck attach` makes it: the changes as often as the console shows them.
            remote = RemoteControl(address, events_interval=ServiceDeckApp.REFRESH_SECONDS)
            if not app:
                changes = 0

                def heard(_: str) -> None:
                    nonlocal changes
                    changes += 1

                remote.subscribe(heard)
                async with remote:
                    await until(lambda: len(remote.names) == count, "the follower connecting")
                    await asyncio.sleep(warm_up)
                    window = await sample_window(samples, sample, lambda: changes)
                    await remote.pause(target)
                    latencies = []
                    for _ in range(presses):
                        await asyncio.sleep(jitter(rng))
                        started = perf()
                        await remote.step(target)
                        latencies.append(perf() - started)
                return Attached(window.cpu, window.rates, latencies)
            console = MeasuredApp(remote)  # type: ignore[arg-type]
            async with console.run_test(size=SIZE) as pilot:
                await console.opened()
                await until(lambda: len(remote.names) == count, "the console connecting")
                await asyncio.sleep(warm_up)
                window = await sample_window(samples, sample, lambda: console.table_frames)
                table = console.measured
                await remote.pause(target)
                await until(
                    lambda: remote.snapshot(target).status.state is ServiceState.PAUSED,
                    "the service pausing",
                )
                table.move_cursor(target)
                await pilot.pause()
                latencies = await step_presses(console, target, presses, rng)
                await pilot.press("q")
            return Attached(window.cpu, window.rates, latencies)


def measure_attach(scale: Scale) -> list[Row]:
    count = scale.pick(500, 30)
    # Samples longer than the attached console's refresh (0.5 s), even in a quick run: a
    # shorter window may see no refresh, nor any change its client takes.
    plan = (count, scale.pick(10, 2), scale.pick(1.0, 0.6), scale.pick(1.0, 0.2), scale.pick(60, 3))
    alone = asyncio.run(attached(*plan, app=False))
    console = asyncio.run(attached(*plan, app=True))
    title = f"attached console, {count:,} services looping every 50 ms (in a `servicedeck run`)"
    return [
        Row(
            f"{title}: its process's CPU (baseline: a RemoteControl following alone)",
            Unit.FRACTION_OF_A_CORE,
            Target(0.60),  # the local console's own CPU target
            median(alone.cpu),
            median(console.cpu),
        ),
        Row(
            f"{title}: table refreshes (frames that redraw rows; baseline: the changes a "
            "RemoteControl hears a second)",
            Unit.PER_SECOND,
            Target(5),
            median(alone.rates),
            median(console.rates),
        ),
        Row(
            f"{title}: key `n` over the Unix socket to its effect on screen, p95 "
            "(baseline: `await remote.step()`)",
            Unit.SECONDS,
            Target(0.050),
            p95(alone.latencies),
            p95(console.latencies),
        ),
    ]


WORKLOADS = [
    Workload("endpoint", measure_busy),
    Workload("endpoint-large", measure_large),
    Workload("attach", measure_attach),
]
