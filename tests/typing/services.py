"""Service definitions that `mypy --strict` must accept (checked by `.ci/run`).

A plain service whose `start()` returns when stopped, and one that runs until cancelled
(`-> NoReturn`), are both correct overrides of `Service.start()`; so are loop services
driven with and without a loop count.
"""

from __future__ import annotations

from typing import NoReturn

import anyio

from servicedeck import LoopService, Service


class ReturnsWhenStopped(Service):
    """A plain service: `start()` returns once `stop()` was called."""

    def __init__(self) -> None:
        super().__init__()
        self._stopping = anyio.Event()

    async def start(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        self._stopping.set()


class RunsUntilCancelled(Service):
    """A service that never returns from `start()`."""

    async def start(self) -> NoReturn:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        return None


class Beat(LoopService):
    loop_seconds = 1.0

    async def run_once(self) -> None:
        return None


async def drive() -> None:
    await Beat().start(loops=3)  # returns None
    plain: Service = ReturnsWhenStopped()
    await plain.start()
