"""Where `status` and `attach` find the processes they ask: `ADDRESS ...` on the command
line, or the `servicedeck run` of the state directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from servicedeck.cli._command import EXIT_USAGE, fail

if TYPE_CHECKING:
    from servicedeck.control import ControlAddress

__all__ = ["add_addresses_argument", "control_addresses"]


def add_addresses_argument(parser: argparse.ArgumentParser) -> None:
    """Add the positional `ADDRESS ...` to `parser`."""
    parser.add_argument(
        "addresses",
        nargs="*",
        metavar="ADDRESS",
        help="a process's control endpoint (default: the state directory's)",
    )


def control_addresses(texts: list[str], state_dir: Path) -> list[ControlAddress]:
    """The addresses named on the command line, or the state directory's socket.

    Raises:
        CliExit: an address is not valid (a one-line usage error, status 2).
    """
    from servicedeck.control import ControlAddress
    from servicedeck.control._address import SOCKET_NAME

    if not texts:
        return [ControlAddress("unix", path=str((state_dir / SOCKET_NAME).absolute()))]
    addresses = []
    for text in texts:
        try:
            addresses.append(ControlAddress.parse(text))
        except ValueError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
    return addresses
