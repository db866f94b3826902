"""Settings for services, on pydantic-settings.

Every service is controlled by a `ServicesBaseSetting`: by default a model with one
field, `enabled`, read from `SERVICEDECK_SERVICES_<NAME>_ENABLED`; a service may return
its own subclass with its own `env_prefix` and fields.

The default model is one class for every service (`DefaultServiceSettings`), read with
the service's prefix given at instantiation (pydantic-settings' `_env_prefix`): building
a pydantic model class per service cost about a third of a millisecond each, a third of
a second at 1,000 services, paid again by every command that constructs them.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from typing import Any

from pydantic import PrivateAttr, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

__all__ = [
    "DEFAULT_ENV_PREFIX",
    "DefaultServiceSettings",
    "ServiceSettingsError",
    "ServicesBaseSetting",
    "default_env_prefix",
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
        env_prefix: the prefix the model was read with, upper-cased (a default model's
            is the service's, not its class's).
    """

    def __init__(
        self,
        settings_class: type[BaseSettings],
        problems: list[tuple[str, Any, str]],
        *,
        env_prefix: str | None = None,
        model_name: str | None = None,
    ) -> None:
        self.settings_class = settings_class
        self.problems = problems
        self.env_prefix = env_prefix_of(settings_class) if env_prefix is None else env_prefix
        self.model_name = model_name or settings_class.__name__
        lines = [f"{var}={value!r}: {msg}" for var, value, msg in problems]
        super().__init__(
            f"invalid settings for {self.model_name}: "
            + "; ".join(lines)
            + ". Fix or unset the variable."
        )


def env_prefix_of(settings: type[BaseSettings] | BaseSettings) -> str:
    """The env prefix of a settings model, or of settings read from one, upper-cased as
    its variables are spelled (a `DefaultServiceSettings` carries its service's)."""
    if isinstance(settings, ServicesBaseSetting):
        return settings.variable_prefix
    cls = settings if isinstance(settings, type) else type(settings)
    return str(cls.model_config.get("env_prefix", "")).upper()


def default_env_prefix(service_name: str) -> str:
    """The default env prefix of a service class named `service_name`:
    `SERVICEDECK_SERVICES_<UPPER_SNAKE_NAME>_`."""
    return f"{DEFAULT_ENV_PREFIX}{upper_snake(service_name)}_"


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
        prefix = values.get("_env_prefix")
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _settings_error(type(self), exc, prefix) from None
        except SettingsError as exc:
            # A complex field (list, dict, model) whose variable is not valid JSON.
            raise _parse_error(type(self), exc, prefix) from exc.__cause__

    @property
    def variable_prefix(self) -> str:
        """The prefix of these settings' environment variables, upper-cased, e.g.
        `SERVICEDECK_SERVICES_ORDER_REAPER_` (the model's `env_prefix`, or the one it was
        read with)."""
        return env_prefix_of(type(self))


class DefaultServiceSettings(ServicesBaseSetting):
    """The settings of a service that keeps the default `service_settings()`: `enabled`,
    from `SERVICEDECK_SERVICES_<NAME>_ENABLED`.

    One model for every such service, read with the service's prefix:
    `DefaultServiceSettings(_env_prefix=default_env_prefix("OrderReaper"))`; the prefix
    read with is kept (`variable_prefix`).
    """

    _env_prefix_read: str = PrivateAttr(default=DEFAULT_ENV_PREFIX)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        prefix = values.get("_env_prefix")
        if prefix is not None:
            self._env_prefix_read = str(prefix).upper()

    @property
    def variable_prefix(self) -> str:
        """The prefix of this service's variables, upper-cased."""
        return self._env_prefix_read


def _settings_error(
    settings_class: type[BaseSettings], exc: ValidationError, prefix: str | None = None
) -> ServiceSettingsError:
    prefix = env_prefix_of(settings_class) if prefix is None else prefix.upper()
    problems: list[tuple[str, Any, str]] = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"][:1]) or "?"
        message = f"{err['msg']} (expected {expected_type(settings_class, field)})"
        problems.append((prefix + field.upper(), err.get("input"), message))
    return ServiceSettingsError(settings_class, problems, env_prefix=prefix)


_FIELD_OF_PARSE_ERROR = re.compile(r'field "(?P<field>\w+)"')


def _parse_error(
    settings_class: type[BaseSettings], exc: SettingsError, prefix: str | None = None
) -> Exception:
    match = _FIELD_OF_PARSE_ERROR.search(str(exc))
    if match is None:  # pragma: no cover - another kind of SettingsError: keep it as it is
        return exc
    field = match["field"]
    upper_prefix = env_prefix_of(settings_class) if prefix is None else prefix.upper()
    variable = upper_prefix + field.upper()
    value: Any = None
    for source in (EnvSettingsSource, DotEnvSettingsSource):
        with contextlib.suppress(Exception):
            env_vars = source(settings_class, env_prefix=prefix).env_vars
            found = {k.upper(): v for k, v in env_vars.items()}
            if variable in found:
                value = found[variable]
                break
    expected = expected_type(settings_class, field)
    message = f'not valid JSON (expected {expected}, written as JSON: ["a", "b"])'
    return ServiceSettingsError(
        settings_class, [(variable, value, message)], env_prefix=upper_prefix
    )


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
# The last read of each default prefix: what it was read from, and what came of it.
_last_reads: dict[str, tuple[tuple[object, ...], object]] = {}


def default_settings_class(service_name: str) -> type[ServicesBaseSetting]:
    """A settings model of its own for a service class named `service_name`, with the
    default env prefix `SERVICEDECK_SERVICES_<UPPER_SNAKE_NAME>_` in its config.

    Made once per name, on demand only: services themselves read the shared
    `DefaultServiceSettings` (see `read_default_settings`), which gives the same values.
    """
    try:
        return _default_classes[service_name]
    except KeyError:
        pass
    model: type[ServicesBaseSetting] = type(
        f"{service_name}Settings",
        (ServicesBaseSetting,),
        {
            "model_config": SettingsConfigDict(env_prefix=default_env_prefix(service_name)),
            "__module__": __name__,
            "__doc__": f"Default settings of the {service_name} service.",
        },
    )
    _default_classes[service_name] = model
    return model


def read_default_settings(service_name: str) -> DefaultServiceSettings:
    """The default settings of a service class named `service_name`, as a fresh read
    gives them, without reading them again while nothing they are read from has changed.

    A default model's values come only from its own variables (`<PREFIX>ENABLED`, in
    any case) and its `.env` file (from the working directory, as pydantic-settings
    finds it). Those inputs are compared with the last read's, by value: any change
    (a variable set, unset or changed, a `.env` file written, created or deleted, even
    within the file system's timestamp resolution, another working directory, a `.env`
    value that refers to `${ANOTHER}` variable) reads the model again, so the result is
    always what a fresh read gives. A hit returns a copy, so it may be changed freely.

    Raises:
        ServiceSettingsError: as the fresh read would; it names the model
            `<service_name>Settings`, and the service's variables.
    """
    prefix = default_env_prefix(service_name)
    inputs = _inputs_of(prefix)
    # Nothing read names this service (no variable of its own, a `.env` that does not
    # mention its prefix): it reads the defaults, as every such service does. One read
    # serves them all: 1,000 services constructed read the model once, not 1,000 times.
    key = "" if inputs is not None and _neutral(prefix, inputs) else prefix
    last = _last_reads.get(key)
    if inputs is None or last is None or last[0] != inputs:
        try:
            result: object = DefaultServiceSettings(_env_prefix=prefix)
        except ServiceSettingsError as exc:
            result = exc
            key = prefix  # its message names this service's variables
        # Kept only if nothing changed during the read (another thread, say).
        if inputs is not None and _inputs_of(prefix) == inputs:
            _last_reads[key] = (inputs, result)
    else:
        result = last[1]
    if isinstance(result, ServiceSettingsError):
        raise ServiceSettingsError(
            result.settings_class,
            result.problems,
            env_prefix=prefix,
            model_name=f"{service_name}Settings",
        )
    assert isinstance(result, DefaultServiceSettings)
    copy = result.model_copy()
    copy._env_prefix_read = prefix  # a shared read was made with another service's
    return copy


def _neutral(prefix: str, inputs: tuple[object, ...]) -> bool:
    """Whether `inputs` (from `_inputs_of(prefix)`) hold nothing of `prefix`'s service,
    so that reading them gives every service the same values."""
    variables, *dotenv = inputs
    if variables or not prefix.isascii():
        return False
    if not dotenv or dotenv[0] is None:
        return True
    content, expanded = dotenv
    assert isinstance(content, bytes)
    # Variables match in any case; an expanded `${NAME}` may bring in anything.
    return not expanded and prefix.lower().encode() not in content.lower()


_FIELDS = tuple(DefaultServiceSettings.model_fields)


def _inputs_of(prefix: str) -> tuple[object, ...] | None:
    """What `DefaultServiceSettings(_env_prefix=prefix)` reads its values from, or None
    when that cannot be told cheaply (a `.env` that is a FIFO or cannot be read: then
    the model is read every time)."""
    names = {(prefix + field).lower() for field in _FIELDS}
    environ = os.environ
    # Case-insensitive, as pydantic-settings reads them: every spelling, in its order.
    variables = tuple((key, environ[key]) for key in environ if key.lower() in names)
    env_file = DefaultServiceSettings.model_config.get("env_file")
    if env_file is None:
        return (variables,)
    if not isinstance(env_file, str | os.PathLike):  # pragma: no cover - set above
        return None
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
