"""A project on disk whose modules the tests edit, and a reloader over its services."""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from servicedeck.discovery import discover

_ids = itertools.count()

SERVICE = """
import {sink} as sink
{imports}
from servicedeck import LoopService

VERSION = {version}


class {cls}(LoopService):
    loop_seconds = 0.05

    async def setup(self) -> None:
        sink.events.append(("setup", "{cls}", VERSION))

    async def run_once(self) -> None:
        sink.events.append(("loop", "{cls}", VERSION{extra}))

    async def teardown(self) -> None:
        sink.events.append(("teardown", "{cls}", VERSION))
"""


@dataclass
class Project:
    """Modules in a folder of their own (unique names: tests share `sys.modules`)."""

    folder: Path
    sink: types.ModuleType
    suffix: str
    files: dict[str, Path] = field(default_factory=dict)

    def module(self, stem: str) -> str:
        return f"{stem}_{self.suffix}"

    def write(self, stem: str, text: str) -> Path:
        path = self.folder / f"{self.module(stem)}.py"
        # Bigger each time: a save the same second with the same size must still count.
        pad = "#" * (len(self.files) + path.stat().st_size % 7 if path.exists() else 0)
        path.write_text(text + pad + "\n")
        self.files[stem] = path
        return path

    def service(
        self, stem: str, cls: str, version: int, *, imports: str = "", extra: str = ""
    ) -> Path:
        return self.write(
            stem,
            SERVICE.format(
                sink=self.sink.__name__,
                imports=imports,
                version=version,
                cls=cls,
                extra=extra,
            ),
        )

    def classes(self) -> tuple[type, ...]:
        return discover(
            [str(path) for stem, path in self.files.items() if stem != "helper"]
        ).classes

    def events(self, kind: str, cls: str) -> list[int]:
        return [version for k, c, version, *_ in self.sink.events if (k, c) == (kind, cls)]


@pytest.fixture
def project(_isolated: Path) -> Iterator[Project]:
    suffix = f"r{next(_ids)}"
    sink = types.ModuleType(f"reload_sink_{suffix}")
    sink.events = []  # type: ignore[attr-defined]
    sys.modules[sink.__name__] = sink
    before = set(sys.modules)
    try:
        yield Project(_isolated, sink, suffix)
    finally:
        for name in set(sys.modules) - before:
            if suffix in name:
                del sys.modules[name]
        sys.modules.pop(sink.__name__, None)
