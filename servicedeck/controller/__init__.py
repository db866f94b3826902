"""The controller: the in-process implementation of the control protocol.

`ServiceController` owns one instance of each service class and the tasks that run
them; it implements `servicedeck.control.ServiceControl` (commands, consistent
snapshots, a change stream, per-service logs), which is what the console, the
`run` command and your tests drive. It imports the public framework API and the
protocol's records; never Textual.

Errors:

    CommandError          (from the protocol) a command the service's state refuses now
    DuplicateServiceError (from the framework) two classes share a service name

Modules: `_controller` (the controller: the protocol's face, which hands each command
to its parts), `_registry` (the entries, instances, snapshots and command checks),
`_tasks` (the services' tasks: start, stop, kill, stop-all), `_reload` (restart with
changed code, a reload's new classes), `_entry` (the record of one service),
`_settings` (reading settings and their sources), `_fatal` (a service's BaseException),
`_logs` (per-service log capture), `_debugger` (pdb in a console), `_watchdog` (the
event-loop watchdog), `_clock` (`ManualClock`).
"""

from servicedeck.controller._clock import ManualClock
from servicedeck.controller._controller import DEFAULT_STOP_TIMEOUT, ServiceController
from servicedeck.controller._logs import LOGGER_PREFIX, LogCapture
from servicedeck.controller._watchdog import LoopWatchdog

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "LOGGER_PREFIX",
    "LogCapture",
    "LoopWatchdog",
    "ManualClock",
    "ServiceController",
]
