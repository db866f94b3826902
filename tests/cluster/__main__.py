"""`python -m tests.cluster`: the full chaos run (minutes), beyond the CI variant.

Three replicas per engine at CI timings (lease 3 s, renew 1 s, deadline 2 s, poll
0.2 s); on PostgreSQL 50 failovers, on Redis and SQLite 10 each, cycling kill -9,
SIGSTOP past the lease and SIGTERM; then the engine stopped for 30 s. Prints each
engine's figures and every broken promise; exits 1 if there was one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.cluster.harness import CI_TIMINGS, Cluster, make_engine

FAILOVERS = {"postgres": 50, "redis": 10, "sqlite": 10}


def run_engine(name: str, failovers: int, outage: float) -> list[str]:
    with tempfile.TemporaryDirectory(prefix=f"servicedeck-chaos-{name}-") as folder:
        root = Path(folder)
        engine = make_engine(name, root)
        cluster = Cluster(engine, CI_TIMINGS, root)
        began = time.monotonic()
        try:
            for _ in range(3):
                cluster.start_replica()
            faults = (cluster.kill_leader, cluster.stop_leader, cluster.term_leader)
            for number in range(failovers):
                failover = faults[number % len(faults)]()
                print(
                    f"  {name} #{number + 1} {failover.kind}: {failover.seconds:.2f} s", flush=True
                )
            if outage:
                result = cluster.outage(outage)
                print(
                    f"  {name} outage {outage:g} s: stepped down after {result.step_down:.2f} s, "
                    f"ran again {result.recovery:.2f} s after its return",
                    flush=True,
                )
        finally:
            cluster.close()
        try:
            problems = cluster.check()
            report(cluster, time.monotonic() - began)
        finally:
            engine.close()
    return [f"{name}: {problem}" for problem in problems]


def report(cluster: Cluster, seconds: float) -> None:
    print(f"\n{cluster.engine.name}: {len(cluster.failovers)} failovers in {seconds:.0f} s")
    print("| fault | count | median | p95 | max | bound |")
    print("|---|---|---|---|---|---|")
    kinds = sorted({f.kind for f in cluster.failovers})
    for kind in kinds:
        times = sorted(f.seconds for f in cluster.failovers if f.kind == kind)
        p95 = times[max(int(0.95 * len(times) + 0.999) - 1, 0)]
        bound = next(f.bound for f in cluster.failovers if f.kind == kind)
        print(
            f"| {kind} | {len(times)} | {statistics.median(times):.2f} s | {p95:.2f} s | "
            f"{times[-1]:.2f} s | {bound:.2f} s |"
        )
    runs = cluster.engine.runs()
    print(
        f"runs recorded through the fence: {len(runs)}, epochs {min(r.epoch for r in runs)}"
        f"..{max(r.epoch for r in runs)}; stale writes refused: {cluster.stale}"
    )
    for o in cluster.outages:
        print(
            f"outage {o.seconds:g} s: stepped down {o.step_down:.2f} s in (bound "
            f"{o.step_down_bound:.2f}), {o.ran_meanwhile} runs meanwhile, first run "
            f"{o.recovery:.2f} s after the return (bound {o.recovery_bound:.2f}), "
            f"{o.leaders_after} leader(s) after it"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    parser.add_argument("--engines", default="postgres,redis,sqlite", help="comma-separated")
    parser.add_argument("--failovers", type=int, help="per engine (default 50 / 10 / 10)")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds (0: none)")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for name in args.engines.split(","):
        count = args.failovers if args.failovers is not None else FAILOVERS[name]
        print(f"{name}: {count} failovers, then a {args.outage:g} s outage", flush=True)
        problems += run_engine(name, count, args.outage)
    print()
    for problem in problems:
        print(f"FAIL {problem}")
    print("every promise held" if not problems else f"{len(problems)} broken promise(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
