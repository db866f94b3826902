"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio unless a folder says otherwise.

    anyio's own default runs every test on each installed backend; trio is installed for
    the framework tests (`tests/core/conftest.py` runs them on both), and the Textual
    tests must not be forced onto it.
    """
    return "asyncio"
