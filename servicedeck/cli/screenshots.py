"""Write SVG screenshots of the console's main views: `python -m servicedeck.cli.screenshots`.

    python -m servicedeck.cli.screenshots [--output screenshots] [--seconds 3.5]

Each view runs the console headless at 160x45 on the built-in demo services, in real
time (the demo runs for `--seconds` first so loops, an error and overruns show up), and
saves `main.svg`, `error.svg`, `stepping.svg`, `filter.svg`, `help.svg` and `logs.svg`
(FlakyReaper's log viewer, enlarged, searching its tracebacks); then
`reload-failed.svg`, the console with `--reload` on a small file whose last save has a
syntax error; then `stuck.svg`: the console on a small services file, written to a
temporary folder as a user's would be, whose PriceFetcher loop hangs waiting on an
upstream: the detail panel says how long the loop has run and where it waits. Then it
starts two `servicedeck run` processes of the demo and saves the console attached to
both (`attached.svg`), and again once one of them was killed (`attached-lost.svg`). The
numbers in them differ from run to run; the snapshot tests (tests/tui) are the
deterministic ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from textual.pilot import Pilot

from servicedeck import Service
from servicedeck.control import StopReport
from servicedeck.controller import ServiceController
from servicedeck.tui.app import ServiceDeckApp

__all__ = [
    "demo_app",
    "demo_services",
    "main",
    "take_all",
    "take_attached",
    "take_reload_failed",
]

SIZE = (160, 45)


def demo_services() -> list[type[Service]]:
    """The services of `servicedeck.demo`, in definition order."""
    from servicedeck import demo

    return [cls for cls in Service.all_services() if cls.__module__ == demo.__name__]


def demo_app(
    *,
    start_paused: bool = False,
    clock: Callable[[], float] | None = None,
    root: str | None = None,
    open_stopped: bool = False,
) -> ServiceDeckApp:
    """The console on the demo services, logs kept off the screen.

    Args:
        start_paused: open with the enabled loops paused (`--paused`), for stepping.
        clock: the controller's clock (e.g. a `ManualClock` for snapshot tests).
        root: paths are shown relative to it (default: the working directory).
        open_stopped: open with every service stopped.
    """
    controller = ServiceController(demo_services(), clock=clock, propagate_logs=False, root=root)
    return ServiceDeckApp(controller, start_paused=start_paused, open_stopped=open_stopped)


DemoPilot = Pilot[StopReport | None]
"""A pilot of the console (whose `run()` returns the final `StopReport`)."""

Scenario = Callable[[DemoPilot, float], Awaitable[None]]


async def _settle(pilot: DemoPilot) -> None:
    app = pilot.app
    assert isinstance(app, ServiceDeckApp)
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.flush()
    app.clear_notifications()
    await pilot.pause()


async def _main(pilot: DemoPilot, seconds: float) -> None:
    await pilot.pause(seconds)
    await pilot.press("down")


async def _error(pilot: DemoPilot, seconds: float) -> None:
    await pilot.pause(seconds)
    await pilot.press("down", "e")


async def _stepping(pilot: DemoPilot, seconds: float) -> None:
    await pilot.press("down")  # it opened paused (setup done): n steps it
    await pilot.pause(0.2)
    for _ in range(4):
        await pilot.press("n")
        await _settle(pilot)


async def _filter(pilot: DemoPilot, seconds: float) -> None:
    await pilot.pause(seconds)
    await pilot.press("slash", "r", "e", "enter")


async def _help(pilot: DemoPilot, seconds: float) -> None:
    await pilot.press("question_mark")


async def _logs(pilot: DemoPilot, seconds: float) -> None:
    await pilot.pause(seconds)
    await pilot.press("down", "l", "l")  # FlakyReaper's logs, enlarged: the keys are theirs
    await pilot.press("slash", *"TypeError", "enter")


SCENARIOS: dict[str, tuple[bool, Scenario]] = {
    "main": (False, _main),
    "error": (False, _error),
    "stepping": (True, _stepping),
    "filter": (False, _filter),
    "help": (False, _help),
    "logs": (False, _logs),
}
"""name -> (start paused, what to do before the screenshot)."""


async def take(name: str, output: Path, seconds: float) -> Path:
    """Run one scenario and save `<output>/<name>.svg`."""
    start_paused, scenario = SCENARIOS[name]
    app = demo_app(start_paused=start_paused)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await scenario(pilot, seconds)
        await _settle(pilot)
        return Path(app.save_screenshot(f"{name}.svg", str(output)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def take_attached(output: Path, seconds: float) -> list[Path]:
    """Start two `servicedeck run` of the demo, attach the console to both, and save it;
    then kill the second and save it again, its rows greyed under the banner."""
    from servicedeck.control import CombinedControl, wait_until
    from servicedeck.control.remote import RemoteControl

    with tempfile.TemporaryDirectory(prefix="sd-shot-") as folder:
        # On loopback TCP, so that the banner names no path of this machine.
        token = secrets.token_urlsafe(16)
        runs, addresses = [], []
        for name in ("web-1", "web-2"):
            address = f"tcp://127.0.0.1:{_free_port()}"
            env = dict(
                os.environ,
                SERVICEDECK_STATE_DIR=str(Path(folder) / name),
                SERVICEDECK_CONTROL_TOKEN=token,
            )
            runs.append(
                await anyio.open_process(
                    [sys.executable, "-m", "servicedeck", "run", "--control", address],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            addresses.append(address)
        try:
            control = CombinedControl(
                [RemoteControl(address, token=token) for address in addresses]
            )
            app = ServiceDeckApp(control)
            async with app.run_test(size=SIZE) as pilot:
                await app.ready.wait()
                await wait_until(control, lambda: not control.unreachable, timeout=30)
                await pilot.pause(seconds)
                await pilot.press("down")
                await _settle(pilot)
                attached = Path(app.save_screenshot("attached.svg", str(output)))
                runs[1].send_signal(signal.SIGKILL)
                await runs[1].wait()
                await wait_until(control, lambda: bool(control.unreachable), timeout=30)
                await _settle(pilot)
                lost = Path(app.save_screenshot("attached-lost.svg", str(output)))
                await pilot.press("q")
        finally:
            for run in runs:
                if run.returncode is None:
                    run.terminate()
                    with anyio.fail_after(30):
                        await run.wait()
    return [attached, lost]


RELOADED = '''"""Shop services, reloaded on save."""

from servicedeck import LoopService


class OrderReaper(LoopService):
    """Deletes expired orders."""

    loop_seconds = 0.5

    async def run_once(self) -> None:
        self.logger.info("reaped %d expired orders", 3)


class EventRelay(LoopService):
    """Relays events to the bus."""

    loop_seconds = 0.5

    async def run_once(self) -> None:
        self.logger.info("relayed a batch")
'''


async def take_reload_failed(output: Path, seconds: float) -> Path:
    """`servicedeck --reload` on a small services file: one save reloads it, the next has
    a syntax error. Saves `reload-failed.svg`: the banner, and the detail's Code line."""
    from servicedeck.discovery import discover
    from servicedeck.reload import Reloader

    with tempfile.TemporaryDirectory(prefix="sd-shot-") as folder:
        path = Path(folder) / "shop_services.py"
        path.write_text(RELOADED)
        classes = discover([str(path)]).classes
        controller = ServiceController(classes, propagate_logs=False, root=folder)
        reloader = Reloader(controller, lambda: discover([str(path)]).classes, root=Path(folder))
        app = ServiceDeckApp(controller)
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            await pilot.pause(seconds / 2)
            path.write_text(RELOADED.replace("%d expired orders", "%d expired orders (v2)"))
            await reloader.reload_files([path])
            await pilot.pause(seconds / 2)
            broken = RELOADED.replace('self.logger.info("reaped', 'self.logger.info(("reaped')
            path.write_text(broken)
            await reloader.reload_files([path])
            await pilot.pause(0.5)
            await _settle(pilot)
            shot = Path(app.save_screenshot("reload-failed.svg", str(output)))
            await pilot.press("q")
        for name in [n for n in sys.modules if n == "shop_services"]:
            del sys.modules[name]
    return shot


HUNG_SERVICES = '''\
"""A user's services: one of them waits for an upstream that never answers."""

import anyio

from servicedeck import LoopService


class PriceFetcher(LoopService):
    """Fetches prices from the upstream every second; this time it never answers."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        prices = await self.fetch_prices()
        self.logger.info("fetched %d prices", len(prices))

    async def fetch_prices(self) -> list[float]:
        async with anyio.create_task_group() as group:
            group.start_soon(self.wait_for_reply, "EUR")
            group.start_soon(self.wait_for_reply, "USD")
        return []

    async def wait_for_reply(self, currency: str) -> None:
        self.logger.info("asked the upstream for %s prices", currency)
        await anyio.Event().wait()  # the reply that never comes


class OrderSync(LoopService):
    """Syncs orders every second."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        await anyio.sleep(0.05)
        self.logger.info("synced orders")
'''
"""The services file of `stuck.svg`, written as a user writes one."""


async def take_stuck(output: Path, seconds: float) -> Path:
    """The console on `HUNG_SERVICES` (a file in a temporary folder, loaded as `servicedeck
    FILE` loads it): PriceFetcher's loop hangs; save its detail panel as `stuck.svg`."""
    from servicedeck.discovery import load_target

    with tempfile.TemporaryDirectory(prefix="sd-shot-") as folder:
        path = Path(folder) / "prices.py"
        path.write_text(HUNG_SERVICES, encoding="utf-8")
        classes = load_target(str(path), base=Path(folder))
        controller = ServiceController(classes, propagate_logs=False, root=folder)
        app = ServiceDeckApp(controller)
        app.stop_timeout = 0.5  # PriceFetcher never ends its loop: quitting cancels it
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            # "Running for" long enough to be judged stale (3 intervals without a loop).
            await pilot.pause(max(seconds, 4.5))
            await _settle(pilot)
            return Path(app.save_screenshot("stuck.svg", str(output)))


async def take_all(output: Path, seconds: float = 3.5) -> list[Path]:
    """Save every view's screenshot in `output` (which must exist)."""
    shots = [await take(name, output, seconds) for name in SCENARIOS]
    shots.append(await take_reload_failed(output, seconds))
    shots.append(await take_stuck(output, seconds))
    return shots + await take_attached(output, seconds)


def main(argv: list[str] | None = None) -> int:
    """The command line of this module."""
    parser = argparse.ArgumentParser(
        prog="python -m servicedeck.cli.screenshots", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--output", type=Path, default=Path("screenshots"), help="folder to write to"
    )
    parser.add_argument(
        "--seconds", type=float, default=3.5, help="how long the demo runs before each screenshot"
    )
    args = parser.parse_args(argv)
    if args.seconds < 0:
        parser.error(f"--seconds must be >= 0, got {args.seconds!r}")
    args.output.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(take_all(args.output, args.seconds)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
