"""`servicedeck attach`: the console on services that other processes run."""

from __future__ import annotations

import argparse
import logging

from servicedeck.cli._addresses import add_addresses_argument, control_addresses
from servicedeck.cli._command import Subcommand
from servicedeck.cli._common import add_refresh_argument, console_class, load_settings

__all__ = ["COMMAND"]

EPILOG = """\
ADDRESS is unix:PATH, tcp://HOST:PORT, a socket's path or a state directory; default:
the `servicedeck run` of the state directory (SERVICEDECK_STATE_DIR). With several, one
table shows them all, a PROCESS column says whose each row is, and a service is named
NAME@N (N: its address's position). The keys act on the services where they run; q only
detaches: the services run on. A lost process greys its rows and is reconnected to by
itself.

examples:
  servicedeck attach
  servicedeck attach /srv/app/state tcp://10.0.0.7:8484"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    add_addresses_argument(parser)
    add_refresh_argument(parser)


def _run(args: argparse.Namespace) -> int:
    from servicedeck.control import CombinedControl, ServiceControl
    from servicedeck.control._address import read_token
    from servicedeck.control.remote import RemoteControl

    settings = load_settings()
    refresh = args.refresh or settings.refresh_seconds
    addresses = control_addresses(args.addresses, settings.state_dir)
    token = read_token(settings.state_dir)
    remotes = [
        # The changes as often as the console shows them (fewer to decode), not more.
        RemoteControl(
            address, token=token if address.scheme == "tcp" else None, events_interval=refresh
        )
        for address in addresses
    ]
    control: ServiceControl = remotes[0] if len(remotes) == 1 else CombinedControl(remotes)
    app_class = console_class(args.debug, "`servicedeck status`")
    # The banner says when a process is lost or back: nothing may be written over the
    # screen (the client logs it too, for programs that use it without a console).
    client_log = logging.getLogger("servicedeck.control")
    client_log.addHandler(logging.NullHandler())
    client_log.propagate = False
    app = app_class(control, refresh_seconds=refresh)
    app.run()
    return int(app.return_code or 0)


COMMAND = Subcommand(
    name="attach",
    summary="open the console on running processes (their control endpoints)",
    description="Open the console on the services that running processes serve: the same "
    "table, keys and panels, acting where the services run.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
    targets=False,
)
