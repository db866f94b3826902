"""Console workloads (Textual, headless at 160x45): not measurable until the console lands.

TODO(issue 5): once `servicedeck.tui` exists (issue 3), replace `pending` with a
`measure` function that drives the app with Textual's Pilot (`app.run_test(size=(160, 45))`)
on N generated services, and measures, next to the same services run with no console:
the app's own CPU time over the window, table refreshes per second, the time from a
key press (`n` on a service) to its effect on screen (p95), the time to open with 1,000
services, and the time for a `/` filter to apply.
"""

from __future__ import annotations

from ._harness import Row, Target, Unit, Workload

__all__ = ["WORKLOADS"]

_BUSY = "console, 500 services looping every 50 ms, open for 10 s"
_LARGE = "console, 1,000 services"

WORKLOADS = [
    Workload(
        "console",
        pending=(
            Row(f"{_BUSY}: the app's own CPU", Unit.FRACTION_OF_A_CORE, Target(0.60)),
            # "No more than a few per second": we hold it to 5.
            Row(f"{_BUSY}: table refreshes", Unit.PER_SECOND, Target(5)),
            Row(f"{_BUSY}: key press `n` to its effect on screen, p95", Unit.SECONDS, Target(0.1)),
            Row(f"{_LARGE}: time to open", Unit.SECONDS, Target(2.0)),
            Row(f"{_LARGE}: `/` filter, time to respond", Unit.SECONDS, Target(0.1)),
        ),
    ),
]
