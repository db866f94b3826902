"""The footer: Textual's `Footer`, whose keys are greyed out or lit in place.

Textual's footer composes its keys again whenever the screen's bindings are refreshed:
it removes and mounts every key and lays the screen out. The console refreshes them
when a key greys out or lights another one (`p` pauses the highlighted service: `s`,
start, lights up), so that cost landed in the frame meant to show the key's effect.
When the keys shown are the same ones and only their greyed-out state changed, this
footer sets that state on the keys it has. A key mounted greyed out and lit since is
the exception: Textual's key remembers how it was made, and its click would ring the
bell; the footer is then composed again, once.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

__all__ = ["KeyFooter"]


class KeyFooter(Footer):
    """Textual's footer (see the module docstring)."""

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self._born_greyed: WeakKeyDictionary[Widget, bool] = WeakKeyDictionary()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not (self.is_attached and screen is self.screen and self._set_in_place(screen)):
            super().bindings_changed(screen)

    def _set_in_place(self, screen: Screen[object]) -> bool:
        """Grey out or light the keys shown; False when the keys shown are not the same
        ones (or one born greyed out must light up): then they are composed again."""
        keys = list(self.query("FooterKey"))
        enabled_by_action: dict[str, bool] = {}
        for _node, binding, enabled, _tooltip in screen.active_bindings.values():
            if binding.show:
                enabled_by_action.setdefault(binding.action, enabled)
        actions = [getattr(key, "action", None) for key in keys]
        if not keys or actions != list(enabled_by_action):
            return False
        for key in keys:
            if key not in self._born_greyed:
                self._born_greyed[key] = key.has_class("-disabled")
        changes = [
            (key, not enabled_by_action[str(action)])
            for key, action in zip(keys, actions, strict=True)
            if key.has_class("-disabled") is enabled_by_action[str(action)]
        ]
        if any(self._born_greyed[key] and not greyed for key, greyed in changes):
            return False
        for key, greyed in changes:
            key.set_class(greyed, "-disabled")
        return True
