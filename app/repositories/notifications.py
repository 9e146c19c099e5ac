"""Queries of notification opt-outs, the e-mail outbox and e-mail deliveries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.domain import MemberRole
from app.models.allocation import Allocation
from app.models.application import Application
from app.models.auth import UserAccount, UserMembership
from app.models.notification import EmailDelivery, NotificationOptOut
from app.models.organisation import Organisation, PartnershipMember
from app.models.payment import ClaimLine, ExpenditureClaim, Payment
from app.models.webhook import OutboxMessage

# Preferences.


async def opted_out_kinds(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    found = await session.scalars(
        select(NotificationOptOut.kind)
        .where(NotificationOptOut.user_id == user_id)
        .order_by(NotificationOptOut.kind)
    )
    return list(found)


async def replace_opt_outs(
    session: AsyncSession, *, user_id: uuid.UUID, kinds: list[str], now: datetime
) -> None:
    await session.execute(delete(NotificationOptOut).where(NotificationOptOut.user_id == user_id))
    for kind in kinds:
        session.add(NotificationOptOut(user_id=user_id, kind=kind, created_at=now))
    await session.flush()


# The worker: fan-out.


async def undispatched(session: AsyncSession, *, channel: str, limit: int) -> list[OutboxMessage]:
    """The outbox rows of a channel not taken yet; PostgreSQL: SKIP LOCKED, so that two
    workers take different rows (e-mails need no order between them)."""
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.channel == channel, OutboxMessage.dispatched_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(await session.scalars(statement))


@dataclass(frozen=True)
class Facts:
    """What an e-mail says about the application its event concerns."""

    application_id: uuid.UUID
    title: str
    organisation_id: uuid.UUID | None
    organisation_name: str | None
    amount: Decimal | None = None
    verified: Decimal | None = None
    outcome: str | None = None


def _application_of(entity_type: str, entity_id: uuid.UUID) -> Any:
    """(application id, amount, verified, outcome) of an event's entity, or None."""
    none = null()
    if entity_type == "application":
        return select(Application.id, none, none, none).where(Application.id == entity_id)
    if entity_type == "allocation":
        return select(Allocation.application_id, Allocation.amount, none, none).where(
            Allocation.id == entity_id
        )
    if entity_type == "payment":
        return (
            select(Allocation.application_id, Payment.amount, none, none)
            .join(Allocation, Allocation.id == Payment.allocation_id)
            .where(Payment.id == entity_id)
        )
    if entity_type == "claim_line":
        return (
            select(
                Allocation.application_id, ClaimLine.amount, ClaimLine.verified, ClaimLine.outcome
            )
            .join(Allocation, Allocation.id == ClaimLine.allocation_id)
            .where(ClaimLine.id == entity_id)
        )
    if entity_type == "expenditure_claim":
        return (
            select(Allocation.application_id, ExpenditureClaim.amount, none, none)
            .join(Allocation, Allocation.id == ExpenditureClaim.allocation_id)
            .where(ExpenditureClaim.id == entity_id)
        )
    return None


async def facts_of(session: AsyncSession, *, entity_type: str, entity_id: str) -> Facts | None:
    """The application, its applicant (a partnership's lead) and the entity's figures; None
    when the entity is not (or no longer) there."""
    try:
        key = uuid.UUID(entity_id)
    except ValueError:
        return None
    statement = _application_of(entity_type, key)
    if statement is None:
        return None
    found = (await session.execute(statement)).first()
    if found is None:
        return None
    application_id, amount, verified, outcome = found
    lead = (
        select(PartnershipMember.organisation_id)
        .where(
            PartnershipMember.partnership_id == Application.partnership_id,
            PartnershipMember.role == MemberRole.LEAD,
        )
        .scalar_subquery()
    )
    applicant = func.coalesce(Application.applicant_organisation_id, lead)
    row = (
        await session.execute(
            select(Application.title, applicant.label("organisation_id"), Organisation.legal_name)
            .outerjoin(Organisation, Organisation.id == applicant)
            .where(Application.id == application_id)
        )
    ).first()
    if row is None:
        return None
    return Facts(
        application_id=application_id,
        title=row.title,
        organisation_id=row.organisation_id,
        organisation_name=row.legal_name,
        amount=amount,
        verified=verified,
        outcome=str(outcome) if outcome is not None else None,
    )


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    email: str
    display_name: str
    language: str


async def recipients(
    session: AsyncSession, *, organisation_id: uuid.UUID | None, kind: str, may_opt_out: bool
) -> list[Recipient]:
    """The active accounts a notice goes to: an organisation's applicant users, or (no
    organisation) every officer; those who opted out of the kind left out when they may."""
    statement = select(
        UserAccount.id, UserAccount.email, UserAccount.display_name, UserAccount.language
    ).where(UserAccount.active.is_(True))
    if organisation_id is not None:
        statement = statement.join(
            UserMembership,
            and_(
                UserMembership.user_id == UserAccount.id,
                UserMembership.organisation_id == organisation_id,
            ),
        ).where(UserAccount.role == Role.APPLICANT)
    else:
        statement = statement.where(UserAccount.role == Role.OFFICER)
    if may_opt_out:
        opted = (
            select(NotificationOptOut.user_id)
            .where(NotificationOptOut.user_id == UserAccount.id, NotificationOptOut.kind == kind)
            .exists()
        )
        statement = statement.where(~opted)
    rows = await session.execute(statement.order_by(UserAccount.id))
    return [Recipient(r.id, r.email, r.display_name, r.language) for r in rows]


# The worker: sending.


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[EmailDelivery]:
    """Pending e-mails that are due, not leased or with an expired lease; PostgreSQL: FOR
    UPDATE SKIP LOCKED, so that workers claim different ones."""
    statement = (
        select(EmailDelivery)
        .where(
            EmailDelivery.status == "pending",
            EmailDelivery.next_attempt_at <= now,
            or_(EmailDelivery.lease_expires_at.is_(None), EmailDelivery.lease_expires_at <= now),
        )
        .order_by(EmailDelivery.next_attempt_at, EmailDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(await session.scalars(statement))


async def finish(
    session: AsyncSession, *, delivery_id: uuid.UUID, lease_token: str, values: dict[str, Any]
) -> bool:
    """Record a send's outcome, if the lease is still this worker's (an expired lease
    claimed by another worker is not)."""
    result = await session.execute(
        update(EmailDelivery)
        .where(EmailDelivery.id == delivery_id, EmailDelivery.lease_token == lease_token)
        .values(lease_expires_at=None, lease_token=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
