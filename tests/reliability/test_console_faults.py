"""The console under faults: it keeps working, and each row says what went wrong.

Pilot tests. Each waits on the controller's changes, the app's workers or its services
task, under deadlines; the faults (a hanging `run_once`, a `BaseException`) are the
services' own code.
"""

from __future__ import annotations

import io

import anyio
import pytest
from rich.console import Console
from rich.text import Text
from support import REPOSITORY, notifications, row_text
from textual.widgets import Static

from servicedeck import LoopService, ServiceState
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.widgets.text_lines import TextLines

from . import faulty
from .conftest import DEADLINE, app_ready, app_until, services_ended
from .test_base_exceptions import FATAL, Bystander, Interrupting

pytestmark = pytest.mark.anyio

SIZE = (150, 40)


def make_app(classes: list[type], *, start_paused: bool = False) -> ServiceDeckApp:
    """The console on `classes` in real time (a frozen clock would hold scheduled loops)."""
    controller = ServiceController(classes, propagate_logs=False, root=REPOSITORY)
    return ServiceDeckApp(controller, open_stopped=start_paused)


def shown_text(widget: Static | TextLines, width: int = 200) -> str:
    """What a Static (or the text lines of the detail head) shows, as plain text."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def notes(app: ServiceDeckApp) -> list[str]:
    """The notifications on screen (the app must run with `notifications=True`)."""
    return notifications(app)


async def test_console_shows_a_fault_in_each_phase_and_keeps_working() -> None:
    app = make_app(faulty.ALL)
    app.stop_timeout = 0.2  # StopFails never stops: quitting cancels it after this
    async with app.run_test(size=SIZE) as pilot:
        await app_ready(pilot)
        await app.controller.stop("StopFails", block=False)

        def shown() -> bool:
            rows = {name: app.table.snapshot(name) for name in app.controller.names}
            return (
                all(rows[n].status.state is ServiceState.CRASHED for n in faulty.CRASHING)
                and rows["LoopFails"].status.error_count >= 1
                and rows["StopFails"].stuck
            )

        await app_until(pilot, shown)

        for name in faulty.CRASHING:
            assert "✖" in row_text(app, name), name
            assert "broke" in row_text(app, name), "the last error column names it"
        assert "✖ settings" in row_text(app, "SettingsFail")
        assert "✖ crashed" in row_text(app, "SetupFails")
        assert "RuntimeError: run_once broke" in row_text(app, "LoopFails")
        assert "◐ stuck" in row_text(app, "StopFails")
        assert "RuntimeError: stop broke" in row_text(app, "StopFails")

        # Still working: the cursor moves, the traceback opens, the healthy one steps.
        await pilot.press("end", "e")
        assert app.table.cursor_name == "StopFails"
        head = str(app.query_one("#detail-head").content)
        assert head.startswith("RuntimeError: stop broke")
        await pilot.press("home")
        loops = app.controller.snapshot("Healthy").status.loop_count
        await app_until(pilot, lambda: app.controller.snapshot("Healthy").status.loop_count > loops)
        await pilot.press("ctrl+k", "y")  # on Healthy (not stuck): kill, once confirmed
        await app_until(pilot, lambda: not app.controller.snapshot("Healthy").has_task)
        assert app.is_running


@pytest.mark.parametrize("fatal", FATAL, ids=lambda t: t.__name__)
async def test_console_exits_after_stopping_everything_when_a_service_raises_a_base_exception(
    fatal: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Interrupting, "fatal", fatal)
    app = make_app([Bystander, Interrupting])
    async with app.run_test(size=SIZE) as pilot:
        await app_ready(pilot)
        await services_ended(app)
        # Read before the app has shut down, which prints and drops them.
        messages = list(app._exit_renderables)

    bystander = Bystander.latest()
    assert bystander.stopped_gracefully is True
    assert app.controller.snapshot("Interrupting").status.state is ServiceState.CRASHED
    assert not any(snap.has_task for snap in app.controller.snapshots())
    assert app.return_code == (130 if fatal is KeyboardInterrupt else 1)
    [message] = messages
    assert isinstance(message, Text)
    assert f"Interrupting raised {fatal.__name__}" in message.plain
    assert "every other service was stopped" in message.plain


class Hanging(LoopService):
    """A loop that awaits an event that never comes."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        await anyio.Event().wait()


async def test_console_shows_a_hanging_loop_as_stuck_and_ctrl_k_cancels_it() -> None:
    app = make_app([Hanging, faulty.Healthy])
    app.stop_timeout = 0.05
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app_ready(pilot)
        await app_until(
            pilot, lambda: app.controller.snapshot("Hanging").status.state is ServiceState.RUNNING
        )
        await pilot.press("X")  # stop and wait: times out
        await app_ready(pilot)
        assert app.controller.snapshot("Hanging").stuck
        assert "◐ stuck" in row_text(app, "Hanging")
        assert "Hanging did not stop in time: it is stuck; ctrl+k cancels it." in notes(app)

        await pilot.press("ctrl+k")  # stuck: no confirmation
        await app_until(pilot, lambda: not app.controller.snapshot("Hanging").has_task)
        assert "✗ cancelled" in row_text(app, "Hanging")
        assert app.controller.snapshot("Healthy").has_task, "the neighbour runs on"


async def test_quitting_with_a_hanging_loop_exits_within_a_bound() -> None:
    app = make_app([Hanging, faulty.Healthy])
    app.stop_timeout = 0.2
    with anyio.fail_after(DEADLINE):
        async with app.run_test(size=SIZE) as pilot:
            await app_ready(pilot)
            await app_until(
                pilot,
                lambda: app.controller.snapshot("Hanging").status.state is ServiceState.RUNNING,
            )
            await pilot.press("q")
            await services_ended(app)
    report = app.return_value
    assert report is not None
    assert report.cancelled == ("Hanging",)
    assert report.stopped == ("Healthy",)


async def test_console_names_a_service_that_blocks_the_event_loop() -> None:
    app = make_app([faulty.Healthy, faulty.Blocking])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app_ready(pilot)
        await app_until(pilot, lambda: app.controller.snapshot("Blocking").stall is not None)

        assert "blocked the event loop for " in row_text(app, "Blocking")
        assert "in crunch" in row_text(app, "Blocking")
        assert "Healthy" not in " ".join(notes(app))
        [note] = [n for n in notes(app) if "blocked the event loop" in n]
        assert note.startswith("Blocking blocked the event loop for ")
        assert "in crunch" in note
        await pilot.press("down", "enter")
        assert app.table.cursor_name == "Blocking"
        head = shown_text(app.query_one("#detail-head", TextLines))
        assert "Loop stall" in head
        assert "(tests/reliability/faulty.py:" in head, "a path relative to the working folder"


class Misconfigured(LoopService):
    """Its enabling variable does not parse (set by the test)."""

    async def run_once(self) -> None:
        pass


async def test_console_runs_the_others_when_one_service_has_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICEDECK_SERVICES_MISCONFIGURED_ENABLED", "maybe")
    app = make_app([Misconfigured, faulty.Healthy])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app_ready(pilot)
        await app_until(pilot, lambda: app.controller.snapshot("Healthy").status.loop_count > 0)

        assert not app.controller.snapshot("Misconfigured").has_task
        assert "✖ settings" in row_text(app, "Misconfigured")
        assert "SERVICEDECK_SERVICES_MISCONFIGURED_ENABLED='maybe'" in row_text(
            app, "Misconfigured"
        )
        await pilot.press("s")  # start it anyway: refused, saying why
        await pilot.pause()
        [note] = [n for n in notes(app) if n.startswith("Misconfigured has a settings error")]
        assert "(expected bool)" in note
