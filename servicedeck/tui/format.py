"""How the console writes numbers, durations, states and service-made text.

Pure functions, no Textual: the table and the detail panel share them, and tests check
them directly. Everything a service produces (names, error messages, log lines) goes
through `safe_line()` or `rich.text.Text`, never through markup.
"""

from __future__ import annotations

import os
import re

from servicedeck.control import Health, LeaseRole, ServiceSnapshot, ServiceState, Stall

__all__ = [
    "ERROR_TEXT_LIMIT",
    "clean_traceback",
    "count",
    "countdown",
    "duration",
    "enabled_cell",
    "interval",
    "kind_cell",
    "running_for",
    "safe_line",
    "safe_text",
    "session_time",
    "sparkline",
    "stall_line",
    "state_cell",
]

ERROR_TEXT_LIMIT = 20_000
"""Characters of a traceback or message the detail panel renders; the rest is cut, with a
note. A 1 MB error message must not freeze the screen."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028\u2029]")
_SPARK = "▁▂▃▄▅▆▇█"


def safe_line(text: str, limit: int = 500) -> str:
    """The first line of `text`, without control characters, at most `limit` characters.

    Only the first `limit * 4` characters are looked at, so a huge message costs little.
    """
    head = text[: limit * 4].strip()
    line = head.split("\n", 1)[0].replace("\t", " ").replace("\r", "")
    line = _CONTROL.sub("", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def safe_text(text: str) -> str:
    """`text` without control characters (newlines kept, tabs as spaces)."""
    return _CONTROL.sub("", text.replace("\t", "    ").replace("\r", ""))


def duration(seconds: float | None) -> str:
    """`850µs`, `12ms`, `2.3ms`, `1.50s`, `12.3s`, `1m05s`, `1h02m`; `—` for None."""
    if seconds is None:
        return "—"
    if seconds < 0.001:
        return f"{max(seconds, 0) * 1e6:.0f}µs"
    if seconds < 0.01:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f}ms"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return _long(seconds)


def _long(seconds: float) -> str:
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def interval(seconds: float | None) -> str:
    """A loop interval: `0.5s`, `1s`, `90s`, `5m`, `1h`; `—` for None (not a loop)."""
    if seconds is None:
        return "—"
    if seconds == 0:
        return "0s"
    if seconds < 120:
        return f"{seconds:g}s"
    if seconds < 7200 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return _long(seconds)


def countdown(next_loop_at: float | None, now: float) -> str:
    """Time until the next loop: `0.4s`, `12s`, `1m05s`, `now`; `—` when none is due."""
    if next_loop_at is None:
        return "—"
    left = next_loop_at - now
    if left <= 0.05:
        return "now"
    if left < 10:
        return f"{left:.1f}s"
    if left < 60:
        return f"{left:.0f}s"
    return _long(left)


def running_for(loop_started_at: float | None, now: float) -> str:
    """How long the loop running now has run, in at most 6 cells: `12.0s…`, `1m05s…`;
    '' when no loop runs. The `…` says it is still going."""
    if loop_started_at is None:
        return ""
    return duration(max(0.0, now - loop_started_at)) + "…"


def count(value: int) -> str:
    """A counter in at most 6 cells: `1,234`, `12,345`, `1.2M`."""
    if value < 1_000_000:
        return f"{value:,}" if value < 100_000 else str(value)
    return f"{value / 1e6:.1f}M"


def session_time(at: float | None, epoch: float | None) -> str:
    """A time on the controller clock as session time, like dmesg: `+12.345s`."""
    if at is None or epoch is None:
        return "+?"
    return f"+{max(at - epoch, 0):.3f}s"


def sparkline(values: tuple[float, ...] | list[float]) -> str:
    """One block character per value, scaled from 0 to the largest."""
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return _SPARK[0] * len(values)
    last = len(_SPARK) - 1
    return "".join(_SPARK[min(last, int(v / top * last + 0.5))] for v in values)


def state_cell(snap: ServiceSnapshot, blocking: bool = False) -> tuple[str, str]:
    """The state column: glyph and word, and a style name (`running`, `paused`, ...).

    `blocking` marks a blocking stop in flight (shown as `stopping…`). One word for one
    state, never two that disagree: a stuck loop is `◐ stuck` (not running, not healthy),
    a killed one `✗ cancelled`, a kill its task has not given way to yet `◐ killing`;
    steps queued behind the running loop replace the word: `▶ +3 queued`.
    """
    text, style = _state_cell(snap, blocking)
    queued = snap.status.queued_steps
    if queued and snap.has_task:
        # Loops that n queued behind the one running: the glyph keeps the state.
        return f"{text[0]} +{queued} queued", style
    return text, style


def _state_cell(snap: ServiceSnapshot, blocking: bool) -> tuple[str, str]:
    status = snap.status
    state = status.state
    if snap.settings_error is not None and not snap.has_task:
        return "✖ settings", "crashed"
    if snap.kill_requested_at is not None and snap.has_task:
        return "◐ killing", "crashed"  # a kill that its task has not given way to yet
    if snap.stuck:
        return "◐ stuck", "crashed"
    if blocking or state is ServiceState.STOPPING:
        return ("◐ stopping…" if blocking else "◐ stopping"), "stopping"
    if state is ServiceState.CRASHED:
        return "✖ crashed", "crashed"
    if state is ServiceState.PAUSED or (status.paused and state is not ServiceState.STOPPED):
        if snap.paused_on_error:
            return "‖ break", "crashed"
        return "‖ paused", "paused"
    if state is ServiceState.STOPPED:
        lease = status.lease
        if snap.has_task and lease is not None and lease.role is LeaseRole.STANDBY:
            return "◌ standby", "stopped"  # another replica runs it
        if snap.has_task and lease is not None and lease.role is LeaseRole.LOST:
            return "◌ lost", "paused"
        if status.cancelled:
            return "✗ cancelled", "paused"  # killed: its task was cancelled
        return "○ stopped", "stopped"
    failing = snap.health is Health.FAILING
    if state is ServiceState.STARTING:
        return "◔ starting", "starting"
    if snap.health is Health.STALE:
        return "● stale", "paused"
    if state is ServiceState.RUNNING:
        return "▶ running", "failing" if failing else "running"
    return "● sleeping", "failing" if failing else "sleeping"


def lease_line(snap: ServiceSnapshot) -> str | None:
    """The service's lease with several replicas, for people; None without a coordinator:
    `standby: running on host-b:4242, epoch 7 · 3 transitions`."""
    status = snap.status.lease
    if status is None:
        return None
    count = status.transitions
    return f"{status.summary} · {count} transition{'' if count == 1 else 's'}"


def stall_line(stall: Stall, cwd: str | None = None) -> str:
    """`blocked the event loop for 2.00s in crunch (services.py:12)`: one line, for people.

    A path under `cwd` (default: the working directory) is made relative to it.
    """
    text = f"blocked the event loop for {duration(stall.seconds)}"
    if stall.where:
        place, _, function = stall.where.rpartition(" in ")
        prefix = (os.getcwd() if cwd is None else cwd).rstrip(os.sep) + os.sep
        if place.startswith(prefix):
            place = place[len(prefix) :]
        text += f" in {function} ({place})" if place else f" at {stall.where}"
    return safe_line(text, 300)


def enabled_cell(snap: ServiceSnapshot) -> tuple[str, str]:
    """`✓ default`, `✗ env`, `✓ override`, `✖ invalid`, and a style name."""
    if snap.enabled is None:
        return "✖ invalid", "crashed"
    mark = "✓" if snap.enabled else "✗"
    return f"{mark} {snap.enabled_source}", "enabled" if snap.enabled else "dim"


def kind_cell(snap: ServiceSnapshot) -> str:
    """`loop`, `service`, `loop+all` (a `RunInAllServers` loop), `svc+all`."""
    if "all-servers" in snap.markers:
        return "loop+all" if snap.is_loop else "svc+all"
    return snap.kind


_FILE_LINE = re.compile(r'^  File "(?P<path>[^"]+)", line \d+')


def clean_traceback(
    text: str, hide_under: str | None = None, cwd: str | None = None
) -> tuple[str, int]:
    """Make a formatted traceback shorter and the same on every machine.

    Frames from files under `hide_under` (the framework's own directory) are dropped;
    paths under `cwd` are made relative to it.

    Returns:
        The traceback, and how many frames were hidden.
    """
    cwd = os.getcwd() if cwd is None else cwd
    prefix = cwd.rstrip(os.sep) + os.sep
    hidden_prefix = hide_under.rstrip(os.sep) + os.sep if hide_under else None
    hidden = 0
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        match = _FILE_LINE.match(line)
        if match:
            path = match["path"]
            skipping = hidden_prefix is not None and path.startswith(hidden_prefix)
            if skipping:
                hidden += 1
                continue
            if path.startswith(prefix):
                line = line.replace(path, path[len(prefix) :], 1)
        elif skipping and line.startswith("    "):
            continue
        else:
            skipping = False
        out.append(line)
    return "\n".join(out), hidden
