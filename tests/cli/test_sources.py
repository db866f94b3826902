"""Where the commands find services, as a user runs them: pyproject.toml, an installed
package's entry points, and targets that do not load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ServiceDeck


def install_plugin(site: Path, entry_points: str) -> None:
    """Install `sdplugin` cheaply: a package and a .dist-info on a PYTHONPATH folder."""
    (site / "sdplugin").mkdir(parents=True)
    (site / "sdplugin" / "__init__.py").write_text("")
    (site / "sdplugin" / "jobs.py").write_text(
        "from servicedeck import LoopService\n\n\n"
        "class PluginSweeper(LoopService):\n"
        '    """Sweeps for the plugin."""\n\n'
        "    async def run_once(self) -> None: ...\n\n\n"
        "class PluginAuditor(LoopService):\n"
        "    async def run_once(self) -> None: ...\n"
    )
    dist = site / "sdplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sdplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[servicedeck.services]\n{entry_points}\n")


def ls_names(sd: ServiceDeck, *args: str, **env: str) -> list[str]:
    result = sd("ls", "-o", "json", *args, **env)
    assert result.status == 0, result.stderr
    return [row["name"] for row in json.loads(result.stdout)]


def test_ls_uses_the_pyproject_table_from_a_subfolder(sd: ServiceDeck) -> None:
    sd.write(
        "pyproject.toml",
        """
        [project]
        name = "shop"

        [tool.servicedeck]
        services = ["services.py:Ticker", "servicedeck.demo:Heartbeat"]
        """,
    )
    (sd.cwd / "sub" / "dir").mkdir(parents=True)
    sd.cwd = sd.cwd / "sub" / "dir"

    assert ls_names(sd) == ["Ticker", "Heartbeat"]
    table = sd("ls")
    assert "pyproject.toml" in table.stdout.splitlines()[0]


def test_ls_uses_installed_entry_points(sd: ServiceDeck, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(site, "jobs = sdplugin.jobs\nextra = servicedeck.demo:Heartbeat")

    names = ls_names(sd, PYTHONPATH=str(site))

    assert names == ["PluginSweeper", "PluginAuditor", "Heartbeat"]
    assert "entry points of sdplugin" in sd("ls", PYTHONPATH=str(site)).stdout


def test_pyproject_wins_over_entry_points(sd: ServiceDeck, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(site, "jobs = sdplugin.jobs")
    sd.write("pyproject.toml", '[tool.servicedeck]\nservices = ["services.py:Ticker"]\n')

    assert ls_names(sd, PYTHONPATH=str(site)) == ["Ticker"]


def test_a_broken_entry_point_names_its_distribution_and_exits_2(
    sd: ServiceDeck, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    install_plugin(site, "jobs = sdplugin.missing")

    result = sd("ls", PYTHONPATH=str(site))

    assert result.status == 2
    assert "entry point 'jobs' = 'sdplugin.missing' of 'sdplugin'" in result.stderr


@pytest.mark.parametrize("command", [(), ("ls",), ("run",), ("run", "--background")])
def test_a_target_that_fails_to_import_exits_2_naming_it(
    sd: ServiceDeck, command: tuple[str, ...]
) -> None:
    sd.write("broken.py", "import nonexistent_dependency_xyz\n")

    result = sd(*command, "broken.py")

    assert result.status == 2
    assert result.stderr.startswith(
        "servicedeck: error: could not import target 'broken.py': ModuleNotFoundError: "
        "No module named 'nonexistent_dependency_xyz'"
    )
    assert "Traceback" not in result.stderr
    assert not (sd.state_dir / "servicedeck.pid").exists()


def test_debug_shows_the_traceback_of_a_failed_import(sd: ServiceDeck) -> None:
    sd.write("broken.py", "def helper():\n    return 1 / 0\n\nhelper()\n")

    result = sd("--debug", "ls", "broken.py")

    assert result.status == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert 'broken.py", line 2, in helper' in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr.splitlines()[-1]


def test_two_services_with_one_name_exit_2_naming_both(sd: ServiceDeck) -> None:
    sd.write("other.py", "from services import Ticker as _T\n\n\nclass Ticker(_T):\n    pass\n")

    result = sd("ls", "services.py", "other.py")

    assert result.status == 2
    assert "two services are named 'Ticker'" in result.stderr
    assert "services.Ticker" in result.stderr
    assert "other.Ticker" in result.stderr


def test_invalid_pyproject_table_exits_2(sd: ServiceDeck) -> None:
    sd.write("pyproject.toml", '[tool.servicedeck]\nservices = "services.py"\n')

    result = sd("ls")

    assert result.status == 2
    assert "invalid [tool.servicedeck] table" in result.stderr
