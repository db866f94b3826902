"""`ModuleGraph`: the project's modules, their files, and which imports which.

The project is the services' own modules and every module loaded from a file under the
project's folder (the working directory), except installed packages (a virtualenv inside
the project included) and servicedeck's own framework. Which module imports which is
read from each module's source (its `import` statements, resolved against the project's
modules) and from its globals (a module object bound in it), so that a change to a
helper module reloads exactly the modules that use it, directly or through others.
"""

from __future__ import annotations

import ast
import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["ModuleGraph", "Stamp"]

_NEVER = ("servicedeck._core", "servicedeck.controller", "servicedeck.control", "servicedeck.tui")
"""servicedeck's own machinery: never reloaded (its demo services may be)."""


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a file was when its module was loaded: changed when either differs."""

    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> Stamp | None:
        """The file's stamp now; None when it cannot be read (deleted, renamed)."""
        try:
            stat = path.stat()
        except OSError:
            return None
        return cls(stat.st_mtime_ns, stat.st_size)


class ModuleGraph:
    """The project's modules (see the module docstring), rebuilt with `scan()`.

    Args:
        root: the project's folder.
        roots: modules that belong to the project wherever their file is (the services').
    """

    def __init__(self, root: Path, roots: Iterable[str] = ()) -> None:
        self.root = root.resolve()
        self.roots = set(roots)
        self.files: dict[str, Path] = {}
        """Module name -> its source file, for every module of the project."""
        self.imports: dict[str, set[str]] = {}
        """Module name -> the project's modules it imports."""
        self.stamps: dict[str, Stamp | None] = {}
        """Module name -> its file as it was when the module was loaded."""
        self._classified: dict[str, tuple[Path, bool]] = {}
        self._installed = {
            Path(p).resolve()
            for key in ("purelib", "platlib", "stdlib", "platstdlib")
            if (p := sysconfig.get_paths().get(key))
        }

    def scan(self, fresh: Iterable[str] = ()) -> None:
        """Read the project's modules from `sys.modules` again; `fresh`: those just
        imported afresh (their files are stamped again)."""
        fresh = set(fresh)
        files: dict[str, Path] = {}
        for name, module in list(sys.modules.items()):
            path = self._project_file(name, module)
            if path is not None:
                files[name] = path
        self.imports = {name: self._imports_of(name, files) for name in files}
        self.stamps = {
            name: self.stamps[name]
            if name not in fresh and name in self.files and self.files[name] == path
            # A module kept from before keeps its stamp: a save not yet reloaded shows.
            else Stamp.of(path)
            for name, path in files.items()
        }
        self.files = files

    def modules_of(self, paths: Iterable[Path]) -> set[str]:
        """The project's modules whose files are among `paths`."""
        wanted = {Path(p).resolve() for p in paths}
        return {name for name, path in self.files.items() if path in wanted}

    def importers(self, modules: Iterable[str]) -> set[str]:
        """`modules` and every module of the project that imports one of them, directly
        or through others: what must be imported afresh when they change."""
        reverse: dict[str, set[str]] = {}
        for name, imported in self.imports.items():
            for dependency in imported:
                reverse.setdefault(dependency, set()).add(name)
        return _reachable(modules, reverse)

    def dependencies(self, module: str) -> set[str]:
        """`module` and every module of the project it imports, directly or not."""
        return _reachable([module], self.imports)

    def changed(self, modules: Iterable[str]) -> set[str]:
        """Those of `modules` whose file differs from when it was loaded."""
        return {
            name
            for name in modules
            if name in self.files and Stamp.of(self.files[name]) != self.stamps.get(name)
        }

    def relative(self, path: Path | str) -> str:
        """`path` as shown to people: relative to the project's folder when under it."""
        path = Path(path)
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    # -- reading modules ------------------------------------------------------------------

    def _project_file(self, name: str, module: ModuleType | None) -> Path | None:
        if module is None or any(name == n or name.startswith(n + ".") for n in _NEVER):
            return None
        if name == "servicedeck" or name == "__main__":
            return None
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            return None
        # Cached by file: a scan looks at every module of the process (a thousand or so),
        # and resolving each path again on every reload would cost most of it.
        known = self._classified.get(file)
        if known is None:
            path = Path(file).resolve()
            inside = (
                path.is_relative_to(self.root)
                and not any(path.is_relative_to(folder) for folder in self._installed)
                and "site-packages" not in path.parts
                and "dist-packages" not in path.parts
            )
            known = self._classified[file] = (path, inside)
        path, inside = known
        return path if inside or name in self.roots else None

    def _imports_of(self, name: str, files: dict[str, Path]) -> set[str]:
        found: set[str] = set()
        module = sys.modules.get(name)
        for value in vars(module).values() if module is not None else ():
            if isinstance(value, ModuleType) and value.__name__ in files:
                found.add(value.__name__)
        try:
            tree = ast.parse(files[name].read_bytes(), str(files[name]))
        except (OSError, SyntaxError, ValueError):
            return found - {name}
        package = name if files[name].name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found |= _with_parents(alias.name, files)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module, node.level, package)
                if base is None:
                    continue
                found |= _with_parents(base, files)
                for alias in node.names:
                    if f"{base}.{alias.name}" in files:
                        found.add(f"{base}.{alias.name}")
        return found - {name}


def _resolve(module: str | None, level: int, package: str) -> str | None:
    """The absolute name of `from <level dots><module> import ...` in `package`."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def _with_parents(name: str, files: dict[str, Path]) -> set[str]:
    """`name` and its parent packages, those that are modules of the project."""
    parts = name.split(".")
    return {
        candidate for i in range(1, len(parts) + 1) if (candidate := ".".join(parts[:i])) in files
    } | ({name} if name in files else set())


def source_cache_of(path: Path) -> Path | None:
    """The bytecode cache file of source file `path` (None: it has none)."""
    import importlib.util

    try:
        return Path(importlib.util.cache_from_source(os.fspath(path)))
    except (NotImplementedError, ValueError):
        return None


def _reachable(starts: Iterable[str], edges: Mapping[str, Iterable[str]]) -> set[str]:
    """`starts` and every module reached from one of them along `edges`."""
    found = set(starts)
    stack = list(found)
    while stack:
        for module in edges.get(stack.pop(), ()):
            if module not in found:
                found.add(module)
                stack.append(module)
    return found
