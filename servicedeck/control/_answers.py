"""How `RemoteControl` reads what the endpoint answers, and why a request failed.

answer()     the JSON object of an answer, or the protocol's error for its status
describe()   a short reason for a request that failed (for `unreachable`), no traceback
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import orjson

from servicedeck.control import CommandError

__all__ = ["describe", "read_answer"]


def read_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer.

    Raises:
        KeyError: 404 (no such service), with the server's message.
        CommandError: 409 (refused now) or any other error, with the server's message.
        ValueError: the answer is not a JSON object.
    """
    try:
        body = orjson.loads(response.content)
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if response.status_code == 404:
        raise KeyError(message or f"{response.request.url.path} was not found")
    if response.status_code == 401:
        raise CommandError(
            "the process refused the token: set SERVICEDECK_CONTROL_TOKEN to its token "
            "(its file control.token in its state directory)"
        )
    if response.status_code >= 400:
        raise CommandError(message or f"the process answered {response.status_code}")
    if not isinstance(body, dict):
        raise ValueError(f"the process answered {response.status_code} without a JSON object")
    return body


def describe(exc: BaseException) -> str:
    """A short reason for a failed request, without a traceback."""
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else "not found"
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError | FileNotFoundError):
        cause = exc.__cause__ or exc.__context__
        text = str(cause or exc)
        if "No such file" in text or isinstance(cause, FileNotFoundError):
            return "no process serves there (no socket)"
        if "refused" in text.lower():
            return "no process serves there (connection refused)"
        return text or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was cut"
    with contextlib.suppress(Exception):
        text = str(exc)
        if text:
            return text
    return type(exc).__name__
