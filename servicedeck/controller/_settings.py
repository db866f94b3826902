"""Reading a service's settings, and where each value came from (default, env, .env).

When the settings do not load, what is known is still shown: the fields that are valid
are read again with the invalid ones left at their defaults, so a view can show a valid
interval or `enabled` beside the error, and mark only the invalid fields as unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from servicedeck import ServicesBaseSetting, ServiceSettingsError
from servicedeck.control import SettingInfo

if TYPE_CHECKING:
    from servicedeck.controller._entry import Entry

__all__ = ["describe_settings", "load_settings", "source_of"]


def load_settings(entry: Entry) -> None:
    """Read `entry`'s settings from the environment again; a failure goes to `settings_error`.

    Sets what is known despite a failure: `enabled` (None when it is the invalid field),
    its source, and every field (an invalid one carrying its error).
    """
    cls = entry.cls
    try:
        entry.env_var = cls.environment_variable_name()
        settings = cls.service_settings()
    except ServiceSettingsError as exc:
        entry.settings_error = str(exc)
        invalid = _invalid_fields(exc)
        prefix = _read_prefix(exc)
        known = _read_around(exc.settings_class, invalid, prefix)
        entry.enabled = None if known is None or "enabled" in invalid else bool(known.enabled)
        entry.enabled_source = source_of(exc.settings_class, "enabled", prefix)
        entry.settings = () if known is None else describe_settings(known, invalid)
        return
    except Exception as exc:
        entry.settings_error = f"{type(exc).__name__}: {exc}"
        entry.enabled = None
        entry.settings = ()
        return
    entry.settings_error = None
    entry.enabled = bool(settings.enabled)
    entry.settings = describe_settings(settings)
    entry.enabled_source = next(
        (s.source for s in entry.settings if s.name == "enabled"), "default"
    )


Invalid = dict[str, tuple[Any, str]]
"""The fields a settings error is about: `field -> (the value rejected, why)`."""


def _read_prefix(exc: ServiceSettingsError) -> str | None:
    """The prefix to read the model of `exc` with again: the one it was read with when
    that is not its own (the shared default model's, read with its service's), else None."""
    return None if exc.env_prefix == _own_prefix(exc.settings_class) else exc.env_prefix


def _own_prefix(settings_class: type[BaseSettings]) -> str:
    return str(settings_class.model_config.get("env_prefix", "")).upper()


def _invalid_fields(exc: ServiceSettingsError) -> Invalid:
    settings_class = exc.settings_class
    prefix = exc.env_prefix
    by_variable = {prefix + name.upper(): name for name in settings_class.model_fields}
    return {
        by_variable[variable]: (value, message)
        for variable, value, message in exc.problems
        if variable in by_variable
    }


def _read_around(
    settings_class: type[BaseSettings], invalid: Invalid, prefix: str | None = None
) -> ServicesBaseSetting | None:
    """The settings read again with the `invalid` fields at their defaults (arguments
    win over every source); None when that cannot be done (a field without a default)."""
    defaults: dict[str, Any] = {}
    for name in invalid:
        field = settings_class.model_fields[name]
        if field.is_required():
            return None
        defaults[name] = field.get_default(call_default_factory=True)
    if prefix is not None:
        defaults["_env_prefix"] = prefix
    try:
        known = settings_class(**defaults)
    except Exception:
        return None
    return known if isinstance(known, ServicesBaseSetting) else None


def source_of(
    settings_class: type[BaseSettings], field_name: str, prefix: str | None = None
) -> str:
    """Where field `field_name` of `settings_class` (read with env prefix `prefix`, None:
    its own) comes from: `env`, `.env` or `default`."""
    try:
        if field_name in EnvSettingsSource(settings_class, env_prefix=prefix)():
            return "env"
        if field_name in DotEnvSettingsSource(settings_class, env_prefix=prefix)():
            return ".env"
    except Exception:
        return "env"
    return "default"


def describe_settings(
    settings: ServicesBaseSetting, invalid: Invalid | None = None
) -> tuple[SettingInfo, ...]:
    """Every field of `settings`: its value, environment variable and source.

    A field in `invalid` has no valid value: its `SettingInfo` shows the value that was
    rejected, and says why in `error`.
    """
    invalid = invalid or {}
    cls = type(settings)
    prefix = settings.variable_prefix
    # The shared default model is read with its service's prefix; any other, its own.
    read_prefix = None if prefix == _own_prefix(cls) else prefix
    from_env: dict[str, Any] = {}
    from_dotenv: dict[str, Any] = {}
    # Only a field given a value (model_fields_set) can come from a source; reading the
    # sources parses the whole environment and the .env file, once per service, which
    # was most of what `servicedeck ls` spent on a thousand services left at defaults.
    if settings.model_fields_set or invalid:
        try:
            from_env = EnvSettingsSource(cls, env_prefix=read_prefix)()
            from_dotenv = DotEnvSettingsSource(cls, env_prefix=read_prefix)()
        except Exception:
            from_env, from_dotenv = {}, {}
    infos = []
    for field_name, info in cls.model_fields.items():
        if field_name in from_env:
            source = "env"
        elif field_name in from_dotenv:
            source = ".env"
        else:
            source = "default"
        rejected = invalid.get(field_name)
        value = repr(getattr(settings, field_name) if rejected is None else rejected[0])
        infos.append(
            SettingInfo(
                name=field_name,
                value=value,
                env_var=prefix + field_name.upper(),
                source=source,
                description=info.description or "",
                error=None if rejected is None else rejected[1],
            )
        )
    return tuple(infos)
