"""The grammar of the `servicedeck` command: its parsers, help texts and examples.

argparse, not pydantic-settings' CLI support: docs/architecture.md says why.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from servicedeck import __version__

__all__ = ["COMMANDS", "build_parsers", "parse_args"]

COMMANDS = ("ls", "run", "stop")

TARGET_HELP = (
    "a module (myapp.services), a file (./services.py) or module:ClassName; "
    "default: [tool.servicedeck] in pyproject.toml, else installed entry points, "
    "else the demo services"
)

ROOT_EPILOG = """\
commands:
  ls       list the services, their settings and env vars (servicedeck ls --help)
  run      run the enabled services headless until SIGINT/SIGTERM (servicedeck run --help)
  stop     stop a running `servicedeck run` (servicedeck stop --help)

examples:
  servicedeck                            open the console on the demo services
  servicedeck myapp.services --paused    open it on your services, all stopped
  servicedeck ./services.py:Reaper       just one class from a file
  servicedeck ls --output json           list services as JSON
  servicedeck run --background           run them headless, in the background
  servicedeck stop                       and stop them

Docs: docs/index.md; this command: docs/reference/cli.md."""

LS_EPILOG = """\
A service whose settings do not load shows its error instead of its values, and makes
the exit status 1.

examples:
  servicedeck ls
  servicedeck ls myapp.services --output json | jq '.[].name'"""

RUN_EPILOG = """\
SIGINT (Ctrl+C) or SIGTERM stops every service gracefully (teardown runs) and exits 0;
a second one during that stop forces exit with status 130. The pid file lives in the
state directory (SERVICEDECK_STATE_DIR); one `run` per state directory.

examples:
  servicedeck run myapp.services
  servicedeck run --background && servicedeck stop"""

STOP_EPILOG = """\
Sends SIGTERM and waits for the process to exit; after --timeout, sends SIGKILL. Exits 0
once it is gone (or was not running: a stale pid file is removed), 1 if it is still alive.

examples:
  servicedeck stop
  SERVICEDECK_STATE_DIR=/srv/app/state servicedeck stop --timeout 30"""


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds > 0")
    return value


def _parser(prog: str, description: str, epilog: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A parser with the options and the TARGET arguments every command but `stop` takes."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of errors (e.g. a failed import)"
    )
    if prog != "servicedeck stop":
        parser.add_argument("targets", nargs="*", metavar="TARGET", help=TARGET_HELP)
    return parser


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of the console (`""`) and of each command, by command name."""
    root = _parser(
        "servicedeck",
        "Write, watch, step and run in-process async loop services.\n\n"
        "With no command, opens the console on the services found.",
        ROOT_EPILOG,
        usage="servicedeck [-h] [--version] [--paused] [--debug] [TARGET ...]\n"
        "       servicedeck {ls,run,stop} [-h] ...",
    )
    root.add_argument(
        "--paused", action="store_true", help="open with every service stopped, for stepping"
    )
    root.add_argument("--version", action="version", version=f"servicedeck {__version__}")

    ls = _parser(
        "servicedeck ls",
        "List the services: name, kind, enabled, env var, interval, description.",
        LS_EPILOG,
    )
    ls.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: a list of objects (docs/reference/cli.md)",
    )

    run = _parser(
        "servicedeck run",
        "Run the enabled services headless until SIGINT or SIGTERM, logging to stderr.",
        RUN_EPILOG,
    )
    run.add_argument(
        "--background",
        action="store_true",
        help="run as a background process (log: STATE_DIR/servicedeck.log); stop it with "
        "`servicedeck stop`",
    )
    run.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="the least level logged (default: SERVICEDECK_LOG_LEVEL, else INFO)",
    )
    run.add_argument(
        "--stop-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="how long each service may take to stop before it is cancelled "
        "(default: SERVICEDECK_STOP_TIMEOUT, else 5)",
    )
    # Internal: the pipe a background run reports readiness on.
    run.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)

    stop = _parser(
        "servicedeck stop",
        "Stop a running `servicedeck run` (background or foreground) and wait until it has exited.",
        STOP_EPILOG,
    )
    stop.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait after SIGTERM before sending SIGKILL (default: 15)",
    )
    return {"": root, "ls": ls, "run": run, "stop": stop}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line: `servicedeck [TARGET...]` or `servicedeck COMMAND ...`.

    argparse cannot have both a variadic positional and subcommands on one parser (nor
    can pydantic-settings' CLI: see docs/architecture.md), so the first word that is
    not an option picks the parser. A target spelled like a command (`run`) must be
    written as a path (`./run.py`).

    Raises:
        SystemExit: `--help`, `--version`, or a usage error (status 2), as argparse does.
    """
    parsers = build_parsers()
    argv = list(argv)
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word.startswith("-"):
            if word in ("-h", "--help", "--version"):
                break
            continue
        if word in COMMANDS:
            args = parsers[word].parse_args(argv[index + 1 :])
            prefix = parsers[word].parse_args(argv[:index]) if index else None
            if prefix is not None:
                if prefix.targets if hasattr(prefix, "targets") else False:
                    parsers[word].error(f"unexpected {prefix.targets[0]!r} before {word!r}")
                args.debug = args.debug or prefix.debug
            args.command = word
            return args
        break
    args = parsers[""].parse_args(argv)
    args.command = ""
    return args
