"""The console on the built-in demo services, for trying it, tests and screenshots."""

from __future__ import annotations

from collections.abc import Callable

from servicedeck import Service
from servicedeck.controller import ServiceController
from servicedeck.tui.app import ServiceDeckApp

__all__ = ["demo_app", "demo_services"]


def demo_services() -> list[type[Service]]:
    """The services of `servicedeck.demo`, in definition order."""
    from servicedeck import demo

    return [cls for cls in Service.all_services() if cls.__module__ == demo.__name__]


def demo_app(
    *, start_paused: bool = False, clock: Callable[[], float] | None = None
) -> ServiceDeckApp:
    """The console on the demo services, logs kept off the screen.

    Args:
        start_paused: open with everything stopped, for stepping.
        clock: the controller's clock (e.g. a `ManualClock` for snapshot tests).
    """
    controller = ServiceController(demo_services(), clock=clock, propagate_logs=False)
    return ServiceDeckApp(controller, start_paused=start_paused)
