"""servicedeck's benchmark suite (issue 5): each figure next to a baseline from the same run.

Run it from the repository root::

    .venv/bin/python -m tests.benchmarks          # full run (1.5 min); updates docs/performance.md
    .venv/bin/python -m tests.benchmarks --quick  # smoke run (seconds); scaled down, writes nothing
    .venv/bin/python -m tests.benchmarks --only stop,per-loop --no-write

Not part of the test run, except `test_smoke.py`, which runs `--quick` and asserts no
timing. Keep this module free of imports: pytest imports it to collect that test, and
the workload modules define service classes that must not leak into the test process.
"""
