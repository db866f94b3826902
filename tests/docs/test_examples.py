"""Every code example in the docs runs, so the docs cannot rot.

For each Markdown page (README.md and docs/**/*.md), the fenced ```python blocks run in
order, in one namespace, in a fresh interpreter started in an empty folder: a page reads
as a session, each block building on the ones before. A failure names the page and the
line (blocks are compiled with the page's own line numbers).

An HTML comment on the line before a block changes what happens to it:

    <!-- file: shop/services.py -->   write the block to that file (the page imports it)
    <!-- pytest -->                   collect the page's such blocks into one test file
                                      and run pytest on it
    <!-- not-run: why -->             do not run it (say why; use sparingly)

Lines `$ servicedeck ...` in ```console blocks are parsed by the real parser, so every
command and option the docs show exists.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicedeck.cli import parse_args

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")] if p.is_file())
TIMEOUT = 60.0

FENCE = re.compile(r"^```(\w*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*(file:|pytest|not-run:)\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    language: str
    line: int
    """1-based line of the block's first code line in the page."""
    code: str
    directive: str = ""
    argument: str = ""


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of `page`, with the directive before each (if any)."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        language = match.group(1)
        previous = lines[index - 1] if index else ""
        directive = DIRECTIVE.match(previous)
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        found.append(
            Block(
                language,
                index + 2,
                "\n".join(lines[index + 1 : end]) + "\n",
                directive.group(1).rstrip(":") if directive else "",
                directive.group(2) if directive else "",
            )
        )
        index = end + 1
    return found


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


RUNNER = """\
import importlib, pathlib
namespace = {"__name__": "__main__"}
for kind, path, line in STEPS:
    source = open(path + ".block", encoding="utf-8").read()
    if kind == "file":  # written when the page reaches it, so a later block can change it
        target = pathlib.Path(line)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        importlib.invalidate_caches()
        continue
    # Padded so tracebacks show the page's own line numbers.
    exec(compile("\\n" * (line - 1) + source, PAGE, "exec"), namespace)
"""


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter in `cwd`, without the SERVICEDECK_* variables of this one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICEDECK_", "DEMO_"))}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


def _has_python(page: Path) -> bool:
    return any(b.language == "python" and b.directive != "not-run" for b in blocks(page))


@pytest.mark.parametrize("page", [p for p in PAGES if _has_python(p)], ids=page_id)
def test_docs_python_examples_run(page: Path, tmp_path: Path) -> None:
    steps: list[Block] = []
    tests: list[Block] = []
    for block in blocks(page):
        if block.language != "python" or block.directive == "not-run":
            continue
        (tests if block.directive == "pytest" else steps).append(block)
    rel = page_id(page)
    if steps:
        entries: list[tuple[str, str, int | str]] = []
        for number, block in enumerate(steps):
            stem = str(tmp_path / f"_block{number}")
            Path(stem + ".block").write_text(block.code, encoding="utf-8")
            if block.directive == "file":
                entries.append(("file", stem, block.argument))
            else:
                entries.append(("run", stem, block.line))
        script = tmp_path / "_run_page.py"
        script.write_text(f"PAGE = {rel!r}\nSTEPS = {entries!r}\n" + RUNNER, encoding="utf-8")
        done = _python(str(script), cwd=tmp_path)
        assert done.returncode == 0, f"an example in {rel} failed:\n{done.stderr}"

    if tests:
        test_file = tmp_path / "test_from_docs.py"
        # Each block keeps its page line numbers (padding), one module for all of them.
        text, at = "", 1
        for block in tests:
            text += "\n" * (block.line - at) + block.code
            at = block.line + block.code.count("\n")
        test_file.write_text(text, encoding="utf-8")
        done = _python("-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file), cwd=tmp_path)
        assert done.returncode == 0, f"the pytest examples in {rel} failed:\n{done.stdout}"
        defined = len(re.findall(r"^(?:async )?def test_", text, re.M))
        passed = re.search(r"(\d+) passed", done.stdout)
        assert passed is not None, done.stdout
        assert int(passed.group(1)) >= defined, done.stdout
        assert "skipped" not in done.stdout, done.stdout


def _command_lines(page: Path) -> list[tuple[int, list[str]]]:
    """`(line, argv)` of every `servicedeck ...` command in the page's shell blocks."""
    found = []
    for block in blocks(page):
        if block.language not in ("console", "shell", "sh", "bash"):
            continue
        for offset, line in enumerate(block.code.splitlines()):
            text = line.strip()
            if block.language == "console":  # commands start with `$ `; the rest is output
                if not text.startswith("$ "):
                    continue
                text = text[2:]
            if not text or text.startswith("#"):
                continue
            segment: list[str] = []
            for word in [*shlex.split(text, comments=True), "&&"]:
                if word not in ("&&", "||", "|", ";"):
                    segment.append(word)
                    continue
                # Skip `VAR=value` prefixes; accept `.venv/bin/servicedeck`.
                while segment and re.match(r"^[A-Z_]+=", segment[0]):
                    segment.pop(0)
                if segment and Path(segment[0]).name == "servicedeck":
                    found.append((block.line + offset, segment[1:]))
                segment = []
    return found


@pytest.mark.parametrize("page", [p for p in PAGES if _command_lines(p)], ids=page_id)
def test_docs_servicedeck_commands_parse(page: Path) -> None:
    commands = _command_lines(page)
    for line, argv in commands:
        status = 0
        try:
            parse_args(argv)
        except SystemExit as exc:  # --help and --version exit 0; usage errors exit 2
            status = exc.code if isinstance(exc.code, int) else 2
        shown = shlex.join(["servicedeck", *argv])
        assert status == 0, f"{page_id(page)}:{line}: `{shown}` does not parse"
