"""The servicedeck framework: services, loop services, settings, state. No Textual here."""

import importlib
from typing import TYPE_CHECKING, Any

from ._loop import LoopService
from ._multi import run_multiple_services
from ._service import (
    DuplicateServiceError,
    RunInAllServers,
    Service,
    add_fatal_note,
    check_unique_names,
    report_fatal,
    service_name,
)
from ._state import ErrorInfo, SafeRepr, ServiceState, ServiceStatus, message_of

if TYPE_CHECKING:
    from ._health import Health, HealthVerdict, health, health_verdict
    from ._leading import run_with_lease
    from ._lease import Coordinator, Lease, LeaseRole, LeaseStatus
    from ._settings import ServicesBaseSetting, ServiceSettingsError, expected_type
    from ._stack import AwaitStack, StackFrame

# Loaded on first use, so `import servicedeck` stays light: the settings names load
# pydantic-settings, most of the import time; the health, await-stack and lease records
# are slotted dataclasses, about a millisecond each to create (the lease names are
# needed only with a coordinator).
_LAZY = {
    "ServiceSettingsError": "_settings",
    "ServicesBaseSetting": "_settings",
    "expected_type": "_settings",
    "Health": "_health",
    "HealthVerdict": "_health",
    "health": "_health",
    "health_verdict": "_health",
    "AwaitStack": "_stack",
    "StackFrame": "_stack",
    "Coordinator": "_lease",
    "Lease": "_lease",
    "LeaseRole": "_lease",
    "LeaseStatus": "_lease",
    "run_with_lease": "_leading",
}
"""Public names loaded on first use, and the module of each."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AwaitStack",
    "Coordinator",
    "DuplicateServiceError",
    "ErrorInfo",
    "Health",
    "HealthVerdict",
    "Lease",
    "LeaseRole",
    "LeaseStatus",
    "LoopService",
    "RunInAllServers",
    "SafeRepr",
    "Service",
    "ServiceSettingsError",
    "ServiceState",
    "ServiceStatus",
    "ServicesBaseSetting",
    "StackFrame",
    "add_fatal_note",
    "check_unique_names",
    "expected_type",
    "health",
    "health_verdict",
    "message_of",
    "report_fatal",
    "run_multiple_services",
    "run_with_lease",
    "service_name",
]
