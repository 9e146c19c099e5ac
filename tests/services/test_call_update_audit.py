"""A call's audit event shows its phases before and after a change of its windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import PhaseKind
from app.schemas.call import CallUpdate
from app.schemas.reference_data import CallPhaseSpec
from app.services import calls as service
from tests.trail import last_event
from tests.world import budget


async def test_the_previous_phases_are_in_before(session: AsyncSession) -> None:
    world = await budget(session, total=1_000_000)
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    old = CallPhaseSpec(
        kind=PhaseKind.SUBMISSION, opens_at=start, closes_at=start + timedelta(days=30)
    )
    new = CallPhaseSpec(
        kind=PhaseKind.SUBMISSION, opens_at=start, closes_at=start + timedelta(days=60)
    )
    await service.update_call(session, world.call, data=CallUpdate(phases=[old]))
    await service.update_call(session, world.call, data=CallUpdate(phases=[new]))

    event = await last_event(session, "call.update")
    assert event.before is not None
    assert event.after is not None
    before, after = json.loads(event.before), json.loads(event.after)
    assert [CallPhaseSpec.model_validate(p) for p in before["phases"]] == [old]
    assert [CallPhaseSpec.model_validate(p) for p in after["phases"]] == [new]


async def test_a_change_without_phases_records_none(session: AsyncSession) -> None:
    world = await budget(session, total=1_000_000)
    await service.update_call(session, world.call, data=CallUpdate(dates_note="Proroga"))
    event = await last_event(session, "call.update")
    assert event.before is not None
    assert event.after is not None
    assert "phases" not in json.loads(event.before)
    assert "phases" not in json.loads(event.after)
