"""`run --control ADDRESS` / `--no-control`: where the endpoint is served, with which token."""

from __future__ import annotations

import argparse
import logging
import os
import stat
from pathlib import Path

import pytest

from servicedeck.cli._command import CliExit
from servicedeck.cli._control import add_control_arguments, control_args, plan_control
from servicedeck.control import ControlAddress


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_control_arguments(parser)
    return parser.parse_args(argv)


def test_run_serves_on_the_state_directorys_socket_by_default(tmp_path: Path) -> None:
    plan = plan_control(options(), tmp_path)

    assert plan.address == ControlAddress("unix", path=str(tmp_path / "servicedeck.sock"))
    assert plan.token is None


def test_no_control_serves_nothing(tmp_path: Path) -> None:
    assert plan_control(options("--no-control"), tmp_path).address is None
    assert control_args(options("--no-control")) == ["--no-control"]


def test_control_and_no_control_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        options("--control", "unix:/x.sock", "--no-control")

    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_address_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CliExit) as raised:
        plan_control(options("--control", "http://0.0.0.0:80"), tmp_path)

    assert raised.value.status == 2
    assert "--control: control address 'http://0.0.0.0:80' has the scheme 'http'" in (
        capsys.readouterr().err
    )


def test_tcp_other_machines_reach_needs_the_token_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CliExit) as raised:
        plan_control(options("--control", "tcp://0.0.0.0:8484"), tmp_path)

    assert raised.value.status == 1
    error = capsys.readouterr().err
    assert "'tcp://0.0.0.0:8484' can be reached from other machines" in error
    assert "SERVICEDECK_CONTROL_TOKEN" in error
    assert not (tmp_path / "control.token").exists()


def test_tcp_uses_the_token_variable(tmp_path: Path) -> None:
    os.environ["SERVICEDECK_CONTROL_TOKEN"] = "from-the-environment"

    plan = plan_control(options("--control", "tcp://0.0.0.0:8484"), tmp_path)

    assert plan.token == "from-the-environment"
    assert not (tmp_path / "control.token").exists()


def test_tcp_on_loopback_generates_a_private_token_printed_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "servicedeck.cli")
    state = tmp_path / "state"

    first = plan_control(options("--control", "tcp://127.0.0.1:8484"), state)
    second = plan_control(options("--control", "tcp://127.0.0.1:8484"), state)

    token_file = state / "control.token"
    assert first.token is not None
    assert first.token == second.token == token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    printed = [r.getMessage() for r in caplog.records if first.token in r.getMessage()]
    assert len(printed) == 1
    assert str(token_file) in printed[0]
    assert control_args(options("--control", "tcp://127.0.0.1:8484")) == [
        "--control",
        "tcp://127.0.0.1:8484",
    ]
