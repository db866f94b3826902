"""The servicedeck console: a live Textual table of services with keys to start, step,
pause and stop them, over the control protocol (`servicedeck.control`).

    from servicedeck.controller import ServiceController
    from servicedeck.tui import ServiceDeckApp

    ServiceDeckApp(ServiceController(classes, propagate_logs=False)).run()

This package imports Textual, Rich and the control protocol; never the framework or the
controller (the command line wires them together). Its names are imported on first use,
so `python -m servicedeck.tui.keys` (which prints docs/keys.md) starts cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicedeck.tui.app import ServiceDeckApp

__all__ = ["ServiceDeckApp"]


def __getattr__(name: str) -> Any:
    if name == "ServiceDeckApp":
        from servicedeck.tui.app import ServiceDeckApp

        return ServiceDeckApp
    raise AttributeError(f"module 'servicedeck.tui' has no attribute {name!r}")
