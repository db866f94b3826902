"""What a subcommand is: its grammar and its handler, declared together, once.

Each module of `servicedeck.cli` (`console`, `ls`, `run`, `stop`) defines one
`Subcommand`; `servicedeck.cli.SUBCOMMANDS` lists them, and the parser, the help's command
list and the dispatch are all made from that list.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliExit",
    "Subcommand",
    "fail",
    "positive_seconds",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FORCED = 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a tool whose reader left early."""


class CliExit(Exception):
    """Leave `main()` with this status (its message, if any, was printed)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def fail(message: str, status: int = EXIT_USAGE) -> CliExit:
    """Print `servicedeck: error: <message>` to stderr; return the exit to raise."""
    print(f"servicedeck: error: {message}", file=sys.stderr)
    return CliExit(status)


@dataclass(frozen=True)
class Subcommand:
    """One command of `servicedeck`: how it is parsed and what it does.

    Attributes:
        name: the word that selects it (`ls`); `""` for the console, the default command.
        summary: one line for the top-level help's list of commands.
        description: the first paragraph of its own `--help`.
        epilog: the end of its `--help`, with examples (`examples:` then lines).
        add_arguments: adds its options to its parser (the common ones are added for it).
        run: its handler; returns the exit status, or raises `CliExit`.
        targets: it takes `TARGET ...` (where services come from).
    """

    name: str
    summary: str
    description: str
    epilog: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int] = field(repr=False)
    targets: bool = True

    @property
    def prog(self) -> str:
        """How its usage line starts: `servicedeck ls`."""
        return f"servicedeck {self.name}".rstrip()


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0.

    It is `CliSettings`' validation of the same values (`_settings.Seconds`), so an
    option and its variable accept exactly the same.
    """
    from pydantic import ValidationError

    from servicedeck.cli._settings import SECONDS

    try:
        return SECONDS.validate_python(text)
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise argparse.ArgumentTypeError(
            f"{text!r}: {reason} (expected a number of seconds > 0)"
        ) from None
