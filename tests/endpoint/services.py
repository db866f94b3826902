"""Test services of the endpoint tests."""

from __future__ import annotations

import anyio

from servicedeck import LoopService


class Quiet(LoopService):
    """Loops once an hour: it changes only when told to."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.logger.info("loop %d", self.status.loop_count + 1)


class Busy(LoopService):
    """Loops every millisecond: a storm of changes."""

    loop_seconds = 0.001

    async def run_once(self) -> None:
        return None


class Failing(LoopService):
    """Every loop raises."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise ValueError("bad record [bold]42[/bold]")


class Hanging(LoopService):
    """Its loop never ends: only kill stops it."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        await anyio.sleep_forever()
