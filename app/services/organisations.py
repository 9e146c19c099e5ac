"""Organisations and partnerships of applicants, under object-level access."""

from __future__ import annotations

import uuid
from functools import partial
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Role
from app.core.domain import MemberRole, MemberStatus
from app.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    OrganisationExists,
    OrganisationInLiveApplication,
    ReasonRequired,
)
from app.core.i18n import msg
from app.db.base import utcnow
from app.models.auth import UserMembership
from app.models.district import District
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.repositories import applicants as repo
from app.repositories import applications as application_repo
from app.repositories import visibility
from app.repositories.applicants import Invitation
from app.schemas.common import ReadJson, read_json
from app.schemas.organisation import (
    InvitationQuery,
    MemberInvite,
    MembershipDecision,
    MembershipRead,
    OrganisationCreate,
    OrganisationQuery,
    OrganisationRead,
    OrganisationUpdate,
    PartnershipCreate,
    PartnershipQuery,
    PartnershipRead,
    PartnershipUpdate,
    membership_read,
    organisation_item,
    organisation_read,
    partnership_read,
)
from app.schemas.page import Page
from app.services import audit
from app.services.paging import SortKey

ORGANISATION_ORDER = SortKey[Organisation](Organisation.legal_name, Organisation.id)
PARTNERSHIP_ORDER = SortKey[Partnership](Partnership.created_at, Partnership.id)
# An organisation's invitations, oldest partnership first.
INVITATION_ORDER = SortKey[Invitation](
    Partnership.created_at,
    Partnership.id,
    names=["partnership.created_at", "partnership.id"],
)


class Membership(NamedTuple):
    """A membership or invitation as it is shown: with its partnership and the lead (who
    invites)."""

    partnership: Partnership
    lead: Organisation
    member: PartnershipMember


async def list_organisations(
    session: AsyncSession, principal: Principal, query: OrganisationQuery
) -> Page[OrganisationRead]:
    """The organisations the caller may see, by legal name."""
    rows = partial(
        repo.page_organisations,
        session,
        visible=visibility.organisations(principal),
        legal_nature=query.legal_nature,
        province=query.province,
        tax_code=query.tax_code,
        q=query.q,
    )
    return await ORGANISATION_ORDER.page_of(query, rows, organisation_read)


async def load_organisation(
    session: AsyncSession, organisation_id: uuid.UUID, principal: Principal
) -> Organisation:
    """Another party's organisation is 404, exactly like a missing one."""
    organisation = await repo.get_organisation(
        session, organisation_id, visibility.organisations(principal)
    )
    if organisation is None:
        raise NotFound(msg("No organisation {organisation_id}.", organisation_id=organisation_id))
    return organisation


async def read_organisation(session: AsyncSession, organisation: Organisation) -> OrganisationRead:
    return organisation_read(organisation)


async def get_organisation(
    session: AsyncSession, principal: Principal, organisation_id: uuid.UUID
) -> ReadJson:
    """One of the caller's organisations (another party's is 404, exactly like a missing
    one). Already serialised: one statement built once, its raw row formatted without a
    model (the same bytes as OrganisationRead)."""
    row = None
    if visibility.sees_organisation(principal, organisation_id):
        row = await repo.organisation_row(session, organisation_id)
    if row is None:
        raise NotFound(msg("No organisation {organisation_id}.", organisation_id=organisation_id))
    return read_json(organisation_item(row))


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
            msg(
                "An organisation with this tax code or VAT number is already registered; "
                "ask its users to add you."
            )
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
        raise Forbidden(msg("Only the organisation's own users or an administrator may change it."))
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
                msg(
                    "Organisation {legal_name} takes part in a live application: {frozen} "
                    "cannot change while it is live.",
                    legal_name=organisation.legal_name,
                    frozen=", ".join(frozen),
                ),
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


async def list_partnerships(
    session: AsyncSession, principal: Principal, query: PartnershipQuery
) -> Page[PartnershipRead]:
    """The partnerships the caller may see, oldest first, each with its members."""
    rows = await PARTNERSHIP_ORDER.fetch(
        query,
        partial(
            repo.page_partnerships,
            session,
            visible=visibility.partnerships(principal),
            organisation_id=query.organisation_id,
            district_id=query.district_id,
            q=query.q,
        ),
    )
    members = await repo.members_of(session, [p.id for p in rows[: query.limit]])
    return PARTNERSHIP_ORDER.page(rows, query.limit, lambda p: partnership_read(p, members[p.id]))


async def load_partnership(
    session: AsyncSession, partnership_id: uuid.UUID, principal: Principal
) -> Partnership:
    """To its accepted members and the region; to anyone else 404, like a missing one."""
    partnership = await repo.get_partnership(
        session, partnership_id, visibility.partnerships(principal)
    )
    if partnership is None:
        raise NotFound(msg("No partnership {partnership_id}.", partnership_id=partnership_id))
    return partnership


async def _members(session: AsyncSession, partnership: Partnership) -> list[PartnershipMember]:
    return (await repo.members_of(session, [partnership.id]))[partnership.id]


async def read_partnership(session: AsyncSession, partnership: Partnership) -> PartnershipRead:
    """The partnership with its members as they are now (one query)."""
    return partnership_read(partnership, await _members(session, partnership))


async def get_partnership(
    session: AsyncSession, principal: Principal, partnership_id: uuid.UUID
) -> PartnershipRead:
    return await read_partnership(
        session, await load_partnership(session, partnership_id, principal)
    )


def _own(principal: Principal, organisation_id: uuid.UUID) -> bool:
    """One of the user's own organisations: its consent is the user's to give."""
    return principal.kind == "user" and organisation_id in principal.organisation_ids


def _status_for(principal: Principal, organisation_id: uuid.UUID) -> MemberStatus:
    """The caller's own organisations join at once; any other is only invited."""
    return MemberStatus.ACCEPTED if _own(principal, organisation_id) else MemberStatus.INVITED


async def _require_nameable(
    session: AsyncSession,
    principal: Principal,
    ids: list[uuid.UUID],
    *,
    members: frozenset[uuid.UUID] = frozenset(),
) -> None:
    """Partners named by id must be organisations the caller may see (an applicant: its
    own), or already members. Another party's organisation gets the very answer a missing
    one gets, so that an id reveals nothing; it is invited by its (public) tax code."""
    wanted = [i for i in ids if i not in members]
    found = await repo.organisations_by_id(
        session, wanted, visible=visibility.organisations(principal)
    )
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise NotFound(msg("No organisation {missing}.", missing=", ".join(missing)))


async def _require_district(session: AsyncSession, district_id: uuid.UUID | None) -> None:
    if district_id is not None and await session.get(District, district_id) is None:
        raise NotFound(msg("No district {district_id}.", district_id=district_id))


async def create_partnership(
    session: AsyncSession, *, data: PartnershipCreate, principal: Principal
) -> Partnership:
    """Form a partnership; the caller must act for its lead ("capofila"), which is accepted
    (forming it is the lead's act). Partners are accepted when they are the caller's own
    organisations, invited otherwise."""
    if not _acts_for(principal, data.lead_organisation_id):
        raise Forbidden(
            msg("You can form partnerships only with one of your organisations as lead.")
        )
    await _require_nameable(session, principal, [data.lead_organisation_id])
    await _require_nameable(session, principal, data.partner_organisation_ids)
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
            status=MemberStatus.ACCEPTED,
        ),
        *(
            PartnershipMember(
                partnership_id=partnership.id,
                organisation_id=org,
                role=MemberRole.PARTNER,
                status=_status_for(principal, org),
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
    return partnership


def _lead_of(members: list[PartnershipMember]) -> uuid.UUID:
    return next(m.organisation_id for m in members if m.role is MemberRole.LEAD)


async def _require_members_open(session: AsyncSession, partnership_id: uuid.UUID) -> None:
    """Call with the partnership locked FOR UPDATE: a submission holds it FOR SHARE, so it
    either committed (found here) or waits for this change and judges the new members."""
    if await repo.partnership_has_applications(session, partnership_id):
        raise Conflict(msg("The members are frozen once the partnership has submitted."))


async def update_partnership(
    session: AsyncSession,
    partnership: Partnership,
    *,
    data: PartnershipUpdate,
    principal: Principal,
) -> Partnership:
    members = await _members(session, partnership)
    lead = _lead_of(members)
    if not _acts_for(principal, lead):
        raise Forbidden(
            msg("Only the lead's users or an administrator may change the partnership.")
        )
    if data.partner_organisation_ids is not None:
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
            raise Conflict(msg("Partners must be distinct and must not include the lead."))
        await _require_members_open(session, partnership.id)
        current = {
            m.organisation_id: m
            for m in (await repo.members_of(session, [partnership.id], fresh=True))[partnership.id]
            if m.role is MemberRole.PARTNER
        }
        await _require_nameable(session, principal, partners, members=frozenset(current))
        # Members kept keep their consent; those left out (an invitation: withdrawn) go.
        await repo.delete_partners(
            session, partnership.id, [o for o in current if o not in partners]
        )
        session.add_all(
            PartnershipMember(
                partnership_id=partnership.id,
                organisation_id=org,
                role=MemberRole.PARTNER,
                status=_status_for(principal, org),
            )
            for org in partners
            if org not in current
        )
        partnership.updated_at = utcnow()  # the membership changed: bump the version too
    await session.flush()
    await audit.record(
        session,
        action="partnership.update",
        entity_type="partnership",
        entity_id=partnership.id,
        before=before,
        after=_partnership_state(partnership, await _members(session, partnership)),
    )
    return partnership


async def invite_member(
    session: AsyncSession, partnership_id: uuid.UUID, *, data: MemberInvite, principal: Principal
) -> Membership:
    """Name another organisation by its tax code: invited (accepted at once when it is one
    of the caller's own). The partnership as the caller may see it (404 otherwise)."""
    partnership = await load_partnership(session, partnership_id, principal)
    lead = _lead_of(await _members(session, partnership))
    if not _acts_for(principal, lead):
        raise Forbidden(msg("Only the lead's users or an administrator may invite."))
    await repo.lock_partnership(session, partnership.id)
    await _require_members_open(session, partnership.id)
    organisation = await repo.get_organisation_by_tax_code(session, data.tax_code)
    if organisation is None:
        # Whether a tax code is registered is no secret of the invitation's: registering
        # it again answers organisation_exists. Its record stays unseen either way.
        raise NotFound(
            msg("No organisation is registered with tax code {tax_code}.", tax_code=data.tax_code)
        )
    current = (await repo.members_of(session, [partnership.id], fresh=True))[partnership.id]
    if any(m.organisation_id == organisation.id for m in current):
        raise Conflict(
            msg("This organisation is already a member of the partnership, or invited."),
            organisation_id=organisation.id,
        )
    before = _partnership_state(partnership, current)
    member = PartnershipMember(
        partnership_id=partnership.id,
        organisation_id=organisation.id,
        role=MemberRole.PARTNER,
        status=_status_for(principal, organisation.id),
    )
    session.add(member)
    partnership.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        action="partnership.invite",
        entity_type="partnership",
        entity_id=partnership.id,
        before=before,
        after=_partnership_state(partnership, [*current, member]),
    )
    return Membership(partnership, await _lead(session, partnership.id), member)


async def _lead(session: AsyncSession, partnership_id: uuid.UUID) -> Organisation:
    return (await repo.leads_of(session, [partnership_id]))[partnership_id]


async def load_membership(
    session: AsyncSession,
    partnership_id: uuid.UUID,
    organisation_id: uuid.UUID,
    principal: Principal,
) -> Membership:
    """A membership or invitation, to the organisation's users, the partnership's accepted
    members and the region; to anyone else as absent as one that does not exist."""
    member = await repo.get_member(
        session, partnership_id, organisation_id, visibility.memberships(principal)
    )
    partnership = await session.get(Partnership, partnership_id) if member else None
    if member is None or partnership is None:
        raise NotFound(
            msg(
                "No member {organisation_id} of partnership {partnership_id}.",
                organisation_id=organisation_id,
                partnership_id=partnership_id,
            )
        )
    return Membership(partnership, await _lead(session, partnership_id), member)


async def read_membership(session: AsyncSession, membership: Membership) -> MembershipRead:
    return membership_read(*membership)


async def get_membership(
    session: AsyncSession,
    principal: Principal,
    partnership_id: uuid.UUID,
    organisation_id: uuid.UUID,
) -> MembershipRead:
    return membership_read(
        *await load_membership(session, partnership_id, organisation_id, principal)
    )


def _consent_reason(principal: Principal, member: PartnershipMember, reason: str | None) -> None:
    """The organisation's own users decide; the region may decide for it, saying why."""
    if _own(principal, member.organisation_id) and principal.role is Role.APPLICANT:
        return
    if not principal.is_region:
        raise Forbidden(msg("Only the invited organisation's users (or the region) may decide."))
    if reason is None:
        raise ReasonRequired(
            msg(
                "The region accepts or declines for an organisation only with a reason, "
                "recorded in the audit trail."
            ),
            field="reason",
        )


async def _locked_invitation(
    session: AsyncSession, partnership: Partnership, member: PartnershipMember, action: str
) -> list[PartnershipMember]:
    """Lock the partnership FOR UPDATE (as a change of members does: a submission holding it
    FOR SHARE has committed or waits), then check the invitation is still pending."""
    await repo.lock_partnership(session, partnership.id)
    fresh = await repo.get_member(session, partnership.id, member.organisation_id, fresh=True)
    if fresh is None:
        raise NotFound(
            msg(
                "No member {organisation_id} of partnership {partnership_id}.",
                organisation_id=member.organisation_id,
                partnership_id=partnership.id,
            )
        )
    if fresh.status is not MemberStatus.INVITED:
        raise Conflict(
            msg(
                "Only a pending invitation can be {action}; this organisation is {fresh_status}.",
                action=action,
                fresh_status=fresh.status,
            ),
            current_status=fresh.status,
        )
    await _require_members_open(session, partnership.id)
    return (await repo.members_of(session, [partnership.id], fresh=True))[partnership.id]


async def accept_membership(
    session: AsyncSession,
    membership: Membership,
    *,
    data: MembershipDecision | None,
    principal: Principal,
) -> PartnershipMember:
    """The invited organisation joins: it now counts (visibility, participation, freeze).
    ``data``: optional (the organisation's own users need not say why; the region must)."""
    partnership, _, member = membership
    data = data or MembershipDecision()
    _consent_reason(principal, member, data.reason)
    current = await _locked_invitation(session, partnership, member, msg("accepted"))
    before = _partnership_state(partnership, current)
    member.status = MemberStatus.ACCEPTED
    partnership.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        action="partnership.accept",
        entity_type="partnership",
        entity_id=partnership.id,
        before=before,
        after=_partnership_state(partnership, current),
        reason=data.reason,
    )
    return member


async def decline_membership(
    session: AsyncSession,
    membership: Membership,
    *,
    data: MembershipDecision | None,
    principal: Principal,
) -> None:
    """The invited organisation says no: the invitation is removed (on the record)."""
    partnership, _, member = membership
    data = data or MembershipDecision()
    _consent_reason(principal, member, data.reason)
    current = await _locked_invitation(session, partnership, member, msg("declined"))
    before = _partnership_state(partnership, current)
    await repo.delete_partners(session, partnership.id, [member.organisation_id])
    partnership.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        action="partnership.decline",
        entity_type="partnership",
        entity_id=partnership.id,
        before=before,
        after=_partnership_state(
            partnership, [m for m in current if m.organisation_id != member.organisation_id]
        ),
        reason=data.reason,
    )


async def list_invitations(
    session: AsyncSession, principal: Principal, organisation_id: uuid.UUID, query: InvitationQuery
) -> Page[MembershipRead]:
    """The pending invitations of an organisation the caller may see (404 otherwise),
    oldest partnership first, each with who invites."""
    organisation = await load_organisation(session, organisation_id, principal)
    rows = await INVITATION_ORDER.fetch(
        query, partial(repo.page_invitations, session, organisation_id=organisation.id)
    )
    shown = rows[: query.limit]
    leads = await repo.leads_of(session, [row.partnership.id for row in shown])
    return INVITATION_ORDER.page(
        rows,
        query.limit,
        lambda row: membership_read(row.partnership, leads[row.partnership.id], row.member),
    )


def _partnership_state(
    partnership: Partnership, members: list[PartnershipMember]
) -> dict[str, object]:
    return {
        **audit.snapshot(partnership),
        "members": sorted(
            (
                {
                    "organisation_id": str(m.organisation_id),
                    "role": str(m.role),
                    "status": str(m.status),
                }
                for m in members
            ),
            key=lambda m: (m["role"] != "lead", m["organisation_id"]),
        ),
    }
