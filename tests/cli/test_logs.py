"""`run`'s log: a repeated error is one line, counted; a huge error is cut, its length
stated; a full output pipe never blocks the event loop, and what it cost is logged once
the pipe drains. The rules on records made here, then `run` as a process."""

from __future__ import annotations

import logging
import os
import select
import signal
import statistics
import subprocess
import time

import pytest

from servicedeck.cli._logging import (
    LINE_CAP,
    MESSAGE_CAP,
    CappedFormatter,
    LogQueue,
    RepeatedErrors,
)

from .conftest import DEADLINE, ServiceDeck

HUGE = "\n".join(f"record {i}: " + "x" * 990 for i in range(1_000))
"""A 1 MB, multi-line error message."""


def raise_here(exc: BaseException) -> None:
    raise exc


def error_record(exc: BaseException, created: float, name: str = "servicedeck.services.A"):
    try:
        raise_here(exc)
    except BaseException as caught:
        record = logging.LogRecord(
            name, logging.ERROR, __file__, 1, "A: loop failed: %r", (caught,), (
                type(caught), caught, caught.__traceback__,
            ),
        )  # fmt: skip
    record.created = created
    return record


def is_full(record: logging.LogRecord) -> bool:
    return record.exc_info is not None and "the same error again" not in record.getMessage()


def test_repeats_of_an_error_are_one_line_each_counted_until_another_error() -> None:
    repeats = RepeatedErrors(quiet=60.0)
    a = ValueError("bad record 7")

    first = repeats.shorten(error_record(a, 1000.0))
    again = [repeats.shorten(error_record(ValueError("bad record 7"), 1000.0 + i)) for i in (1, 2)]
    other = repeats.shorten(error_record(KeyError("bad record 7"), 1003.0))
    back = repeats.shorten(error_record(ValueError("bad record 7"), 1004.0))

    assert is_full(first)
    assert [r.exc_info for r in again] == [None, None]
    assert again[1].getMessage().startswith("A: loop failed: ValueError('bad record 7') [the ")
    assert "repeat 2 since " in again[1].getMessage()
    assert is_full(other), "a different error (here another type) is logged in full"
    assert is_full(back), "and so is the first one again after it"


def test_a_repeat_is_logged_in_full_again_after_a_quiet_period() -> None:
    repeats = RepeatedErrors(quiet=60.0)

    outcomes = [
        is_full(repeats.shorten(error_record(ValueError("down"), created)))
        for created in (1000.0, 1059.0, 1118.0, 1178.5, 1179.0)
    ]

    assert outcomes == [True, False, False, True, False]  # 60.5 s without it, then again


def test_errors_differ_by_message_and_by_logger() -> None:
    repeats = RepeatedErrors()

    assert is_full(repeats.shorten(error_record(ValueError("one"), 1.0)))
    assert is_full(repeats.shorten(error_record(ValueError("two"), 2.0)))
    assert is_full(repeats.shorten(error_record(ValueError("two"), 3.0, "servicedeck.B")))
    assert not is_full(repeats.shorten(error_record(ValueError("two"), 4.0)))


def test_a_huge_multi_line_error_is_cut_with_its_length_stated() -> None:
    formatter = CappedFormatter("%(asctime)s %(levelname)-8s %(who)s%(message)s")
    record = error_record(ValueError(HUGE), 1000.0)

    text = formatter.format(record)

    assert len(text) < 2 * MESSAGE_CAP + 1_000  # the message, the traceback's frames, its text
    assert max(len(line) for line in text.splitlines()) <= LINE_CAP
    message = f"A: loop failed: {ValueError(HUGE)!r}"
    assert f"[cut: {len(message):,} characters, the first 1,948 shown]" in text
    assert f"[cut: {len('ValueError: ' + HUGE) + 1:,} characters" in text  # the traceback's
    assert "in raise_here\n    raise exc\n" in text  # the frames are whole
    assert record.exc_text is None  # the record is left for other handlers whole


def test_a_full_queue_drops_records_and_then_says_how_many() -> None:
    handler = LogQueue(capacity=2)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test_logs.queue")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(5):
            logger.warning("line %d", i)
        taken = [handler.queue.get_nowait().msg for _ in range(2)]  # the output drains
        logger.warning("line 5")
    finally:
        logger.removeHandler(handler)

    assert taken == ["line 0", "line 1"]
    assert [handler.queue.get_nowait().msg for _ in range(2)] == [
        "3 log record(s) were dropped: the output (stderr) took no more for a while (a pipe "
        "nobody read fast enough)",
        "line 5",
    ]


# -- `run` as a process ------------------------------------------------------------------

FLOOD_PY = '''
from servicedeck import LoopService

HUGE = "\\n".join(f"record {i}: " + "x" * 990 for i in range(1_000))


class Flood(LoopService):
    """Fails every 0.2 s with the same 1 MB, multi-line error."""

    loop_seconds = 0.2

    async def run_once(self) -> None:
        raise ValueError(HUGE)
'''


def test_run_logs_a_flood_of_huge_errors_in_full_once_then_a_line_each(sd: ServiceDeck) -> None:
    sd.write("flood.py", FLOOD_PY)
    run = sd.start("run", "flood.py")
    run.wait_for("Flood: loop 15 failed")  # 3 s of failures

    run.signal(signal.SIGTERM)
    assert run.finish() == 0, run.output()[-2_000:]

    log = run.output()
    # Proportional to the target: under 1 MB for 300 such errors (60 s).
    assert len(log.encode()) < 1_000_000 * 15 / 300
    assert max(len(line) for line in run.seen) <= LINE_CAP
    assert log.count("Traceback (most recent call last)") == 1
    assert log.count("[the same error again: repeat ") >= 14
    assert "Flood: loop 15 failed: ValueError('record 0: xxx" in log
    first = f"Flood: loop 1 failed: {ValueError(HUGE)!r}"
    assert f"[cut: {len(first):,} characters, the first 1,948 shown]" in log
    assert f"[cut: {len('ValueError: ' + HUGE) + 1:,} characters" in log  # the traceback's


PROBE_PY = '''
import logging
import os
import statistics

import anyio

from servicedeck import LoopService, Service

log = logging.getLogger("servicedeck.services.Chatty")


class Chatty(LoopService):
    """Logs 4,000 lines a second: far more than anyone reads from its pipe."""

    loop_seconds = 0.005

    async def run_once(self) -> None:
        for i in range(20):
            self.logger.info("chatter %d of loop %d %s", i, self.status.loop_count, "." * 150)


class Probe(Service):
    """Measures how late the event loop wakes it, and tells the test."""

    async def start(self) -> None:
        lags = []
        while True:
            began = anyio.current_time()
            await anyio.sleep(0.01)
            lags.append(anyio.current_time() - began - 0.01)
            if len(lags) == int(os.environ.get("SD_PROBE_SAMPLES", "200")):  # about 2 s
                p95 = statistics.quantiles(lags, n=20)[-1]
                note = f"p95 {p95:.4f} max {max(lags):.4f} samples {len(lags)}\\n"
                os.write(int(os.environ["SD_NOTES_FD"]), note.encode())

    async def stop(self) -> None:
        raise NotImplementedError  # ended by cancellation, after --stop-timeout
'''


def read_note(fd: int) -> str:
    deadline = time.monotonic() + DEADLINE
    data = b""
    while not data.endswith(b"\n"):
        readable, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not readable:
            pytest.fail(f"no note within {DEADLINE} s: the event loop is blocked")
        chunk = os.read(fd, 100)
        if not chunk:
            pytest.fail("the run ended without a note")
        data += chunk
    return data.decode().strip()


def test_run_with_an_output_pipe_nobody_reads_keeps_its_event_loop_live(
    sd: ServiceDeck,
) -> None:
    sd.write("probe.py", PROBE_PY)
    notes, notes_writer = os.pipe()
    proc = subprocess.Popen(
        sd.argv("run", "probe.py", "--stop-timeout", "0.2"),
        cwd=sd.cwd,
        env={**sd.env, "SD_NOTES_FD": str(notes_writer)},
        pass_fds=(notes_writer,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,  # neither is read until the probe has spoken
        stderr=subprocess.PIPE,
    )
    os.close(notes_writer)
    try:
        note = read_note(notes)

        assert note.startswith("p95 ")
        assert float(note.split()[1]) < 0.050
        # Now the pipe drains: the run says how many records it had to drop.
        assert proc.stderr is not None
        seen = b""
        deadline = time.monotonic() + DEADLINE
        while b"log record(s) were dropped" not in seen and time.monotonic() < deadline:
            seen = seen[-200:] + os.read(proc.stderr.fileno(), 65536)
        assert b"log record(s) were dropped" in seen
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=DEADLINE)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        os.close(notes)


def test_statistics_quantiles_gives_the_95th_percentile_the_probe_reports() -> None:
    assert statistics.quantiles(range(1, 101), n=20)[-1] == pytest.approx(95.95)
