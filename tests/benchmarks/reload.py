"""`--reload`: from a save of a service's file to its new code's first loop.

The console's development loop: a small services file is saved (a new version each
time) while `Reloader.watch()` runs on watchfiles; measured is the time from the write to
the start of the first `run_once` of the new code (watchfiles' notice, the 50 ms
debounce, the graceful stop, the fresh import, the new instance's start). The baseline
is importing the same module afresh by hand (`importlib.import_module` after dropping it
from `sys.modules`): what a reload costs at the least.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
import types
from pathlib import Path

import anyio

from ._harness import Row, Scale, Target, Unit, Workload, p95

SINK = "servicedeck_bench_reload_sink"

SERVICE = """
import time

from {sink} import started
from servicedeck import LoopService

VERSION = {version}


class Edited(LoopService):
    loop_seconds = 60

    async def run_once(self) -> None:
        started.setdefault(VERSION, time.perf_counter())
"""


def measure_reload(scale: Scale) -> list[Row]:
    saves = scale.pick(40, 3)
    sink = types.ModuleType(SINK)
    sink.started = {}  # type: ignore[attr-defined]
    sys.modules[SINK] = sink
    try:
        with tempfile.TemporaryDirectory(prefix="sd-bench-") as folder:
            reload, bare = anyio.run(_measure, Path(folder), sink, saves)
    finally:
        sys.modules.pop(SINK, None)
        sys.modules.pop("edited_services", None)
    return [
        Row(
            f"save → the new code's first loop started, p95 of {saves} saves "
            "(baseline: importing the module afresh)",
            Unit.SECONDS,
            Target(1.0),
            p95(bare),
            p95(reload),
        )
    ]


async def _measure(
    folder: Path, sink: types.ModuleType, saves: int
) -> tuple[list[float], list[float]]:
    from servicedeck.control import wait_until
    from servicedeck.controller import ServiceController
    from servicedeck.discovery import discover
    from servicedeck.reload import Reloader

    path = folder / "edited_services.py"
    path.write_text(SERVICE.format(sink=SINK, version=0))
    classes = discover([str(path)]).classes
    controller = ServiceController(classes, stall_threshold=None, capture_logs=False)
    reloader = Reloader(controller, lambda: discover([str(path)]).classes, root=folder)
    reload, bare = [], []
    async with controller, anyio.create_task_group() as tg:
        await controller.start("Edited")
        await tg.start(reloader.watch)
        for version in range(1, saves + 1):
            path.write_text(SERVICE.format(sink=SINK, version=version) + "#" * version)
            saved = time.perf_counter()
            await wait_until(controller, lambda v=version: v in sink.started, timeout=30)
            reload.append(sink.started[version] - saved)
            began = time.perf_counter()
            module = sys.modules.pop("edited_services")
            importlib.import_module("edited_services")
            bare.append(time.perf_counter() - began)
            sys.modules["edited_services"] = module  # the reloader's own, as it left it
        tg.cancel_scope.cancel()
    return reload, bare


WORKLOADS = [Workload("reload", measure_reload)]
