"""`RemoteControl` and `CombinedControl`: the protocol over a socket, as a console uses it."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import anyio
import pytest
from support import wait_until
from support.served import Failing, Quiet, serving

from servicedeck.control import (
    CombinedControl,
    Command,
    CommandError,
    ServiceControl,
    ServiceState,
)
from servicedeck.control.remote import RemoteControl
from servicedeck.control.server import serve_control
from servicedeck.controller import ServiceController

pytestmark = pytest.mark.anyio


def comparable(control: ServiceControl, name: str) -> object:
    """What a view shows of a service, without the fields a client adds."""
    return dataclasses.replace(control.snapshot(name), unreachable=None, process=None)


async def test_remote_reads_what_the_process_has_and_checks_the_same(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir) as served:
        controller = served.controller
        async with RemoteControl(f"unix:{served.socket}") as remote:
            await wait_until(
                remote,
                lambda: (
                    remote.snapshot("Failing").status.error_count > 0
                    and remote.snapshot("Quiet").status.loop_count == 1
                ),
            )

            assert remote.names == ("Quiet", "Failing")
            assert remote.process == controller.process
            assert remote.epoch == controller.epoch
            assert remote.unreachable == ()
            assert not remote.owns_services
            assert abs(remote.now() - controller.now()) < 0.5
            for name in remote.names:
                for command in Command:
                    if command is Command.DEBUG:  # pdb needs the serving process's terminal
                        assert "terminal" in (remote.check(name, command) or "")
                        continue
                    assert remote.check(name, command) == controller.check(name, command)
            assert remote.snapshot("Failing").status.last_error == (
                controller.snapshot("Failing").status.last_error
            )


async def test_remote_commands_apply_there_and_show_at_once(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        controller = served.controller
        async with RemoteControl(f"unix:{served.socket}") as remote:
            await remote.pause("Quiet")
            paused_here = remote.snapshot("Quiet").status.paused  # from the answer itself
            await remote.step("Quiet", 3)

            assert paused_here
            assert controller.snapshot("Quiet").status.paused
            assert remote.snapshot("Quiet").status.loop_count == 4
            assert controller.snapshot("Quiet").status.loop_count == 4
            stack = await remote.where("Quiet")
            assert stack is not None
            assert stack.service == "Quiet"
            report = await remote.restart("Quiet")
            assert report.was_running


async def test_a_remote_asking_for_fewer_changes_still_follows_them(short_dir: Path) -> None:
    """`events_interval` (an attached console asks for its refresh interval): the
    process publishes that often for it, and its changes still arrive."""
    async with serving([Quiet], short_dir) as served:
        feed = served.server.endpoint.feed
        async with RemoteControl(f"unix:{served.socket}", events_interval=0.5) as remote:
            await wait_until(remote, lambda: feed.listeners == 1)
            assert feed.publishing_interval == 0.5
            await served.controller.step("Quiet", 2)  # changed there, not through it
            await wait_until(remote, lambda: remote.snapshot("Quiet").status.loop_count == 3)


async def test_remote_errors_are_the_protocols(short_dir: Path) -> None:
    async with (
        serving([Quiet], short_dir) as served,
        RemoteControl(f"unix:{served.socket}") as remote,
    ):
        with pytest.raises(CommandError, match="Quiet is not paused"):
            await remote.resume("Quiet")
        with pytest.raises(KeyError, match="no service named 'Nobody'"):
            await remote.pause("Nobody")
        with pytest.raises(KeyError, match="known: Quiet"):
            remote.snapshot("Nobody")


async def test_remote_fetches_logs_when_new_lines_arrived(short_dir: Path) -> None:
    async with (
        serving([Quiet], short_dir) as served,
        RemoteControl(f"unix:{served.socket}") as remote,
    ):
        await remote.step("Quiet", 2)

        await wait_until(remote, lambda: len(remote.logs("Quiet")) == 3)

        assert [line.message for line in remote.logs("Quiet")] == ["loop 1", "loop 2", "loop 3"]


async def test_leaving_a_remote_control_leaves_the_services_running(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        async with RemoteControl(f"unix:{served.socket}"):
            pass

        assert served.controller.snapshot("Quiet").has_task


async def test_remote_is_unreachable_until_the_process_serves_then_recovers(
    short_dir: Path,
) -> None:
    path = short_dir / "late.sock"
    async with RemoteControl(f"unix:{path}", connect_timeout=0.5) as remote:
        assert remote.unreachable
        assert "no process serves there" in remote.unreachable[0]
        assert remote.names == ()

        async with ServiceController([Quiet]) as controller:
            await controller.start_enabled()
            async with serve_control(controller, f"unix:{path}"):
                await wait_until(remote, lambda: not remote.unreachable)

                assert remote.names == ("Quiet",)


async def test_lost_process_marks_every_service_and_refuses_commands(short_dir: Path) -> None:
    path = short_dir / "s.sock"
    async with ServiceController([Quiet]) as controller:
        await controller.start_enabled()
        async with RemoteControl(f"unix:{path}", connect_timeout=0.5) as remote:
            async with serve_control(controller, f"unix:{path}"):
                await wait_until(remote, lambda: not remote.unreachable)
                seen = comparable(remote, "Quiet")

            await wait_until(remote, lambda: bool(remote.unreachable))

            why = remote.snapshot("Quiet").unreachable
            assert why is not None
            assert why.startswith(f"unix:{path} cannot be reached")
            assert comparable(remote, "Quiet") == seen  # the last state seen, kept
            assert remote.check("Quiet", Command.PAUSE) == why
            with pytest.raises(CommandError, match="cannot be reached"):
                await remote.pause("Quiet")

            async with serve_control(controller, f"unix:{path}"):
                await wait_until(remote, lambda: not remote.unreachable)

                assert remote.snapshot("Quiet").unreachable is None
                assert remote.check("Quiet", Command.PAUSE) is None


async def test_two_clients_sending_conflicting_commands_see_one_final_state(
    short_dir: Path,
) -> None:
    async with serving([Quiet], short_dir) as served:
        controller = served.controller
        address = f"unix:{served.socket}"
        async with RemoteControl(address) as one, RemoteControl(address) as two:
            await one.pause("Quiet")
            await wait_until(
                controller, lambda: controller.snapshot("Quiet").status.state is ServiceState.PAUSED
            )
            before = controller.snapshot("Quiet").status.loop_count

            async def send(remote: RemoteControl, loops: int, then: str) -> None:
                await remote.step("Quiet", loops)
                with contextlib.suppress(CommandError):
                    await getattr(remote, then)("Quiet")

            async with anyio.create_task_group() as tg:
                tg.start_soon(send, one, 5, "resume")
                tg.start_soon(send, two, 7, "pause")

            final = controller.snapshot("Quiet")

            def agreed() -> bool:
                return all(
                    comparable(r, "Quiet") == comparable(controller, "Quiet") for r in (one, two)
                )

            await wait_until(one, agreed)

            # Each step ran exactly once, whichever came first.
            assert final.status.loop_count == before + 12


async def test_combined_control_tells_replicas_apart(short_dir: Path) -> None:
    first, second = short_dir / "a", short_dir / "b"
    first.mkdir()
    second.mkdir()
    async with serving([Quiet], first) as a, serving([Quiet], second) as b:
        combined = CombinedControl(
            [RemoteControl(f"unix:{a.socket}"), RemoteControl(f"unix:{b.socket}")]
        )
        async with combined:
            await combined.pause("Quiet@2")

            assert combined.names == ("Quiet@1", "Quiet@2")
            assert combined.snapshot("Quiet@2").name == "Quiet@2"
            assert combined.snapshot("Quiet@2").process == b.controller.process
            assert combined.snapshot("Quiet@1").process == a.controller.process
            assert b.controller.snapshot("Quiet").status.paused
            assert not a.controller.snapshot("Quiet").status.paused
            assert combined.check("Quiet@2", Command.RESUME) is None
            assert combined.check("Quiet@1", Command.RESUME) == "Quiet is not paused"
            assert not combined.owns_services
            with pytest.raises(KeyError, match="NAME@N"):
                combined.snapshot("Quiet")
            with pytest.raises(KeyError, match="NAME@N"):
                combined.snapshot("Quiet@3")
