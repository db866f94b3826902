"""Bad configuration: every wrong or out-of-range setting is named, with its value and the
type expected; one bad service never stops the others from being listed or run.

Sources: environment variables, a `.env` file, and `[tool.servicedeck]` in pyproject.toml
(which lists the services). The environment is restored after each test (monkeypatch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicedeck import LoopService, ServicesBaseSetting, ServiceSettingsError

from .conftest import DEADLINE


class ShopSettings(ServicesBaseSetting):
    model_config = SettingsConfigDict(env_prefix="shop_sync_")

    loop_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    mode: Literal["fast", "safe"] = "safe"
    hosts: list[str] = []


class ShopSync(LoopService):
    @classmethod
    def service_settings(cls) -> ShopSettings:
        return ShopSettings()

    async def run_once(self) -> None:
        pass


BAD_VALUES = [
    ("SHOP_SYNC_ENABLED", "maybe", "valid boolean", "bool"),
    ("SHOP_SYNC_LOOP_SECONDS", "soon", "valid number", "float > 0"),
    ("SHOP_SYNC_LOOP_SECONDS", "-1", "greater than 0", "float > 0"),
    ("SHOP_SYNC_BATCH_SIZE", "0", "greater than or equal to 1", "int >= 1, <= 10000"),
    ("SHOP_SYNC_BATCH_SIZE", "2.5", "valid integer", "int >= 1, <= 10000"),
    ("SHOP_SYNC_MODE", "reckless", "'fast' or 'safe'", "Literal['fast', 'safe']"),
    ("SHOP_SYNC_HOSTS", "db1,db2", "not valid JSON", 'list[str], written as JSON: ["a", "b"]'),
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SHOP_SYNC_* or SERVICEDECK_* variables, and a working folder without `.env`."""
    for name in list(os.environ):
        if name.startswith(("SHOP_SYNC_", "SERVICEDECK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("variable", "value", "says", "expected"), BAD_VALUES)
def test_a_bad_env_var_names_the_variable_the_value_and_the_expected_type(
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    says: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ServiceSettingsError) as raised:
        ShopSync.enabled()

    message = str(raised.value)
    assert f"{variable}={value!r}: " in message
    assert says in message
    assert f"(expected {expected})" in message
    assert message.endswith("Fix or unset the variable.")
    [(named, bad, _)] = raised.value.problems
    assert (named, bad) == (variable, value)


@pytest.mark.parametrize(("variable", "value", "says", "expected"), BAD_VALUES)
def test_a_bad_dotenv_value_is_named_like_an_env_var(
    clean_env: Path, variable: str, value: str, says: str, expected: str
) -> None:
    (clean_env / ".env").write_text(f"{variable}={value}\n")

    with pytest.raises(ServiceSettingsError) as raised:
        ShopSync.enabled()

    message = str(raised.value)
    assert f"{variable}={value!r}: " in message
    assert f"(expected {expected})" in message


# -- the command line: one bad service, and bad command settings -------------------------

SERVICES = '''
from servicedeck import LoopService


class Good(LoopService):
    """Runs, whatever its neighbour's settings say."""

    loop_seconds = 0.01

    async def run_once(self) -> None:
        if self.status.loop_count == 0:
            self.logger.info("good ran")
            await self.stop(block=False)


class Broken(LoopService):
    """Its enabling variable does not parse."""

    async def run_once(self) -> None:
        pass
'''


def servicedeck(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SERVICEDECK_")}
    return subprocess.run(
        [sys.executable, "-m", "servicedeck", *args],
        cwd=cwd,
        env={**clean, "SERVICEDECK_STATE_DIR": str(cwd / "state"), **env},
        capture_output=True,
        text=True,
        timeout=DEADLINE * 3,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "services.py").write_text(textwrap.dedent(SERVICES).lstrip())
    return tmp_path


@pytest.mark.parametrize("where", ["env", ".env"])
def test_ls_lists_every_service_when_one_has_a_bad_setting(project: Path, where: str) -> None:
    bad = {"SERVICEDECK_SERVICES_BROKEN_ENABLED": "maybe"}
    if where == ".env":
        (project / ".env").write_text("SERVICEDECK_SERVICES_BROKEN_ENABLED=maybe\n")
        bad = {}

    result = servicedeck(project, "ls", "services.py", "--output", "json", **bad)

    assert result.returncode == 1, "a service with an error: ls says so in its status"
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["Good"]["error"] is None
    assert rows["Good"]["enabled"] is True
    error = rows["Broken"]["error"]
    assert "SERVICEDECK_SERVICES_BROKEN_ENABLED='maybe'" in error
    assert "(expected bool)" in error


def test_run_runs_the_others_when_one_has_a_bad_setting(project: Path) -> None:
    result = servicedeck(project, "run", "services.py", SERVICEDECK_SERVICES_BROKEN_ENABLED="maybe")

    assert result.returncode == 0, result.stderr
    assert "Good: good ran" in result.stderr
    assert "Broken not started: invalid settings for BrokenSettings: " in result.stderr
    assert "SERVICEDECK_SERVICES_BROKEN_ENABLED='maybe'" in result.stderr
    assert "Started 1 service(s): Good." in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SERVICEDECK_STOP_TIMEOUT", "-1", "greater than 0 (expected float > 0)"),
        ("SERVICEDECK_STOP_TIMEOUT", "soon", "as a number (expected float > 0)"),
        ("SERVICEDECK_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ],
)
def test_run_refuses_a_bad_command_setting_naming_it(
    project: Path, variable: str, value: str, says: str
) -> None:
    result = servicedeck(project, "run", "services.py", **{variable: value})

    assert result.returncode == 2
    assert f"{variable}={value!r}: " in result.stderr
    assert says in result.stderr
    assert result.stderr.count("\n") == 1, "one line, no traceback"


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("services = 5", "services: Input should be a valid list (got 5)"),
        ('services = ["services.py", 7]', "services.1: Input should be a valid string (got 7)"),
        ('services = ["services.py"]\nservice = "typo"', "service: Extra inputs are not permitted"),
    ],
)
def test_a_bad_pyproject_table_is_named_with_its_key_and_value(
    project: Path, table: str, says: str
) -> None:
    (project / "pyproject.toml").write_text(f"[tool.servicedeck]\n{table}\n")

    result = servicedeck(project, "ls")

    assert result.returncode == 2
    assert "invalid [tool.servicedeck] table in " in result.stderr
    assert says in result.stderr
    assert result.stderr.count("\n") == 1, "one line, no traceback"
