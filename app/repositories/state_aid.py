"""Queries of state aid: the single undertaking of an application, its locks, its aid."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import DeclarationKind, MemberRole, StateAidRegime
from app.core.money import ZERO
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.organisation import Organisation, PartnershipMember
from app.models.programme import Measure
from app.models.state_aid import StateAidDeclaration


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


async def organisation_with_tax_code(session: AsyncSession, tax_code: str) -> uuid.UUID | None:
    return await session.scalar(select(Organisation.id).where(Organisation.tax_code == tax_code))


async def single_undertaking(session: AsyncSession, organisation_id: uuid.UUID) -> list[uuid.UUID]:
    """The registered organisations that form one single undertaking with this one, itself
    included, by id: those whose tax code it declared linked, and those that declared its
    tax code linked (one step: a link of a link is not followed)."""
    own_code = select(Organisation.tax_code).where(Organisation.id == organisation_id)
    declared_by_it = select(StateAidDeclaration.linked_tax_code).where(
        StateAidDeclaration.organisation_id == organisation_id,
        StateAidDeclaration.kind == DeclarationKind.LINKED_UNDERTAKING,
    )
    declaring_it = select(StateAidDeclaration.organisation_id).where(
        StateAidDeclaration.kind == DeclarationKind.LINKED_UNDERTAKING,
        StateAidDeclaration.linked_tax_code == own_code.scalar_subquery(),
    )
    rows = await session.scalars(
        select(Organisation.id).where(
            or_(
                Organisation.id == organisation_id,
                Organisation.tax_code.in_(declared_by_it),
                Organisation.id.in_(declaring_it),
            )
        )
    )
    return sorted(set(rows))


async def lock_undertakings(session: AsyncSession, organisation_ids: list[uuid.UUID]) -> None:
    """Lock the organisations' rows (FOR UPDATE), always in id order (no waiting in a cycle):
    every de minimis grant to them, and every declaration of theirs, queues here."""
    await session.execute(
        select(Organisation.id)
        .where(Organisation.id.in_(organisation_ids))
        .order_by(Organisation.id)
        .with_for_update()
    )


async def tax_code_of(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    tax_code = await session.scalar(
        select(Organisation.tax_code).where(Organisation.id == organisation_id)
    )
    assert tax_code is not None
    return tax_code


async def de_minimis_aid(
    session: AsyncSession, organisation_ids: list[uuid.UUID], *, since: datetime
) -> tuple[Decimal, Decimal]:
    """The de minimis aid of the organisations from ``since``: (granted here, declared from
    other sources). Granted: active allocations in de minimis measures, to an organisation
    as applicant or as the lead of an applying partnership. Declared: their ``other_aid``
    declarations granted on or after ``since``'s day."""
    lead = and_(
        PartnershipMember.partnership_id == Application.partnership_id,
        PartnershipMember.role == MemberRole.LEAD,
    )
    granted = await session.scalar(
        select(func.coalesce(func.sum(Allocation.amount), ZERO))
        .select_from(Allocation)
        .join(Application, Application.id == Allocation.application_id)
        .join(Measure, Measure.id == Allocation.measure_id)
        .outerjoin(PartnershipMember, lead)
        .where(
            ACTIVE_ALLOCATION,
            Measure.state_aid_regime == StateAidRegime.DE_MINIMIS,
            Allocation.granted_at >= since,
            func.coalesce(
                Application.applicant_organisation_id, PartnershipMember.organisation_id
            ).in_(organisation_ids),
        )
    )
    first_day: date = since.date()
    declared = await session.scalar(
        select(func.coalesce(func.sum(StateAidDeclaration.amount), ZERO)).where(
            StateAidDeclaration.kind == DeclarationKind.OTHER_AID,
            StateAidDeclaration.organisation_id.in_(organisation_ids),
            StateAidDeclaration.granted_on >= first_day,
        )
    )
    return (granted or ZERO), (declared or ZERO)
