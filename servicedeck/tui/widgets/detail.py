"""The detail panel: everything about the highlighted service, in three tabs.

`detail` (enter): description, state and counters, a sparkline of loop durations,
settings with their env vars, the last error's summary and the latest log lines.
`error` (e): the last error's traceback, highlighted, with earlier errors listed.
`logs` (l): the captured log lines.

It holds snapshots and log lines, never services. Service-made text is put in
`rich.text.Text` (never markup) and cut to `format.ERROR_TEXT_LIMIT`, so `[bold]` in an
error message shows as typed and a 1 MB message cannot freeze the screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from servicedeck.control import AwaitStack, Health, LogLine, ProcessInfo, ServiceSnapshot
from servicedeck.tui import format as fmt
from servicedeck.tui.widgets.await_stack import AwaitStackView
from servicedeck.tui.widgets.duration_plot import DurationPlot
from servicedeck.tui.widgets.log_view import LEVEL_STYLES, LogView
from servicedeck.tui.widgets.reload_banner import code_line
from servicedeck.tui.widgets.text_lines import TextLines

__all__ = ["DetailPanel", "Tab"]

Tab = Literal["detail", "error", "logs"]

TABS: tuple[tuple[Tab, str, str], ...] = (
    ("detail", "enter", "Detail"),
    ("error", "e", "Error"),
    ("logs", "l", "Logs"),
)

_LOG_LINE_LIMIT = 2_000
_RECENT_LOGS = 5
_LABEL = 16
"""Cells of the labels in the detail tab's head."""
_HEALTH_STYLES = {
    Health.HEALTHY: "green",
    Health.FAILING: "bold red",
    Health.CRASHED: "bold red",
    Health.STALE: "yellow",
    Health.STOPPED: "dim",
}


def _health(snap: ServiceSnapshot) -> Text:
    """The verdict and its reason: `failing · 3 of the last 10 loops failed`. A stuck
    service is never called healthy, whatever the verdict of its counters says."""
    health, reason = snap.health, snap.health_reason
    text = Text()
    if snap.stuck and health in (Health.HEALTHY, Health.STOPPED):
        text.append("stuck", "bold red")
        text.append(" · a stop timed out and it still runs: ctrl+k cancels it", "red")
        return text
    text.append(health.value, _HEALTH_STYLES.get(health, ""))
    if reason:
        text.append(f" · {fmt.safe_line(reason, 300)}")
    return text


def _seconds(seconds: float) -> str:
    """Whole seconds under a minute (`12s`; the line is refreshed once a second), then
    `1m05s`."""
    seconds = max(seconds, 0.0)
    return f"{int(seconds)}s" if seconds < 60 else fmt.duration(seconds)


def _same_height(previous: object, content: object, widget: Static) -> bool:
    """Whether `content` takes as many lines in `widget` as `previous` did: both plain
    text with as many lines, each fitting the widget's width (none wraps). Then the part
    is redrawn in place: no layout pass, which would repaint every widget on screen."""
    if not isinstance(previous, Text) or not isinstance(content, Text):
        return False
    width = widget.content_size.width
    if width <= 0:
        # Never placed, or hidden: whatever places or shows it lays it out, measuring
        # what it shows then.
        return True
    old, new = previous.plain.split("\n"), content.plain.split("\n")
    return len(old) == len(new) and all(cell_len(line) <= width for line in (*old, *new))


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _limited(text: str, limit: int = fmt.ERROR_TEXT_LIMIT) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    return text[:limit], f"… cut: {len(text):,} characters, the first {limit:,} shown"


class DetailPanel(Vertical):
    """Shows one service's snapshot, last error and logs (see the module docstring).

    Args:
        process: the process that runs the services (how paths are shown).
        where: asks where a service's task waits (`ServiceControl.where`); None: the
            await stack is not shown.
        now: the services' clock (`ServiceControl.now`), for "running for".
        snapshot: reads a service's snapshot now (`ServiceControl.snapshot`): a hung
            loop changes nothing, so no new snapshot comes, but its health verdict
            does change with time (stale); read again at each refresh while it runs.
    """

    DEFAULT_CSS = """
    DetailPanel {
        height: 1fr;
        border-top: solid $primary 50%;
        #detail-tabs { height: 1; padding: 0 1; background: $panel; }
        #detail-body { height: 1fr; padding: 0 1; }
        #detail-code { display: none; }
        #detail-live { display: none; }
        #detail-live.-shown { display: block; }
        #detail-plot { display: none; }
        #detail-settings { display: none; }
        &.-detail #detail-settings { display: block; }
        #detail-logs { display: none; }
        &.-logs #detail-logs { display: block; }
        &.-logs #detail-body { display: none; }
        &.-error #detail-code { display: block; }
        &.-detail.-plot #detail-plot { display: block; }
        &.-running #detail-plot { height: 35%; }
    }
    """

    tab: reactive[Tab] = reactive("detail")
    """The tab shown."""

    ALLOW_MAXIMIZE: ClassVar[bool] = True
    PLOT_MIN_PANEL: ClassVar[int] = 24
    """While a loop runs, the duration plot shows only in a panel this tall (rows), so
    that a short one has room for where the loop waits."""
    LIVE_SECONDS: ClassVar[float] = 1.0
    """How often "running for" and the await stack of a running loop are refreshed
    (only while one runs and the detail tab shows it)."""

    def __init__(
        self,
        process: ProcessInfo,
        *,
        where: Callable[[str], Awaitable[AwaitStack | None]] | None = None,
        now: Callable[[], float] | None = None,
        snapshot: Callable[[str], ServiceSnapshot] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._process = process
        self._where = where
        self._now = now
        self._read = snapshot
        self._snapshot: ServiceSnapshot | None = None
        self._logs: Sequence[LogLine] = ()
        self._epoch: float | None = None
        self._shown_key: tuple[object, ...] = ()
        self._drawn: dict[str, object] = {}
        self._live: Timer | None = None
        self._asking = False
        self._plotted: str | None = None
        """The service whose durations the plot was last given."""
        self._plot_at_once = True
        """Whether the snapshot shown is to be plotted at once (see `show`)."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-tabs")
        with VerticalScroll(id="detail-body", can_focus=False):
            # A running loop first: where it waits is what a hung loop is looked at for.
            yield Static(id="detail-live")
            yield AwaitStackView(self._process, id="detail-stack")
            # Line by line: its counters change at every loop of a busy service.
            yield TextLines(id="detail-head")
            yield Static(id="detail-code")
            yield Static(id="detail-settings")
            yield Static(id="detail-tail")
        yield DurationPlot(id="detail-plot")
        yield LogView(self._process, id="detail-logs")

    def on_mount(self) -> None:
        self.set_class(True, "-detail")
        self._live = self.set_interval(self.LIVE_SECONDS, self._refresh_live, pause=True)

    # -- public API -------------------------------------------------------------------

    @property
    def process(self) -> ProcessInfo:
        """The process that runs the services: how its paths and tracebacks are shown."""
        return self._process

    @process.setter
    def process(self, process: ProcessInfo) -> None:
        self._process = process
        self._shown_key = ()  # draw again, with the new paths
        self._drawn.clear()

    @property
    def snapshot(self) -> ServiceSnapshot | None:
        """The snapshot shown."""
        return self._snapshot

    def show(
        self,
        snapshot: ServiceSnapshot | None,
        logs: Sequence[LogLine],
        epoch: float | None,
        *,
        at_once: bool = True,
    ) -> None:
        """Show this snapshot (and the service's log lines); re-renders what changed.

        Not `at_once` (a periodic refresh): the duration plot of a service that loops
        faster than it is redrawn may wait for its next redraw (see `DurationPlot.plot`)."""
        new_service = (
            snapshot is not None
            and self._snapshot is not None
            and snapshot.name != self._snapshot.name
        )
        if new_service:
            self.query_one("#detail-body", VerticalScroll).scroll_home(animate=False)
            self._stack_view.show(None, self._process)
        self._snapshot, self._logs, self._epoch = snapshot, logs, epoch
        self._plot_at_once = at_once
        self._refresh_content()
        self._follow_the_loop(ask_now=new_service)

    def select_tab(self, tab: Tab) -> None:
        """Show `tab`; the tab shown already is enlarged (maximized), or brought back."""
        if self.tab == tab and self.screen.maximized is not self:
            self.screen.maximize(self)
            if tab == "logs":
                # Enlarged: its keys are the log viewer's, from the next key typed on.
                self.screen.set_focus(self.log_view.lines)
        elif self.tab == tab:
            self.screen.minimize()
        self.tab = tab

    def copy_text(self) -> tuple[str, str] | None:
        """What the copy key takes from the tab shown, and what it is: the await stack
        (detail tab), the traceback (error tab); None when there is nothing to copy."""
        snap = self._snapshot
        if snap is None:
            return None
        if self.tab == "detail":
            text = self._stack_view.copy_text()
            return None if text is None else (text, f"the await stack of {snap.name}")
        if self.tab == "logs":
            return self.log_view.copy_text()
        if self.tab == "error" and snap.status.last_error is not None:
            error = snap.status.last_error
            trace, _ = fmt.clean_traceback(
                error.traceback, self._process.framework_path, self._process.root
            )
            return trace or error.summary, f"the last error of {snap.name}"
        return None

    def watch_tab(self, tab: Tab) -> None:
        for name in ("detail", "error", "logs"):
            self.set_class(tab == name, f"-{name}")
        self._shown_key = ()
        self._drawn.clear()
        self._refresh_content()
        self._follow_the_loop(ask_now=True)
        self.query_one("#detail-body", VerticalScroll).scroll_home(animate=False)

    # -- the running loop: "running for" and the await stack ----------------------------

    @cached_property
    def log_view(self) -> LogView:
        """The log viewer (the logs tab)."""
        return self.query_one("#detail-logs", LogView)

    @cached_property
    def _stack_view(self) -> AwaitStackView:
        return self.query_one("#detail-stack", AwaitStackView)

    def _loop_runs(self) -> bool:
        """A loop (or a stop, or a kill) of the service shown is in flight, on the tab
        that shows it."""
        snap = self._snapshot
        if snap is None or self.tab != "detail" or not self.display:
            return False
        status = snap.status
        return status.loop_started_at is not None or (
            snap.has_task and (snap.stuck or snap.kill_requested_at is not None)
        )

    def _follow_the_loop(self, *, ask_now: bool = False) -> None:
        """Run the live timer only while a loop runs and is shown; hide the stack when none."""
        if self._live is None:
            return
        if self._loop_runs():
            self._live.resume()
            if ask_now or self._stack_view.stack is None:
                self.call_later(self._ask_where)
        else:
            self._live.pause()
            self._stack_view.show(None, self._process)

    async def _refresh_live(self) -> None:
        if not self._loop_runs():
            self._follow_the_loop()
            return
        snap = self._snapshot
        if self._read is not None and snap is not None:
            fresh = self._read(snap.name)
            if (fresh.health, fresh.health_reason) != (snap.health, snap.health_reason):
                self._snapshot = fresh
                self._set_if_changed("#detail-head", self._detail(fresh))
        self._set_if_changed("#detail-live", self._live_line())
        await self._ask_where()

    async def _ask_where(self) -> None:
        snap = self._snapshot
        if self._where is None or snap is None or self._asking or not self._loop_runs():
            return
        self._asking = True
        try:
            stack = await self._where(snap.name)
        except Exception:
            # A request that failed (the process went away): the stack is just not shown.
            stack = None
        finally:
            self._asking = False
        current = self._snapshot
        if current is not None and current.name == snap.name and self._loop_runs():
            self._stack_view.show(stack, self._process)

    def _live_line(self) -> Text:
        snap = self._snapshot
        text = Text()
        if snap is None:
            return text
        status = snap.status
        now = self._now() if self._now is not None else None
        if status.loop_started_at is not None:
            text.append(f"{'Running':<{_LABEL}}", "dim")
            text.append(f"loop {status.loop_count + 1} ", "bold")
            if now is not None:
                text.append(f"running for {_seconds(now - status.loop_started_at)}", "bold")
            text.append(
                f"  (started {fmt.session_time(status.loop_started_at, self._epoch)})", "dim"
            )
        if status.queued_steps:
            text.append(f"  +{status.queued_steps} queued", "yellow")
        if snap.kill_requested_at is not None and snap.has_task:
            if text:
                text.append("\n")
            text.append(f"{'Kill':<{_LABEL}}", "dim")
            text.append("asked", "bold red")
            if now is not None:
                text.append(f" {_seconds(now - snap.kill_requested_at)} ago", "red")
            text.append("; the task has not ended (it may shield itself)", "red")
        return text

    # -- rendering --------------------------------------------------------------------

    def _set_if_changed(self, part: str, content: RenderableType) -> None:
        """Update one part only when what it shows changed: an unchanged part is not
        rendered again (a Rich table costs more to render than to compare). A part that
        keeps its height is redrawn in place, without a layout pass."""
        previous = self._drawn.get(part)
        if previous == content:
            return
        self._drawn[part] = content
        if part == "#detail-head":
            assert isinstance(content, Text)
            self.query_one(part, TextLines).update(content)  # lays out only when needed
            return
        widget = self.query_one(part, Static)
        if part == "#detail-live":
            widget.set_class(bool(content), "-shown")
            if not content or not previous:
                # Hidden or shown from now on: the class change lays the panel out.
                widget.update(content, layout=False)
                return
        widget.update(content, layout=not _same_height(previous, content, widget))

    def _refresh_content(self) -> None:
        if not self.is_mounted:
            return
        snap = self._snapshot
        self._set_if_changed("#detail-tabs", self._tabs_line(snap))
        if snap is None:
            key: tuple[object, ...] = (None, self.tab)
            if key != self._shown_key:
                self._shown_key = key
                self._set("No service is shown (the filter hides them all).", None, "")
                self._set_if_changed("#detail-live", Text())
                self._show_plot(None)
            return
        if self.tab == "detail":
            self._render_detail(snap)
            return
        self._set_if_changed("#detail-live", Text())
        if self.tab == "error":
            error = snap.status.last_error
            key = (snap.name, self.tab, id(error), len(snap.status.recent_errors))
        else:
            # The lines themselves too: a client of another process fetches them after
            # the snapshot that said they arrived.
            logs = self._logs
            key = (snap.name, self.tab, snap.log_count, len(logs), logs[-1] if logs else None)
        if key == self._shown_key:
            return
        self._shown_key = key
        if self.tab == "error":
            self._render_error(snap)
        else:
            self.log_view.show(snap.name, self._logs, self._epoch, self._process)

    def _render_detail(self, snap: ServiceSnapshot) -> None:
        self._set_if_changed("#detail-head", self._detail(snap))
        self._set_if_changed("#detail-live", self._live_line())
        # Keys, not the renderables: a Rich table or group has no equality to compare.
        # The settings table is laid out again only when the settings change, not at
        # every log line (a service that logs at each loop).
        settings_key = (snap.name, snap.settings, snap.settings_error)
        if settings_key != self._drawn.get("settings-key"):
            self._drawn["settings-key"] = settings_key
            self._update("#detail-settings", Group(*self._settings(snap)))
        logs = tuple(self._logs[-_RECENT_LOGS:])
        if (snap.name, logs, self._epoch) != self._drawn.get("tail-key"):
            self._drawn["tail-key"] = (snap.name, logs, self._epoch)
            self._set_if_changed("#detail-tail", self._recent_logs(snap))
        self._show_plot(snap)

    def _update(self, part: str, content: RenderableType) -> None:
        self._drawn.pop(part, None)
        self.query_one(part, Static).update(content)

    def on_resize(self) -> None:
        self._show_plot(self._snapshot)

    def _show_plot(self, snap: ServiceSnapshot | None) -> None:
        plot = snap is not None and snap.is_loop
        running = snap is not None and snap.status.loop_started_at is not None
        # A running loop's stack matters more than its past durations: a short panel
        # gives the plot's room to it, a tall one keeps a smaller plot.
        if running and self.size.height < self.PLOT_MIN_PANEL:
            plot = False
        self.set_class(plot, "-plot")
        self.set_class(running, "-running")
        if snap is not None and plot:
            status = snap.status
            self.query_one(DurationPlot).plot(
                status.recent_durations,
                status.recent_failed,
                status.loop_seconds,
                # Only a periodic refresh of a service that loops faster than the plot
                # is redrawn waits: not a key's effect, another service, or a paused
                # one (only the user's steps change it).
                at_once=self._plot_at_once
                or snap.name != self._plotted
                or status.paused
                or (status.loop_seconds or 0) >= DurationPlot.REDRAW_SECONDS,
            )
            self._plotted = snap.name

    def _set(self, head: Text | str, code: Content | None, tail: RenderableType) -> None:
        for key in ("#detail-head", "#detail-tail", "tail-key", "settings-key"):
            self._drawn.pop(key, None)
        self.query_one("#detail-settings", Static).update("")
        self.query_one("#detail-head", TextLines).update(head)
        if code is not None:
            self.query_one("#detail-code", Static).update(code)
        self.query_one("#detail-tail", Static).update(tail)

    def _tabs_line(self, snap: ServiceSnapshot | None) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        if snap is not None:
            line.append(snap.name, "bold")
            line.append("  ")
        for tab, key, title in TABS:
            style = "reverse bold" if tab == self.tab else "dim"
            line.append(f" {title} ", style)
            line.append(f"{key} ", "dim")
        return line

    def _detail(self, snap: ServiceSnapshot) -> Text:
        """The head of the detail tab: what the service is and how it is doing. Plain
        `Text` with aligned labels (no Rich table to lay out on every change)."""
        status = snap.status
        text = Text()
        text.append(snap.name, "bold")
        text.append(f"  {fmt.kind_cell(snap)} · {snap.qualname}", "dim")
        if snap.description:
            text.append("\n")
            text.append(fmt.safe_text(snap.description[:2000]).strip())
        text.append("\n")

        def row(label: str, value: str | Text, style: str = "") -> None:
            text.append(f"\n{label:<{_LABEL}}", "dim")
            text.append(value, style) if isinstance(value, str) else text.append(value)

        state, _ = fmt.state_cell(snap)
        row("State", state)
        row("Health", _health(snap))
        if snap.is_loop:
            row(
                "Loops",
                f"{_n(status.loop_count, 'loop')} · {_n(status.error_count, 'error')}"
                f" ({status.consecutive_errors} in a row) · "
                f"{_n(status.overrun_count, 'overrun')}",
            )
        if status.loop_seconds is not None:
            last = fmt.duration(status.last_duration)
            row("Interval", f"every {fmt.interval(status.loop_seconds)} · last loop took {last}")
        lease = fmt.lease_line(snap)
        if lease is not None:
            row("Lease", lease)
        enabled, _ = fmt.enabled_cell(snap)
        row("Enabled", f"{enabled}  {snap.env_var}")
        if snap.is_loop:
            on = "on: pauses when a loop raises" if snap.pause_on_error else "off"
            row("Break on error", f"{on}  (b toggles)")
        if status.started_at is not None:
            row("Started", fmt.session_time(status.started_at, self._epoch))
        if snap.stall is not None:
            stall = Text(fmt.stall_line(snap.stall, self._process.root), "yellow")
            stall.append(f"  ({fmt.session_time(snap.stall.when, self._epoch)})", "dim")
            row("Loop stall", stall)
        # Reloading changed code (`--reload`): the line is made in reload_banner.py.
        if (code := code_line(snap, self._epoch)) is not None:
            row("Code", code)
        if status.last_error is not None and snap.settings_error is None:
            error = status.last_error
            summary = Text(fmt.safe_line(f"{error.type_name}: {error.message}", 300), "red")
            summary.append(f"  ({self._error_where(error)}; e: traceback)", "dim")
            row("Last error", summary)
        return text

    def _settings(self, snap: ServiceSnapshot) -> list[RenderableType]:
        """The settings, each with its value, env var and where it came from."""
        parts: list[RenderableType] = [Text()]
        if snap.settings_error is not None:
            parts.append(Text("Settings do not load", "bold red"))
            message, note = _limited(snap.settings_error, 2_000)
            parts.append(Text(fmt.safe_text(message), "red"))
            if note:
                parts.append(Text(note, "dim italic"))
        elif snap.settings:
            table = Table(box=None, padding=(0, 2, 0, 0), header_style="dim", show_edge=False)
            for column in ("setting", "value", "env var", "from"):
                table.add_column(column, no_wrap=column != "value")
            for setting in snap.settings:
                value = fmt.safe_line(setting.value, 200)
                table.add_row(
                    Text(setting.name), Text(value), Text(setting.env_var), Text(setting.source)
                )
            parts.append(Text("Settings", "bold"))
            parts.append(table)
        return parts

    def _error_where(self, error: object) -> str:
        loop = getattr(error, "loop", None)
        phase = getattr(error, "phase", "")
        when = fmt.session_time(getattr(error, "when", None), self._epoch)
        return f"loop {loop}, {when}" if loop else f"in {phase}, {when}"

    def _render_error(self, snap: ServiceSnapshot) -> None:
        status = snap.status
        error = status.last_error
        if error is None:
            self._set(Text(f"No error recorded for {snap.name}.", "dim"), Content(""), "")
            return
        head = Text()
        message, note = _limited(error.message)
        message = fmt.safe_text(message)
        head.append(f"{error.type_name}: ", "bold red")
        head.append(message.strip() or "(no message)", "red")
        if note:
            head.append(f"\n{note}", "dim italic")
        where = self._error_where(error)
        if snap.is_loop:
            where += f" · {_n(status.error_count, 'failed loop')} so far"
        head.append(f"\n{where}", "dim")
        trace, hidden = fmt.clean_traceback(
            error.traceback, self._process.framework_path, self._process.root
        )
        trace, cut = _limited(trace)
        trace = fmt.safe_text(trace)
        code = highlight(trace, language="pytb")
        tail = Text()
        if hidden:
            tail.append(f"({hidden} servicedeck frame{'s' if hidden > 1 else ''} hidden)\n", "dim")
        if cut:
            tail.append(cut + "\n", "dim italic")
        earlier = status.recent_errors[:-1][-5:]
        if earlier:
            tail.append("Earlier errors\n", "bold")
            for info in reversed(earlier):
                tail.append(f"  {self._error_where(info)}  ", "dim")
                tail.append(fmt.safe_line(f"{info.type_name}: {info.message}", 200) + "\n", "red")
        self._set(head, code, tail)

    def _recent_logs(self, snap: ServiceSnapshot) -> Text:
        if not self._logs:
            return Text("No log lines captured yet.", "dim")
        # One `Text`, not a group: its height is known from its lines (`_same_height`).
        text = Text("Recent logs", "bold")
        text.append("  (l: all)", "dim")
        text.append("\n")
        text.append(self._logs_text(self._logs[-_RECENT_LOGS:], snap.name, first_line_only=True))
        return text

    def _logs_text(
        self, lines: Sequence[LogLine], name: str, *, first_line_only: bool = False
    ) -> Text:
        if not lines:
            return Text(f"No log lines captured for {name} yet.", "dim")
        text = Text()
        for line in lines:
            text.append(f"{fmt.session_time(line.at, self._epoch):>10} ", "dim")
            style = LEVEL_STYLES.get(line.level, "")
            text.append(f"{line.level_name:<7} ", style or "dim")
            message = line.message
            if first_line_only:
                message = fmt.safe_line(message, 300)
            elif len(message) > _LOG_LINE_LIMIT:
                message = f"{message[:_LOG_LINE_LIMIT]}… ({len(message):,} characters)"
            text.append(fmt.safe_text(message).replace("\n", "\n" + " " * 19), style)
            text.append("\n")
        text.rstrip()
        return text
