"""Serve a `ServiceControl` on a Unix socket or a TCP port, inside a running event loop.

    serve_control()     async context manager: the endpoint served for the block
    ControlServer       what it yields: the address it listens on, the endpoint
    AddressInUseError   another live process already serves on that address

The server is Hypercorn, through its public `serve()` with a shutdown trigger: it runs
as a task of the caller's event loop (asyncio or trio, whichever anyio runs on), installs
no signal handler, and stops gracefully when the block ends. The listening socket is
made here, so that its file's permissions (0600) and a stale socket are handled before
anything can connect.

    async with ServiceController(Service.all_services()) as controller:
        await controller.start_enabled()
        async with serve_control(controller, "unix:/run/myapp/servicedeck.sock"):
            ...                                    # your application runs here
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from servicedeck.control._address import ControlAddress, make_private_dir
from servicedeck.control._protocol import ServiceControl
from servicedeck.control.endpoint import ControlEndpoint

if TYPE_CHECKING:
    from hypercorn.config import Config

__all__ = ["AddressInUseError", "ControlServer", "serve_control"]

logger = logging.getLogger("servicedeck.control")

GRACE = 1.0
"""Seconds open connections get to finish when the server stops."""

_server_log = logging.getLogger("servicedeck.control.server")
if _server_log.level == logging.NOTSET:
    # Hypercorn's own lines: its "Running on ... (CTRL + C to quit)" at INFO says nothing
    # true here; its warnings and errors are worth seeing.
    _server_log.setLevel(logging.WARNING)


class AddressInUseError(OSError):
    """Another live process serves on the address (a stale socket is replaced instead)."""


@dataclass(frozen=True)
class ControlServer:
    """A control endpoint being served.

    Attributes:
        address: where it listens (a TCP port 0 resolved to the port chosen).
        endpoint: the ASGI application and its change feed.
    """

    address: ControlAddress
    endpoint: ControlEndpoint


@asynccontextmanager
async def serve_control(
    control: ServiceControl,
    address: str | ControlAddress,
    *,
    token: str | None = None,
    endpoint: ControlEndpoint | None = None,
) -> AsyncIterator[ControlServer]:
    """Serve the control endpoint of `control` on `address` for the duration of the block.

    Args:
        control: the services to serve (entered by the caller).
        address: `unix:PATH` or `tcp://HOST:PORT` (or a `ControlAddress`).
        token: the bearer token every request but the probes must carry; required on
            TCP. A Unix socket is guarded by its file's permissions (0600) instead.
        endpoint: the endpoint to serve (default: a new `ControlEndpoint(control)`).

    Raises:
        ValueError: a bad address, or TCP without a token.
        AddressInUseError: a live process already listens on the address.
        OSError: the socket cannot be made (its folder is not writable, say).
    """
    if not isinstance(address, ControlAddress):
        address = ControlAddress.parse(address)
    if address.scheme == "tcp" and not token:
        where = "a loopback address" if address.is_loopback else f"{address.host!r}"
        raise ValueError(
            f"the control endpoint on {address} ({where}) needs a bearer token: pass one "
            "(SERVICEDECK_CONTROL_TOKEN for `servicedeck run`), or serve on a Unix socket"
        )
    endpoint = endpoint or ControlEndpoint(control, token=token)
    if address.scheme == "tcp":
        endpoint.token = token
    sock = _listen(address)
    bound = _bound_address(address, sock)
    # Imported here: the server is what `run` pays for only when it serves.
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.errorlog = _server_log
    config.accesslog = None
    config.graceful_timeout = GRACE
    config.include_server_header = False
    shutdown, served = anyio.Event(), anyio.Event()
    inode = _inode(bound)
    try:
        async with endpoint:
            # Not `async with tg:` around the block: the block's own exception must leave
            # as itself, not wrapped in the task group's ExceptionGroup.
            tg = anyio.create_task_group()
            await tg.__aenter__()
            try:
                sock.detach()  # Hypercorn owns the socket (and closes it) from here on
                tg.start_soon(
                    _serve, endpoint, config, shutdown, served, name="servicedeck:control-server"
                )
                yield ControlServer(bound, endpoint)
            finally:
                endpoint.close_streams()
                shutdown.set()
                with anyio.move_on_after(GRACE + 1.0, shield=True):
                    await served.wait()
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)
    finally:
        if sock.fileno() != -1:
            sock.close()
        if bound.scheme == "unix":
            _remove_socket(Path(bound.path), inode)


async def _serve(
    endpoint: ControlEndpoint, config: Config, shutdown: anyio.Event, served: anyio.Event
) -> None:
    try:
        if anyio.get_cancelled_exc_class().__module__.split(".")[0] == "trio":
            from hypercorn.trio import serve
        else:
            from hypercorn.asyncio import serve  # type: ignore[assignment]
        # Hypercorn's ASGI types are narrower than Starlette's; the app is ASGI 3.
        await serve(endpoint.app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
    finally:
        served.set()


def _listen(address: ControlAddress) -> socket.socket:
    """A listening socket on `address`, made private (Unix) or bound (TCP)."""
    if address.scheme == "tcp":
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
        family, kind, proto, _, where = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(where)
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(
                    exc.errno, f"{address} is in use; choose another port with --control"
                ) from None
            raise
        sock.setblocking(False)
        return sock
    path = Path(address.path)
    make_private_dir(path.parent)
    _clear_stale(address, path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if "too long" in str(exc):
            raise OSError(
                exc.errno,
                f"the socket path {str(path)!r} is too long for a Unix socket; "
                "use a shorter SERVICEDECK_STATE_DIR or --control unix:PATH",
            ) from None
        raise
    sock.setblocking(False)
    return sock


def _clear_stale(address: ControlAddress, path: Path) -> None:
    """Remove a socket file no process listens on; refuse to touch anything else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise AddressInUseError(
            errno.EEXIST,
            f"{str(path)!r} exists and is not a socket; remove it, or choose another "
            "address with --control",
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        logger.info("replacing the stale control socket %s (nothing listened on it)", path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    except OSError:
        pass  # e.g. a timeout: someone holds it, busy
    finally:
        probe.close()
    raise AddressInUseError(
        errno.EADDRINUSE,
        f"another process serves a control endpoint on {address}; stop it, or choose "
        "another address with --control (or another SERVICEDECK_STATE_DIR)",
    )


def _bound_address(address: ControlAddress, sock: socket.socket) -> ControlAddress:
    if address.scheme == "tcp":
        return ControlAddress("tcp", host=address.host, port=int(sock.getsockname()[1]))
    return address


def _inode(address: ControlAddress) -> int | None:
    if address.scheme != "unix":
        return None
    try:
        return os.stat(address.path).st_ino
    except OSError:
        return None


def _remove_socket(path: Path, inode: int | None) -> None:
    """Remove our socket file, unless another process has replaced it meanwhile."""
    try:
        if inode is not None and path.lstat().st_ino != inode:
            return
        path.unlink()
    except FileNotFoundError:
        pass
