"""`servicedeck ls`: list the services, their settings and environment variables."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from servicedeck.cli._command import EXIT_FAILURE, EXIT_OK, Subcommand
from servicedeck.cli._common import build_controller, discover

if TYPE_CHECKING:
    from servicedeck import Service
    from servicedeck.control import ServiceSnapshot
    from servicedeck.discovery import Discovered

__all__ = ["COMMAND", "ls_rows"]

EPILOG = """\
A service whose settings do not load shows its error instead of its values, and makes
the exit status 1.

examples:
  servicedeck ls
  servicedeck ls myapp.services --output json | jq '.[].name'"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: a list of objects (docs/reference/cli.md)",
    )


def ls_rows(found: Discovered) -> list[dict[str, Any]]:
    """The rows of `servicedeck ls`, as `--output json` prints them (schema in the docs)."""
    controller = build_controller(found.classes, capture_logs=False)
    return [
        _row(cls, snap) for cls, snap in zip(found.classes, controller.snapshots(), strict=True)
    ]


def _row(cls: type[Service], snap: ServiceSnapshot) -> dict[str, Any]:
    error = snap.settings_error
    if (
        error is None
        and snap.status.last_error is not None
        and snap.status.last_error.phase == "init"
    ):
        error = f"__init__ failed: {snap.status.last_error.summary}"
    interval = snap.status.loop_seconds
    if interval is None and snap.is_loop:
        interval = float(getattr(cls, "loop_seconds", 0) or 0)
    return {
        "name": snap.name,
        "class": snap.qualname,
        "kind": snap.kind,
        "markers": list(snap.markers),
        "enabled": snap.enabled,
        "enabled_source": snap.enabled_source,
        "environment_variable": snap.env_var,
        "loop_seconds": interval,
        "description": snap.description.strip().splitlines()[0] if snap.description.strip() else "",
        "error": error,
    }


def _print_table(rows: list[dict[str, Any]], found: Discovered) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    tty = sys.stdout.isatty()
    # In a pipe, never wrap a row: one service per line, for grep.
    console = Console(width=None if tty else 1000, highlight=False)
    origin = {
        "targets": f"from the command line: {found.origin}",
        "pyproject": f"from {found.origin}",
        "entry points": f"from the entry points of {found.origin}",
        "demo": "the built-in demo (nothing configured; see docs/how-to/discovery.md)",
    }[found.source]
    title = f"Available Services: {origin}"
    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for column in ("Name", "Kind", "Enabled", "Env var", "Interval", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for row in rows:
        kind = ", ".join([row["kind"], *row["markers"]])
        if row["error"] is not None:
            enabled = Text("error", style="bold red")
            description = Text(row["error"], style="red")
        else:
            enabled = Text(
                "yes" if row["enabled"] else "no", style="green" if row["enabled"] else "dim"
            )
            if row["enabled_source"] != "default":
                enabled.append(f" ({row['enabled_source']})")
            description = Text(row["description"])
        interval = "-" if row["loop_seconds"] is None else f"{row['loop_seconds']:g} s"
        table.add_row(
            row["name"], kind, enabled, row["environment_variable"], interval, description
        )
    with console.capture() as captured:
        console.print(table)
    # Rich pads cells to the column width; trailing blanks are noise in a pipe.
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


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
    if args.debug:
        from servicedeck.cli._logging import configure_logging

        configure_logging("DEBUG")
    found = discover(args.targets, args.debug)
    # Errors are shown in their rows; with --debug, their tracebacks are logged too.
    with contextlib.nullcontext() if args.debug else _framework_logs_silenced():
        rows = ls_rows(found)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, found)
    return EXIT_FAILURE if any(row["error"] is not None for row in rows) else EXIT_OK


COMMAND = Subcommand(
    name="ls",
    summary="list the services, their settings and env vars",
    description="List the services: name, kind, enabled, env var, interval, description.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
)
