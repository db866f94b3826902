"""The controller's change stream: who is told when a service changed."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger("servicedeck")


class Subscribers:
    """Calls each subscriber with a service's name after every change of that service."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change; returns an unsubscriber."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def changed(self, name: str) -> None:
        """Tell every subscriber that service `name` changed; one that raises is logged."""
        for callback in tuple(self._subscribers):
            try:
                callback(name)
            except Exception:
                logger.exception("controller subscriber %r raised", callback)
