"""Pilot tests: every key of the console and its effect on the controller's model."""

from __future__ import annotations

import io

import anyio
import pytest
from rich.console import Console
from support import notifications, row_text, widget_text
from textual.strip import Strip
from textual.widgets import Footer, Input, Static

from servicedeck import LoopService, ServiceState
from servicedeck.control import StopReport
from servicedeck.controller import ManualClock
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.keys import KEYS, key_display
from servicedeck.tui.screens.help import HelpScreen
from servicedeck.tui.screens.quit import QuitScreen

from .snapshot_apps import services
from .snapshot_apps.apps import make_app, press_and_settle, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 32)


def state(app: ServiceDeckApp, name: str) -> ServiceState:
    return app.controller.snapshot(name).status.state


def reaper(app: ServiceDeckApp) -> services.OrderReaper:
    """The app's instance of OrderReaper (the last one made)."""
    return services.OrderReaper.latest()


def notes(app: ServiceDeckApp) -> list[str]:
    """The notifications on screen (the app must run with `notifications=True`)."""
    return notifications(app)


async def test_app_starts_enabled_services_and_q_stops_them_gracefully() -> None:
    app = make_app(start="enabled")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.controller.snapshot("OrderReaper").has_task
        assert app.controller.snapshot("EventRelay").has_task
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)
    report = app.return_value
    assert isinstance(report, StopReport)
    assert set(report.stopped) == {"OrderReaper", "InvoiceMailer", "ReportBuilder", "EventRelay"}
    assert report.cancelled == ()
    assert reaper(app).teardowns == 1


async def test_open_stopped_leaves_every_service_stopped() -> None:
    app = make_app(start="stopped")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not any(snap.has_task for snap in app.controller.snapshots())
        assert app.table.cursor_name == "OrderReaper"


async def test_s_starts_the_highlighted_service() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)
        assert app.controller.snapshot("OrderReaper").status.loop_count == 1
        assert app.table.snapshot("OrderReaper").status.state is ServiceState.SLEEPING


async def test_n_steps_a_stopped_service_once_with_setup_and_teardown() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "n")
        snap = app.controller.snapshot("OrderReaper")
        assert snap.status.loop_count == 1
        assert not snap.has_task
        assert (reaper(app).setups, reaper(app).teardowns) == (1, 1)
        assert app.table.snapshot("OrderReaper").status.loop_count == 1, "the table shows it"


async def test_count_prefix_5n_runs_five_loops() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("5")
        assert app.table.count == "5"
        await press_and_settle(pilot, "n")
        assert app.controller.snapshot("OrderReaper").status.loop_count == 5
        assert app.table.count == ""
        await press_and_settle(pilot, "n")
        assert app.controller.snapshot("OrderReaper").status.loop_count == 6


async def test_p_starts_a_stopped_loop_paused_so_n_does_not_rerun_setup() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.PAUSED)
        await press_and_settle(pilot, "n", "n", "3", "n")
        snap = app.controller.snapshot("OrderReaper")
        assert snap.status.loop_count == 5
        assert snap.status.state is ServiceState.PAUSED
        assert reaper(app).setups == 1
        assert reaper(app).teardowns == 0
        await pilot.press("p")  # resume
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)


async def test_x_stops_without_waiting() -> None:
    app = make_app(start="enabled")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.controller.snapshot("OrderReaper").has_task)
        assert state(app, "OrderReaper") is ServiceState.STOPPED
        assert reaper(app).teardowns == 1


class SlowTeardown(LoopService):
    """Its teardown waits until the test lets it finish."""

    loop_seconds = 3600
    release = anyio.Event()

    async def run_once(self) -> None:
        pass

    async def teardown(self) -> None:
        await type(self).release.wait()


async def test_blocking_stop_runs_as_a_worker_and_the_app_stays_responsive() -> None:
    SlowTeardown.release = anyio.Event()
    app = make_app([SlowTeardown, services.ReportBuilder], start="enabled")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("X")
        await wait_for(pilot, lambda: state(app, "SlowTeardown") is ServiceState.STOPPING)
        assert "◐ stopping…" in row_text(app, "SlowTeardown")
        # The stop is still waiting: another key is handled meanwhile.
        await pilot.press("down")
        assert app.table.cursor_name == "ReportBuilder"
        assert app.controller.snapshot("SlowTeardown").has_task
        SlowTeardown.release.set()
        await settle(pilot)
        assert not app.controller.snapshot("SlowTeardown").has_task
        assert "○ stopped" in row_text(app, "SlowTeardown")
        assert "SlowTeardown stopped." in notes(app)


async def test_blocking_stop_timeout_marks_stuck_and_ctrl_k_kills() -> None:
    app = make_app([services.Hanging], start="enabled")
    app.stop_timeout = 0.05
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: state(app, "Hanging") is ServiceState.RUNNING)
        await press_and_settle(pilot, "X")
        assert app.controller.snapshot("Hanging").stuck
        assert any("stuck" in note for note in notes(app))
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: not app.controller.snapshot("Hanging").has_task)


async def test_r_restarts_the_service() -> None:
    app = make_app(start="enabled")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "r")
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)
        assert (reaper(app).setups, reaper(app).teardowns) == (2, 1)


async def test_t_toggles_enabled_for_the_session() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "t")
        snap = app.controller.snapshot("OrderReaper")
        assert (snap.enabled, snap.enabled_source) == (False, "override")
        await press_and_settle(pilot, "t")
        assert app.controller.snapshot("OrderReaper").enabled is True


async def test_b_breaks_on_error_with_the_traceback_open() -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("down")
        assert app.table.cursor_name == "InvoiceMailer"
        await press_and_settle(pilot, "b")
        assert app.controller.snapshot("InvoiceMailer").pause_on_error
        await pilot.press("up")  # the break must bring the cursor back
        await pilot.press("down", "s")
        await wait_for(pilot, lambda: app.controller.snapshot("InvoiceMailer").paused_on_error)
        await settle(pilot)
        assert state(app, "InvoiceMailer") is ServiceState.PAUSED
        assert app.table.cursor_name == "InvoiceMailer"
        assert app.detail.tab == "error"
        assert any("paused on error" in note for note in notes(app))


async def test_l_e_enter_switch_tabs_and_a_second_press_enlarges() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await press_and_settle(pilot, "n", "l")
        assert app.detail.tab == "logs"
        await pilot.press("e")
        assert app.detail.tab == "error"
        await pilot.press("e")
        assert app.screen.maximized is app.detail
        await pilot.press("escape")
        assert app.screen.maximized is None
        await pilot.press("enter")
        assert app.detail.tab == "detail"


async def test_slash_filters_and_escape_clears_and_the_cursor_follows_the_service() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        assert app.table.cursor_name == "ReportBuilder"
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("r", "e", "p")
        assert app.table.visible_names == ["ReportBuilder"]
        assert app.table.cursor_name == "ReportBuilder", "the cursor stays on its service"
        await pilot.press("enter")
        assert app.focused is app.table
        await pilot.press("s")  # acts on the highlighted service, not on row 2
        await wait_for(pilot, lambda: app.controller.snapshot("ReportBuilder").has_task)
        await pilot.press("escape")
        assert len(app.table.visible_names) == 4
        assert app.table.cursor_name == "ReportBuilder"


async def test_typing_q_in_the_filter_does_not_quit() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q")
        assert app.is_running
        assert app.table.filter_text == "q"


async def test_bang_shows_failing_services_only() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down")
        await press_and_settle(pilot, "n")  # InvoiceMailer fails
        await pilot.press("exclamation_mark")
        assert app.table.visible_names == ["InvoiceMailer"]
        await pilot.press("exclamation_mark")
        assert len(app.table.visible_names) == 4


async def test_cursor_follows_the_service_across_sorting() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("end")
        assert app.table.cursor_name == "EventRelay"
        app.sort_by("name")
        await pilot.pause()
        assert app.table.visible_names[0] == "EventRelay"
        assert app.table.cursor_name == "EventRelay"
        await pilot.press("down")
        assert app.table.cursor_name == "InvoiceMailer"


async def test_clicking_a_row_selects_it_and_a_header_sorts() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#table", offset=(3, 3))  # header line, then rows 0, 1, 2
        assert app.table.cursor_name == "ReportBuilder"
        await pilot.click("#table", offset=(3, 0))
        assert app.table.sort_column == ("name", False)
        assert app.table.cursor_name == "ReportBuilder"


async def test_a_greyed_out_key_notifies_why_and_never_raises() -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert app.check_action("stop", ()) is None
        assert app.check_action("start", ()) is True
        await pilot.press("x")
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert "OrderReaper is not running" in notes(app)
        await pilot.press("end", "n")  # EventRelay is not a loop
        await pilot.pause()
        assert "EventRelay is not a loop service" in notes(app)
        assert app.is_running


async def test_question_mark_and_f1_open_the_help_with_every_binding() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(app.screen.query_one(Static).content)
        text = console.export_text()
        for spec in KEYS:
            assert spec.help in text, spec.id
            assert key_display(spec) in text, spec.id
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_an_action_on_the_named_service() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        texts = [command.text for command in app.palette_commands()]
        for name in app.controller.names:
            assert f"Start {name}" in texts
            assert f"Stop {name} and wait" in texts
        await pilot.press("ctrl+p")
        await pilot.press(*"start reportbuilder")
        await wait_for(pilot, lambda: app.screen.query("CommandList Option").results() is not None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.controller.snapshot("ReportBuilder").has_task)
        assert app.table.cursor_name == "ReportBuilder"


async def test_second_q_forces_the_exit() -> None:
    app = make_app([services.Hanging], start="enabled")
    app.stop_timeout = 30  # a graceful quit would wait this long for Hanging
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: state(app, "Hanging") is ServiceState.RUNNING)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        with anyio.fail_after(5):
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
    assert not app.controller.snapshot("Hanging").has_task


async def test_durations_and_countdowns_come_from_the_controller_clock() -> None:
    clock = ManualClock(50.0)
    app = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await press_and_settle(pilot, "p", "n")
        snap = app.table.snapshot("OrderReaper")
        assert snap is not None
        assert snap.status.last_duration == pytest.approx(0.012)


async def test_keys_typed_right_after_slash_go_to_the_filter_not_to_services() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("slash", "r", "e"):  # one burst, as a terminal delivers a fast typist's keys
            app.simulate_key(key)
        await settle(pilot)
        assert app.table.filter_text == "re"
        assert not app.controller.snapshot("OrderReaper").has_task, "r did not restart anything"
        assert app.detail.tab == "detail", "e did not switch the tab"


async def test_countdown_redraws_as_the_controller_clock_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = ManualClock(100.0)
    app = make_app([services.OrderReaper], clock=clock, start="enabled")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)
        await settle(pilot)
        table = app.table
        assert "7.5s" not in row_text(app, "OrderReaper")
        drawn: list[str] = []
        render_line = table.render_line

        def drawing(y: int) -> Strip:
            strip = render_line(y)
            drawn.append(strip.text)
            return strip

        monkeypatch.setattr(table, "render_line", drawing)
        clock.advance(22.5)
        table.tick()
        await pilot.pause()
        assert [line for line in drawn if "OrderReaper" in line and "7.5s" in line], drawn


async def test_flush_draws_the_countdowns_that_moved_without_waiting_for_the_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`flush()` shows everything now, the moved countdowns too: a screenshot taken right
    after it never has a stale "next" or "running for" cell (the refresh timer is an
    hour away here, so only the flush can draw it)."""
    clock = ManualClock(100.0)
    app = make_app([services.OrderReaper], clock=clock, start="enabled")
    app.refresh_seconds = 3600.0
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: state(app, "OrderReaper") is ServiceState.SLEEPING)
        await settle(pilot)
        drawn: list[str] = []
        render_line = app.table.render_line

        def drawing(y: int) -> Strip:
            strip = render_line(y)
            drawn.append(strip.text)
            return strip

        monkeypatch.setattr(app.table, "render_line", drawing)
        clock.advance(22.5)
        app.flush()
        await pilot.pause()
        assert [line for line in drawn if "OrderReaper" in line and "7.5s" in line], drawn


class ThreadLogger(LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        await anyio.to_thread.run_sync(self.logger.info, "from a worker thread")


async def test_a_log_record_from_another_thread_reaches_the_detail_panel() -> None:
    app = make_app([ThreadLogger])
    async with app.run_test(size=SIZE) as pilot:
        await press_and_settle(pilot, "n", "l")
        await wait_for(pilot, lambda: app.table.snapshot("ThreadLogger").log_count == 1)
        await settle(pilot)
        assert "from a worker thread" in widget_text(app.detail.log_view.lines)


async def test_the_tables_keys_are_its_own_bindings_and_the_services_the_apps() -> None:
    # Each binding lives where it acts: the app's priority bindings used to take the
    # table's keys first, so the table's own never fired.
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        active = app.screen.active_bindings
        for key in ("up", "down", "pageup", "pagedown", "home", "end", "5", "exclamation_mark"):
            assert active[key].node is app.table, key
        for key in ("s", "n", "p", "x", "l", "slash", "question_mark", "q"):
            assert active[key].node is app, key
        await pilot.press("end", "up", "2")
        assert app.table.cursor_name == app.controller.names[-2]
        assert app.table.count == "2"
        assert app.summary.count == "2", "the header shows the count typed"


async def test_keys_typed_faster_than_the_screen_draws_act_in_the_order_typed() -> None:
    # A fast typist (or a paste): the keys arrive together, before any is handled. Each
    # must act on what the keys before it did: the row moved to, the count typed.
    from textual import events

    app = make_app(start="stopped")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first, second = app.controller.names[:2]
        assert app.table.cursor_name == first
        for key, char in (("down", None), ("2", "2"), ("n", "n")):
            app.post_message(events.Key(key, char))
        await wait_for(pilot, lambda: app.controller.snapshot(second).status.loop_count == 2)
        await settle(pilot)
        assert app.table.cursor_name == second
        assert app.controller.snapshot(first).status.loop_count == 0


async def test_a_key_that_greys_out_other_keys_does_not_rebuild_the_footer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: `p` greys out or lights `s` (start); Textual's footer then re-mounted
    all its keys and laid out the screen, in the frame that should show the key's
    effect. The same keys are greyed out or lit in place."""
    app = make_app([services.InvoiceMailer, services.ReportBuilder], start="enabled")
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(Footer)
        rebuilt: list[object] = []
        original = footer.recompose

        async def spy() -> None:
            rebuilt.append(None)
            await original()

        monkeypatch.setattr(footer, "recompose", spy)

        def start_greyed() -> bool:
            keys = {key.action: key for key in app.screen.query("FooterKey")}
            start = keys.get("app.start") or keys.get("start")
            assert start is not None
            return start.has_class("-disabled")

        assert start_greyed()
        for paused in (True, False, True, False):
            await press_and_settle(pilot, "p")
            await wait_for(
                pilot, lambda p=paused: app.controller.snapshot("InvoiceMailer").status.paused is p
            )
            await wait_for(pilot, lambda p=paused: start_greyed() is not p)
        # Lighting a key born greyed out rebuilds once (its click would ring the bell).
        assert len(rebuilt) <= 1, rebuilt
