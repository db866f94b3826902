"""The key reference in the docs is generated from the binding table and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from servicedeck.tui.app import ServiceDeckApp
from servicedeck.tui.keys import KEYS, NAVIGATION, keys_markdown
from servicedeck.tui.widgets.service_table import ServiceTable

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_keys_md_is_generated_from_the_binding_table() -> None:
    current = (DOCS / "keys.md").read_text(encoding="utf-8")
    assert current == keys_markdown(), (
        "docs/keys.md is out of date: run `python -m servicedeck.tui.keys > docs/keys.md`"
    )


def test_keys_each_binding_has_a_unique_id_and_key() -> None:
    ids = [spec.id for spec in KEYS]
    keys = [key for spec in KEYS for key in spec.keys]
    assert len(ids) == len(set(ids))
    assert len(keys) == len(set(keys))
    app = {(binding.id, binding.key) for binding in ServiceDeckApp.BINDINGS}  # type: ignore[union-attr]
    table = {(binding.id, binding.key) for binding in ServiceTable.BINDINGS}  # type: ignore[union-attr]
    navigation = {(binding_id, key) for row in NAVIGATION for binding_id, key, _ in row.bindings}
    assert all(binding_id for binding_id, _ in navigation)
    assert not app & table, "each key is bound once, where it acts"
    assert app | table == {(spec.id, spec.key) for spec in KEYS} | navigation
    assert table >= {(spec.id, spec.key) for spec in KEYS if spec.owner == "table"}


def test_keys_are_the_ones_the_issue_lists() -> None:
    keys = {key for spec in KEYS for key in spec.keys}
    issue = {"s", "n", "p", "x", "X", "r", "ctrl+k", "t", "l", "e", "enter", "slash",
             "exclamation_mark", "question_mark", "f1", "ctrl+p", "q", "d"}  # fmt: skip
    assert issue <= keys
    assert "k" not in keys, "k moves up (operators' habits); kill is ctrl+k only"
    moving = {key for row in NAVIGATION for _, bound, _ in row.bindings for key in bound.split(",")}
    assert {"j", "k", "up", "down"} <= moving
    extra = {spec.id: spec.why for spec in KEYS if set(spec.keys) - issue - {"escape"}}
    assert set(extra) == {"pause_on_error", "cancel_steps", "sort_next", "sort_previous",
                          "sort_invert", "copy"}  # fmt: skip
    assert all(extra.values()), "every extra key says why"


def test_controller_and_framework_never_import_textual() -> None:
    code = "import sys, servicedeck, servicedeck.controller; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
