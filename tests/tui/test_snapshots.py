"""Snapshot tests of every view (pytest-textual-snapshot).

Update them after a deliberate change of the screen with
`python -m pytest tests/tui/test_snapshots.py --snapshot-update`, and look at the
report (snapshot_report.html) before committing. They run with the Textual version
pinned in tests/constraints.txt.

Determinism: every app runs on a frozen `ManualClock` (services advance it by a fixed
amount per loop), nothing shows wall-clock time, the filter's cursor does not blink in
headless mode, and each scenario waits on the app's state (ready, workers done,
changes applied) before the screenshot. Tracebacks show paths relative to the working
directory and hide the framework's frames, so another checkout renders the same.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from servicedeck import ServiceState
from servicedeck.cli.screenshots import demo_app
from servicedeck.controller import ManualClock
from servicedeck.tui.app import ServiceDeckApp
from servicedeck.tui.widgets.detail import DetailPanel

from .snapshot_apps import services
from .snapshot_apps.apps import ROOT, make_app, press_and_settle, settle, wait_for

WIDE = (160, 45)
SMALL = (80, 24)

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _no_demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's services read their settings from the environment: make it neutral."""
    for name in ("HEARTBEAT", "FLAKY_REAPER", "SLOW_REPORT", "TELEMETRY_UPLOADER"):
        monkeypatch.delenv(f"SERVICEDECK_SERVICES_{name}_ENABLED", raising=False)
    monkeypatch.delenv("DEMO_LATE_RUNS_LOOP_SECONDS", raising=False)


async def _quiet(pilot: Pilot[object]) -> None:
    """No toasts in a screenshot (they expire on a real-time timer), and every change
    and moved countdown drawn (not left to the refresh timer's next tick)."""
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    app.flush()
    app.clear_notifications()
    await pilot.pause()


def test_demo_at_start_wide(snap_compare: SnapCompare) -> None:
    """The demo services just started: each enabled loop ran once (on a frozen clock)."""
    app = demo_app(clock=ManualClock(1000.0), root=ROOT)

    def settled() -> bool:
        snaps = {s.name: s for s in app.controller.snapshots()}
        loops_done = all(
            s.status.loop_count >= 1 and s.status.state is ServiceState.SLEEPING
            for s in snaps.values()
            if s.is_loop and s.enabled
        )
        return loops_done and snaps["EventDistributor"].status.state is ServiceState.RUNNING

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await wait_for(pilot, settled)
        await settle(pilot)
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_stepping_a_paused_service_small(snap_compare: SnapCompare) -> None:
    """p starts OrderReaper paused, then 3n runs three loops: the row, the detail, 80x24."""

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "p", "3", "n")
        await _quiet(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=run_before)


def test_error_traceback_open(snap_compare: SnapCompare) -> None:
    """e on a service whose loop raised: message shown literally ([bold] is not markup)."""

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "down", "n", "n", "e")
        await _quiet(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=run_before)


def test_help_screen(snap_compare: SnapCompare) -> None:
    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await _quiet(pilot)

    assert snap_compare(
        make_app(), press=["question_mark"], terminal_size=(110, 50), run_before=run_before
    )


def test_filter_applied(snap_compare: SnapCompare) -> None:
    """/ then 're' then enter: three services shown, the cursor stayed on its service."""

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "down", "down", "n", "slash", "r", "e", "enter")
        await _quiet(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 30), run_before=run_before)


def test_settings_error(snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service whose enabling variable does not parse: listed, explained, not started."""
    monkeypatch.setenv("SERVICEDECK_SERVICES_HEARTBEAT_ENABLED", "maybe")
    app = demo_app(open_stopped=True, clock=ManualClock(1000.0), root=ROOT)

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


def test_kill_confirmation(snap_compare: SnapCompare) -> None:
    """--paused, then ctrl+k on OrderReaper (paused, not stuck): the one-key confirmation."""

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "ctrl+k")
        await _quiet(pilot)

    assert snap_compare(make_app(start="paused"), terminal_size=SMALL, run_before=run_before)


def test_queued_steps(snap_compare: SnapCompare) -> None:
    """n on a paused loop that runs long, then n n n: the row says `+3 queued`."""
    services.Gated.gate = anyio.Event()
    app = make_app([services.Gated, services.OrderReaper, services.ReportBuilder], start="paused")
    app.stop_timeout = 0.1  # its loop waits for a gate no one opens: cancel it at the end

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(
            pilot, lambda: app.controller.snapshot("Gated").status.loop_started_at is not None
        )
        await pilot.press("n", "n", "n")
        await wait_for(pilot, lambda: app.controller.snapshot("Gated").status.queued_steps == 3)
        # Not settle(): the steps' workers wait for the gate.
        app.flush()
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_failing_services_80x24(snap_compare: SnapCompare) -> None:
    """80x24: SERVICE, STATE, LOOPS, ERR, LAST and a readable LAST ERROR; ? help and q quit
    in the footer; the cursor on a failing row."""
    classes = [services.OrderReaper, services.InvoiceMailer, services.PaymentGateway]

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "n", "j", "n", "j", "n")
        await _quiet(pilot)

    assert snap_compare(make_app(classes), terminal_size=SMALL, run_before=run_before)


def test_huge_error_message_is_cut_and_the_screen_stays_live() -> None:
    """A 1 MB error message: the table cell and the detail panel show a bounded part."""

    class Enormous(services.InvoiceMailer):
        async def run_once(self) -> None:
            raise RuntimeError("[bold]x" + "y" * 1_000_000)

    app = make_app([Enormous])

    async def scenario() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            with anyio.fail_after(10):
                await press_and_settle(pilot, "n", "e")
            head = str(pilot.app.query_one("#detail-head").content)
            assert head.startswith("RuntimeError: [bold]xyyy")
            assert "cut: 1,000,007 characters" in head
            assert len(head) < 25_000

    anyio.run(scenario)


def test_await_stack_of_a_hung_loop(
    snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch
) -> None:
    """n on Upstream, whose loop never returns; 42 s later (on the frozen clock): the
    detail says how long it has run and where it waits, its own innermost frame marked."""
    monkeypatch.setattr(DetailPanel, "LIVE_SECONDS", 0.02)
    clock = ManualClock(1000.0)
    app = make_app([services.Upstream, services.OrderReaper], clock=clock)
    app.stop_timeout = 0.1

    def waiting() -> bool:
        return "create_future" in str(app.detail.query_one("#detail-stack", Static).content)

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.controller.snapshot("Upstream").status.loop_started_at)
        clock.advance(42.0)
        with anyio.fail_after(10):
            while not waiting() or "42s" not in str(
                app.detail.query_one("#detail-live", Static).content
            ):
                await pilot.pause(0.02)
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_duration_plot(snap_compare: SnapCompare) -> None:
    """24 loops of uneven length at a 50 ms interval: overruns yellow, failures red."""
    clock = ManualClock(1000.0)
    services.Jittery.clock = clock
    app = make_app([services.Jittery, services.OrderReaper], clock=clock)

    async def run_before(pilot: Pilot[object]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, "2", "4", "n")
        await _quiet(pilot)

    try:
        assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
    finally:
        services.Jittery.clock = services.CLOCK


async def _chatty_log_enlarged(pilot: Pilot[object], app: ServiceDeckApp) -> None:
    """Chatty steps 30 loops, then `l l` opens its log viewer enlarged."""
    await settle(pilot)
    await app.controller.step("Chatty", 30)
    await settle(pilot)
    await press_and_settle(pilot, "l", "l")


def test_log_viewer_following(snap_compare: SnapCompare) -> None:
    """l twice after 30 loops: the log viewer enlarged, on its last line, following."""
    app = make_app([services.Chatty])

    async def run_before(pilot: Pilot[object]) -> None:
        await _chatty_log_enlarged(pilot, app)
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)


def test_log_viewer_searching(snap_compare: SnapCompare) -> None:
    """/ 'loop 1' Enter, then n: the matches highlighted, the second one selected."""
    app = make_app([services.Chatty])

    async def run_before(pilot: Pilot[object]) -> None:
        await _chatty_log_enlarged(pilot, app)
        await pilot.press("slash", *"loop 1", "enter", "n")
        await pilot.pause()
        await _quiet(pilot)

    assert snap_compare(app, terminal_size=(120, 30), run_before=run_before)
