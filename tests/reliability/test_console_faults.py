"""The console under faults: it keeps working, and each row says what went wrong.

Pilot tests. Each waits on the controller's changes, the app's workers or its services
task, under deadlines; the faults (a hanging `run_once`, a `BaseException`) are the
services' own code.
"""

from __future__ import annotations

import pytest
from rich.text import Text

from servicedeck import ServiceState
from servicedeck.controller import ServiceController
from servicedeck.tui import ServiceDeckApp

from .conftest import app_ready, services_ended
from .test_base_exceptions import FATAL, Bystander, Interrupting

pytestmark = pytest.mark.anyio

SIZE = (150, 40)


def make_app(classes: list[type], *, start_paused: bool = False) -> ServiceDeckApp:
    """The console on `classes` in real time (a frozen clock would hold scheduled loops)."""
    controller = ServiceController(classes, propagate_logs=False)
    return ServiceDeckApp(controller, start_paused=start_paused)


def row_text(app: ServiceDeckApp, name: str) -> str:
    """The text of the table row that shows service `name`, as drawn."""
    table = app.table
    index = table.visible_names.index(name)
    top = round(table.scroll_offset.y)
    assert top <= index < top + table.size.height - 1, f"{name} is not on the screen"
    return table.render_line(index - top + 1).text


def notes(app: ServiceDeckApp) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("fatal", FATAL, ids=lambda t: t.__name__)
async def test_console_exits_after_stopping_everything_when_a_service_raises_a_base_exception(
    fatal: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Interrupting, "fatal", fatal)
    app = make_app([Bystander, Interrupting])
    async with app.run_test(size=SIZE) as pilot:
        await app_ready(pilot)
        await services_ended(app)
        # Read before the app has shut down, which prints and drops them.
        messages = list(app._exit_renderables)

    bystander = app.controller.instance("Bystander")
    assert isinstance(bystander, Bystander)
    assert bystander.stopped_gracefully is True
    assert app.controller.snapshot("Interrupting").status.state is ServiceState.CRASHED
    assert not any(snap.has_task for snap in app.controller.snapshots())
    assert app.return_code == (130 if fatal is KeyboardInterrupt else 1)
    [message] = messages
    assert isinstance(message, Text)
    assert f"Interrupting raised {fatal.__name__}" in message.plain
    assert "every other service was stopped" in message.plain
