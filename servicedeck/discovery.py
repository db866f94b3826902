"""Where services come from: command-line targets, pyproject.toml, entry points, the demo.

Every command (the console, `ls`, `run`) finds its services with `discover()`, which
tries these sources in order and uses the first one that is present:

1. targets given on the command line: a dotted module (`myapp.services`), a file path
   (`./services.py`, `src/myapp/services.py`), or `module:ClassName` for one class;
2. `services = [...]` under `[tool.servicedeck]` in the nearest `pyproject.toml`
   (found by walking up from the working directory), read through pydantic-settings'
   `PyprojectTomlConfigSettingsSource`;
3. every installed distribution's entry points in the group `servicedeck.services`;
4. nothing of the above: the built-in demo services, `servicedeck.demo`.

The services of a module are the concrete `Service` subclasses *defined* in it or in a
module of its package (its submodules that it imports), at module level, in definition
order. Classes imported from elsewhere (re-exports) are not included: name them as
targets of their own (`other.module:ClassName`). Classes whose name starts with `_` are
private and not included unless named explicitly.

A file path is imported under its dotted module name (the path relative to the first
folder above it that is not a package), so loading a module by path and by name gives one
module and one set of services, never two.

Errors (all `DiscoveryError`, with a one-sentence message that says what to do):

    DiscoveryError          invalid [tool.servicedeck] table, or unreadable pyproject.toml
    └── TargetError         a target (or entry point) that does not import (a SystemExit
                            raised at import included, naming where), or defines no
                            services; the original exception is its `__cause__`
    DuplicateServiceError   (from the framework) two discovered classes share a name
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, PyprojectTomlConfigSettingsSource, SettingsConfigDict

from servicedeck import Service, check_unique_names

__all__ = [
    "DEMO_MODULE",
    "ENTRY_POINT_GROUP",
    "Discovered",
    "DiscoveryError",
    "ProjectConfig",
    "TargetError",
    "discover",
    "entry_point_services",
    "find_project_config",
    "load_target",
    "services_of",
]

ENTRY_POINT_GROUP = "servicedeck.services"
"""The entry-point group installed packages declare their services in."""

DEMO_MODULE = "servicedeck.demo"
"""What runs when nothing else is configured."""

Source = Literal["targets", "pyproject", "entry points", "demo"]


class DiscoveryError(Exception):
    """Services could not be discovered; the message says where and what to do."""


class TargetError(DiscoveryError):
    """A target (or an entry point) could not be loaded, or defines no services.

    Attributes:
        target: the target as the user wrote it.
    """

    def __init__(self, target: str, message: str) -> None:
        super().__init__(message)
        self.target = target


@dataclass(frozen=True, slots=True)
class Discovered:
    """The outcome of `discover()`."""

    classes: tuple[type[Service], ...]
    """The service classes, in display order, without duplicates."""
    source: Source
    """Which source they came from."""
    origin: str
    """Where exactly, for people: the targets, the pyproject.toml path, the distributions."""


# -- pyproject.toml ---------------------------------------------------------------------


class ProjectConfig(BaseModel):
    """The `[tool.servicedeck]` table of a project's `pyproject.toml`."""

    model_config = ConfigDict(extra="forbid")

    services: list[str] | None = None
    """Targets, as on the command line; relative paths are relative to the pyproject.toml."""


class _PyprojectTable(BaseSettings):
    """Tells pydantic-settings' pyproject source which table to read."""

    model_config = SettingsConfigDict(pyproject_toml_table_header=("tool", "servicedeck"))


def _nearest_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def find_project_config(cwd: Path | None = None) -> tuple[Path, ProjectConfig] | None:
    """The nearest `pyproject.toml` at or above `cwd` and its `[tool.servicedeck]` table.

    Returns:
        `(path, config)`, or None when there is no pyproject.toml, or the nearest one has
        no `services` under `[tool.servicedeck]`.

    Raises:
        DiscoveryError: the file is not valid TOML, or the table is invalid.
    """
    path = _nearest_pyproject((cwd or Path.cwd()).resolve())
    if path is None:
        return None
    try:
        source = PyprojectTomlConfigSettingsSource(_PyprojectTable, toml_file=path)
    except Exception as exc:  # tomllib.TOMLDecodeError, OSError, UnicodeDecodeError
        raise DiscoveryError(f"could not read {str(path)!r}: {exc}; fix its TOML syntax.") from exc
    if not source.toml_data:
        return None
    try:
        config = ProjectConfig.model_validate(source.toml_data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'table'}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors(include_url=False)
        )
        raise DiscoveryError(
            f"invalid [tool.servicedeck] table in {str(path)!r}: {problems}; "
            'it takes one key, services = ["module", "path.py", "module:Class", ...].'
        ) from None
    if config.services is None:
        return None
    return path, config


# -- loading targets --------------------------------------------------------------------


def _is_path(spec: str, base: Path) -> bool:
    """A path ends in .py, has a slash, or names an existing file; else a dotted name."""
    return spec.endswith(".py") or "/" in spec or os.sep in spec or (base / spec).is_file()


def _split_target(target: str) -> tuple[str, str | None]:
    """`module:Class.Inner` -> (`module`, `Class.Inner`); a drive letter is not a class."""
    head, sep, tail = target.rpartition(":")
    if sep and head and all(part.isidentifier() for part in tail.split(".")):
        return head, tail
    return target, None


def _module_name_for(path: Path) -> tuple[str, Path]:
    """The dotted name `path` imports as, and the folder that must be on `sys.path`."""
    if path.is_dir():
        parts = [path.name]
        folder = path.parent
    else:
        parts = [] if path.name == "__init__.py" else [path.stem]
        folder = path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if path.name == "__init__.py" and not parts:  # pragma: no cover - a bare __init__.py
        parts = [path.parent.name]
    return ".".join(parts), folder


def _add_to_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path and folder not in {Path(p).resolve() for p in sys.path if p}:
        sys.path.insert(0, entry)


def _import(target: str, name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise TargetError(
                target,
                f"could not import target {target!r}: no module named {exc.name!r}; check the "
                "spelling, and run from the project's folder (it is put on the import path).",
            ) from exc
        raise _import_failed(target, exc) from exc
    except (Exception, SystemExit) as exc:  # SyntaxError, whatever the module raised
        raise _import_failed(target, exc) from exc


def _raised_where(exc: BaseException) -> str:
    """`file:line` of the innermost frame that raised `exc`, or "" if it has none."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


def _import_failed(target: str, exc: BaseException) -> TargetError:
    if isinstance(exc, SystemExit):
        # It would end the command at once, and silently: say which module did it.
        where = _raised_where(exc)
        summary = f"SystemExit({exc.code!r}) was raised at import" + (
            f", in {where}" if where else ""
        )
        todo = "remove the sys.exit() from the module's import"
    else:
        summary = f"{type(exc).__name__}: {exc}".strip()
        todo = "fix the error"
    return TargetError(
        target,
        f"could not import target {target!r}: {summary}; {todo} "
        "(run with --debug to see the traceback).",
    )


def _load_module(target: str, spec: str, base: Path) -> ModuleType:
    if not _is_path(spec, base):
        if not all(part.isidentifier() for part in spec.split(".")):
            raise TargetError(
                target,
                f"target {target!r} is neither a dotted module name, a path, nor "
                "module:ClassName; write e.g. myapp.services, ./services.py or myapp:Reaper.",
            )
        _add_to_path(base)
        return _import(target, spec)
    path = (base / spec).resolve()
    if not path.exists():
        raise TargetError(target, f"target {target!r}: no such file {str(path)!r}; check the path.")
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise TargetError(
            target,
            f"target {target!r} is a folder without __init__.py; name a .py file or a package.",
        )
    if path.is_file() and path.suffix != ".py":
        raise TargetError(target, f"target {target!r} is not a .py file; name a Python file.")
    name, folder = _module_name_for(path)
    existing = sys.modules.get(name)
    if existing is None:
        _add_to_path(folder)
    module = existing if existing is not None else _import(target, name)
    expected = path / "__init__.py" if path.is_dir() else path
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != expected:
        raise TargetError(
            target,
            f"target {target!r} imports as module {name!r}, but that name is already taken "
            f"by {loaded or 'a built-in module'!r}; rename the file or use its package's "
            "dotted name.",
        )
    return module


def services_of(module: ModuleType) -> list[type[Service]]:
    """The concrete service classes defined at module level in `module` or its submodules.

    Private classes (a name starting with `_`) and classes defined inside functions are
    left out. In definition order.
    """
    name = module.__name__
    prefix = name + "."
    found = []
    for cls in Service.all_services():
        if cls.__module__ != name and not cls.__module__.startswith(prefix):
            continue
        parts = cls.__qualname__.split(".")
        if any(part.startswith(("_", "<")) for part in parts):
            continue  # private, or defined inside a function
        if _bound_in_module(cls, parts):
            found.append(cls)
    return found


def _bound_in_module(cls: type, parts: list[str]) -> bool:
    """True if `cls` is what its module's namespace holds under its qualified name.

    Leaves out stale classes of a module imported again (reload), which stay in the
    registry while something still refers to them.
    """
    obj: Any = sys.modules.get(cls.__module__)
    for part in parts:
        obj = getattr(obj, part, None)
    return obj is cls


def _service_class(target: str, obj: Any) -> type[Service]:
    if not (isinstance(obj, type) and issubclass(obj, Service)):
        what = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__qualname__}"
        raise TargetError(
            target,
            f"target {target!r} is a {what}, not a Service subclass; name a service class.",
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise TargetError(
            target,
            f"target {target!r} is abstract (it does not implement {missing}); name a concrete "
            "service class.",
        )
    return obj


def load_target(target: str, *, base: Path | None = None) -> list[type[Service]]:
    """Import `target` and return its service classes.

    Args:
        target: a dotted module, a file path, or `module:ClassName` (either side may be
            a path: `services.py:Reaper`).
        base: the folder relative paths are relative to, and that is put on `sys.path`
            for dotted names (default: the working directory).

    Raises:
        TargetError: it does not import, names no service class, or defines no services.
    """
    if not target or not target.strip():
        raise TargetError(
            target, f"empty target {target!r}; name a module, a file or module:Class."
        )
    base = base or Path.cwd()
    spec, attr = _split_target(target.strip())
    module = _load_module(target, spec, base)
    if attr is None:
        classes = services_of(module)
        if not classes:
            raise TargetError(
                target,
                f"target {target!r} defines no services (no concrete Service subclass is "
                "defined in it); check the module, or name a class as module:ClassName.",
            )
        return classes
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(
                target,
                f"target {target!r}: module {module.__name__!r} has no attribute {attr!r}; "
                "check the class name.",
            ) from None
    return [_service_class(target, obj)]


def entry_point_services() -> tuple[list[type[Service]], list[str]]:
    """The services declared by installed packages in the `servicedeck.services` group.

    Each entry point names a module (all its services) or a class. Returns the classes
    and the names of the distributions that declared them.

    Raises:
        TargetError: an entry point does not load; names it and its distribution.
    """
    classes: list[type[Service]] = []
    dists: list[str] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        label = f"entry point {ep.name!r} = {ep.value!r} of {dist!r}"
        try:
            obj = ep.load()
        except (Exception, SystemExit) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, SystemExit):
                error = f"SystemExit({exc.code!r}) was raised at import, in {_raised_where(exc)}"
            raise TargetError(
                ep.value,
                f"could not load {label}: {error}; fix or uninstall "
                "that package (run with --debug to see the traceback).",
            ) from exc
        if isinstance(obj, ModuleType):
            found = services_of(obj)
            if not found:
                raise TargetError(
                    ep.value, f"{label} defines no services; fix or uninstall that package."
                )
        else:
            found = [_service_class(label, obj)]
        classes.extend(found)
        if dist not in dists:
            dists.append(dist)
    return classes, dists


def _unique(classes: Iterable[type[Service]]) -> tuple[type[Service], ...]:
    # The same class reached twice (a module and one of its classes, a path and a name).
    return tuple(dict.fromkeys(classes))


def discover(targets: Sequence[str] = (), *, cwd: Path | None = None) -> Discovered:
    """Find the services to show or run, from the first source that is present.

    The working directory is put on `sys.path` (as `python -m` does), and so is the
    folder of the pyproject.toml that configures services, so their modules import.

    Args:
        targets: command-line targets; when given, the only source used.
        cwd: the folder to start from (default: the working directory).

    Raises:
        DiscoveryError: a target, the pyproject table or an entry point is invalid.
        DuplicateServiceError: two of the classes found share a service name.
    """
    cwd = (cwd or Path.cwd()).resolve()
    _add_to_path(cwd)
    if targets:
        classes = [cls for target in targets for cls in load_target(target, base=cwd)]
        found = Discovered(_unique(classes), "targets", " ".join(targets))
    elif (project := find_project_config(cwd)) is not None:
        path, config = project
        _add_to_path(path.parent)
        assert config.services is not None
        classes = [c for t in config.services for c in load_target(t, base=path.parent)]
        found = Discovered(_unique(classes), "pyproject", str(path))
    else:
        classes, dists = entry_point_services()
        if classes:
            found = Discovered(_unique(classes), "entry points", ", ".join(dists))
        else:
            demo = importlib.import_module(DEMO_MODULE)
            found = Discovered(tuple(services_of(demo)), "demo", DEMO_MODULE)
    check_unique_names(found.classes)
    return found
