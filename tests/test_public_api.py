"""The public names of `servicedeck`: listed, sorted, importable, and the documented set."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import servicedeck

API_MD = Path(__file__).resolve().parents[1] / "docs" / "reference" / "api.md"


def framework_section_names() -> set[str]:
    """The names documented under `## servicedeck: the framework` in api.md."""
    text = API_MD.read_text(encoding="utf-8")
    section = text.split("## `servicedeck`: the framework", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^### `([A-Za-z_]\w*)", section, re.M))


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


def test_public_api_is_exactly_what_the_reference_documents() -> None:
    """A name added to `__all__` without docs, or documented but not exported, fails."""
    assert set(servicedeck.__all__) == framework_section_names()


def test_public_api_names_come_from_private_modules() -> None:
    for name in servicedeck.__all__:
        obj = getattr(servicedeck, name)
        module = getattr(obj, "__module__", "")
        assert module.startswith("servicedeck._core."), (name, module)


def test_public_api_every_name_has_a_docstring() -> None:
    for name in servicedeck.__all__:
        assert (getattr(servicedeck, name).__doc__ or "").strip(), name
