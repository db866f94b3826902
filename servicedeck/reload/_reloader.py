"""`Reloader`: import changed modules afresh and swap the services made from them.

Driven by `watch()` (files saved, seen by watchfiles, debounced) or by `r` in the
console (`ServiceController.restart()` asks `reload_service()` first). A reload:

1. finds the changed modules of the project (`ModuleGraph`) and every module that
   imports one of them, directly or not: the *affected* modules;
2. takes the affected modules out of `sys.modules` (and drops the changed files'
   bytecode caches, whose timestamps have a one-second resolution) and runs the
   discovery again, which imports them afresh;
3. if that fails (a syntax error, an import that raises), puts the old modules back:
   the old code runs on, and each affected service's snapshot carries the error (file,
   line, error) until a later reload works;
4. else hands the new classes to the controller (`replace_classes()`): each service
   made from an affected module is stopped, made again, and put back in its state.

Services whose modules are not affected are not touched.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import anyio

from servicedeck import Service
from servicedeck.control import CommandError
from servicedeck.controller import LOGGER_PREFIX, ServiceController
from servicedeck.reload._graph import ModuleGraph, source_cache_of

__all__ = ["ReloadReport", "Reloader"]

logger = logging.getLogger("servicedeck.reload")

DEBOUNCE_MS = 50
"""Changes within this many milliseconds of each other make one reload (an editor's
save is often several writes)."""


@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What one reload did."""

    files: tuple[str, ...] = ()
    """The changed files, relative to the project's folder."""
    reloaded: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    """Services it could not stop in time: they run their old code."""
    error: str | None = None
    """Why the new code did not import (file, line, error): the old code runs on."""


@dataclass
class _Pending:
    paths: set[Path] = field(default_factory=set)


class Reloader:
    """Reloads the services of `controller` when their modules' files change.

    Args:
        controller: the services (its `restart()` reloads changed code through this).
        rediscover: imports the services' modules (those not in `sys.modules` afresh)
            and returns every service class, as the command line first found them.
        root: the project's folder (default: the working directory): modules loaded from
            files under it are watched, besides the services' own modules.
    """

    def __init__(
        self,
        controller: ServiceController,
        rediscover: Callable[[], Sequence[type[Service]]],
        *,
        root: Path | None = None,
    ) -> None:
        self.controller = controller
        self._rediscover = rediscover
        roots = {controller.class_of(name).__module__ for name in controller.names}
        self.graph = ModuleGraph(Path.cwd() if root is None else root, roots)
        self.graph.scan()
        self.reloads = 0
        """How many reloads imported new code."""
        self.last: ReloadReport | None = None
        self._lock = anyio.Lock()
        controller.set_reload_hook(self.reload_service)

    @property
    def watched(self) -> list[Path]:
        """The files that are watched: the project's modules' (see `ModuleGraph`)."""
        return sorted(set(self.graph.files.values()))

    async def reload_files(self, paths: Iterable[Path | str]) -> ReloadReport:
        """Reload what the change of `paths` affects (nothing: an empty report)."""
        modules = self.graph.modules_of(Path(p) for p in paths)
        if not modules:
            return ReloadReport()
        return await self._reload(modules)

    async def reload_service(self, name: str) -> tuple[str, ...]:
        """Reload service `name` if a file of its module, or of one it imports, changed
        since it was loaded (the controller's `restart()` asks this first).

        Returns:
            The changed files; empty: its code had not changed (nothing was done).

        Raises:
            CommandError: the new code does not import (its old code runs on).
        """
        module = self.controller.class_of(name).__module__
        changed = self.graph.changed(self.graph.dependencies(module))
        if not changed:
            return ()
        report = await self._reload(changed)
        if report.error is not None:
            raise CommandError(f"{name} not reloaded: {report.error}")
        return report.files

    async def watch(
        self,
        *,
        debounce_ms: int = DEBOUNCE_MS,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Reload on every save of a watched file, until cancelled (start it in a task
        group, with `start()`: it returns once watching).

        Raises:
            ModuleNotFoundError: watchfiles is not installed (`servicedeck[reload]`).
        """
        from watchfiles import Change, awatch

        stop = anyio.Event()
        folders = sorted({path.parent for path in self.watched} | {self.graph.root})
        # The folders, not the files: an editor that saves by renaming a new file over
        # the old one would otherwise be watched no more after its first save.
        watching = awatch(
            *folders,
            watch_filter=lambda change, path: path.endswith(".py") and change != Change.deleted,
            debounce=debounce_ms,
            step=min(debounce_ms, 50),
            stop_event=stop,
            recursive=False,
            yield_on_timeout=True,
            rust_timeout=1_000,
        )
        task_status.started()
        try:
            async for changes in watching:
                if changes:
                    await self.reload_files(path for _, path in changes)
        finally:
            stop.set()

    # -- the reload -----------------------------------------------------------------------

    async def _reload(self, changed: Collection[str]) -> ReloadReport:
        async with self._lock:
            changed = self.graph.changed(changed) or set(changed)
            affected = self.graph.importers(changed)
            files = tuple(sorted(self.graph.relative(self.graph.files[m]) for m in changed))
            names = [
                name
                for name in self.controller.names
                if self.controller.class_of(name).__module__ in affected
            ]
            saved = self._forget(affected, changed)
            try:
                classes = self._rediscover()
            except (Exception, SystemExit) as exc:
                self._put_back(saved, affected)
                error = self._describe(exc)
                # In the services' own logs: the console shows them there (a line on
                # stderr would be written over its screen), `run` on stderr.
                for name in names:
                    logging.getLogger(f"{LOGGER_PREFIX}.{name}").error(
                        "%s: reload failed: %s (its old code runs on)", name, error
                    )
                if not names:
                    logger.info("reload of %s failed: %s", ", ".join(files), error)
                self.controller.set_reload_error(names, error)
                self.graph.scan()
                self.last = ReloadReport(files=files, error=error)
                return self.last
            outcome = await self.controller.replace_classes(classes, affected)
            self.graph.roots |= {cls.__module__ for cls in classes}
            self.graph.scan(fresh=affected)
            self.reloads += 1
            self.last = ReloadReport(
                files=files,
                reloaded=tuple(outcome.reloaded),
                added=tuple(outcome.added),
                removed=tuple(outcome.removed),
                kept=tuple(outcome.stuck),
            )
            logger.info(
                "reloaded %s: %s",
                ", ".join(files),
                ", ".join(outcome.reloaded + [f"{n} (new)" for n in outcome.added]
                          + [f"{n} (removed)" for n in outcome.removed]) or "no services",
            )  # fmt: skip
            return self.last

    def _forget(self, affected: Collection[str], changed: Collection[str]) -> dict[str, ModuleType]:
        """Take the affected modules out of `sys.modules`; returns them, to put back."""
        saved = {name: sys.modules[name] for name in affected if name in sys.modules}
        for name in affected:
            sys.modules.pop(name, None)
        for name in changed:
            cache = source_cache_of(self.graph.files[name])
            if cache is not None:
                with contextlib.suppress(OSError):
                    os.remove(cache)
        importlib.invalidate_caches()
        return saved

    def _put_back(self, saved: dict[str, ModuleType], affected: Collection[str]) -> None:
        """The failed import may have half-imported some: the old modules come back."""
        for name in affected:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        for name, module in saved.items():
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, module)

    def _describe(self, exc: BaseException) -> str:
        """`services.py:12: SyntaxError: invalid syntax`: where the new code failed."""
        cause = exc.__cause__ if exc.__cause__ is not None else exc
        where = ""
        if isinstance(cause, SyntaxError) and cause.filename:
            where = f"{self.graph.relative(cause.filename)}:{cause.lineno}: "
            message = f"{type(cause).__name__}: {cause.msg}"
        else:
            frames = traceback.extract_tb(cause.__traceback__)
            ours = [f for f in frames if _under(f.filename, self.graph.root)]
            if ours:
                where = f"{self.graph.relative(ours[-1].filename)}:{ours[-1].lineno}: "
            message = f"{type(cause).__name__}: {cause}"
        return f"{where}{message}".splitlines()[0] if message else where


def _under(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root) and "site-packages" not in path
    except (OSError, ValueError):
        return False
