"""Settings: one pydantic-settings class per process, read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "password", "postgres", "tourcrm", "dev", "test", "example"}


class Settings(BaseSettings):
    """Everything a service process needs to know; production differs from embedded by settings only."""

    model_config = SettingsConfigDict(env_prefix="TOURCRM_", env_file=".env", extra="ignore")

    service: str = "profile"
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int | None = None  # default: the service's own port (its ServiceSpec) + port_offset
    # `tourcrm serve`: server processes of this service on its one port (each with its own consumer,
    # relay and jobs; Kafka splits the partitions, PostgreSQL locks keep one relay and one job run at a time)
    workers: int = Field(default=1, ge=1, le=64)
    port_offset: int = 0  # added to every default port (run a second embedded stack beside the first)
    var_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TOURCRM_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "TOURCRM_KAFKA_BOOTSTRAP_SERVERS")
    )
    topic_prefix: str = ""
    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    api_keys_file: Path | None = None
    api_keys: str | None = None
    # Where the other services answer (for the few synchronous calls, e.g. the privacy export);
    # the composition fills in each service's default port.
    service_urls: dict[str, str] = Field(default_factory=dict)
    # The API key this service presents on its own calls to another (e.g. a consumer reading free text that
    # never travels on the bus); development falls back to the development key.
    service_key: str | None = None
    # Services that take part in the export / erasure protocol (each answers for its own data).
    privacy_services: list[str] = Field(default_factory=list)  # the composition's default: every service
    # Consumer and relay tuning.
    consumer_batch_size: int = 500
    consumer_max_attempts: int = 3
    consumer_lag_interval_seconds: float = 15.0  # how often the consumer lag is read from the broker
    # Kafka: the longest a fetch waits for 64 KiB of records before it returns fewer; each consumer adapts its wait to
    # twice what its batches take lately, from 50 ms up to this (shared.kafka: _pace)
    consumer_fetch_wait_ms: int = Field(default=150, ge=0, le=5000)
    relay_batch_size: int = 500
    relay_idle_seconds: float = 0.5
    # the relay sweeps at most once per this long while commits keep waking it (one sweep publishes what several
    # transactions wrote); a commit after a quiet spell is published at once
    relay_gather_seconds: float = Field(default=0.05, ge=0, le=5)
    bus_timeout_seconds: float = 10.0
    # In-process bus only: at start, publish again what was published this long ago or less.
    memory_bus_replay_seconds: float = 3600.0
    max_body_bytes: int = Field(default=1 << 20, ge=1024)  # a larger request body is a 413
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "development":
            return self
        if self.database_url:
            password = urlsplit(self.database_url.replace("+asyncpg", "")).password
            if password is not None and password.lower() in PLACEHOLDER_SECRETS and self.environment == "production":
                raise ValueError("DATABASE_URL carries a placeholder password; set a real secret outside development")
        if self.environment == "production" and not (self.api_keys_file or self.api_keys):
            raise ValueError("production needs TOURCRM_API_KEYS_FILE or TOURCRM_API_KEYS; no development key is made")
        return self

    @property
    def http_port(self) -> int:
        return self.port or 8000 + self.port_offset

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to a SQLite file under var/ for this service."""
        if self.database_url:
            url = self.database_url.replace("{service}", self.service)
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{self.var_dir / (self.service + '.db')}"

    def url_of(self, service: str) -> str:
        """Base URL of another service (TOURCRM_SERVICE_URLS, or the defaults the composition filled in)."""
        if service not in self.service_urls:
            raise LookupError(f"no URL for service {service!r}; set TOURCRM_SERVICE_URLS")
        return self.service_urls[service]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
