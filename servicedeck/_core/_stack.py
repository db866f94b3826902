"""Where a service's task is now: the chain of awaits from its coroutine to the innermost.

A task that waits is a chain of suspended coroutines: each one's frame, and what it
awaits (`cr_await`), down to the object the event loop will wake it through (an asyncio
future, trio's `wait_task_rescheduled`). `capture_await_stack()` walks that chain —
through coroutines, `@types.coroutine` generators (`gi_yieldfrom`), async generators
(`async for`, `@asynccontextmanager`) and a task awaited by another — and records each
frame with its source line, classified as the user's code, servicedeck's, or a
library's (the standard library, asyncio, anyio, trio, anything installed), so a view
can point at the innermost line of the user's own code: where the loop is stuck.

aiomonitor's `where` command and Python 3.14's `python -m asyncio pstree` do the same
for asyncio; this works on every anyio backend, through `anyio.get_running_tasks()`.
Reading a suspended coroutine's frame is safe from the event loop's own thread only:
call it from there.
"""

from __future__ import annotations

import functools
import gc
import linecache
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from anyio import TaskInfo

    from ._service import Service

__all__ = ["AwaitStack", "StackFrame", "capture_await_stack"]

USER = "user"
FRAMEWORK = "framework"
LIBRARY = "library"

MAX_FRAMES = 200
"""A chain longer than this is cut (deep recursion): the innermost frames are kept."""

MAX_DEPTH = 3
"""How many levels of child tasks are followed (a task's children, theirs, ...)."""

MAX_TASKS = 32
"""How many child tasks one capture describes at most."""

# Modules of the servicedeck package that are user code: the demo services are written
# as a user writes services, against the public API.
_USER_MODULES = frozenset({"servicedeck.demo"})

# Awaitables that hide the coroutine or async generator they run: found among their
# referents (Python gives no attribute for it; see python/cpython#76991).
_WRAPPERS = frozenset({"async_generator_asend", "async_generator_athrow", "coroutine_wrapper"})


@dataclass(frozen=True, slots=True)
class StackFrame:
    """One frame of an await stack: where a suspended coroutine waits."""

    file: str
    """The file of its code, as Python knows it (absolute for most modules)."""
    line: int
    """The line it is suspended at (1-based)."""
    function: str
    """The qualified name of its function, e.g. `Reaper.run_once`."""
    source: str
    """That line of source, stripped; empty when the file cannot be read."""
    kind: str
    """`user` (your code), `framework` (servicedeck's) or `library` (the standard
    library, asyncio, anyio, trio, anything installed)."""

    @property
    def is_user(self) -> bool:
        """True for the user's own code."""
        return self.kind == USER

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "file": self.file,
            "line": self.line,
            "function": self.function,
            "source": self.source,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackFrame:
        """The `StackFrame` that `to_json()` described.

        Raises:
            KeyError: a field is missing.
        """
        return cls(
            file=str(data["file"]),
            line=int(data["line"]),
            function=str(data["function"]),
            source=str(data.get("source", "")),
            kind=str(data["kind"]),
        )


@dataclass(frozen=True, slots=True)
class AwaitStack:
    """Where a service's task waits now: its await chain, outermost frame first, and
    the stacks of the tasks it started and waits for (e.g. a task group in `run_once()`)."""

    service: str
    """The service's name."""
    captured_at: float
    """When it was captured, on the service's clock (monotonic)."""
    frames: tuple[StackFrame, ...]
    """From the task's own coroutine down to the innermost await."""
    user_frame: int | None
    """Index in `frames` of the innermost frame of the user's code: where the user's
    code waits. None when none of it is on the stack (e.g. a loop service asleep
    between loops)."""
    task: str = ""
    """The task's name (a runner names a service's task `servicedeck:<name>`)."""
    children: tuple[AwaitStack, ...] = ()
    """The stacks of the tasks this one started that still run (a few levels deep, a
    few dozen at most), in the order they were found."""

    @property
    def innermost_user_frame(self) -> StackFrame | None:
        """`frames[user_frame]`, or None."""
        return None if self.user_frame is None else self.frames[self.user_frame]

    def format(self) -> str:
        """The stack as Python prints a traceback (innermost last), the user's innermost
        frame marked, then each child task's, indented: plain text to read, log or copy."""
        lines = [f"Await stack of {self.service} (innermost last):"]
        self._format_into(lines, "")
        return "\n".join(lines) + "\n"

    def _format_into(self, lines: list[str], indent: str) -> None:
        for index, frame in enumerate(self.frames):
            mark = "  <-- your code waits here" if index == self.user_frame else ""
            lines.append(
                f'{indent}  File "{frame.file}", line {frame.line}, in {frame.function}{mark}'
            )
            if frame.source:
                lines.append(f"{indent}    {frame.source}")
        for child in self.children:
            lines.append(f"{indent}  and in task {child.task or '(unnamed)'}:")
            child._format_into(lines, indent + "  ")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field; frames and children as their own `to_json()`."""
        return {
            "service": self.service,
            "captured_at": self.captured_at,
            "frames": [frame.to_json() for frame in self.frames],
            "user_frame": self.user_frame,
            "task": self.task,
            "children": [child.to_json() for child in self.children],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AwaitStack:
        """The `AwaitStack` that `to_json()` described.

        Raises:
            KeyError: a field is missing.
        """
        user_frame = data.get("user_frame")
        return cls(
            service=str(data["service"]),
            captured_at=float(data["captured_at"]),
            frames=tuple(StackFrame.from_json(frame) for frame in data["frames"]),
            user_frame=None if user_frame is None else int(user_frame),
            task=str(data.get("task", "")),
            children=tuple(AwaitStack.from_json(child) for child in data.get("children", ())),
        )


def capture_await_stack(service: Service, task_id: int, now: float) -> AwaitStack | None:
    """The await stack of task `task_id`, which runs `service`, and of the tasks it
    started; None when that task is gone.

    Call it from the event-loop thread that runs the task.
    """
    tasks = anyio.get_running_tasks()
    children: dict[int, list[TaskInfo]] = {}
    root = None
    for task in tasks:
        if task.id == task_id:
            root = task
        elif task.parent_id is not None:
            children.setdefault(task.parent_id, []).append(task)
    if root is None:
        return None
    capture = _Capture(service.name, now, _service_codes(type(service)), children)
    return capture.stack(root, 0)


class _Capture:
    """One capture: what every task's stack is described with."""

    def __init__(
        self,
        service: str,
        now: float,
        own: set[CodeType],
        children: dict[int, list[TaskInfo]],
    ) -> None:
        self.service = service
        self.now = now
        self.own = own
        self.children = children
        self.budget = MAX_TASKS

    def stack(self, task: TaskInfo, depth: int) -> AwaitStack:
        raw = list(_await_frames(task.coro))[-MAX_FRAMES:]
        frames = tuple(_describe(frame) for frame in raw)
        user_frame = next((i for i in reversed(range(len(frames))) if frames[i].is_user), None)
        if user_frame is None:
            # The service's own code may be installed among the libraries (a deployed
            # package): its methods are still the user's code.
            user_frame = next(
                (i for i in reversed(range(len(raw))) if raw[i].f_code in self.own), None
            )
        kids: list[AwaitStack] = []
        if depth < MAX_DEPTH:
            for child in self.children.get(task.id, ()):
                if self.budget <= 0:
                    break
                self.budget -= 1
                kids.append(self.stack(child, depth + 1))
        return AwaitStack(self.service, self.now, frames, user_frame, task.name or "", tuple(kids))


def _await_frames(coro: Any) -> Iterator[FrameType]:
    """The frames of the await chain that starts at `coro`, outermost first.

    `coro` is typed `Any`: each step is found by introspection of what it turns out to be.
    """
    seen: set[int] = set()
    while coro is not None and id(coro) not in seen:
        seen.add(id(coro))
        frame: FrameType | None
        if hasattr(coro, "cr_frame"):  # a coroutine
            frame, coro = coro.cr_frame, coro.cr_await
        elif hasattr(coro, "gi_frame"):  # a generator: @types.coroutine, `yield from`
            frame, coro = coro.gi_frame, coro.gi_yieldfrom
        elif hasattr(coro, "ag_frame"):  # an async generator
            frame, coro = coro.ag_frame, coro.ag_await
        else:
            frame, coro = None, _unwrap(coro)
        if frame is not None:
            yield frame


def _unwrap(awaitable: object) -> Any:
    """What `awaitable` runs, when it hides a coroutine, an async generator, or an
    awaited asyncio task (whose coroutine the chain then follows); else None."""
    kind = type(awaitable).__name__
    if kind in _WRAPPERS:
        for referent in gc.get_referents(awaitable):
            if hasattr(referent, "ag_frame") or hasattr(referent, "cr_frame"):
                return referent
        return None
    if kind == "FutureIter":  # asyncio's `await future`: the future may be a task
        for referent in gc.get_referents(awaitable):
            get_coro = getattr(referent, "get_coro", None)
            if get_coro is not None:
                return get_coro()
    return None


def _service_codes(cls: type) -> set[CodeType]:
    """The code of every function the service's own classes define (not the framework's)."""
    codes: set[CodeType] = set()
    for klass in cls.__mro__:
        if _module_kind(klass.__module__, None) != USER:
            continue
        for value in vars(klass).values():
            code = getattr(getattr(value, "__wrapped__", value), "__code__", None)
            if isinstance(code, CodeType):
                codes.add(code)
    return codes


def _describe(frame: FrameType) -> StackFrame:
    code = frame.f_code
    line = frame.f_lineno or code.co_firstlineno
    file = code.co_filename
    source = linecache.getline(file, line, frame.f_globals).strip()
    kind = _module_kind(frame.f_globals.get("__name__"), file)
    return StackFrame(file, line, code.co_qualname, source, kind)


def _module_kind(module: object, file: str | None) -> str:
    """`framework` for servicedeck's modules, `library` for the standard library and
    installed packages, `user` for the rest."""
    if isinstance(module, str) and (module == "servicedeck" or module.startswith("servicedeck.")):
        return USER if module in _USER_MODULES else FRAMEWORK
    if file is None:
        found = sys.modules.get(module) if isinstance(module, str) else None
        file = getattr(found, "__file__", None)
        if not isinstance(file, str):
            return USER
    if file.startswith("<"):
        return LIBRARY if file.startswith("<frozen ") else USER
    return LIBRARY if file.startswith(_library_paths()) else USER


@functools.cache
def _library_paths() -> tuple[str, ...]:
    """The folders of the standard library and of installed packages, each ending in a
    separator (so `/usr/lib/python3.11` does not match `/usr/lib/python3.11-app`), as
    given and with links resolved."""
    import site
    import sysconfig

    paths = sysconfig.get_paths()
    found = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    found.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE and site.USER_SITE:
        found.add(site.USER_SITE)
    found |= {os.path.realpath(path) for path in found}
    return tuple(os.path.join(path, "") for path in sorted(found))
