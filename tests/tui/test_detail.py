"""Pilot tests of the detail panel: the live "running for", the await stack of a loop that
runs now, the health verdict with its reason, and the duration plot."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from support import widget_text
from textual.content import Content
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static

from servicedeck import ServiceState
from servicedeck.controller import ManualClock
from servicedeck.tui import ServiceDeckApp
from servicedeck.tui.widgets.await_stack import AwaitStackView
from servicedeck.tui.widgets.detail import DetailPanel
from servicedeck.tui.widgets.duration_plot import DurationPlot, PlotData
from servicedeck.tui.widgets.text_lines import TextLines

from .snapshot_apps import services
from .snapshot_apps.apps import make_app, press_and_settle, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 40)
FAST = 0.02
"""The stack's refresh period in these tests (a second in the console)."""


@pytest.fixture(autouse=True)
def _fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DetailPanel, "LIVE_SECONDS", FAST)


async def until(pilot: Pilot[object], condition: object, deadline: float = 10.0) -> None:
    """Let the app run (its timers too) until `condition()` holds, under a deadline."""
    assert callable(condition)
    with anyio.fail_after(deadline):
        while not condition():
            await pilot.pause(FAST)


def detail_text(app: ServiceDeckApp) -> str:
    """The text of the detail tab: its head, live line, stack and tail, as drawn."""
    return "\n".join(
        widget_text(widget)
        for widget in app.detail.query(
            "#detail-head, #detail-live, #detail-stack, #detail-settings, #detail-tail"
        )
        if widget.display
    )


def hanging_app() -> tuple[ServiceDeckApp, ManualClock]:
    clock = ManualClock(1000.0)
    app = make_app([services.Hanging, services.OrderReaper], clock=clock)
    app.stop_timeout = 0.1  # Hanging never ends its loop: quitting cancels it
    return app, clock


async def test_detail_of_a_hung_loop_shows_running_for_and_where_it_waits() -> None:
    """Defect 10: a hung loop looked normal (LAST/NEXT `—`) until X was pressed."""
    app, clock = hanging_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")  # Hanging: setup, then a loop that never returns
        await wait_for(pilot, lambda: app.controller.snapshot("Hanging").status.loop_started_at)
        clock.advance(12.0)
        await until(pilot, lambda: "running for 12s" in detail_text(app))
        await until(pilot, lambda: "sleep_forever" in detail_text(app))
        text = detail_text(app)
        assert "tests/tui/snapshot_apps/services.py:" in text
        assert "await anyio.sleep_forever()" in text
        assert "your code waits here" in text
        assert services.__file__ not in text, "paths are shown relative to the root"
        clock.advance(3.0)
        await until(pilot, lambda: "running for 15s" in detail_text(app))
        # Nothing changed in the service, yet it is no longer healthy: no loop finished
        # for 15 intervals. The verdict is read again while the loop runs.
        await until(pilot, lambda: "stale · no loop finished for" in detail_text(app))
        assert "healthy" not in detail_text(app)


async def test_the_stack_is_fetched_only_while_a_loop_runs_and_is_shown() -> None:
    app, _ = hanging_app()
    asked: list[str] = []
    where = app.controller.where

    async def counted(name: str) -> object:
        asked.append(name)
        return await where(name)

    app.controller.where = counted  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "down", "n")  # OrderReaper: one quick loop
        for _ in range(10):
            await pilot.pause(FAST)
        assert asked == [], "nothing runs: the stack is not asked for"
        await pilot.press("up", "n")
        await until(pilot, lambda: len(asked) >= 3)
        assert set(asked) == {"Hanging"}
        await pilot.press("e")  # the error tab does not show the stack
        await pilot.pause()
        count = len(asked)
        for _ in range(10):
            await pilot.pause(FAST)
        assert len(asked) <= count + 1


async def test_y_copies_the_await_stack_with_relative_paths() -> None:
    app, _ = hanging_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await until(pilot, lambda: "sleep_forever" in detail_text(app))
        await pilot.press("y")
        copied = app.clipboard
        assert copied.startswith("Await stack of Hanging")
        assert "tests/tui/snapshot_apps/services.py:" in copied
        assert "await anyio.sleep_forever()" in copied
        assert services.__file__ not in copied


async def test_detail_says_the_health_verdict_and_why_without_contradiction() -> None:
    """Defect 10: `○ stopped · stopped` and `◐ stuck · healthy` said nothing, or the opposite."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = detail_text(app)
        assert "stopped · stopped" not in text
        assert "never started" in text  # the reason the verdict gives
        await press_and_settle(pilot, "down", "n")  # InvoiceMailer: its loop raises
        text = detail_text(app)
        assert app.controller.snapshot("InvoiceMailer").health_reason in text
        assert "failing" in text


async def test_a_stuck_service_is_not_called_healthy() -> None:
    app = make_app([services.Hanging], start="enabled")
    app.stop_timeout = 0.1
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: app.controller.snapshot("Hanging").status.loop_started_at)
        await pilot.press("X")  # the stop times out: stuck
        await wait_for(pilot, lambda: app.controller.snapshot("Hanging").stuck)
        await settle(pilot)
        text = detail_text(app)
        assert "stuck" in text
        assert "healthy" not in text
        assert app.controller.snapshot("Hanging").status.state is ServiceState.STOPPING


async def test_the_lower_half_of_the_detail_panel_plots_loop_durations() -> None:
    """Defect 13: the detail panel left its lower half empty."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "3", "n")  # OrderReaper: three 12 ms loops
        panel = app.detail.region
        plot = app.detail.query_one(DurationPlot)
        assert plot.display
        assert plot.region.y <= panel.y + panel.height // 2 + 1
        assert plot.region.bottom == panel.bottom
        drawn = widget_text(plot)
        assert "12ms" in drawn
        assert "30s" in drawn  # the interval, on the axis
        assert drawn.count("█") >= 3


async def test_the_detail_panel_redraws_only_what_changed() -> None:
    """A change that touches nothing shown in the head redraws no part of the panel."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "n")
        parts = {
            part.id: part.content
            for part in app.detail.query(
                "#detail-head, #detail-settings, #detail-tail, #detail-live"
            )
        }
        plot = app.detail.query_one(DurationPlot)
        drawn = plot.data
        app.detail.show(
            app.controller.snapshot("OrderReaper"),
            app.controller.logs("OrderReaper"),
            app.controller.epoch,
        )
        for _ in range(5):
            await pilot.pause(FAST)
        for part in app.detail.query("#detail-head, #detail-settings, #detail-tail, #detail-live"):
            assert part.content is parts[part.id], part.id
        assert plot.data is drawn
        assert not app.detail.query_one(AwaitStackView).display


async def test_a_stack_that_did_not_change_is_not_drawn_again() -> None:
    """Each capture has a new time, its child tasks' too: only what is drawn is compared
    (drawing the stack again at every refresh cost 14x the CPU)."""

    class Fanout(services.Hanging):
        async def run_once(self) -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(self.wait_reply)
                group.start_soon(self.wait_reply)

        async def wait_reply(self) -> None:
            await anyio.sleep_forever()

    clock = ManualClock(1000.0)
    app = make_app([Fanout], clock=clock)
    app.stop_timeout = 0.1
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        view = app.detail.query_one(AwaitStackView)
        await until(pilot, lambda: "wait_reply" in widget_text(view))
        drawn = view.content
        captured = view.stack
        clock.advance(1.0)  # the next capture has another time
        await until(pilot, lambda: view.stack is not captured)  # captured again
        for _ in range(5):
            await pilot.pause(FAST)
        assert view.content is drawn


async def test_a_new_log_line_does_not_lay_out_the_settings_again() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "n")
        settings = app.detail.query_one("#detail-settings", Static).content
        tail = app.detail.query_one("#detail-tail", Static).content
        await press_and_settle(pilot, "n")  # a loop: new counters, a new log line
        assert app.detail.query_one("#detail-settings", Static).content is settings
        assert app.detail.query_one("#detail-tail", Static).content is not tail


async def test_a_change_that_keeps_the_panels_height_asks_for_no_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: the head's counters change at every loop; each update of a part asked
    Textual to lay out the screen again, which repainted every widget on it (4 times a
    second with the highlighted service busy). A part whose lines keep their number and
    fit its width is redrawn in place (`Static.update(..., layout=False)`)."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(6):  # five log lines in the tail: its height is set
            await press_and_settle(pilot, "n")
        layouts: list[str] = []
        for part in app.detail.query(Static):
            original = part.update

            def spy(
                content: object = "", *, layout: bool = True, _part: Static = part,
                _original: object = original,
            ) -> None:  # fmt: skip
                if layout:
                    layouts.append(str(_part.id))
                assert callable(_original)
                _original(content, layout=layout)

            monkeypatch.setattr(part, "update", spy)
        # The head is drawn line by line: it asks for a layout itself, when its rows change.
        head_widget = app.detail.query_one("#detail-head", TextLines)
        refresh = head_widget.refresh

        def spy_refresh(*regions: Region, layout: bool = False, **kwargs: bool) -> TextLines:
            if layout:
                layouts.append("detail-head")
            return refresh(*regions, layout=layout, **kwargs)

        monkeypatch.setattr(head_widget, "refresh", spy_refresh)
        head = head_widget.content
        tail = app.detail.query_one("#detail-tail", Static).content
        for _ in range(3):
            await press_and_settle(pilot, "n")  # a loop: new counters, a new log line
        assert head_widget.content is not head
        assert app.detail.query_one("#detail-tail", Static).content is not tail
        assert layouts == []


async def test_the_plot_is_drawn_from_segments_once_per_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: the chart (a span per bar and row, about 1,200) was one Rich `Text`
    turned into Textual content and wrapped at every change, about 10 ms, four times a
    second for a busy service shown. It is drawn line by line from segments, once per
    change of its data or its size."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "n")
        plot = app.detail.query_one(DurationPlot)
        converted: list[object] = []
        original = Content.from_rich_text

        def spy(text: object, *args: object, **kwargs: object) -> Content:
            converted.append(text)
            return original(text, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Content, "from_rich_text", spy)
        region = Region(0, 0, *plot.size)
        first = plot.render_lines(region)
        assert plot.render_lines(region) == first
        data = plot.data
        assert data is not None
        plot.plot((*data.durations, 0.5), (*data.failed, False), data.interval, at_once=True)
        drawn = plot.render_lines(region)
        assert drawn != first
        assert "the last 2 loops" in "".join(strip.text for strip in drawn)
        assert converted == []


async def test_a_busy_plot_is_redrawn_at_most_once_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15: a service looping 20 times a second slid its chart's bars four times a
    second, its 20 rows costing more to draw than the rest of the panel. While loops keep
    coming it is redrawn once a `REDRAW_SECONDS` with the latest durations; a step, or
    another service highlighted, at once."""
    monkeypatch.setattr(DurationPlot, "REDRAW_SECONDS", 0.3)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        plot = app.detail.query_one(DurationPlot)
        redrawn = asyncio.Event()
        refresh = plot.refresh

        def spy(*regions: Region, **kwargs: bool) -> DurationPlot:
            redrawn.set()
            return refresh(*regions, **kwargs)

        monkeypatch.setattr(plot, "refresh", spy)
        plot.plot((0.1,), (False,), 1.0, at_once=True)
        redrawn.clear()
        plot.plot((0.1, 0.2), (False, False), 1.0)
        plot.plot((0.1, 0.2, 0.3), (False, False, False), 1.0)
        assert plot.data == PlotData((0.1,), (False,), 1.0), "not yet: drawn a moment ago"
        assert not redrawn.is_set()
        with anyio.fail_after(5):
            await redrawn.wait()
        assert plot.data == PlotData((0.1, 0.2, 0.3), (False,) * 3, 1.0), "the latest"
        plot.plot((0.4,), (True,), 1.0, at_once=True)
        assert plot.data == PlotData((0.4,), (True,), 1.0), "a step: at once"

        # Another service highlighted shows its own loops at once, however recent the
        # last redraw.
        await press_and_settle(pilot, "n")
        shown = app.table.cursor_name
        await pilot.press("j")
        await settle(pilot)
        assert app.table.cursor_name != shown
        status = app.controller.snapshot(app.table.cursor_name or "").status
        assert plot.data is not None
        assert plot.data.durations == status.recent_durations
