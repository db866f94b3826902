"""The servicedeck console: a live Textual table of services with keys to start, step,
pause and stop them.

    from servicedeck.tui import ServiceDeckApp
    from servicedeck.controller import ServiceController

    ServiceDeckApp(ServiceController(classes, propagate_logs=False)).run()

This package imports Textual; the framework (`servicedeck`) and the controller never do.
Its names are imported on first use, so `python -m servicedeck.tui.keys` (which prints
docs/keys.md) and `python -m servicedeck.tui.screenshots` start cleanly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicedeck.tui.app import ServiceDeckApp
    from servicedeck.tui.demo import demo_app, demo_services

__all__ = ["ServiceDeckApp", "demo_app", "demo_services"]


def __getattr__(name: str) -> Any:
    if name == "ServiceDeckApp":
        from servicedeck.tui.app import ServiceDeckApp

        return ServiceDeckApp
    if name in ("demo_app", "demo_services"):
        from servicedeck.tui import demo

        return getattr(demo, name)
    raise AttributeError(f"module 'servicedeck.tui' has no attribute {name!r}")
