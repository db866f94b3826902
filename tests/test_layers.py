"""The layers of servicedeck, and who may import whom (docs/architecture.md).

Every module of the package belongs to exactly one layer, and may import only what its
layer allows. The imports are read from the source (every `import` and `from ... import`,
those under `if TYPE_CHECKING:` and inside functions too), so a lazy import is held to
the same rule as one at the top. A deliberate violation, written to a throwaway module,
shows the check can fail.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "servicedeck"

STDLIB = frozenset(sys.stdlib_module_names)


@dataclass(frozen=True)
class Layer:
    """Modules whose dotted name starts with one of `modules`, and what they may import."""

    name: str
    modules: tuple[str, ...]
    own: tuple[str, ...]
    """servicedeck modules it may import (prefixes; `servicedeck` alone is the public API)."""
    third_party: tuple[str, ...] = ()
    """Top-level distributions it may import besides the standard library."""

    def owns(self, module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in self.modules)


# Order matters: the first layer whose `modules` match a module owns it.
LAYERS: tuple[Layer, ...] = (
    Layer(
        "framework",
        ("servicedeck._core",),
        own=("servicedeck._core",),
        third_party=("anyio", "pydantic", "pydantic_settings", "sniffio"),
    ),
    Layer(
        "public framework API",
        ("servicedeck.__init__",),
        own=("servicedeck._core",),
    ),
    # The endpoint, its server, metrics and the remote client live with the protocol they
    # serve, each allowed exactly the third-party packages it needs (imported only by the
    # commands and helpers that serve or attach). Listed before the protocol: first wins.
    Layer(
        "control endpoint",
        ("servicedeck.control.endpoint",),
        own=("servicedeck", "servicedeck.control"),
        third_party=(
            "anyio",
            "orjson",
            "prometheus_client",
            "pydantic",
            "sse_starlette",
            "starlette",
        ),
    ),
    Layer(
        "control server",
        ("servicedeck.control.server",),
        own=("servicedeck", "servicedeck.control"),
        third_party=("anyio", "hypercorn"),
    ),
    Layer(
        "control metrics",
        ("servicedeck.control.metrics",),
        own=("servicedeck", "servicedeck.control"),
        third_party=("prometheus_client",),
    ),
    Layer(
        "control client",
        ("servicedeck.control.remote", "servicedeck.control._answers"),
        own=("servicedeck", "servicedeck.control"),
        third_party=("anyio", "httpx", "httpx_sse", "orjson"),
    ),
    Layer(
        "control protocol",
        ("servicedeck.control",),
        own=("servicedeck", "servicedeck.control"),
        third_party=("anyio",),
    ),
    Layer(
        "controller",
        ("servicedeck.controller",),
        own=("servicedeck", "servicedeck.control", "servicedeck.controller"),
        third_party=("anyio", "pydantic", "pydantic_settings"),
    ),
    Layer(
        "reload",
        ("servicedeck.reload",),
        own=("servicedeck", "servicedeck.control", "servicedeck.controller", "servicedeck.reload"),
        # watchfiles is an extra (servicedeck[reload]), imported only by Reloader.watch().
        third_party=("anyio", "watchfiles"),
    ),
    Layer(
        "coordinators",
        ("servicedeck.coordinate",),
        own=("servicedeck", "servicedeck.coordinate"),
        # Each engine's client, imported only by its own module and only when used.
        third_party=("anyio", "psycopg", "psycopg_pool", "redis"),
    ),
    Layer(
        "console",
        ("servicedeck.tui",),
        own=("servicedeck.control", "servicedeck.tui"),
        third_party=("textual", "rich"),
    ),
    Layer(
        "user code",
        ("servicedeck.demo", "servicedeck.discovery"),
        own=("servicedeck",),
        third_party=("anyio", "pydantic", "pydantic_settings"),
    ),
    Layer(
        "command line",
        ("servicedeck.cli", "servicedeck.__main__"),
        own=("servicedeck",),  # every layer: it wires them together
        third_party=("anyio", "pydantic", "pydantic_settings", "rich", "textual"),
    ),
)


def module_name(path: Path, root: Path) -> str:
    """`servicedeck.tui.app` for `.../servicedeck/tui/app.py`; a package keeps `.__init__`."""
    return ".".join(path.relative_to(root.parent).with_suffix("").parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module `path` imports, absolute, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None or target in ("servicedeck",):
                # `from . import x` / `from servicedeck import x`: x may be a module.
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def layer_of(module: str) -> Layer | None:
    return next((layer for layer in LAYERS if layer.owns(module)), None)


def _is_public_api(target: str) -> bool:
    """`servicedeck` itself, or a name taken from it (`from servicedeck import Service`)."""
    if target == "servicedeck":
        return True
    rest = target.removeprefix("servicedeck.")
    top = rest.split(".")[0]
    return not (PACKAGE / top).is_dir() and not (PACKAGE / f"{top}.py").exists()


def allowed(layer: Layer, target: str) -> bool:
    top = target.split(".")[0]
    if top in STDLIB or top == "__future__":
        return True
    if top != "servicedeck":
        return top in layer.third_party
    if layer.name == "command line":
        return True
    for prefix in layer.own:
        if prefix == "servicedeck":
            if _is_public_api(target):
                return True
        elif target == prefix or target.startswith(prefix + "."):
            return True
    return False


def violations(root: Path) -> list[str]:
    """Every import that breaks a layer's rule, and every module outside the layers."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        if module == "servicedeck.__init__":
            module_key = module
        else:
            module_key = module.removesuffix(".__init__")
        layer = layer_of(module_key)
        where = path.relative_to(root.parent)
        if layer is None:
            problems.append(f"{where}: {module_key} belongs to no layer (add it to LAYERS)")
            continue
        for line, target in imports_of(path, module_key):
            if not allowed(layer, target):
                problems.append(f"{where}:{line}: the {layer.name} imports {target}")
        if layer.name not in ("framework", "public framework API"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr == "_servicedeck":
                    problems.append(
                        f"{where}:{node.lineno}: the {layer.name} touches a service's "
                        "private _servicedeck record"
                    )
    return problems


def test_layers_every_module_imports_only_what_its_layer_allows() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("tui/widgets/bad.py", "from servicedeck import LoopService\n", "console imports"),
        ("tui/bad.py", "import servicedeck.controller\n", "console imports"),
        ("_core/bad.py", "import textual\n", "framework imports textual"),
        ("_core/bad.py", "from servicedeck.control import Command\n", "framework imports"),
        ("controller/bad.py", "from servicedeck._core import _runtime\n", "controller imports"),
        ("controller/bad.py", "def f(s):\n    return s._servicedeck\n", "private _servicedeck"),
        ("control/bad.py", "from ..controller import ServiceController\n", "control protocol"),
        ("coordinate/bad.py", "import textual\n", "coordinators imports textual"),
        ("coordinate/bad.py", "from servicedeck._core import _lease\n", "coordinators imports"),
        ("_core/bad.py", "import psycopg\n", "framework imports psycopg"),
        ("control/bad.py", "import starlette\n", "control protocol imports starlette"),
        ("control/remote.py", "import starlette\n", "control client imports starlette"),
        ("newpackage/__init__.py", "", "belongs to no layer"),
    ],
)
def test_layers_check_fails_on_a_violation(
    tmp_path: Path, module: str, source: str, expected: str
) -> None:
    root = tmp_path / "servicedeck"
    for folder in ("_core", "control", "controller", "coordinate", "tui/widgets", "newpackage"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "__init__.py").write_text("from ._core import Service\n")
    (root / module).write_text(source)

    found = violations(root)

    assert any(expected in problem for problem in found), found
