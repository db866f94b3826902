"""`servicedeck run` in the foreground: start, graceful stop on SIGTERM/SIGINT, forcing."""

from __future__ import annotations

import signal
import time

import pytest

from .conftest import ServiceDeck

GRACEFUL_BOUND = 5.0
"""A graceful stop of services that stop promptly must end the process within this."""


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"]
)
def test_run_stops_gracefully_on_a_signal(sd: ServiceDeck, signum: int) -> None:
    run = sd.start("run", "services.py:Ticker")
    run.wait_for(r"Started 1 service\(s\): Ticker")
    run.wait_for("Ticker: first tick")

    run.signal(signum)
    sent = time.monotonic()
    status = run.finish()

    assert status == 0, run.output()
    assert time.monotonic() - sent < GRACEFUL_BOUND
    assert f"Received {signal.Signals(signum).name}" in run.output()
    assert "Stopped 1 service(s): Ticker " in run.output()
    assert "All services stopped in " in run.output()
    assert (sd.marks / "Ticker.teardown").read_text() == "done"
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_run_cancels_a_service_that_ignores_the_stop_and_names_it(sd: ServiceDeck) -> None:
    run = sd.start("run", "services.py:Ticker", "services.py:Stubborn", "--stop-timeout", "0.3")
    run.wait_for("Stubborn: ignoring every stop")

    run.signal(signal.SIGTERM)
    status = run.finish()

    assert status == 0, run.output()
    assert "Stopped 1 service(s): Ticker " in run.output()
    assert "Cancelled 1 service(s) that did not stop within 0.3 s: Stubborn " in run.output()
    assert (sd.marks / "Stubborn.teardown").exists()  # cancelled, yet its teardown ran
    assert (sd.marks / "Ticker.teardown").exists()


def test_run_second_sigint_during_the_graceful_stop_forces_exit_130(sd: ServiceDeck) -> None:
    run = sd.start("run", "services.py:SlowTeardown")
    run.wait_for("SlowTeardown: first tick")
    run.signal(signal.SIGINT)
    run.wait_for("SlowTeardown: tearing down slowly")

    run.signal(signal.SIGINT)
    status = run.finish(timeout=GRACEFUL_BOUND)

    assert status == 130, run.output()
    assert "Forced exit" in run.output()
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_run_with_nothing_enabled_exits_1(sd: ServiceDeck) -> None:
    result = sd("run", "services.py:Ticker", SERVICEDECK_SERVICES_TICKER_ENABLED="false")

    assert result.status == 1
    assert "No services are enabled!" in result.stderr
    assert "Ticker is disabled (SERVICEDECK_SERVICES_TICKER_ENABLED)" in result.stderr


def test_run_exits_1_when_every_service_crashed(sd: ServiceDeck) -> None:
    sd.write(
        "crashing.py",
        """
        from servicedeck import LoopService

        class BadSetup(LoopService):
            async def setup(self) -> None:
                raise ConnectionError("database unreachable")

            async def run_once(self) -> None: ...
        """,
    )

    result = sd("run", "crashing.py")

    assert result.status == 1
    assert "database unreachable" in result.stderr
    assert "Every service has stopped; crashed: BadSetup" in result.stderr


def test_run_refuses_to_start_while_another_run_holds_the_pid_file(sd: ServiceDeck) -> None:
    first = sd.start("run", "services.py:Ticker")
    first.wait_for("Started")

    second = sd("run", "services.py:Ticker")

    assert second.status == 1
    assert "already running" in second.stderr
    assert str(first.proc.pid) in second.stderr
    first.signal(signal.SIGTERM)
    assert first.finish() == 0


def test_run_a_generator_exit_from_a_service_stops_all_and_names_it(sd: ServiceDeck) -> None:
    sd.write(
        "closing.py",
        """
        from servicedeck import LoopService

        class Closing(LoopService):
            loop_seconds = 0.05

            async def run_once(self) -> None:
                if self.status.loop_count >= 1:
                    raise GeneratorExit
        """,
    )

    result = sd("run", "closing.py", "services.py:Ticker")

    assert result.status == 1
    assert (
        "servicedeck: Closing raised GeneratorExit in run_once; every other service was "
        "stopped. Exiting." in result.stderr
    )
    assert "ExceptionGroup" not in result.stderr
    assert (sd.marks / "Ticker.teardown").read_text() == "done"
    assert not (sd.state_dir / "servicedeck.pid").exists()


DEAF_PY = """
import anyio

from servicedeck import LoopService

from services import MARKS


class Deaf(LoopService):
    \"\"\"Ignores its cancellation too, until the test lets it go.\"\"\"

    async def run_once(self) -> None:
        self.logger.info("deaf to every stop")
        with anyio.CancelScope(shield=True):
            while not (MARKS / "release").exists():
                await anyio.sleep(0.02)
"""


def test_run_names_a_stuck_service_says_what_still_stops_and_times_each_one(
    sd: ServiceDeck,
) -> None:
    sd.write("deaf.py", DEAF_PY)
    run = sd.start(
        "run", "services.py:Ticker", "services.py:Stubborn", "deaf.py", "--stop-timeout", "0.3"
    )
    run.wait_for("Stubborn: ignoring every stop")
    run.wait_for("Deaf: deaf to every stop")

    run.signal(signal.SIGTERM)
    stopped = run.wait_for(r"Stopped 1 service\(s\): Ticker \d")
    cancelled = run.wait_for(r"Cancelled 1 service\(s\) .* 0.3 s: Stubborn \d")
    run.wait_for(r"Stuck: Deaf ignored the cancellation for 0.3 s and still runs; waiting")
    run.wait_for(r"Still stopping after \d+ s: Deaf \(stuck\)")  # progress, while it waits
    (sd.marks / "release").write_text("")
    run.wait_for(r"All services stopped in .* \(the last, Deaf, ended by itself\)")
    status = run.finish()

    assert status == 0, run.output()
    ticker = float(stopped.split("Ticker ")[1].split(" s")[0])
    stubborn = float(cancelled.split("Stubborn ")[1].split(" s")[0])
    assert ticker < 0.3 <= stubborn  # each its own time, not the slowest one's
    assert "kill cancels it" not in run.output()  # there is no kill key in a headless run
    assert not (sd.state_dir / "servicedeck.pid").exists()
