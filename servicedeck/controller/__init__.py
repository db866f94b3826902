"""The headless controller: owns service instances and their tasks.

`ServiceController` is what the console (and the `run` command, and your tests) drive:
commands (start, step, pause, resume, stop, kill, restart, set-enabled), consistent
snapshots (`ServiceSnapshot`), and a change stream (`subscribe`). It imports only the
public framework API and the standard library; never Textual.

Errors:

    CommandError        a command the service's current state does not allow
    DuplicateServiceError (from the framework)   two classes share a service name

Modules: `_controller` (the controller), `_commands` (commands and when one is refused),
`_snapshot` (the records it hands out), `_entry` (its record of one service), `_settings`
(reading settings and their sources), `_fatal` (a service's BaseException), `_clock`
(`ManualClock`).
"""

from servicedeck.controller._clock import ManualClock
from servicedeck.controller._commands import Command, CommandError
from servicedeck.controller._controller import DEFAULT_STOP_TIMEOUT as DEFAULT_STOP_TIMEOUT
from servicedeck.controller._controller import ServiceController
from servicedeck.controller._snapshot import ServiceSnapshot, SettingInfo, StopReport

__all__ = [
    "Command",
    "CommandError",
    "ManualClock",
    "ServiceController",
    "ServiceSnapshot",
    "SettingInfo",
    "StopReport",
]
