"""`servicedeck ls`: the table, the JSON form, settings errors and their exit status."""

from __future__ import annotations

import json

from .conftest import ServiceDeck

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
