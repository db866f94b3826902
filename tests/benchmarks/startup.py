"""Start-up workloads: importing the framework, and the command line.

Each figure comes from a fresh interpreter (a subprocess), as a user would see it: the
import's own time, measured inside it, and the commands' wall time, from spawning the
process until it has exited, next to a bare interpreter doing the least.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._harness import Row, Scale, Target, Unit, Workload, compared, median

__all__ = ["WORKLOADS"]

REPO = Path(__file__).resolve().parents[2]

_TIMED_IMPORT = """\
import json, sys, time
started = time.perf_counter()
import {module}
print(json.dumps({{"seconds": time.perf_counter() - started, "textual": "textual" in sys.modules}}))
"""


def timed_import(module: str) -> tuple[float, bool]:
    """(seconds `import module` takes in a fresh interpreter, whether Textual got imported)."""
    done = subprocess.run(
        [sys.executable, "-c", _TIMED_IMPORT.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=60,
    )
    result = json.loads(done.stdout)
    return result["seconds"], result["textual"]


def measure_import(scale: Scale) -> list[Row]:
    bare: list[float] = []
    servicedeck: list[float] = []
    textual = False
    for _ in range(scale.pick(7, 1)):
        bare.append(timed_import("asyncio")[0])
        seconds, pulled_in = timed_import("servicedeck")
        servicedeck.append(seconds)
        textual = textual or pulled_in
    return [
        Row(
            "`import servicedeck` in a fresh interpreter (bare: `import asyncio`); no Textual",
            Unit.SECONDS,
            Target(0.150),
            median(bare),
            median(servicedeck),
            failure="it imported textual" if textual else "",
        )
    ]


def servicedeck_command() -> Path:
    """The `servicedeck` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("servicedeck")
    if not script.exists():
        raise FileNotFoundError(
            f"no `servicedeck` command next to {sys.executable!r}; install the project into "
            'this environment first: pip install -e ".[test]" -c tests/constraints.txt'
        )
    return script


def timed_process(argv: list[str], cwd: Path) -> float:
    """Wall-clock seconds a fresh process takes, from spawning it until it has exited."""
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - started


def services_module(count: int) -> str:
    """A module defining `count` loop services, each with a docstring, as users write them
    (`tests/support/generated.py` makes the same for the tests, which can import it)."""
    classes = "".join(
        f'\n\nclass Svc{i:04d}(LoopService):\n    """Service number {i}."""\n\n'
        "    async def run_once(self) -> None: ...\n"
        for i in range(count)
    )
    return f"from servicedeck import LoopService\n{classes}"


def measure_cli(scale: Scale) -> list[Row]:
    command = str(servicedeck_command())
    many = scale.pick(1000, 50)
    sides = {
        "pass": [sys.executable, "-c", "pass"],
        # What `ls` cannot start without: the libraries it lists the services with.
        "deps": [sys.executable, "-c", "import anyio, pydantic_settings, rich.console, rich.table"],
        "help": [command, "--help"],
        # In an empty directory: no pyproject.toml to read services from, so the demo.
        "ls": [command, "ls"],
        "ls-many": [command, "ls", "many.py"],
    }
    times: dict[str, list[float]] = {key: [] for key in sides}
    with tempfile.TemporaryDirectory() as empty:
        (Path(empty) / "many.py").write_text(services_module(many))
        timed_process(sides["ls-many"], Path(empty))  # writes its bytecode, once
        for repetition in range(scale.pick(7, 1)):
            order = list(sides.items())
            for key, argv in order[:: -1 if repetition % 2 else 1]:
                times[key].append(timed_process(argv, Path(empty)))
    return [
        compared(
            "`servicedeck ls` on the demo services (baseline: `python -c pass`)",
            Unit.SECONDS,
            Target(0.3),
            times["pass"],
            times["ls"],
        ),
        compared(
            "`servicedeck ls` on the demo services (baseline: importing the libraries it "
            "needs: anyio, pydantic-settings, rich)",
            Unit.SECONDS,
            None,
            times["deps"],
            times["ls"],
        ),
        compared(
            f"`servicedeck ls` on a file of {many:,} services (baseline: `python -c pass`)",
            Unit.SECONDS,
            Target(1.0),
            times["pass"],
            times["ls-many"],
        ),
        compared(
            "`servicedeck --help` (baseline: `python -c pass`)",
            Unit.SECONDS,
            Target(0.3),
            times["pass"],
            times["help"],
        ),
    ]


WORKLOADS = [
    Workload("import", measure_import),
    Workload("cli", measure_cli),
]
