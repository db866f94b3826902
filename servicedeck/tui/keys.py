"""The one table of key bindings: it feeds the bindings of the app and of the service
table, the footer, the help screen, the command palette and `docs/keys.md`
(`python -m servicedeck.tui.keys` prints that page).

Every binding has an id, so a user can remap it with Textual's keymap
(`app.set_keymap({"stop_wait": "S"})`). The letters follow k9s, lazydocker and htop;
where one differs, `why` says so and the docs print it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding

from servicedeck.control import Command, ServiceControl, ServiceSnapshot

__all__ = [
    "APP_BINDINGS",
    "KEYS",
    "LOG_BINDINGS",
    "LOG_KEYS",
    "LOG_KEY_NAMES",
    "NAVIGATION",
    "TABLE_BINDINGS",
    "KeySpec",
    "Navigation",
    "Owner",
    "Send",
    "by_action",
    "display_key",
    "key_display",
    "key_refusal",
    "keys_markdown",
    "spec",
]

Send = Callable[[ServiceControl, ServiceSnapshot, int], Awaitable[object]]
"""How a service key sends its command: `send(control, snapshot, count)`."""

Owner = Literal["app", "table", "logs"]
"""Where a binding lives: the app (service commands, the detail panel, the filter, help,
quit), the service table (what changes the table: cursor, count, failing only), or the
log viewer (`LOG_KEYS`: only while it has focus)."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key binding of the console, with everything each view shows about it."""

    id: str
    """The binding id (remappable through Textual's keymap)."""
    key: str
    """Textual key name(s), comma-separated, e.g. `"question_mark,f1"`."""
    action: str
    """The action it runs on its owner, e.g. `"start"` for `action_start`."""
    label: str
    """Short label for the footer."""
    help: str
    """One sentence for the help screen and the docs."""
    group: str
    """`Service`, `View` or `App`: the help screen's sections."""
    command: Command | None = None
    """The controller command it needs, for greying it out when not allowed."""
    palette: str | None = None
    """Command palette text with `{name}`, e.g. `"Start {name}"`; None: not per service."""
    footer: bool = True
    """Shown in the footer (the help screen shows every binding)."""
    why: str = ""
    """Why this key, when it differs from the habits the console follows."""
    owner: Owner = "app"
    """The widget whose binding it is, and whose action it runs."""
    send: Send | None = None
    """The protocol command it sends to the highlighted service (with the count typed
    before it); None: its action does more than send one."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The Textual key names of this binding."""
        return tuple(key.strip() for key in self.key.split(","))

    @property
    def per_service(self) -> bool:
        """It acts on the highlighted service (and the palette offers it for each)."""
        return self.palette is not None


KEYS: tuple[KeySpec, ...] = (
    KeySpec("start", "s", "start", "start", "Start the service (un-pausing it).", "Service",
            Command.START, "Start {name}", send=lambda c, s, n: c.start(s.name)),
    KeySpec("step", "n", "step", "step",
            "Run one loop now; a count first runs that many (5n). Stopped: setup, the loops, "
            "teardown. Sleeping or paused: the loops now, then back to the schedule or paused.",
            "Service", Command.STEP, "Step {name} one loop",
            send=lambda c, s, n: c.step(s.name, n)),
    KeySpec("pause", "p", "toggle_pause", "pause",
            "Pause after the current loop, or resume. A stopped loop service starts paused "
            "(setup, then waits), so n steps it without re-running setup.",
            "Service", Command.PAUSE, "Pause or resume {name}",
            send=lambda c, s, n: c.resume(s.name) if s.status.paused else c.pause(s.name)),
    KeySpec("stop", "x", "stop", "stop", "Ask the service to stop, without waiting.", "Service",
            Command.STOP, "Stop {name}", send=lambda c, s, n: c.stop(s.name, block=False)),
    KeySpec("stop_wait", "X", "stop_wait", "stop+wait",
            "Stop and wait until it has stopped (teardown done); the screen stays live and a "
            "notification says when it stopped or that it timed out.",
            "Service", Command.STOP, "Stop {name} and wait"),
    KeySpec("restart", "r", "restart", "restart",
            "Reload its code if a file it depends on changed (--reload), else stop (waiting) "
            "and start again; a notification says which.", "Service",
            Command.RESTART, "Restart {name}", footer=False,
            send=lambda c, s, n: c.restart(s.name)),
    KeySpec("kill", "ctrl+k", "kill", "kill",
            "Cancel the service's task (its teardown still runs): at once for one stuck in "
            "stopping, otherwise after a one-key confirmation (y). It shows as cancelled.",
            "Service", Command.KILL, "Kill (cancel) {name}", footer=False,
            why="k9s's ctrl+k kills a pod; plain k moves up, as in vim, k9s and lazydocker."),
    KeySpec("cancel_steps", "c", "cancel_steps", "cancel steps",
            "Cancel the loops that n queued and that have not started (the row shows "
            "+3 queued); the loop running now runs on.",
            "Service", Command.CANCEL_STEPS, "Cancel the queued steps of {name}", footer=False,
            send=lambda c, s, n: c.cancel_steps(s.name),
            why="The issue asks for a key to cancel queued steps; c for cancel."),
    KeySpec("debug", "d", "debug", "debug",
            "Run the next loop under pdb, stopped at the first line of run_once; the console "
            "steps aside until you continue (c). The event loop waits meanwhile.",
            "Service", Command.DEBUG, "Debug the next loop of {name} in pdb", footer=False,
            send=lambda c, s, n: c.debug(s.name),
            why="d for debugger; b (break on error) was taken."),
    KeySpec("toggle_enabled", "t", "toggle_enabled", "enable",
            "Toggle whether the service is enabled, for this session only (it does not "
            "start or stop it).",
            "Service", Command.SET_ENABLED, "Enable or disable {name} (this session)",
            footer=False, send=lambda c, s, n: c.set_enabled(s.name, not s.enabled)),
    KeySpec("pause_on_error", "b", "toggle_pause_on_error", "break",
            "Break on error: pause the service when a loop raises, with the traceback open.",
            "Service", Command.PAUSE_ON_ERROR, "Toggle pause on error for {name}", footer=False,
            send=lambda c, s, n: c.set_pause_on_error(s.name, not s.pause_on_error),
            why="The issue lists no key for pause on error; b is a debugger's breakpoint key."),
    KeySpec("logs", "l", "show_logs", "logs", "Show the service's recent log lines.", "View",
            None, "Show logs of {name}", footer=False),
    KeySpec("error", "e", "show_error", "error",
            "Show the last error with its traceback (press again to enlarge).", "View", None,
            "Show last error of {name}"),
    KeySpec("detail", "enter", "show_detail", "detail",
            "Show the detail: description, settings, durations (press again to enlarge).",
            "View", None, "Show detail of {name}", footer=False),
    # -- the detail panel's debugger views (issue 10) --
    KeySpec("copy", "y", "copy", "copy",
            "Copy what the detail panel shows: the await stack of the running loop, the "
            "last traceback, or the selected log line (with its traceback).", "View",
            footer=False,
            why="The issue asks for a named copy key: y, vim's yank (c cancels queued steps)."),
    KeySpec("filter", "slash", "filter", "filter",
            "Filter services by name (Enter keeps it, Esc clears it).", "View"),
    KeySpec("failing", "exclamation_mark", "failing_only", "failing",
            "Show only failing services (again: show all).", "View", footer=False,
            owner="table"),
    KeySpec("sort_next", "greater_than_sign", "sort_cycle(1)", "sort",
            "Sort by the next column (after the last: the services' own order); the header "
            "marks it ▲ (A to Z, smallest first) or ▼.", "View", footer=False, owner="table",
            why="k9s sorts with shift+letter per column; one key that cycles needs no letter "
            "per column (they are service keys here)."),
    KeySpec("sort_previous", "less_than_sign", "sort_cycle(-1)", "sort back",
            "Sort by the previous column.", "View", footer=False, owner="table",
            why="The way back through the columns that > cycles."),
    KeySpec("sort_invert", "I", "sort_invert", "invert",
            "Invert the sort order (▲ / ▼).", "View", footer=False, owner="table",
            why="k9s's shift+i inverts its sort."),
    KeySpec("clear", "escape", "clear", "clear",
            "Clear the count, the filter, or the enlarged panel.", "View", footer=False),
    KeySpec("help", "question_mark,f1", "help", "help", "Show this help.", "App"),
    KeySpec("command_palette", "ctrl+p", "command_palette", "palette",
            "Open the command palette: every action for every service.", "App", footer=False),
    KeySpec("quit", "q", "quit", "quit",
            "Quit: stop every service gracefully, showing progress; q again forces.", "App"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Navigation:
    """Keys that move around the table, described together: one row of the help."""

    keys: str
    """How the keys are written for people, e.g. `↑ ↓`."""
    help: str
    """One sentence for the help screen and the docs."""
    bindings: tuple[tuple[str, str, str], ...] = ()
    """`(id, Textual key, action)` of each binding, on the table."""


NAVIGATION: tuple[Navigation, ...] = (
    Navigation(
        "↑ ↓ / k j",
        "Move the cursor (it stays on the service across refresh, sort and filter).",
        (
            ("cursor_up", "up,k", "cursor(-1)"),
            ("cursor_down", "down,j", "cursor(1)"),
        ),
    ),
    Navigation(
        "PgUp PgDn Home End",
        "Move by a page, to the first or the last service.",
        (
            ("page_up", "pageup", "page(-1)"),
            ("page_down", "pagedown", "page(1)"),
            ("first", "home", "edge(-1)"),
            ("last", "end", "edge(1)"),
        ),
    ),
    Navigation(
        "1-9, 0",
        "A count for the next n (e.g. 5n).",
        tuple((f"count_{d}", str(d), f"count_digit('{d}')") for d in range(10)),
    ),
    Navigation(
        "mouse", "Click a row to select it, a column header to sort by it (again: reverse)."
    ),
)
"""Moving the cursor and typing a count: bindings of the table, shown apart from `KEYS`."""


def spec(binding_id: str) -> KeySpec:
    """The `KeySpec` with this id.

    Raises:
        KeyError: no binding has that id.
    """
    for key_spec in KEYS:
        if key_spec.id == binding_id:
            return key_spec
    raise KeyError(f"no key binding with id {binding_id!r}; ids: {', '.join(k.id for k in KEYS)}")


_BY_ACTION = {key_spec.action: key_spec for key_spec in KEYS}


def by_action(action: str) -> KeySpec | None:
    """The `KeySpec` whose binding runs `action` (None: not one of `KEYS`)."""
    return _BY_ACTION.get(action)


def key_refusal(
    key_spec: KeySpec,
    control: ServiceControl,
    snapshot: ServiceSnapshot | None,
    *,
    quitting: bool,
) -> str | None:
    """Why `key_spec` cannot act now on the service of `snapshot` (the highlighted one;
    None: none is), or None if it can. A refused key is greyed out in the footer."""
    if not key_spec.per_service:
        return None
    if snapshot is None:
        return "no service is highlighted"
    if key_spec.command is None:
        return None
    if quitting:
        return "servicedeck is quitting"
    if not control.entered:
        return "the services are not running yet"
    command = key_spec.command
    if key_spec.id == "pause" and snapshot.status.paused and snapshot.has_task:
        command = Command.RESUME
    return control.check(snapshot.name, command)


def display_key(key: str) -> str:
    """How one Textual key name is written for people: `slash` -> `/`, `f1` -> `F1`."""
    names = {
        "slash": "/",
        "exclamation_mark": "!",
        "question_mark": "?",
        "escape": "esc",
        "f1": "F1",
        "ctrl+p": "ctrl+p",
        "ctrl+k": "ctrl+k",
        "greater_than_sign": ">",
        "less_than_sign": "<",
        "pageup": "PgUp",
        "pagedown": "PgDn",
        "home": "Home",
        "end": "End",
        "up": "↑",
        "down": "↓",
    }
    return names.get(key, key)


def key_display(key_spec: KeySpec) -> str:
    """How the keys of a binding are written for people: `? / F1`, `ctrl+k`, `X`."""
    return " / ".join(display_key(key) for key in key_spec.keys)


def _binding(key_spec: KeySpec) -> Binding:
    return Binding(
        key_spec.key,
        key_spec.action,
        key_spec.label,
        show=key_spec.footer,
        key_display=display_key(key_spec.keys[0]),
        id=key_spec.id,
        tooltip=key_spec.help,
        # Priority: handled as the key arrives, by the app's own dispatch, in the order
        # the keys were typed (below). A priority binding of the focused widget (the
        # table) acts as early as one of the app's; check_action() leaves keys to the
        # filter box and to modal screens.
        priority=True,
    )


_FOOTER_FIRST = ("help", "quit")
"""Shown first in the footer, so a narrow terminal (60 columns) never cuts them off."""

APP_BINDINGS: list[Binding] = [
    _binding(k)
    for k in sorted((k for k in KEYS if k.owner == "app"), key=lambda k: k.id not in _FOOTER_FIRST)
]
"""The Textual bindings of the app, made from `KEYS` (`? help` and `q quit` first: the
footer shows them in this order)."""

TABLE_BINDINGS: list[Binding] = [
    *(_binding(k) for k in KEYS if k.owner == "table"),
    *(
        Binding(key, action, show=False, id=binding_id, priority=True)
        for row in NAVIGATION
        for binding_id, key, action in row.bindings
    ),
]
"""The Textual bindings of the service table: `KEYS` it owns, and moving the cursor and
typing a count (`NAVIGATION` describes those).

All are priority bindings. A key that is not one runs later, after a trip through the
focused widget's message queue and back up to the app (several event-loop turns when
hundreds of services run), while the next keys typed are handled as they arrive. Keys
typed together (fast, or pasted) would then act out of order: `↓p` would pause the row
the cursor left, `3n` step once. Priority bindings, the table's as the app's, run as each
key arrives, in the order typed."""


# -- the log viewer (issue 10) -------------------------------------------------------------
# Its own keys, bound on the log viewer: they act only while it has focus (click it, Tab,
# or l twice), so n, / and k keep their meaning on the table. The app leaves these keys to
# it then (`ServiceDeckApp.check_action`).

LOG_KEYS: tuple[KeySpec, ...] = (
    KeySpec("log_up", "up,k", "cursor(-1)", "up",
            "Select the line above (stops following).", "Logs", owner="logs"),
    KeySpec("log_down", "down,j", "cursor(1)", "down",
            "Select the line below (on the last line: follows again).", "Logs", owner="logs"),
    KeySpec("log_page_up", "pageup", "page(-1)", "page up", "Up a page.", "Logs", owner="logs"),
    KeySpec("log_page_down", "pagedown", "page(1)", "page down", "Down a page.", "Logs",
            owner="logs"),
    KeySpec("log_first", "home,g", "first", "first", "The first line (stops following).",
            "Logs", owner="logs"),
    KeySpec("log_follow", "end,G", "follow", "follow",
            "The last line, and follow new lines as they arrive.", "Logs", owner="logs"),
    KeySpec("log_search", "slash", "search", "search",
            "Search the logs (Enter: go to the next match; Esc: clear).", "Logs", owner="logs"),
    KeySpec("log_next", "n", "next_match(1)", "next", "The next match of the search.", "Logs",
            owner="logs"),
    KeySpec("log_previous", "N", "next_match(-1)", "previous",
            "The previous match of the search.", "Logs", owner="logs"),
    KeySpec("log_level", "v", "cycle_level", "level",
            "Show from INFO, WARNING, ERROR, then DEBUG up (DEBUG is captured from then on).",
            "Logs", owner="logs"),
    KeySpec("log_wrap", "w", "toggle_wrap", "wrap", "Wrap long lines, or not.", "Logs",
            owner="logs"),
    KeySpec("log_close", "escape", "close", "back",
            "Clear the search; else back to the table.", "Logs", owner="logs"),
)  # fmt: skip
"""The log viewer's keys: bound on it, acting only while it has focus."""

LOG_KEY_NAMES: frozenset[str] = frozenset(key for k in LOG_KEYS for key in k.keys)
"""Every Textual key name the log viewer binds."""

LOG_BINDINGS: list[Binding] = [
    Binding(k.key, k.action, k.label, show=False, id=k.id, tooltip=k.help, priority=True)
    for k in LOG_KEYS
]
"""The Textual bindings of the log viewer, made from `LOG_KEYS`: priority bindings, as
the app's and the table's (see `TABLE_BINDINGS`), so that keys typed fast act in order
(`/` focuses the search box before the next key arrives). `LogView.check_action` leaves
every key but Esc to its search box while that has focus."""


def keys_markdown() -> str:
    """The key reference page, `docs/keys.md`, generated from `KEYS`."""
    lines = [
        "# Keys of the console",
        "",
        "<!-- Generated from servicedeck/tui/keys.py by `python -m servicedeck.tui.keys`;",
        "     a test fails when this page is out of date. Do not edit by hand. -->",
        "",
        "Service keys act on the highlighted service. A key that the service's state does",
        "not allow is greyed out in the footer; pressing it shows why. Every binding has an",
        'id: remap it with Textual\'s keymap, e.g. `app.set_keymap({"stop_wait": "S"})`.',
        "The command palette (ctrl+p) offers every service action for every service.",
    ]
    for group in ("Service", "View", "App"):
        lines += ["", f"## {group}", "", "| key | id | what it does |", "|---|---|---|"]
        for k in KEYS:
            if k.group == group:
                why = f" *Why this key:* {k.why}" if k.why else ""
                lines.append(f"| `{key_display(k)}` | `{k.id}` | {k.help}{why} |")
    lines += ["", "## Moving around", "", "| key | what it does |", "|---|---|"]
    lines += [f"| `{row.keys}` | {row.help} |" for row in NAVIGATION]
    lines += [
        "",
        "## The log viewer",
        "",
        "While the log viewer has focus (click it, Tab, or `l` twice), these keys are its",
        "own; `y` copies the selected line with its traceback. Esc goes back to the table.",
        "",
        "| key | id | what it does |",
        "|---|---|---|",
    ]
    lines += [f"| `{key_display(k)}` | `{k.id}` | {k.help} |" for k in LOG_KEYS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(keys_markdown(), end="")
