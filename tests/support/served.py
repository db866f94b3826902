"""A controller served on a Unix socket in the test's event loop, a client of it, and
the services the endpoint tests serve.

Sockets live in a short temporary folder (`short_dir`, in tests/conftest.py): a Unix
socket's path may not be longer than about a hundred bytes, and a test's own tmp_path
can be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from servicedeck import LoopService, Service
from servicedeck.control.endpoint import ControlEndpoint
from servicedeck.control.server import ControlServer, serve_control
from servicedeck.controller import ServiceController


class Quiet(LoopService):
    """Loops once an hour: it changes only when told to."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        self.logger.info("loop %d", self.status.loop_count + 1)


class Busy(LoopService):
    """Loops every millisecond: a storm of changes."""

    loop_seconds = 0.001

    async def run_once(self) -> None:
        return None


class Failing(LoopService):
    """Every loop raises."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        raise ValueError("bad record [bold]42[/bold]")


class Hanging(LoopService):
    """Its loop never ends: only kill stops it."""

    loop_seconds = 3600

    async def run_once(self) -> None:
        await anyio.sleep_forever()


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
