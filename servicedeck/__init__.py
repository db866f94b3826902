"""servicedeck: write, watch, step and run in-process async loop services.

The framework (this module) has the API of Prefect's `prefect.server.services.base`,
on anyio and pydantic-settings. The console (`servicedeck.tui`) and the command line
(`servicedeck.cli`) are separate modules; importing this one never imports Textual.
"""

from typing import TYPE_CHECKING, Any

from ._core import (
    _LAZY,
    DuplicateServiceError,
    ErrorInfo,
    LoopService,
    RunInAllServers,
    SafeRepr,
    Service,
    ServiceState,
    ServiceStatus,
    add_fatal_note,
    check_unique_names,
    message_of,
    report_fatal,
    run_multiple_services,
    service_name,
)

if TYPE_CHECKING:
    from ._core._health import Health, HealthVerdict, health, health_verdict
    from ._core._settings import ServicesBaseSetting, ServiceSettingsError
    from ._core._stack import AwaitStack, StackFrame


def __getattr__(name: str) -> Any:
    # Some names load on first use (ServicesBaseSetting and ServiceSettingsError load
    # pydantic-settings, most of the import time), so `import servicedeck` and
    # `servicedeck --help` stay fast; `servicedeck._core` owns that lazy loading.
    if name in _LAZY:
        from . import _core

        value = getattr(_core, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The one place the version is written: pyproject.toml reads it from here (setuptools
# `attr:`), and importlib.metadata would cost a fifth of `import servicedeck`.
__version__ = "0.1.0"

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
    "health",
    "health_verdict",
    "message_of",
    "report_fatal",
    "run_multiple_services",
    "service_name",
]
