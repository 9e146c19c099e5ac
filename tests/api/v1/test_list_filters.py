"""The beneficiary and fund filters of the allocation and application lists, through a
partnership (the member organisations are beneficiaries too)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus
from tests.actors import make_organisation, tax_code, user_actor
from tests.world import budget, partnership, partnership_application


async def test_filters_by_beneficiary_and_fund(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    officer = await user_actor(session, settings, Role.OFFICER)
    world = await budget(session, total=1_000_000)
    lead = await make_organisation(session, name="Comune", tax_code=tax_code(61))
    member = await make_organisation(session, name="Volontari", tax_code=tax_code(62))
    outsider = await make_organisation(session, name="Altri", tax_code=tax_code(63))
    applicant = await partnership(session, lead, member)
    application = await partnership_application(
        session, world, applicant, status=ApplicationStatus.APPROVED
    )
    granted = await client.post(
        "/api/v1/allocations",
        json={"application_id": str(application.id), "amount": "1000.00"},
        headers=officer.headers,
    )
    assert granted.status_code == 201, granted.text

    async def ids(path: str, **params: str) -> list[str]:
        response = await client.get(path, params=params, headers=officer.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    allocation = granted.json()["id"]
    for org in (lead, member):
        assert await ids("/api/v1/allocations", organisation_id=str(org.id)) == [allocation]
    assert await ids("/api/v1/allocations", organisation_id=str(outsider.id)) == []
    assert await ids("/api/v1/allocations", fund="FSE") == [allocation]
    assert await ids("/api/v1/allocations", fund="FESR") == []
    assert await ids("/api/v1/applications", fund="FSE") == [str(application.id)]
    assert await ids("/api/v1/applications", fund="FESR") == []
    bad = await client.get("/api/v1/allocations", params={"fund": "EU"})
    assert bad.status_code == 422
