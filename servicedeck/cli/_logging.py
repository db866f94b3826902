"""How `run` (and `ls --debug`) log: a pipeline that keeps the log readable and never
blocks the event loop.

    record -> LogQueue: RepeatedErrors (a repeat of the last error: one line, counted)
                      CappedFormatter (a message, a traceback, a line: each cut)
                      a bounded queue (counts what it drops)   in the logging thread
    ...... -> a QueueListener thread -> stderr (Rich in a terminal, plain lines else)

Writing to stderr happens in the listener's thread, on a descriptor of its own: a full
pipe that nobody reads blocks that thread, never the services. Meanwhile the queue
fills and further records are dropped and counted; once the output drains, a line says
how many were lost.

What is cut from the log is kept elsewhere: the service's `ErrorInfo` (its status, the
console, the control protocol) holds every error's full message and traceback.
"""

from __future__ import annotations

import atexit
import copy
import io
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, cast

from servicedeck import message_of

__all__ = [
    "LINE_CAP",
    "MESSAGE_CAP",
    "QUEUE_CAPACITY",
    "QUIET_SECONDS",
    "CappedFormatter",
    "LogPipeline",
    "LogQueue",
    "RepeatedErrors",
    "configure_logging",
]

MESSAGE_CAP = 2_000
"""Characters of a message (and of each exception's text in a traceback) kept in the log."""
LINE_CAP = 2_400
"""No line of the log is longer than this, its time, level and service included (room
for those beside a message cut to `MESSAGE_CAP`)."""
QUIET_SECONDS = 60.0
"""A repeated error is logged in full again after this long without it."""
QUEUE_CAPACITY = 1_000
"""Records waiting for the output; more are dropped (and counted) until it drains."""
REPEAT_PREVIEW = 200
"""Characters of a repeated error's message shown on its one line."""


def cut(text: str, cap: int) -> str:
    """`text`, or, when it is longer than `cap`, as much of it as fits in `cap` with a
    note of its length: `… [cut: 1,003,918 characters, the first 1,950 shown]`."""
    if len(text) <= cap:
        return text
    kept = cap
    for _ in range(2):  # the note's length depends on the count it states: settle it
        note = f"… [cut: {len(text):,} characters, the first {kept:,} shown]"
        kept = max(cap - len(note), 0)
    note = f"… [cut: {len(text):,} characters, the first {kept:,} shown]"
    return text[:kept] + note


def _where(tb: TracebackType | None) -> tuple[str, int]:
    """The file and line where an exception was raised: its traceback's innermost frame."""
    if tb is None:
        return "", 0
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename, tb.tb_lineno


# -- repeated errors --------------------------------------------------------------------


@dataclass
class _Last:
    """The last error a logger logged with its traceback."""

    key: tuple[str, int, int, str, int]
    first: float
    """When it was last logged in full."""
    last: float
    repeats: int = 0


class RepeatedErrors:
    """Logs an error in full once; a repeat of it as one line that counts the repeats.

    An error is a record with an exception. A repeat is the same exception (type,
    message and the place it was raised) from the same logger as its last error, within
    `quiet` seconds of the one before. It is logged with its level and the first
    characters of its message, without the traceback. A different error, or the same
    one after `quiet` seconds without it, is logged in full again.

    Args:
        quiet: seconds without the error after which it is logged in full again.
    """

    def __init__(self, quiet: float = QUIET_SECONDS) -> None:
        self.quiet = quiet
        self._last: dict[str, _Last] = {}
        self._lock = threading.Lock()  # services may log from threads of their own

    def shorten(self, record: logging.LogRecord) -> logging.LogRecord:
        """`record`, or, for a repeat, a copy of it that says so in one line (the record
        itself is left alone: other handlers may show it in full)."""
        exc_info = record.exc_info
        if not exc_info or exc_info[1] is None:
            return record
        exc = exc_info[1]
        message = message_of(exc)
        path, line = _where(exc_info[2])
        key = (type(exc).__qualname__, hash(message), len(message), path, line)
        with self._lock:
            last = self._last.get(record.name)
            if last is None or last.key != key or record.created - last.last > self.quiet:
                self._last[record.name] = _Last(key, record.created, record.created)
                return record
            last.repeats += 1
            last.last = record.created
            repeats, since = last.repeats, last.first
        short = copy.copy(record)
        short.msg = "%s [the same error again: repeat %d since %s, when it was logged in full]"
        short.args = (
            cut(record.getMessage().split("\n", 1)[0], REPEAT_PREVIEW),
            repeats,
            time.strftime("%H:%M:%S", time.localtime(since)),
        )
        short.exc_info = None
        short.exc_text = None
        return short


# -- caps -------------------------------------------------------------------------------


class CappedFormatter(logging.Formatter):
    """Cuts a message, each exception's text in a traceback, and every line to a cap,
    stating the length of what was cut. Fills `%(who)s` with the service that logged
    the record (`Heartbeat: `), unless the message already starts with its name.
    """

    def __init__(
        self, fmt: str, *, message_cap: int = MESSAGE_CAP, line_cap: int = LINE_CAP
    ) -> None:
        super().__init__(fmt)
        self.message_cap = message_cap
        self.line_cap = line_cap

    def format(self, record: logging.LogRecord) -> str:
        # Formatted afresh, and the record left as it was: `Formatter.format` keeps the
        # traceback it formats on the record, where other handlers would find it cut.
        saved = record.exc_text
        record.exc_text = None
        try:
            text = super().format(record)
        finally:
            record.exc_text = saved
        return "\n".join(cut(line, self.line_cap) for line in text.split("\n"))

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = cut(record.message, self.message_cap)
        name = record.name
        if name.startswith("servicedeck.services."):
            who = name.split(".")[2]
        elif name == "servicedeck.cli":
            who = ""
        else:
            who = name
        if who and record.message.startswith(f"{who}:"):
            who = ""
        record.who = f"{who}: " if who else ""
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        # Each exception of the chain is cut on its own: its frames are kept whole.
        lines = []
        for chunk in traceback.TracebackException(*ei, compact=True).format():
            lines.append(cut(chunk, self.message_cap))
        return "".join(lines).rstrip("\n")


# -- the queue and its listener ---------------------------------------------------------


class LogQueue(logging.handlers.QueueHandler):
    """A `QueueHandler` on a bounded queue that drops what does not fit, and counts it.

    Records are formatted (and cut) here, in the thread that logs, so the queue holds
    only short text. Once a record fits again, a warning saying how many were dropped
    goes first.

    Args:
        capacity: records the queue holds.
    """

    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.records: queue.Queue[Any] = queue.Queue(capacity)
        super().__init__(self.records)
        self.dropped = 0
        """Records dropped since the last warning about it."""
        self.repeats = RepeatedErrors()
        self._count_lock = threading.Lock()

    def prepare(self, record: logging.LogRecord) -> Any:
        return super().prepare(self.repeats.shorten(record))

    def enqueue(self, record: logging.LogRecord) -> None:
        with self._count_lock:
            if self.dropped and not self._put(self._dropped_notice()):
                self.dropped += 1
                return
            self.dropped = 0
            if not self._put(record):
                self.dropped += 1

    def report_dropped(self) -> None:
        """Queue the warning about dropped records now, if there were any (and room)."""
        with self._count_lock:
            if self.dropped and self._put(self._dropped_notice()):
                self.dropped = 0

    def _put(self, record: logging.LogRecord) -> bool:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            return False
        return True

    def _dropped_notice(self) -> logging.LogRecord:
        notice = logging.LogRecord(
            "servicedeck.cli",
            logging.WARNING,
            __file__,
            0,
            "%d log record(s) were dropped: the output (stderr) took no more for a while "
            "(a pipe nobody read fast enough)",
            (self.dropped,),
            None,
        )
        prepared: logging.LogRecord = self.prepare(notice)
        return prepared


class _Listener(logging.handlers.QueueListener):
    """A `QueueListener` whose stop waits a bounded time: a blocked output must not keep
    the process from exiting."""

    def __init__(self, records: queue.Queue[Any], sink: Any) -> None:
        super().__init__(records, sink)
        self.records = records
        self.finished = threading.Event()

    def dequeue(self, block: bool) -> Any:
        record = super().dequeue(block)
        if record is None:  # the sentinel: every record before it was written
            self.finished.set()
        return record

    def close(self, timeout: float) -> bool:
        """Write what is queued, waiting at most `timeout`; True if all was written."""
        deadline = time.monotonic() + timeout
        try:
            self.records.put(None, timeout=timeout)
        except queue.Full:
            return False
        return self.finished.wait(max(deadline - time.monotonic(), 0.0))


class _FdWriter(io.TextIOBase):
    """A text stream on a file descriptor of its own, with no lock another thread (the
    interpreter flushing stderr at exit, say) could be left waiting for."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "backslashreplace")
        while data:
            try:
                written = os.write(self.fd, data)
            except OSError:  # the reader is gone (EPIPE): nothing more can be shown
                return len(text)
            data = data[written:]
        return len(text)

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def fileno(self) -> int:
        return self.fd


class _PlainSink:
    """Writes each (formatted) record as a line."""

    def __init__(self, stream: _FdWriter) -> None:
        self.stream = stream

    def handle(self, record: logging.LogRecord) -> None:
        self.stream.write(f"{record.msg}\n")


class _RichSink:
    """Shows each (formatted) record with Rich's time and level columns."""

    def __init__(self, stream: _FdWriter) -> None:
        from rich.console import Console
        from rich.logging import RichHandler

        self.rich = RichHandler(
            console=Console(file=cast("IO[str]", stream), stderr=True),
            show_path=False,
            markup=False,
            log_time_format="[%X]",
        )

    def handle(self, record: logging.LogRecord) -> None:
        # emit(), not handle(): the handler's own lock would be waited for by
        # logging.shutdown() at exit, while this thread may be blocked on the output.
        self.rich.emit(record)


class LogPipeline:
    """The root logger's output while `run` runs: see the module's docstring.

    Args:
        level: the least level logged.
        stream: where to write (default stderr); duplicated, so its descriptor is the
            listener's own.
        capacity: records the queue holds.
    """

    def __init__(self, level: str, stream: Any = None, capacity: int = QUEUE_CAPACITY) -> None:
        stream = sys.stderr if stream is None else stream
        writer = _FdWriter(os.dup(stream.fileno()))
        self._writer = writer
        self.handler = LogQueue(capacity)
        sink: _PlainSink | _RichSink
        if writer.isatty():
            sink = _RichSink(writer)
            self.handler.setFormatter(CappedFormatter("%(who)s%(message)s"))
        else:
            # Rich pads every line to the console width, which bloats a log file.
            sink = _PlainSink(writer)
            self.handler.setFormatter(
                CappedFormatter("%(asctime)s %(levelname)-8s %(who)s%(message)s")
            )
        self._listener = _Listener(self.handler.records, sink)
        self._listener.start()
        root = logging.getLogger()
        root.addHandler(self.handler)
        root.setLevel(level)
        self._closed = False

    def close(self, timeout: float = 2.0) -> bool:
        """Stop taking records and write out those queued, waiting at most `timeout`
        seconds (the output may be a pipe nobody reads); True if all were written."""
        if self._closed:
            return True
        self._closed = True
        logging.getLogger().removeHandler(self.handler)
        self.handler.report_dropped()
        done = self._listener.close(timeout)
        if done:
            os.close(self._writer.fd)
        return done


def configure_logging(level: str) -> LogPipeline:
    """Send every log record through a `LogPipeline` to stderr until the process exits."""
    pipeline = LogPipeline(level)
    atexit.register(pipeline.close)
    return pipeline
