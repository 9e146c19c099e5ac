"""Settings read from the environment (prefix ``WECARE_``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The checkout (or image directory) holding app/, migrations/ and data/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Only ever used in development and tests; production refuses to start with it.
DEVELOPMENT_SECRET = "development-only-secret-never-use-in-production-000"
MIN_SECRET_LENGTH = 32

Environment = Literal["development", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every setting of the service; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="WECARE_", extra="ignore", frozen=True)

    environment: Environment = "development"
    database_url: str = "sqlite+aiosqlite:///./var/wecare.sqlite3"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: LogLevel = "INFO"
    secret_key: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where clients reach the service; the OAuth issuer and the tokens' iss.",
    )
    token_audience: str = "wecare-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3600, le=365 * 86_400)
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_failure_window_seconds: int = Field(default=900, ge=10, le=86_400)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=100_000)
    client_auth_max_failures_per_address: int = Field(default=20, ge=1, le=100_000)
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_wait_seconds: float = Field(default=1.0, ge=0, le=30)
    auth_failure_delay_seconds: float = Field(default=1.0, ge=0, le=10)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    signing_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # "https://a.example,https://b.example" is friendlier in an env file than JSON.
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [proxy.strip() for proxy in value.split(",") if proxy.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        # uvicorn takes anything it cannot parse as a literal host name and "*" as everyone:
        # both would let a forged X-Forwarded-For through, so only addresses and networks.
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as error:
                raise ValueError(
                    f"WECARE_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
                ) from error
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment == "production":
            secret = self.secret_key.get_secret_value() if self.secret_key else ""
            if not secret or secret == DEVELOPMENT_SECRET or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "WECARE_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production"
                )
        return self

    @property
    def issuer(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def secret(self) -> str:
        """The effective secret: the configured one, or the development default."""
        return self.secret_key.get_secret_value() if self.secret_key else DEVELOPMENT_SECRET

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
