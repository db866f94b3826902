"""Settings for services, on pydantic-settings.

Every service is controlled by a `ServicesBaseSetting`: by default a model with one
field, `enabled`, read from `SERVICEDECK_SERVICES_<NAME>_ENABLED`; a service may return
its own subclass with its own `env_prefix` and fields.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
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
    "read_default_settings",
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
# The last read of each default model: what it was read from, and what came of it.
_last_reads: dict[type[ServicesBaseSetting], tuple[tuple[object, ...], object]] = {}
# Each default model's variables, lower-cased: pydantic-settings matches them in any case.
_variable_names: dict[type[ServicesBaseSetting], frozenset[str]] = {}


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


def read_default_settings(service_name: str) -> ServicesBaseSetting:
    """`default_settings_class(service_name)()`, without reading it again while nothing
    it is read from has changed.

    A default model's values come only from its own variables (`<PREFIX>ENABLED`, in
    any case) and its `.env` file (from the working directory, as pydantic-settings
    finds it). Those inputs are compared with the last read's, by value: any change
    (a variable set, unset or changed, a `.env` file written, created or deleted, even
    within the file system's timestamp resolution, another working directory, a `.env`
    value that refers to `${ANOTHER}` variable) reads the model again, so the result is
    always what a fresh read gives. A hit returns a copy, so it may be changed freely.

    Raises:
        ServiceSettingsError: as the fresh read would.
    """
    model = default_settings_class(service_name)
    inputs = _inputs_of(model)
    last = _last_reads.get(model)
    if inputs is None or last is None or last[0] != inputs:
        try:
            result: object = model()
        except ServiceSettingsError as exc:
            result = exc
        # Kept only if nothing changed during the read (another thread, say).
        if inputs is not None and _inputs_of(model) == inputs:
            _last_reads[model] = (inputs, result)
    else:
        result = last[1]
    if isinstance(result, ServiceSettingsError):
        raise ServiceSettingsError(result.settings_class, result.problems)
    assert isinstance(result, ServicesBaseSetting)
    return result.model_copy()


def _inputs_of(model: type[ServicesBaseSetting]) -> tuple[object, ...] | None:
    """What `model()` reads its values from, or None when that cannot be told cheaply
    (a `.env` that is a FIFO or cannot be read: then the model is read every time)."""
    names = _variable_names.get(model)
    if names is None:
        names = frozenset((env_prefix_of(model) + field).lower() for field in model.model_fields)
        _variable_names[model] = names
    environ = os.environ
    # Case-insensitive, as pydantic-settings reads them: every spelling, in its order.
    variables = tuple((key, environ[key]) for key in environ if key.lower() in names)
    env_file = model.model_config.get("env_file")
    if env_file is None:
        return (variables,)
    if not isinstance(env_file, str | os.PathLike):
        return None  # several files: not a default model's
    path = os.path.expanduser(env_file)
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return (variables, None)
    except OSError:
        return None
    if stat.S_ISDIR(mode):
        return (variables, None)  # not a file: pydantic-settings skips it too
    if not stat.S_ISREG(mode):
        return None  # a FIFO: reading it here would take what the model should read
    try:
        with open(path, "rb") as file:
            content = file.read()
    except OSError:
        return None
    # python-dotenv expands ${NAME} from the environment: then any variable counts.
    expanded = tuple(environ.items()) if b"$" in content else ()
    return (variables, content, expanded)
