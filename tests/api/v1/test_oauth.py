"""The OAuth 2.0 authorisation server: token, revocation, introspection, discovery, and the
strict verification of access tokens."""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.security import SigningKey, client_secret_pepper, hash_client_secret
from app.db.session import Database
from app.main import create_app
from app.models.audit import AuditEvent
from app.models.auth import OAuthClient, SigningKeyRow
from app.services.clients import register_client
from app.services.keys import current_signing_key, retire_signing_key, rotate_signing_key
from tests import ENGLISH
from tests.actors import Actor, client_actor, make_organisation
from tests.oauth import TOKEN, basic, count_client_secret_checks

ME = "/api/v1/users/me"  # any protected route: a bad token is refused before anything else
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def partner(session: AsyncSession, settings: Settings) -> Actor:
    foundation = await make_organisation(session, name="Fondazione", tax_code="12345670017")
    return await client_actor(
        session,
        settings,
        scopes=["allocations:read", "organisations:read"],
        organisation_id=foundation.id,
    )


async def token_for(client: httpx.AsyncClient, partner: Actor, **form: str) -> httpx.Response:
    assert partner.client_id
    assert partner.client_secret
    return await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", **form},
        headers=basic(partner.client_id, partner.client_secret),
    )


def claims_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_claims(token)  # type: ignore[no-any-return]


class TestTokenEndpoint:
    async def test_client_secret_basic(self, client: httpx.AsyncClient, partner: Actor) -> None:
        response = await token_for(client, partner)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert set(body["scope"].split()) == {"allocations:read", "organisations:read"}
        assert "refresh_token" not in body
        header = jwt.get_unverified_header(body["access_token"])
        assert (header["typ"], header["alg"]) == ("at+jwt", "RS256")
        jwks = (await client.get("/.well-known/jwks.json")).json()
        assert header["kid"] in {key["kid"] for key in jwks["keys"]}
        claims = claims_of(body["access_token"])
        metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
        assert claims["iss"] == metadata["issuer"]
        assert claims["aud"] == "wecare-api"
        assert claims["client_id"] == claims["sub"] == partner.client_id
        assert claims["exp"] - claims["iat"] == 900
        assert claims["jti"]

    async def test_client_secret_post(self, client: httpx.AsyncClient, partner: Actor) -> None:
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": partner.client_id or "",
                "client_secret": partner.client_secret or "",
            },
        )
        assert response.status_code == 200

    async def test_basic_credentials_are_form_urlencoded(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, partner: Actor
    ) -> None:
        secret = "s3cr:t/+ é&="
        await session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == partner.client_id)
            .values(secret_hash=hash_client_secret(secret, client_secret_pepper(settings.secret)))
        )
        assert partner.client_id
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers=basic(partner.client_id, secret),
        )
        assert response.status_code == 200

    async def test_a_narrower_scope_can_be_requested(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        response = await token_for(client, partner, scope="allocations:read")
        assert response.json()["scope"] == "allocations:read"

    async def test_a_wider_scope_is_invalid_scope(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        response = await token_for(client, partner, scope="allocations:write")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"

    async def test_unknown_client_and_wrong_secret_are_indistinguishable(
        self, client: httpx.AsyncClient, partner: Actor, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        verified = count_client_secret_checks(monkeypatch)
        assert partner.client_id
        wrong = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=basic(partner.client_id, "x")
        )
        unknown = await client.post(
            TOKEN, data={"grant_type": "client_credentials"}, headers=basic("wcc_nobody", "x")
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        assert wrong.json()["error"] == "invalid_client"
        assert wrong.headers["www-authenticate"].startswith("Basic")
        # The same HMAC work on both paths, one check each, and no argon2 on either.
        assert verified == ["x", "x"]

    @pytest.mark.parametrize(
        "client_id",
        ["wcc_\x00nul", "x" * 65, "wcc_" + "é" * 1000],
        ids=["nul", "longer-than-any-client-id", "very-long"],
    )
    @pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
    async def test_an_impossible_client_id_is_an_unknown_client(
        self,
        client: httpx.AsyncClient,
        partner: Actor,
        monkeypatch: pytest.MonkeyPatch,
        client_id: str,
        method: str,
    ) -> None:
        """PostgreSQL refuses a NUL in text: the id is never looked up, and the answer and
        the HMAC work are those of an unknown client (no 422, no 500, no timing)."""
        verified = count_client_secret_checks(monkeypatch)

        async def attempt(attempted_id: str) -> httpx.Response:
            if method == "client_secret_post":
                form = {"grant_type": "client_credentials", "client_id": attempted_id}
                return await client.post(TOKEN, data={**form, "client_secret": "x"})
            return await client.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                headers=basic(attempted_id, "x"),
            )

        refused = await attempt(client_id)
        unknown = await attempt("wcc_nobody")
        assert refused.status_code == unknown.status_code == 401, refused.text
        assert refused.json() == unknown.json()
        assert refused.json()["error"] == "invalid_client"
        assert verified == ["x", "x"]
        # Whatever way the client authenticated, the challenge names the scheme the endpoint
        # takes (never Bearer: the client is here to obtain a token).
        assert refused.headers["www-authenticate"] == 'Basic realm="wecare", charset="UTF-8"'

    @pytest.mark.parametrize(
        ("path", "data"),
        [
            (TOKEN, {"grant_type": "client_credentials"}),
            ("/api/v1/oauth/revoke", {"token": "x"}),
            ("/api/v1/oauth/introspect", {"token": "x"}),
        ],
        ids=["token", "revoke", "introspect"],
    )
    @pytest.mark.parametrize(
        "credentials", [b"\xe9t\xe9:secret", b"Zm9v\xe9YmFy"], ids=["latin-1", "in-base64"]
    )
    async def test_non_ascii_basic_credentials_are_invalid_client(
        self, client: httpx.AsyncClient, path: str, data: dict[str, str], credentials: bytes
    ) -> None:
        """Latin-1 bytes in the header (b64decode raises a plain ValueError for them)."""
        response = await client.post(
            path, data=data, headers={b"Authorization": b"Basic " + credentials}
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")

    @pytest.mark.parametrize(
        ("data", "headers", "status", "error"),
        [
            ({}, {}, 400, "invalid_request"),
            ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
            ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
            (
                {"grant_type": "client_credentials", "client_secret": "x", "client_id": "y"},
                None,
                400,
                "invalid_request",
            ),
        ],
        ids=["no-grant-type", "password-grant", "no-credentials", "two-auth-methods"],
    )
    async def test_protocol_errors(
        self,
        client: httpx.AsyncClient,
        partner: Actor,
        data: dict[str, str],
        headers: dict[str, str] | None,
        status: int,
        error: str,
    ) -> None:
        assert partner.client_id
        assert partner.client_secret
        auth = basic(partner.client_id, partner.client_secret) if headers is None else headers
        response = await client.post(TOKEN, data=data, headers=auth)
        assert response.status_code == status
        assert response.json()["error"] == error
        assert response.headers["content-type"] == "application/json"

    async def test_json_and_repeated_parameters_are_invalid_request_not_422(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        assert partner.client_id
        assert partner.client_secret
        auth = basic(partner.client_id, partner.client_secret)
        as_json = await client.post(TOKEN, json={"grant_type": "client_credentials"}, headers=auth)
        repeated = await client.post(
            TOKEN,
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers={**auth, **FORM},
        )
        for response in (as_json, repeated):
            assert response.status_code == 400
            assert response.json()["error"] == "invalid_request"

    async def test_a_client_without_scopes_is_unauthorized(
        self, client: httpx.AsyncClient, session: AsyncSession, partner: Actor
    ) -> None:
        await session.execute(
            update(OAuthClient).where(OAuthClient.client_id == partner.client_id).values(scopes=[])
        )
        response = await token_for(client, partner)
        assert response.json()["error"] == "unauthorized_client"

    async def test_a_deactivated_client_gets_nothing_and_its_tokens_stop(
        self, client: httpx.AsyncClient, session: AsyncSession, partner: Actor
    ) -> None:
        token = (await token_for(client, partner)).json()["access_token"]
        await session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == partner.client_id)
            .values(active=False)
        )
        assert (await token_for(client, partner)).status_code == 401
        refused = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401


class TestRevocationAndIntrospection:
    async def test_introspection_of_an_active_token(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        token = (await token_for(client, partner)).json()["access_token"]
        assert partner.client_id
        assert partner.client_secret
        response = await client.post(
            "/api/v1/oauth/introspect",
            data={"token": token},
            headers=basic(partner.client_id, partner.client_secret),
        )
        body = response.json()
        assert body["active"] is True
        assert body["client_id"] == partner.client_id
        assert body["token_type"] == "Bearer"

    async def test_revoked_token_is_refused_by_every_worker(
        self,
        client: httpx.AsyncClient,
        partner: Actor,
        settings: Settings,
        database: Database,
    ) -> None:
        token = (await token_for(client, partner)).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        # A second app instance stands for another worker process: its own key cache,
        # the same database.
        other: FastAPI = create_app(settings, database)
        transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            headers=ENGLISH, transport=transport, base_url="http://w2"
        ) as worker2:
            assert (await worker2.get(ME, headers=bearer)).status_code == 403  # valid, but a client
            assert partner.client_id
            assert partner.client_secret
            auth = basic(partner.client_id, partner.client_secret)
            revoked = await client.post("/api/v1/oauth/revoke", data={"token": token}, headers=auth)
            assert revoked.status_code == 200
            refused = await worker2.get(ME, headers=bearer)
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        introspected = await client.post(
            "/api/v1/oauth/introspect", data={"token": token}, headers=auth
        )
        assert introspected.json() == {"active": False}

    async def test_another_client_cannot_revoke_or_introspect(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, partner: Actor
    ) -> None:
        token = (await token_for(client, partner)).json()["access_token"]
        intruder = await client_actor(session, settings, scopes=["allocations:read"])
        assert intruder.client_id
        assert intruder.client_secret
        auth = basic(intruder.client_id, intruder.client_secret)
        assert (
            await client.post("/api/v1/oauth/revoke", data={"token": token}, headers=auth)
        ).status_code == 200
        assert (
            await client.post("/api/v1/oauth/introspect", data={"token": token}, headers=auth)
        ).json() == {"active": False}
        assert (
            await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        ).status_code == 403  # still valid: not revoked by the intruder

    async def test_the_client_is_the_actor_of_what_it_changes(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        """The first token creates the signing key and a revocation revokes: both are the
        authenticated client's doing in the audit trail, not an anonymous caller's."""
        registered = await register_client(
            session, settings=settings, name="Fondazione", scopes=["allocations:read"]
        )
        auth = basic(registered.client.client_id, registered.secret)
        issued = await client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=auth)
        assert issued.status_code == 200
        token = issued.json()["access_token"]
        revoked = await client.post("/api/v1/oauth/revoke", data={"token": token}, headers=auth)
        assert revoked.status_code == 200
        events = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor_type, AuditEvent.actor_id).where(
                    AuditEvent.action.in_(["signing_key.rotate", "token.revoke"])
                )
            )
        ).all()
        actor = ("client", registered.client.client_id)
        assert sorted(events) == [("signing_key.rotate", *actor), ("token.revoke", *actor)]

    async def test_garbage_is_exactly_inactive(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        assert partner.client_id
        assert partner.client_secret
        response = await client.post(
            "/api/v1/oauth/introspect",
            data={"token": "not-a-token"},
            headers=basic(partner.client_id, partner.client_secret),
        )
        assert response.json() == {"active": False}


class TestDiscovery:
    async def test_jwks_has_public_members_only(
        self, client: httpx.AsyncClient, partner: Actor
    ) -> None:
        await token_for(client, partner)  # a key exists after the first token
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
        assert keys
        for key in keys:
            assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}

    async def test_metadata(self, client: httpx.AsyncClient, settings: Settings) -> None:
        metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["issuer"] == settings.issuer
        assert metadata["grant_types_supported"] == ["client_credentials"]
        assert metadata["token_endpoint"] == f"{settings.issuer}/api/v1/oauth/token"
        assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), ""])


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class TestStrictVerification:
    """Each forged or broken token is refused with 401 invalid_token."""

    @pytest.fixture
    async def key(self, session: AsyncSession, settings: Settings) -> SigningKey:
        return await current_signing_key(session, secret=settings.secret)

    @pytest.fixture
    def good_claims(self, settings: Settings, partner: Actor) -> dict[str, Any]:
        now = int(datetime.now(UTC).timestamp())
        return {
            "iss": settings.issuer,
            "sub": partner.client_id,
            "aud": settings.token_audience,
            "client_id": partner.client_id,
            "scope": "allocations:read",
            "iat": now,
            "exp": now + 300,
            "jti": "forged-1",
        }

    def sign(self, key: SigningKey, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": key.kid, "typ": "at+jwt", **header}
        return str(jwt.encode(claims, key.private_pem, algorithm="RS256", headers=headers))

    async def assert_refused(self, client: httpx.AsyncClient, token: str) -> None:
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    async def test_the_well_formed_token_passes(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        response = await client.get(
            ME, headers={"Authorization": f"Bearer {self.sign(key, good_claims)}"}
        )
        assert response.status_code == 403  # authenticated; clients have no account

    @pytest.mark.parametrize(
        "change",
        [
            {"exp": -3600},
            {"nbf": 3600},
            {"iat": 3600},
            {"exp": None},
            {"aud": None},
            {"aud": "someone-else"},
            {"iss": "https://evil.example"},
            {"jti": None},
            {"sub": None},
            {"client_id": None},
            {"scope": None},
        ],
        ids=[
            "expired",
            "not-yet-valid",
            "issued-in-future",
            "no-exp",
            "no-aud",
            "wrong-aud",
            "wrong-iss",
            "no-jti",
            "no-sub",
            "no-client-id",
            "no-scope",
        ],
    )
    async def test_bad_claims(
        self,
        client: httpx.AsyncClient,
        key: SigningKey,
        good_claims: dict[str, Any],
        change: dict[str, Any],
    ) -> None:
        claims = dict(good_claims)
        for name, value in change.items():
            if value is None:
                claims.pop(name)
            elif name in ("exp", "nbf", "iat"):
                claims[name] = good_claims["iat"] + value
            else:
                claims[name] = value
        await self.assert_refused(client, self.sign(key, claims))

    async def test_a_token_31_seconds_past_exp_is_refused(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        """Clock skew is forgiven for 30 s at most, whatever leeway the code grants."""
        now = int(datetime.now(UTC).timestamp())
        claims = {**good_claims, "iat": now - 600, "exp": now - 31}
        await self.assert_refused(client, self.sign(key, claims))

    @pytest.mark.parametrize(("extra", "accepted"), [(30, True), (31, False)])
    async def test_a_token_living_longer_than_the_ttl_is_refused(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        key: SigningKey,
        good_claims: dict[str, Any],
        extra: int,
        accepted: bool,
    ) -> None:
        """exp - iat may exceed the configured TTL by the clock leeway (30 s), not more:
        a longer-lived token was not issued under this configuration."""
        lifetime = settings.access_token_ttl_seconds + extra
        claims = {**good_claims, "exp": good_claims["iat"] + lifetime}
        token = self.sign(key, claims)
        if accepted:
            response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403  # authenticated; clients have no account
        else:
            await self.assert_refused(client, token)

    async def test_expiry_is_checked_without_relying_on_jose(
        self,
        session: AsyncSession,
        settings: Settings,
        key: SigningKey,
        good_claims: dict[str, Any],
    ) -> None:
        """jose sees a token with minutes left; the wrapper, told that it is 31 s past exp,
        refuses it on its own."""
        row = await session.get(SigningKeyRow, key.kid)
        assert row is not None
        token = self.sign(key, good_claims)
        late = datetime.fromtimestamp(good_claims["exp"], UTC) + timedelta(seconds=31)
        verify = functools.partial(
            security.verify_access_token,
            token,
            public_keys={key.kid: row.public_jwk},
            issuer=settings.issuer,
            audience=settings.token_audience,
            max_lifetime=timedelta(seconds=settings.access_token_ttl_seconds),
        )
        assert verify().jti == good_claims["jti"]  # valid now
        with pytest.raises(security.InvalidAccessToken, match="expired"):
            verify(now=late)

    async def test_typ_must_be_at_jwt(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        await self.assert_refused(client, self.sign(key, good_claims, typ="JWT"))

    async def test_alg_none(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        token = _unsigned({"alg": "none", "typ": "at+jwt", "kid": key.kid}, good_claims)
        await self.assert_refused(client, token)

    @pytest.mark.parametrize("encoding", ["PEM", "DER"])
    async def test_hs256_signed_with_the_public_key(
        self,
        client: httpx.AsyncClient,
        key: SigningKey,
        good_claims: dict[str, Any],
        encoding: str,
    ) -> None:
        private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
        public = private.public_key()
        if encoding == "PEM":
            material = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        else:
            material = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        token = _hs256({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, good_claims, material)
        await self.assert_refused(client, token)

    async def test_unknown_kid(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        await self.assert_refused(client, self.sign(key, good_claims, kid="unknown-kid"))

    async def test_retired_kid(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        key: SigningKey,
        good_claims: dict[str, Any],
    ) -> None:
        old_token = self.sign(key, good_claims)
        await rotate_signing_key(session, secret=settings.secret)
        # Rotation alone: the old key still verifies.
        ok = await client.get(ME, headers={"Authorization": f"Bearer {old_token}"})
        assert ok.status_code == 403
        await retire_signing_key(session, kid=key.kid)
        await self.assert_refused(client, old_token)

    async def test_flipped_signature_byte(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        head, payload, signature = self.sign(key, good_claims).split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[10] ^= 0x01
        await self.assert_refused(client, f"{head}.{payload}.{_b64(bytes(raw))}")

    async def test_oversized_token(
        self, client: httpx.AsyncClient, key: SigningKey, good_claims: dict[str, Any]
    ) -> None:
        await self.assert_refused(client, self.sign(key, {**good_claims, "padding": "x" * 10_000}))

    async def test_rotation_signs_new_tokens_with_the_new_key(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        key: SigningKey,
        partner: Actor,
    ) -> None:
        new = await rotate_signing_key(session, secret=settings.secret)
        token = (await token_for(client, partner)).json()["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == new.kid != key.kid
