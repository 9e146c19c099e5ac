"""Settings read from the environment (prefix ``WECARE_``)."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The checkout (or image directory) holding app/, migrations/ and data/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Only ever used in development and tests; production refuses to start with it.
DEVELOPMENT_SECRET = "development-only-secret-never-use-in-production-000"
MIN_SECRET_LENGTH = 32
# Shannon estimate over the secret's own characters: 36 x "a" scores 0 bits, a
# secrets.token_urlsafe(32) (43 characters) about 200, `openssl rand -hex 32` about 240.
MIN_SECRET_ENTROPY_BITS = 128


def estimated_entropy_bits(secret: str) -> float:
    """Length times the Shannon entropy of the secret's character frequencies.

    An estimate, not a proof: it refuses repeated and low-variety secrets ("a" x 36, a
    word repeated), not a sequence such as the alphabet; the README says how to generate."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_character = -sum(n / total * math.log2(n / total) for n in counts.values())
    return abs(per_character * total)  # abs: no -0.0 in the message


def served_base_url(host: str, port: int) -> str:
    """``http://host:port`` as a client on this machine reaches it: a wildcard address is
    reached on loopback, an IPv6 literal goes in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"  # a name
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    literal = f"[{address}]" if address.version == 6 else str(address)
    return f"http://{literal}:{port}"


Environment = Literal["development", "production"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["json", "text"]
# off: no endpoint; bearer: /metrics on the API's port behind WECARE_METRICS_TOKEN; port: a
# listener of its own (WECARE_METRICS_HOST:WECARE_METRICS_PORT) that the proxy never routes.
MetricsMode = Literal["off", "bearer", "port"]
MIN_METRICS_TOKEN_LENGTH = 32
SmtpSecurity = Literal["starttls", "tls", "none"]


class Settings(BaseSettings):
    """Every setting of the service; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="WECARE_", extra="ignore", frozen=True)

    environment: Environment = "development"
    database_url: str = "sqlite+aiosqlite:///./var/wecare.sqlite3"
    # The tables' owner, for `wecare db upgrade`, `seed` and `db grant-runtime`; the service
    # itself connects with database_url, a role that may only append to the audit trail.
    migration_database_url: str | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=5, ge=0, le=200)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    # PostgreSQL, per connection of the service (0 = no limit); see README "Configuration".
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    db_lock_timeout_ms: int = Field(default=5_000, ge=0)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: LogLevel = "INFO"
    secret_key: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_base_url: str | None = Field(
        default=None,
        description="Where clients reach the service; the OAuth issuer and the tokens' iss. "
        "Default (development only): http://{host}:{port}, where `wecare serve` listens.",
    )
    first_admin_email: str = Field(
        default="admin@example.org",
        description="`wecare seed` on a database without accounts creates this administrator.",
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
    audit_checkpoint_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86_400,
        description="Each worker signs a checkpoint of the audit chain this often if the "
        "trail moved (0: only on demand).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # uvicorn, per worker process (`wecare serve`); see README "Configuration".
    server_limit_concurrency: int = Field(default=1000, ge=1, le=100_000)
    server_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    server_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    server_max_request_line_bytes: int = Field(default=8192, ge=256, le=1_048_576)
    server_max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    server_max_headers: int = Field(default=100, ge=10, le=10_000)
    server_backlog: int = Field(default=2048, ge=1, le=65_535)
    # uvicorn's supervisor kills a worker that does not answer its health ping within this
    # (its own default, 5 s, is shorter than a worker's start on a loaded two-core machine).
    server_worker_healthcheck_seconds: int = Field(default=60, ge=1, le=600)
    docs_enabled: bool = Field(
        default=True, description="Serve /docs and /redoc (the OpenAPI document stays)."
    )

    # Webhooks (`wecare worker`, README "Webhooks").
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a worker holds a delivery it claimed; a killed worker's "
        "deliveries are claimed again after it.",
    )
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)

    # E-mail notifications over SMTP (`wecare worker`, README "E-mail notifications").
    # Unset host: no e-mail is sent, and the worker drops the e-mail outbox rows.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_security: SmtpSecurity = Field(
        default="starttls",
        description="starttls: plain connection upgraded by STARTTLS (port 587); tls: "
        "implicit TLS (port 465); none: no encryption (a relay on loopback only).",
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str | None = Field(
        default=None, description="The From address, e.g. wecare@regione.piemonte.it."
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    # Documents (README "Documents").
    document_storage: Literal["local", "s3"] = "local"
    document_dir: Path = Field(
        default=Path("./var/documents"), description="local storage: the files' directory."
    )
    document_max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        description="The global cap of one uploaded file; a kind's own limit may be lower.",
    )
    document_prune_after_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="`wecare prune` removes documents of draft applications and claims left "
        "untouched this long (abandoned uploads).",
    )
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "eu-south-1"
    s3_addressing_style: Literal["path", "virtual", "auto"] = "auto"
    s3_server_side_encryption: Literal["", "AES256", "aws:kms"] = ""
    s3_sse_kms_key_id: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_presign_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="S3: > 0 answers a download with a redirect to a presigned URL valid "
        "this long; 0 streams the bytes through the service.",
    )

    # Operations: logs and metrics (README "Logs and metrics").
    log_format: LogFormat | None = Field(
        default=None, description="json or text; unset: json in production, text otherwise."
    )
    metrics: MetricsMode = "off"
    metrics_token: SecretStr | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9100, ge=1, le=65535)

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

    @field_validator("public_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"WECARE_PUBLIC_BASE_URL: {value!r} is not an absolute http(s) URL "
                "such as https://wecare.example.org"
            )
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> Settings:
        if self.document_storage == "s3" and not self.s3_bucket:
            raise ValueError("WECARE_DOCUMENT_STORAGE=s3 needs WECARE_S3_BUCKET")
        return self

    @model_validator(mode="after")
    def _metrics_token_when_bearer(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if self.metrics == "bearer" and (
            len(token) < MIN_METRICS_TOKEN_LENGTH
            or estimated_entropy_bits(token) < MIN_SECRET_ENTROPY_BITS
        ):
            raise ValueError(
                "WECARE_METRICS=bearer needs WECARE_METRICS_TOKEN: a random value of at least "
                f"{MIN_METRICS_TOKEN_LENGTH} characters (an estimated "
                f"{MIN_SECRET_ENTROPY_BITS} bits); generate one as WECARE_SECRET_KEY"
            )
        return self

    @field_validator("smtp_host", "smtp_username", "smtp_password", "smtp_sender", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable (`WECARE_SMTP_HOST=` in an env file) is no value: e-mails off.
        return None if value == "" else value

    @property
    def smtp_configured(self) -> bool:
        """Whether e-mails are sent at all (a host and a sender address)."""
        return bool(self.smtp_host)

    @model_validator(mode="after")
    def _smtp_needs_a_sender(self) -> Settings:
        if self.smtp_host and not self.smtp_sender:
            raise ValueError("WECARE_SMTP_HOST needs WECARE_SMTP_SENDER (the From address)")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("WECARE_SMTP_USERNAME and WECARE_SMTP_PASSWORD go together")
        # E-mails share the webhooks' lease: a lease shorter than a send would let a second
        # worker send the same e-mail while the first still waits for the server.
        if self.smtp_host and self.webhook_lease_seconds <= self.smtp_timeout_seconds:
            raise ValueError(
                "WECARE_WEBHOOK_LEASE_SECONDS must be longer than WECARE_SMTP_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _webhook_lease_outlasts_a_delivery(self) -> Settings:
        # A lease shorter than a delivery would let a second worker send the same event
        # while the first still waits for its answer.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "WECARE_WEBHOOK_LEASE_SECONDS must be longer than WECARE_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment == "production":
            secret = self.secret_key.get_secret_value() if self.secret_key else ""
            if not secret or secret == DEVELOPMENT_SECRET or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "WECARE_SECRET_KEY must be set to a random value of at least "
                    f"{MIN_SECRET_LENGTH} characters in production"
                )
            if estimated_entropy_bits(secret) < MIN_SECRET_ENTROPY_BITS:
                raise ValueError(
                    "WECARE_SECRET_KEY is too predictable for production (an estimated "
                    f"{estimated_entropy_bits(secret):.0f} bits, at least "
                    f"{MIN_SECRET_ENTROPY_BITS} needed); generate one with "
                    '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
                )
            if self.public_base_url is None:
                # Guessed from the listening address, the issuer would be what the server
                # sees (0.0.0.0:8000 in a container), never what partners reach.
                raise ValueError(
                    "WECARE_PUBLIC_BASE_URL must be set in production to the URL clients "
                    "reach the service at (the OAuth issuer), e.g. https://wecare.example.org"
                )
        return self

    @property
    def effective_log_format(self) -> LogFormat:
        """JSON lines for the log shipper in production, readable text at a terminal."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "text"

    @property
    def issuer(self) -> str:
        """WECARE_PUBLIC_BASE_URL, or where the server listens (development)."""
        return self.public_base_url or served_base_url(self.host, self.port)

    @property
    def secret(self) -> str:
        """The effective secret: the configured one, or the development default."""
        return self.secret_key.get_secret_value() if self.secret_key else DEVELOPMENT_SECRET

    @property
    def owner_database_url(self) -> str:
        """The URL of the tables' owner (migrations, seed, grants)."""
        return self.migration_database_url or self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
