"""How `run` (and `ls --debug`) log: Rich in a terminal, plain lines in a file or pipe."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


class _LogFormatter(logging.Formatter):
    """Fills `%(who)s` with the service that logged the record (`Heartbeat: `).

    Left empty for the command's own records, and when the message already starts with
    the service's name (the framework's own messages do).
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        name = record.name
        if name.startswith("servicedeck.services."):
            who = name.split(".")[2]
        elif name == "servicedeck.cli":
            who = ""
        else:
            who = name
        if who and str(record.message).startswith(f"{who}:"):
            who = ""
        record.who = f"{who}: " if who else ""
        return super().formatMessage(record)


def configure_logging(level: str) -> None:
    """Rich logging to stderr in a terminal; plain timestamped lines in a file or pipe."""
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(
            console=Console(stderr=True),
            show_path=False,
            markup=False,
            rich_tracebacks=True,
            log_time_format="[%X]",
        )
        handler.setFormatter(_LogFormatter("%(who)s%(message)s"))
    else:
        # Rich pads every line to the console width, which bloats a log file.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LogFormatter("%(asctime)s %(levelname)-8s %(who)s%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
