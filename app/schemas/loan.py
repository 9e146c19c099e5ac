"""The loan part of a mixed allocation: its schedule and the repayments recorded on it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import ConfigDict, Field

from app.core.domain import Amortisation, GracePayment
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery
from app.schemas.types import IsoDate, Money, PositiveMoney

InstalmentStatus = Literal["paid", "partly_paid", "due", "late"]


class InstalmentRead(Output):
    number: int
    due_on: date
    principal: Money
    interest: Money
    amount: Money = Field(description="principal + interest")
    paid: Money
    status: InstalmentStatus = Field(
        description="paid (in full); late: its due date has passed without full payment; "
        "partly_paid or due otherwise."
    )


class LoanRead(Output):
    allocation_id: uuid.UUID
    amount: Money = Field(description="The allocation: principal + grant_part.")
    principal: Money = Field(description="The loan part.")
    grant_part: Money = Field(description="The grant part (never repaid).")
    repaid: Money = Field(description="Principal repaid.")
    outstanding: Money = Field(description="principal - repaid")
    annual_rate_bp: int
    term_months: int
    grace_months: int
    grace_payment: GracePayment
    repayments_per_year: int
    amortisation: Amortisation
    starts_on: date = Field(description="The grant's date: instalment k falls k periods later.")
    late_instalments: int = Field(description="Instalments past due without full payment.")
    instalments: list[InstalmentRead]


class RepaymentCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"instalment": 1, "amount": "262.50", "paid_on": "2026-04-30", "reference": "TES-1"}
            ]
        },
    )
    instalment: int = Field(ge=1, le=10_000, description="The instalment's number.")
    amount: PositiveMoney
    paid_on: IsoDate = Field(description="The value date: not in the future (Europe/Rome).")
    reference: str | None = Field(
        default=None, min_length=1, max_length=200, description="The treasury's reference."
    )


class RepaymentRead(Output):
    id: uuid.UUID
    loan_id: uuid.UUID
    instalment_number: int
    amount: Money
    interest: Money = Field(description="The part that paid the instalment's interest (first).")
    principal: Money = Field(description="The part that repaid principal (after the interest).")
    paid_on: date
    late: bool = Field(description="Paid after the instalment's due date.")
    reference: str | None
    recorded_at: datetime
    recorded_by: str


class RepaymentQuery(PageQuery):
    """The query string of a loan's repayments: its pages, oldest first."""
