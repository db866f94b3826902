"""`RemoteControl`: the control protocol for services another process runs.

It implements `ServiceControl` over that process's control endpoint (see `endpoint`),
like a Kubernetes informer: it lists every service (the event stream's first event is
`GET /v1/services`'s answer), keeps the latest snapshot of each from the event stream,
and answers every read, and `check()`, from that cache, without a round trip. Commands
are POSTs, never retried (a command is applied at most once); their answer carries the
service's snapshot after the command, applied to the cache at once, so a key press
shows its effect without waiting for the stream.

When the process cannot be reached (it is not running, it was killed, the network is
down), the snapshots keep their last state, marked `unreachable`, `check()` refuses
every command with the reason, and it reconnects by itself with a growing delay
(0.1 s doubling to 5 s). Errors map to the protocol's: 409 is `CommandError` with the
server's reason, 404 `KeyError`. Leaving it (`async with`) only disconnects: the
services run on (`owns_services` is False).

    async with RemoteControl("unix:/srv/app/state/servicedeck.sock") as control:
        print([snap.status.state for snap in control.snapshots()])
        await control.pause("Reaper")
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import orjson
from httpx_sse import SSEError, aconnect_sse

from servicedeck.control import (
    AwaitStack,
    Command,
    CommandError,
    LogLine,
    ProcessInfo,
    RestartReport,
    ServiceSnapshot,
    StopReport,
    refusal,
    wait_until,
)
from servicedeck.control._address import ControlAddress
from servicedeck.control._answers import describe, read_answer
from servicedeck.control._subscribers import Subscribers

__all__ = ["RemoteControl"]

logger = logging.getLogger("servicedeck.control")

RETRY_FIRST = 0.1
RETRY_MOST = 5.0
READ_TIMEOUT = 20.0
"""Seconds of silence after which the event stream counts as lost (the server sends a
keep-alive comment every 5 s)."""
EVENT_INTERVAL = 0.25
"""The endpoint's own interval: `events_interval` is never asked below it."""
QUICK = 30.0
"""Seconds a command that does not wait for the service may take."""
NO_REMOTE_DEBUGGER = (
    "the debugger needs the terminal of the process that runs the services: open the "
    "console there (`servicedeck TARGET`), not attached"
)
"""Why `debug` is refused through a client of another process."""


class RemoteControl:
    """A `ServiceControl` for the services a process serves on `address`.

    Args:
        address: `unix:PATH`, `tcp://HOST:PORT`, a socket's path, or a state directory.
        token: the bearer token (a TCP endpoint needs one).
        watch: follow the event stream and reconnect (a console); False reads once
            on entry (`servicedeck status`).
        connect_timeout: seconds to wait for the process to answer on entry before
            going on without it (it keeps trying while watching).
        events_interval: while watching, take the changes at most once per this many
            seconds (`GET /v1/events?interval=`; at least the endpoint's 0.25): a
            console that refreshes every 0.5 s needs no more, and decodes half as much.
            None: as often as the endpoint sends them.
        transport: an httpx transport to use instead of a socket (tests).

    Raises:
        ValueError: `address` is not a control address.
    """

    def __init__(
        self,
        address: str | ControlAddress,
        *,
        token: str | None = None,
        watch: bool = True,
        connect_timeout: float = 5.0,
        events_interval: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.address = (
            address if isinstance(address, ControlAddress) else ControlAddress.parse(address)
        )
        self.token = token
        self.watch = watch
        self.connect_timeout = connect_timeout
        self.events_interval = events_interval
        self._transport = transport
        self._snapshots: dict[str, ServiceSnapshot] = {}
        self._names: tuple[str, ...] = ()
        self._process: ProcessInfo | None = None
        self._epoch: float | None = None
        self._offset = 0.0
        self._unreachable: str | None = f"{self.address} has not been reached yet"
        self._subscribers = Subscribers(logger, "remote control")
        self._logs: dict[str, tuple[int, list[LogLine]]] = {}
        self._fetching: set[str] = set()
        self._client: httpx.AsyncClient | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._stream: httpx.Response | None = None
        self._followed: anyio.Event | None = None
        self._leaving = False

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> RemoteControl:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        transport = self._transport or (
            httpx.AsyncHTTPTransport(uds=self.address.path)
            if self.address.scheme == "unix"
            else httpx.AsyncHTTPTransport()
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            base_url=self.address.url,
            headers=headers,
            timeout=httpx.Timeout(QUICK, connect=self.connect_timeout),
        )
        if not self.watch:
            await self.refresh()
            return self
        answered = anyio.Event()
        self._leaving = False
        self._followed = anyio.Event()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._follow, answered, name=f"servicedeck:remote {self.address}")
        with anyio.move_on_after(self.connect_timeout):
            await answered.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                await self._stop_following()
                tg.cancel_scope.cancel()
                await tg.__aexit__(exc_type, exc, tb)
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.aclose()

    # -- reading --------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Service names, in the serving process's display order (empty until reached)."""
        return self._names

    @property
    def process(self) -> ProcessInfo:
        """The serving process (until it is reached: its address, pid 0)."""
        if self._process is not None:
            return self._process
        return ProcessInfo(
            pid=0, host=str(self.address), root=os.getcwd(), framework_path="", version=""
        )

    @property
    def epoch(self) -> float | None:
        """The serving process's session start, on its clock (None until reached)."""
        return self._epoch

    @property
    def entered(self) -> bool:
        """True inside `async with`."""
        return self._client is not None

    @property
    def owns_services(self) -> bool:
        """False: the services run in another process; leaving only disconnects."""
        return False

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Why the serving process cannot be reached now, or empty."""
        return () if self._unreachable is None else (self._unreachable,)

    def heartbeat_age(self) -> None:
        """None: the serving process measures its own (its `/livez`)."""
        return None

    def now(self) -> float:
        """The serving process's clock, estimated from its latest answer."""
        return time.monotonic() + self._offset

    def snapshot(self, name: str) -> ServiceSnapshot:
        """The latest snapshot of service `name` the process sent.

        Raises:
            KeyError: no service has that name.
        """
        try:
            return self._snapshots[name]
        except KeyError:
            known = ", ".join(self._names) or "none yet"
            raise KeyError(f"no service named {name!r} at {self.address}; known: {known}") from None

    def snapshots(self) -> list[ServiceSnapshot]:
        """The latest snapshot of every service, in display order."""
        return [self._snapshots[name] for name in self._names]

    def logs(self, name: str) -> list[LogLine]:
        """The recent log lines of service `name` (fetched when new ones arrived; a
        change is announced once they are here)."""
        snap = self.snapshot(name)
        count, lines = self._logs.get(name, (-1, []))
        if count != snap.log_count and self._tg is not None and name not in self._fetching:
            self._fetching.add(name)
            self._tg.start_soon(self._fetch_logs, name)
        return lines

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(name)` after every change of a service, and when the process
        is lost or reached again (for every service)."""
        return self._subscribers.subscribe(callback)

    def check(self, name: str, command: Command) -> str | None:
        """Why `command` is refused on service `name` now (`refusal()` of its snapshot);
        `debug` always is (see `debug()`)."""
        if command is Command.DEBUG:
            self.snapshot(name)
            return NO_REMOTE_DEBUGGER
        return refusal(self.snapshot(name), command)

    # -- commands -------------------------------------------------------------------------

    async def start(self, name: str) -> None:
        """Start service `name` there."""
        await self._command(name, "start")

    async def step(self, name: str, loops: int = 1) -> None:
        """Run `loops` loops of service `name` there, and wait until they have run."""
        await self._command(name, "step", {"loops": loops}, timeout=None)

    async def pause(self, name: str) -> None:
        """Pause service `name` there."""
        await self._command(name, "pause")

    async def resume(self, name: str) -> None:
        """Resume service `name` there."""
        await self._command(name, "resume")

    async def stop(self, name: str, *, block: bool = True, timeout: float | None = None) -> bool:
        """Stop service `name` there; with `block`, wait (up to `timeout`) until it has."""
        answer = await self._command(
            name, "stop", {"block": block, "timeout": timeout}, timeout=None if block else QUICK
        )
        return bool(answer.get("stopped", True))

    async def cancel_steps(self, name: str) -> int:
        """Drop the loops `step` queued for service `name` there; how many were dropped."""
        answer = await self._command(name, "cancel-steps")
        return int(answer.get("dropped", 0))

    async def kill(self, name: str) -> None:
        """Cancel the task of service `name` there."""
        await self._command(name, "kill")

    async def debug(self, name: str) -> None:
        """Refused: pdb needs the terminal of the process that runs the services.

        Raises:
            CommandError: always, saying so.
        """
        self.snapshot(name)
        raise CommandError(NO_REMOTE_DEBUGGER)

    async def restart(self, name: str) -> RestartReport:
        """Stop (waiting) and start service `name` there; says what it did."""
        answer = await self._command(name, "restart", timeout=None)
        return RestartReport.from_json(answer["report"])

    async def set_enabled(self, name: str, enabled: bool | None) -> None:
        """Override whether service `name` is enabled there, for its session."""
        await self._command(name, "set-enabled", {"enabled": enabled})

    async def set_pause_on_error(self, name: str, on: bool) -> None:
        """Break on exception for service `name` there."""
        await self._command(name, "pause-on-error", {"on": on})

    async def set_log_level(self, name: str, level: int | None) -> None:
        """Capture the log records of service `name` there from `level` up."""
        await self._command(name, "set-log-level", {"level": level})

    async def where(self, name: str) -> AwaitStack | None:
        """Where the task of service `name` waits there now; None without a task."""
        self.snapshot(name)
        try:
            response = await self._require_client().get(
                f"/v1/services/{quote(name, safe='')}/where"
            )
        except (httpx.HTTPError, OSError) as exc:
            raise CommandError(f"{self.address} cannot be reached: {describe(exc)}") from None
        stack = read_answer(response).get("stack")
        return None if stack is None else AwaitStack.from_json(stack)

    async def start_enabled(self, *, paused: bool = False) -> list[str]:
        """Start every enabled service there that is not running; returns their names."""
        answer = await self._post("/v1/start-enabled", {"paused": paused}, QUICK)
        return [str(name) for name in answer.get("started", [])]

    async def stop_all(self, timeout: float | None = None) -> StopReport:
        """Stop every service there (the process itself runs on)."""
        answer = await self._post("/v1/stop-all", {"timeout": timeout}, None)
        return StopReport.from_json(answer["report"])

    async def wait_stopped(self, names: Iterable[str] | None = None) -> None:
        """Return once none of `names` (default: every service) has a task there."""
        wanted = list(self._names if names is None else names)
        for name in wanted:
            self.snapshot(name)
        await wait_until(self, lambda: not any(self._snapshots[n].has_task for n in wanted))

    # -- reading the process ------------------------------------------------------------

    async def refresh(self) -> None:
        """Read every service once (`GET /v1/services`); on failure, mark it unreachable."""
        client = self._require_client()
        try:
            response = await client.get("/v1/services")
            body = read_answer(response)
        except (httpx.HTTPError, OSError, CommandError, ValueError) as exc:
            self._lost(describe(exc))
            return
        self._replace(body)

    async def _stop_following(self) -> None:
        """End the event stream by shutting its connection down, then let the follower
        return: cancelling a read on a Unix socket while data arrives makes anyio's
        asyncio backend (4.16) report an InvalidStateError in the loop's callback."""
        self._leaving = True
        stream = self._stream
        if stream is not None:
            network = stream.extensions.get("network_stream")
            sock = network.get_extra_info("socket") if network is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        if self._followed is not None:
            with anyio.move_on_after(1.0):
                await self._followed.wait()

    async def _follow(self, answered: anyio.Event) -> None:
        """Follow the event stream until leaving, reconnecting with a growing delay."""
        try:
            await self._follow_until_left(answered)
        finally:
            self._stream = None
            if self._followed is not None:
                self._followed.set()

    async def _follow_until_left(self, answered: anyio.Event) -> None:
        client = self._require_client()
        delay = RETRY_FIRST
        while not self._leaving:
            try:
                async with aconnect_sse(
                    client,
                    "GET",
                    "/v1/events",
                    params=self._events_query(),
                    timeout=httpx.Timeout(READ_TIMEOUT, connect=self.connect_timeout),
                ) as source:
                    self._stream = source.response
                    if source.response.status_code != 200:
                        await source.response.aread()
                        read_answer(source.response)  # raises with the server's message
                    async for event in source.aiter_sse():
                        if event.event == "services":
                            self._replace(orjson.loads(event.data))
                            answered.set()
                            delay = RETRY_FIRST
                        elif event.event == "service":
                            self._update(orjson.loads(event.data))
                reason = "the process closed the connection"
            except (httpx.HTTPError, OSError, SSEError, CommandError, ValueError) as exc:
                reason = describe(exc)
            self._stream = None
            if self._leaving:
                return
            self._lost(reason)
            answered.set()
            await anyio.sleep(delay)
            delay = min(delay * 2, RETRY_MOST)

    def _events_query(self) -> dict[str, str]:
        interval = self.events_interval
        return {} if interval is None else {"interval": repr(max(interval, EVENT_INTERVAL))}

    async def _fetch_logs(self, name: str) -> None:
        try:
            response = await self._require_client().get(f"/v1/services/{quote(name, safe='')}")
            body = read_answer(response)
        except (httpx.HTTPError, OSError, CommandError, KeyError, ValueError):
            return  # the stream reports the process lost; the next read asks again
        finally:
            self._fetching.discard(name)
        snap = ServiceSnapshot.from_json(body["service"])
        self._logs[name] = (snap.log_count, [LogLine.from_json(line) for line in body["logs"]])
        self._clock(body)
        self._store(snap)

    # -- the cache ------------------------------------------------------------------------

    def _clock(self, body: dict[str, Any]) -> None:
        now = body.get("now")
        if isinstance(now, int | float):
            self._offset = float(now) - time.monotonic()

    def _replace(self, body: dict[str, Any]) -> None:
        """Take a whole list (`GET /v1/services`): the process was reached."""
        self._clock(body)
        self._process = ProcessInfo.from_json(body["process"])
        epoch = body.get("epoch")
        self._epoch = None if epoch is None else float(epoch)
        snapshots = [ServiceSnapshot.from_json(data) for data in body["services"]]
        old = set(self._names)
        self._snapshots = {snap.name: snap for snap in snapshots}
        self._names = tuple(snap.name for snap in snapshots)
        if self._unreachable is not None:
            logger.info("reached %s (pid %d)", self.address, self._process.pid)
        self._unreachable = None
        for name in [*self._names, *(old - set(self._names))]:
            self._changed(name)

    def _update(self, body: dict[str, Any]) -> None:
        self._clock(body)
        self._store(ServiceSnapshot.from_json(body["service"]))

    def _store(self, snap: ServiceSnapshot) -> None:
        if snap.name not in self._snapshots:
            return  # not in the list this process sent: a stale event
        if self._unreachable is not None:
            snap = _marked(snap, self._unreachable)
        self._snapshots[snap.name] = snap
        self._changed(snap.name)

    def _lost(self, reason: str) -> None:
        message = f"{self.address} cannot be reached: {reason}"
        if message == self._unreachable:
            return
        if self._unreachable is None:
            logger.warning("%s; retrying", message)
        self._unreachable = message
        for name in self._names:
            self._snapshots[name] = _marked(self._snapshots[name], message)
        for name in self._names:
            self._changed(name)
        if not self._names:
            self._changed("")

    def _changed(self, name: str) -> None:
        self._subscribers.changed(name)

    # -- requests -------------------------------------------------------------------------

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("use the control as `async with RemoteControl(...)` first")
        return self._client

    async def _command(
        self,
        name: str,
        command: str,
        body: dict[str, Any] | None = None,
        *,
        timeout: float | None = QUICK,
    ) -> dict[str, Any]:
        snap = self.snapshot(name)
        if snap.unreachable is not None:
            raise CommandError(snap.unreachable)
        answer = await self._post(f"/v1/services/{quote(name, safe='')}/{command}", body, timeout)
        if isinstance(answer.get("service"), dict):
            self._store(ServiceSnapshot.from_json(answer["service"]))
        return answer

    async def _post(
        self, path: str, body: dict[str, Any] | None, timeout: float | None
    ) -> dict[str, Any]:
        client = self._require_client()
        try:
            response = await client.post(
                path,
                json=body,
                timeout=httpx.Timeout(timeout, connect=self.connect_timeout),
            )
        except (httpx.HTTPError, OSError) as exc:
            raise CommandError(f"{self.address} cannot be reached: {describe(exc)}") from None
        answer = read_answer(response)
        self._clock(answer)
        return answer


def _marked(snap: ServiceSnapshot, reason: str) -> ServiceSnapshot:
    return dataclasses.replace(snap, unreachable=reason)
