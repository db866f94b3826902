"""`r` says what it did: a notification and a line in the service's log (issue 10, defect 11)."""

from __future__ import annotations

import pytest
from support import notifications

from .snapshot_apps.apps import make_app, press_and_settle, settle, wait_for

pytestmark = pytest.mark.anyio

SIZE = (120, 32)


async def test_r_notifies_and_logs_what_it_did() -> None:
    app = make_app(start="enabled")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "r")
        await wait_for(pilot, lambda: any("restarted" in n for n in notifications(app)))
        [note] = [n for n in notifications(app) if "restarted" in n]
        assert note.startswith("OrderReaper restarted")
        assert any("restarted" in line.message for line in app.controller.logs("OrderReaper"))


async def test_r_on_a_stopped_service_says_it_started_it() -> None:
    app = make_app(start="stopped")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await press_and_settle(pilot, "r")
        await wait_for(pilot, lambda: any("started" in n for n in notifications(app)))
        assert any("OrderReaper started" in n for n in notifications(app))
