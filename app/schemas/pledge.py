"""Co-funding pledges of partner foundations."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.core.domain import PledgeStatus
from app.schemas.common import Input, Output
from app.schemas.page import CallFilter, PageQuery
from app.schemas.types import Money, PositiveMoney


class PledgeCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "call_id": "3f9a1c2b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
                    "amount": "250000.00",
                    "note": "Co-funding of the FSE1 executive projects, 2018 tranche.",
                }
            ]
        },
    )
    call_id: uuid.UUID = Field(
        description="The call the foundation co-funds: published and not closed."
    )
    amount: PositiveMoney
    note: str | None = Field(default=None, max_length=2000)


class PledgeUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"amount": "300000.00"}]},
    )
    amount: PositiveMoney | None = None
    note: str | None = Field(default=None, max_length=2000)


class PledgeWithdraw(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"reason": "The board moved the funds to 2019."}]},
    )
    reason: str = Field(min_length=3, max_length=500)


class PledgeRead(Output):
    id: uuid.UUID
    organisation_id: uuid.UUID = Field(description="The pledging foundation.")
    call_id: uuid.UUID
    amount: Money
    note: str | None
    status: PledgeStatus
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    created_at: datetime
    updated_at: datetime


class _PledgeFilters(BaseModel):
    call_id: CallFilter = None
    status: PledgeStatus | None = Field(None, description="Only pledges in this status.")


class PledgeQuery(PageQuery, _PledgeFilters):
    """The query string of a foundation's pledges."""
