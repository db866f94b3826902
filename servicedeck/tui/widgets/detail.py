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

import logging
from collections.abc import Sequence
from typing import ClassVar, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.reactive import reactive
from textual.widgets import Static

from servicedeck.control import LogLine, ProcessInfo, ServiceSnapshot
from servicedeck.tui import format as fmt
from servicedeck.tui.widgets.reload_banner import code_line

__all__ = ["DetailPanel", "Tab"]

Tab = Literal["detail", "error", "logs"]

TABS: tuple[tuple[Tab, str, str], ...] = (
    ("detail", "enter", "Detail"),
    ("error", "e", "Error"),
    ("logs", "l", "Logs"),
)

_LEVEL_STYLES = {
    logging.DEBUG: "dim",
    logging.INFO: "",
    logging.WARNING: "yellow",
    logging.ERROR: "bold red",
    logging.CRITICAL: "bold red reverse",
}
_LOG_LINE_LIMIT = 2_000
_RECENT_LOGS = 5


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _limited(text: str, limit: int = fmt.ERROR_TEXT_LIMIT) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    return text[:limit], f"… cut: {len(text):,} characters, the first {limit:,} shown"


class DetailPanel(Vertical):
    """Shows one service's snapshot, last error and logs (see the module docstring)."""

    DEFAULT_CSS = """
    DetailPanel {
        height: 1fr;
        border-top: solid $primary 50%;
        #detail-tabs { height: 1; padding: 0 1; background: $panel; }
        #detail-body { height: 1fr; padding: 0 1; }
        #detail-code { display: none; }
        &.-error #detail-code { display: block; }
    }
    """

    tab: reactive[Tab] = reactive("detail")
    """The tab shown."""

    ALLOW_MAXIMIZE: ClassVar[bool] = True

    def __init__(self, process: ProcessInfo, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._process = process
        self._snapshot: ServiceSnapshot | None = None
        self._logs: Sequence[LogLine] = ()
        self._epoch: float | None = None
        self._shown_key: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static(id="detail-tabs")
        with VerticalScroll(id="detail-body", can_focus=False):
            yield Static(id="detail-head")
            yield Static(id="detail-code")
            yield Static(id="detail-tail")

    # -- public API -------------------------------------------------------------------

    @property
    def process(self) -> ProcessInfo:
        """The process that runs the services: how its paths and tracebacks are shown."""
        return self._process

    @process.setter
    def process(self, process: ProcessInfo) -> None:
        self._process = process
        self._shown_key = ()  # draw again, with the new paths

    @property
    def snapshot(self) -> ServiceSnapshot | None:
        """The snapshot shown."""
        return self._snapshot

    def show(
        self, snapshot: ServiceSnapshot | None, logs: Sequence[LogLine], epoch: float | None
    ) -> None:
        """Show this snapshot (and the service's log lines); re-renders what changed."""
        if (
            snapshot is not None
            and self._snapshot is not None
            and snapshot.name != self._snapshot.name
        ):
            self.query_one("#detail-body", VerticalScroll).scroll_home(animate=False)
        self._snapshot, self._logs, self._epoch = snapshot, logs, epoch
        self._refresh_content()

    def select_tab(self, tab: Tab) -> None:
        """Show `tab`; the tab shown already is enlarged (maximized), or brought back."""
        if self.tab == tab and self.screen.maximized is not self:
            self.screen.maximize(self)
        elif self.tab == tab:
            self.screen.minimize()
        self.tab = tab

    def watch_tab(self, tab: Tab) -> None:
        self.set_class(tab == "error", "-error")
        self._shown_key = ()
        self._refresh_content()
        body = self.query_one("#detail-body", VerticalScroll)
        if tab == "logs":
            body.scroll_end(animate=False, immediate=False)
        else:
            body.scroll_home(animate=False)

    # -- rendering --------------------------------------------------------------------

    def _refresh_content(self) -> None:
        if not self.is_mounted:
            return
        snap = self._snapshot
        self.query_one("#detail-tabs", Static).update(self._tabs_line(snap))
        if snap is None:
            key: tuple[object, ...] = (None, self.tab)
            if key != self._shown_key:
                self._shown_key = key
                self._set("No service is shown (the filter hides them all).", None, "")
            return
        if self.tab == "error":
            error = snap.status.last_error
            key = (snap.name, self.tab, id(error), len(snap.status.recent_errors))
        else:
            # The lines themselves too: a client of another process fetches them after
            # the snapshot that said they arrived.
            logs = self._logs
            shown_logs = (len(logs), logs[-1] if logs else None)
            if self.tab == "logs":
                key = (snap.name, self.tab, snap.log_count, shown_logs)
            else:
                key = (snap.name, self.tab, snap, snap.log_count, self._epoch, shown_logs)
        if key == self._shown_key:
            return
        self._shown_key = key
        if self.tab == "error":
            self._render_error(snap)
        elif self.tab == "logs":
            self._set(self._logs_text(self._logs, snap.name), None, "")
        else:
            self._set(self._detail(snap), None, self._recent_logs(snap))

    def _set(self, head: RenderableType, code: Content | None, tail: RenderableType) -> None:
        self.query_one("#detail-head", Static).update(head)
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

    def _detail(self, snap: ServiceSnapshot) -> RenderableType:
        status = snap.status
        parts: list[RenderableType] = []
        title = Text()
        title.append(snap.name, "bold")
        title.append(f"  {fmt.kind_cell(snap)} · {snap.qualname}", "dim")
        parts.append(title)
        if snap.description:
            parts.append(Text(snap.description[:2000]))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        state, _ = fmt.state_cell(snap)
        grid.add_row("State", Text(f"{state} · {snap.health.value}"))
        if snap.is_loop:
            grid.add_row(
                "Loops",
                Text(
                    f"{_n(status.loop_count, 'loop')} · {_n(status.error_count, 'error')}"
                    f" ({status.consecutive_errors} in a row) · "
                    f"{_n(status.overrun_count, 'overrun')}"
                ),
            )
        if status.loop_seconds is not None:
            grid.add_row("Interval", Text(f"every {fmt.interval(status.loop_seconds)}"))
        if status.recent_durations:
            durations = status.recent_durations
            spark = Text(fmt.sparkline(durations), "green")
            spark.append(
                f"  last {fmt.duration(durations[-1])} · max {fmt.duration(max(durations))}"
                f" · the last {_n(len(durations), 'loop')}",
                "dim",
            )
            grid.add_row("Durations", spark)
        lease = fmt.lease_line(snap)
        if lease is not None:
            grid.add_row("Lease", Text(lease))
        enabled, _ = fmt.enabled_cell(snap)
        grid.add_row("Enabled", Text(f"{enabled}  {snap.env_var}"))
        if snap.is_loop:
            on = "on: pauses when a loop raises" if snap.pause_on_error else "off"
            grid.add_row("Break on error", Text(f"{on}  (b toggles)"))
        if status.started_at is not None:
            grid.add_row("Started", Text(fmt.session_time(status.started_at, self._epoch)))
        if snap.stall is not None:
            stall = Text(fmt.stall_line(snap.stall, self._process.root), "yellow")
            stall.append(f"  ({fmt.session_time(snap.stall.when, self._epoch)})", "dim")
            grid.add_row("Loop stall", stall)
        # Reloading changed code (`--reload`): the line is made in reload_banner.py.
        if (code := code_line(snap, self._epoch)) is not None:
            grid.add_row("Code", code)
        if status.last_error is not None and snap.settings_error is None:
            error = status.last_error
            summary = Text(fmt.safe_line(f"{error.type_name}: {error.message}", 300), "red")
            summary.append(f"  ({self._error_where(error)}; e: traceback)", "dim")
            grid.add_row("Last error", summary)
        parts.append(Text())
        parts.append(grid)
        parts.append(Text())
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
        return Group(*parts)

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

    def _recent_logs(self, snap: ServiceSnapshot) -> RenderableType:
        if not self._logs:
            return Text("No log lines captured yet.", "dim")
        head = Text("Recent logs", "bold")
        head.append("  (l: all)", "dim")
        return Group(
            head, self._logs_text(self._logs[-_RECENT_LOGS:], snap.name, first_line_only=True)
        )

    def _logs_text(
        self, lines: Sequence[LogLine], name: str, *, first_line_only: bool = False
    ) -> Text:
        if not lines:
            return Text(f"No log lines captured for {name} yet.", "dim")
        text = Text()
        for line in lines:
            text.append(f"{fmt.session_time(line.at, self._epoch):>10} ", "dim")
            style = _LEVEL_STYLES.get(line.level, "")
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
