"""`Subscribers`: who a control tells when a service changed (`ServiceControl.subscribe`).

The in-process controller and the remote client both keep one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


class Subscribers:
    """Calls each subscriber with a service's name after every change of that service.

    Args:
        log: where a subscriber that raises is logged.
        whose: names the control in that log line (e.g. `controller`).
    """

    def __init__(self, log: logging.Logger, whose: str) -> None:
        self._callbacks: list[Callable[[str], None]] = []
        self._log = log
        self._whose = whose

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change; returns an unsubscriber."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def changed(self, name: str) -> None:
        """Tell every subscriber that service `name` changed; one that raises is logged."""
        for callback in tuple(self._callbacks):
            try:
                callback(name)
            except Exception:
                self._log.exception("%s subscriber %r raised", self._whose, callback)
