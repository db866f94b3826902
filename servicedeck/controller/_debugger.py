"""pdb inside a running console: a loop stepped under the debugger, and `breakpoint()`.

The console owns the terminal while it runs; pdb needs it to read and print. A
`TerminalDebugger` takes the terminal when it first stops (the `take_terminal` hook: the
console's `App.suspend()`, given by the command line) and gives it back when the user
continues or quits. Meanwhile the event loop is blocked, in pdb's prompt: every other
service and the console wait. The stall watchdog is told (`on_hold`), so the wait at the
prompt is not reported as a service blocking the loop.

Stepping (`n`, `s`) out of the service's code skips servicedeck's, anyio's, asyncio's
and Textual's frames: the next stop is in your code again.
"""

from __future__ import annotations

import contextlib
import pdb
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from types import CodeType, FrameType
from typing import Any

__all__ = ["SKIPPED", "TerminalDebugger", "first_line"]

SKIPPED = (
    "servicedeck._core*",
    "servicedeck.controller*",
    "servicedeck.control*",
    "servicedeck.tui*",
    "anyio*",
    "asyncio*",
    "trio*",
    "textual*",
    "rich*",
)
"""Modules pdb steps over: the machinery around a loop, never the service's own code."""

TakeTerminal = Callable[[], AbstractContextManager[None]]


def first_line(code: CodeType) -> int:
    """The first line of `code`'s body that runs (after its `def` and docstring)."""
    lines = [line for _, _, line in code.co_lines() if line is not None]
    body = [line for line in lines if line > code.co_firstlineno]
    return min(body) if body else code.co_firstlineno


class TerminalDebugger(pdb.Pdb):
    """pdb that borrows the terminal from a full-screen app while it holds a prompt.

    Args:
        take_terminal: a context manager that hands the terminal over and back (the
            console's `App.suspend`); None: the terminal is free (a headless run).
        on_hold: called with True when pdb takes the terminal, False when it gives it back.
    """

    def __init__(
        self,
        take_terminal: TakeTerminal | None = None,
        on_hold: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(skip=SKIPPED)
        self._take_terminal = take_terminal
        self._on_hold = on_hold
        self._held: ExitStack | None = None
        self._target: object = None

    @property
    def holding(self) -> bool:
        """True while pdb has the terminal."""
        return self._held is not None

    def break_in(self, function: Callable[..., Any], instance: object) -> None:
        """Stop at the first line of `function` when it next runs on `instance` (and only
        then: another instance of the class runs on), from the current frame on."""
        code = getattr(function, "__wrapped__", function).__code__
        self._target = instance
        self.set_break(code.co_filename, first_line(code), temporary=True)
        # What `set_trace()` then `c` would leave, without stopping here first: no frame
        # to stop in but the breakpoint's, traced from the next call on.
        self.reset()
        self.botframe = sys._getframe(1)
        super().set_continue()
        sys.settrace(self.trace_dispatch)

    def break_here(self, frame: FrameType) -> bool:
        """A breakpoint of `break_in()` stops only for its instance."""
        if self._target is not None and frame.f_locals.get("self") is not self._target:
            return False
        return bool(super().break_here(frame))

    def interaction(self, frame: FrameType | None, traceback: Any) -> None:
        """Take the terminal on the first stop, then prompt as pdb does."""
        if self._held is None:
            held = ExitStack()
            if self._on_hold is not None:
                self._on_hold(True)
                held.callback(self._on_hold, False)
            if self._take_terminal is not None:
                held.enter_context(self._take_terminal())
            self._held = held
        # Written to the terminal itself: the app may have redirected sys.stdout.
        self.stdout = sys.stdout
        super().interaction(frame, traceback)

    def set_continue(self) -> None:
        """`c`: run on; with no breakpoint left, the terminal goes back to the app."""
        super().set_continue()
        if not self.breaks:
            self.release()

    def set_quit(self) -> None:
        """`q`: the loop ends with `BdbQuit` (recorded as its error); the app comes back."""
        super().set_quit()
        self.release()

    def release(self) -> None:
        """Stop tracing and give the terminal back (idempotent)."""
        self._target = None
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):  # the app may be gone: nothing to restore
                held.close()

    def disarm(self) -> None:
        """Forget a breakpoint that was never hit and stop tracing, giving the terminal back."""
        self.clear_all_breaks()
        sys.settrace(None)
        self.release()
