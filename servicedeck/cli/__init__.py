"""The `servicedeck` command line: the composition root.

    CliSettings -> discovery -> ServiceController -> the console, `ls`, or a headless `run`

Only this package knows every layer. Each subcommand is one module that declares its
grammar and its handler together (`console`, `ls`, `run`, `stop`, `status`, `attach`; see
`_command.Subcommand`),
listed once in `SUBCOMMANDS`. Handlers import what they need when they run, so
`servicedeck --help` loads neither pydantic nor Rich, and no command but the console
imports Textual.

Exit statuses (docs/reference/cli.md):

    0    success
    1    the command ran and failed: already running, no service enabled, `ls` found a
         service whose settings (or __init__) fail, every service of `run` crashed,
         `stop` could not end the process, `status` found a service unhealthy or an
         address unreachable
    2    usage error: bad option, a target that does not import, an invalid
         [tool.servicedeck] table or SERVICEDECK_* variable, a .env that cannot be read,
         a state directory that is a file, two services with one name; `status`: no
         address could be reached
    130  `run` forced to exit by a second signal during its graceful stop, or a
         service raised KeyboardInterrupt (after every service was stopped); a service's
         SystemExit(n) exits with n, another BaseException with 1
    141  the reader of the output left early (`servicedeck ls | head -1`): what a
         tool killed by SIGPIPE reports, without the traceback
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from servicedeck.cli import attach, console, ls, run, status, stop
from servicedeck.cli._command import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    EXIT_USAGE,
    CliExit,
    Subcommand,
)
from servicedeck.cli._parser import parse_args as _parse_args

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_USAGE",
    "SUBCOMMANDS",
    "main",
    "parse_args",
]

SUBCOMMANDS: tuple[Subcommand, ...] = (
    console.COMMAND,
    ls.COMMAND,
    run.COMMAND,
    stop.COMMAND,
    status.COMMAND,
    attach.COMMAND,
)
"""Every subcommand, the console (the default, named `""`) first."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse `servicedeck` arguments; `args.command` names the subcommand (`""`: console).

    Raises:
        SystemExit: `--help`, `--version`, or a usage error (status 2), as argparse does.
    """
    return _parse_args(argv, SUBCOMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `servicedeck` command with `argv` (default `sys.argv[1:]`); return its status."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handlers = {command.name: command.run for command in SUBCOMMANDS}
    try:
        return handlers[args.command](args)
    except CliExit as exc:
        return exc.status
    except KeyboardInterrupt:
        return EXIT_FORCED
    except BrokenPipeError:
        # The reader left (`| head`): quietly, as Unix tools do. Python flushes stdout
        # again at exit, which would raise once more: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
