"""Helpers of the control-endpoint tests: a controller served on a Unix socket in this
event loop, and an HTTP client on that socket.

Every wait is event-driven (`support.wait_until` on the control's change stream) under a
deadline; nothing sleeps. Sockets live in a short temporary folder (a Unix socket's path
may not be longer than about a hundred bytes; a test's own tmp_path can be).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicedeck import Service
from servicedeck.control.endpoint import ControlEndpoint
from servicedeck.control.server import ControlServer, serve_control
from servicedeck.controller import ServiceController


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh folder with a short path, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="sd-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Served:
    """A controller served on a socket, and a client of it."""

    controller: ServiceController
    server: ControlServer
    client: httpx.AsyncClient

    @property
    def socket(self) -> str:
        return self.server.address.path


def client_for(path: str, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client of the Unix socket at `path`."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=path), base_url="http://localhost", **kwargs
    )


@asynccontextmanager
async def serving(
    classes: list[type[Service]],
    folder: Path,
    *,
    start: bool = True,
    controller: ServiceController | None = None,
    **options: Any,
) -> AsyncIterator[Served]:
    """`classes` under a controller, served on `folder/s.sock`, with a client of it.

    `options` are the `ControlEndpoint`'s.
    """
    controller = controller or ServiceController(classes, propagate_logs=False)
    endpoint = ControlEndpoint(controller, **options)
    async with controller:
        if start:
            await controller.start_enabled()
        address = f"unix:{folder}/s.sock"
        async with (
            serve_control(controller, address, endpoint=endpoint) as server,
            client_for(server.address.path) as client,
        ):
            yield Served(controller, server, client)
