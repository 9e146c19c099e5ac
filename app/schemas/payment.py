"""After the grant (issue 16): acceptance, the funding position, expenditure claims, their
first-level checks, and payments."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from app.core.domain import AllocationStatus, ClaimStatus, LineOutcome, PaymentKind
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery
from app.schemas.types import IsoDate, Money, PositiveMoney


def _json_date(value: object) -> object:
    # JSON has no dates: a string as the document states it (Pydantic would read 0 as 1970);
    # Python callers pass a date.
    if not isinstance(value, str) and (not isinstance(value, date) or isinstance(value, datetime)):
        raise PydanticCustomError("date_type", "Input should be an ISO 8601 date string")
    return value


Day = Annotated[IsoDate, BeforeValidator(_json_date)]


class AcceptanceRequest(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"accepted_on": "2026-12-01", "guarantee_reference": "FID-2026-0042"}]
        },
    )
    accepted_on: Day = Field(
        description="The date of the act of acceptance (atto di adesione): not before the "
        "grant, not in the future."
    )
    guarantee_reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The guarantee (fideiussione), where the call asks for one before the advance.",
    )


class FundingRead(Output):
    """Where the grant stands: accepted or not, claimed, verified, advanced and paid."""

    allocation_id: uuid.UUID
    status: AllocationStatus
    amount: Money = Field(description="The grant.")
    acceptance_deadline: date | None = Field(
        description="The last day to accept; null: none set (not given by the source)."
    )
    accepted_on: date | None
    accepted_at: datetime | None
    accepted_by: str | None
    guarantee_reference: str | None
    claimed: Money = Field(description="Expenditure in submitted claims.")
    verified: Money = Field(description="Of which accepted by the first-level checks.")
    advanced: Money = Field(description="Paid as advances.")
    paid: Money = Field(description="Paid in all (advances included).")
    advance_cap: Money | None = Field(
        description="The most the advances may reach; null: the measure's share is not set."
    )
    completed_at: datetime | None = Field(description="When the balance was paid.")
    due: Money = Field(
        description="Paid beyond the grant's new amount by a revocation: asked back."
    )
    recovered: Money = Field(description="Of which came back.")
    recoveries: list[uuid.UUID] = Field(description="The grant's recoveries, oldest first.")


class ClaimLineCreate(Input):
    cost_category: str = Field(min_length=1, max_length=60, description="One of the measure's.")
    amount: PositiveMoney
    document_reference: str = Field(
        min_length=1, max_length=200, description="The supporting document (invoice, payslip)."
    )
    spent_on: Day = Field(description="Within the claim's period and the project's.")


class ClaimCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "period_start": "2026-01-01",
                    "period_end": "2026-06-30",
                    "lines": [
                        {
                            "cost_category": "staff",
                            "amount": "12000.00",
                            "document_reference": "Payslips January-June 2026",
                            "spent_on": "2026-06-30",
                        }
                    ],
                }
            ]
        },
    )
    period_start: Day
    period_end: Day
    lines: list[ClaimLineCreate] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _period(self) -> ClaimCreate:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class ClaimLineRead(Output):
    id: uuid.UUID
    claim_id: uuid.UUID
    number: int
    cost_category: str
    amount: Money
    document_reference: str
    spent_on: date
    outcome: LineOutcome
    cut: Money | None = Field(description="The amount cut by the check.")
    verified: Money | None = Field(description="Derived: amount, amount less the cut, or 0.")
    reason: str | None
    checked_by: str | None
    checked_at: datetime | None


class ClaimRead(Output):
    id: uuid.UUID
    allocation_id: uuid.UUID
    period_start: date
    period_end: date
    status: ClaimStatus
    amount: Money = Field(description="The sum of the lines.")
    verified: Money = Field(description="The sum of what the checks accepted.")
    line_count: int
    checked_lines: int
    filed_by: str
    submitted_at: datetime | None
    submitted_by: str | None
    created_at: datetime
    lines: list[ClaimLineRead]


class LineCheck(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"outcome": "cut", "cut": "150.00", "reason": "VAT is not an eligible cost."}
            ]
        },
    )
    outcome: Literal["accepted", "cut", "refused"]
    cut: PositiveMoney | None = Field(
        default=None, description="Cut only: the amount removed (less than the line's)."
    )
    reason: str | None = Field(
        default=None, min_length=3, max_length=2000, description="Cut and refused: required."
    )

    @model_validator(mode="after")
    def _coherent(self) -> LineCheck:
        if (self.outcome == "cut") != (self.cut is not None):
            raise ValueError("a cut, and only a cut, gives the amount cut")
        if self.outcome != "accepted" and self.reason is None:
            raise ValueError(f"a line {self.outcome} needs a reason")
        return self


class PaymentCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "kind": "advance",
                    "amount": "30000.00",
                    "paid_on": "2026-12-01",
                    "treasury_reference": "MAND-2026-001234",
                }
            ]
        },
    )
    kind: PaymentKind
    amount: PositiveMoney
    paid_on: Day = Field(description="The payment's value date; not in the future.")
    treasury_reference: str = Field(
        min_length=1, max_length=100, description="The treasury's reference (mandato)."
    )


class PaymentRead(Output):
    id: uuid.UUID
    allocation_id: uuid.UUID
    kind: PaymentKind
    amount: Money
    paid_on: date
    treasury_reference: str
    authorised_by: str
    created_at: datetime


class RecoveryRead(Output):
    """What a revocation after payment asks back, by when, and what came back."""

    id: uuid.UUID
    allocation_id: uuid.UUID
    due: Money = Field(description="Paid beyond the grant's new amount (all of it if revoked).")
    recovered: Money
    outstanding: Money = Field(description="Due less recovered.")
    due_on: date | None = Field(
        description="By when; null: the measure's recovery days are not set (not given by "
        "the source)."
    )
    created_by: str
    created_at: datetime


class RecoveryReceiptCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "amount": "1500.00",
                    "received_on": "2026-12-01",
                    "treasury_reference": "REV-2026-000123",
                }
            ]
        },
    )
    amount: PositiveMoney
    received_on: Day = Field(description="The day the money came back; not in the future.")
    treasury_reference: str = Field(
        min_length=1, max_length=100, description="The treasury's reference (reversale)."
    )


class RecoveryReceiptRead(Output):
    """An amount that came back on a recovery."""

    id: uuid.UUID
    recovery_id: uuid.UUID
    amount: Money
    received_on: date
    treasury_reference: str = Field(description="The treasury's reference (reversale).")
    recorded_by: str
    created_at: datetime


class ClaimQuery(PageQuery):
    """The query string of a grant's claims: its pages, oldest first."""


class PaymentQuery(PageQuery):
    """The query string of a grant's payments: its pages, oldest first."""


class RecoveryReceiptQuery(PageQuery):
    """The query string of a recovery's receipts: its pages, oldest first."""
