"""Queries on the call aggregate: calls, their phase windows and participation limits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import LegalNature, PhaseKind
from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.programme import Measure
from app.repositories.paging import Order, keyset
from app.repositories.programmes import search


async def list_calls_of_programme(session: AsyncSession, programme_id: uuid.UUID) -> list[Call]:
    rows = await session.scalars(
        select(Call)
        .join(Measure, Measure.id == Call.measure_id)
        .where(Measure.programme_id == programme_id)
        .order_by(Call.code)
    )
    return list(rows)


async def get_call_by_code(session: AsyncSession, code: str) -> Call | None:
    return await session.scalar(select(Call).where(Call.code == code))


class PhaseWindow(NamedTuple):
    kind: PhaseKind
    opens_at: datetime
    closes_at: datetime


class CallRules(NamedTuple):
    """What a submission checks of a call besides the call's row: its windows (in order)
    and its participation limits (``{legal nature: max projects}``)."""

    phases: list[PhaseWindow]
    limits: dict[LegalNature, int]


async def call_rules(session: AsyncSession, call_id: uuid.UUID) -> CallRules:
    """The call's windows and participation limits in one statement of plain columns (a
    UNION ALL: a limit's row has no window, a window's row no limit), no entity loaded."""
    phases = select(
        CallPhase.ordinal,
        CallPhase.kind,
        CallPhase.opens_at,
        CallPhase.closes_at,
        null().label("legal_nature"),
        null().label("max_projects"),
    ).where(CallPhase.call_id == call_id)
    limits = select(
        null(),
        null(),
        null(),
        null(),
        CallParticipationLimit.legal_nature,
        CallParticipationLimit.max_projects,
    ).where(CallParticipationLimit.call_id == call_id)
    rows: Sequence[Any] = (await session.execute(union_all(phases, limits))).all()
    windows = sorted((r for r in rows if r[0] is not None), key=lambda r: r[0])
    return CallRules(
        phases=[PhaseWindow(PhaseKind(r[1]), r[2], r[3]) for r in windows],
        limits={LegalNature(r[4]): r[5] for r in rows if r[0] is None},
    )


async def list_call_phases(session: AsyncSession, call_id: uuid.UUID) -> list[CallPhase]:
    rows = await session.scalars(
        select(CallPhase).where(CallPhase.call_id == call_id).order_by(CallPhase.ordinal)
    )
    return list(rows)


async def list_participation_limits(
    session: AsyncSession, call_id: uuid.UUID
) -> list[CallParticipationLimit]:
    rows = await session.scalars(
        select(CallParticipationLimit).where(CallParticipationLimit.call_id == call_id)
    )
    return list(rows)


async def page_calls(
    session: AsyncSession,
    *,
    programme_id: uuid.UUID | None,
    measure_id: uuid.UUID | None,
    statuses: list[str],
    fund: str | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Call]:
    query = select(Call).where(Call.status.in_(statuses))
    if measure_id is not None:
        query = query.where(Call.measure_id == measure_id)
    if programme_id is not None or fund is not None:
        query = query.join(Measure, Measure.id == Call.measure_id)
        if programme_id is not None:
            query = query.where(Measure.programme_id == programme_id)
        if fund is not None:
            query = query.where(Measure.fund == fund)
    if q:
        query = query.where(or_(search(Call.title_it, q), search(Call.title_en, q)))
    return list(await session.scalars(keyset(query, order, after, limit)))


CallDetails = tuple[list[CallPhase], list[CallParticipationLimit]]


async def call_details(
    session: AsyncSession, call_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CallDetails]:
    """Phases and participation limits of several calls in two queries."""
    found: dict[uuid.UUID, CallDetails] = {c: ([], []) for c in call_ids}
    if not call_ids:
        return found
    for phase in await session.scalars(
        select(CallPhase).where(CallPhase.call_id.in_(call_ids)).order_by(CallPhase.ordinal)
    ):
        found[phase.call_id][0].append(phase)
    for limit in await session.scalars(
        select(CallParticipationLimit).where(CallParticipationLimit.call_id.in_(call_ids))
    ):
        found[limit.call_id][1].append(limit)
    return found


async def delete_call_phases(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(delete(CallPhase).where(CallPhase.call_id == call_id))
