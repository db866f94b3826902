"""`Service.await_stack()`: where a service's task waits, on asyncio and trio."""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import AsyncIterator

import anyio
import pytest

from servicedeck import AwaitStack, LoopService, Service, ServiceState, StackFrame

from .conftest import WAIT_TIMEOUT, WaitFor

pytestmark = pytest.mark.anyio


def line_of(function: object, text: str) -> int:
    """The line number of the first line of `function` that contains `text`."""
    lines, first = inspect.getsourcelines(function)  # type: ignore[arg-type]
    for offset, line in enumerate(lines):
        if text in line:
            return first + offset
    raise AssertionError(f"{text!r} is not in {function!r}")


async def wait_forever() -> None:
    """The innermost user frame of a hung loop: it waits on an event nobody sets."""
    await anyio.Event().wait()  # stuck here


@contextlib.asynccontextmanager
async def connection() -> AsyncIterator[None]:
    await anyio.lowlevel.checkpoint()
    yield


async def rows() -> AsyncIterator[int]:
    yield 1
    await wait_forever()  # the generator waits
    yield 2


class Hung(LoopService):
    """Its first loop hangs, in the way `how` says."""

    loop_seconds = 1

    def __init__(self, how: str = "call") -> None:
        super().__init__()
        self.how = how
        self.entered = anyio.Event()

    async def run_once(self) -> None:
        self.entered.set()
        if self.how == "call":
            await self.fetch()
        elif self.how == "generator":
            async for _ in rows():
                pass
        elif self.how == "task group":
            async with anyio.create_task_group() as tg:  # waits for its child
                tg.start_soon(wait_forever, name="child")

    async def fetch(self) -> None:
        async with connection():
            await wait_forever()  # via fetch


class Plain(Service):
    """Not a loop: its `start()` waits until stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = anyio.Event()

    async def start(self) -> None:
        await self.stopping.wait()  # a plain service waits here

    async def stop(self) -> None:
        self.stopping.set()


async def stack_of_hung(how: str = "call") -> AwaitStack:
    """The stack of a `Hung(how)` once its loop has entered `run_once()` and waits."""
    svc = Hung(how)
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        with anyio.fail_after(WAIT_TIMEOUT):
            await svc.entered.wait()
            await anyio.wait_all_tasks_blocked()
        stack = svc.await_stack()
        tg.cancel_scope.cancel()
    assert stack is not None
    return stack


async def test_await_stack_of_a_hung_loop_marks_the_innermost_line_of_user_code() -> None:
    stack = await stack_of_hung()

    functions = [frame.function for frame in stack.frames]
    # The whole chain, from the framework's loop down through the user's code into anyio.
    assert functions.index("LoopService._loop") < functions.index("Hung.run_once")
    assert functions.index("Hung.run_once") + 1 == functions.index("Hung.fetch")
    assert functions.index("Hung.fetch") + 1 == functions.index("wait_forever")
    innermost = stack.innermost_user_frame
    assert innermost is not None
    assert innermost.function == "wait_forever"
    assert innermost.file == __file__
    assert innermost.line == line_of(wait_forever, "# stuck here")
    assert innermost.source == "await anyio.Event().wait()  # stuck here"
    # Below it, only the event loop's libraries (anyio, then asyncio or trio).
    below = stack.frames[stack.user_frame + 1 :]  # type: ignore[operator]
    assert below
    assert {frame.kind for frame in below} == {"library"}
    kinds = {frame.function: frame.kind for frame in stack.frames}
    assert kinds["LoopService._loop"] == "framework"
    assert kinds["Hung.run_once"] == "user"
    assert stack.service == "Hung"
    assert stack.children == ()


async def test_await_stack_follows_an_async_generator() -> None:
    stack = await stack_of_hung("generator")

    functions = [frame.function for frame in stack.frames]
    assert functions.index("Hung.run_once") + 1 == functions.index("rows")
    assert functions.index("rows") + 1 == functions.index("wait_forever")
    assert (
        stack.frames[functions.index("rows")].source
        == "await wait_forever()  # the generator waits"
    )


async def test_await_stack_shows_the_tasks_a_loop_waits_for() -> None:
    stack = await stack_of_hung("task group")

    innermost = stack.innermost_user_frame
    assert innermost is not None
    assert innermost.function == "Hung.run_once"
    assert innermost.source == "async with anyio.create_task_group() as tg:  # waits for its child"
    [child] = stack.children
    assert child.task == "child"
    assert child.innermost_user_frame is not None
    assert child.innermost_user_frame.function == "wait_forever"
    assert "  and in task child:" in stack.format()


async def test_await_stack_of_a_sleeping_loop_has_no_user_frame(wait_for: WaitFor) -> None:
    svc = Hung()
    svc.how = "none"
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        await wait_for(svc, lambda s: s.state is ServiceState.SLEEPING)
        stack = svc.await_stack()
        tg.cancel_scope.cancel()

    assert stack is not None
    assert stack.user_frame is None
    assert "LoopService._loop" in [frame.function for frame in stack.frames]


async def test_await_stack_of_a_plain_service() -> None:
    svc = Plain()
    async with anyio.create_task_group() as tg:
        tg.start_soon(svc.start)
        with anyio.fail_after(WAIT_TIMEOUT):
            await anyio.wait_all_tasks_blocked()
        stack = svc.await_stack()
        await svc.stop()

    assert stack is not None
    innermost = stack.innermost_user_frame
    assert innermost is not None
    assert innermost.function == "Plain.start"
    assert innermost.source == "await self.stopping.wait()  # a plain service waits here"


async def test_await_stack_is_none_when_the_service_is_not_running() -> None:
    svc = Hung()
    assert svc.await_stack() is None
    svc.how = "none"
    await svc.start(loops=1)
    assert svc.await_stack() is None


async def test_await_stack_format_reads_like_a_traceback_and_survives_json() -> None:
    stack = await stack_of_hung()

    text = stack.format()
    line = line_of(wait_forever, "# stuck here")
    assert text.startswith("Await stack of Hung (innermost last):\n")
    assert f'  File "{__file__}", line {line}, in wait_forever  <-- your code waits here\n' in text
    assert "    await anyio.Event().wait()  # stuck here\n" in text
    back = AwaitStack.from_json(json.loads(json.dumps(stack.to_json())))
    assert back == stack
    assert isinstance(back.frames[0], StackFrame)
