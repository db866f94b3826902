"""Who may reach the endpoint: file permissions on a Unix socket, a bearer token on TCP."""

from __future__ import annotations

import logging
import os
import socket
import stat
from pathlib import Path

import httpx
import pytest
from support.served import Quiet, client_for, serving

from servicedeck.control import ControlAddress
from servicedeck.control._address import TOKEN_FILE_NAME, create_token, read_token
from servicedeck.control.server import AddressInUseError, serve_control
from servicedeck.controller import ServiceController

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-t0ken-for-the-test"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


async def test_socket_is_0600_in_a_0700_folder_and_removed_on_exit(short_dir: Path) -> None:
    state = short_dir / "state"
    path = state / "s.sock"
    async with ServiceController([Quiet]) as controller:
        async with serve_control(controller, f"unix:{path}"):
            assert stat.S_ISSOCK(path.lstat().st_mode)
            assert mode(path) == 0o600
            assert mode(state) == 0o700

        assert not path.exists()


async def test_stale_socket_is_replaced(short_dir: Path) -> None:
    path = short_dir / "s.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays; nothing listens on it
    async with (
        ServiceController([Quiet]) as controller,
        serve_control(controller, f"unix:{path}"),
        client_for(str(path)) as client,
    ):
        assert (await client.get("/livez")).status_code == 200


async def test_live_socket_is_never_taken_over(short_dir: Path) -> None:
    async with serving([Quiet], short_dir) as served:
        async with ServiceController([Quiet]) as other:
            with pytest.raises(AddressInUseError, match="another process serves"):
                async with serve_control(other, f"unix:{served.socket}"):
                    pass

        assert (await served.client.get("/readyz")).status_code == 200


async def test_a_file_that_is_not_a_socket_is_left_alone(short_dir: Path) -> None:
    path = short_dir / "s.sock"
    path.write_text("precious")
    async with ServiceController([Quiet]) as controller:
        with pytest.raises(AddressInUseError, match="is not a socket"):
            async with serve_control(controller, f"unix:{path}"):
                pass

    assert path.read_text() == "precious"


async def test_tcp_without_a_token_is_refused() -> None:
    async with ServiceController([Quiet]) as controller:
        with pytest.raises(ValueError, match="needs a bearer token"):
            async with serve_control(controller, "tcp://127.0.0.1:0"):
                pass


async def test_tcp_needs_the_right_token_but_not_for_probes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "servicedeck.control")
    async with ServiceController([Quiet]) as controller:
        await controller.start_enabled()
        async with serve_control(controller, "tcp://127.0.0.1:0", token=TOKEN) as server:
            url = server.address.url
            async with httpx.AsyncClient(base_url=url) as client:
                anonymous = await client.get("/v1/services")
                wrong = await client.get("/v1/services", headers={"Authorization": "Bearer not-it"})
                right = await client.get(
                    "/v1/services", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                command = await client.post("/v1/services/Quiet/pause")
                metrics = await client.get("/metrics")
                probes = [(await client.get(path)).status_code for path in ("/livez", "/readyz")]

    assert server.address.port > 0
    for refused in (anonymous, wrong, command, metrics):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in refused.json()["message"]
    assert right.status_code == 200
    assert probes == [200, 200]
    assert not controller.snapshot("Quiet").status.paused  # the refused command did nothing
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 4
    assert any("wrong token" in message for message in refusals)
    assert all("not-it" not in message and TOKEN not in message for message in refusals)


def test_token_file_is_made_private_once(tmp_path: Path) -> None:
    state = tmp_path / "state"

    token, created = create_token(state)
    again, created_again = create_token(state)

    assert created
    assert not created_again
    assert token == again
    assert len(token) >= 32
    assert mode(state / TOKEN_FILE_NAME) == 0o600
    assert mode(state) == 0o700
    assert read_token(state) == token


def test_token_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    create_token(tmp_path)
    os.environ["SERVICEDECK_CONTROL_TOKEN"] = TOKEN

    assert read_token(tmp_path) == TOKEN


def test_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE_NAME
    path.write_text("leaked\n")
    path.chmod(0o644)

    with pytest.raises(PermissionError, match="can be read by others"):
        create_token(tmp_path)


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("tcp://127.0.0.1:8484", True),
        ("tcp://localhost:8484", True),
        ("tcp://[::1]:8484", True),
        ("tcp://0.0.0.0:8484", False),
        ("tcp://10.1.2.3:8484", False),
        ("tcp://example.internal:8484", False),
        ("unix:/run/app.sock", True),
    ],
)
def test_address_knows_what_only_this_machine_reaches(text: str, loopback: bool) -> None:
    assert ControlAddress.parse(text).is_loopback is loopback


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("http://127.0.0.1:80", "has the scheme 'http'"),
        ("tcp://127.0.0.1", "needs a host and a port"),
        ("tcp://127.0.0.1:99999", "is not valid"),
        ("unix:", "has no path"),
        ("", "is empty"),
    ],
)
def test_bad_address_gets_one_sentence_naming_it(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as raised:
        ControlAddress.parse(text)

    assert repr(text) in str(raised.value) or text == ""
    assert "unix:PATH or tcp://HOST:PORT" in str(raised.value)


def test_address_round_trips_through_its_text(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    for text in ("tcp://127.0.0.1:8484", "tcp://[::1]:9", f"unix:{tmp_path}/x.sock"):
        assert str(ControlAddress.parse(text)) == text
    # A state directory names its socket.
    assert ControlAddress.parse(tmp_path / "state").path == str(
        tmp_path / "state" / "servicedeck.sock"
    )


async def test_an_error_in_the_served_block_leaves_as_itself(short_dir: Path) -> None:
    async with ServiceController([Quiet]) as controller:
        with pytest.raises(LookupError, match="from the block"):
            async with serve_control(controller, f"unix:{short_dir}/s.sock"):
                raise LookupError("from the block")

        assert not (short_dir / "s.sock").exists()
