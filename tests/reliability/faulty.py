"""Services that fail in one phase each, written like user code, and a healthy neighbour.

Shared by the controller and console fault tests.
"""

from __future__ import annotations

import time

import anyio

from servicedeck import LoopService, Service, ServicesBaseSetting


class Healthy(LoopService):
    """The neighbour that must keep looping whatever the others do."""

    loop_seconds = 0.01

    async def run_once(self) -> None:
        pass


class SettingsFail(LoopService):
    loop_seconds = 3600

    @classmethod
    def service_settings(cls) -> ServicesBaseSetting:
        raise RuntimeError("settings broke")

    async def run_once(self) -> None:
        pass


class SetupFails(LoopService):
    loop_seconds = 3600

    async def setup(self) -> None:
        raise RuntimeError("setup broke")

    async def run_once(self) -> None:
        pass


class LoopFails(LoopService):
    loop_seconds = 0.01

    async def run_once(self) -> None:
        raise RuntimeError("run_once broke")


class TeardownFails(LoopService):
    loop_seconds = 3600

    async def run_once(self) -> None:
        await self.stop(block=False)

    async def teardown(self) -> None:
        raise RuntimeError("teardown broke")


class StartFails(Service):
    async def start(self) -> None:
        raise RuntimeError("start broke")

    async def stop(self) -> None:
        pass


class StopFails(Service):
    async def start(self) -> None:
        await anyio.sleep_forever()

    async def stop(self) -> None:
        raise RuntimeError("stop broke")


class InitFails(LoopService):
    loop_seconds = 3600

    def __init__(self) -> None:
        super().__init__()
        raise RuntimeError("init broke")

    async def run_once(self) -> None:
        pass


ALL = [
    Healthy, InitFails, SettingsFail, SetupFails, LoopFails, TeardownFails, StartFails,
    StopFails,
]  # fmt: skip
"""One of each, the healthy one first."""

CRASHING = {
    "InitFails": "init",
    "SettingsFail": "init",
    "SetupFails": "setup",
    "TeardownFails": "teardown",
    "StartFails": "start",
}
"""Services whose fault ends them: crashed, with the phase that raised."""


class Blocking(LoopService):
    """Its loop blocks the event loop with synchronous work (the fault under test)."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.crunch()

    def crunch(self) -> None:
        time.sleep(0.6)


class Relay(Service):
    """Not a loop: runs until stopped (no fault; a plain neighbour)."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = anyio.Event()

    async def start(self) -> None:
        self.stopping = anyio.Event()
        await self.stopping.wait()

    async def stop(self) -> None:
        self.stopping.set()
