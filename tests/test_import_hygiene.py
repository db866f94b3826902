"""Importing the framework must not import the console (or anything Textual), nor the
control protocol the HTTP stack its endpoint is served with."""

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


def test_import_servicedeck_and_its_protocol_do_not_import_the_http_stack() -> None:
    code = (
        "import servicedeck, servicedeck.control, sys; "
        "print(sorted(m for m in ('starlette', 'hypercorn', 'httpx', 'prometheus_client', "
        "'orjson', 'sse_starlette') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]", result.stderr
