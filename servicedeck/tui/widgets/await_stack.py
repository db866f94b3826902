"""Where a running loop waits: the await stack of the service's task, for people.

`AwaitStackView` shows an `AwaitStack` (from `ServiceControl.where()`) as a traceback is
read, innermost last: `file:line in function`, the source line under it, the innermost
frame of the user's code marked (where a hung loop is stuck). Paths under the process's
root are relative to it and an installed library's start at its package, so the text is
the same on every machine; servicedeck's own frames are counted, not shown, as in the
Error tab. `stack_text()` is the same text, plain, for the clipboard.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.widgets import Static

from servicedeck.control import AwaitStack, ProcessInfo, StackFrame
from servicedeck.tui import format as fmt

__all__ = ["AwaitStackView", "shown_path", "stack_text"]

_MARK = "  ← your code waits here"
_LIBRARY_ROOTS = ("site-packages", "dist-packages")


def shown_path(path: str, root: str) -> str:
    """`path` as the console shows it: from the package down for an installed library
    (`anyio/_core/_eventloop.py`); relative to `root` when under it; else the file's
    name with its folder (`…/asyncio/tasks.py`), never a path of this machine."""
    parts = path.split(os.sep)
    # An installed library first: a virtual environment may live under the root.
    for marker in _LIBRARY_ROOTS:
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) :])
    prefix = root.rstrip(os.sep) + os.sep
    if path.startswith(prefix):
        return path[len(prefix) :]
    if not os.path.isabs(path):
        return path
    return "…/" + "/".join(parts[-2:])


def _is_stdlib(frame: StackFrame) -> bool:
    """A frame of the standard library (asyncio's own), not of an installed package."""
    parts = frame.file.split(os.sep)
    return frame.kind == "library" and not any(root in parts for root in _LIBRARY_ROOTS)


def _frames(
    stack: AwaitStack, framework_path: str
) -> tuple[list[tuple[int, StackFrame]], int, int]:
    """The frames shown (with their index), and how many servicedeck frames and standard
    library frames were hidden (asyncio's innards say nothing about the service, and
    their line numbers change with every Python release)."""
    hidden_prefix = framework_path.rstrip(os.sep) + os.sep if framework_path else None
    shown, hidden, stdlib = [], 0, 0
    for index, frame in enumerate(stack.frames):
        mine = index == stack.user_frame
        if not mine and (
            frame.kind == "framework"
            or (hidden_prefix is not None and frame.file.startswith(hidden_prefix))
        ):
            hidden += 1
        elif not mine and _is_stdlib(frame):
            stdlib += 1
        else:
            shown.append((index, frame))
    return shown, hidden, stdlib


def _render_into(
    text: Text, plain: list[str], stack: AwaitStack, process: ProcessInfo, indent: str
) -> None:
    shown, hidden, stdlib = _frames(stack, process.framework_path)
    for index, frame in shown:
        mine = index == stack.user_frame
        where = f"{shown_path(frame.file, process.root)}:{frame.line}"
        line = f"{indent}  {where} in {frame.function}"
        plain.append(line + (_MARK if mine else ""))
        style = "bold" if mine else ("" if frame.is_user else "dim")
        text.append(f"{indent}{'▶ ' if mine else '  '}", "bold yellow" if mine else "")
        text.append(where, f"{style} cyan" if frame.is_user else style)
        text.append(f" in {frame.function}", style)
        if mine:
            text.append(_MARK, "bold yellow")
        text.append("\n")
        if frame.source:
            source = fmt.safe_line(frame.source, 300)
            plain.append(f"{indent}      {source}")
            text.append(f"{indent}      {source}\n", "" if frame.is_user else "dim")
    notes = []
    if hidden:
        notes.append(f"{hidden} servicedeck frame{'s' if hidden > 1 else ''}")
    if stdlib:
        notes.append(f"{stdlib} standard library frame{'s' if stdlib > 1 else ''}")
    if notes:
        note = f"{indent}  ({' and '.join(notes)} hidden)"
        plain.append(note)
        text.append(note + "\n", "dim")
    for child in stack.children:
        title = f"{indent}  and in task {child.task or '(unnamed)'}:"
        plain.append(title)
        text.append(title + "\n", "dim italic")
        _render_into(text, plain, child, process, indent + "  ")


def _drawn(stack: AwaitStack) -> tuple[object, ...]:
    """What is drawn of `stack` and of its children's: all but their capture times."""
    return (stack.task, stack.frames, stack.user_frame, tuple(map(_drawn, stack.children)))


def stack_text(stack: AwaitStack, process: ProcessInfo) -> str:
    """The stack as plain text, innermost last, paths as the console shows them: what the
    copy key puts on the clipboard."""
    plain = [f"Await stack of {stack.service} (innermost last):"]
    _render_into(Text(), plain, stack, process, "")
    return "\n".join(plain) + "\n"


class AwaitStackView(Static):
    """The await stack of the service's task: set `stack` (None hides it)."""

    DEFAULT_CSS = """
    AwaitStackView {
        height: auto;
        display: none;
        &.-shown { display: block; }
    }
    """

    def __init__(self, process: ProcessInfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._process = process
        self._stack: AwaitStack | None = None
        self._shown: tuple[object, ...] | None = None

    @property
    def stack(self) -> AwaitStack | None:
        """The stack shown (None: nothing is)."""
        return self._stack

    def show(self, stack: AwaitStack | None, process: ProcessInfo) -> None:
        """Show `stack` (None: hide); draws again only when what it shows changed."""
        self._stack, self._process = stack, process
        self.set_class(stack is not None, "-shown")
        # The capture time changes every time: compare what is drawn, not the record.
        key = None if stack is None else (_drawn(stack), process)
        if key == self._shown:
            return
        self._shown = key
        if stack is None:
            self.update("")
            return
        text = Text()
        text.append("Where it waits", "bold")
        text.append("  (innermost last; y copies it)\n", "dim")
        if not stack.frames and not stack.children:
            text.append("  (no frame: the task has not started its coroutine)\n", "dim")
        _render_into(text, [], stack, process, "")
        text.rstrip()
        self.update(text)

    def copy_text(self) -> str | None:
        """The stack shown, as plain text (None: none is shown)."""
        return None if self._stack is None else stack_text(self._stack, self._process)
