"""The control endpoint under faults: a process killed mid-stream, a client that stops
reading, and garbage on the wire. Waits are event-driven, under deadlines."""

from __future__ import annotations

import random
import select
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import anyio
import pytest
from support import wait_until
from support.served import Busy, Quiet, serving

from servicedeck import LoopService
from servicedeck.control import Command, CommandError
from servicedeck.control.remote import RemoteControl

from .conftest import DEADLINE

pytestmark = pytest.mark.anyio

SERVE = textwrap.dedent(
    '''
    """Serve two services on the socket given, and say so on stdout."""
    import sys

    import anyio

    from servicedeck import LoopService
    from servicedeck.control.server import serve_control
    from servicedeck.controller import ServiceController


    class Ticker(LoopService):
        loop_seconds = 0.02

        async def run_once(self) -> None:
            pass


    class Quiet(LoopService):
        loop_seconds = 3600

        async def run_once(self) -> None:
            pass


    async def main() -> None:
        async with ServiceController([Ticker, Quiet], propagate_logs=False) as controller:
            await controller.start_enabled()
            async with serve_control(controller, "unix:" + sys.argv[1]):
                print("serving", flush=True)
                await anyio.sleep_forever()


    anyio.run(main)
    '''
)


def spawn(script: Path, socket_path: Path) -> subprocess.Popen[str]:
    """A process serving on `socket_path`; returns once it serves."""
    process = subprocess.Popen(
        [sys.executable, str(script), str(socket_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], DEADLINE)
    assert ready, "the serving process did not start in time"
    assert process.stdout.readline().strip() == "serving", process.stderr
    return process


async def test_process_killed_mid_stream_then_a_new_one_is_followed(
    short_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SERVE)
    path = short_dir / "s.sock"
    first = spawn(script, path)
    try:
        async with RemoteControl(f"unix:{path}") as remote:
            # The stream is flowing: the ticker's loops arrive.
            loops = remote.snapshot("Ticker").status.loop_count
            await wait_until(remote, lambda: remote.snapshot("Ticker").status.loop_count > loops)

            first.send_signal(signal.SIGKILL)
            first.wait(DEADLINE)
            await wait_until(remote, lambda: bool(remote.unreachable))

            assert remote.snapshot("Ticker").unreachable is not None
            assert remote.check("Quiet", Command.PAUSE) == remote.unreachable[0]
            with pytest.raises(CommandError, match="cannot be reached"):
                await remote.pause("Quiet")

            second = spawn(script, path)  # its stale socket is replaced
            try:
                await wait_until(remote, lambda: not remote.unreachable)
                assert remote.process.pid == second.pid
                await remote.pause("Quiet")
                assert remote.snapshot("Quiet").status.paused
            finally:
                second.terminate()
                second.wait(DEADLINE)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(DEADLINE)


async def noop(self: LoopService) -> None:
    return None


# Twenty services whose every update is ~20 KB: the socket's buffers fill in a second.
CHATTY = [
    type(
        f"Chatty{i}",
        (LoopService,),
        {"__doc__": "x" * 20_000, "loop_seconds": 0.01, "run_once": noop},
    )
    for i in range(20)
]


async def test_client_that_stops_reading_is_dropped_and_never_slows_the_services(
    short_dir: Path,
) -> None:
    async with serving([Busy, *CHATTY], short_dir, send_timeout=0.5) as served:
        controller, feed = served.controller, served.server.endpoint.feed
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stuck.connect(served.socket)
        stuck.sendall(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        try:
            await wait_until(controller, lambda: feed.listeners == 1)
            loops = controller.snapshot("Busy").status.loop_count

            # It never reads: once the socket's buffers are full, a send waits, and after
            # the send timeout the stream is dropped. Busy loops on meanwhile.
            await wait_until(controller, lambda: feed.listeners == 0)

            assert controller.snapshot("Busy").status.loop_count > loops + 100
            assert (await served.client.get("/readyz")).status_code == 200
        finally:
            stuck.close()


async def test_garbage_requests_get_4xx_and_change_nothing(short_dir: Path) -> None:
    rng = random.Random(12)
    alphabet = "aZ09_-./%[]{}\"'\\:;,<>?!@#$^&*()+=~` \t\u00e9\u2603\x00"
    async with serving([Quiet], short_dir) as served:
        client, controller = served.client, served.controller
        before = controller.snapshot("Quiet")
        statuses = set()
        for _ in range(150):
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
            command = rng.choice(["step", "stop", "pause", "set-enabled", "x", "", "..", "%2e"])
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            # Escaped, so that the server gets every character (and decodes it).
            path = f"/v1/services/{quote(name, safe='')}/{command}"
            response = await client.post(path, content=body)
            statuses.add(response.status_code)
            assert 400 <= response.status_code < 500, (path, response.text)
            assert set(response.json()) == {"error", "message"}

        after = controller.snapshot("Quiet")
        assert after.status.loop_count == before.status.loop_count
        assert after.status.paused == before.status.paused
        assert after.enabled == before.enabled
        assert (await client.get("/livez")).status_code == 200
        assert statuses >= {404, 405} or statuses >= {404, 422}


async def test_endpoint_serves_on_trio_too(short_dir: Path) -> None:
    # The framework runs on trio; so does the endpoint (Hypercorn's trio server).
    code = textwrap.dedent(
        f"""
        import anyio, httpx
        from servicedeck import LoopService
        from servicedeck.control.remote import RemoteControl
        from servicedeck.control.server import serve_control
        from servicedeck.controller import ServiceController

        class Quiet(LoopService):
            loop_seconds = 3600
            async def run_once(self): pass

        async def main():
            async with ServiceController([Quiet]) as controller:
                await controller.start_enabled()
                async with serve_control(controller, "unix:{short_dir}/t.sock"):
                    async with RemoteControl("unix:{short_dir}/t.sock") as remote:
                        await remote.step("Quiet", 2)
                        print(remote.snapshot("Quiet").status.loop_count, remote.unreachable)

        anyio.run(main, backend="trio")
        """
    )
    with anyio.fail_after(DEADLINE * 3):
        done = await anyio.run_process([sys.executable, "-c", code], check=False)

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["3", "()"]
    assert not (short_dir / "t.sock").exists()
