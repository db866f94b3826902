"""The command's surface: `--help`, `--version`, `python -m servicedeck`, each command's
help with an example, usage errors, and opening the console (with a stand-in app)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from servicedeck import __version__
from servicedeck.cli import main, parse_args

from .conftest import ServiceDeck


def test_help_lists_the_commands_and_examples_without_importing_textual(
    sd: ServiceDeck,
) -> None:
    result = sd(
        "--help", PYTHONPROFILEIMPORTTIME="1"
    )  # -X importtime: every imported module is named on stderr

    assert result.status == 0
    assert result.stdout.startswith("usage: servicedeck [-h] [--version] [--paused]")
    for command in ("ls ", "run ", "stop ", "status "):
        assert f"\n  {command}" in result.stdout
    assert "examples:" in result.stdout
    imported = result.stderr
    assert "| servicedeck.cli" in imported
    assert "textual" not in imported
    assert "| rich" not in imported
    # Nor the control endpoint's stack: the commands that serve or attach load it.
    for stack in ("starlette", "hypercorn", "httpx", "prometheus_client", "orjson"):
        assert f"| {stack}" not in imported, stack


def test_command_line_modules_do_not_import_textual(sd: ServiceDeck) -> None:
    code = (
        "import sys, servicedeck.cli, servicedeck.cli._serve, servicedeck.cli._daemon, "
        "servicedeck.discovery; print('textual' in sys.modules)"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("command", ["ls", "run", "stop", "status"])
def test_every_command_has_help_with_an_example(sd: ServiceDeck, command: str) -> None:
    result = sd(command, "--help")

    assert result.status == 0
    assert result.stdout.startswith(f"usage: servicedeck {command}")
    examples = result.stdout.split("examples:\n", 1)[1]
    assert f"servicedeck {command}" in examples


def test_version_prints_the_package_version(sd: ServiceDeck) -> None:
    result = sd("--version")

    assert (result.status, result.stdout) == (0, f"servicedeck {__version__}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["run", "--stop-timeout", "-1"], "'-1': Input should be greater than 0"),
        (["stop", "--timeout", "soon"], "'soon': Input should be a valid number"),
        (["ls", "--paused"], "unrecognized arguments: --paused"),
        (["--refresh", "0"], "argument --refresh: '0': Input should be greater than 0"),
        (["attach", "--refresh", "soon"], "'soon': Input should be a valid number"),
    ],
)
def test_usage_errors_exit_2_naming_the_bad_value(
    sd: ServiceDeck, args: list[str], message: str
) -> None:
    result = sd(*args)

    assert result.status == 2
    assert message in result.stderr


def test_an_invalid_servicedeck_variable_exits_2_naming_it(sd: ServiceDeck) -> None:
    result = sd("stop", SERVICEDECK_STOP_TIMEOUT="-3")

    assert result.status == 2
    assert "SERVICEDECK_STOP_TIMEOUT='-3'" in result.stderr
    assert "fix or unset the variable" in result.stderr


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "soon"])
def test_seconds_from_the_environment_and_from_the_option_are_validated_alike(
    sd: ServiceDeck, value: str
) -> None:
    # One validation for both: SERVICEDECK_STOP_TIMEOUT=inf was accepted while
    # --stop-timeout inf was not, and then SIGTERM could never end a hung `run`.
    from_env = sd("stop", SERVICEDECK_STOP_TIMEOUT=value)
    from_option = sd("run", f"--stop-timeout={value}")

    assert from_env.status == from_option.status == 2
    assert f"SERVICEDECK_STOP_TIMEOUT={value!r}: " in from_env.stderr
    assert f"argument --stop-timeout: {value!r}: " in from_option.stderr
    reason = from_env.stderr.split(f"{value!r}: ")[1].split(" (expected")[0]
    assert reason in from_option.stderr  # the same words: the same validation
    assert "Traceback" not in from_env.stderr + from_option.stderr


@pytest.mark.parametrize("command", [["ls"], ["run", "services.py"], ["stop"]])
def test_a_dotenv_that_is_not_utf8_is_one_line_naming_the_file(
    sd: ServiceDeck, command: list[str]
) -> None:
    (sd.cwd / ".env").write_bytes(b"SERVICEDECK_LOG_LEVEL=d\xe9bug\n")

    result = sd(*command)

    assert result.status == 2
    assert result.stderr == (
        f"servicedeck: error: cannot read {str(sd.cwd / '.env')!r}: it is not UTF-8 text "
        "(byte 0xe9 at offset 23); save it as UTF-8, or remove it.\n"
    )


def test_parse_args_picks_the_parser_by_the_first_word() -> None:
    assert parse_args([]).command == ""
    assert parse_args(["myapp.jobs", "--paused"]).targets == ["myapp.jobs"]
    assert parse_args(["--debug", "ls", "a", "-o", "json"]).debug is True
    run = parse_args(["run", "./run.py", "--background"])
    assert (run.command, run.targets, run.background) == ("run", ["./run.py"], True)
    # A target spelled like a command is written as a path; after `--` it is a target.
    assert parse_args(["--", "ls"]).targets == ["ls"]


# -- the console, with a stand-in for servicedeck.tui -----------------------------------


class FakeApp:
    """Records how the command line built the console."""

    made: list[FakeApp] = []

    def __init__(
        self, controller: Any, *, start_paused: bool = False, refresh_seconds: float | None = None
    ) -> None:
        self.controller = controller
        self.start_paused = start_paused
        self.refresh_seconds = refresh_seconds
        self.ran = False
        self.return_code: int | None = None
        FakeApp.made.append(self)

    def run(self) -> None:
        self.ran = True
        self.breakpointhook = sys.breakpointhook

    @contextlib.contextmanager
    def suspend(self) -> Iterator[None]:
        yield


@pytest.fixture
def fake_console(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeApp]:
    module = types.ModuleType("servicedeck.tui")
    module.ServiceDeckApp = FakeApp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "servicedeck.tui", module)
    monkeypatch.chdir(tmp_path)  # no pyproject.toml, no targets: the demo
    FakeApp.made = []
    return FakeApp


def test_console_opens_on_the_demo_by_default(fake_console: type[FakeApp]) -> None:
    assert main([]) == 0

    (app,) = fake_console.made
    assert app.ran
    assert app.start_paused is False
    assert "Heartbeat" in app.controller.names
    assert app.refresh_seconds == 0.5


def test_console_refresh_from_the_option_or_the_environment(
    fake_console: type[FakeApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["servicedeck.demo:FlakyReaper", "--refresh", "0.25"]) == 0
    monkeypatch.setenv("SERVICEDECK_REFRESH_SECONDS", "2")
    assert main(["servicedeck.demo:FlakyReaper"]) == 0
    assert main(["servicedeck.demo:FlakyReaper", "--refresh=1"]) == 0

    assert [app.refresh_seconds for app in fake_console.made] == [0.25, 2.0, 1.0]


def test_console_paused_on_one_target(fake_console: type[FakeApp]) -> None:
    assert main(["servicedeck.demo:FlakyReaper", "--paused"]) == 0

    (app,) = fake_console.made
    assert (app.start_paused, app.controller.names) == (True, ("FlakyReaper",))


def test_console_hands_breakpoints_to_the_controller(fake_console: type[FakeApp]) -> None:
    assert main(["servicedeck.demo:FlakyReaper", "--reload"]) == 0

    (app,) = fake_console.made
    assert app.breakpointhook == app.controller.breakpointhook
    assert sys.breakpointhook is not app.controller.breakpointhook  # given back


def test_reload_without_watchfiles_is_one_line_naming_the_extra(
    fake_console: type[FakeApp], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "watchfiles" else real(name)
    )
    assert main(["servicedeck.demo:FlakyReaper", "--reload"]) == 2

    assert fake_console.made == []
    err = capsys.readouterr().err
    assert "--reload needs watchfiles" in err
    assert "pip install 'servicedeck[reload]'" in err
    assert len(err.strip().splitlines()) == 1


def test_console_bad_target_exits_2_before_any_console_opens(
    fake_console: type[FakeApp], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["no_such_module_for_servicedeck"]) == 2

    assert fake_console.made == []
    assert "could not import target 'no_such_module_for_servicedeck'" in capsys.readouterr().err


def test_console_missing_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "servicedeck.tui", None)  # import raises ImportError
    monkeypatch.chdir(tmp_path)

    assert main([]) == 1

    assert "the console could not be loaded" in capsys.readouterr().err


def test_console_interface_the_command_line_relies_on() -> None:
    import inspect

    from servicedeck.tui import ServiceDeckApp

    signature = inspect.signature(ServiceDeckApp)
    signature.bind(object(), start_paused=True, refresh_seconds=0.5)  # TypeError: it drifted
    from servicedeck.cli._settings import CliSettings

    # The command line's default (read without importing Textual) is the console's.
    assert CliSettings().refresh_seconds == ServiceDeckApp.REFRESH_SECONDS
