"""The benchmark suite's plumbing: scales, statistics, rows, the table and the report file.

A workload module exposes `WORKLOADS`, a list of `Workload`: a key (for `--only`), and
either a `measure(scale)` function returning `Row`s, or the rows it will produce once
it can be measured (`pending`), which print as "not yet measured".
"""

from __future__ import annotations

import datetime
import enum
import math
import os
import platform
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = [
    "Row",
    "Scale",
    "Target",
    "Unit",
    "Workload",
    "compared",
    "format_table",
    "machine_description",
    "median",
    "p95",
    "write_report",
]

RESULTS_START = "<!-- benchmark-results:start -->"
RESULTS_END = "<!-- benchmark-results:end -->"
NOT_MEASURED = "not yet measured"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Scale:
    """How big the workloads are: full size, or a quick smoke run that only proves they run."""

    quick: bool = False

    def pick(self, full: _T, quick: _T) -> _T:
        """`full` normally, `quick` in a smoke run."""
        return quick if self.quick else full


def median(values: Sequence[float]) -> float:
    """The median of `values` (which must not be empty)."""
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    """The 95th percentile of `values` by the nearest-rank method (no interpolation)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


class Unit(enum.Enum):
    """How a row's figures are printed."""

    SECONDS = "s"
    BYTES = "B"
    FRACTION_OF_A_CORE = "core"
    PER_SECOND = "/s"
    COUNT = "count"

    def format(self, value: float) -> str:
        """`value` in a readable unit, three significant figures."""
        if self is Unit.SECONDS:
            for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
                if abs(value) >= scale:
                    return f"{_sig(value / scale)} {suffix}"
            return f"{_sig(value * 1e9)} ns"
        if self is Unit.BYTES:
            return f"{_sig(value / 1000)} KB"
        if self is Unit.FRACTION_OF_A_CORE:
            return f"{_sig(value * 100)} % of a core"
        if self is Unit.COUNT:
            return _sig(value)
        return f"{_sig(value)} /s"


def _ratio(value: float) -> str:
    """Two decimals; three significant figures below 0.01 (e.g. refreshes per change)."""
    return f"{value:.2f}" if value >= 0.01 or value == 0 else _sig(value)


def _sig(value: float) -> str:
    """Three significant figures (fewer when they would all be trailing zeros)."""
    if value == 0:
        return "0"
    digits = max(3 - 1 - math.floor(math.log10(abs(value))), 0)
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text and value == round(value, 1) else text


@dataclass(frozen=True)
class Target:
    """What servicedeck must reach on a row: at most `limit` times bare asyncio (`ratio`),
    at most the baseline plus `limit` in the row's unit (`over`), or at most `limit` in
    the row's unit."""

    limit: float
    ratio: bool = False
    over: bool = False

    def describe(self, unit: Unit) -> str:
        """E.g. `≤ 3x bare`, `≤ bare + 3 % of a core` or `≤ 1 ms`."""
        if self.ratio:
            return f"≤ {_sig(self.limit)}x bare"
        if self.over:
            return f"≤ bare + {unit.format(self.limit)}"
        return f"≤ {unit.format(self.limit)}"

    def met(self, bare: float | None, servicedeck: float) -> bool | None:
        """Whether `servicedeck` meets the target; None when it cannot be judged."""
        if not (self.ratio or self.over):
            return servicedeck <= self.limit
        if bare is None or (self.ratio and not bare):
            return None
        if self.over:
            return servicedeck - bare <= self.limit
        return servicedeck / bare <= self.limit


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure for servicedeck next to its bare-asyncio baseline.

    `servicedeck` None means the workload is not measured yet. `failure` makes the row
    fail whatever its figures (e.g. `import servicedeck` pulled in Textual).
    """

    workload: str
    unit: Unit
    target: Target | None
    bare: float | None = None
    servicedeck: float | None = None
    failure: str = ""

    @property
    def ratio(self) -> float | None:
        """servicedeck / bare, when both are known."""
        if self.bare and self.servicedeck is not None:
            return self.servicedeck / self.bare
        return None

    @property
    def passed(self) -> bool | None:
        """True / False against the target; None for unmeasured or target-less rows."""
        if self.servicedeck is None:
            return None
        if self.failure:
            return False
        if self.target is None:
            return None
        return self.target.met(self.bare, self.servicedeck)

    def cells(self, *, judge: bool) -> list[str]:
        """The row's table cells; `judge=False` leaves pass/fail out (quick mode)."""
        if self.servicedeck is None:
            servicedeck, verdict = NOT_MEASURED, "—"
        else:
            servicedeck = self.unit.format(self.servicedeck)
            verdict = {True: "pass", False: "**FAIL**", None: "—"}[self.passed] if judge else "—"
            if self.failure:
                verdict = f"{verdict} ({self.failure})"
        bare = self.unit.format(self.bare) if self.bare is not None else "—"
        ratio = "—" if self.ratio is None else f"{_ratio(self.ratio)}x"
        target = self.target.describe(self.unit) if self.target else "—"
        return [self.workload, bare, servicedeck, ratio, target, verdict]


def compared(
    workload: str,
    unit: Unit,
    target: Target | None,
    bare: Sequence[float],
    servicedeck: Sequence[float],
) -> Row:
    """A row of the medians of both sides' repetitions."""
    return Row(workload, unit, target, median(bare), median(servicedeck))


@dataclass(frozen=True)
class Workload:
    """A group of rows measured together (one event loop, baselines interleaved).

    Give either `measure` or, for a workload that cannot run yet, `pending`: the rows it
    will produce, printed as "not yet measured".
    """

    key: str
    measure: Callable[[Scale], list[Row]] | None = None
    pending: tuple[Row, ...] = field(default=())

    def run(self, scale: Scale) -> list[Row]:
        """Measure the workload (or return its pending rows)."""
        if self.measure is None:
            return list(self.pending)
        return self.measure(scale)


HEADER = ["workload", "baseline", "servicedeck", "ratio", "target", "pass/fail"]


def format_table(rows: Sequence[Row], *, judge: bool = True) -> str:
    """A Markdown table, aligned so that it also reads well in a terminal."""
    lines = [HEADER, *(row.cells(judge=judge) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(cells) for cells in lines[1:])])


def machine_description() -> str:
    """CPU count, Python and platform: enough to tell two result tables apart."""
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}"
    )


def summary(rows: Sequence[Row], *, judge: bool = True) -> str:
    """E.g. `9 of 11 measured targets met; 8 rows not yet measured`."""
    pending = sum(row.servicedeck is None for row in rows)
    measured = len(rows) - pending
    if not judge:
        return f"{measured} rows measured (not judged); {pending} rows not yet measured"
    judged = [row.passed for row in rows if row.passed is not None]
    return f"{sum(judged)} of {len(judged)} measured targets met; {pending} rows not yet measured"


def results_section(rows: Sequence[Row], command: str) -> str:
    """The generated part of the report: date, machine, command, table."""
    today = datetime.date.today().isoformat()
    return "\n".join(
        [
            RESULTS_START,
            f"Measured on {today} on {machine_description()}, with `{command}`.",
            "",
            format_table(rows),
            "",
            summary(rows) + ".",
            RESULTS_END,
        ]
    )


def write_report(path: Path, rows: Sequence[Row], command: str) -> None:
    """Put the results into `path` between the result markers, keeping the rest of it.

    Raises:
        ValueError: `path` exists but has no result markers, so there is nowhere to write.
    """
    section = results_section(rows, command)
    if not path.exists():
        path.write_text(f"# Performance\n\n{section}\n", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(RESULTS_START) + ".*?" + re.escape(RESULTS_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(
            f"{str(path)!r} has no {RESULTS_START!r} ... {RESULTS_END!r} markers; add them "
            "where the results should go, or pass --output with another file."
        )
    path.write_text(pattern.sub(lambda _: section, text, count=1), encoding="utf-8")
