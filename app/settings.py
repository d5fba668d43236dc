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
    criteria_file: Path | None = Field(
        None, description="Criteria YAML activated at start-up; the packaged default otherwise."
    )
    http_timeout_seconds: float = Field(30.0, gt=0, description="Time-out of one CRM request.")
    http_max_attempts: int = Field(
        6, ge=1, le=20, description="Attempts per CRM request (5xx, time-outs, 429s)."
    )
    http_backoff_initial_seconds: float = Field(
        0.5, gt=0, description="First retry delay; doubled per attempt, with jitter."
    )
    rate_limit_headroom: float = Field(
        0.15, ge=0, lt=1, description="Share of the CRM's burst rate limits left unused."
    )
    api_budget_share: float = Field(
        0.5, gt=0, le=1, description="Default share of the CRM's daily API allocation."
    )
    search_overlap_seconds: float = Field(
        300.0, ge=0, description="Incremental syncs re-read this much before the cursor."
    )
    lease_ttl_seconds: float = Field(
        120.0, gt=0, description="A sync's lease on its connection; renewed while it works."
    )
    claim_ttl_seconds: float = Field(
        30.0,
        ge=3,
        description="A worker's claim on inbox events and outbox rows; renewed while it works.",
    )
    writeback_max_attempts: int = Field(
        8, ge=1, description="Attempts before an outbox row is kept as failed."
    )
    writeback_backoff_seconds: float = Field(
        30.0, gt=0, description="First write-back retry delay; doubled per attempt."
    )
    queue_url: str | None = Field(
        None, description="redis://... for the scaled set-up; a SQLite queue file otherwise."
    )
    worker_threads: int = Field(4, ge=1, le=64, description="Task threads per process.")
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, description="`glengarry worker` serves /metrics here; 0: off."
    )
    webhook_max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Larger webhook deliveries are refused (413)."
    )
    webhook_coalesce_ms: int = Field(
        500, ge=0, description="Events arriving within this window are processed together."
    )
    public_url: str | None = Field(
        None,
        description="The address CRMs reach this service at (https://glengarry.example.com): "
        "`connect` and `connections show` print webhook URLs on it.",
    )
    hubspot_app_client_secret: SecretStr | None = Field(
        None, description="Client secret of a public HubSpot app serving many portals."
    )
    api_token: SecretStr | None = Field(
        None,
        description="An admin key for the operations API; unset and no `glengarry apikey`: "
        "the API is off.",
    )
    api_auth_failures_per_minute: int = Field(
        10, ge=1, description="Failed API authentications per client address before 429s."
    )
    metrics_public: bool = Field(
        True, description="/metrics answers without a key; false: a read key is needed."
    )
    inbox_retention_days: float = Field(30.0, gt=0, description="Processed events kept this long.")
    inbox_max_attempts: int = Field(
        10, ge=1, description="Attempts at an inbox event before it is kept as failed."
    )
    carry_event_values: bool = Field(
        True,
        description="Apply the values webhook events carry, and read only the activity records "
        "association events name, instead of re-reading the contact from the CRM (false: "
        "re-read every contact an event changed, as before).",
    )
    sync_interval_minutes: int = Field(
        5, ge=1, le=59, description="Incremental sync of every connection (the safety net)."
    )
    decay_interval_minutes: int = Field(
        1, ge=1, le=59, description="How often contacts whose decay is due are rescored."
    )
    salesforce_bulk_threshold: int = Field(
        50_000,
        ge=0,
        description="A Salesforce backfill of more Leads (or Contacts) than this, counted first, "
        "reads that object through a Bulk API 2.0 query job instead of REST query pages.",
    )

    @field_validator("data_dir")
    @classmethod
    def _a_directory(cls, value: Path) -> Path:
        # Made on first use: whatever part of it exists already must be a directory.
        for part in (value, *value.parents):
            if part.exists():
                if not part.is_dir():
                    raise ValueError(f"{part} is a file, not a directory")
                break
        return value

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

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// URL (leave unset for the embedded queue)")
        return value

    @field_validator("public_url")
    @classmethod
    def _a_web_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s):// URL")
        return value.rstrip("/") if value else value

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'glengarry.db').resolve()}"

    def crm_settings(self) -> dict[str, Any]:
        """Settings that only a CRM package reads, handed to its connectors by name."""
        return {"salesforce_bulk_threshold": self.salesforce_bulk_threshold}


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper()
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"invalid setting {name}: {reason}") from None
