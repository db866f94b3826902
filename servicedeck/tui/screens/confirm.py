"""The one-key confirmation: `y` does it, any other key (or a click on No) does not.

For the console's destructive keys (ctrl+k on a service that is not stuck). It returns
True or False to the callback `push_screen` was given, like harlequin's confirm modal.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    """Ask one question; `y` answers yes, any other key no.

    Args:
        prompt: the question, e.g. `Kill OrderReaper? It is running and healthy.`
        detail: a line under it that says what yes does.
        yes: the Yes button's label (e.g. `Kill`).
    """

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto;
        border: round $error; background: $surface; padding: 0 1;
    }
    ConfirmScreen #confirm-prompt { text-style: bold; }
    ConfirmScreen #confirm-detail { color: $text-muted; }
    ConfirmScreen #confirm-keys { margin-top: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 1; min-width: 10; }
    """

    def __init__(self, prompt: str, detail: str = "", *, yes: str = "Yes") -> None:
        super().__init__()
        self.prompt = prompt
        self.detail = detail
        self.yes = yes
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.prompt, id="confirm-prompt", markup=False)
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            yield Static(f"y: {self.yes.lower()} · any other key: cancel", id="confirm-keys")
            with Horizontal():
                yield Button("No", id="no")
                yield Button(f"{self.yes} (y)", variant="error", id="yes")

    def on_mount(self) -> None:
        # Enter on the focused button must not be the answer by accident: focus No.
        self.query_one("#no", Button).focus()

    def on_key(self, event: events.Key) -> None:
        """One key answers: y yes, anything else no (the key does nothing more)."""
        event.stop()
        event.prevent_default()
        self._answer(event.key == "y")

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self._answer(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self._answer(False)

    def _answer(self, yes: bool) -> None:
        # Once: keys typed fast arrive before the screen is gone, and a second dismiss
        # would pop the screen under it.
        if not self._answered:
            self._answered = True
            self.dismiss(yes)
