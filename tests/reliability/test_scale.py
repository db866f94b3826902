"""1,000 registered services: the console opens, scrolls and filters; `ls` lists them all.

These tests assert what the user sees, never how fast: the machine may be slow. How fast
is measured by the benchmarks (`python -m tests.benchmarks --only console-large`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import row_text
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


def first_row(app: ServiceDeckApp) -> str:
    """The text of the table's first line under its header, as drawn."""
    return app.table.render_line(1).text


async def test_console_with_1000_running_services_opens_scrolls_and_filters() -> None:
    app = ServiceDeckApp(ServiceController(many_services(), propagate_logs=False))
    async with app.run_test(size=(160, 45)) as pilot:
        await app_ready(pilot)
        table = app.table
        assert len(table.visible_names) == COUNT
        assert first_row(app).split()[0] == "Svc0000"
        assert app.summary.services == COUNT

        await pilot.press("pagedown")
        cursor = table.cursor_name
        assert cursor is not None
        assert table.visible_names.index(cursor) > 10, "a page is many rows"
        assert cursor in row_text(app, cursor), "the cursor's row is on the screen"
        await pilot.press("end")
        assert table.cursor_name == "Svc0999"
        assert round(table.scroll_offset.y) > COUNT - 50, "scrolled to the bottom"
        assert "Svc0999" in row_text(app, "Svc0999")
        await pilot.press("home")
        assert table.cursor_name == "Svc0000"
        assert first_row(app).split()[0] == "Svc0000"

        await pilot.press("slash", "s", "v", "c", "0", "9")
        assert table.visible_names == [f"Svc{i:04d}" for i in range(900, 1000)]
        assert first_row(app).split()[0] == "Svc0900"
        assert (app.summary.filter_text, app.summary.shown) == ("svc09", 100)
        await pilot.press("escape")
        assert len(table.visible_names) == COUNT
        assert app.summary.filter_text == ""

        # Every service ran; the console kept up with a thousand loops a second.
        await app_until(
            pilot, lambda: all(s.status.loop_count >= 1 for s in app.controller.snapshots())
        )
        await app_until(pilot, lambda: app.summary.running == COUNT)
        assert app.is_running


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
    table = ls(module_of_1000)
    assert table.returncode == 0, table.stderr
    rows = [line.strip() for line in table.stdout.splitlines() if line.startswith(" Svc")]
    assert [row.split()[0] for row in rows] == [f"Svc{i:04d}" for i in range(COUNT)]
    assert rows[-1].split()[-1] == "999.", "each row whole, on one line"

    listed = json.loads(ls(module_of_1000, "--output", "json").stdout)
    assert len(listed) == COUNT
    assert listed[999]["environment_variable"] == "SERVICEDECK_SERVICES_SVC0999_ENABLED"
