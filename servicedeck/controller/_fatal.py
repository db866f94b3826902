"""A service's BaseException (KeyboardInterrupt, SystemExit, ...): held, then raised.

Such an exception must end the process, but not by tearing through the controller's task
group (on asyncio that would leave the event loop with every other service half-run).
The controller holds the first one while it stops every service, then raises it from its
`async with` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from servicedeck import add_fatal_note, report_fatal

if TYPE_CHECKING:
    from servicedeck.controller._entry import Entry


class Fatal:
    """The first BaseException a service raised, and a sentence saying where."""

    __slots__ = ("exc", "what")

    def __init__(self) -> None:
        self.exc: BaseException | None = None
        self.what: str | None = None
        """Why every service is stopping (e.g. `Relay raised SystemExit in loop`)."""

    def hold(self, entry: Entry, exc: BaseException, *, can_stop: bool) -> bool:
        """Log `exc` in `entry`'s log; keep it if it is the first and services can be stopped.

        Returns:
            True when it was kept: the caller now stops every service.
        """
        error = entry.instance.status.last_error if entry.instance else None
        what = report_fatal(entry.name, exc, error)
        if self.exc is not None or not can_stop:
            return False  # the first one is being handled
        self.exc, self.what = exc, what
        return True

    def raise_held(self) -> None:
        """Raise the held exception (once), with a note (PEP 678) saying which service raised it."""
        fatal, self.exc = self.exc, None
        if fatal is not None:
            add_fatal_note(fatal, self.what or "")
            raise fatal
