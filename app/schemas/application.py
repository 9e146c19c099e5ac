"""Applications (projects) and allocations (grants)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.domain import AllocationStatus, ApplicationStage, ApplicationStatus
from app.core.money import format_cents
from app.schemas.common import Input, Output
from app.schemas.page import (
    CallFilter,
    FundFilter,
    MeasureFilter,
    PageQuery,
    ProgrammeFilter,
)
from app.schemas.types import Money, PositiveMoney


class ApplicationCreate(Input):
    """A draft application; ``preliminary_id`` makes it the executive project of an admitted
    preliminary one (two-stage calls)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "call_id": "7d0c8e55-0f5a-4b3e-9f0b-3a1f2e4d5c6b",
                    "partnership_id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "title": "Welfare di comunità Torino Nord",
                    "description": "Servizi di prossimità co-progettati con il terzo settore.",
                    "total_cost": "450000.00",
                    "requested": "400000.00",
                    "district_id": "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b",
                }
            ]
        },
    )
    call_id: uuid.UUID
    applicant_organisation_id: uuid.UUID | None = None
    partnership_id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=20_000)
    total_cost: Money = Field(description="The project's total value.")
    requested: Money = Field(description="The funding asked for (at most the total cost).")
    line_number: int | None = Field(default=None, ge=1, le=99, description="FESR: 1 or 2.")
    thematic_area_code: str | None = Field(default=None, min_length=1, max_length=60)
    district_id: uuid.UUID | None = None
    preliminary_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _coherent(self) -> ApplicationCreate:
        if (self.applicant_organisation_id is None) == (self.partnership_id is None):
            raise ValueError("give exactly one of applicant_organisation_id and partnership_id")
        if self.requested <= 0 or self.requested > self.total_cost:
            raise ValueError("requested must be more than 0 and at most total_cost")
        return self


class ApplicationUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"title": "Welfare di comunità Torino Nord e Sud", "requested": "380000.00"}
            ]
        },
    )
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, min_length=1, max_length=20_000)
    total_cost: Money | None = None
    requested: Money | None = None
    thematic_area_code: str | None = Field(default=None, min_length=1, max_length=60)
    district_id: uuid.UUID | None = None


class ApplicationRead(Output):
    id: uuid.UUID
    call_id: uuid.UUID
    measure_id: uuid.UUID
    line_id: uuid.UUID | None
    applicant_organisation_id: uuid.UUID | None
    partnership_id: uuid.UUID | None
    title: str
    description: str
    total_cost: Money
    requested: Money
    thematic_area_id: uuid.UUID | None
    district_id: uuid.UUID | None
    stage: ApplicationStage
    preliminary_id: uuid.UUID | None
    status: ApplicationStatus
    submitted_at: datetime | None
    decided_at: datetime | None
    reserved: Money = Field(
        description="First-come calls: the amount this application holds against the call "
        "(0: none, or not a first-come call)."
    )
    waiting_position: int | None = Field(
        description="First-come calls: the application's place on the waiting list (1 is "
        "next); null when it is not waiting."
    )
    created_at: datetime
    updated_at: datetime


def application_item(row: Sequence[Any]) -> dict[str, Any]:
    """One application as ApplicationRead serialises it, from a raw row of
    ``APPLICATION_READ_COLUMNS`` (money in cents), without a model: a read by id is served
    as orjson bytes. A test holds it byte for byte to ApplicationRead."""
    (
        id_,
        call_id,
        measure_id,
        line_id,
        applicant_organisation_id,
        partnership_id,
        title,
        description,
        total_cost,
        requested,
        thematic_area_id,
        district_id,
        stage,
        preliminary_id,
        status,
        submitted_at,
        decided_at,
        reserved,
        waiting_position,
        created_at,
        updated_at,
    ) = row
    return {
        "id": str(id_),
        "call_id": str(call_id),
        "measure_id": str(measure_id),
        "line_id": _id(line_id),
        "applicant_organisation_id": _id(applicant_organisation_id),
        "partnership_id": _id(partnership_id),
        "title": title,
        "description": description,
        "total_cost": format_cents(total_cost),
        "requested": format_cents(requested),
        "thematic_area_id": _id(thematic_area_id),
        "district_id": _id(district_id),
        "stage": str(stage),
        "preliminary_id": _id(preliminary_id),
        "status": str(status),
        "submitted_at": submitted_at,
        "decided_at": decided_at,
        "reserved": format_cents(reserved),
        "waiting_position": waiting_position,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _id(value: object) -> str | None:
    return None if value is None else str(value)


class _ApplicationFilters(BaseModel):
    programme_id: ProgrammeFilter = None
    measure_id: MeasureFilter = None
    call_id: CallFilter = None
    fund: FundFilter = None
    status: ApplicationStatus | None = Field(None, description="Only applications in this status.")
    stage: ApplicationStage | None = Field(None, description="Only applications at this stage.")
    district_id: uuid.UUID | None = Field(None, description="Only this district's.")
    organisation_id: uuid.UUID | None = Field(
        None, description="Applicant, or member of the applying partnership."
    )
    min_requested: Money | None = Field(None, description="Requested at least.")
    max_requested: Money | None = Field(None, description="Requested at most.")
    q: str | None = Field(None, max_length=100, description="Text in the title.")


class ApplicationQuery(PageQuery, _ApplicationFilters):
    """The application list's query string."""


class AllocationCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"application_id": "7d0c8e55-0f5a-4b3e-9f0b-3a1f2e4d5c6b", "amount": "400000.00"}
            ]
        },
    )
    application_id: uuid.UUID
    amount: Money


class RevocationRequest(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "Project abandoned by the beneficiary."}]},
    )
    reason: str = Field(min_length=3, max_length=2000)


class ReductionRequest(Input):
    """A partial revocation: the grant's new amount, less than it is and more than 0."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"amount": "40000.00", "reason": "Part of the project abandoned."}]
        },
    )
    amount: PositiveMoney = Field(description="The grant's new amount.")
    reason: str = Field(min_length=3, max_length=2000)


class AllocationRead(Output):
    id: uuid.UUID
    application_id: uuid.UUID
    programme_id: uuid.UUID
    measure_id: uuid.UUID
    call_id: uuid.UUID
    district_id: uuid.UUID | None
    amount: Money
    status: AllocationStatus
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None
    cup: str | None = Field(
        description="The project's Codice Unico di Progetto, once the region records it."
    )
    rna_cor: str | None = Field(
        description="The concession's code in the national state-aid register (RNA COR)."
    )


# CUP: 15 characters (L. 3/2003 art. 11; DIPE's CUP system issues it). The pattern is the
# shape of the example the public descriptions give, "C 1 1 G 06 00000 000 1" (it.wikipedia
# "Codice unico di progetto", citing DIPE): a letter, two digits, a letter, eleven digits
# (positions 5-6 are the year of the decision). The meaning of the other positions and any
# check character are not published in a source found, so only the shape is checked.
CUP_PATTERN = r"^[A-Z][0-9]{2}[A-Z][0-9]{11}$"
# RNA COR: the register assigns it (D.M. 115/2017 art. 9(2)); no format is published in a
# source found. What is checked is what the register's visure show: a number, at most 10
# digits (the column's width), leading zeros kept as given.
RNA_COR_PATTERN = r"^[0-9]{1,10}$"


class CupRecord(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"cup": "C11G06000000001"}]}
    )
    cup: str = Field(
        min_length=15,
        max_length=15,
        pattern=CUP_PATTERN,
        description="Codice Unico di Progetto: 15 characters, upper case, as the CUP system "
        "issued it.",
    )


class RnaCorRecord(Input):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rna_cor": "1234567"}]}
    )
    rna_cor: str = Field(
        min_length=1,
        max_length=10,
        pattern=RNA_COR_PATTERN,
        description="The COR code the national state-aid register (RNA) gave the concession.",
    )


class AllocationQuery(PageQuery):
    """The allocation list's query string, validated as one model (app.api.query): FastAPI
    resolving each parameter on its own cost more than the SQL on this list."""

    programme_id: ProgrammeFilter = None
    measure_id: MeasureFilter = None
    call_id: CallFilter = None
    application_id: uuid.UUID | None = Field(None, description="Only this application's.")
    district_id: uuid.UUID | None = Field(None, description="Only this district's.")
    organisation_id: uuid.UUID | None = Field(
        None, description="Beneficiary: the applicant, or a member of the applying partnership."
    )
    fund: FundFilter = None
    status: AllocationStatus | None = Field(None, description="Only allocations in this status.")
    min_amount: Money | None = Field(None, description="Amount at least.")
    max_amount: Money | None = Field(None, description="Amount at most.")
    include_total: bool = Field(
        False, description="Also count every matching allocation (one more query)."
    )


def allocation_item(row: Sequence[Any]) -> dict[str, Any]:
    """One listed allocation as AllocationRead serialises it, from a tuple of
    ``ALLOCATION_LIST_COLUMNS`` (asyncpg record or SQLAlchemy row), without a model: the
    hot list serialises with orjson. A test holds it byte for byte to AllocationRead. The
    rows are raw, so the amount comes as the stored integer cents, formatted here."""
    (
        id_,
        application_id,
        programme_id,
        measure_id,
        call_id,
        district_id,
        amount_cents,
        status,
        granted_at,
        granted_by,
        revoked_at,
        revoked_by,
        revocation_reason,
        cup,
        rna_cor,
    ) = row
    return {
        "id": str(id_),
        "application_id": str(application_id),
        "programme_id": str(programme_id),
        "measure_id": str(measure_id),
        "call_id": str(call_id),
        "district_id": None if district_id is None else str(district_id),
        "amount": format_cents(amount_cents),
        "status": str(status),
        "granted_at": granted_at,
        "granted_by": granted_by,
        "revoked_at": revoked_at,
        "revoked_by": revoked_by,
        "revocation_reason": revocation_reason,
        "cup": cup,
        "rna_cor": rna_cor,
    }
