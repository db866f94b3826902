"""`servicedeck run`'s control endpoint, and `servicedeck status` reading it, as processes."""

from __future__ import annotations

import json
import signal
import socket
import stat

import pytest

from .conftest import Running, ServiceDeck

FAILING = '''
from servicedeck import LoopService


class Broken(LoopService):
    """Every loop raises."""

    loop_seconds = 0.05

    async def run_once(self) -> None:
        raise LookupError("order 7 has no customer")
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def started(sd: ServiceDeck, *args: str) -> Running:
    run = sd.start("run", *args)
    run.wait_for(r"Started \d service\(s\)")
    return run


def stop(run: Running) -> None:
    run.signal(signal.SIGTERM)
    assert run.finish() == 0, run.output()


def test_run_serves_a_private_socket_that_status_reads_and_removes_it(sd: ServiceDeck) -> None:
    run = started(sd, "services.py:Ticker")
    socket_path = sd.state_dir / "servicedeck.sock"
    try:
        table = sd("status")
        as_json = sd("status", "--output", "json")
    finally:
        stop(run)

    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    assert f"Control endpoint on unix:{socket_path}" in run.output()
    assert table.status == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["Process", "Service", "State", "Health"]
    assert f":{run.proc.pid}" in row
    assert "Ticker" in row
    assert "healthy" in row
    [answer] = json.loads(as_json.stdout)
    assert answer["reachable"] is True
    assert answer["healthy"] is True
    assert answer["process"]["pid"] == run.proc.pid
    assert [s["name"] for s in answer["services"]] == ["Ticker"]
    assert answer["services"][0]["status"]["loop_count"] >= 1
    assert not socket_path.exists()
    after = sd("status")
    assert after.status == 2
    assert "cannot be reached: no process serves there (no socket)" in after.stdout


def test_run_socket_is_only_its_owners(sd: ServiceDeck) -> None:
    run = started(sd, "services.py:Ticker")
    try:
        mode = stat.S_IMODE((sd.state_dir / "servicedeck.sock").stat().st_mode)
    finally:
        stop(run)

    assert mode == 0o600


def test_status_is_1_when_a_service_is_unhealthy(sd: ServiceDeck) -> None:
    sd.write("broken.py", FAILING)
    run = started(sd, "services.py:Ticker", "broken.py:Broken")
    run.wait_for("Broken: loop 1 failed")
    try:
        result = sd("status", "--output", "json")
    finally:
        stop(run)

    assert result.status == 1
    [answer] = json.loads(result.stdout)
    assert answer["healthy"] is False
    broken = next(s for s in answer["services"] if s["name"] == "Broken")
    assert broken["health"] == "failing"
    assert broken["status"]["last_error"]["type_name"] == "LookupError"


def test_status_is_1_when_one_address_of_several_does_not_answer(sd: ServiceDeck) -> None:
    run = started(sd, "services.py:Ticker")
    try:
        result = sd("status", str(sd.state_dir), f"unix:{sd.cwd}/nobody.sock")
    finally:
        stop(run)

    assert result.status == 1
    assert "Ticker" in result.stdout
    assert f"unix:{sd.cwd}/nobody.sock cannot be reached" in result.stdout


def test_status_of_a_bad_address_is_a_usage_error(sd: ServiceDeck) -> None:
    result = sd("status", "tcp://nowhere")

    assert result.status == 2
    assert "control address 'tcp://nowhere' needs a host and a port" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_no_control_serves_nothing(sd: ServiceDeck) -> None:
    run = started(sd, "services.py:Ticker", "--no-control")
    try:
        served = (sd.state_dir / "servicedeck.sock").exists()
    finally:
        stop(run)

    assert not served
    assert "Control endpoint" not in run.output()


def test_run_on_tcp_for_other_machines_needs_the_token_variable(sd: ServiceDeck) -> None:
    result = sd("run", "services.py:Ticker", "--control", f"tcp://0.0.0.0:{free_port()}")

    assert result.status == 1
    assert "can be reached from other machines" in result.stderr
    assert "SERVICEDECK_CONTROL_TOKEN" in result.stderr


def test_run_on_loopback_tcp_makes_a_token_that_status_sends(sd: ServiceDeck) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    run = started(sd, "services.py:Ticker", "--control", address)
    try:
        with_token = sd("status", address)  # reads the state directory's token file
        wrong = sd("status", address, SERVICEDECK_CONTROL_TOKEN="not-the-token")
    finally:
        stop(run)

    token_file = sd.state_dir / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() in run.output()  # printed, once
    assert with_token.status == 0, with_token.stdout + with_token.stderr
    assert "Ticker" in with_token.stdout
    assert wrong.status == 2
    assert "refused the token" in wrong.stdout


def test_background_run_serves_where_it_was_told(sd: ServiceDeck) -> None:
    socket_path = sd.cwd / "bg.sock"
    started_bg = sd("run", "services.py:Ticker", "--background", "--control", f"unix:{socket_path}")
    try:
        assert started_bg.status == 0, started_bg.stderr
        status = sd("status", str(socket_path))
    finally:
        stopped = sd("stop")

    assert status.status == 0, status.stdout + status.stderr
    assert "Ticker" in status.stdout
    assert stopped.status == 0
    assert not socket_path.exists()


@pytest.mark.parametrize("taken", ["socket", "file"])
def test_run_refuses_an_address_it_cannot_take(sd: ServiceDeck, taken: str) -> None:
    socket_path = sd.cwd / "taken.sock"
    holder = None
    if taken == "socket":
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        holder.bind(str(socket_path))
        holder.listen()
    else:
        socket_path.write_text("not a socket")
    try:
        result = sd("run", "services.py:Ticker", "--control", f"unix:{socket_path}")
    finally:
        if holder is not None:
            holder.close()

    assert result.status == 1
    expected = "another process serves" if taken == "socket" else "is not a socket"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_status_table_shows_no_loop_counts_for_a_service_that_does_not_loop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from servicedeck.cli import status as status_command
    from servicedeck.control import (
        ControlAddress,
        Health,
        ProcessInfo,
        ServiceSnapshot,
        ServiceState,
        ServiceStatus,
    )

    relay = ServiceSnapshot(
        name="Relay",
        qualname="shop.Relay",
        kind="service",
        markers=(),
        description="",
        enabled=True,
        enabled_source="default",
        env_var="SERVICEDECK_SERVICES_RELAY_ENABLED",
        settings=(),
        settings_error=None,
        status=ServiceStatus(name="Relay", state=ServiceState.RUNNING),
        health=Health.HEALTHY,
        has_task=True,
    )
    process = ProcessInfo(pid=7, host="web", root="/", framework_path="/x", version="1")
    answer = status_command._Answer(
        address=ControlAddress.parse("unix:/tmp/x.sock"),
        error=None,
        process=process,
        now=10.0,
        services=[relay],
    )

    status_command._print_table([answer])

    [row] = [line for line in capsys.readouterr().out.splitlines() if "Relay" in line]
    assert row.split()[:6] == ["web:7", "Relay", "running", "healthy", "-", "-"]
