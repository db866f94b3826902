"""The command line's own settings: `SERVICEDECK_*` variables (and `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicedeck.coordinate import CoordinationError, LeaseTimings, check_url

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
    refresh_seconds: Seconds = 0.5
    """How often the console shows the services' changes (SERVICEDECK_REFRESH_SECONDS);
    `--refresh` wins. The default is the console's own (`ServiceDeckApp.REFRESH_SECONDS`,
    not imported here: Textual would be most of `ls`'s start-up)."""

    coordinate: str | None = None
    """Where `run` keeps its leases, to run each service on one replica at a time
    (SERVICEDECK_COORDINATE); `--coordinate` wins. None: no coordination."""
    lease_seconds: Seconds = 15.0
    """How long a lease lasts after each renewal (SERVICEDECK_LEASE_SECONDS)."""
    renew_seconds: Seconds = 5.0
    """How often a leader renews its leases (SERVICEDECK_RENEW_SECONDS)."""
    renew_deadline_seconds: Seconds = 10.0
    """How long after its last renewal a leader steps down
    (SERVICEDECK_RENEW_DEADLINE_SECONDS)."""
    poll_seconds: Seconds = 1.0
    """How often a standby tries to take a lease, ± 20 % (SERVICEDECK_POLL_SECONDS)."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("coordinate")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value:
            try:
                check_url(value)
            except CoordinationError as exc:
                raise ValueError(str(exc)) from None
        return value or None

    @model_validator(mode="after")
    def _valid_timings(self) -> CliSettings:
        try:
            self.lease_timings()
        except ValueError as exc:
            names = ", ".join(
                f"SERVICEDECK_{name.upper()}={getattr(self, name)!r}"
                for name in (
                    "lease_seconds",
                    "renew_seconds",
                    "renew_deadline_seconds",
                    "poll_seconds",
                )
            )
            raise ValueError(f"{exc} ({names})") from None
        return self

    def lease_timings(self) -> LeaseTimings:
        """The lease timings these settings give.

        Raises:
            ValueError: they are not `renew < deadline < lease`, or not seconds > 0.
        """
        return LeaseTimings(
            lease=self.lease_seconds,
            renew=self.renew_seconds,
            deadline=self.renew_deadline_seconds,
            poll=self.poll_seconds,
        )
