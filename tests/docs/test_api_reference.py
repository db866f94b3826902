"""docs/reference/api.md documents every public name, with the parameters it really has."""

from __future__ import annotations

import enum
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import servicedeck
import servicedeck.control
import servicedeck.control.endpoint
import servicedeck.control.metrics
import servicedeck.control.remote
import servicedeck.control.server
import servicedeck.controller
import servicedeck.coordinate
import servicedeck.discovery
import servicedeck.reload

API_MD = Path(__file__).resolve().parents[2] / "docs" / "reference" / "api.md"
MODULES = [
    servicedeck,
    servicedeck.control,
    servicedeck.control.endpoint,
    servicedeck.control.server,
    servicedeck.control.remote,
    servicedeck.control.metrics,
    servicedeck.controller,
    servicedeck.coordinate,
    servicedeck.discovery,
    servicedeck.reload,
]

# `### `Name(params)`` or `#### `Class.method(params)``, then optional *notes*.
HEADING = re.compile(r"^#{3,4} `([A-Za-z_][\w.]*)(?:\((.*)\))?`", re.M)


def documented() -> dict[str, str | None]:
    """Heading name -> its parameter text (None for a heading without parentheses)."""
    return {m.group(1): m.group(2) for m in HEADING.finditer(API_MD.read_text())}


def public(module: ModuleType) -> list[tuple[str, object]]:
    return [(name, getattr(module, name)) for name in module.__all__]


def parameter_names(text: str) -> list[str]:
    names, depth, current = [], 0, ""
    for char in text + ",":
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            name = re.split(r"[:=]", current.strip(), maxsplit=1)[0].strip().lstrip("*")
            if name:
                names.append(name)
            current = ""
        else:
            current += char
    return names


def real_parameter_names(obj: object) -> list[str]:
    # A class is called with its __init__'s parameters (Service's __new__ takes *args).
    target = obj.__init__ if inspect.isclass(obj) else obj  # type: ignore[misc]
    signature = inspect.signature(target)  # type: ignore[arg-type]
    return [p for p in signature.parameters if p not in ("self", "cls")]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_api_reference_has_a_heading_for_every_public_name(module: ModuleType) -> None:
    headings = documented()
    text = API_MD.read_text()
    missing = [
        name
        for name, obj in public(module)
        if name not in headings
        and not (isinstance(obj, str | int | float) and f"`{name} = " in text)
    ]
    assert missing == [], f"docs/reference/api.md does not document {module.__name__}.{missing}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_api_reference_mentions_every_public_method_and_property(module: ModuleType) -> None:
    text = API_MD.read_text()
    missing = []
    for name, obj in public(module):
        if not inspect.isclass(obj) or issubclass(obj, (enum.Enum, BaseException)):
            continue
        fields = getattr(obj, "__dataclass_fields__", {})
        for attr, value in vars(obj).items():
            if attr.startswith("_") or attr in fields or attr == "model_config":
                continue
            member = callable(value) or isinstance(value, (property, classmethod, staticmethod))
            if member and f"{name}.{attr}" not in text:
                missing.append(f"{name}.{attr}")
        missing += [f"{name}.{f}" for f in fields if f"`{f}`" not in text]
    assert missing == [], f"docs/reference/api.md does not mention {missing}"


def _resolve(dotted: str) -> object | None:
    for module in MODULES:
        obj: object = module
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            return obj
    return None


def test_api_reference_signatures_match_the_code() -> None:
    wrong = []
    for name, params in documented().items():
        if params is None:
            continue
        obj = _resolve(name)
        assert obj is not None, f"api.md documents {name}, which does not exist"
        if isinstance(obj, classmethod):
            obj = obj.__func__
        if parameter_names(params) != real_parameter_names(obj):
            wrong.append(f"{name}({params}): the code has {real_parameter_names(obj)}")
    assert wrong == []
