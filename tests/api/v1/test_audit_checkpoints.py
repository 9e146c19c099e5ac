"""/api/v1/audit/checkpoints: an administrator signs the chain's head on demand (audited);
anyone lists the checkpoints and reads the newest, and verifies each offline with nothing
but the JWKS document."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import security
from app.core.auth import Role
from app.core.config import Settings
from app.models.audit import AuditCheckpoint, AuditEvent
from app.services import checkpoints
from tests.actors import Actor, user_actor

CHECKPOINTS = "/api/v1/audit/checkpoints"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_with_jwks(jws: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify an RS256 compact JWS with a plain RSA check against the JWKS document alone
    (no JOSE library, no database): what an outside auditor does."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "RS256"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64(key["e"]), "big"), int.from_bytes(_b64(key["n"]), "big")
    ).public_key()
    public.verify(
        _b64(signature_b64),
        f"{header_b64}.{payload_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    payload: dict[str, Any] = json.loads(_b64(payload_b64))
    return payload


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestCreate:
    async def test_an_administrator_signs_the_head_and_it_is_audited(
        self, client: httpx.AsyncClient, session: AsyncSession, admin: Actor
    ) -> None:
        head = (await client.get("/api/v1/audit-events/head", headers=admin.headers)).json()
        response = await client.post(CHECKPOINTS, headers=admin.headers)
        assert response.status_code == 201, response.text
        made = response.json()
        # The signed head is the one before the request's own event (its key's creation, on
        # first use, comes first).
        assert made["seq"] >= head["seq"]
        events = (
            await client.get(
                "/api/v1/audit-events",
                params={"action": "audit_checkpoint.create"},
                headers=admin.headers,
            )
        ).json()["items"]
        assert [(e["entity_id"], e["seq"]) for e in events] == [(str(made["seq"]), made["seq"] + 1)]
        assert json.loads(events[0]["after"])["jws"] == made["jws"]

    async def test_a_head_already_signed_returns_its_checkpoint_and_writes_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings, admin: Actor
    ) -> None:
        signed = await checkpoints.checkpoint_if_due(
            session, secret=settings.secret, issuer=settings.issuer
        )
        assert signed is not None
        await session.flush()
        before = (await count(session, AuditEvent), await count(session, AuditCheckpoint))
        response = await client.post(CHECKPOINTS, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["seq"] == signed.seq
        assert (await count(session, AuditEvent), await count(session, AuditCheckpoint)) == before

    async def test_others_are_refused_and_nothing_is_signed(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        officer = await user_actor(session, settings, Role.OFFICER)
        for headers, status in ((officer.headers, 403), ({}, 401)):
            response = await client.post(CHECKPOINTS, headers=headers)
            assert response.status_code == status
            assert response.headers["content-type"] == "application/problem+json"
        assert await count(session, AuditCheckpoint) == 0


class TestPublicReads:
    async def test_no_checkpoint_yet_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{CHECKPOINTS}/latest")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_listed_and_newest_verify_offline_with_the_jwks_alone(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        made = [(await client.post(CHECKPOINTS, headers=admin.headers)).json() for _ in range(3)]
        first = await client.get(CHECKPOINTS, params={"limit": 2})
        assert first.status_code == 200
        second = await client.get(
            CHECKPOINTS, params={"limit": 2, "cursor": first.json()["next_cursor"]}
        )
        listed = first.json()["items"] + second.json()["items"]
        assert second.json()["next_cursor"] is None
        assert [c["seq"] for c in listed] == [c["seq"] for c in made]
        newest = (await client.get(f"{CHECKPOINTS}/latest")).json()
        assert newest == listed[-1]

        jwks = (await client.get("/.well-known/jwks.json")).json()
        for checkpoint in listed:
            payload = verify_with_jwks(checkpoint["jws"], jwks)
            assert (payload["seq"], payload["hash"]) == (checkpoint["seq"], checkpoint["hash"])
            # And with the service's own verifier, given only the JWKS's keys.
            claims = security.verify_checkpoint(
                checkpoint["jws"], public_keys={k["kid"]: k for k in jwks["keys"]}
            )
            assert claims.seq == checkpoint["seq"]

    async def test_a_tampered_payload_does_not_verify(
        self, client: httpx.AsyncClient, admin: Actor
    ) -> None:
        made = (await client.post(CHECKPOINTS, headers=admin.headers)).json()
        jwks = (await client.get("/.well-known/jwks.json")).json()
        header, payload, signature = made["jws"].split(".")
        forged_claims = json.loads(_b64(payload)) | {"seq": made["seq"] + 1}
        forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("=")
        with pytest.raises(InvalidSignature):
            verify_with_jwks(f"{header}.{forged}.{signature}", jwks)

    async def test_a_bad_cursor_is_a_422_problem(self, client: httpx.AsyncClient) -> None:
        for cursor in ("nope", base64.urlsafe_b64encode(b"[-1]").decode()):
            response = await client.get(CHECKPOINTS, params={"cursor": cursor})
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
