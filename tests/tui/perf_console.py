"""Measure the console with hundreds of live services (not a test; prints numbers).

    python -m tests.tui.perf_console [--services 500] [--seconds 10] [--large 1000]

Headless at 160x45, in this process, on the real clock:

- busy: N services each looping every 50 ms for `--seconds`; the process's CPU with the
  console open, minus the CPU of the same services run by a bare controller for the
  same time (the services' own cost), gives the console's own CPU. Also: table
  updates a second, and rows rendered a second.
- key: the time from pressing `n` on a service to the stepped loop's row being redrawn
  (p50 / p95 over 30 presses, while the N services keep looping).
- large: open time with `--large` services (until the first table paint), and the time
  for a `/` filter to show its result.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from servicedeck import LoopService
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

SIZE = (160, 45)


def make_services(count: int, interval: float) -> list[type[LoopService]]:
    """`count` no-op loop services named Svc0000, Svc0001, ..."""

    async def run_once(self: LoopService) -> None:
        return None

    return [
        type(f"Svc{i:04d}", (LoopService,), {"loop_seconds": interval, "run_once": run_once})
        for i in range(count)
    ]


async def _until(condition: object) -> None:
    deadline = time.perf_counter() + 10.0
    while not condition():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.0005)


async def services_alone(count: int, seconds: float) -> float:
    """CPU seconds the services cost without a console."""
    controller = ServiceController(make_services(count, 0.05), propagate_logs=False)
    async with controller:
        controller.start_enabled()
        await asyncio.sleep(1.0)  # let them all reach their schedule
        cpu = time.process_time()
        await asyncio.sleep(seconds)
        return time.process_time() - cpu


async def busy(count: int, seconds: float) -> dict[str, float]:
    """The console open on `count` services looping every 50 ms."""
    app = ServiceDeckApp(ServiceController(make_services(count, 0.05), propagate_logs=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await asyncio.sleep(1.0)
        table = app.table
        cpu, updates, repaints = time.process_time(), table.updates, table.repaints
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu
        result = {
            "cpu": cpu / seconds,
            "updates_per_s": (table.updates - updates) / seconds,
            "rows_rendered_per_s": (table.repaints - repaints) / seconds,
        }
        latencies = []
        names = table.visible_names
        for i in range(30):
            name = names[i % 20]
            table.move_cursor(name)
            await pilot.pause()
            before = app.controller.snapshot(name).status.loop_count
            start = time.perf_counter()
            # As a terminal sends it: Pilot.press() would also wait for an idle screen.
            app.simulate_key("n")

            def shown(name: str = name, before: int = before) -> bool:
                row = table._rows[name]
                return row.snapshot.status.loop_count > before and row.cache_key[:1] == (
                    row.version,
                )

            await _until(shown)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        result["key_p50"] = statistics.median(latencies)
        result["key_p95"] = latencies[int(len(latencies) * 0.95) - 1]
    return result


async def large(count: int) -> dict[str, float]:
    """Open time and filter response with `count` services (all running, 1 s interval)."""
    start = time.perf_counter()
    app = ServiceDeckApp(ServiceController(make_services(count, 1.0), propagate_logs=False))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await _until(lambda: app.table.repaints > 0)
        opened = time.perf_counter() - start
        await pilot.press("slash")
        repaints = app.table.repaints
        start = time.perf_counter()
        app.simulate_key("9")
        app.simulate_key("9")
        await _until(
            lambda: app.table.visible_names[0] == "Svc0099" and app.table.repaints > repaints
        )
        filtered = time.perf_counter() - start
        await pilot.press("escape")
    return {"open": opened, "filter": filtered}


async def main(count: int, seconds: float, large_count: int) -> None:
    alone = await services_alone(count, seconds)
    result = await busy(count, seconds)
    own = result["cpu"] - alone / seconds
    print(f"{count} services looping every 50 ms, {seconds:g} s, 160x45 headless:")
    print(f"  services alone: {alone / seconds:.0%} of a core")
    print(f"  with the console: {result['cpu']:.0%} of a core -> console's own ~{own:.0%}")
    print(f"  table updates: {result['updates_per_s']:.1f}/s")
    print(f"  rows rendered: {result['rows_rendered_per_s']:.0f}/s")
    p50, p95 = result["key_p50"] * 1e3, result["key_p95"] * 1e3
    print(f"  key n to its row redrawn: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    big = await large(large_count)
    print(f"{large_count} services: open {big['open']:.2f} s")
    print(f"  '/' filter shown in {big['filter'] * 1e3:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--large", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.services, args.seconds, args.large))
