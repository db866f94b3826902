"""Errors whose `__str__` or `__repr__` raises are still recorded and logged.

Recording an error must never fail: the error is what the user needs to see. Its
message falls back to a placeholder naming what failed; the framework's log lines
(`%r` of the error, of a listener) fall back the same way instead of making `logging`
drop the record (`--- Logging error ---`). pytest's log capture re-raises a logging
error, so a log line that breaks fails these tests.
"""

from __future__ import annotations

from typing import NoReturn

import anyio
import pytest

from servicedeck import ErrorInfo, LoopService, Service, ServiceState

from .conftest import WAIT_TIMEOUT

pytestmark = pytest.mark.anyio

MESSAGE_FALLBACK = "<message could not be rendered: ValueError in __str__>"


class BadStr(Exception):
    def __str__(self) -> str:
        raise ValueError("no str")


class BadRepr(Exception):
    def __repr__(self) -> str:
        raise ValueError("no repr")


class BadBoth(BadStr):
    def __repr__(self) -> str:
        raise ValueError("no repr")


class NotAString(Exception):
    def __str__(self) -> str:
        return 42  # type: ignore[return-value]


class Failing(LoopService):
    """Raises `self.error` from each loop (or from `setup()` / `teardown()`)."""

    loop_seconds = 0

    def __init__(self, error: Exception, where: str = "run_once") -> None:
        super().__init__()
        self.error = error
        self.where = where

    async def setup(self) -> None:
        if self.where == "setup":
            raise self.error

    async def run_once(self) -> None:
        if self.where == "run_once":
            raise self.error

    async def teardown(self) -> None:
        if self.where == "teardown":
            raise self.error


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (BadStr("x"), "BadStr('x')"),
        (BadRepr("x"), "<BadRepr: repr could not be rendered: ValueError in __repr__>"),
        (BadBoth("x"), "<BadBoth: repr could not be rendered: ValueError in __repr__>"),
    ],
    ids=["str", "repr", "both"],
)
async def test_loop_error_that_cannot_be_rendered_is_recorded_logged_and_the_loop_goes_on(
    error: Exception, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    svc = Failing(error)

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=2)

    status = svc.status
    assert (status.state, status.loop_count, status.error_count) == (ServiceState.STOPPED, 2, 2)
    last = status.last_error
    assert last is not None
    assert (last.type_name, last.phase, last.loop) == (type(error).__name__, "run_once", 2)
    if isinstance(error, BadStr):
        assert last.message == MESSAGE_FALLBACK
        assert last.summary == f"{type(error).__name__}: {MESSAGE_FALLBACK}"
    assert f"{type(error).__name__}" in last.traceback
    assert "raise self.error" in last.traceback
    assert messages(caplog) == [f"Failing: loop {n} failed: {logged}" for n in (1, 2)]


@pytest.mark.parametrize("hook", ["setup", "teardown"])
async def test_hook_error_that_cannot_be_rendered_crashes_the_service_as_itself(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    svc = Failing(BadBoth(), where=hook)

    with pytest.raises(BadBoth):
        await svc.start(loops=1)

    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert status.last_error is not None
    assert (status.last_error.phase, status.last_error.message) == (hook, MESSAGE_FALLBACK)
    assert messages(caplog) == [
        f"Failing: {hook}() failed: <BadBoth: repr could not be rendered: ValueError in __repr__>"
    ]


class PlainFailing(Service):
    async def start(self) -> NoReturn:
        raise BadBoth()

    async def stop(self) -> None:
        pass


async def test_plain_service_error_that_cannot_be_rendered_crashes_it_as_itself() -> None:
    svc = PlainFailing()

    with pytest.raises(BadBoth):
        await svc.start()

    status = svc.status
    assert status.state is ServiceState.CRASHED
    assert status.last_error is not None
    assert (status.last_error.type_name, status.last_error.message) == (
        "BadBoth",
        MESSAGE_FALLBACK,
    )


class UnprintableListener:
    """A listener that raises, and whose repr raises too."""

    def __call__(self, service: Service) -> None:
        raise RuntimeError("listener broke")

    def __repr__(self) -> str:
        raise ValueError("no repr")


async def test_listener_that_raises_and_cannot_be_rendered_is_logged_and_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = Failing(RuntimeError("unused"), where="nowhere")
    svc.subscribe(UnprintableListener())

    with anyio.fail_after(WAIT_TIMEOUT):
        await svc.start(loops=1)

    assert svc.status.loop_count == 1
    logged = messages(caplog)
    assert logged
    assert all(
        line == "state listener <UnprintableListener: repr could not be rendered: ValueError "
        "in __repr__> of Failing raised"
        for line in logged
    ), logged


def test_error_info_of_an_error_whose_str_does_not_return_a_string() -> None:
    info = ErrorInfo(NotAString(), when=0.0, phase="run_once")

    assert info.message == "<message could not be rendered: TypeError in __str__>"
    assert info.type_name == "NotAString"


class RaisingNotes(Exception):
    @property
    def __notes__(self) -> list[str]:
        raise RuntimeError("no notes")


def test_error_info_of_an_error_whose_traceback_cannot_be_captured() -> None:
    info = ErrorInfo(RaisingNotes("m"), when=0.0, phase="run_once")

    assert info.summary == "RaisingNotes: m"
    assert info.traceback == (
        "RaisingNotes: m\n<traceback could not be captured: RuntimeError: no notes>\n"
    )
