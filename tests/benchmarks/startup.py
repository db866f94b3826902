"""Start-up workloads: importing the framework; later the command line.

Each figure comes from a fresh interpreter (a subprocess), as a user would see it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ._harness import Row, Scale, Target, Unit, Workload, median

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


# TODO(issue 5): measure these once the command line (issue 4) lands: time a subprocess
# of `servicedeck ls` / `servicedeck --help` against `python -c pass`.
PENDING_CLI = (
    Row("`servicedeck ls` on the demo services", Unit.SECONDS, Target(0.5)),
    Row("`servicedeck --help`", Unit.SECONDS, Target(0.3)),
)

WORKLOADS = [
    Workload("import", measure_import),
    Workload("cli", pending=PENDING_CLI),
]
