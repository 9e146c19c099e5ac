"""Organisations and partnerships of applicants, under object-level access."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import MemberRole
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    OrganisationExists,
    OrganisationInLiveApplication,
)
from app.db.base import utcnow
from app.models.auth import UserMembership
from app.models.organisation import District, Organisation, Partnership, PartnershipMember
from app.repositories import applicants as repo
from app.repositories import applications as application_repo
from app.repositories import visibility
from app.schemas.organisation import (
    OrganisationCreate,
    OrganisationUpdate,
    PartnershipCreate,
    PartnershipUpdate,
)
from app.services import audit


async def get_organisation(
    session: AsyncSession, organisation_id: uuid.UUID, principal: Principal
) -> Organisation:
    """Another party's organisation is 404, exactly like a missing one."""
    organisation = await repo.get_organisation(
        session, organisation_id, visibility.organisations(principal)
    )
    if organisation is None:
        raise NotFound(f"No organisation {organisation_id}.")
    return organisation


def _acts_for(principal: Principal, organisation_id: uuid.UUID) -> bool:
    return principal.role is Role.ADMINISTRATOR or organisation_id in principal.organisation_ids


# What eligibility and the per-call participation limits are judged on, at submission.
# Changed while an application is live, they would let an organisation pass as what it is
# not (a third-sector body turned foundation for a third project, then back again).
ELIGIBILITY_FIELDS = frozenset(
    {"legal_nature", "profit_status", "size_class", "province", "accompaniment_experience"}
)


async def create_organisation(
    session: AsyncSession, *, data: OrganisationCreate, principal: Principal
) -> Organisation:
    """Register an organisation; an applicant who registers it acts for it from now on."""
    if await repo.identifiers_taken(session, data.tax_code, data.vat_number):
        raise OrganisationExists(
            "An organisation with this tax code or VAT number is already registered; "
            "ask its users to add you."
        )
    organisation = Organisation(id=uuid.uuid4(), **data.model_dump())
    session.add(organisation)
    await session.flush()
    if principal.kind == "user" and principal.role is Role.APPLICANT and principal.id:
        session.add(UserMembership(user_id=principal.id, organisation_id=organisation.id))
        await session.flush()
    await audit.record(
        session,
        action="organisation.create",
        entity_type="organisation",
        entity_id=organisation.id,
        after=audit.snapshot(organisation),
    )
    return organisation


async def update_organisation(
    session: AsyncSession,
    organisation: Organisation,
    *,
    data: OrganisationUpdate,
    principal: Principal,
) -> Organisation:
    if not _acts_for(principal, organisation.id):
        raise Forbidden("Only the organisation's own users or an administrator may change it.")
    # Lock first: a submission judging this organisation either committed (its application
    # is live below) or waits for this change and judges the new details.
    await repo.lock_organisation(session, organisation.id)
    before = audit.snapshot(organisation)
    changes = {
        key: value
        for key, value in data.model_dump(exclude_unset=True).items()
        if value is not None or key in ("vat_number", "size_class", "province")
    }
    frozen = sorted(
        key
        for key, value in changes.items()
        if key in ELIGIBILITY_FIELDS and getattr(organisation, key) != value
    )
    if frozen:
        live = await application_repo.live_application_of_organisation(session, organisation.id)
        if live is not None:
            raise OrganisationInLiveApplication(
                f"Organisation {organisation.legal_name} takes part in a live application: "
                f"{', '.join(frozen)} cannot change while it is live.",
                fields=frozen,
                application_id=live,
            )
    for key, value in changes.items():
        setattr(organisation, key, value)
    await session.flush()
    await audit.record(
        session,
        action="organisation.update",
        entity_type="organisation",
        entity_id=organisation.id,
        before=before,
        after=audit.snapshot(organisation),
    )
    return organisation


async def get_partnership(
    session: AsyncSession, partnership_id: uuid.UUID, principal: Principal
) -> tuple[Partnership, list[PartnershipMember]]:
    partnership = await repo.get_partnership(
        session, partnership_id, visibility.partnerships(principal)
    )
    if partnership is None:
        raise NotFound(f"No partnership {partnership_id}.")
    return partnership, (await repo.members_of(session, [partnership.id]))[partnership.id]


async def _require_organisations(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    found = await repo.organisations_by_id(session, ids)
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise NotFound(f"No organisation {', '.join(missing)}.")


async def _require_district(session: AsyncSession, district_id: uuid.UUID | None) -> None:
    if district_id is not None and await session.get(District, district_id) is None:
        raise NotFound(f"No district {district_id}.")


async def create_partnership(
    session: AsyncSession, *, data: PartnershipCreate, principal: Principal
) -> tuple[Partnership, list[PartnershipMember]]:
    """Form a partnership; the caller must act for its lead ("capofila")."""
    if not _acts_for(principal, data.lead_organisation_id):
        raise Forbidden("You can form partnerships only with one of your organisations as lead.")
    await _require_organisations(
        session, [data.lead_organisation_id, *data.partner_organisation_ids]
    )
    await _require_district(session, data.district_id)
    partnership = Partnership(
        id=uuid.uuid4(), name=data.name, form=data.form, district_id=data.district_id
    )
    session.add(partnership)
    await session.flush()
    members = [
        PartnershipMember(
            partnership_id=partnership.id,
            organisation_id=data.lead_organisation_id,
            role=MemberRole.LEAD,
        ),
        *(
            PartnershipMember(
                partnership_id=partnership.id, organisation_id=org, role=MemberRole.PARTNER
            )
            for org in data.partner_organisation_ids
        ),
    ]
    session.add_all(members)
    await session.flush()
    await audit.record(
        session,
        action="partnership.create",
        entity_type="partnership",
        entity_id=partnership.id,
        after=_partnership_state(partnership, members),
    )
    return partnership, members


async def update_partnership(
    session: AsyncSession,
    partnership: Partnership,
    members: list[PartnershipMember],
    *,
    data: PartnershipUpdate,
    principal: Principal,
) -> list[PartnershipMember]:
    lead = next(m.organisation_id for m in members if m.role is MemberRole.LEAD)
    if not _acts_for(principal, lead):
        raise Forbidden("Only the lead's users or an administrator may change the partnership.")
    if data.partner_organisation_ids is not None:
        # Locked first: a submission of this partnership either committed (found below)
        # or waits for this change and judges the new members.
        await repo.lock_partnership(session, partnership.id)
    before = _partnership_state(partnership, members)
    if data.name is not None:
        partnership.name = data.name
    if data.form is not None:
        partnership.form = data.form
    if "district_id" in data.model_fields_set:
        await _require_district(session, data.district_id)
        partnership.district_id = data.district_id
    if data.partner_organisation_ids is not None:
        partners = data.partner_organisation_ids
        if lead in partners or len(set(partners)) != len(partners):
            raise Conflict("Partners must be distinct and must not include the lead.")
        if await repo.partnership_has_applications(session, partnership.id):
            raise Conflict("The members are frozen once the partnership has submitted.")
        await _require_organisations(session, partners)
        await repo.delete_partners(session, partnership.id)
        session.add_all(
            PartnershipMember(
                partnership_id=partnership.id, organisation_id=org, role=MemberRole.PARTNER
            )
            for org in partners
        )
        partnership.updated_at = utcnow()  # the membership changed: bump the version too
    await session.flush()
    members = (await repo.members_of(session, [partnership.id]))[partnership.id]
    await audit.record(
        session,
        action="partnership.update",
        entity_type="partnership",
        entity_id=partnership.id,
        before=before,
        after=_partnership_state(partnership, members),
    )
    return members


def _partnership_state(
    partnership: Partnership, members: list[PartnershipMember]
) -> dict[str, object]:
    return {
        **audit.snapshot(partnership),
        "members": sorted(
            ({"organisation_id": str(m.organisation_id), "role": str(m.role)} for m in members),
            key=lambda m: (m["role"] != "lead", m["organisation_id"]),
        ),
    }
