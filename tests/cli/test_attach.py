"""`servicedeck attach`, end to end: real `servicedeck run` processes, a Pilot-driven
console attached over their sockets, and the effects checked through `status` and
`/metrics`. Also: a process killed under an attached console, quitting that only
detaches, and several processes in one table."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest
from support import app_ready, app_until, row_text, widget_text
from textual.content import Content
from textual.widgets import Static

from servicedeck.control import CombinedControl
from servicedeck.control.remote import RemoteControl
from servicedeck.tui import ServiceDeckApp

from .conftest import DEADLINE, Result, Running, ServiceDeck

pytestmark = pytest.mark.anyio

SIZE = (160, 40)

SHOP = '''
from servicedeck import LoopService


class Reaper(LoopService):
    """Loops once an hour: it changes when the console tells it to."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.logger.info("reaped")


class Ticker(LoopService):
    """Ticks ten times a second: the stream is never quiet."""

    loop_seconds = 0.1

    async def run_once(self) -> None:
        pass
'''


async def started(sd: ServiceDeck, *args: str, **env: str) -> Running:
    """A `servicedeck run` of shop.py, once its services (and endpoint) are up."""
    sd.write("shop.py", SHOP)
    run = sd.start("run", "shop.py", *args, **env)
    await anyio.to_thread.run_sync(run.wait_for, r"Started 2 service\(s\)")
    return run


async def stopped(run: Running) -> int:
    if run.proc.poll() is None:
        run.signal(signal.SIGTERM)
    return await anyio.to_thread.run_sync(run.finish)


async def command(sd: ServiceDeck, *args: str, **env: str) -> Result:
    """`servicedeck ARGS` as a process, awaited."""
    with anyio.fail_after(DEADLINE):
        done = await anyio.run_process(
            sd.argv(*args), cwd=sd.cwd, env={**sd.env, **env}, check=False
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def detail_text(app: ServiceDeckApp) -> str:
    """What the detail panel's body shows."""
    head = app.detail.query_one("#detail-head", Static).render()
    return head.plain if isinstance(head, Content) else str(head)


def socket_of(state_dir: Path) -> str:
    return f"unix:{state_dir}/servicedeck.sock"


async def test_attached_console_steps_and_pauses_where_the_services_run(sd: ServiceDeck) -> None:
    run = await started(sd)
    try:
        app = ServiceDeckApp(RemoteControl(socket_of(sd.state_dir)))
        async with app.run_test(size=SIZE) as pilot:
            await app_ready(pilot)
            assert app.table.names == ["Reaper", "Ticker"]
            app.table.move_cursor("Reaper")
            await pilot.pause()

            await pilot.press("n")
            await app_until(pilot, lambda: app.table.snapshot("Reaper").status.loop_count == 2)
            await pilot.press("p")
            await app_until(pilot, lambda: "paused" in row_text(app, "Reaper"))
            await pilot.press("l")  # its log lines, fetched from the process
            await app_until(pilot, lambda: "reaped" in widget_text(app.detail.log_view.lines))

            await pilot.press("q")  # detaches: the services run on
        status = await command(sd, "status", "--output", "json")
        transport = httpx.AsyncHTTPTransport(uds=str(sd.state_dir / "servicedeck.sock"))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            metrics = (await client.get("/metrics")).text
        still_running = run.proc.poll() is None
    finally:
        assert await stopped(run) == 0, run.output()

    assert still_running
    [answer] = json.loads(status.stdout)
    services = {s["name"]: s for s in answer["services"]}
    assert services["Reaper"]["status"]["loop_count"] == 2
    assert services["Reaper"]["status"]["paused"] is True
    assert services["Reaper"]["has_task"] is True
    assert services["Ticker"]["has_task"] is True  # quitting the console stopped nothing
    assert 'servicedeck_service_loops_total{service="Reaper"} 2.0' in metrics
    assert 'servicedeck_service_state{service="Reaper",state="paused"} 1.0' in metrics


async def test_attached_console_greys_a_killed_process_and_recovers_by_itself(
    sd: ServiceDeck,
) -> None:
    first = await started(sd)
    second: Running | None = None
    app = ServiceDeckApp(RemoteControl(socket_of(sd.state_dir)))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app_ready(pilot)
            grey = app.table.get_component_rich_style("service-table--unreachable", partial=True)

            first.proc.send_signal(signal.SIGKILL)  # mid-stream: Ticker streams all along
            await anyio.to_thread.run_sync(first.finish)
            await app_until(pilot, lambda: bool(app.banner.reasons))

            assert app.banner.has_class("-shown")
            assert "cannot be reached" in app.banner.reasons[0]
            line = app.table.render_line(app.table.visible_names.index("Reaper") + 1)
            assert all(seg.style is not None and grey.color == seg.style.color
                       for seg in line if seg.text.strip())  # fmt: skip
            await pilot.press("n")  # refused, with the reason: nothing is sent
            await pilot.pause()

            second = await started(sd)  # replaces the stale socket
            await app_until(pilot, lambda: not app.banner.reasons)

            assert not app.banner.has_class("-shown")
            assert app.controller.process.pid == second.proc.pid
            snap = app.table.snapshot("Reaper")
            assert snap is not None
            assert snap.unreachable is None
            await pilot.press("q")
        assert app.return_code in (0, None)
    finally:
        if second is not None:
            assert await stopped(second) == 0, second.output()


async def test_attach_shows_several_processes_in_one_table(sd: ServiceDeck, tmp_path: Path) -> None:
    other_state = tmp_path / "other"
    one = await started(sd)
    two = await started(sd, SERVICEDECK_STATE_DIR=str(other_state))
    try:
        control = CombinedControl(
            [RemoteControl(socket_of(sd.state_dir)), RemoteControl(socket_of(other_state))]
        )
        app = ServiceDeckApp(control)
        async with app.run_test(size=SIZE) as pilot:
            await app_ready(pilot)
            await app_until(pilot, lambda: len(app.table.names) == 4)

            assert app.table.names == ["Reaper@1", "Ticker@1", "Reaper@2", "Ticker@2"]
            host = os.uname().nodename
            assert f"{host}:{one.proc.pid}" in row_text(app, "Reaper@1")
            assert f"{host}:{two.proc.pid}" in row_text(app, "Reaper@2")
            app.table.move_cursor("Reaper@2")
            await pilot.pause()
            await pilot.press("p")
            await app_until(pilot, lambda: "paused" in row_text(app, "Reaper@2"))
            await pilot.press("q")
        status = await command(sd, "status", str(sd.state_dir), str(other_state), "-o", "json")
    finally:
        assert await stopped(one) == 0, one.output()
        assert await stopped(two) == 0, two.output()

    first, second = json.loads(status.stdout)
    assert first["services"][0]["status"]["paused"] is False
    assert second["services"][0]["status"]["paused"] is True


def test_attach_help_has_an_example(sd: ServiceDeck) -> None:
    result = sd("attach", "--help")

    assert result.status == 0
    assert "servicedeck attach /srv/app/state" in result.stdout
