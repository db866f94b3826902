"""The default settings model is not read again while nothing it reads has changed.

Constructing a service used to read its settings from the environment every time. The
default model (`SERVICEDECK_SERVICES_<NAME>_ENABLED`, `.env`) is now read again only
when its inputs changed; these tests change each input in turn and compare what a
service sees with a fresh read of the model by pydantic-settings itself (the oracle).

Every test runs in an empty temporary directory (no stray `.env`), and `monkeypatch`
restores the environment and the working directory afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicedeck import LoopService, ServicesBaseSetting, ServiceSettingsError
from servicedeck._core._settings import DefaultServiceSettings, default_settings_class

VAR = "SERVICEDECK_SERVICES_CACHED_REAPER_ENABLED"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper() in (VAR, "FLAG", "CUSTOM_ON", "CUSTOM_LOOP_SECONDS"):
            monkeypatch.delenv(name)


class CachedReaper(LoopService):
    """Default settings."""

    async def run_once(self) -> None:
        pass


def fresh() -> Any:
    """What pydantic-settings reads now: the model's values, or the error's message."""
    try:
        return default_settings_class("CachedReaper")().model_dump()
    except ServiceSettingsError as exc:
        return str(exc)


def seen() -> Any:
    """What the framework gives: through the constructor, `service_settings()`, `enabled()`."""
    try:
        CachedReaper()
    except ServiceSettingsError as exc:
        error = str(exc)
    else:
        values = CachedReaper.service_settings().model_dump()
        assert CachedReaper.enabled() is values["enabled"]
        return values
    for read in (CachedReaper.service_settings, CachedReaper.enabled):
        with pytest.raises(ServiceSettingsError) as again:
            read()
        assert str(again.value) == error
    return error


def check(expected_enabled: bool | None) -> None:
    """What the framework sees is a fresh read; `None` expects a settings error."""
    now = seen()
    assert now == fresh()
    if expected_enabled is None:
        assert isinstance(now, str)
        assert VAR in now
    else:
        assert now == {"enabled": expected_enabled}


def test_settings_are_read_again_when_the_variable_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check(True)
    monkeypatch.setenv(VAR, "false")
    check(False)
    monkeypatch.setenv(VAR, "maybe")
    check(None)
    check(None)  # the same error again, raised anew
    monkeypatch.setenv(VAR, "true")
    check(True)
    monkeypatch.delenv(VAR)
    check(True)


def test_settings_see_every_spelling_of_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    check(True)
    monkeypatch.setenv(VAR.lower(), "false")
    check(False)
    monkeypatch.setenv("Servicedeck_Services_Cached_Reaper_Enabled", "true")
    check(fresh()["enabled"])  # pydantic-settings takes the last spelling it iterates
    monkeypatch.delenv(VAR.lower())
    check(True)


def test_settings_are_read_again_when_the_dotenv_file_changes(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    check(True)
    dotenv.write_text(f"{VAR}=0\n")
    check(False)
    stat = dotenv.stat()
    dotenv.write_text(f"{VAR}=1\n")
    # The same size and modification time: only the content tells the change.
    os.utime(dotenv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    check(True)
    dotenv.write_text(f"{VAR}=nope\n")
    check(None)
    dotenv.unlink()
    check(True)


def test_settings_follow_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("off", "false"), ("on", "true")):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".env").write_text(f"{VAR}={value}\n")
    (tmp_path / "none").mkdir()

    for name, enabled in (("off", False), ("on", True), ("off", False), ("none", True)):
        monkeypatch.chdir(tmp_path / name)
        check(enabled)


def test_settings_are_read_again_when_a_variable_the_dotenv_file_expands_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(f"{VAR}=${{FLAG}}\n")
    monkeypatch.setenv("FLAG", "false")
    check(False)
    monkeypatch.setenv("FLAG", "true")
    check(True)


def test_a_dotenv_directory_is_skipped_as_pydantic_settings_skips_it(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    check(True)


def test_settings_from_a_cached_read_may_be_changed_without_effect() -> None:
    settings = CachedReaper.service_settings()
    settings.enabled = False

    assert CachedReaper.service_settings().enabled is True
    assert CachedReaper.enabled() is True


def test_the_default_model_is_read_once_while_nothing_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model = DefaultServiceSettings
    reads: list[None] = []
    original: Callable[..., None] = model.__init__

    def counting_init(self: ServicesBaseSetting, **values: Any) -> None:
        reads.append(None)
        original(self, **values)

    monkeypatch.setattr(model, "__init__", counting_init)
    (tmp_path / ".env").write_text(f"{VAR}=true\n")

    services = [CachedReaper() for _ in range(100)]
    assert all(CachedReaper.enabled() for _ in range(100))
    assert len(services) == 100
    assert len(reads) <= 1  # none if an earlier test read this very environment

    monkeypatch.setenv(VAR, "false")
    assert not CachedReaper.enabled()
    assert not CachedReaper.enabled()
    assert len(reads) <= 2


def many_services(count: int) -> list[type[LoopService]]:
    """`count` service classes with the default settings, named Many0000, ..."""

    async def run_once(self: LoopService) -> None:
        return None

    return [type(f"Many{i:04d}", (LoopService,), {"run_once": run_once}) for i in range(count)]


def test_services_with_default_settings_share_one_model() -> None:
    """Building a pydantic model class per service cost a third of a millisecond each."""
    first, second = many_services(2)

    settings = first.service_settings(), second.service_settings()

    assert type(settings[0]) is type(settings[1])
    assert [s.variable_prefix for s in settings] == [
        "SERVICEDECK_SERVICES_MANY0000_",
        "SERVICEDECK_SERVICES_MANY0001_",
    ]
    assert second.environment_variable_name() == "SERVICEDECK_SERVICES_MANY0001_ENABLED"


def test_services_that_no_input_names_share_one_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    reads: list[str] = []
    original: Callable[..., None] = DefaultServiceSettings.__init__

    def counting_init(self: DefaultServiceSettings, **values: Any) -> None:
        reads.append(values["_env_prefix"])
        original(self, **values)

    monkeypatch.setattr(DefaultServiceSettings, "__init__", counting_init)
    (tmp_path / ".env").write_text("SERVICEDECK_SERVICES_MANY0003_ENABLED=false\nOTHER=1\n")
    monkeypatch.setenv("SERVICEDECK_SERVICES_MANY0002_ENABLED", "false")
    classes = many_services(100)

    enabled = [cls.enabled() for cls in classes]
    services = [cls() for cls in classes]

    # One read for the 98 services nothing names, one each for the two that are named.
    assert len(reads) <= 3
    assert enabled == [i not in (2, 3) for i in range(100)]
    assert len(services) == 100
    for cls in classes:  # each as a fresh read of its own model gives it
        assert (
            cls.service_settings().model_dump()
            == default_settings_class(cls.__name__)().model_dump()
        )

    monkeypatch.setenv("SERVICEDECK_SERVICES_MANY0005_ENABLED", "nope")
    with pytest.raises(
        ServiceSettingsError, match="Many0005Settings: SERVICEDECK_SERVICES_MANY0005_ENABLED='nope'"
    ):
        classes[5].enabled()
    assert classes[6].enabled() is True


class CustomSettings(ServicesBaseSetting):
    """Its own prefix, aliases and `.env` file name."""

    model_config = SettingsConfigDict(env_prefix="custom_", env_file="custom.env")

    enabled: bool = Field(True, validation_alias=AliasChoices("custom_on", "custom_enabled"))
    loop_seconds: float = 60


class CustomReaper(LoopService):
    @classmethod
    def service_settings(cls) -> CustomSettings:
        return CustomSettings()

    async def run_once(self) -> None:
        pass


def test_a_custom_settings_model_is_read_on_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CustomReaper.enabled() is True
    assert CustomReaper().loop_seconds == 60

    (tmp_path / "custom.env").write_text("CUSTOM_ON=false\nCUSTOM_LOOP_SECONDS=5\n")
    assert CustomReaper.enabled() is False
    assert CustomReaper().loop_seconds == 5

    monkeypatch.setenv("CUSTOM_ON", "true")
    monkeypatch.setenv("CUSTOM_LOOP_SECONDS", "7")
    assert CustomReaper.enabled() is True
    assert CustomReaper().loop_seconds == 7
