"""The control protocol: how anything outside the framework operates services.

    ServiceControl      the interface: snapshots, commands, a change stream, logs, and
                        why a command is refused now (`check`)
    records             ServiceSnapshot, SettingInfo, LogLine, Stall, StopReport (a
                        ServiceStop for each service), RestartReport, ProcessInfo, and
                        the framework's ServiceStatus, ErrorInfo, ServiceState, Health,
                        HealthVerdict, AwaitStack, StackFrame, Lease, LeaseRole and
                        LeaseStatus: plain data that
                        survives a JSON round trip
    Command, refusal    the commands, and the pure rule that refuses one in a given state
    wait_until          wait, event-driven, until a condition on the services holds

Errors:

    CommandError        a command the service's current state does not allow
    KeyError            no service has that name

The console and `servicedeck run` use only this package; `servicedeck.controller`
implements it in process. It imports the framework's public value types, never
Textual or the controller.
"""

from servicedeck import (
    AwaitStack,
    ErrorInfo,
    Health,
    HealthVerdict,
    Lease,
    LeaseRole,
    LeaseStatus,
    ServiceState,
    ServiceStatus,
    StackFrame,
)
from servicedeck.control._commands import Command, CommandError, refusal
from servicedeck.control._protocol import ServiceControl, wait_until
from servicedeck.control._records import (
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    ServiceStop,
    SettingInfo,
    Stall,
    StopReport,
)

__all__ = [
    "AwaitStack",
    "Command",
    "CommandError",
    "ErrorInfo",
    "Health",
    "HealthVerdict",
    "Lease",
    "LeaseRole",
    "LeaseStatus",
    "LogLine",
    "ProcessInfo",
    "RestartReport",
    "ServiceControl",
    "ServiceSnapshot",
    "ServiceState",
    "ServiceStatus",
    "ServiceStop",
    "SettingInfo",
    "StackFrame",
    "Stall",
    "StopReport",
    "refusal",
    "wait_until",
]
