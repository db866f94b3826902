"""Services for the console tests, written like user code.

Their durations come from the controller's clock: each loop advances the `ManualClock`
it is given, so snapshots show the same numbers on every run and every machine.
"""

from __future__ import annotations

import asyncio

import anyio
from support.tracked import Tracked

from servicedeck import LoopService, RunInAllServers, Service
from servicedeck.controller import ManualClock

CLOCK = ManualClock(1000.0)
"""The clock the snapshot apps run on (tests that need their own make one)."""


class OrderReaper(Tracked, LoopService):
    """Reaps expired orders: each loop takes 12 ms on the test clock."""

    loop_seconds = 30.0
    clock: ManualClock = CLOCK

    def __init__(self) -> None:
        super().__init__()
        self.setups = 0
        self.teardowns = 0

    async def setup(self) -> None:
        self.setups += 1

    async def run_once(self) -> None:
        self.clock.advance(0.012)
        self.logger.info("reaped %d orders", self.status.loop_count + 1)

    async def teardown(self) -> None:
        self.teardowns += 1


class InvoiceMailer(LoopService):
    """Mails invoices; fails on every loop with Rich markup in its message."""

    loop_seconds = 60.0

    async def run_once(self) -> None:
        self._render({"customer": "[bold]ACME[/bold]"})

    def _render(self, invoice: dict[str, str]) -> str:
        raise ValueError(f"cannot render invoice for {invoice['customer']}: no template")


class ReportBuilder(LoopService):
    """Builds reports every 5 minutes."""

    loop_seconds = 300.0

    async def run_once(self) -> None:
        self.logger.info("report built")


class EventRelay(RunInAllServers, Service):
    """Relays events between servers (not a loop)."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = anyio.Event()

    async def start(self) -> None:
        self._stop = anyio.Event()
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()


class Hanging(LoopService):
    """A loop that never returns and ignores stop requests (for stuck and kill)."""

    loop_seconds = 1.0

    async def run_once(self) -> None:
        await anyio.sleep_forever()


ALL = [OrderReaper, InvoiceMailer, ReportBuilder, EventRelay]


class Gated(LoopService):
    """Each loop waits until its gate opens (a loop that runs while steps queue behind it)."""

    loop_seconds = 60.0
    gate = anyio.Event()

    async def run_once(self) -> None:
        await type(self).gate.wait()


class PaymentGateway(LoopService):
    """Fails on every loop with a long message (what a narrow screen must keep readable)."""

    loop_seconds = 30.0

    async def run_once(self) -> None:
        raise ConnectionError("cannot reach the payment gateway at payments.internal:443")


class Chatty(LoopService):
    """Logs at each level every loop, and a traceback every third loop (the log viewer)."""

    loop_seconds = 60.0

    async def run_once(self) -> None:
        loop = self.status.loop_count + 1
        self.logger.debug("debug detail of loop %d", loop)
        self.logger.info("line %d of the log", loop)
        if loop % 3 == 0:
            try:
                self._parse(f"loop {loop}")
            except ValueError:
                self.logger.exception("could not parse loop %d", loop)

    def _parse(self, text: str) -> int:
        return int(text)


class Upstream(LoopService):
    """Calls an upstream that never answers: its loop hangs (the await stack shows where).

    It waits on a bare future, so every frame of the stack is this file's or anyio's:
    the same on every Python version."""

    loop_seconds = 5.0

    async def run_once(self) -> None:
        await self.fetch_prices()

    async def fetch_prices(self) -> None:
        reply = await self.ask("GET /prices")
        self.logger.info("got %s", reply)

    async def ask(self, request: str) -> str:
        self.logger.info("asked upstream: %s", request)
        return str(await asyncio.get_running_loop().create_future())


class Jittery(LoopService):
    """Loops of uneven length on the test clock: some overrun the interval, every fifth
    raises (the duration plot)."""

    loop_seconds = 0.05
    clock: ManualClock = CLOCK
    PATTERN = (0.012, 0.020, 0.031, 0.064, 0.018, 0.009, 0.027, 0.041, 0.075, 0.015)

    async def run_once(self) -> None:
        loop = self.status.loop_count
        self.clock.advance(self.PATTERN[loop % len(self.PATTERN)])
        if loop % 5 == 4:
            raise TimeoutError(f"upstream timed out on loop {loop + 1}")
