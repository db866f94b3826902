"""Services shared by the core test modules."""

from __future__ import annotations

from servicedeck import LoopService


class Recorder(LoopService):
    """Loops once a minute and records its hooks in `events`."""

    loop_seconds = 60

    def __init__(self, loop_seconds: float | None = None, handle_signals: bool = False) -> None:
        super().__init__(loop_seconds, handle_signals)
        self.events: list[str] = []

    async def setup(self) -> None:
        self.events.append("setup")

    async def run_once(self) -> None:
        self.events.append("run")

    async def teardown(self) -> None:
        self.events.append("teardown")
