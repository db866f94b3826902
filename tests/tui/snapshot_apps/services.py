"""Services for the console tests, written like user code.

Their durations come from the controller's clock: each loop advances the `ManualClock`
it is given, so snapshots show the same numbers on every run and every machine.
"""

from __future__ import annotations

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
