"""`ControlEndpoint`: a `ServiceControl` served over HTTP, as an ASGI application.

    GET  /v1/services                    every service's snapshot
    GET  /v1/services/{name}             one, with its recent log lines
    GET  /v1/services/{name}/where       where its task waits now (its await stack)
    POST /v1/services/{name}/{command}   start, step, pause, resume, stop, cancel-steps,
                                         kill, restart, set-enabled, pause-on-error,
                                         set-log-level
    POST /v1/start-enabled, /v1/stop-all the whole set
    GET  /v1/events[?interval=SECONDS]   Server-Sent Events: the changes, coalesced
    GET  /livez, /readyz                 probes, in the shape Kubernetes expects
    GET  /metrics                        Prometheus text format

`docs/reference/control-api.md` documents each route (a test keeps the two in step).
Every answer is JSON (but the event stream and the metrics), every error a JSON object
`{"error": ..., "message": ...}`. Nothing a request carries is ever run or evaluated:
bodies are JSON, validated by pydantic against a fixed model per command.

Mount `endpoint.app` in your own Starlette or FastAPI application, or serve it on a
socket with `servicedeck.control.server.serve_control()`. It runs in the event loop that
runs the services (asyncio or trio).
"""

from __future__ import annotations

import hmac
import http
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import anyio
import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicedeck.control import (
    CommandError,
    Health,
    ServiceControl,
    ServiceSnapshot,
)
from servicedeck.control._feed import INTERVAL, ChangeFeed
from servicedeck.control.metrics import DurationHistograms, ServiceCollector

__all__ = ["MAX_BODY", "MAX_EVENT_INTERVAL", "MAX_STEP", "ControlEndpoint"]

MAX_EVENT_INTERVAL = 60.0
"""The longest interval a client of `/v1/events` may ask for (the keep-alive pings go on)."""

logger = logging.getLogger("servicedeck.control")

MAX_BODY = 64 * 1024
"""The largest request body taken, in bytes (a command's body is a few dozen)."""
MAX_STEP = 100_000
"""The most loops one step may ask for."""
OPEN_PATHS = frozenset({"/livez", "/readyz"})
"""Routes that need no token: an orchestrator's probes rarely carry one. They tell
whether the process is alive and which services are unhealthy, never an error's text."""


# -- request bodies: fixed models, validated by pydantic --------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Empty(_Body):
    pass


class _Step(_Body):
    loops: int = Field(1, ge=1, le=MAX_STEP)


class _Stop(_Body):
    block: bool = True
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False)


class _SetEnabled(_Body):
    enabled: bool | None


class _PauseOnError(_Body):
    on: bool


class _LogLevel(_Body):
    level: int | None = Field(ge=0)


class _EventsQuery(BaseModel):
    """`GET /v1/events?interval=SECONDS`: how often, at most, the client takes updates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: float | None = Field(None, le=MAX_EVENT_INTERVAL, allow_inf_nan=False)


class _StartEnabled(_Body):
    paused: bool = False


class _StopAll(_Body):
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False)


Handler = Callable[[ServiceControl, str, Any], Awaitable[dict[str, Any]]]


async def _done(call: Awaitable[object]) -> dict[str, Any]:
    await call
    return {}


async def _stop(control: ServiceControl, name: str, body: _Stop) -> dict[str, Any]:
    return {"stopped": await control.stop(name, block=body.block, timeout=body.timeout)}


async def _restart(control: ServiceControl, name: str, body: _Empty) -> dict[str, Any]:
    return {"report": (await control.restart(name)).to_json()}


async def _cancel_steps(control: ServiceControl, name: str, body: _Empty) -> dict[str, Any]:
    return {"dropped": await control.cancel_steps(name)}


COMMANDS: dict[str, tuple[type[_Body], Handler]] = {
    "start": (_Empty, lambda control, name, body: _done(control.start(name))),
    "step": (_Step, lambda control, name, body: _done(control.step(name, body.loops))),
    "pause": (_Empty, lambda control, name, body: _done(control.pause(name))),
    "resume": (_Empty, lambda control, name, body: _done(control.resume(name))),
    "stop": (_Stop, _stop),
    "cancel-steps": (_Empty, _cancel_steps),
    "kill": (_Empty, lambda control, name, body: _done(control.kill(name))),
    "restart": (_Empty, _restart),
    "set-enabled": (
        _SetEnabled,
        lambda control, name, body: _done(control.set_enabled(name, body.enabled)),
    ),
    "pause-on-error": (
        _PauseOnError,
        lambda control, name, body: _done(control.set_pause_on_error(name, body.on)),
    ),
    "set-log-level": (
        _LogLevel,
        lambda control, name, body: _done(control.set_log_level(name, body.level)),
    ),
}
"""The commands of `POST /v1/services/{name}/{command}`: the body's model, the call."""


# -- the endpoint -------------------------------------------------------------------------


class ControlEndpoint:
    """The control endpoint of `control`: an ASGI app (`app`), its change feed, metrics.

    Enter it (`async with endpoint:`) in the event loop that runs the services, for as
    long as it is served: that runs its change feed, which the event stream and the
    loop-duration histograms read. Served by `serve_control()`, or as an application of
    its own by any ASGI server, its lifespan enters it; mounted in your application,
    enter it in your application's lifespan.

        endpoint = ControlEndpoint(controller)
        app = Starlette(routes=[Mount("/servicedeck", app=endpoint.app)], lifespan=...)

    Args:
        control: the services it serves.
        token: the bearer token every request but the probes must carry
            (`Authorization: Bearer TOKEN`); None: no token (a Unix socket, where the
            file's permissions keep others out, or your application's own auth).
        event_interval: at most one event per service per this many seconds.
        ping: seconds between keep-alive comments on the event stream.
        send_timeout: a client of the event stream that accepts nothing for this many
            seconds is dropped.
        stale_heartbeat: `/livez` fails when the event loop's heartbeat is older.
    """

    def __init__(
        self,
        control: ServiceControl,
        *,
        token: str | None = None,
        event_interval: float = INTERVAL,
        ping: float = 5.0,
        send_timeout: float = 10.0,
        stale_heartbeat: float = 5.0,
    ) -> None:
        self.control = control
        self.token = token or None
        self.ping = ping
        self.send_timeout = send_timeout
        self.stale_heartbeat = stale_heartbeat
        self.feed = ChangeFeed(control, interval=event_interval, encode=_service_event)
        self.histograms = DurationHistograms()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(ServiceCollector(control, self.histograms))
        self._folding = False
        self._tg: anyio.abc.TaskGroup | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/services", self._services, methods=["GET"]),
                Route("/v1/services/{name}", self._service, methods=["GET"]),
                Route("/v1/services/{name}/where", self._where, methods=["GET"]),
                Route("/v1/services/{name}/{command}", self._command, methods=["POST"]),
                Route("/v1/start-enabled", self._start_enabled, methods=["POST"]),
                Route("/v1/stop-all", self._stop_all, methods=["POST"]),
                Route("/v1/events", self._events, methods=["GET"]),
                Route("/livez", self._livez, methods=["GET"]),
                Route("/readyz", self._readyz, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
            ],
            exception_handlers={HTTPException: _http_error, Exception: _server_error},
            lifespan=self._lifespan,
        )
        # A trailing slash is a 404 like any unknown path, not a redirect without a body.
        self.app.router.redirect_slashes = False

    # -- life cycle -----------------------------------------------------------------------

    async def __aenter__(self) -> ControlEndpoint:
        if self._tg is not None:
            raise RuntimeError("the ControlEndpoint is entered already")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        await tg.start(self.feed.run)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            # The block's own exception is not the task group's: it leaves as itself.
            await tg.__aexit__(None, None, None)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # Served by serve_control() (or mounted and entered by your lifespan), the
        # endpoint runs already; served on its own by an ASGI server, it starts here.
        if self._tg is not None:
            yield
            return
        async with self:
            yield

    def close_streams(self) -> None:
        """End every open event stream now (before a server shuts down)."""
        self.feed.close_listeners()

    # -- helpers ----------------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        if self.token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.token.encode()
        ):
            return
        # Logged without what it carried: a wrong token may be a right one mistyped.
        logger.warning(
            "control endpoint: refused %s %s from %s: %s",
            request.method,
            request.url.path,
            _peer(request),
            "no bearer token" if not credentials else "wrong token",
        )
        raise HTTPException(
            401,
            "this endpoint needs a bearer token: send `Authorization: Bearer TOKEN` "
            "(the token is SERVICEDECK_CONTROL_TOKEN, or the file control.token in the "
            "state directory of the process)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _head(self) -> dict[str, Any]:
        control = self.control
        return {"now": control.now(), "epoch": control.epoch, "process": control.process.to_json()}

    def _snapshot(self, name: str) -> ServiceSnapshot:
        try:
            return self.control.snapshot(name)
        except KeyError as exc:
            raise HTTPException(404, _message(exc)) from None

    # -- routes -----------------------------------------------------------------------------

    async def _services(self, request: Request) -> Response:
        self._authorize(request)
        return _json(self._services_body())

    def _services_body(self) -> dict[str, Any]:
        head = self._head()
        head["services"] = [snap.to_json() for snap in self.control.snapshots()]
        return head

    async def _service(self, request: Request) -> Response:
        self._authorize(request)
        name = request.path_params["name"]
        snap = self._snapshot(name)
        body = self._head()
        body["service"] = snap.to_json()
        body["logs"] = [line.to_json() for line in self.control.logs(name)]
        return _json(body)

    async def _where(self, request: Request) -> Response:
        self._authorize(request)
        name = request.path_params["name"]
        self._snapshot(name)
        stack = await self.control.where(name)
        body = self._head()
        body["stack"] = None if stack is None else stack.to_json()
        return _json(body)

    async def _command(self, request: Request) -> Response:
        self._authorize(request)
        name, command = request.path_params["name"], request.path_params["command"]
        if command not in COMMANDS:
            raise HTTPException(
                404, f"unknown command {command!r}; the commands are {', '.join(COMMANDS)}"
            )
        self._snapshot(name)
        model, handler = COMMANDS[command]
        body = await _read_body(request, model, command)
        try:
            result = await handler(self.control, name, body)
        except CommandError as exc:
            raise HTTPException(409, str(exc)) from None
        except KeyError as exc:
            raise HTTPException(404, _message(exc)) from None
        except ValueError as exc:  # a value the command refuses (the models let it by)
            raise HTTPException(422, f"invalid body for {command}: {exc}") from None
        answer = self._head()
        answer["service"] = self.control.snapshot(name).to_json()
        answer.update(result)
        return _json(answer)

    async def _start_enabled(self, request: Request) -> Response:
        self._authorize(request)
        body = await _read_body(request, _StartEnabled, "start-enabled")
        started = await self.control.start_enabled(paused=body.paused)
        answer = self._head()
        answer["started"] = started
        return _json(answer)

    async def _stop_all(self, request: Request) -> Response:
        self._authorize(request)
        body = await _read_body(request, _StopAll, "stop-all")
        report = await (
            self.control.stop_all() if body.timeout is None else self.control.stop_all(body.timeout)
        )
        answer = self._head()
        answer["report"] = report.to_json()
        return _json(answer)

    async def _events(self, request: Request) -> Response:
        self._authorize(request)
        if not self.feed.running:
            raise HTTPException(
                503,
                "the endpoint's change feed does not run: enter the ControlEndpoint "
                "(`async with endpoint:`) in your application's lifespan",
            )
        try:
            query = _EventsQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors(include_url=False))
            raise HTTPException(422, f"invalid query for /v1/events: {problems}") from None
        interval = query.interval
        if interval is not None and interval < self.feed.interval:
            raise HTTPException(
                422,
                f"invalid query for /v1/events: interval: at most one event per service per "
                f"{self.feed.interval:g} s is sent; ask for {self.feed.interval:g} or more "
                f"(got {interval:g})",
            )
        return EventSourceResponse(
            self._stream(interval), ping=self.ping, send_timeout=self.send_timeout
        )

    async def _stream(self, interval: float | None) -> AsyncIterator[ServerSentEvent | bytes]:
        # Listening before the first full list: a change in between is sent again, never lost.
        with self.feed.listen(interval) as listener:
            yield ServerSentEvent(orjson.dumps(self._services_body()).decode(), event="services")
            while True:
                updates = await listener.next()
                if not updates:
                    return  # the endpoint is shutting down
                # Each update is a whole event, encoded once by the feed for every client;
                # one write for the batch: hundreds of services change together, and a
                # write costs the server far more than joining bytes.
                yield b"".join(updates)

    async def _livez(self, request: Request) -> Response:
        age = self.control.heartbeat_age()
        body: dict[str, Any] = {"pid": self.control.process.pid, "heartbeat_age": age}
        if age is not None and age > self.stale_heartbeat:
            body["status"] = "stalled"
            body["message"] = (
                f"the event loop's heartbeat is {age:.1f} s old (more than "
                f"{self.stale_heartbeat:g} s): it is blocked or starved"
            )
            return _json(body, 503)
        body["status"] = "alive"
        return _json(body)

    async def _readyz(self, request: Request) -> Response:
        snapshots = self.control.snapshots()
        failing = [
            # The record's own reason (never an error's text: the probes need no token).
            {"name": snap.name, "health": snap.health.value, "reason": snap.health_reason}
            for snap in snapshots
            if snap.enabled and snap.health is not Health.HEALTHY
        ]
        unreachable = list(self.control.unreachable)
        enabled = sum(1 for snap in snapshots if snap.enabled)
        if failing or unreachable:
            return _json(
                {"status": "not ready", "failing": failing, "unreachable": unreachable}, 503
            )
        return _json({"status": "ready", "services": enabled})

    async def _metrics(self, request: Request) -> Response:
        self._authorize(request)
        if not self._folding and self.feed.running:
            # From the first scrape on, durations are folded as the feed sees them too.
            self.feed.observe(self.histograms.fold)
            self._folding = True
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(self.registry), headers={"Content-Type": content_type})


# -- plumbing -------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _service_event(now: float, snap: ServiceSnapshot) -> bytes:
    """One `service` event of the stream, framed (encoded once, sent to every client)."""
    data = orjson.dumps({"now": now, "service": snap.to_json()}).decode()
    return ServerSentEvent(data, event="service").encode()


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _peer(request: Request) -> str:
    client = request.client
    return "the Unix socket" if client is None else f"{client.host}:{client.port}"


async def _read_body(request: Request, model: type[_Body], command: str) -> Any:
    """The request's JSON body as `model` (an empty body is `{}`), or a 413/422 error."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise HTTPException(413, f"the body is {declared} bytes; at most {MAX_BODY} are taken")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"the body is over {MAX_BODY} bytes, the most taken")
        chunks.append(chunk)
    raw = b"".join(chunks).strip() or b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors(include_url=False))
        raise HTTPException(422, f"invalid body for {command}: {problems}") from None


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "body"
    given = error.get("input")
    shown = "" if isinstance(given, dict) else f" (got {given!r})"
    return f"{where}: {error.get('msg', 'invalid')}{shown}"


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = exc.detail
    if status == 404 and message == "Not Found":
        message = f"no route {request.url.path!r}; see docs/reference/control-api.md"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path!r}"
    response = _json({"error": _phrase(status), "message": message}, status)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.error("control endpoint: %s %s failed", request.method, request.url.path, exc_info=exc)
    return _json({"error": _phrase(500), "message": f"internal error: {exc!r}"}, 500)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return str(status)
