"""`servicedeck ls`: the table, the JSON form, settings errors and their exit status."""

from __future__ import annotations

import json

import pytest
from support.generated import services_module

from .conftest import DEADLINE, ServiceDeck

LS_KEYS = [
    "name",
    "class",
    "kind",
    "markers",
    "enabled",
    "enabled_source",
    "environment_variable",
    "loop_seconds",
    "description",
    "error",
]


def test_ls_json_lists_the_demo_services_with_the_documented_schema(sd: ServiceDeck) -> None:
    result = sd("ls", "--output", "json")

    assert result.status == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == [
        "Heartbeat",
        "FlakyReaper",
        "SlowReport",
        "TelemetryUploader",
        "LateRunsMonitor",
        "EventDistributor",
    ]
    assert all(list(row) == LS_KEYS for row in rows)
    by_name = {row["name"]: row for row in rows}
    assert by_name["Heartbeat"] == {
        "name": "Heartbeat",
        "class": "servicedeck.demo.Heartbeat",
        "kind": "loop",
        "markers": [],
        "enabled": True,
        "enabled_source": "default",
        "environment_variable": "SERVICEDECK_SERVICES_HEARTBEAT_ENABLED",
        "loop_seconds": 0.5,
        "description": "Beats twice a second and publishes each beat to the event stream.",
        "error": None,
    }
    assert by_name["TelemetryUploader"]["enabled"] is False
    assert by_name["LateRunsMonitor"]["environment_variable"] == "DEMO_LATE_RUNS_ENABLED"
    distributor = by_name["EventDistributor"]
    assert (distributor["kind"], distributor["markers"]) == ("service", ["all-servers"])
    assert distributor["loop_seconds"] is None


def test_ls_json_shows_where_enabled_came_from(sd: ServiceDeck) -> None:
    result = sd("ls", "-o", "json", SERVICEDECK_SERVICES_HEARTBEAT_ENABLED="false")

    heartbeat = json.loads(result.stdout)[0]
    assert (heartbeat["enabled"], heartbeat["enabled_source"]) == (False, "env")


def test_ls_table_has_one_line_per_service_and_says_where_they_came_from(
    sd: ServiceDeck,
) -> None:
    result = sd("ls")

    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "built-in demo" in lines[0]
    assert lines[1].split() == ["Name", "Kind", "Enabled", "Env", "var", "Interval", "Description"]
    heartbeat = next(line for line in lines if line.startswith(" Heartbeat"))
    assert "SERVICEDECK_SERVICES_HEARTBEAT_ENABLED" in heartbeat
    assert "0.5 s" in heartbeat
    assert heartbeat.rstrip().endswith("event stream.")
    telemetry = next(line for line in lines if "TelemetryUploader" in line)
    assert telemetry.split()[2] == "no"
    assert all(line == line.rstrip() for line in lines)


def test_ls_settings_error_row_shows_the_error_and_exits_1(sd: ServiceDeck) -> None:
    env = {"SERVICEDECK_SERVICES_TICKER_ENABLED": "maybe"}

    table = sd("ls", "services.py", **env)
    as_json = sd("ls", "services.py", "-o", "json", **env)

    assert table.status == 1
    ticker = next(line for line in table.stdout.splitlines() if "Ticker" in line)
    assert "error" in ticker
    assert "SERVICEDECK_SERVICES_TICKER_ENABLED='maybe'" in ticker
    assert as_json.status == 1
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows["Ticker"]["enabled"] is None
    assert "SERVICEDECK_SERVICES_TICKER_ENABLED='maybe'" in rows["Ticker"]["error"]
    assert rows["Stubborn"]["error"] is None  # the others are listed as usual
    assert "Traceback" not in table.stderr


def test_ls_init_error_row_shows_the_error_and_exits_1(sd: ServiceDeck) -> None:
    sd.write(
        "broken_init.py",
        """
        from servicedeck import LoopService

        class NeedsConfig(LoopService):
            def __init__(self) -> None:
                raise RuntimeError("no database URL")

            async def run_once(self) -> None: ...
        """,
    )

    result = sd("ls", "broken_init.py", "-o", "json")
    debug = sd("ls", "broken_init.py", "--debug")

    assert result.status == 1
    (row,) = json.loads(result.stdout)
    assert row["error"] == "__init__ failed: RuntimeError: no database URL"
    assert "Traceback" not in result.stderr
    assert debug.status == 1
    assert "RuntimeError: no database URL" in debug.stderr.splitlines()[-1]  # the traceback


def test_ls_rejects_an_unknown_output_format(sd: ServiceDeck) -> None:
    result = sd("ls", "--output", "xml")

    assert result.status == 2
    assert "invalid choice: 'xml'" in result.stderr


def test_ls_does_not_import_textual_nor_the_http_stack(sd: ServiceDeck) -> None:
    code = (
        "import sys; from servicedeck.cli import main; status = main(['ls', '-o', 'json']); "
        "print('textual' in sys.modules, 'starlette' in sys.modules, 'httpx' in sys.modules, "
        "status, file=sys.stderr)"
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=sd.cwd,
        env=sd.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert done.stderr.split() == ["False", "False", "False", "0"]


# -- hardening (issue 11): pipes, markup, narrow terminals, what is known despite errors --

SHOP_PY = '''
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicedeck import LoopService, ServicesBaseSetting


class ShopSettings(ServicesBaseSetting):
    model_config = SettingsConfigDict(env_prefix="shop_")

    loop_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = 100


class ShopSync(LoopService):
    """Syncs the shop."""

    @classmethod
    def service_settings(cls) -> ShopSettings:
        return ShopSettings()

    async def run_once(self) -> None: ...
'''

MARKUP_PY = '''
from servicedeck import LoopService


class Closing(LoopService):
    """[/bold] closes what was never opened."""

    name = "[/bold]"

    async def run_once(self) -> None: ...


class Red(LoopService):
    """[red]x[/] is not red here."""

    name = "[red]x[/]"

    async def run_once(self) -> None: ...
'''


def in_a_terminal(sd: ServiceDeck, *args: str, columns: int, **env: str) -> tuple[int, str]:
    """Run `servicedeck ARGS` with stdout a terminal `columns` wide; its status and output
    (colours removed)."""
    import fcntl
    import os
    import pty
    import re
    import struct
    import subprocess
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        sd.argv(*args),
        cwd=sd.cwd,
        env={**sd.env, "TERM": "xterm", **env},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    status = proc.wait(timeout=DEADLINE)
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    return status, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_ls_into_a_reader_that_leaves_early_exits_quietly(sd: ServiceDeck) -> None:
    import subprocess

    sd.write("many.py", services_module(1500))  # ~140 kB: more than a pipe holds
    proc = subprocess.Popen(
        sd.argv("ls", "many.py"),
        cwd=sd.cwd,
        env=sd.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    errors = proc.stderr.read()
    status = proc.wait(timeout=DEADLINE)

    assert first.startswith(b"Available Services")
    assert errors == b""
    assert status == 141  # as a tool killed by SIGPIPE; never a traceback


def test_ls_shows_names_and_docstrings_literally_never_as_markup(sd: ServiceDeck) -> None:
    sd.write("markup.py", MARKUP_PY)

    piped = sd("ls", "markup.py")
    status, terminal = in_a_terminal(sd, "ls", "markup.py", columns=160)

    assert piped.status == 0, piped.stderr
    assert status == 0
    for output in (piped.stdout, terminal):
        assert " [/bold] " in output
        assert "[/bold] closes what was never opened." in output
        assert " [red]x[/] " in output
        assert "[red]x[/] is not red here." in output


def test_ls_in_a_pipe_is_one_line_per_service_however_long(sd: ServiceDeck) -> None:
    sd.write("long.py", services_module(3, doc="{i} " + "very long words " * 200))

    result = sd("ls", "long.py")

    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 + 3  # the title, the header, a line per service
    assert all(line.rstrip().endswith("words") for line in lines[2:])


def test_ls_in_a_narrow_terminal_still_shows_why_a_service_fails(sd: ServiceDeck) -> None:
    env = {"SERVICEDECK_SERVICES_TICKER_ENABLED": "maybe"}

    status, output = in_a_terminal(sd, "ls", "services.py", columns=80, **env)
    piped = sd("ls", "services.py", **env)

    assert status == 1
    words = " ".join(output.split())
    reason = (
        "SERVICEDECK_SERVICES_TICKER_ENABLED='maybe': Input should be a valid boolean, "
        "unable to interpret input (expected bool)"
    )
    assert f"Ticker: invalid settings for TickerSettings: {reason}" in words
    assert all(len(line) <= 80 for line in output.splitlines())
    ticker = next(line for line in piped.stdout.splitlines() if line.startswith(" Ticker "))
    assert reason in ticker


@pytest.mark.parametrize(
    ("env", "enabled", "source"),
    [
        ({"SHOP_BATCH_SIZE": "lots"}, True, "default"),  # enabled is known: not the bad one
        ({"SHOP_BATCH_SIZE": "lots", "SHOP_ENABLED": "false"}, False, "env"),
        ({"SHOP_ENABLED": "maybe"}, None, "env"),  # enabled is the bad one: unknown
    ],
)
def test_ls_with_a_settings_error_shows_what_is_known_and_marks_what_is_not(
    sd: ServiceDeck, env: dict[str, str], enabled: bool | None, source: str
) -> None:
    sd.write("shop.py", SHOP_PY)

    as_json = sd("ls", "shop.py", "-o", "json", SHOP_LOOP_SECONDS="2", **env)
    table = sd("ls", "shop.py", SHOP_LOOP_SECONDS="2", **env)

    assert as_json.status == table.status == 1
    (row,) = json.loads(as_json.stdout)
    assert (row["enabled"], row["enabled_source"]) == (enabled, source)
    assert row["loop_seconds"] == 2.0  # configured, valid: not the class default
    assert row["error"].startswith("invalid settings for ShopSettings: SHOP_")
    line = table.stdout.splitlines()[2]
    shown = {True: "yes", False: "no (env)", None: "?"}[enabled]
    assert line.startswith(f" ShopSync  loop  {shown}  ")
    assert "  2 s  " in line
    assert "error: invalid settings for ShopSettings" in line


def test_ls_with_an_invalid_interval_marks_the_interval_unknown(sd: ServiceDeck) -> None:
    sd.write("shop.py", SHOP_PY)

    as_json = sd("ls", "shop.py", "-o", "json", SHOP_LOOP_SECONDS="-2")
    table = sd("ls", "shop.py", SHOP_LOOP_SECONDS="-2")

    (row,) = json.loads(as_json.stdout)
    assert (row["enabled"], row["loop_seconds"]) == (True, None)
    assert "SHOP_LOOP_SECONDS='-2'" in row["error"]
    assert table.stdout.splitlines()[2].split()[:5] == [
        "ShopSync", "loop", "yes", "SHOP_ENABLED", "?",
    ]  # fmt: skip


def test_ls_a_target_that_exits_at_import_is_named_exit_2(sd: ServiceDeck) -> None:
    sd.write("exits.py", "import sys\n\nsys.exit(3)\n")

    result = sd("ls", "exits.py")

    assert result.status == 2  # not 3, silently
    assert result.stderr == (
        "servicedeck: error: could not import target 'exits.py': SystemExit(3) was raised at "
        f"import, in {sd.cwd / 'exits.py'}:3; remove the sys.exit() from the module's import "
        "(run with --debug to see the traceback).\n"
    )


def test_ls_a_system_exit_in_init_is_that_services_error(sd: ServiceDeck) -> None:
    sd.write(
        "needs_db.py",
        """
        import sys

        from servicedeck import LoopService

        class NeedsDb(LoopService):
            def __init__(self) -> None:
                sys.exit("no DATABASE_URL")

            async def run_once(self) -> None: ...
        """,
    )

    result = sd("ls", "needs_db.py", "services.py:Ticker", "-o", "json")

    assert result.status == 1  # listed, not ended silently
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["NeedsDb"]["error"] == "__init__ failed: SystemExit: no DATABASE_URL"
    assert rows["Ticker"]["error"] is None
