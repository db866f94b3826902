"""Fixtures of the console tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .snapshot_apps import services


@pytest.fixture(autouse=True)
def _restore_test_clock() -> Iterator[None]:
    """`make_app()` points OrderReaper at its own clock; put the shared one back."""
    yield
    services.OrderReaper.clock = services.CLOCK
