"""Pilot tests of the log viewer: it follows, scrolls, searches, filters by level, wraps,
copies, and shows tracebacks with relative paths (defect 4)."""

from __future__ import annotations

import logging

import anyio
import pytest
from support import REPOSITORY, widget_text
from textual import events
from textual.pilot import Pilot

from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.widgets.log_view import LogLines, LogView

from .snapshot_apps import services
from .snapshot_apps.apps import make_app, press_and_settle, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 36)


def log_app() -> ServiceDeckApp:
    return make_app([services.Chatty, services.OrderReaper])


def lines(app: ServiceDeckApp) -> LogLines:
    return app.detail.query_one(LogLines)


def view(app: ServiceDeckApp) -> LogView:
    return app.detail.query_one(LogView)


def shown(app: ServiceDeckApp) -> str:
    return widget_text(lines(app))


async def step(pilot: Pilot[object], loops: int) -> None:
    """Run `loops` loops of Chatty through the protocol (not a key: the focus stays)."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    await app.controller.step("Chatty", loops)
    await settle(pilot)


async def test_the_logs_tab_opens_at_the_bottom_and_follows_new_lines() -> None:
    """Defect 4: the Logs tab did not follow new lines, and once opened at the top."""
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 40)
        await press_and_settle(pilot, "l")
        assert "line 40 of the log" in shown(app)
        assert lines(app).is_vertical_scroll_end
        await step(pilot, 5)
        assert "line 45 of the log" in shown(app)
        assert view(app).following


async def test_scrolling_up_stops_following_and_G_resumes() -> None:
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 40)
        await press_and_settle(pilot, "l", "l")  # enlarged: the log viewer has focus
        assert app.focused is lines(app)
        await pilot.press("pageup", "k", "k")
        assert not view(app).following
        await step(pilot, 3)
        assert "line 43 of the log" not in shown(app), "scrolled up: it stays where it is"
        await pilot.press("G")
        await pilot.pause()
        assert view(app).following
        assert "line 43 of the log" in shown(app)
        loops = app.controller.snapshot("Chatty").status.loop_count
        await pilot.press("n")  # the log viewer's n: not a step
        await settle(pilot)
        assert app.controller.snapshot("Chatty").status.loop_count == loops


async def test_slash_searches_the_logs_and_n_goes_to_the_next_match() -> None:
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 30)
        await press_and_settle(pilot, "l", "l")
        await pilot.press("slash", *"line 2", "enter")
        await pilot.pause()
        assert view(app).matches == 11  # line 2, 20-29
        first = view(app).selected
        assert first is not None
        assert first.message == "line 2 of the log"
        await pilot.press("n")
        await pilot.pause()
        second = view(app).selected
        assert second is not None
        assert second.message == "line 20 of the log"
        await pilot.press("N")
        await pilot.pause()
        assert view(app).selected == first
        assert "11 matches" in widget_text(app.detail.query_one("#log-status"))
        loops = app.controller.snapshot("Chatty").status.loop_count
        assert loops == 30, "n and / acted on the logs, not on the table"


async def test_tracebacks_in_the_logs_show_relative_paths() -> None:
    """Defect 4: tracebacks in Logs showed absolute paths, the Error tab relative ones."""
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 3)
        await press_and_settle(pilot, "l")
        text = shown(app)
        assert "could not parse loop 3" in text
        assert 'File "tests/tui/snapshot_apps/services.py"' in text
        assert REPOSITORY not in text


async def test_v_shows_debug_lines_and_asks_for_them_to_be_captured() -> None:
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 1)
        await press_and_settle(pilot, "l", "l")
        assert "debug detail" not in shown(app)
        await press_and_settle(pilot, "v", "v", "v")  # WARNING, ERROR, then DEBUG
        await wait_for(pilot, lambda: app.controller.snapshot("Chatty").log_level == logging.DEBUG)
        await step(pilot, 1)
        assert "debug detail of loop 2" in shown(app)
        await press_and_settle(pilot, "v")  # INFO: no longer captured
        await wait_for(pilot, lambda: app.controller.snapshot("Chatty").log_level is None)
        assert "debug detail" not in shown(app)


async def test_y_copies_the_selected_line_with_its_traceback() -> None:
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 3)
        await press_and_settle(pilot, "l", "l")
        await pilot.press("slash", *"could not", "enter", "y")
        await pilot.pause()
        copied = app.clipboard
        assert "could not parse loop 3" in copied
        assert 'File "tests/tui/snapshot_apps/services.py"' in copied
        assert "ValueError: invalid literal" in copied


async def test_w_wraps_long_lines() -> None:
    class Wordy(services.Chatty):
        async def run_once(self) -> None:
            self.logger.info("start " + "word " * 60 + "end")

    app = make_app([Wordy])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.controller.step("Wordy", 1)
        await settle(pilot)
        await press_and_settle(pilot, "l", "l")
        assert "end" not in shown(app).split("start", 1)[1]
        await pilot.press("w")
        await pilot.pause()
        assert "end" in shown(app).split("start", 1)[1]


async def test_escape_gives_the_keys_back_to_the_table() -> None:
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "l", "l")
        assert app.focused is lines(app)
        # Textual's own Esc brings an enlarged panel back first; then Esc leaves the logs.
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert app.focused is app.table
        assert app.screen.maximized is None
        with anyio.fail_after(5):
            await press_and_settle(pilot, "n")  # the table's n again: a step
        await wait_for(pilot, lambda: app.controller.snapshot("Chatty").status.loop_count == 1)


async def test_keys_typed_fast_after_slash_go_to_the_search_box() -> None:
    """As a terminal delivers them (tmux send-keys `/ d i v Enter`): the box has the
    focus before the next key, so `v` is typed, not a level change, and Enter searches
    instead of showing the detail tab."""
    app = log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, 6)
        await press_and_settle(pilot, "l")
        for key, character in [("l", "l"), ("slash", "/"), *zip("parsev", "parsev", strict=True)]:
            app.post_message(events.Key(key, character))  # not awaited, as a terminal sends
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        await pilot.pause()
        assert app.detail.tab == "logs"
        assert lines(app).level == logging.INFO
        assert lines(app).search == "parsev"
        assert app.focused is lines(app)


async def test_an_empty_log_says_so() -> None:
    app = make_app([services.Hanging])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "l")
        assert "No log line of Hanging captured yet." in shown(app)
