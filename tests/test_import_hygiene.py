"""Importing the framework must not import the console (or anything Textual)."""

from __future__ import annotations

import subprocess
import sys


def test_import_servicedeck_does_not_import_textual() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import servicedeck, sys; print('textual' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout.strip() == "False", result.stderr
