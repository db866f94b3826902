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
    CombinedControl     several controls (processes) as one, names qualified NAME@N
    ControlAddress      where a control endpoint listens: unix:PATH or tcp://HOST:PORT

Served over HTTP, in modules imported only by what serves or attaches (they load an
ASGI stack and an HTTP client; this package loads neither):

    servicedeck.control.endpoint    ControlEndpoint: the ASGI application
    servicedeck.control.server      serve_control(): serve it on a socket
    servicedeck.control.remote      RemoteControl: the protocol over a socket
    servicedeck.control.metrics     ServiceCollector: Prometheus metrics

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
from servicedeck.control._address import ControlAddress
from servicedeck.control._combined import CombinedControl
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
    "CombinedControl",
    "Command",
    "CommandError",
    "ControlAddress",
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
