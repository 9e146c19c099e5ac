"""Organisations and partnerships."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.domain import (
    LegalNature,
    MemberRole,
    MemberStatus,
    PartnershipForm,
    PiemonteProvince,
    ProfitStatus,
    SizeClass,
)
from app.core.identity import is_legal_entity_tax_code
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.schemas.common import Input, Output, from_attributes
from app.schemas.page import PageQuery
from app.schemas.types import TaxCode, VatNumber


class OrganisationCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "legal_name": "Cooperativa Sociale Esempio",
                    "tax_code": "02843860012",
                    "vat_number": "02843860012",
                    "legal_nature": "social_enterprise",
                    "profit_status": "non_profit",
                    "size_class": "small",
                    "province": "TO",
                    "accompaniment_experience": False,
                }
            ]
        },
    )
    legal_name: str = Field(min_length=1, max_length=300)
    tax_code: TaxCode
    vat_number: VatNumber | None = None
    legal_nature: LegalNature
    profit_status: ProfitStatus
    size_class: SizeClass | None = None
    province: PiemonteProvince | None = Field(
        default=None, description="Piemonte province; null when based elsewhere."
    )
    accompaniment_experience: bool = False


class OrganisationUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"legal_name": "Cooperativa Sociale Il Ponte", "size_class": "small"}]
        },
    )
    legal_name: str | None = Field(default=None, min_length=1, max_length=300)
    vat_number: VatNumber | None = None
    legal_nature: LegalNature | None = None
    profit_status: ProfitStatus | None = None
    size_class: SizeClass | None = None
    province: PiemonteProvince | None = None
    accompaniment_experience: bool | None = None


class OrganisationRead(Output):
    id: uuid.UUID
    legal_name: str
    tax_code: str
    is_legal_entity: bool = Field(description="11-digit tax code (not a natural person).")
    vat_number: str | None
    legal_nature: LegalNature
    profit_status: ProfitStatus
    size_class: SizeClass | None
    province: PiemonteProvince | None
    accompaniment_experience: bool
    created_at: datetime
    updated_at: datetime


def organisation_item(row: Sequence[Any]) -> dict[str, Any]:
    """One organisation as OrganisationRead serialises it, from a raw row of
    ``ORGANISATION_READ_COLUMNS``, without a model: a read by id is served as orjson bytes.
    A test holds it byte for byte to OrganisationRead."""
    (
        id_,
        legal_name,
        tax_code,
        vat_number,
        legal_nature,
        profit_status,
        size_class,
        province,
        accompaniment_experience,
        created_at,
        updated_at,
    ) = row
    return {
        "id": str(id_),
        "legal_name": legal_name,
        "tax_code": tax_code,
        "is_legal_entity": is_legal_entity_tax_code(tax_code),
        "vat_number": vat_number,
        "legal_nature": str(legal_nature),
        "profit_status": str(profit_status),
        "size_class": None if size_class is None else str(size_class),
        "province": None if province is None else str(province),
        "accompaniment_experience": accompaniment_experience,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def organisation_read(organisation: Organisation) -> OrganisationRead:
    is_legal_entity = is_legal_entity_tax_code(organisation.tax_code)
    return from_attributes(OrganisationRead, organisation, is_legal_entity=is_legal_entity)


class PartnershipCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "ATS Welfare Torino Nord",
                    "form": "ats_to_be_formed",
                    "district_id": None,
                    "lead_organisation_id": "5b1f3c1e-8d2a-4c57-9a51-2f0a5b7d9e10",
                    "partner_organisation_ids": ["1f0e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"],
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=300)
    form: PartnershipForm
    district_id: uuid.UUID | None = None
    lead_organisation_id: uuid.UUID
    partner_organisation_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=200,
        description="Organisations the caller may see: its own join at once; others (seen "
        "only by the region) are invited. Invite any other organisation by tax code.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> PartnershipCreate:
        members = [self.lead_organisation_id, *self.partner_organisation_ids]
        if len(set(members)) != len(members):
            raise ValueError("an organisation appears twice among lead and partners")
        return self


class PartnershipUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"name": "ATS Welfare Nord", "form": "ats_formed"}]},
    )
    name: str | None = Field(default=None, min_length=1, max_length=300)
    form: PartnershipForm | None = None
    district_id: uuid.UUID | None = None
    partner_organisation_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=200,
        description="The partners from now on: members left out are removed (an invitation "
        "left out is withdrawn); current members keep their status; new ones as on creation.",
    )


class MemberRead(Output):
    organisation_id: uuid.UUID
    role: MemberRole
    status: MemberStatus = Field(
        description="invited until one of the organisation's users (or the region, with a "
        "reason) accepts; only accepted members count, and a submission needs them all."
    )


class PartnershipRead(Output):
    id: uuid.UUID
    name: str
    form: PartnershipForm
    district_id: uuid.UUID | None
    lead_organisation_id: uuid.UUID
    members: list[MemberRead]
    created_at: datetime
    updated_at: datetime


def partnership_read(partnership: Partnership, members: list[PartnershipMember]) -> PartnershipRead:
    ordered = sorted(members, key=lambda m: (m.role != MemberRole.LEAD, str(m.organisation_id)))
    lead = next(m.organisation_id for m in ordered if m.role == MemberRole.LEAD)
    return from_attributes(PartnershipRead, partnership, lead_organisation_id=lead, members=ordered)


class MemberInvite(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"tax_code": "02843860012"}]},
    )
    tax_code: TaxCode = Field(
        description="The invited organisation's tax code (public, unlike its record here)."
    )


class MembershipDecision(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "Signed letter of intent, prot. 1234/2026."}]},
    )
    reason: str | None = Field(
        default=None,
        min_length=3,
        max_length=2000,
        description="Why; required when the region acts for the organisation (recorded in "
        "the audit trail).",
    )


class MembershipRead(Output):
    """A membership or invitation: what the invited organisation sees of the partnership."""

    partnership_id: uuid.UUID
    partnership_name: str
    partnership_form: PartnershipForm
    invited_by_organisation_id: uuid.UUID = Field(description="The partnership's lead.")
    invited_by_organisation_name: str
    organisation_id: uuid.UUID
    role: MemberRole
    status: MemberStatus


def membership_read(
    partnership: Partnership, lead: Organisation, member: PartnershipMember
) -> MembershipRead:
    return MembershipRead(
        partnership_id=partnership.id,
        partnership_name=partnership.name,
        partnership_form=partnership.form,
        invited_by_organisation_id=lead.id,
        invited_by_organisation_name=lead.legal_name,
        organisation_id=member.organisation_id,
        role=member.role,
        status=member.status,
    )


class _OrganisationFilters(BaseModel):
    legal_nature: LegalNature | None = Field(None, description="Only this legal nature.")
    province: PiemonteProvince | None = Field(None, description="Only this province's.")
    tax_code: str | None = Field(None, max_length=20, description="Exact tax code.")
    q: str | None = Field(None, max_length=100, description="Text in the legal name.")


class OrganisationQuery(PageQuery, _OrganisationFilters):
    """The organisation list's query string."""


class _PartnershipFilters(BaseModel):
    organisation_id: uuid.UUID | None = Field(None, description="With this member.")
    district_id: uuid.UUID | None = Field(None, description="Only this district's.")
    q: str | None = Field(None, max_length=100, description="Text in the name.")


class PartnershipQuery(PageQuery, _PartnershipFilters):
    """The partnership list's query string."""


class InvitationQuery(PageQuery):
    """The query string of an organisation's invitations: a page of them."""
