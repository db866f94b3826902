"""What the console shows of reloads (`--reload`): the banner of a failed reload, and
the detail's Code line (reloaded at, old code, removed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from servicedeck.tui import ServiceDeckApp

from .snapshot_apps import services
from .snapshot_apps.apps import make_app, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 32)
ERROR = "tests/tui/snapshot_apps/services.py:12: SyntaxError: invalid syntax"

SnapCompare = Callable[..., bool]


async def reload_all(app: ServiceDeckApp) -> None:
    """What a save of the test services' module does, with the same classes."""
    controller = app.controller
    await controller.replace_classes(services.ALL, {services.OrderReaper.__module__})  # type: ignore[attr-defined]


async def test_the_banner_names_the_failed_reload_and_goes_once_fixed() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.reload_banner
        assert not banner.has_class("-shown")
        app.controller.set_reload_error(["OrderReaper", "EventRelay"], ERROR)  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: banner.has_class("-shown"))
        text = str(banner.render())
        assert ERROR in text
        assert "OrderReaper" in text
        assert "EventRelay" in text
        app.controller.set_reload_error(["OrderReaper", "EventRelay"], None)  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: not banner.has_class("-shown"))


async def test_the_detail_says_reloaded_at() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await reload_all(app)
        await wait_for(
            pilot, lambda: app.controller.snapshot("OrderReaper").reloaded_at is not None
        )
        await settle(pilot)
        assert any(
            "reloaded (new code)" in line.message for line in app.controller.logs("OrderReaper")
        )


def test_reload_failed_banner_and_marker(snap_compare: SnapCompare) -> None:
    """A reload worked (the detail says reloaded at), then a save failed: the banner."""

    async def run_before(pilot: Pilot[object]) -> None:
        app = pilot.app
        assert isinstance(app, ServiceDeckApp)
        await settle(pilot)
        await reload_all(app)
        app.controller.set_reload_error(["EventRelay"], ERROR)  # type: ignore[attr-defined]
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(120, 32), run_before=run_before)
