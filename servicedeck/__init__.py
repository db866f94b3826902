"""servicedeck: write, watch, step and run in-process async loop services.

The framework (this module) has the API of Prefect's `prefect.server.services.base`,
on anyio and pydantic-settings. The console (`servicedeck.tui`) and the command line
(`servicedeck.cli`) are separate modules; importing this one never imports Textual.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from ._core import (
    DuplicateServiceError,
    ErrorInfo,
    Health,
    LoopService,
    RunInAllServers,
    Service,
    ServiceSettingsError,
    ServicesBaseSetting,
    ServiceState,
    ServiceStatus,
    health,
    run_multiple_services,
)

try:
    __version__ = _version("servicedeck")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "DuplicateServiceError",
    "ErrorInfo",
    "Health",
    "LoopService",
    "RunInAllServers",
    "Service",
    "ServiceSettingsError",
    "ServiceState",
    "ServiceStatus",
    "ServicesBaseSetting",
    "health",
    "run_multiple_services",
]
