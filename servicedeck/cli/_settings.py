"""The command line's own settings: `SERVICEDECK_*` variables (and `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SECONDS", "CliSettings", "Seconds", "default_state_dir"]

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A finite number of seconds > 0: `SERVICEDECK_STOP_TIMEOUT`, and the options that take
seconds (`--stop-timeout`, `--timeout`), validate through this one type."""

SECONDS: TypeAdapter[float] = TypeAdapter(Seconds)
"""`Seconds`, for a value that is not a field (an option's)."""


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/servicedeck`, else `~/.local/state/servicedeck`."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "servicedeck"


class CliSettings(BaseSettings):
    """Settings of the command line itself: `SERVICEDECK_*` variables (and `.env`)."""

    model_config = SettingsConfigDict(
        env_prefix="SERVICEDECK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    state_dir: Path = Field(default_factory=default_state_dir)
    """Where `run` keeps its pid file and a background run its log (SERVICEDECK_STATE_DIR)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """The least level `run` logs (SERVICEDECK_LOG_LEVEL); `--log-level` wins."""
    stop_timeout: Seconds = 5.0
    """Seconds `run` waits for each service to stop before cancelling it."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value
