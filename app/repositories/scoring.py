"""Queries on scoring grids, their criteria and the scores given on them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.application import Application
from app.models.auth import UserMembership
from app.models.organisation import Organisation, PartnershipMember
from app.models.scoring import ReviewScore, ScoringCriterion, ScoringGrid


async def grids_of(
    session: AsyncSession, call_ids: Sequence[uuid.UUID], *, fresh: bool = False
) -> dict[uuid.UUID, tuple[ScoringGrid, list[ScoringCriterion]]]:
    """Each call's grid with its criteria in order (two queries); calls without one absent.
    ``fresh`` re-reads rows the session already holds (after a conditional UPDATE)."""
    if not call_ids:
        return {}
    options = {"populate_existing": True} if fresh else {}
    grids = list(
        await session.scalars(
            select(ScoringGrid)
            .where(ScoringGrid.call_id.in_(call_ids))
            .execution_options(**options)
        )
    )
    criteria: dict[uuid.UUID, list[ScoringCriterion]] = defaultdict(list)
    if grids:
        rows = await session.scalars(
            select(ScoringCriterion)
            .where(ScoringCriterion.grid_id.in_([g.id for g in grids]))
            .order_by(ScoringCriterion.grid_id, ScoringCriterion.ordinal)
            .execution_options(**options)
        )
        for row in rows:
            criteria[row.grid_id].append(row)
    return {g.call_id: (g, criteria[g.id]) for g in grids}


async def update_unlocked_grid(
    session: AsyncSession, grid_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Change a grid that no score has locked. One conditional statement: on PostgreSQL it
    waits for a first score in flight on the same row, then finds the grid locked."""
    result = await session.execute(
        update(ScoringGrid)
        .where(ScoringGrid.id == grid_id, ScoringGrid.locked_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def lock_grid(session: AsyncSession, grid_id: uuid.UUID, now: datetime) -> None:
    """Lock the grid at the first score (a no-op once locked). On PostgreSQL the statement
    waits for a grid change in flight and then applies to the committed grid."""
    await session.execute(
        update(ScoringGrid)
        .where(ScoringGrid.id == grid_id, ScoringGrid.locked_at.is_(None))
        .values(locked_at=now)
        .execution_options(synchronize_session=False)
    )


async def delete_criteria(session: AsyncSession, grid_id: uuid.UUID) -> None:
    await session.execute(delete(ScoringCriterion).where(ScoringCriterion.grid_id == grid_id))


async def scores_of(
    session: AsyncSession, review_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ReviewScore, ScoringCriterion]]]:
    """Each review's scores with their criteria, in the grid's order (one query)."""
    found: dict[uuid.UUID, list[tuple[ReviewScore, ScoringCriterion]]] = defaultdict(list)
    if not review_ids:
        return found
    rows = await session.execute(
        select(ReviewScore, ScoringCriterion)
        .join(ScoringCriterion, ScoringCriterion.id == ReviewScore.criterion_id)
        .where(ReviewScore.review_id.in_(review_ids))
        .order_by(ReviewScore.review_id, ScoringCriterion.ordinal)
    )
    for score, criterion in rows:
        found[score.review_id].append((score, criterion))
    return found


async def delete_scores(session: AsyncSession, review_id: uuid.UUID) -> None:
    await session.execute(delete(ReviewScore).where(ReviewScore.review_id == review_id))


async def shared_organisations(
    session: AsyncSession, application: Application, user_id: uuid.UUID
) -> list[Organisation]:
    """The organisations of the application (its applicant, or every member of its
    partnership, invited ones included) that the user acts for."""
    involved = []
    if application.applicant_organisation_id is not None:
        involved.append(
            select(Organisation.id).where(Organisation.id == application.applicant_organisation_id)
        )
    if application.partnership_id is not None:
        involved.append(
            select(PartnershipMember.organisation_id).where(
                PartnershipMember.partnership_id == application.partnership_id
            )
        )
    if not involved:
        return []
    ids = union(*involved).subquery()
    return list(
        await session.scalars(
            select(Organisation)
            .join(UserMembership, UserMembership.organisation_id == Organisation.id)
            .where(UserMembership.user_id == user_id, Organisation.id.in_(select(ids.c[0])))
            .order_by(Organisation.legal_name, Organisation.id)
        )
    )
