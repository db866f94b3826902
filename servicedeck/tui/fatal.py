"""How the console leaves when a service raises a `BaseException` (KeyboardInterrupt,
SystemExit, ...): the process status Python would choose, and the one line printed.
"""

from __future__ import annotations

from rich.text import Text

__all__ = ["exit_status", "fatal_message"]


def exit_status(fatal: BaseException) -> int:
    """The status a process ends with when `fatal` escapes it, as Python would choose."""
    if isinstance(fatal, KeyboardInterrupt):
        return 130  # 128 + SIGINT, as shells report an interrupted command
    if isinstance(fatal, SystemExit):
        return fatal.code if isinstance(fatal.code, int) else (0 if fatal.code is None else 1)
    return 1


def fatal_message(fatal: BaseException) -> Text:
    """What the console prints on leaving because a service raised `fatal`."""
    notes = [n for n in getattr(fatal, "__notes__", ()) if n.startswith("servicedeck: ")]
    return Text(notes[-1] if notes else f"servicedeck: a service raised {fatal!r}.")
