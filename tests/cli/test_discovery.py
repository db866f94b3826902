"""`servicedeck.discovery`, in process: targets, which classes a module contributes,
path-versus-name loading, pyproject configuration and its errors."""

from __future__ import annotations

import gc
import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicedeck import DuplicateServiceError
from servicedeck.discovery import (
    DiscoveryError,
    TargetError,
    discover,
    find_project_config,
    load_target,
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder as the working directory; imports from it are undone after."""
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    path_before = list(sys.path)
    yield root
    sys.path[:] = path_before
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
    gc.collect()  # let the test's service classes leave the registry


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    importlib.invalidate_caches()  # a folder's listing may be cached from earlier today
    return path


LOOP = """
from servicedeck import LoopService

class {name}(LoopService):
    async def run_once(self) -> None: ...
"""


def names(classes: object) -> list[str]:
    return [cls.__name__ for cls in classes]  # type: ignore[attr-defined]


def test_load_target_by_path_and_by_name_gives_the_same_classes(project: Path) -> None:
    write(project, "shop/__init__.py", "")
    write(project, "shop/jobs.py", LOOP.format(name="DiscoReaperA"))
    sys.path.insert(0, str(project))

    by_path = load_target("shop/jobs.py")
    by_name = load_target("shop.jobs")
    found = discover(["shop/jobs.py", "shop.jobs", "./shop/jobs.py:DiscoReaperA"])

    assert by_path == by_name
    assert names(found.classes) == ["DiscoReaperA"]
    assert sys.modules["shop.jobs"].__file__ == str(project / "shop" / "jobs.py")


def test_load_target_file_outside_the_working_directory(project: Path, tmp_path: Path) -> None:
    elsewhere = write(tmp_path, "elsewhere/disco_far.py", LOOP.format(name="DiscoFar"))

    assert names(load_target(str(elsewhere))) == ["DiscoFar"]


def test_services_of_a_module_are_those_defined_in_it_or_its_package(project: Path) -> None:
    write(
        project,
        "disco_pkg/__init__.py",
        """
        from servicedeck.demo import Heartbeat  # a re-export from elsewhere: not included
        from servicedeck import LoopService
        from .workers import DiscoWorker  # a submodule's class: included

        class DiscoPkgService(LoopService):
            async def run_once(self) -> None: ...

        class _DiscoPrivate(LoopService):  # private: not included
            async def run_once(self) -> None: ...

        def factory():
            class DiscoLocal(LoopService):  # defined in a function: not included
                async def run_once(self) -> None: ...
            return DiscoLocal

        factory()
        """,
    )
    write(project, "disco_pkg/workers.py", LOOP.format(name="DiscoWorker"))

    assert names(load_target("disco_pkg")) == ["DiscoWorker", "DiscoPkgService"]
    assert names(load_target("disco_pkg:_DiscoPrivate")) == ["_DiscoPrivate"]
    assert names(load_target("disco_pkg:Heartbeat")) == ["Heartbeat"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("disco_missing.mod", "could not import target 'disco_missing.mod': no module named"),
        ("disco_boom", "could not import target 'disco_boom': RuntimeError: boom at import"),
        ("disco_plain", "target 'disco_plain' defines no services"),
        ("disco_plain:Nope", "module 'disco_plain' has no attribute 'Nope'"),
        ("disco_plain:helper", "is a function, not a Service subclass"),
        ("servicedeck:LoopService", "is abstract (it does not implement run_once)"),
        ("./no_such_file.py", "no such file"),
        ("notes.txt", "is not a .py file"),
        ("notes.txt:Foo", "is not a .py file"),
        ("my-app.services", "is neither a dotted module name, a path, nor module:ClassName"),
        ("", "empty target"),
    ],
)
def test_load_target_errors_name_the_target_and_the_problem(
    project: Path, target: str, message: str
) -> None:
    write(project, "disco_boom.py", "raise RuntimeError('boom at import')\n")
    write(project, "disco_plain.py", "def helper() -> None: ...\n")
    write(project, "notes.txt", "not python\n")
    sys.path.insert(0, str(project))

    with pytest.raises(TargetError) as caught:
        load_target(target)

    assert message in str(caught.value)
    assert caught.value.target == target


def test_load_target_keeps_the_original_import_error_as_cause(project: Path) -> None:
    write(project, "disco_syntax.py", "def broken(:\n")
    sys.path.insert(0, str(project))

    with pytest.raises(TargetError) as caught:
        load_target("disco_syntax")

    assert isinstance(caught.value.__cause__, SyntaxError)
    assert "SyntaxError" in str(caught.value)


def test_load_target_refuses_a_file_shadowed_by_an_imported_module(project: Path) -> None:
    write(project, "json.py", LOOP.format(name="DiscoShadow"))

    with pytest.raises(TargetError, match="imports as module 'json', but that name is already"):
        load_target("json.py")


def test_discover_two_services_with_one_name_raise_naming_both(project: Path) -> None:
    write(project, "disco_one.py", LOOP.format(name="DiscoTwin"))
    write(project, "disco_two.py", LOOP.format(name="DiscoTwin"))

    with pytest.raises(DuplicateServiceError) as caught:
        discover(["disco_one.py", "disco_two.py"])

    assert "disco_one.DiscoTwin" in str(caught.value)
    assert "disco_two.DiscoTwin" in str(caught.value)


def test_discover_without_configuration_falls_back_to_the_demo(project: Path) -> None:
    found = discover()

    assert found.source == "demo"
    assert "Heartbeat" in names(found.classes)


def test_discover_reads_the_nearest_pyproject_with_paths_relative_to_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        project,
        "pyproject.toml",
        """
        [project]
        name = "shop"

        [tool.servicedeck]
        services = ["disco_cfg.jobs", "scripts/disco_extra.py:DiscoExtra"]
        """,
    )
    write(project, "disco_cfg/__init__.py", "")
    write(project, "disco_cfg/jobs.py", LOOP.format(name="DiscoCfgJob"))
    write(project, "scripts/disco_extra.py", LOOP.format(name="DiscoExtra"))
    deep = project / "disco_cfg" / "deeper"
    deep.mkdir()
    monkeypatch.chdir(deep)

    found = discover()

    assert found.source == "pyproject"
    assert found.origin == str(project / "pyproject.toml")
    assert names(found.classes) == ["DiscoCfgJob", "DiscoExtra"]


def test_discover_targets_win_over_the_pyproject(project: Path) -> None:
    write(project, "pyproject.toml", '[tool.servicedeck]\nservices = ["disco_nothere"]\n')

    found = discover(["servicedeck.demo:Heartbeat"])

    assert (found.source, names(found.classes)) == ("targets", ["Heartbeat"])


def test_find_project_config_ignores_a_pyproject_without_the_table(project: Path) -> None:
    write(project, "pyproject.toml", '[project]\nname = "x"\n')

    assert find_project_config() is None


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.servicedeck]\nservices = "myapp"\n', "services: Input should be a valid list"),
        ('[tool.servicedeck]\nservice = ["myapp"]\n', "service: Extra inputs are not permitted"),
        ("[tool.servicedeck\n", "fix its TOML syntax"),
    ],
)
def test_find_project_config_errors_name_the_file_and_the_key(
    project: Path, toml: str, message: str
) -> None:
    write(project, "pyproject.toml", toml)

    with pytest.raises(DiscoveryError) as caught:
        find_project_config()

    assert message in str(caught.value)
    assert str(project / "pyproject.toml") in str(caught.value)
