"""`ReloadBanner`: a line that says a reload failed, and that the old code runs on."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from servicedeck.control import ServiceSnapshot
from servicedeck.tui import format as fmt

__all__ = ["ReloadBanner", "code_line"]


def code_line(snap: ServiceSnapshot, epoch: float | None) -> Text | None:
    """The detail panel's *Code* line: reloaded at (session time), running its old code
    after a failed reload, or removed by one; None for code loaded once."""
    if snap.removed:
        return Text("removed: a reload found its class gone from its module", "red")
    if snap.reload_error is not None:
        text = Text("old code: the reload failed: ", "red")
        text.append(fmt.safe_line(snap.reload_error, 300), "red")
        return text
    if snap.reloaded_at is not None:
        return Text(
            f"reloaded at {fmt.session_time(snap.reloaded_at, epoch)} (loop counts restarted)"
        )
    return None


class ReloadBanner(Widget):
    """Shown while the last reload of some services' code failed (`servicedeck --reload`:
    a syntax error, an import that raises): names the file, the line and the error, and
    the services that run their old code meanwhile. Hidden once a save imports again.

    Give it every changed snapshot (`show()`): it keeps each service's `reload_error`.
    """

    DEFAULT_CSS = """
    ReloadBanner {
        display: none;
        height: auto;
        max-height: 4;
        padding: 0 1;
        background: $error;
        color: $text;
        &.-shown { display: block; }
    }
    """

    errors: reactive[tuple[tuple[str, tuple[str, ...]], ...]] = reactive[
        tuple[tuple[str, tuple[str, ...]], ...]
    ](())
    """Each failed reload's error, with the services it left on their old code (empty:
    hidden)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._by_service: dict[str, str] = {}

    def show(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Take the reload errors of `snapshots` (changed services)."""
        for snap in snapshots:
            if snap.reload_error is None:
                self._by_service.pop(snap.name, None)
            else:
                self._by_service[snap.name] = snap.reload_error
        grouped: dict[str, list[str]] = {}
        for name, error in self._by_service.items():
            grouped.setdefault(error, []).append(name)
        self.errors = tuple((error, tuple(names)) for error, names in grouped.items())

    def watch_errors(self, errors: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        self.set_class(bool(errors), "-shown")

    def render(self) -> RenderableType:
        text = Text(no_wrap=False, overflow="ellipsis")
        for index, (error, names) in enumerate(self.errors):
            if index:
                text.append("\n")
            text.append("⚠ reload failed: ", "bold")
            text.append(error)
            text.append(f" · the old code of {', '.join(names)} runs on; save again", "italic")
        return text
