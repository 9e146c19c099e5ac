"""What the OAuth tests share: the token endpoint, a client's Basic credentials, and a
counter of the client-secret checks the service makes."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from app.core import security

TOKEN = "/api/v1/oauth/token"


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 section 2.3.1: form-urlencode each part, then base64 "id:secret".
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def count_client_secret_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The secrets the service checks by HMAC; an argon2 verification fails the test."""
    verified: list[str] = []
    original = security.verify_client_secret

    def counting(secret: str, stored: str | None, pepper: bytes) -> bool:
        verified.append(secret)
        return original(secret, stored, pepper)

    def no_argon2(secret: str, secret_hash: str | None) -> bool:
        raise AssertionError("client authentication ran argon2")

    monkeypatch.setattr("app.services.clients.verify_client_secret", counting)
    monkeypatch.setattr(security, "verify_secret", no_argon2)
    return verified
