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
    from ._settings import ServicesBaseSetting, ServiceSettingsError, expected_type
    from ._stack import AwaitStack, StackFrame

# Loaded on first use, so `import servicedeck` stays light: the settings names load
# pydantic-settings, most of the import time; the health and await-stack records are
# slotted dataclasses, about a millisecond each to create.
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
    "DuplicateServiceError",
    "ErrorInfo",
    "Health",
    "HealthVerdict",
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
    "service_name",
]
