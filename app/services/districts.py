"""Social-cohesion districts and their lead bodies."""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Conflict, NotFound
from app.core.i18n import msg
from app.models.district import District
from app.models.organisation import Organisation
from app.repositories import districts as repo
from app.schemas.district import DistrictCreate, DistrictQuery, DistrictRead, DistrictUpdate
from app.schemas.page import Page
from app.services import audit
from app.services.lookup import load
from app.services.paging import SortKey

DISTRICT_ORDER = SortKey[District](District.code, District.id)


async def list_districts(
    session: AsyncSession, principal: Principal, query: DistrictQuery
) -> Page[DistrictRead]:
    """Districts by code. Public: every principal sees them all."""
    rows = partial(repo.page_districts, session, q=query.q)
    return await DISTRICT_ORDER.page_of(query, rows, DistrictRead.model_validate)


async def load_district(session: AsyncSession, district_id: uuid.UUID) -> District:
    return await load(session, District, district_id, msg("district"))


async def read_district(session: AsyncSession, district: District) -> DistrictRead:
    return DistrictRead.model_validate(district)


async def get_district(
    session: AsyncSession, principal: Principal, district_id: uuid.UUID
) -> DistrictRead:
    return DistrictRead.model_validate(await load_district(session, district_id))


async def _require_organisation(session: AsyncSession, organisation_id: uuid.UUID) -> None:
    if await session.get(Organisation, organisation_id) is None:
        raise NotFound(msg("No organisation {organisation_id}.", organisation_id=organisation_id))


async def create_district(session: AsyncSession, *, data: DistrictCreate) -> District:
    await _require_organisation(session, data.lead_organisation_id)
    if await repo.district_code_taken(session, data.code):
        raise Conflict(msg("A district with code {data_code} exists.", data_code=data.code))
    district = District(id=uuid.uuid4(), **data.model_dump())
    session.add(district)
    await session.flush()
    await audit.record(
        session,
        action="district.create",
        entity_type="district",
        entity_id=district.id,
        after=audit.snapshot(district),
    )
    return district


async def update_district(
    session: AsyncSession, district: District, *, data: DistrictUpdate
) -> District:
    before = audit.snapshot(district)
    if data.lead_organisation_id is not None:
        await _require_organisation(session, data.lead_organisation_id)
        district.lead_organisation_id = data.lead_organisation_id
    if data.name is not None:
        district.name = data.name
    await session.flush()
    await audit.record(
        session,
        action="district.update",
        entity_type="district",
        entity_id=district.id,
        before=before,
        after=audit.snapshot(district),
    )
    return district
