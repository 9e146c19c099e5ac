"""Settings: environment variables, and production refusing weak secrets."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import DEVELOPMENT_SECRET, Settings


def test_defaults_are_a_local_sqlite_file() -> None:
    settings = Settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///./var/")
    assert settings.environment == "development"
    assert settings.secret == DEVELOPMENT_SECRET


def test_environment_variables_use_the_wecare_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECARE_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("WECARE_LOG_LEVEL", "debug")
    monkeypatch.setenv("WECARE_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    "secret",
    [None, "", DEVELOPMENT_SECRET, "short-secret"],
    ids=["missing", "empty", "dev", "short"],
)
def test_production_refuses_a_default_or_weak_secret(secret: str | None) -> None:
    with pytest.raises(ValidationError, match="WECARE_SECRET_KEY"):
        Settings(environment="production", secret_key=None if secret is None else SecretStr(secret))


@pytest.mark.parametrize(
    "secret",
    ["a" * 36, "x" * 48, "wecare" * 8, "0123" * 10],
    ids=["36a", "48x", "word", "digits"],
)
def test_production_refuses_a_long_secret_without_entropy(secret: str) -> None:
    with pytest.raises(ValidationError, match="too predictable"):
        Settings(environment="production", secret_key=SecretStr(secret))


def test_development_keeps_any_secret() -> None:
    assert Settings(secret_key=SecretStr("a" * 36)).secret == "a" * 36


@pytest.mark.parametrize(
    "generate", [lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(32)]
)
def test_production_accepts_a_generated_secret(generate: Callable[[], str]) -> None:
    for _ in range(50):
        secret = generate()
        settings = Settings(
            environment="production",
            secret_key=SecretStr(secret),
            public_base_url="https://wecare.example.org",
        )
        assert settings.secret == secret


def test_migrations_use_the_owner_url_and_fall_back_to_the_runtime_url() -> None:
    runtime = "postgresql+asyncpg://app@db/wecare"
    owner = "postgresql+asyncpg://owner@db/wecare"
    assert Settings(database_url=runtime).owner_database_url == runtime
    both = Settings(database_url=runtime, migration_database_url=owner)
    assert (both.database_url, both.owner_database_url) == (runtime, owner)


def test_the_issuer_follows_where_the_server_listens() -> None:
    assert Settings().issuer == "http://127.0.0.1:8000"
    assert Settings(port=8101).issuer == "http://127.0.0.1:8101"
    assert Settings(host="wecare.local", port=9000).issuer == "http://wecare.local:9000"
    # A wildcard address is reached on loopback; an IPv6 literal goes in brackets.
    assert Settings(host="0.0.0.0", port=8101).issuer == "http://127.0.0.1:8101"
    assert Settings(host="::", port=8101).issuer == "http://[::1]:8101"
    assert Settings(host="::1", port=8101).issuer == "http://[::1]:8101"
    explicit = Settings(port=8101, public_base_url="https://wecare.example.org/")
    assert explicit.issuer == "https://wecare.example.org"


@pytest.mark.parametrize("url", ["wecare.example.org", "ftp://wecare.example.org", "https://"])
def test_a_public_base_url_is_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValidationError, match=r"WECARE_PUBLIC_BASE_URL: .* not an absolute"):
        Settings(public_base_url=url)


def test_production_refuses_to_guess_its_public_url() -> None:
    with pytest.raises(ValidationError, match="WECARE_PUBLIC_BASE_URL must be set in production"):
        Settings(environment="production", secret_key=SecretStr(secrets.token_urlsafe(32)))


def test_a_webhook_lease_must_outlast_a_delivery() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_LEASE_SECONDS"):
        Settings(webhook_timeout_seconds=10, webhook_lease_seconds=10)
    assert Settings(webhook_timeout_seconds=5, webhook_lease_seconds=6).webhook_lease_seconds == 6


def test_smtp_is_off_by_default_and_needs_a_sender_when_on() -> None:
    assert not Settings().smtp_configured
    with pytest.raises(ValidationError, match="WECARE_SMTP_SENDER"):
        Settings(smtp_host="smtp.example.org")
    with pytest.raises(ValidationError, match="go together"):
        Settings(smtp_host="smtp.example.org", smtp_sender="a@example.org", smtp_username="u")
    with pytest.raises(ValidationError, match="WECARE_SMTP_TIMEOUT_SECONDS"):
        Settings(
            smtp_host="smtp.example.org",
            smtp_sender="a@example.org",
            smtp_timeout_seconds=30,
            webhook_lease_seconds=20,
        )
    on = Settings(smtp_host="smtp.example.org", smtp_sender="a@example.org", smtp_port=465)
    assert (on.smtp_configured, on.smtp_security, on.smtp_port) == (True, "starttls", 465)


def test_empty_smtp_variables_are_unset() -> None:
    """An env file with `WECARE_SMTP_HOST=` and the rest empty leaves e-mails off."""
    settings = Settings(smtp_host="", smtp_sender="", smtp_username="", smtp_password="")  # type: ignore[arg-type]
    assert not settings.smtp_configured
    assert (settings.smtp_username, settings.smtp_password) == (None, None)
