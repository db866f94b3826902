"""The servicedeck framework: services, loop services, settings, state. No Textual here."""

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
from ._state import ErrorInfo, Health, SafeRepr, ServiceState, ServiceStatus, health, message_of

if TYPE_CHECKING:
    from ._settings import ServicesBaseSetting, ServiceSettingsError, expected_type

# The settings names load pydantic-settings, most of the import time: only when used.
_LAZY = {"ServiceSettingsError", "ServicesBaseSetting", "expected_type"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _settings

        value = getattr(_settings, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DuplicateServiceError",
    "ErrorInfo",
    "Health",
    "LoopService",
    "RunInAllServers",
    "SafeRepr",
    "Service",
    "ServiceSettingsError",
    "ServiceState",
    "ServiceStatus",
    "ServicesBaseSetting",
    "add_fatal_note",
    "check_unique_names",
    "expected_type",
    "health",
    "message_of",
    "report_fatal",
    "run_multiple_services",
    "service_name",
]
