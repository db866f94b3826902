"""Settings for services, on pydantic-settings.

Every service is controlled by a `ServicesBaseSetting`: by default a model with one
field, `enabled`, read from `SERVICEDECK_SERVICES_<NAME>_ENABLED`; a service may return
its own subclass with its own `env_prefix` and fields.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

__all__ = [
    "DEFAULT_ENV_PREFIX",
    "ServiceSettingsError",
    "ServicesBaseSetting",
    "default_settings_class",
    "env_prefix_of",
    "expected_type",
    "upper_snake",
]

DEFAULT_ENV_PREFIX = "SERVICEDECK_SERVICES_"

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def upper_snake(name: str) -> str:
    """`OrderReaper` -> `ORDER_REAPER`, `HTTPRelay` -> `HTTP_RELAY`."""
    return _WORD_BOUNDARY.sub("_", name).upper()


class ServiceSettingsError(ValueError):
    """A service's settings could not be loaded from the environment.

    Raised by `Service.enabled()`, `Service.service_settings()` and by constructing a
    `ServicesBaseSetting` when a value (from an env var, a `.env` file or an argument)
    does not validate. The message names each environment variable, the bad value and
    what was expected.

    Attributes:
        settings_class: the settings model that failed.
        problems: one `(env_var, value, message)` tuple per bad field.
    """

    def __init__(
        self, settings_class: type[BaseSettings], problems: list[tuple[str, Any, str]]
    ) -> None:
        self.settings_class = settings_class
        self.problems = problems
        lines = [f"{var}={value!r}: {msg}" for var, value, msg in problems]
        super().__init__(
            f"invalid settings for {settings_class.__name__}: "
            + "; ".join(lines)
            + ". Fix or unset the variable."
        )


def env_prefix_of(settings_class: type[BaseSettings]) -> str:
    """The settings model's env prefix, upper-cased as its variables are spelled."""
    return str(settings_class.model_config.get("env_prefix", "")).upper()


class ServicesBaseSetting(BaseSettings):
    """Base settings of a service: `enabled`, plus whatever a subclass adds.

    Values come from (highest first) constructor arguments, environment variables,
    and a `.env` file in the working directory. Subclass it to give a service its own
    prefix and fields:

        class ReaperSettings(ServicesBaseSetting):
            model_config = SettingsConfigDict(env_prefix="shop_reaper_")
            loop_seconds: float = 30
    """

    model_config = SettingsConfigDict(
        env_prefix=DEFAULT_ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    enabled: bool = True
    """Whether the service runs."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _settings_error(type(self), exc) from None
        except SettingsError as exc:
            # A complex field (list, dict, model) whose variable is not valid JSON.
            raise _parse_error(type(self), exc) from exc.__cause__


def _settings_error(
    settings_class: type[BaseSettings], exc: ValidationError
) -> ServiceSettingsError:
    prefix = env_prefix_of(settings_class)
    problems: list[tuple[str, Any, str]] = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"][:1]) or "?"
        message = f"{err['msg']} (expected {expected_type(settings_class, field)})"
        problems.append((prefix + field.upper(), err.get("input"), message))
    return ServiceSettingsError(settings_class, problems)


_FIELD_OF_PARSE_ERROR = re.compile(r'field "(?P<field>\w+)"')


def _parse_error(settings_class: type[BaseSettings], exc: SettingsError) -> Exception:
    match = _FIELD_OF_PARSE_ERROR.search(str(exc))
    if match is None:  # pragma: no cover - another kind of SettingsError: keep it as it is
        return exc
    field = match["field"]
    variable = env_prefix_of(settings_class) + field.upper()
    value: Any = None
    for source in (EnvSettingsSource, DotEnvSettingsSource):
        with contextlib.suppress(Exception):
            found = {k.upper(): v for k, v in source(settings_class).env_vars.items()}
            if variable in found:
                value = found[variable]
                break
    expected = expected_type(settings_class, field)
    message = f'not valid JSON (expected {expected}, written as JSON: ["a", "b"])'
    return ServiceSettingsError(settings_class, [(variable, value, message)])


_CONSTRAINTS = (
    ("gt", "> {}"), ("ge", ">= {}"), ("lt", "< {}"), ("le", "<= {}"),
    ("min_length", "at least {} long"), ("max_length", "at most {} long"),
)  # fmt: skip


def expected_type(settings_class: type[BaseSettings], field: str) -> str:
    """What field `field` of `settings_class` takes, for an error message: `float > 0`."""
    info = settings_class.model_fields.get(field)
    if info is None:
        return "a valid value"
    annotation = info.annotation
    name = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    name = name.replace("typing.", "")
    bounds = [
        template.format(getattr(meta, attr))
        for meta in info.metadata
        for attr, template in _CONSTRAINTS
        if getattr(meta, attr, None) is not None
    ]
    return f"{name} {', '.join(bounds)}" if bounds else name


_default_classes: dict[str, type[ServicesBaseSetting]] = {}


def default_settings_class(service_name: str) -> type[ServicesBaseSetting]:
    """The default settings model of a service class named `service_name`.

    Made once per name: env prefix `SERVICEDECK_SERVICES_<UPPER_SNAKE_NAME>_`.
    """
    try:
        return _default_classes[service_name]
    except KeyError:
        pass
    prefix = f"{DEFAULT_ENV_PREFIX}{upper_snake(service_name)}_"
    model: type[ServicesBaseSetting] = type(
        f"{service_name}Settings",
        (ServicesBaseSetting,),
        {
            "model_config": SettingsConfigDict(env_prefix=prefix),
            "__module__": __name__,
            "__doc__": f"Default settings of the {service_name} service.",
        },
    )
    _default_classes[service_name] = model
    return model
