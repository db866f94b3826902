"""Service settings: env prefixes, `.env`, `enabled()`, `loop_seconds`, and bad values.

Every test runs in an empty temporary directory (so no stray `.env` is read), and
`monkeypatch` restores the environment afterwards.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import anyio
import pytest
from pydantic_settings import SettingsConfigDict

from servicedeck import (
    LoopService,
    Service,
    ServicesBaseSetting,
    ServiceSettingsError,
    ServiceState,
)

from .conftest import WAIT_TIMEOUT, WaitFor

pytestmark = pytest.mark.anyio

DEFAULT_VAR = "SERVICEDECK_SERVICES_ORDER_REAPER_ENABLED"
CUSTOM_VAR = "SHOP_REAPER_ENABLED"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in (
        DEFAULT_VAR,
        CUSTOM_VAR,
        "SHOP_REAPER_LOOP_SECONDS",
        "SHOP_REAPER_BATCH_SIZE",
        "SERVICEDECK_SERVICES_GOOD_ENABLED",
        "SERVICEDECK_SERVICES_BROKEN_ENABLED",
        "SERVICEDECK_SERVICES_OFF_ENABLED",
    ):
        monkeypatch.delenv(var, raising=False)


class Base(LoopService):
    """Abstract (no `run_once`): the services of this module derive from it."""

    loop_seconds = 0


class ReaperSettings(ServicesBaseSetting):
    """A service's own settings: its own prefix and extra fields."""

    model_config = SettingsConfigDict(env_prefix="shop_reaper_")

    loop_seconds: float | None = None
    batch_size: int = 100


class OrderReaper(Base):
    """Default settings: `SERVICEDECK_SERVICES_ORDER_REAPER_*`."""

    async def run_once(self) -> None:
        pass


class ShopReaper(Base):
    """Custom settings: `SHOP_REAPER_*`."""

    loop_seconds = 60

    @classmethod
    def service_settings(cls) -> ReaperSettings:
        return ReaperSettings()

    async def run_once(self) -> None:
        pass


def service_named(name: str, base: type[LoopService] = Base) -> type[LoopService]:
    """A throwaway concrete loop service class called `name`."""

    async def run_once(self: LoopService) -> None:
        pass

    return type(name, (base,), {"run_once": run_once})


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_name", "variable"),
    [
        ("OrderReaper", DEFAULT_VAR),
        ("HTTPRelay", "SERVICEDECK_SERVICES_HTTP_RELAY_ENABLED"),
        ("Heartbeat", "SERVICEDECK_SERVICES_HEARTBEAT_ENABLED"),
    ],
)
def test_environment_variable_name_default_prefix_is_the_upper_snake_class_name(
    class_name: str, variable: str
) -> None:
    assert service_named(class_name).environment_variable_name() == variable


def test_environment_variable_name_custom_prefix_is_upper_cased() -> None:
    assert ShopReaper.environment_variable_name() == CUSTOM_VAR


def test_environment_variable_name_does_not_need_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The console names the variable to fix exactly when its value is broken.
    monkeypatch.setenv(CUSTOM_VAR, "maybe")
    monkeypatch.setenv(DEFAULT_VAR, "maybe")

    assert ShopReaper.environment_variable_name() == CUSTOM_VAR
    assert OrderReaper.environment_variable_name() == DEFAULT_VAR


# -- enabled() --------------------------------------------------------------------------


def test_enabled_defaults_to_true() -> None:
    assert OrderReaper.enabled() is True
    assert ShopReaper.enabled() is True


def test_enabled_is_read_fresh_on_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_VAR, "false")
    assert OrderReaper.enabled() is False

    monkeypatch.setenv(DEFAULT_VAR, "1")
    assert OrderReaper.enabled() is True

    monkeypatch.setenv(DEFAULT_VAR, "off")
    assert OrderReaper.enabled() is False

    monkeypatch.delenv(DEFAULT_VAR)
    assert OrderReaper.enabled() is True


def test_enabled_custom_prefix_reads_only_its_own_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVICEDECK_SERVICES_SHOP_REAPER_ENABLED", "false")
    assert ShopReaper.enabled() is True  # the default prefix does not apply

    monkeypatch.setenv(CUSTOM_VAR, "false")
    assert ShopReaper.enabled() is False


def test_enabled_env_var_name_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEFAULT_VAR.lower(), "false")
    assert OrderReaper.enabled() is False


def test_enabled_reads_a_dotenv_file_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"{DEFAULT_VAR}=false\n{CUSTOM_VAR}=false\n")

    assert OrderReaper.enabled() is False
    assert ShopReaper.enabled() is False

    # An environment variable wins over the file.
    monkeypatch.setenv(DEFAULT_VAR, "true")
    assert OrderReaper.enabled() is True


def test_settings_precedence_argument_then_env_then_dotenv_then_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert ReaperSettings().batch_size == 100

    (tmp_path / ".env").write_text("SHOP_REAPER_BATCH_SIZE=200\n")
    assert ReaperSettings().batch_size == 200

    monkeypatch.setenv("SHOP_REAPER_BATCH_SIZE", "300")
    assert ReaperSettings().batch_size == 300

    assert ReaperSettings(batch_size=400).batch_size == 400


def test_service_settings_default_model_has_enabled_only() -> None:
    settings = OrderReaper.service_settings()

    assert isinstance(settings, ServicesBaseSetting)
    assert set(type(settings).model_fields) == {"enabled"}


def test_service_settings_custom_model_reads_extra_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_REAPER_BATCH_SIZE", "25")

    settings = ShopReaper.service_settings()

    assert isinstance(settings, ReaperSettings)
    assert settings.batch_size == 25


# -- bad values -------------------------------------------------------------------------


def test_enabled_invalid_value_raises_an_error_naming_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DEFAULT_VAR, "maybe")

    with pytest.raises(ServiceSettingsError) as caught:
        OrderReaper.enabled()

    error = caught.value
    assert isinstance(error, ValueError)
    assert DEFAULT_VAR in str(error)
    assert "'maybe'" in str(error)
    [(variable, value, _message)] = error.problems
    assert (variable, value) == (DEFAULT_VAR, "maybe")


def test_enabled_invalid_custom_value_names_the_custom_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CUSTOM_VAR, "maybe")

    with pytest.raises(ServiceSettingsError, match=CUSTOM_VAR) as caught:
        ShopReaper.enabled()

    assert caught.value.settings_class is ReaperSettings


def test_enabled_services_skips_a_service_with_invalid_settings_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Local(Base):
        """Abstract: scopes `all_services()` to this test."""

    good = service_named("Good", Local)
    service_named("Broken", Local)
    service_named("Off", Local)
    monkeypatch.setenv("SERVICEDECK_SERVICES_BROKEN_ENABLED", "maybe")
    monkeypatch.setenv("SERVICEDECK_SERVICES_OFF_ENABLED", "false")

    assert Local.enabled_services() == [good]

    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "SERVICEDECK_SERVICES_BROKEN_ENABLED" in record.getMessage()
    assert "'maybe'" in record.getMessage()


async def test_running_skips_a_service_with_invalid_settings_and_runs_the_others(
    monkeypatch: pytest.MonkeyPatch, wait_for: WaitFor
) -> None:
    class Local(Base):
        """Abstract: scopes `all_services()` to this test."""

        loop_seconds = 60

    good = service_named("Good", Local)
    service_named("Broken", Local)
    monkeypatch.setenv("SERVICEDECK_SERVICES_BROKEN_ENABLED", "maybe")

    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as services:
            assert [type(s) for s in services] == [good]
            await wait_for(services[0], lambda s: s.state is ServiceState.SLEEPING)

    assert services[0].status.state is ServiceState.STOPPED
    assert services[0].status.loop_count == 1


# -- loop_seconds -----------------------------------------------------------------------


def test_loop_seconds_class_attribute_is_the_default() -> None:
    svc = service_named("Plain", Base)()
    assert svc.loop_seconds == 0
    assert OrderReaper().status.loop_seconds == 0


def test_loop_seconds_settings_field_wins_over_the_class_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No value in the settings (None): the class attribute stays.
    assert ShopReaper().loop_seconds == 60

    monkeypatch.setenv("SHOP_REAPER_LOOP_SECONDS", "7.5")
    svc = ShopReaper()

    assert svc.loop_seconds == 7.5
    assert svc.status.loop_seconds == 7.5
    assert ShopReaper.loop_seconds == 60  # the class is untouched


def test_loop_seconds_argument_wins_over_settings_and_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_REAPER_LOOP_SECONDS", "7.5")

    svc = ShopReaper(loop_seconds=2)

    assert svc.loop_seconds == 2
    assert svc.status.loop_seconds == 2


@pytest.mark.parametrize("value", [0, 0.0])
def test_loop_seconds_zero_is_valid(value: float) -> None:
    assert ShopReaper(loop_seconds=value).loop_seconds == 0


@pytest.mark.parametrize("value", [-1, -0.001, math.nan, math.inf, "5", True, [5]], ids=repr)
def test_loop_seconds_invalid_argument_raises_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="loop_seconds") as caught:
        ShopReaper(loop_seconds=value)  # type: ignore[arg-type]

    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("value", [-5, math.nan, "5"], ids=repr)
def test_loop_seconds_invalid_class_attribute_raises_value_error(value: object) -> None:
    bad = type("BadInterval", (Base,), {"loop_seconds": value, "run_once": OrderReaper.run_once})

    with pytest.raises(ValueError, match="loop_seconds"):
        bad()


@pytest.mark.parametrize("value", ["-3", "nan"])
def test_loop_seconds_invalid_setting_raises_value_error(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_REAPER_LOOP_SECONDS", value)

    with pytest.raises(ValueError, match="loop_seconds"):
        ShopReaper()


def test_loop_seconds_setting_that_is_not_a_number_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_REAPER_LOOP_SECONDS", "soon")

    with pytest.raises(ServiceSettingsError, match="SHOP_REAPER_LOOP_SECONDS='soon'"):
        ShopReaper()


async def test_loop_seconds_made_invalid_after_init_is_refused_by_start() -> None:
    svc = OrderReaper()
    svc.loop_seconds = -1

    with pytest.raises(ValueError, match="loop_seconds"):
        await svc.start(loops=1)

    assert svc.status.state is ServiceState.STOPPED
    assert svc.status.loop_count == 0


def test_plain_service_settings_are_the_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    class Local(Service):
        async def start(self) -> None:  # type: ignore[override]
            pass

        async def stop(self) -> None:
            pass

    assert Local.environment_variable_name() == "SERVICEDECK_SERVICES_LOCAL_ENABLED"
    monkeypatch.setenv("SERVICEDECK_SERVICES_LOCAL_ENABLED", "no")
    assert Local.enabled() is False


async def test_running_skips_a_service_whose_settings_raise_anything_else(
    caplog: pytest.LogCaptureFixture, wait_for: WaitFor
) -> None:
    class Local(Base):
        """Abstract: scopes `all_services()` to this test."""

        loop_seconds = 60

    class Buggy(Local):
        @classmethod
        def service_settings(cls) -> ServicesBaseSetting:
            raise KeyError("no config section 'buggy'")

        async def run_once(self) -> None:
            pytest.fail("a service whose settings do not load ran")

    good = service_named("Good", Local)

    assert Local.enabled_services() == [good]
    with anyio.fail_after(WAIT_TIMEOUT):
        async with Local.running() as services:
            assert [type(s) for s in services] == [good]
            await wait_for(services[0], lambda s: s.state is ServiceState.SLEEPING)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors
    assert all("Buggy" in r.getMessage() for r in errors)
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is KeyError


def test_environment_variable_name_uses_the_class_name_even_when_the_service_is_renamed() -> None:
    class OrderReaper(Base):
        name = "reaper"

        async def run_once(self) -> None: ...

    assert OrderReaper.environment_variable_name() == "SERVICEDECK_SERVICES_ORDER_REAPER_ENABLED"
    assert OrderReaper().name == "reaper"
