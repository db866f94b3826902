"""`servicedeck status`: the live state of running processes, through their endpoints."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servicedeck.cli._addresses import add_addresses_argument, control_addresses
from servicedeck.cli._command import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Subcommand,
    positive_seconds,
)
from servicedeck.cli._common import load_settings

if TYPE_CHECKING:
    from servicedeck.control import ControlAddress, ProcessInfo, ServiceSnapshot

__all__ = ["COMMAND", "healthy"]

EPILOG = """\
ADDRESS is unix:PATH, tcp://HOST:PORT, a socket's path or a state directory; default:
the `servicedeck run` of the state directory (SERVICEDECK_STATE_DIR). A TCP endpoint's
token comes from SERVICEDECK_CONTROL_TOKEN, else the state directory's control.token.

Exits 0 when every address answered and every enabled service is healthy; 1 when a
service is unhealthy or an address cannot be reached; 2 when no address can be reached.

examples:
  servicedeck status
  servicedeck status /srv/app/state tcp://10.0.0.7:8484
  servicedeck status --output json | jq '.[].services[] | {name, health}'"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_addresses_argument(parser)
    parser.add_argument(
        "-o",
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (default) or json: one object per address (docs/reference/cli.md)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for each process to answer (default: 5)",
    )


def healthy(snapshots: list[ServiceSnapshot]) -> bool:
    """True when every enabled service's health verdict is healthy (what `/readyz` says)."""
    from servicedeck.control import Health

    return all(snap.health is Health.HEALTHY for snap in snapshots if snap.enabled)


@dataclass
class _Answer:
    address: ControlAddress
    error: str | None
    process: ProcessInfo | None
    now: float
    services: list[ServiceSnapshot]


async def _ask(addresses: list[ControlAddress], token: str | None, timeout: float) -> list[_Answer]:
    import anyio

    from servicedeck.control.remote import RemoteControl

    answers: list[_Answer | None] = [None] * len(addresses)

    async def ask(index: int, address: ControlAddress) -> None:
        remote = RemoteControl(
            address,
            token=token if address.scheme == "tcp" else None,
            watch=False,
            connect_timeout=timeout,
        )
        async with remote:
            reason = remote.unreachable[0] if remote.unreachable else None
            answers[index] = _Answer(
                address,
                reason,
                None if reason else remote.process,
                remote.now(),
                [] if reason else remote.snapshots(),
            )

    async with anyio.create_task_group() as tg:
        for index, address in enumerate(addresses):
            tg.start_soon(ask, index, address)
    return [answer for answer in answers if answer is not None]


def _json_rows(answers: list[_Answer]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for answer in answers:
        row: dict[str, Any] = {"address": str(answer.address), "reachable": answer.error is None}
        if answer.error is not None:
            row["error"] = answer.error
        else:
            assert answer.process is not None
            row["process"] = answer.process.to_json()
            row["now"] = answer.now
            row["healthy"] = healthy(answer.services)
            row["services"] = [snap.to_json() for snap in answer.services]
        rows.append(row)
    return rows


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _print_table(answers: list[_Answer]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from servicedeck.control import Health

    # In a pipe, never wrap a row: one service per line, for grep.
    console = Console(width=None if sys.stdout.isatty() else 1000, highlight=False)
    table = Table(box=None, header_style="bold")
    columns: tuple[str, ...] = (
        "Process", "Service", "State", "Health", "Loops", "Errors", "Last loop", "Next loop",
    )  # fmt: skip
    # Several replicas (a coordinator): who leads each service.
    leased = any(s.status.lease is not None for a in answers for s in a.services)
    if leased:
        columns = (*columns, "Lease")
    for column in (*columns, "Last error"):
        table.add_column(column, no_wrap=column != "Last error")
    for answer in answers:
        if answer.process is None:
            continue
        where = f"{answer.process.host}:{answer.process.pid}"
        for snap in answer.services:
            status = snap.status
            state = status.state.value
            if status.paused and state != "paused":
                state += " (pausing)"
            good = snap.health is Health.HEALTHY or not snap.enabled
            since = None if status.last_loop_at is None else answer.now - status.last_loop_at
            due = status.next_loop_at
            cells: list[str | Text] = [
                where,
                snap.name,
                state,
                Text(snap.health.value, style="green" if good else "bold red"),
                str(status.loop_count) if snap.is_loop else "-",
                str(status.error_count) if snap.is_loop else "-",
                "-" if since is None else f"{_ago(since)} ago",
                "-" if due is None else f"in {_ago(max(due - answer.now, 0.0))}",
            ]
            if leased:
                cells.append("-" if status.lease is None else status.lease.summary)
            error = Text(status.last_error.summary, style="red") if status.last_error else ""
            table.add_row(*cells, error)
    lines: list[str] = []
    if any(answer.error is None for answer in answers):
        with console.capture() as captured:
            console.print(table)
        # Rich pads cells to the column width; trailing blanks are noise in a pipe.
        lines += [line.rstrip() for line in captured.get().splitlines()]
    lines += [answer.error for answer in answers if answer.error is not None]
    print("\n".join(lines))


def _run(args: argparse.Namespace) -> int:
    import anyio

    from servicedeck.control._address import read_token

    settings = load_settings()
    addresses = control_addresses(args.addresses, settings.state_dir)
    answers = anyio.run(_ask, addresses, read_token(settings.state_dir), args.timeout)
    if args.output == "json":
        print(json.dumps(_json_rows(answers), indent=2))
    else:
        _print_table(answers)
    reached = [answer for answer in answers if answer.error is None]
    if not reached:
        if args.output != "json":
            print(
                "servicedeck: error: no process answered; is `servicedeck run` running "
                "(with its control endpoint)?",
                file=sys.stderr,
            )
        return EXIT_USAGE
    if len(reached) < len(answers) or not all(healthy(answer.services) for answer in reached):
        return EXIT_FAILURE
    return EXIT_OK


COMMAND = Subcommand(
    name="status",
    summary="the live state of running processes (loops, errors, health)",
    description="Print the live state of the services of running processes, read from "
    "their control endpoints: state, health, loops, errors, last and next loop.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
    targets=False,
)
