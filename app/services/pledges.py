"""Co-funding pledges: a partner foundation's own records, which only it (and an
administrator) writes, and which the region reads.

A pledge is foundation money, not EU money: no cap of the programme counts it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.domain import CallStatus, LegalNature, PledgeStatus
from app.core.errors import (
    CallNotOpenForPledges,
    Forbidden,
    IllegalTransition,
    NotAFoundation,
    NotFound,
)
from app.core.i18n import msg
from app.models.organisation import Organisation
from app.models.pledge import Pledge
from app.repositories import pledges as repo
from app.repositories import visibility
from app.schemas.page import Page
from app.schemas.pledge import (
    PledgeCreate,
    PledgeQuery,
    PledgeRead,
    PledgeUpdate,
    PledgeWithdraw,
)
from app.services import audit
from app.services.calls import load_call
from app.services.organisations import load_organisation
from app.services.paging import SortKey

PLEDGE_ORDER = SortKey[Pledge](Pledge.created_at, Pledge.id)


async def list_pledges(
    session: AsyncSession, principal: Principal, organisation_id: uuid.UUID, query: PledgeQuery
) -> Page[PledgeRead]:
    """A foundation's pledges, oldest first: to its own client and to the region (an
    organisation the caller may not see is 404)."""
    organisation = await load_organisation(session, organisation_id, principal)
    rows = partial(
        repo.page_pledges,
        session,
        organisation_id=organisation.id,
        visible=visibility.pledges(principal),
        call_id=query.call_id,
        status=query.status,
    )
    return await PLEDGE_ORDER.page_of(query, rows, PledgeRead.model_validate)


async def load_pledge(
    session: AsyncSession, organisation_id: uuid.UUID, pledge_id: uuid.UUID, principal: Principal
) -> Pledge:
    """Another foundation's pledge is 404, exactly like a missing one."""
    pledge = await repo.get_pledge(
        session, organisation_id, pledge_id, visibility.pledges(principal)
    )
    if pledge is None:
        raise NotFound(
            msg(
                "No pledge {pledge_id} of organisation {organisation_id}.",
                pledge_id=pledge_id,
                organisation_id=organisation_id,
            )
        )
    return pledge


async def read_pledge(session: AsyncSession, pledge: Pledge) -> PledgeRead:
    return PledgeRead.model_validate(pledge)


async def get_pledge(
    session: AsyncSession, principal: Principal, organisation_id: uuid.UUID, pledge_id: uuid.UUID
) -> PledgeRead:
    return PledgeRead.model_validate(
        await load_pledge(session, organisation_id, pledge_id, principal)
    )


def _require_acts_for(principal: Principal, organisation_id: uuid.UUID) -> None:
    if not principal.acts_for(organisation_id):
        raise Forbidden(msg("Only the foundation's own client or an administrator may do this."))


def _require_active(pledge: Pledge, attempted: str) -> None:
    if pledge.status is not PledgeStatus.ACTIVE:
        raise IllegalTransition(
            msg("Only an active pledge can be changed or withdrawn."),
            current_status=pledge.status,
            attempted=attempted,
        )


async def create_pledge(
    session: AsyncSession, organisation: Organisation, *, data: PledgeCreate, principal: Principal
) -> Pledge:
    _require_acts_for(principal, organisation.id)
    if organisation.legal_nature is not LegalNature.FOUNDATION:
        raise NotAFoundation(
            msg(
                "Organisation {organisation_id} is a {legal_nature}, not a foundation.",
                organisation_id=organisation.id,
                legal_nature=organisation.legal_nature,
            ),
            legal_nature=organisation.legal_nature,
        )
    call = await load_call(session, data.call_id, principal)  # a draft is 404 to a partner
    status = await repo.call_status_for_pledge(session, call.id)
    if status is not CallStatus.PUBLISHED:
        raise CallNotOpenForPledges(
            msg(
                "Call {call_code} is {status}: pledges go to published calls that are not closed.",
                call_code=call.code,
                status=status,
            ),
            call_status=status,
        )
    pledge = Pledge(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        call_id=call.id,
        amount=data.amount,
        note=data.note,
        status=PledgeStatus.ACTIVE,
    )
    session.add(pledge)
    await session.flush()
    await audit.record(
        session,
        action="pledge.create",
        entity_type="pledge",
        entity_id=pledge.id,
        after=audit.snapshot(pledge),
    )
    return pledge


async def pledge_for(
    session: AsyncSession, organisation_id: uuid.UUID, *, data: PledgeCreate, principal: Principal
) -> Pledge:
    """:func:`create_pledge` for the organisation as the caller may see it (404 otherwise)."""
    organisation = await load_organisation(session, organisation_id, principal)
    return await create_pledge(session, organisation, data=data, principal=principal)


async def update_pledge(
    session: AsyncSession, pledge: Pledge, *, data: PledgeUpdate, principal: Principal
) -> Pledge:
    _require_acts_for(principal, pledge.organisation_id)
    _require_active(pledge, "update")
    before = audit.snapshot(pledge)
    if data.amount is not None:
        pledge.amount = data.amount
    if "note" in data.model_fields_set:
        pledge.note = data.note
    await session.flush()
    await audit.record(
        session,
        action="pledge.update",
        entity_type="pledge",
        entity_id=pledge.id,
        before=before,
        after=audit.snapshot(pledge),
    )
    return pledge


async def withdraw_pledge(
    session: AsyncSession, pledge: Pledge, *, data: PledgeWithdraw, principal: Principal
) -> Pledge:
    _require_acts_for(principal, pledge.organisation_id)
    _require_active(pledge, "withdraw")
    before = audit.snapshot(pledge)
    pledge.status = PledgeStatus.WITHDRAWN
    pledge.withdrawn_at = datetime.now(UTC)
    pledge.withdrawal_reason = data.reason
    await session.flush()
    await audit.record(
        session,
        action="pledge.withdraw",
        entity_type="pledge",
        entity_id=pledge.id,
        before=before,
        after=audit.snapshot(pledge),
        reason=data.reason,
    )
    return pledge
