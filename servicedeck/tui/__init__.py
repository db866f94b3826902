"""The servicedeck console: a live Textual table of services with keys to start, step,
pause and stop them.

    from servicedeck.tui import ServiceDeckApp
    from servicedeck.controller import ServiceController

    ServiceDeckApp(ServiceController(classes, propagate_logs=False)).run()

This package imports Textual; the framework (`servicedeck`) and the controller never do.
"""

from servicedeck.tui.app import ServiceDeckApp
from servicedeck.tui.demo import demo_app, demo_services

__all__ = ["ServiceDeckApp", "demo_app", "demo_services"]
