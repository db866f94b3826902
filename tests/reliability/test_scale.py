"""1,000 registered services: the console opens, scrolls and filters; `ls` lists them all.

The console test measures and prints how long each step took (run with `-s` to see the
numbers); it asserts what the user sees, never how fast: the machine may be slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.generated import services_module

from servicedeck import LoopService
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

from .conftest import DEADLINE, app_ready, app_until

pytestmark = pytest.mark.anyio

COUNT = 1_000


def many_services(count: int = COUNT) -> list[type[LoopService]]:
    """`count` loop services, Svc0000 to Svc0999, each looping every second."""

    async def run_once(self: LoopService) -> None:
        return None

    return [
        type(f"Svc{i:04d}", (LoopService,), {"loop_seconds": 1.0, "run_once": run_once})
        for i in range(count)
    ]


async def test_console_with_1000_running_services_opens_scrolls_and_filters() -> None:
    timings: dict[str, float] = {}
    began = time.perf_counter()
    app = ServiceDeckApp(ServiceController(many_services(), propagate_logs=False))
    async with app.run_test(size=(160, 45)) as pilot:
        await app_ready(pilot)
        await app_until(pilot, lambda: app.table.repaints > 0)
        timings["open (services started, table painted)"] = time.perf_counter() - began
        table = app.table
        assert len(table.visible_names) == COUNT

        # Each row render wakes the timer below: how long from a key (as a terminal sends
        # it) to the first repaint that shows its effect.
        rendered = anyio.Event()
        render_row = table._render_row

        def spy(*args: Any) -> Any:
            rendered.set()
            return render_row(*args)

        table._render_row = spy  # type: ignore[method-assign]

        async def timed(what: str, key: str, shown: Callable[[], bool]) -> None:
            nonlocal rendered
            start = time.perf_counter()
            app.simulate_key(key)
            with anyio.fail_after(DEADLINE):
                while not shown():
                    rendered = anyio.Event()
                    await rendered.wait()
            timings[what] = time.perf_counter() - start

        await timed("page down", "pagedown", lambda: table.cursor_name != "Svc0000")
        page = table.visible_names.index(table.cursor_name or "")
        assert page > 10, "a page is many rows"
        await timed("end", "end", lambda: table.cursor_name == "Svc0999")
        assert round(table.scroll_offset.y) > COUNT - 50, "scrolled to the bottom"
        await timed("home", "home", lambda: table.cursor_name == "Svc0000")
        await pilot.press("slash", "s", "v", "c", "0")
        nineties = [f"Svc{i:04d}" for i in range(900, 1000)]
        await timed("filter: the last key of /svc09", "9", lambda: table.visible_names == nineties)
        await timed("filter cleared (esc)", "escape", lambda: len(table.visible_names) == COUNT)

        # Every service ran; the console kept up with a thousand loops a second.
        await app_until(
            pilot, lambda: all(s.status.loop_count >= 1 for s in app.controller.snapshots())
        )
        assert app.is_running
    for what, seconds in timings.items():
        print(f"1,000 services: {what}: {seconds * 1000:.0f} ms")


@pytest.fixture
def module_of_1000(tmp_path: Path) -> Path:
    path = tmp_path / "thousand.py"
    path.write_text(services_module(COUNT))
    return path


def ls(module: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servicedeck", "ls", module.name, *args],
        cwd=module.parent,
        capture_output=True,
        text=True,
        timeout=DEADLINE * 6,
        stdin=subprocess.DEVNULL,
    )


def test_ls_prints_all_1000_services(module_of_1000: Path) -> None:
    start = time.perf_counter()
    table = ls(module_of_1000)
    seconds = time.perf_counter() - start
    print(f"`servicedeck ls` of 1,000 services: {seconds:.2f} s")

    assert table.returncode == 0, table.stderr
    rows = [line.strip() for line in table.stdout.splitlines() if line.startswith(" Svc")]
    assert [row.split()[0] for row in rows] == [f"Svc{i:04d}" for i in range(COUNT)]
    assert rows[-1].split()[-1] == "999.", "each row whole, on one line"

    listed = json.loads(ls(module_of_1000, "--output", "json").stdout)
    assert len(listed) == COUNT
    assert listed[999]["environment_variable"] == "SERVICEDECK_SERVICES_SVC0999_ENABLED"
