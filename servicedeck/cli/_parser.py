"""The grammar of the `servicedeck` command, made from its subcommands' declarations.

argparse, not pydantic-settings' CLI support: docs/architecture.md says why.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from servicedeck import __version__
from servicedeck.cli._command import Subcommand

__all__ = ["TARGET_HELP", "build_parsers", "parse_args"]

TARGET_HELP = (
    "a module (myapp.services), a file (./services.py) or module:ClassName; "
    "default: [tool.servicedeck] in pyproject.toml, else installed entry points, "
    "else the demo services"
)

DOCS = "Docs: docs/index.md; this command: docs/reference/cli.md."


def _root_epilog(subcommands: Sequence[Subcommand]) -> str:
    """The console's epilog, after the list of commands (each from its declaration)."""
    named = [command for command in subcommands if command.name]
    width = max(len(command.name) for command in named) + 2
    lines = ["commands:"]
    lines += [f"  {c.name:<{width}} {c.summary} ({c.prog} --help)" for c in named]
    default = next(command for command in subcommands if not command.name)
    return "\n".join(lines) + "\n\n" + default.epilog + "\n\n" + DOCS


def _parser(command: Subcommand, subcommands: Sequence[Subcommand]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command.prog,
        description=command.description,
        epilog=command.epilog if command.name else _root_epilog(subcommands),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if not command.name:
        parser.add_argument("--version", action="version", version=f"servicedeck {__version__}")
    command.add_arguments(parser)
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of errors (e.g. a failed import)"
    )
    if command.targets:
        parser.add_argument("targets", nargs="*", metavar="TARGET", help=TARGET_HELP)
    if not command.name:
        # The console's usage, then how the other commands are called.
        names = ",".join(c.name for c in subcommands if c.name)
        own = parser.format_usage().removeprefix("usage: ").rstrip()
        parser.usage = f"{own}\n       servicedeck {{{names}}} [-h] ..."
    return parser


def build_parsers(subcommands: Sequence[Subcommand]) -> dict[str, argparse.ArgumentParser]:
    """The parser of each subcommand, by name (`""`: the console)."""
    return {command.name: _parser(command, subcommands) for command in subcommands}


def parse_args(argv: Sequence[str], subcommands: Sequence[Subcommand]) -> argparse.Namespace:
    """Parse a command line: `servicedeck [TARGET...]` or `servicedeck COMMAND ...`.

    argparse cannot have both a variadic positional and subcommands on one parser (nor
    can pydantic-settings' CLI: see docs/architecture.md), so the first word that is
    not an option picks the parser. A target spelled like a command (`run`) must be
    written as a path (`./run.py`). `args.command` is the chosen subcommand's name.

    Raises:
        SystemExit: `--help`, `--version`, or a usage error (status 2), as argparse does.
    """
    parsers = build_parsers(subcommands)
    argv = list(argv)
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word.startswith("-"):
            if word in ("-h", "--help", "--version"):
                break
            continue
        if word and word in parsers:
            args = parsers[word].parse_args(argv[index + 1 :])
            if index:
                # Options before the command (`servicedeck --debug ls`): the console's.
                prefix = parsers[""].parse_args(argv[:index])
                if prefix.targets:
                    parsers[word].error(f"unexpected {prefix.targets[0]!r} before {word!r}")
                args.debug = args.debug or prefix.debug
            args.command = word
            return args
        break
    args = parsers[""].parse_args(argv)
    args.command = ""
    return args
