"""Services whose errors and log lines are hard to show: huge, multi-line, wide, markup.

Used by the snapshot tests in `test_messy_text.py`; their content is fixed, so the
screen renders the same on every run. Do not move code in this file without updating
those snapshots: tracebacks show its line numbers.
"""

from __future__ import annotations

from servicedeck import LoopService

MARKUP = "[bold red]not bold[/] [link=https://example.com]not a link[/link] [/] [b]x"
"""Rich markup that must show as typed, never as styles or links (or a MarkupError)."""

WIDE = "注文 1234 の処理に失敗しました 🚀🔥 데이터베이스 오류 ✅ ａｂｃ"  # noqa: RUF001
"""Double-width CJK, emoji and full-width letters: two cells each."""

MULTI_LINE = "first line of the message\nsecond line\n    an indented third\n\nafter a blank line"

HUGE_SIZE = 1_000_000
"""Characters in the huge error message and the huge log line."""


class HugeError(LoopService):
    """Fails with a 1 MB message."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise RuntimeError("[bold]huge[/bold] " + "y" * HUGE_SIZE)


class MultiLine(LoopService):
    """Fails with a message of several lines."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise ValueError(MULTI_LINE)


class WideText(LoopService):
    """Fails with double-width characters."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise RuntimeError(WIDE * 3)


class MarkupText(LoopService):
    """Fails with Rich markup in its message, and logs it too."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.logger.warning("about to fail: %s", MARKUP)
        raise RuntimeError(MARKUP)


class LogFlood(LoopService):
    """Logs every kind of hard line, and never fails."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.logger.info("huge: %s", "z" * HUGE_SIZE)
        self.logger.info("tab\tand\x1b[31m an escape sequence\x1b[0m and a bell\x07")
        self.logger.info("multi-line: %s", MULTI_LINE)
        self.logger.info("wide: %s", WIDE)
        self.logger.warning("markup: %s", MARKUP)


ALL = [HugeError, MultiLine, WideText, MarkupText, LogFlood]
