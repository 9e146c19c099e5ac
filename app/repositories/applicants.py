"""Queries on organisations and partnerships, always under a visibility predicate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import MemberRole, MemberStatus
from app.db.driver import PreparedRead
from app.models.application import Application
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.repositories.paging import Order, keyset
from app.repositories.programmes import search

# An organisation as OrganisationRead shows it, in its fields' order (``is_legal_entity`` is
# computed from the tax code): app.schemas.organisation.organisation_item formats the raw
# row. Built once, run on the driver on PostgreSQL (app.db.driver); who may read it is the
# service's decision (app.repositories.visibility.sees_organisation).
ORGANISATION_READ_COLUMNS = (
    Organisation.id,
    Organisation.legal_name,
    Organisation.tax_code,
    Organisation.vat_number,
    Organisation.legal_nature,
    Organisation.profit_status,
    Organisation.size_class,
    Organisation.province,
    Organisation.accompaniment_experience,
    Organisation.created_at,
    Organisation.updated_at,
)
_ORGANISATION_BY_ID = PreparedRead(
    select(*ORGANISATION_READ_COLUMNS).where(Organisation.id == bindparam("organisation_id"))
)


async def organisation_row(
    session: AsyncSession, organisation_id: uuid.UUID
) -> Sequence[Any] | None:
    """One organisation as ORGANISATION_READ_COLUMNS (a raw row), or None."""
    rows = await _ORGANISATION_BY_ID.fetch(session, {"organisation_id": organisation_id})
    return rows[0] if rows else None


async def get_organisation(
    session: AsyncSession, organisation_id: uuid.UUID, visible: ColumnElement[bool]
) -> Organisation | None:
    return await session.scalar(
        select(Organisation).where(Organisation.id == organisation_id, visible)
    )


async def organisations_by_id(
    session: AsyncSession,
    ids: list[uuid.UUID],
    *,
    lock: bool = False,
    visible: ColumnElement[bool] | None = None,
) -> dict[uuid.UUID, Organisation]:
    """``lock``: read them FOR SHARE, fresh (a submission judges their eligibility; a change
    to them waits for it, see :func:`lock_organisation`). SQLite's writers queue anyway.
    ``visible``: only those the caller may see (the others are as absent as missing ones)."""
    query = select(Organisation).where(Organisation.id.in_(ids))
    if visible is not None:
        query = query.where(visible)
    if lock:
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    rows = await session.scalars(query)
    return {row.id: row for row in rows}


async def lock_partnership(
    session: AsyncSession, partnership_id: uuid.UUID, *, share: bool = False
) -> None:
    """FOR UPDATE (a change of its members) or FOR SHARE (a submission judging them), so
    that the two never interleave. A loaded object is left as it was read: its version
    still guards the change against a concurrent one (412), as If-Match promised."""
    await session.execute(
        select(Partnership.id).where(Partnership.id == partnership_id).with_for_update(read=share)
    )


async def lock_organisation(session: AsyncSession, organisation_id: uuid.UUID) -> None:
    """Lock the row (FOR UPDATE): a submission that judges the organisation's eligibility
    cannot run between the live-application check and the change. The loaded object is left
    as read: its version still refuses a concurrent change (412), as If-Match promised."""
    await session.execute(
        select(Organisation.id).where(Organisation.id == organisation_id).with_for_update()
    )


async def page_organisations(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    legal_nature: str | None,
    province: str | None,
    tax_code: str | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Organisation]:
    query = select(Organisation).where(visible)
    if legal_nature is not None:
        query = query.where(Organisation.legal_nature == legal_nature)
    if province is not None:
        query = query.where(Organisation.province == province)
    if tax_code is not None:
        query = query.where(Organisation.tax_code == tax_code.strip().upper())
    if q:
        query = query.where(search(Organisation.legal_name, q))
    return list(await session.scalars(keyset(query, order, after, limit)))


async def get_partnership(
    session: AsyncSession, partnership_id: uuid.UUID, visible: ColumnElement[bool]
) -> Partnership | None:
    return await session.scalar(
        select(Partnership).where(Partnership.id == partnership_id, visible)
    )


async def members_of(
    session: AsyncSession, partnership_ids: list[uuid.UUID], *, fresh: bool = False
) -> dict[uuid.UUID, list[PartnershipMember]]:
    """``fresh``: as committed now, even for members this session loaded before (a status
    read after the partnership's lock must be the one the lock waited for)."""
    found: dict[uuid.UUID, list[PartnershipMember]] = {p: [] for p in partnership_ids}
    if partnership_ids:
        query = select(PartnershipMember).where(
            PartnershipMember.partnership_id.in_(partnership_ids)
        )
        if fresh:
            query = query.execution_options(populate_existing=True)
        for member in await session.scalars(query):
            found[member.partnership_id].append(member)
    return found


async def page_partnerships(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    organisation_id: uuid.UUID | None,
    district_id: uuid.UUID | None,
    q: str | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Partnership]:
    query = select(Partnership).where(visible)
    if organisation_id is not None:
        query = query.where(
            Partnership.id.in_(
                select(PartnershipMember.partnership_id).where(
                    PartnershipMember.organisation_id == organisation_id,
                    PartnershipMember.status == MemberStatus.ACCEPTED,
                )
            )
        )
    if district_id is not None:
        query = query.where(Partnership.district_id == district_id)
    if q:
        query = query.where(search(Partnership.name, q))
    return list(await session.scalars(keyset(query, order, after, limit)))


async def partnership_has_applications(session: AsyncSession, partnership_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Application.id)
        .where(Application.partnership_id == partnership_id, Application.status != "draft")
        .limit(1)
    )
    return found is not None


async def get_organisation_by_tax_code(session: AsyncSession, tax_code: str) -> Organisation | None:
    return await session.scalar(
        select(Organisation).where(Organisation.tax_code == tax_code.strip().upper())
    )


async def identifiers_taken(session: AsyncSession, tax_code: str, vat_number: str | None) -> bool:
    """Whether an organisation already holds this tax code or (non-null) VAT number."""
    clash = Organisation.tax_code == tax_code
    if vat_number is not None:
        clash = clash | (Organisation.vat_number == vat_number)
    return await session.scalar(select(Organisation.id).where(clash).limit(1)) is not None


async def delete_partners(
    session: AsyncSession, partnership_id: uuid.UUID, organisation_ids: list[uuid.UUID]
) -> None:
    """Remove these partners (never the lead) of a partnership, invited or accepted."""
    if not organisation_ids:
        return
    await session.execute(
        delete(PartnershipMember).where(
            PartnershipMember.partnership_id == partnership_id,
            PartnershipMember.organisation_id.in_(organisation_ids),
            PartnershipMember.role == MemberRole.PARTNER,
        )
    )


async def get_member(
    session: AsyncSession,
    partnership_id: uuid.UUID,
    organisation_id: uuid.UUID,
    visible: ColumnElement[bool] | None = None,
    *,
    fresh: bool = False,
) -> PartnershipMember | None:
    """``fresh``: re-read it as committed now (after the partnership's lock was taken)."""
    query = select(PartnershipMember).where(
        PartnershipMember.partnership_id == partnership_id,
        PartnershipMember.organisation_id == organisation_id,
    )
    if visible is not None:
        query = query.where(visible)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def leads_of(
    session: AsyncSession, partnership_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Organisation]:
    """Each partnership's lead: who invites, on an invitation."""
    if not partnership_ids:
        return {}
    rows = await session.execute(
        select(PartnershipMember.partnership_id, Organisation)
        .join(Organisation, PartnershipMember.organisation_id == Organisation.id)
        .where(
            PartnershipMember.partnership_id.in_(partnership_ids),
            PartnershipMember.role == MemberRole.LEAD,
        )
    )
    return {row[0]: row[1] for row in rows}


class Invitation(NamedTuple):
    """A pending invitation: the inviting partnership and the invited organisation's row."""

    partnership: Partnership
    member: PartnershipMember


async def page_invitations(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Invitation]:
    """The organisation's pending invitations, in the partnerships' ``order``."""
    query = (
        select(Partnership, PartnershipMember)
        .join(PartnershipMember, PartnershipMember.partnership_id == Partnership.id)
        .where(
            PartnershipMember.organisation_id == organisation_id,
            PartnershipMember.status == MemberStatus.INVITED,
        )
    )
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(*after))
    rows = await session.execute(query.order_by(*order).limit(limit + 1))
    return [Invitation(partnership, member) for partnership, member in rows]
