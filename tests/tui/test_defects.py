"""Pilot regression tests of the console's defects of the debugger issue, one per defect.

Each was written before its fix and failed then (or, where the framework's side of the
issue had fixed it already, documents that the console shows the fix). The numbers are
the issue's.
"""

from __future__ import annotations

import io
import os

import anyio
import pytest
from rich.color import Color
from rich.console import Console
from support import notifications, row_text
from textual.widgets import Static

from servicedeck import LoopService, ServiceState
from servicedeck.controller import ManualClock
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.keys import KEYS, spec
from servicedeck.tui.screens.quit import QuitScreen
from servicedeck.tui.widgets.columns import COLUMNS, layout

from .snapshot_apps import services
from .snapshot_apps.apps import make_app, press_and_settle, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 32)


def state(app: ServiceDeckApp, name: str) -> ServiceState:
    return app.controller.snapshot(name).status.state


def plain(renderable: object, width: int = 200) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def quit_text(app: ServiceDeckApp) -> str:
    return plain(app.screen.query_one("#quit-progress", Static).content)


class Shielded(LoopService):
    """A loop that shields itself from cancellation until the test releases it."""

    loop_seconds = 1.0
    release = anyio.Event()

    async def run_once(self) -> None:
        with anyio.CancelScope(shield=True):
            await type(self).release.wait()


class Flaky(LoopService):
    """Fails 2 loops of every 5 (40 %), every 0.7 s of its clock."""

    loop_seconds = 0.7
    clock: ManualClock = services.CLOCK

    async def run_once(self) -> None:
        self.clock.advance(0.7)
        if self.status.loop_count % 5 in (1, 3):
            raise ConnectionError("the broker went away")


class BadInit(LoopService):
    """Its `__init__` raises, in the user's own code."""

    loop_seconds = 5.0

    def __init__(self) -> None:
        super().__init__()
        raise ConnectionError("cannot reach the database at localhost:5432")

    async def run_once(self) -> None:
        pass


class Unreachable(LoopService):
    """Fails on every loop, with a long message."""

    loop_seconds = 30.0

    async def run_once(self) -> None:
        raise ConnectionError("cannot reach the payment gateway at payments.internal:443")


async def test_defect_1_k_moves_up_and_kill_is_ctrl_k_after_a_confirmation() -> None:
    from servicedeck.tui.screens.confirm import ConfirmScreen

    assert "k" not in spec("kill").keys
    assert "ctrl+k" in spec("kill").keys
    app = make_app(start="enabled")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("j")
        assert app.table.cursor_name == "InvoiceMailer"
        await pilot.press("k")
        assert app.table.cursor_name == "OrderReaper"
        await settle(pilot)
        assert app.controller.snapshot("OrderReaper").has_task, "k moved; it killed nothing"
        # A healthy running service: ctrl+k asks first; any other key keeps it.
        await pilot.press("ctrl+k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmScreen)
        await settle(pilot)
        assert app.controller.snapshot("OrderReaper").has_task
        await pilot.press("ctrl+k", "y")
        await wait_for(pilot, lambda: not app.controller.snapshot("OrderReaper").has_task)
        await settle(pilot)
        assert app.controller.snapshot("OrderReaper").status.cancelled
        assert "cancelled" in row_text(app, "OrderReaper")
        assert any("killed" in line.message for line in app.controller.logs("OrderReaper"))
        # The quit dialog says it was killed, not stopped.
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        text = quit_text(app)
        killed = [line for line in text.splitlines() if "OrderReaper" in line]
        assert killed, text
        assert "cancelled" in killed[0], text


async def test_defect_1_ctrl_k_kills_a_stuck_service_without_asking() -> None:
    from servicedeck.tui.screens.confirm import ConfirmScreen

    app = make_app([services.Hanging], start="enabled")
    app.stop_timeout = 0.05
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: state(app, "Hanging") is ServiceState.RUNNING)
        await press_and_settle(pilot, "X")
        assert app.controller.snapshot("Hanging").stuck
        await pilot.press("ctrl+k")
        assert not isinstance(app.screen, ConfirmScreen)
        await wait_for(pilot, lambda: not app.controller.snapshot("Hanging").has_task)


async def test_defect_2_the_table_keeps_the_keys_after_a_panel_is_enlarged() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        names = app.table.visible_names
        await pilot.press("e", "e", "escape", "down")
        assert app.focused is app.table
        assert app.table.cursor_name == names[1]
        await pilot.press("enter", "enter", "enter", "down")
        assert app.focused is app.table
        assert app.table.cursor_name == names[2]
        for key, expected in (("home", 0), ("end", -1), ("pageup", 0), ("pagedown", -1)):
            await pilot.press(key)
            assert app.table.cursor_name == names[expected], key
        await pilot.press("home", "e", "e", "escape")
        await press_and_settle(pilot, "3", "n")
        assert app.controller.snapshot(names[0]).status.loop_count == 3


async def test_defect_3_s_resumes_a_paused_service_as_the_help_says() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.PAUSED)
        await settle(pilot)
        assert app.check_action("start", ()) is True, "s is not greyed out on a paused service"
        await pilot.press("s")
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)
        assert not app.controller.snapshot("OrderReaper").status.paused
    assert "un-pausing" in spec("start").help or "resum" in spec("start").help


async def test_defect_5_a_service_failing_40_percent_stays_in_the_failing_view() -> None:
    clock = ManualClock(1000.0)
    Flaky.clock = clock
    app = make_app([Flaky, services.ReportBuilder], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "p")
        await pilot.press("exclamation_mark")
        await app.controller.step("Flaky", 2)  # its first error (loop 2)
        seen: set[tuple[tuple[str, ...], int]] = set()
        start = clock()
        while clock() - start < 60:
            await app.controller.step("Flaky")
            app.flush()
            await pilot.pause()
            seen.add((tuple(app.table.visible_names), app.summary.failing))
        assert app.controller.snapshot("Flaky").status.loop_count >= 85
        assert seen == {(("Flaky",), 1)}, "no flicker in ! nor in the header"


async def test_defect_6_a_shielded_kill_says_so_and_the_quit_dialog_tells_the_truth() -> None:
    Shielded.release = anyio.Event()
    app = make_app([Shielded], start="enabled")
    app.stop_timeout = 0.05
    app.KILL_NOTICE_SECONDS = 0.2
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(pilot)
            await wait_for(pilot, lambda: state(app, "Shielded") is ServiceState.RUNNING)
            await press_and_settle(pilot, "X")
            assert app.controller.snapshot("Shielded").stuck
            await press_and_settle(pilot, "ctrl+k")
            assert app.controller.snapshot("Shielded").has_task
            assert any("still running" in note for note in notifications(app)), notifications(app)
            await pilot.press("q")
            assert isinstance(app.screen, QuitScreen)
            await wait_for(pilot, lambda: "gave up" in quit_text(app) or "stuck" in quit_text(app))
            text = quit_text(app)
            assert "Each gets" not in text
            assert "stuck" in text, text
            assert "q again" in text, text
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
    finally:
        Shielded.release.set()
    assert app.return_code == 130, "a forced exit is not a success"


async def test_defect_7_paused_opens_every_enabled_loop_paused_after_setup() -> None:
    app = make_app(start="paused")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        loops = [s for s in app.controller.snapshots() if s.is_loop and s.enabled]
        assert loops
        assert all(s.has_task and s.status.paused for s in loops)
        assert state(app, "OrderReaper") is ServiceState.PAUSED
        assert app.summary.paused == len(loops)
        assert "paused" in row_text(app, "OrderReaper")
        await press_and_settle(pilot, "n", "n")
        assert app.controller.snapshot("OrderReaper").status.loop_count == 2
        reaper = services.OrderReaper.latest()
        assert (reaper.setups, reaper.teardowns) == (1, 0)
    from servicedeck.cli.console import COMMAND

    assert COMMAND.add_arguments is not None
    import argparse

    parser = argparse.ArgumentParser()
    COMMAND.add_arguments(parser)
    assert "paused" in parser.format_help()
    assert "stopped" not in parser.format_help()


async def test_defect_8_queued_steps_show_on_the_row_and_c_cancels_them() -> None:
    services.Gated.gate = anyio.Event()
    app = make_app([services.Gated, services.ReportBuilder])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "p")
        await pilot.press("n")
        await wait_for(pilot, lambda: state(app, "Gated") is ServiceState.RUNNING)
        await pilot.press("n", "n", "n")
        await wait_for(pilot, lambda: app.controller.snapshot("Gated").status.queued_steps == 3)
        await wait_for(pilot, lambda: "+3 queued" in row_text(app, "Gated"))
        await pilot.press("c")
        await wait_for(pilot, lambda: app.controller.snapshot("Gated").status.queued_steps == 0)
        await wait_for(pilot, lambda: "queued" not in row_text(app, "Gated"))
        services.Gated.gate.set()
        await settle(pilot)
        await wait_for(pilot, lambda: state(app, "Gated") is ServiceState.PAUSED)
        assert app.controller.snapshot("Gated").status.loop_count == 1
    assert any(k.id == "cancel_steps" and k.keys == ("c",) for k in KEYS)


async def test_defect_9_break_on_error_stops_a_count_at_the_first_error() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down")
        await press_and_settle(pilot, "b", "p")
        await wait_for(pilot, lambda: state(app, "InvoiceMailer") is ServiceState.PAUSED)
        await press_and_settle(pilot, "5", "n")
        snap = app.controller.snapshot("InvoiceMailer")
        assert snap.status.loop_count == 1, "the count stopped at the first error"
        assert snap.paused_on_error
        assert app.detail.tab == "error"
        # Stopped, too: setup, one loop that raises, teardown.
        await press_and_settle(pilot, "x")
        await wait_for(pilot, lambda: not app.controller.snapshot("InvoiceMailer").has_task)
        await press_and_settle(pilot, "5", "n")
        assert app.controller.snapshot("InvoiceMailer").status.loop_count == 2


async def test_defect_10_a_running_loop_shows_how_long_it_runs_and_no_contradiction() -> None:
    clock = ManualClock(1000.0)
    app = make_app([services.Hanging], clock=clock, start="enabled")
    app.stop_timeout = 0.05
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: state(app, "Hanging") is ServiceState.RUNNING)
        clock.advance(12.0)
        app.table.tick()
        await pilot.pause()
        assert "12.0s…" in row_text(app, "Hanging") or "12s…" in row_text(app, "Hanging")
        clock.advance(40.0)
        app.table.tick()
        await pilot.pause()
        assert "52.0s…" in row_text(app, "Hanging"), row_text(app, "Hanging")
        await press_and_settle(pilot, "X")
        assert app.controller.snapshot("Hanging").stuck
        row = row_text(app, "Hanging")
        assert (app.summary.running, app.summary.stuck) == (0, 1), "stuck, not also running"
        assert "stuck" in row, row
        assert "healthy" not in row, row
        assert "running" not in row, row


def test_defect_12_narrow_terminals_keep_the_error_and_mark_ascending_with_an_up_arrow() -> None:
    priority = [c.key for c in sorted(COLUMNS, key=lambda c: -c.priority)]
    assert priority[:5] == ["name", "state", "loops", "error", "errors"], priority
    shown = layout(80, len("InvoiceMailer") + 1)
    cells = {column.key: width for column, _, width in shown}
    assert cells["error"] >= 24, cells
    assert "enabled" not in cells
    assert shown[-1][1] + shown[-1][2] <= 80


async def test_defect_12_footer_header_and_sort_keys_at_narrow_widths() -> None:
    app = make_app([services.InvoiceMailer, Unreachable, services.ReportBuilder])
    async with app.run_test(size=(60, 24)) as pilot:
        await settle(pilot)
        footer_keys = {key.action: key for key in app.screen.query("FooterKey")}
        for action in ("app.help", "app.quit"):
            key = footer_keys.get(action) or footer_keys.get(action.removeprefix("app."))
            assert key is not None, action
            assert key.region.right <= 60, action
            assert key.region.width > 0, action
            assert key.region.y == 23, action
    app = make_app([services.InvoiceMailer, Unreachable, services.ReportBuilder])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "down", "n")
        row = row_text(app, "Unreachable")
        assert "ConnectionError: cannot reach" in row, row
        # Sorting by key: > picks the next column, I inverts; ▲ is A to Z.
        await pilot.press("greater_than_sign")
        assert app.table.sort_column == ("name", False)
        header = app.table.render_line(0).text
        assert "SERVICE ▲" in header, header
        await pilot.press("I")
        assert app.table.sort_column == ("name", True)
        assert "SERVICE ▼" in app.table.render_line(0).text
        await pilot.press("greater_than_sign", "greater_than_sign")
        sort = app.table.sort_column[0]
        assert sort not in (None, "name")
        header = app.table.render_line(0).text
        assert "▲" in header or "▼" in header, header
        await pilot.press("less_than_sign", "less_than_sign", "less_than_sign")
        assert app.table.sort_column[0] is None


def _contrast(a: Color, b: Color) -> float:
    def luminance(color: Color) -> float:
        def channel(c: int) -> float:
            v = c / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = color.get_truecolor()
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


async def test_defect_13_an_init_error_shows_user_frames_and_the_cursor_row_is_readable() -> None:
    app = make_app([BadInit, Unreachable])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "s", "e")
        code = plain(app.query_one("#detail-code", Static).content)
        assert "cannot reach the database" in code
        assert "servicedeck" + os.sep not in code, code
        assert os.sep + "tests" + os.sep not in code, "paths are relative"
        assert "BadInit failed to initialise" in "\n".join(notifications(app))
        await press_and_settle(pilot, "down", "n")
        strip = app.table.render_line(app.table.visible_names.index("Unreachable") + 1)
        assert "ConnectionError" in strip.text
        for segment in strip:
            if "ConnectionError" in segment.text:
                style = segment.style
                assert style is not None
                assert style.color
                assert style.bgcolor
                # WCAG AA for bold text, and as readable as the rest of the row (it was 1.2).
                assert _contrast(style.color, style.bgcolor) >= 3.0, style
                break
        else:
            raise AssertionError(strip.text)


async def test_defect_12_the_sort_mark_is_never_cut_off_in_a_narrow_column() -> None:
    app = make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        app.sort_by("overruns")  # OVR is 4 cells: the title gives way to the mark
        await pilot.pause()
        header = app.table.render_line(0).text
        assert "OV ▼" in header, header
        app.sort_by("overruns", reverse=True)
        await pilot.pause()
        assert "OV ▲" in app.table.render_line(0).text
