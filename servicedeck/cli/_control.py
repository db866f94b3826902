"""`run`'s control endpoint: its options, where it listens and with which token, and
serving it for as long as the services run.

    --control ADDRESS   unix:PATH or tcp://HOST:PORT (default: unix:STATE_DIR/servicedeck.sock)
    --no-control        serve none

Over TCP a token is required: SERVICEDECK_CONTROL_TOKEN, or, on a loopback address
only, one generated into STATE_DIR/control.token (0600) and printed once. The endpoint's
stack (Starlette, Hypercorn) is imported only when it is served.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from servicedeck.cli._command import EXIT_FAILURE, EXIT_USAGE, fail

if TYPE_CHECKING:
    from servicedeck.control import ControlAddress, ServiceControl

__all__ = [
    "ControlError",
    "ControlPlan",
    "add_control_arguments",
    "control_args",
    "plan_control",
    "serve_with_control",
    "serving",
]

log = logging.getLogger("servicedeck.cli")


@dataclass(frozen=True)
class ControlPlan:
    """Where `run` serves its control endpoint (None: nowhere), and its token."""

    address: ControlAddress | None
    token: str | None = None
    chosen: bool = False
    """The address was asked for (`--control`): failing to serve it fails the run."""


def add_control_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--control ADDRESS` and `--no-control` to `parser`."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--control",
        metavar="ADDRESS",
        help="serve the control endpoint (attach, status, probes, metrics) on ADDRESS: "
        "unix:PATH or tcp://HOST:PORT (default: unix:STATE_DIR/servicedeck.sock; TCP needs "
        "SERVICEDECK_CONTROL_TOKEN)",
    )
    group.add_argument("--no-control", action="store_true", help="serve no control endpoint")


def control_args(args: argparse.Namespace) -> list[str]:
    """The options that give a background run the same endpoint."""
    if args.no_control:
        return ["--no-control"]
    return ["--control", args.control] if args.control else []


def plan_control(args: argparse.Namespace, state_dir: Path) -> ControlPlan:
    """Where to serve, and with which token, from the options and the environment.

    Raises:
        CliExit: a bad address (2), or a TCP address other machines reach without
            SERVICEDECK_CONTROL_TOKEN, or a token file that cannot be made (1).
    """
    from servicedeck.control import ControlAddress
    from servicedeck.control._address import (
        SOCKET_NAME,
        TOKEN_VARIABLE,
        create_token,
        make_private_dir,
    )

    if args.no_control:
        return ControlPlan(None)
    try:
        make_private_dir(state_dir)  # the socket and the token file live there
    except OSError as exc:
        raise fail(
            f"cannot make the state directory {str(state_dir)!r}: {exc}; set "
            "SERVICEDECK_STATE_DIR to a writable folder.",
            EXIT_FAILURE,
        ) from None
    if args.control is None:
        return ControlPlan(ControlAddress("unix", path=str((state_dir / SOCKET_NAME).absolute())))
    try:
        address = ControlAddress.parse(args.control)
    except ValueError as exc:
        raise fail(f"--control: {exc}", EXIT_USAGE) from None
    if address.scheme == "unix":
        return ControlPlan(address, chosen=True)
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return ControlPlan(address, token, chosen=True)
    if not address.is_loopback:
        raise fail(
            f"--control {args.control!r} can be reached from other machines, and "
            f"{TOKEN_VARIABLE} is not set: set it to the token clients must send, or "
            "serve on a loopback address or a Unix socket.",
            EXIT_FAILURE,
        )
    try:
        token, created = create_token(state_dir)
    except OSError as exc:
        raise fail(
            f"cannot make the control token file in {str(state_dir)!r}: {exc}; set "
            f"{TOKEN_VARIABLE}, or SERVICEDECK_STATE_DIR to a writable folder.",
            EXIT_FAILURE,
        ) from None
    if created:
        log.warning(
            "Generated the control endpoint's token into %s (0600): %s. Clients on this "
            "machine read it from there; elsewhere, set %s to it.",
            state_dir / "control.token",
            token,
            TOKEN_VARIABLE,
        )
    return ControlPlan(address, token, chosen=True)


async def serve_with_control(
    plan: ControlPlan,
    serve: Callable[..., Awaitable[int]],
    control: ServiceControl,
    *args: Any,
) -> int:
    """`serve(control, *args)` with the endpoint of `control` served around it: up before
    the services start, down after they stopped (an attached console sees them stop)."""
    async with serving(control, plan):
        return await serve(control, *args)


class ControlError(Exception):
    """The control endpoint could not be served (its message says why and what to do)."""


@asynccontextmanager
async def serving(control: ServiceControl, plan: ControlPlan) -> AsyncIterator[None]:
    """Serve the endpoint of `control` as `plan` says, for the duration of the block.

    Raises:
        ControlError: the address is taken, or the socket cannot be made.
    """
    if plan.address is None:
        yield
        return
    # Imported here: Starlette and Hypercorn load only when an endpoint is served.
    from servicedeck.control.server import AddressInUseError, serve_control

    async with contextlib.AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(
                serve_control(control, plan.address, token=plan.token)
            )
        except AddressInUseError as exc:
            raise ControlError(str(exc.strerror or exc)) from None
        except OSError as exc:
            problem = f"cannot serve the control endpoint on {plan.address}: {exc.strerror or exc}"
            if plan.chosen:
                raise ControlError(
                    f"{problem}; choose another address with --control, or turn it off "
                    "with --no-control"
                ) from None
            # The default place (a state directory with a long path, say) must not stop
            # the services from running.
            log.warning("%s; running without it (choose one with --control).", problem)
            yield
            return
        log.info(
            "Control endpoint on %s (servicedeck attach / servicedeck status%s).",
            server.address,
            f" {server.address}" if plan.address.scheme == "tcp" else "",
        )
        yield
