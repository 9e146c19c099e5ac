"""A signing key row written into the database by someone without the server secret (the
runtime role may write the table) verifies nothing and is not published (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import FIRST_PARTY_CLIENT_ID, ROLE_SCOPES, Role
from app.core.config import Settings
from app.core.security import decrypt_signing_key, generate_signing_key, issue_access_token
from app.models.auth import SigningKeyRow
from tests.actors import user_actor

ATTACKERS_SECRET = "a-secret-the-service-has-never-seen-" * 2


async def test_a_planted_key_signs_no_token_the_service_accepts(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = await user_actor(session, settings, Role.ADMINISTRATOR)
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 200

    planted = generate_signing_key(ATTACKERS_SECRET)
    session.add(
        SigningKeyRow(
            kid=planted.kid,
            encrypted_private_key=planted.encrypted_private_key,
            public_jwk=planted.public_jwk,
            created_at=datetime.now(UTC),
        )
    )
    await session.flush()
    forged, _ = issue_access_token(
        decrypt_signing_key(planted.kid, planted.encrypted_private_key, ATTACKERS_SECRET),
        issuer=settings.issuer,
        audience=settings.token_audience,
        subject=str(admin.id),
        client_id=FIRST_PARTY_CLIENT_ID,
        scopes=ROLE_SCOPES[Role.ADMINISTRATOR],
        ttl=timedelta(minutes=5),
    )

    refused = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401, refused.text
    published = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert planted.kid not in {key["kid"] for key in published}
    assert published, "the service's own key is still published"
    # The service's own tokens still verify beside the planted row.
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 200
