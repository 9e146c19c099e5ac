"""Queries of state aid: the single undertaking of an application, its lock, its aid."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import MemberRole, StateAidRegime
from app.core.money import ZERO
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.organisation import Organisation, PartnershipMember
from app.models.programme import Measure


async def undertaking_of(session: AsyncSession, application: Application) -> uuid.UUID | None:
    """The organisation that receives the aid: the applicant, or the applying partnership's
    lead (who signs the grant act for it)."""
    if application.applicant_organisation_id is not None:
        return application.applicant_organisation_id
    return await session.scalar(
        select(PartnershipMember.organisation_id).where(
            PartnershipMember.partnership_id == application.partnership_id,
            PartnershipMember.role == MemberRole.LEAD,
        )
    )


async def lock_undertaking(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    """Lock the undertaking's row (FOR UPDATE) and return its tax code: every de minimis
    grant to it queues here (SQLite's writers queue anyway, BEGIN IMMEDIATE)."""
    tax_code = await session.scalar(
        select(Organisation.tax_code).where(Organisation.id == organisation_id).with_for_update()
    )
    assert tax_code is not None
    return tax_code


async def de_minimis_aid(
    session: AsyncSession, organisation_id: uuid.UUID, *, since: datetime
) -> Decimal:
    """The de minimis aid granted to the undertaking from ``since``: its active allocations
    in de minimis measures, as applicant or as the lead of an applying partnership."""
    lead = and_(
        PartnershipMember.partnership_id == Application.partnership_id,
        PartnershipMember.role == MemberRole.LEAD,
    )
    total = await session.scalar(
        select(func.coalesce(func.sum(Allocation.amount), ZERO))
        .select_from(Allocation)
        .join(Application, Application.id == Allocation.application_id)
        .join(Measure, Measure.id == Allocation.measure_id)
        .outerjoin(PartnershipMember, lead)
        .where(
            ACTIVE_ALLOCATION,
            Measure.state_aid_regime == StateAidRegime.DE_MINIMIS,
            Allocation.granted_at >= since,
            func.coalesce(Application.applicant_organisation_id, PartnershipMember.organisation_id)
            == organisation_id,
        )
    )
    return ZERO if total is None else total


async def tax_code_of(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    tax_code = await session.scalar(
        select(Organisation.tax_code).where(Organisation.id == organisation_id)
    )
    assert tax_code is not None
    return tax_code
