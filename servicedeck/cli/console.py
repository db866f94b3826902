"""`servicedeck [TARGET ...]`: open the console on the services found (the default command)."""

from __future__ import annotations

import argparse
import sys

from servicedeck.cli._command import Subcommand
from servicedeck.cli._common import (
    add_refresh_argument,
    add_reload_argument,
    build_controller,
    console_class,
    discover,
    load_settings,
    reload_on_save,
)

__all__ = ["COMMAND"]

EPILOG = """\
examples:
  servicedeck                            open the console on the demo services
  servicedeck myapp.services --paused    open it on your services, paused for stepping
  servicedeck ./services.py:Reaper       just one class from a file
  servicedeck --reload ./services.py     reload a service when its code is saved
  servicedeck ls --output json           list services as JSON
  servicedeck run --background           run them headless, in the background
  servicedeck stop                       and stop them"""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--paused",
        action="store_true",
        help="open with every enabled loop service paused (setup done, no loop run): n steps "
        "one loop at a time without re-running setup",
    )
    add_reload_argument(parser)
    add_refresh_argument(parser)


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()  # its .env is the services' too: a broken one is one line, exit 2
    found = discover(args.targets, args.debug)
    app_class = console_class(args.debug, "`servicedeck ls` and `servicedeck run`")
    controller = build_controller(found.classes, propagate_logs=False)
    if args.reload:
        reload_on_save(controller, args.targets)
    refresh = args.refresh or settings.refresh_seconds
    app = app_class(controller, start_paused=args.paused, refresh_seconds=refresh)
    # pdb (the d key, a breakpoint() in a service) takes the terminal from the console.
    controller.use_terminal(app.suspend)
    hook, sys.breakpointhook = sys.breakpointhook, controller.breakpointhook
    try:
        app.run()
    finally:
        sys.breakpointhook = hook
    return int(app.return_code or 0)


COMMAND = Subcommand(
    name="",
    summary="open the console on the services found",
    description="Write, watch, step and run in-process async loop services.\n\n"
    "With no command, opens the console on the services found. Exit status: 0 when every "
    "service stopped, 130 when the quit was forced (q twice), 2 for bad input.",
    epilog=EPILOG,
    add_arguments=_arguments,
    run=_run,
)
