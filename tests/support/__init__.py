"""What every test folder shares: event-driven waits and the test services.

Waiting is event-driven, never a sleep: `await wait_until(control, condition)` re-checks
its condition after every change the control protocol reports, under a deadline;
`await app_until(pilot, condition)` does the same for a console, once the console has
applied each change to its screen. `row_text()` and `notifications()` read what a
console shows.
"""

from __future__ import annotations

from pathlib import Path

from support.screen import notifications, row_text, widget_text
from support.waiting import DEADLINE, app_ready, app_until, wait_until

REPOSITORY = str(Path(__file__).resolve().parents[2])
"""The repository's folder. Tests run in an empty temporary folder; a console under test
is given this root, so its paths show relative to the repository, the same in every
checkout."""

__all__ = [
    "DEADLINE",
    "REPOSITORY",
    "app_ready",
    "app_until",
    "notifications",
    "row_text",
    "wait_until",
    "widget_text",
]
