"""Measure what the event-loop watchdog costs when nothing stalls (not a test; prints).

    python -m tests.reliability.measure_watchdog [--services 20] [--seconds 10] [--runs 3]

A `ServiceController` with idle services (one loop an hour), entered for `--seconds`,
with the watchdog (the default, `stall_threshold=0.5`) and without it (`None`): the
process's CPU time over that time, as a share of one core.
"""

from __future__ import annotations

import argparse
import time

import anyio

from servicedeck import LoopService
from servicedeck.controller import ServiceController


def idle_services(count: int) -> list[type[LoopService]]:
    async def run_once(self: LoopService) -> None:
        return None

    return [
        type(f"Idle{i:03d}", (LoopService,), {"loop_seconds": 3600, "run_once": run_once})
        for i in range(count)
    ]


async def cpu_share(count: int, seconds: float, threshold: float | None) -> float:
    controller = ServiceController(
        idle_services(count), propagate_logs=False, stall_threshold=threshold
    )
    async with controller:
        await controller.start_enabled()
        await anyio.sleep(0.5)  # every service has run its first loop and sleeps
        cpu = time.process_time()
        await anyio.sleep(seconds)
        return (time.process_time() - cpu) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.services} idle services, {args.seconds:g} s, CPU as a share of one core:")
    for run in range(1, args.runs + 1):
        on = anyio.run(cpu_share, args.services, args.seconds, 0.5)
        off = anyio.run(cpu_share, args.services, args.seconds, None)
        print(f"  run {run}: with the watchdog {on:.2%}, without {off:.2%}")


if __name__ == "__main__":
    main()
