"""Callers for tests: organisations, users of each role, a partner client, and their tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from stdnum import luhn

from app.core.auth import FIRST_PARTY_CLIENT_ID, ROLE_SCOPES, Role
from app.core.config import Settings
from app.core.domain import LegalNature, PiemonteProvince, ProfitStatus
from app.models.organisation import Organisation
from app.services.clients import register_client
from app.services.tokens import issue_token
from app.services.users import create_user

PASSWORD = "correct horse battery staple"


# Valid partite IVA / codici fiscali (check digits computed), one per test organisation.
def tax_code(n: int) -> str:
    """The n-th of a series of valid partite IVA (also valid codici fiscali of entities)."""
    base = f"{1_000_000 + n * 7919:07d}001"
    return base + luhn.calc_check_digit(base)


TAX_CODES = ["80087670016", "02843860012", "12345670017", "76543210017", "11111110018"]


async def make_organisation(
    session: AsyncSession,
    *,
    name: str,
    tax_code: str,
    nature: LegalNature = LegalNature.THIRD_SECTOR_ORGANISATION,
) -> Organisation:
    organisation = Organisation(
        id=uuid.uuid4(),
        legal_name=name,
        tax_code=tax_code,
        legal_nature=nature,
        profit_status=ProfitStatus.NON_PROFIT,
        province=PiemonteProvince.TO,
        accompaniment_experience=False,
    )
    session.add(organisation)
    await session.flush()
    return organisation


@dataclass
class Actor:
    name: str
    token: str | None
    id: uuid.UUID | None = None
    client_id: str | None = None
    client_secret: str | None = None
    subject: str | None = None
    scopes: frozenset[str] = frozenset()

    async def fresh_token(self, session: AsyncSession, settings: Settings) -> str | None:
        """Another token for the same caller (for tests whose requests may revoke one)."""
        if self.subject is None:
            return None
        issued = await issue_token(
            session,
            settings,
            subject=self.subject,
            client_id=self.client_id or FIRST_PARTY_CLIENT_ID,
            scopes=self.scopes,
        )
        return issued.access_token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


async def user_actor(
    session: AsyncSession,
    settings: Settings,
    role: Role,
    *,
    organisation_ids: list[uuid.UUID] | None = None,
    email: str | None = None,
) -> Actor:
    user = await create_user(
        session,
        email=email or f"{role}-{uuid.uuid4().hex[:6]}@example.org",
        display_name=str(role),
        password=PASSWORD,
        role=role,
        organisation_ids=organisation_ids or [],
    )
    issued = await issue_token(
        session,
        settings,
        subject=str(user.id),
        client_id=FIRST_PARTY_CLIENT_ID,
        scopes=ROLE_SCOPES[role],
    )
    return Actor(
        name=str(role),
        token=issued.access_token,
        id=user.id,
        subject=str(user.id),
        scopes=ROLE_SCOPES[role],
    )


async def client_actor(
    session: AsyncSession,
    settings: Settings,
    *,
    scopes: list[str],
    organisation_id: uuid.UUID | None = None,
) -> Actor:
    registered = await register_client(
        session,
        settings=settings,
        name="Fondazione di prova",
        scopes=scopes,
        organisation_id=organisation_id,
    )
    issued = await issue_token(
        session,
        settings,
        subject=registered.client.client_id,
        client_id=registered.client.client_id,
        scopes=frozenset(scopes),
    )
    return Actor(
        name="client",
        token=issued.access_token,
        id=registered.client.id,
        client_id=registered.client.client_id,
        client_secret=registered.secret,
        subject=registered.client.client_id,
        scopes=frozenset(scopes),
    )


async def all_actors(session: AsyncSession, settings: Settings) -> dict[str, Actor]:
    """Anonymous, one user per role, and a foundation's client."""
    applicant_org = await make_organisation(session, name="Cooperativa Alfa", tax_code=TAX_CODES[1])
    foundation = await make_organisation(
        session, name="Fondazione Beta", tax_code=TAX_CODES[2], nature=LegalNature.FOUNDATION
    )
    actors = {"anonymous": Actor(name="anonymous", token=None)}
    for role in Role:
        orgs = [applicant_org.id] if role is Role.APPLICANT else []
        actors[str(role)] = await user_actor(session, settings, role, organisation_ids=orgs)
    actors["client"] = await client_actor(
        session,
        settings,
        scopes=[
            "allocations:read",
            "organisations:read",
            "pledges:read",
            "pledges:write",
            "webhooks:write",
        ],
        organisation_id=foundation.id,
    )
    return actors
