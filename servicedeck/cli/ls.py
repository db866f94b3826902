"""`servicedeck ls`: list the services, their settings and environment variables."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servicedeck.cli._command import EXIT_FAILURE, EXIT_OK, Subcommand
from servicedeck.cli._common import build_controller, discover, load_settings, one_line

if TYPE_CHECKING:
    from servicedeck import Service
    from servicedeck.control import ServiceSnapshot
    from servicedeck.discovery import Discovered

__all__ = ["COLUMNS", "COMMAND", "Column", "ls_rows"]

EPILOG = """\
A service whose settings do not load shows its error, and what is known despite it (a
value that cannot be read shows as `?`); it makes the exit status 1. In a pipe, each
service is one line.

examples:
  servicedeck ls
  servicedeck ls myapp.services --output json | jq '.[].name'"""

Row = dict[str, Any]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: a list of objects (docs/reference/cli.md)",
    )


def ls_rows(found: Discovered) -> list[Row]:
    """The rows of `servicedeck ls`, as `--output json` prints them (schema in the docs)."""
    controller = build_controller(found.classes, capture_logs=False, stall_threshold=None)
    snapshots = controller.snapshots()
    return [_row(cls, snap) for cls, snap in zip(found.classes, snapshots, strict=True)]


def _interval(cls: type[Service], snap: ServiceSnapshot) -> float | None:
    """A loop service's interval; None for a plain service, or when it is not known.

    A service that could not be constructed has none of its own yet: it is the one its
    `__init__` would set, a valid `loop_seconds` setting, else the class attribute.
    """
    if not snap.is_loop:
        return None
    if snap.status.loop_seconds is not None:
        return snap.status.loop_seconds
    setting = next((s for s in snap.settings if s.name == "loop_seconds"), None)
    if setting is not None and setting.value != "None":
        if setting.error is not None:
            return None  # the invalid value
        try:
            return float(setting.value)
        except ValueError:
            return None
    if snap.settings_error is not None and not snap.settings:
        return None  # nothing of its settings could be read
    return float(getattr(cls, "loop_seconds", 0) or 0)


def _row(cls: type[Service], snap: ServiceSnapshot) -> Row:
    error = snap.settings_error
    init_error = snap.status.last_error
    if error is None and init_error is not None and init_error.phase == "init":
        error = f"__init__ failed: {init_error.summary}"
    return {
        "name": snap.name,
        "class": snap.qualname,
        "kind": snap.kind,
        "markers": list(snap.markers),
        # None when not known: its own setting is the invalid one (see `error`).
        "enabled": snap.enabled,
        "enabled_source": snap.enabled_source,
        "environment_variable": snap.env_var,
        "loop_seconds": _interval(cls, snap),
        "description": snap.description.strip().splitlines()[0] if snap.description.strip() else "",
        "error": error,
    }


# -- the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of the table: its header, and the text of its cell in a row."""

    header: str
    text: Callable[[Row], str]
    style: Callable[[Row], str] = lambda row: ""
    """The cell's Rich style, in a terminal."""


def _enabled_cell(row: Row) -> str:
    if row["enabled"] is None:
        return "?"
    text = "yes" if row["enabled"] else "no"
    return text if row["enabled_source"] == "default" else f"{text} ({row['enabled_source']})"


def _enabled_style(row: Row) -> str:
    if row["enabled"] is None:
        return "bold red"
    return "green" if row["enabled"] else "dim"


def _interval_cell(row: Row) -> str:
    if row["loop_seconds"] is not None:
        return f"{row['loop_seconds']:g} s"
    return "?" if row["kind"] == "loop" else "-"


def _description_cell(row: Row) -> str:
    return row["description"] if row["error"] is None else f"error: {row['error']}"


COLUMNS: tuple[Column, ...] = (
    Column("Name", lambda row: row["name"]),
    Column("Kind", lambda row: ", ".join([row["kind"], *row["markers"]])),
    Column("Enabled", _enabled_cell, _enabled_style),
    Column("Env var", lambda row: row["environment_variable"]),
    Column("Interval", _interval_cell),
    Column("Description", _description_cell, lambda row: "" if row["error"] is None else "red"),
)
"""The table's columns, in order: both the terminal's table and a pipe's lines are made
from them."""


def _title(found: Discovered) -> str:
    origin = {
        "targets": f"from the command line: {found.origin}",
        "pyproject": f"from {found.origin}",
        "entry points": f"from the entry points of {found.origin}",
        "demo": "the built-in demo (nothing configured; see docs/how-to/discovery.md)",
    }[found.source]
    return f"Available Services: {origin}"


def plain_lines(title: str, rows: Sequence[Row]) -> list[str]:
    """The table as plain lines, one per service whatever its length: for a pipe.

    Columns are aligned as Rich aligns them in a terminal (a space of padding, two
    between columns), so that both read alike; no line ends in blanks.
    """
    from rich.cells import cell_len

    cells = [[one_line(column.text(row)) for column in COLUMNS] for row in rows]
    headers = [column.header for column in COLUMNS]
    widths = [
        max([cell_len(header), *(cell_len(line[index]) for line in cells)])
        for index, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        padded = (
            value + " " * (width - cell_len(value))
            for value, width in zip(values, widths, strict=True)
        )
        return (" " + "  ".join(padded)).rstrip()

    return [one_line(title), line(headers), *(line(values) for values in cells)]


def _print_rich(title: str, rows: Sequence[Row]) -> None:
    """The table in a terminal, fitted to its width; then each error in full.

    Every cell is a `Text`, so a name, a docstring or a message is shown as written,
    never read as Rich markup. A narrow terminal cuts cells short, so the reason for
    each error is repeated below the table, where it wraps.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    table = Table(title=Text(title), title_justify="left", box=None, header_style="bold")
    for column in COLUMNS:
        table.add_column(column.header, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(
            *(Text(one_line(column.text(row)), style=column.style(row)) for column in COLUMNS)
        )
    console.print(table)
    failing = [row for row in rows if row["error"] is not None]
    if failing:
        console.print(Text("Errors:", style="bold red"))
        for row in failing:
            console.print(Text(f"  {row['name']}: {row['error']}"))


@contextlib.contextmanager
def _framework_logs_silenced() -> Iterator[None]:
    """Keep servicedeck's log records (e.g. a failing __init__) off the screen meanwhile."""
    framework = logging.getLogger("servicedeck")
    # A handler of its own, or logging's last resort would print to stderr anyway.
    null, propagate = logging.NullHandler(), framework.propagate
    framework.addHandler(null)
    framework.propagate = False
    try:
        yield
    finally:
        framework.propagate = propagate
        framework.removeHandler(null)


def _run(args: argparse.Namespace) -> int:
    load_settings()  # its .env is the services' too: a broken one is one line, exit 2
    if args.debug:
        from servicedeck.cli._logging import configure_logging

        configure_logging("DEBUG")
    found = discover(args.targets, args.debug)
    # Errors are shown in their rows; with --debug, their tracebacks are logged too.
    with contextlib.nullcontext() if args.debug else _framework_logs_silenced():
        rows = ls_rows(found)
    # Written piece by piece and flushed here: one huge write() to a pipe whose reader
    # left early (`| head`) can end short without an error, and at exit it would raise
    # past main(), which is where such a reader is met with a quiet exit.
    if args.output == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif sys.stdout.isatty():
        _print_rich(_title(found), rows)
    else:
        for line in plain_lines(_title(found), rows):
            sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return EXIT_FAILURE if any(row["error"] is not None for row in rows) else EXIT_OK


COMMAND = Subcommand(
    name="ls",
    summary="list the services, their settings and env vars",
    description="List the services: name, kind, enabled, env var, interval, description.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
)
