"""Object-level access as SQL predicates: what each principal may see.

Every query that returns applicants' data adds the predicate for its principal, so a
list never reveals another party's rows and a read of one returns 404 (not 403): the
object's existence does not leak.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, Select, bindparam, false, or_, select, true

from app.core.auth import Principal, Role
from app.core.domain import MemberStatus
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.models.pledge import Pledge
from app.models.review import Review
from app.models.state_aid import StateAidDeclaration


def organisations(principal: Principal) -> ColumnElement[bool]:
    """Region staff see all; applicants and partner clients their own organisations."""
    if principal.is_region:
        return true()
    if principal.organisation_ids:
        return Organisation.id.in_(principal.organisation_ids)
    return false()


def sees_organisation(principal: Principal, organisation_id: uuid.UUID) -> bool:
    """:func:`organisations` for one organisation, decided without a query (its reads by
    id then run one statement built once for everyone)."""
    return principal.is_region or organisation_id in principal.organisation_ids


def _accepted_memberships(principal: Principal) -> Select[uuid.UUID]:
    """The partnerships the principal's organisations have accepted to join. An invitation
    shows nothing of the partnership's applications or other members (only itself, see
    :func:`memberships`)."""
    return select(PartnershipMember.partnership_id).where(
        PartnershipMember.organisation_id.in_(principal.organisation_ids),
        PartnershipMember.status == MemberStatus.ACCEPTED,
    )


def partnerships(principal: Principal) -> ColumnElement[bool]:
    """Region staff see all; applicants the partnerships their organisations are accepted
    members of (an invited organisation sees the invitation only)."""
    if principal.is_region:
        return true()
    if principal.kind == "user" and principal.organisation_ids:
        return Partnership.id.in_(_accepted_memberships(principal))
    return false()


def memberships(principal: Principal) -> ColumnElement[bool]:
    """A membership or invitation (one row of partnership_member): to the region, to the
    users of the organisation concerned, and to the partnership's accepted members."""
    if principal.is_region:
        return true()
    if principal.kind == "user" and principal.organisation_ids:
        return or_(
            PartnershipMember.organisation_id.in_(principal.organisation_ids),
            PartnershipMember.partnership_id.in_(_accepted_memberships(principal)),
        )
    return false()


def applications(principal: Principal) -> ColumnElement[bool]:
    """Region staff: all. Reviewers: assigned ones. Applicants: their organisations' own
    and those of partnerships they are accepted members of. Partner clients: none (funded
    projects are public through the allocations)."""
    if principal.is_region:
        return true()
    if principal.role is Role.REVIEWER and principal.id is not None:
        return Application.id.in_(
            select(Review.application_id).where(Review.reviewer_id == principal.id)
        )
    if principal.role is Role.APPLICANT and principal.organisation_ids:
        return or_(
            Application.applicant_organisation_id.in_(principal.organisation_ids),
            Application.partnership_id.in_(_accepted_memberships(principal)),
        )
    return false()


# Applications as every caller of a kind sees them, with named parameters: statements built
# once per view (reads by id, app.db.driver). An applicant's view names its own
# organisations, so it is built per request (:func:`applications`).
SHARED_APPLICATION_VIEWS: dict[str, ColumnElement[bool]] = {
    "region": true(),
    "reviewer": Application.id.in_(
        select(Review.application_id).where(Review.reviewer_id == bindparam("reviewer_id"))
    ),
}


def shared_application_view(principal: Principal) -> str | None:
    """The key of the principal's view in SHARED_APPLICATION_VIEWS; None where it is built
    per request (an applicant's) or sees nothing (:func:`applications` is ``false()``)."""
    if principal.is_region:
        return "region"
    if principal.role is Role.REVIEWER and principal.id is not None:
        return "reviewer"
    return None


def reviews(principal: Principal) -> ColumnElement[bool]:
    """Region staff see every review; a reviewer their own; nobody else any (an applicant
    learns the outcome from the decision, not from the reviewers)."""
    if principal.is_region:
        return true()
    if principal.role is Role.REVIEWER and principal.id is not None:
        return Review.reviewer_id == principal.id
    return false()


def pledges(principal: Principal) -> ColumnElement[bool]:
    """Region staff see every pledge; a foundation's client its own foundation's."""
    if principal.is_region:
        return true()
    if principal.kind == "client" and principal.organisation_ids:
        return Pledge.organisation_id.in_(principal.organisation_ids)
    return false()


# Allocations as every caller of a kind sees them: the region all, everyone else active ones
# ('active' written into the SQL: see ACTIVE_ALLOCATION).
SHARED_ALLOCATION_VIEWS: dict[str, ColumnElement[bool]] = {
    "region": true(),
    "public": ACTIVE_ALLOCATION,
}


def shared_allocation_view(principal: Principal) -> str | None:
    """The key of the principal's view in SHARED_ALLOCATION_VIEWS, or None when the view
    depends on the principal's own organisations (an applicant sees its revoked ones too).
    Lists built once per shape (``app.db.driver``) are keyed by it."""
    if principal.is_region:
        return "region"
    if principal.role is Role.APPLICANT and principal.organisation_ids:
        return None
    return "public"


def allocations(principal: Principal) -> ColumnElement[bool]:
    """Active allocations are public (transparency law); revoked ones only to the region
    and to the applicant concerned."""
    shared = shared_allocation_view(principal)
    if shared is not None:
        return SHARED_ALLOCATION_VIEWS[shared]
    own = Allocation.application_id.in_(select(Application.id).where(applications(principal)))
    return or_(SHARED_ALLOCATION_VIEWS["public"], own)


def state_aid_declarations(principal: Principal) -> ColumnElement[bool]:
    """As organisations: the region sees every declaration, an organisation's users (and
    clients) their own organisations'."""
    if principal.is_region:
        return true()
    if principal.organisation_ids:
        return StateAidDeclaration.organisation_id.in_(principal.organisation_ids)
    return false()


def funding_records(principal: Principal) -> ColumnElement[bool]:
    """A grant's claims and payments (issue 16), on a query joined to its allocation: to
    the region and to the beneficiary's users (the applicant, or a partnership's members);
    nobody else (what is paid is public through the transparency register)."""
    if principal.is_region:
        return true()
    if principal.role is Role.APPLICANT and principal.organisation_ids:
        return Allocation.application_id.in_(select(Application.id).where(applications(principal)))
    return false()
