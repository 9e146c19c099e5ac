"""A closed call's budget is the basis of its grants: changing it needs a reason, which the
audit trail records. An open call's budget changes without one (a reason given is recorded
all the same)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from app.models import AuditEvent, Call, Measure
from tests.actors import Actor, user_actor
from tests.api.v1.flows import Api
from tests.trail import last_event
from tests.world import Budget, budget, cents


class Region:
    def __init__(self, world: Budget, officer: Actor) -> None:
        self.world = world
        self.officer = officer
        self.path = f"/api/v1/calls/{world.call.id}"


@pytest.fixture
async def region(session: AsyncSession, settings: Settings) -> Region:
    world = await budget(session, total=1_000_000, call_budget=500_000)
    return Region(world, await user_actor(session, settings, Role.OFFICER))


async def _state(session: AsyncSession, r: Region) -> tuple[int, int, int]:
    """The call's budget, the measure's shares of its calls, the number of audit events."""
    call = await session.get(Call, r.world.call.id, populate_existing=True)
    measure = await session.get(Measure, r.world.measure.id, populate_existing=True)
    assert call is not None
    assert measure is not None
    events = await session.scalar(select(func.count()).select_from(AuditEvent))
    return cents(call.budget), cents(measure.calls_budget), events or 0


async def _last_update(session: AsyncSession) -> AuditEvent:
    return await last_event(session, "call.update")


@pytest.mark.parametrize(
    "extra", [{}, {"reason": None}, {"reason": ""}, {"reason": "   "}], ids=str
)
async def test_a_closed_calls_budget_does_not_change_without_a_reason(
    client: httpx.AsyncClient, session: AsyncSession, region: Region, extra: dict[str, Any]
) -> None:
    api = Api(client)
    await api.act(region.path, "close", region.officer)
    unchanged = await _state(session, region)
    refused = await api.patch(
        region.path, region.officer, {"budget": "600000.00", **extra}, expect=422
    )
    assert (refused["rule"], refused["field"], refused["call_status"]) == (
        "reason_required",
        "reason",
        "closed",
    )
    assert (refused["budget"], refused["requested"]) == ("500000.00", "600000.00")
    assert await _state(session, region) == unchanged


async def test_a_closed_calls_budget_changes_with_a_reason_and_the_audit_keeps_it(
    client: httpx.AsyncClient, session: AsyncSession, region: Region
) -> None:
    api = Api(client)
    await api.act(region.path, "close", region.officer)
    reason = "  Economie da rinunce: DD n. 123 del 2019.  "
    changed = await api.patch(
        region.path, region.officer, {"budget": "450000.00", "reason": reason}
    )
    assert changed["budget"] == "450000.00"
    call_cents, shares_cents, _ = await _state(session, region)
    assert (call_cents, shares_cents) == (450_000_00, 450_000_00)
    event = await _last_update(session)
    assert event.reason == reason.strip()
    assert event.before is not None
    assert event.after is not None
    assert json.loads(event.before)["budget_cents"] == 500_000_00
    assert json.loads(event.after)["budget_cents"] == 450_000_00


async def test_without_a_budget_change_a_closed_call_needs_no_reason(
    client: httpx.AsyncClient, session: AsyncSession, region: Region
) -> None:
    api = Api(client)
    await api.act(region.path, "close", region.officer)
    # The same budget is no change; nor is a note.
    same = await api.patch(region.path, region.officer, {"budget": "500000.00"})
    assert same["budget"] == "500000.00"
    noted = await api.patch(region.path, region.officer, {"dates_note": "Graduatoria approvata"})
    assert noted["dates_note"] == "Graduatoria approvata"
    assert (await _last_update(session)).reason is None


async def test_an_open_calls_budget_changes_without_a_reason_or_records_the_one_given(
    client: httpx.AsyncClient, session: AsyncSession, region: Region
) -> None:
    api = Api(client)
    plain = await api.patch(region.path, region.officer, {"budget": "600000.00"})
    assert plain["status"] == "published"
    assert plain["budget"] == "600000.00"
    assert (await _last_update(session)).reason is None
    await api.patch(region.path, region.officer, {"budget": "550000.00", "reason": "Riparto"})
    assert (await _last_update(session)).reason == "Riparto"
    assert (await _state(session, region))[:2] == (550_000_00, 550_000_00)


async def test_a_reason_longer_than_the_audit_takes_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, region: Region
) -> None:
    api = Api(client)
    await api.act(region.path, "close", region.officer)
    unchanged = await _state(session, region)
    body = {"budget": "450000.00", "reason": "x" * 501}
    refused = await api.patch(region.path, region.officer, body, expect=422)
    assert refused["rule"] == "validation_error"
    assert "reason" in str(refused["errors"])
    assert await _state(session, region) == unchanged
