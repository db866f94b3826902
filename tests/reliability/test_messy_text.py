"""Huge, multi-line, wide and markup-laden errors and log lines, shown safely.

Snapshot tests (pytest-textual-snapshot): the table truncates each message to its cell
with the layout intact, the detail panel escapes markup and caps a 1 MB message with a
note, and the log tab shows every line. Deterministic: a frozen `ManualClock`, services
stepped with `n` (never scheduled), tracebacks with paths relative to the working
directory. Update after a deliberate change of the screen with
`python -m pytest tests/reliability/test_messy_text.py --snapshot-update`, and look at
the SVGs before committing.
"""

from __future__ import annotations

from collections.abc import Callable

from support import REPOSITORY
from textual.containers import VerticalScroll
from textual.pilot import Pilot

from servicedeck.controller import ManualClock, ServiceController
from servicedeck.tui import ServiceDeckApp

from . import messy
from .conftest import app_ready

SnapCompare = Callable[..., bool]


def messy_app() -> ServiceDeckApp:
    """Every messy service, stopped, on a frozen clock."""
    controller = ServiceController(
        messy.ALL, clock=ManualClock(1000.0), propagate_logs=False, root=REPOSITORY
    )
    return ServiceDeckApp(controller, open_stopped=True)


async def step_each(pilot: Pilot[object], then: tuple[str, ...] = ()) -> None:
    """Step every service once (as `n` does), then press `then` on the first row."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    await app_ready(pilot)
    for service in messy.ALL:
        await app.controller.step(service.__name__)
    await app_ready(pilot)
    await pilot.press(*then)
    await app_ready(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


def test_messy_table_and_detail_wide(snap_compare: SnapCompare) -> None:
    """Each row's error cut to its cell; the detail of the 1 MB error: one line of it."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot)

    assert snap_compare(messy_app(), terminal_size=(160, 40), run_before=run_before)


def test_messy_table_narrow(snap_compare: SnapCompare) -> None:
    """80 columns: wide characters cut at a cell boundary, no row wraps."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot, ("down", "down"))

    assert snap_compare(messy_app(), terminal_size=(80, 24), run_before=run_before)


def test_messy_huge_error_capped_with_a_note(snap_compare: SnapCompare) -> None:
    """e on the 1 MB error, scrolled to the end: the traceback cut, with a note saying
    how much was cut."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot, ("e",))
        pilot.app.query_one("#detail-body", VerticalScroll).scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(messy_app(), terminal_size=(120, 36), run_before=run_before)


def test_messy_multi_line_error_whole(snap_compare: SnapCompare) -> None:
    """e on a multi-line message: every line, indentation kept."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot, ("down", "e"))

    assert snap_compare(messy_app(), terminal_size=(120, 36), run_before=run_before)


def test_messy_markup_error_shown_as_typed(snap_compare: SnapCompare) -> None:
    """e on an error full of Rich markup: the brackets shown, no style, no link."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot, ("down", "down", "down", "e"))

    assert snap_compare(messy_app(), terminal_size=(120, 36), run_before=run_before)


def test_messy_log_lines(snap_compare: SnapCompare) -> None:
    """l on a service that logs markup, wide text, several lines, control characters and
    a 1 MB line: each shown safely, the huge one capped with its length."""

    async def run_before(pilot: Pilot[object]) -> None:
        await step_each(pilot, ("end", "l"))

    assert snap_compare(messy_app(), terminal_size=(120, 36), run_before=run_before)
