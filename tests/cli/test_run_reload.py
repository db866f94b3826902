"""`servicedeck run --reload`: a save reloads the service, a syntax error is logged and
the old code runs on."""

from __future__ import annotations

import signal

import pytest

from .conftest import ServiceDeck

pytest.importorskip("watchfiles")

EDITED = """
from servicedeck import LoopService


class Edited(LoopService):
    loop_seconds = 0.2

    async def run_once(self) -> None:
        self.logger.info("Edited: version %s", {version})
"""


def test_run_reload_runs_the_saved_code_and_survives_a_syntax_error(sd: ServiceDeck) -> None:
    path = sd.write("edited.py", EDITED.format(version=1))
    run = sd.start("run", "--no-control", "--reload", "edited.py")
    run.wait_for("Edited: version 1")

    path.write_text(EDITED.format(version="(2"))
    run.wait_for(r"Edited: reload failed: edited.py:\d+: SyntaxError")
    run.wait_for("Edited: version 1")  # the old code runs on
    path.write_text(EDITED.format(version=3) + "\n")
    run.wait_for("Edited: version 3")

    run.signal(signal.SIGTERM)
    assert run.finish() == 0, run.output()
