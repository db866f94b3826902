"""The public names of `servicedeck`: listed, sorted, importable, and the documented set."""

from __future__ import annotations

import importlib

import servicedeck

DOCUMENTED = {
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
}


def test_public_api_all_is_sorted_and_unique() -> None:
    assert servicedeck.__all__ == sorted(servicedeck.__all__)
    assert len(set(servicedeck.__all__)) == len(servicedeck.__all__)


def test_public_api_every_name_is_importable() -> None:
    module = importlib.import_module("servicedeck")
    for name in servicedeck.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from servicedeck import *", namespace)  # what users may write
    assert set(servicedeck.__all__) <= set(namespace)


def test_public_api_is_the_documented_set() -> None:
    assert set(servicedeck.__all__) == DOCUMENTED


def test_public_api_names_come_from_private_modules() -> None:
    for name in servicedeck.__all__:
        obj = getattr(servicedeck, name)
        module = getattr(obj, "__module__", "")
        assert module.startswith("servicedeck._core."), (name, module)


def test_public_api_every_name_has_a_docstring() -> None:
    for name in servicedeck.__all__:
        assert (getattr(servicedeck, name).__doc__ or "").strip(), name
