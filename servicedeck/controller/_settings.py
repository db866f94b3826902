"""Reading a service's settings, and where each value came from (default, env, .env)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from servicedeck import ServicesBaseSetting, ServiceSettingsError
from servicedeck.control import SettingInfo

if TYPE_CHECKING:
    from servicedeck.controller._entry import Entry


def load_settings(entry: Entry) -> None:
    """Read `entry`'s settings from the environment again; a failure goes to `settings_error`."""
    cls = entry.cls
    try:
        entry.env_var = cls.environment_variable_name()
        settings = cls.service_settings()
    except ServiceSettingsError as exc:
        entry.settings_error = str(exc)
        entry.enabled = None
        entry.enabled_source = source_of(exc.settings_class, "enabled")
        return
    except Exception as exc:
        entry.settings_error = f"{type(exc).__name__}: {exc}"
        entry.enabled = None
        return
    entry.settings_error = None
    entry.enabled = bool(settings.enabled)
    entry.settings = describe_settings(settings)
    entry.enabled_source = next(
        (s.source for s in entry.settings if s.name == "enabled"), "default"
    )


def source_of(settings_class: type[ServicesBaseSetting], field_name: str) -> str:
    """Where field `field_name` of `settings_class` comes from: `env`, `.env` or `default`."""
    try:
        if field_name in EnvSettingsSource(settings_class)():
            return "env"
        if field_name in DotEnvSettingsSource(settings_class)():
            return ".env"
    except Exception:
        return "env"
    return "default"


def describe_settings(settings: ServicesBaseSetting) -> tuple[SettingInfo, ...]:
    """Every field of `settings`: its value, environment variable and source."""
    cls = type(settings)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    try:
        from_env = EnvSettingsSource(cls)()
        from_dotenv = DotEnvSettingsSource(cls)()
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
        infos.append(
            SettingInfo(
                name=field_name,
                value=repr(getattr(settings, field_name)),
                env_var=prefix + field_name.upper(),
                source=source,
                description=info.description or "",
            )
        )
    return tuple(infos)
