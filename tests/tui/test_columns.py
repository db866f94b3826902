"""Each column is defined once, and draws its own cells.

A column is one `Column` in `widgets/columns.py`: header, width, priority, sort key and
renderer. The table draws whatever columns it is given by calling each one's renderer;
it never names a column. Before, it drew cells in an if/elif chain on the column's key
whose last branch drew the last error: a column added only to the list showed the LAST
ERROR text.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from textual.app import App, ComposeResult

from servicedeck import LoopService
from servicedeck.control import ServiceSnapshot
from servicedeck.controller import ManualClock, ServiceController
from servicedeck.tui.widgets.columns import COLUMNS, Column, layout
from servicedeck.tui.widgets.service_table import ServiceTable

pytestmark = pytest.mark.anyio

SENTINEL = "BOOM-7f3a"
"""The failing service's error message: only the LAST ERROR column may show it."""


class Failing(LoopService):
    """Fails on every loop."""

    loop_seconds = 30.0

    async def run_once(self) -> None:
        raise ValueError(SENTINEL)


async def failed_snapshot() -> ServiceSnapshot:
    """A snapshot of a service whose last loop raised."""
    async with ServiceController([Failing], clock=ManualClock(10.0), propagate_logs=False) as c:
        await c.step("Failing")
        return c.snapshot("Failing")


class TableApp(App[None]):
    """Just a service table with these columns, showing these snapshots."""

    def __init__(self, columns: Sequence[Column], snapshots: list[ServiceSnapshot]) -> None:
        super().__init__()
        self._columns = columns
        self._snapshots = snapshots

    def compose(self) -> ComposeResult:
        yield ServiceTable(lambda: 10.0, columns=self._columns, id="table")

    def on_mount(self) -> None:
        self.query_one(ServiceTable).set_rows(self._snapshots)


async def drawn_cells(columns: Sequence[Column]) -> dict[str, str]:
    """Each column's cell of the failing service's row, as the table draws it."""
    app = TableApp(columns, [await failed_snapshot()])
    async with app.run_test(size=(400, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(ServiceTable)
        line = table.render_line(1).text
        placed = layout(table.size.width, len("Failing") + 1, columns)
    return {column.key: line[x : x + cells].strip() for column, x, cells in placed}


def test_columns_each_have_a_key_and_a_renderer_of_their_own() -> None:
    keys = [column.key for column in COLUMNS]
    assert len(keys) == len(set(keys))
    renderers = [column.render for column in COLUMNS]
    assert len({id(render) for render in renderers}) == len(renderers), (
        "two columns share a renderer: each must draw its own cells"
    )


async def test_a_column_added_to_the_list_draws_its_own_cells() -> None:
    probe = Column(
        "probe",
        "PROBE",
        8,
        99,
        render=lambda snap, context: (f"p:{snap.status.loop_count}", ""),
        sort=lambda snap: snap.status.loop_count,
    )
    cells = await drawn_cells((*COLUMNS[:1], probe, *COLUMNS[1:]))
    assert cells["probe"] == "p:1"
    assert SENTINEL not in cells["probe"]


async def test_only_the_last_error_column_shows_the_error() -> None:
    cells = await drawn_cells(COLUMNS)
    assert set(cells) == {column.key for column in COLUMNS}, "every column fits in 400 cells"
    assert SENTINEL in cells["error"]
    assert [key for key, text in cells.items() if SENTINEL in text] == ["error"]
    assert cells["name"] == "Failing"
    assert cells["loops"] == "1"
    assert cells["errors"] == "1"


async def test_the_name_column_widens_when_rows_with_longer_names_arrive() -> None:
    """An attached console learns its services after the first paint: names still fit."""
    import dataclasses

    app = TableApp(COLUMNS, [])
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(ServiceTable)
        await pilot.pause()
        assert table.render_line(0).text.strip().startswith("SERVICE")  # painted, empty
        long_name = "TelemetryUploaderOfInvoices"
        snap = dataclasses.replace(await failed_snapshot(), name=long_name)
        table.set_rows([snap])
        await pilot.pause()
        assert table.render_line(1).text.split()[0] == long_name
