"""A draft's amounts over HTTP: the request may not exceed the total cost (a rule across two
fields, which the schema cannot state: the fuzz run excuses it by its figures)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import ApplicationStatus
from tests.actors import Actor
from tests.api.v1.flows import Api
from tests.world import approved, budget


async def test_a_request_above_the_total_cost_is_refused_with_both_figures(
    client: httpx.AsyncClient, session: AsyncSession, admin: Actor
) -> None:
    world = await budget(session, total=1000, code="AMT")
    draft = await approved(session, world, requested=100, status=ApplicationStatus.DRAFT)
    api = Api(client)
    path = f"/api/v1/applications/{draft.id}"
    refused = await api.patch(path, admin, {"requested": "100.01"}, expect=422)
    assert (refused["rule"], refused["requested"], refused["total_cost"]) == (
        "invalid_input",
        "100.01",
        "100.00",
    )
    assert (await api.read(path, admin))["requested"] == "100.00"  # nothing changed
    # At the boundary: the whole total cost may be requested.
    raised = await api.patch(path, admin, {"total_cost": "200.00", "requested": "200.00"})
    assert (raised["requested"], raised["total_cost"]) == ("200.00", "200.00")
