"""Per-service log capture: each service's `logger` output kept in a bounded ring.

Services log to `servicedeck.services.<name>` (and children). `LogCapture` is a
`logging.Handler` on `servicedeck.services` that files each record under its service, so
a console can show a service's recent lines without anything being written over the
screen.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from servicedeck.control import LogLine

__all__ = ["LOGGER_PREFIX", "LogCapture", "service_log"]

LOGGER_PREFIX = "servicedeck.services"


def service_log(name: str) -> logging.Logger:
    """The log of service `name`: what the console's log tab and `run` show."""
    return logging.getLogger(f"{LOGGER_PREFIX}.{name}")


class LogCapture(logging.Handler):
    """Keeps the last `capacity` records of each service, in rings.

    Args:
        capacity: lines kept per service; older ones are dropped.
        on_record: called with the service name after each captured record.
        clock: stamps each line's `at` (monotonic); views show times on it, so a
            test's fake clock makes them deterministic.
    """

    def __init__(
        self,
        capacity: int = 200,
        on_record: Callable[[str], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(logging.DEBUG)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"log capacity must be a whole number >= 1, got {capacity!r}")
        self.capacity = capacity
        self.on_record = on_record
        self.clock = clock
        self._rings: dict[str, deque[LogLine]] = {}
        self._counts: dict[str, int] = {}
        self._logger: logging.Logger | None = None
        self._propagate = True
        self._level = logging.NOTSET

    def lines(self, name: str) -> list[LogLine]:
        """The captured lines of service `name`, oldest first."""
        ring = self._rings.get(name)
        return list(ring) if ring else []

    def count(self, name: str) -> int:
        """How many lines of service `name` were ever captured (kept or dropped).

        It only grows (until `clear()`), so a view can tell that new lines arrived.
        """
        return self._counts.get(name, 0)

    def clear(self, name: str) -> None:
        """Forget the lines of service `name`."""
        self._rings.pop(name, None)
        self._counts.pop(name, None)

    def emit(self, record: logging.LogRecord) -> None:
        rest = record.name[len(LOGGER_PREFIX) + 1 :]
        name = rest.split(".", 1)[0] if rest else ""
        if not name:
            return
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}\n{self.formatException(record.exc_info)}".rstrip()
        except Exception:
            self.handleError(record)
            return
        at: float | None = None
        if self.clock is not None:
            try:
                at = self.clock()
            except Exception:
                # anyio's clock only works in the event loop; a thread's record has none.
                at = None
        ring = self._rings.get(name)
        if ring is None:
            ring = self._rings[name] = deque(maxlen=self.capacity)
        ring.append(LogLine(record.created, record.levelno, record.levelname, message, at))
        self._counts[name] = self._counts.get(name, 0) + 1
        if self.on_record is not None:
            self.on_record(name)

    def formatException(self, ei: object) -> str:
        return logging.Formatter().formatException(ei)  # type: ignore[arg-type]

    def attach(self, *, propagate: bool = True, level: int = logging.INFO) -> None:
        """Install on the `servicedeck.services` logger.

        Args:
            propagate: False keeps service records from reaching the root logger's
                handlers (a full-screen console wants that).
            level: the least level captured.
        """
        logger = logging.getLogger(LOGGER_PREFIX)
        self._logger = logger
        self._propagate = logger.propagate
        self._level = logger.level
        logger.addHandler(self)
        logger.propagate = propagate
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)

    def detach(self) -> None:
        """Undo `attach()`."""
        if self._logger is not None:
            self._logger.removeHandler(self)
            self._logger.propagate = self._propagate
            self._logger.setLevel(self._level)
            self._logger = None
