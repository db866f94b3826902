"""Control-endpoint workloads: the services served over a Unix socket, next to the same
services with no endpoint (the baseline), in the same process and run.

- `endpoint`: N services (500) looping every 50 ms. The serving process's CPU with the
  endpoint and one client following its event stream (`RemoteControl`, in another
  process, as an attached console does) minus its CPU with no endpoint: what serving
  costs. Then a client that sends `GET /v1/events` and never reads: the memory the
  serving process holds for it after a window (tracemalloc), next to a client that
  reads; and the event loop's lag meanwhile (what the services wait for).
- `endpoint-large`: 1,000 services looping every second: `GET /v1/services` from a
  client on the socket (request to the last byte of the answer), next to building the
  same snapshots' JSON in process.

The client processes are plain Python on the socket: they run on the other core, so the
figures are the serving process's own.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from servicedeck.control.endpoint import ControlEndpoint
from servicedeck.control.server import serve_control
from servicedeck.controller import ServiceController

from ._harness import Row, Scale, Target, Unit, Workload, median, p95
from .console import LagProbe, make_services, sample_window

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
    async with RemoteControl(sys.argv[1]) as remote:
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


def follower(path: str) -> subprocess.Popen[str]:
    """A `RemoteControl` following the endpoint from another process."""
    return subprocess.Popen(
        [sys.executable, "-c", FOLLOWER, f"unix:{path}"],
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


async def busy(count: int, samples: int, sample: float, warm_up: float, serve: bool) -> list[float]:
    """CPU fractions of the serving process, with (or without) the endpoint and a follower."""
    controller = ServiceController(make_services(count, BUSY_INTERVAL), propagate_logs=False)
    async with controller:
        await controller.start_enabled()
        if not serve:
            await asyncio.sleep(warm_up)
            window = await sample_window(samples, sample, lambda: 0)
            await controller.stop_all(5.0)
            return window.cpu
        with tempfile.TemporaryDirectory(prefix="sd-") as folder:
            async with served(controller, folder) as (endpoint, path):
                client = follower(path)
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
    alone: list[float] = []
    serving: list[float] = []
    for repetition in range(scale.pick(2, 1)):
        for serve in (False, True)[:: -1 if repetition % 2 else 1]:
            cpu = asyncio.run(busy(count, samples, sample, warm_up, serve))
            (serving if serve else alone).extend(cpu)
    window = scale.pick(5.0, 0.2)
    reading_held, reading_lag = asyncio.run(held_for_a_client(count, window, warm_up, True))
    stuck_held, stuck_lag = asyncio.run(held_for_a_client(count, window, warm_up, False))
    title = f"endpoint, {count:,} services looping every 50 ms"
    cpu_alone = median(alone)
    return [
        Row(
            f"{title}, one client following: the serving process's extra CPU",
            Unit.FRACTION_OF_A_CORE,
            Target(0.10),
            cpu_alone,
            max(median(serving) - cpu_alone, 0.0),
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


WORKLOADS = [
    Workload("endpoint", measure_busy),
    Workload("endpoint-large", measure_large),
]
