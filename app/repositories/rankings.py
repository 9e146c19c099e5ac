"""Queries behind rankings: what a draft is computed from, and the published versions."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core.domain import AllocationStatus, ApplicationStatus
from app.models.allocation import Allocation
from app.models.application import Application
from app.models.call import Call
from app.models.organisation import Organisation, Partnership
from app.models.ranking import Ranking, RankingEntry
from app.models.review import Review
from app.models.scoring import ReviewScore, ScoringCriterion
from app.repositories.paging import Order, keyset

_applicant = aliased(Organisation)


@dataclass(frozen=True)
class Candidate:
    """An application that may be ranked, with what the ranking shows of it."""

    id: uuid.UUID
    status: ApplicationStatus
    title: str
    requested: Decimal
    submitted_at: datetime | None
    applicant_name: str | None
    applicant_tax_code: str | None
    partnership_name: str | None
    reviewers: int  # reviews assigned
    scores: dict[uuid.UUID, dict[str, int]]  # scored review -> criterion code -> score
    allocated: Decimal | None  # the active allocation's amount, if granted already


async def candidates(
    session: AsyncSession, call_id: uuid.UUID, statuses: Sequence[ApplicationStatus]
) -> list[Candidate]:
    """The call's applications in ``statuses`` with their reviews' scores (three queries)."""
    rows = (
        await session.execute(
            select(
                Application.id,
                Application.status,
                Application.title,
                Application.requested,
                Application.submitted_at,
                _applicant.legal_name,
                _applicant.tax_code,
                Partnership.name,
                select(func.count(Review.id))
                .where(Review.application_id == Application.id)
                .scalar_subquery(),
            )
            .outerjoin(_applicant, _applicant.id == Application.applicant_organisation_id)
            .outerjoin(Partnership, Partnership.id == Application.partnership_id)
            .where(Application.call_id == call_id, Application.status.in_(statuses))
            .order_by(Application.id)
        )
    ).all()
    ids = [row[0] for row in rows]
    scores: dict[uuid.UUID, dict[uuid.UUID, dict[str, int]]] = defaultdict(dict)
    allocated: dict[uuid.UUID, Decimal] = {}
    if ids:
        found = await session.execute(
            select(Review.application_id, Review.id, ScoringCriterion.code, ReviewScore.score)
            .join(ReviewScore, ReviewScore.review_id == Review.id)
            .join(ScoringCriterion, ScoringCriterion.id == ReviewScore.criterion_id)
            .where(Review.application_id.in_(ids), Review.scored_at.is_not(None))
        )
        for application_id, review_id, code, score in found:
            scores[application_id].setdefault(review_id, {})[code] = score
        granted = await session.execute(
            select(Allocation.application_id, Allocation.amount).where(
                Allocation.application_id.in_(ids),
                Allocation.status == AllocationStatus.ACTIVE,
            )
        )
        allocated = dict(granted.all())
    return [
        Candidate(
            id=row[0],
            status=row[1],
            title=row[2],
            requested=row[3],
            submitted_at=row[4],
            applicant_name=row[5],
            applicant_tax_code=row[6],
            partnership_name=row[7],
            reviewers=row[8],
            scores=scores[row[0]],
            allocated=allocated.get(row[0]),
        )
        for row in rows
    ]


async def lock_call(session: AsyncSession, call_id: uuid.UUID) -> None:
    """Lock the call's row (PostgreSQL): publications of one call queue here, one by one."""
    await session.execute(select(Call.id).where(Call.id == call_id).with_for_update())


async def latest(session: AsyncSession, call_id: uuid.UUID) -> Ranking | None:
    return await session.scalar(
        select(Ranking).where(Ranking.call_id == call_id).order_by(Ranking.version.desc()).limit(1)
    )


async def get_version(session: AsyncSession, call_id: uuid.UUID, version: int) -> Ranking | None:
    return await session.scalar(
        select(Ranking).where(Ranking.call_id == call_id, Ranking.version == version)
    )


async def versions_of(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The version numbers of rankings by id (what ``replaces`` links show). One statement
    even for no ids, so a page of versions costs the same whatever it holds."""
    rows = await session.execute(select(Ranking.id, Ranking.version).where(Ranking.id.in_(ids)))
    return dict(rows.all())


async def page_rankings(
    session: AsyncSession,
    *,
    call_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Ranking]:
    """One keyset page of the call's published versions (``limit + 1`` rows; the unique
    (call, version) constraint's index serves it)."""
    statement = select(Ranking).where(Ranking.call_id == call_id)
    return list(await session.scalars(keyset(statement, order, after, limit)))


async def entries(session: AsyncSession, ranking_id: uuid.UUID) -> list[RankingEntry]:
    return list(
        await session.scalars(
            select(RankingEntry)
            .where(RankingEntry.ranking_id == ranking_id)
            .order_by(RankingEntry.ordinal)
        )
    )
