"""Runtime settings: `GLENGARRY_*` environment variables and an optional `.env` file.

Every setting is listed in the README's settings table; a test keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigurationError

ENV_PREFIX = "GLENGARRY_"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        Path(".glengarry"), description="Where the embedded database and key live."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to a SQLite file in the data directory."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet key(s), comma-separated, newest first; generated into the data "
        "directory when unset.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: LogFormat = Field(LogFormat.JSON, description="`json` or `console` (stderr).")
    host: str = Field("127.0.0.1", description="Address `glengarry serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `glengarry serve` listens on.")
    db_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Time-out for reaching the database."
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'glengarry.db').resolve()}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigurationError(f"invalid setting {name}: {first['msg']}") from None
