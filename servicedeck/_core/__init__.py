"""The servicedeck framework: services, loop services, settings, state. No Textual here."""

from ._loop import LoopService
from ._multi import run_multiple_services
from ._service import DuplicateServiceError, RunInAllServers, Service, check_unique_names, service_name
from ._settings import ServiceSettingsError, ServicesBaseSetting, expected_type
from ._state import ErrorInfo, Health, ServiceState, ServiceStatus, health

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
    "check_unique_names",
    "expected_type",
    "health",
    "run_multiple_services",
    "service_name",
]
