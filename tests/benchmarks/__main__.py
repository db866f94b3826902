"""`python -m tests.benchmarks`: measure every workload, print the table, write the report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import console, endpoint, framework, reload, replicas, startup
from ._harness import Scale, Workload, format_table, summary, write_report

WORKLOADS: list[Workload] = [
    *framework.WORKLOADS,
    *startup.WORKLOADS,
    *console.WORKLOADS,
    *endpoint.WORKLOADS,
    *replicas.WORKLOADS,
    *reload.WORKLOADS,
]
REPORT = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
COMMAND = ".venv/bin/python -m tests.benchmarks"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    keys = [w.key for w in WORKLOADS]
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Measure servicedeck against hand-written asyncio loops and print one table.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: scaled-down workloads, no verdicts, nothing written (a few seconds)",
    )
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help=f"comma-separated workloads to run, from: {', '.join(keys)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write the results into this Markdown file (default: docs/performance.md, "
        "on a full run of every workload only)",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    if args.only:
        wanted = [key.strip() for key in args.only.split(",") if key.strip()]
        unknown = [key for key in wanted if key not in keys]
        if unknown or not wanted:
            bad = ", ".join(unknown) or args.only
            parser.error(f"unknown workload {bad!r}; choose from {', '.join(keys)}")
        args.only = wanted
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    scale = Scale(quick=args.quick)
    selected = [w for w in WORKLOADS if not args.only or w.key in args.only]
    rows = []
    for workload in selected:
        print(f"measuring {workload.key} ...", end=" ", file=sys.stderr, flush=True)
        started = time.perf_counter()
        rows.extend(workload.run(scale))
        print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    if scale.quick:
        print(
            "Quick smoke run: scaled-down workloads; the figures mean nothing, nothing is judged.\n"
        )
    print(format_table(rows, judge=not scale.quick))
    print(f"\n{summary(rows, judge=not scale.quick)}.")

    output = args.output
    if output is None and not (args.quick or args.only or args.no_write):
        output = REPORT
    if output is not None and not args.no_write:
        write_report(output, rows, COMMAND)
        print(f"results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
