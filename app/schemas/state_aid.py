"""State-aid declarations of an applicant organisation (de minimis)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.domain import DeclarationKind, DeMinimisRegulation
from app.schemas.common import Input, Output
from app.schemas.page import PageQuery
from app.schemas.types import Money, PositiveMoney, TaxCode


class StateAidDeclarationCreate(Input):
    """A linked undertaking (``linked_tax_code`` only) or aid from another granting body
    (``amount``, ``granted_on``, ``granting_body``, ``regulation``)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"kind": "linked_undertaking", "linked_tax_code": "02843860012"},
                {
                    "kind": "other_aid",
                    "amount": "45000.00",
                    "granted_on": "2024-03-15",
                    "granting_body": "Camera di commercio di Torino",
                    "regulation": "2023/2831",
                },
            ]
        },
    )
    kind: DeclarationKind
    linked_tax_code: TaxCode | None = Field(
        None, description="linked_undertaking: the other undertaking's codice fiscale."
    )
    amount: PositiveMoney | None = Field(None, description="other_aid: the aid's amount.")
    granted_on: date | None = Field(None, description="other_aid: the day it was granted.")
    granting_body: str | None = Field(
        None, min_length=2, max_length=300, description="other_aid: who granted it."
    )
    regulation: DeMinimisRegulation | None = Field(
        None, description="other_aid: the de minimis regulation it was granted under."
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> StateAidDeclarationCreate:
        aid = (self.amount, self.granted_on, self.granting_body, self.regulation)
        if self.kind is DeclarationKind.LINKED_UNDERTAKING:
            if self.linked_tax_code is None or any(v is not None for v in aid):
                raise ValueError("a linked_undertaking gives linked_tax_code and nothing else")
        elif self.linked_tax_code is not None or any(v is None for v in aid):
            raise ValueError(
                "other_aid gives amount, granted_on, granting_body and regulation, and no "
                "linked_tax_code"
            )
        return self


class StateAidDeclarationRead(Output):
    id: uuid.UUID
    organisation_id: uuid.UUID = Field(description="The declaring organisation.")
    kind: DeclarationKind
    linked_tax_code: str | None
    amount: Money | None
    granted_on: date | None
    granting_body: str | None
    regulation: DeMinimisRegulation | None
    declared_by: str
    created_at: datetime


class _DeclarationFilters(BaseModel):
    kind: DeclarationKind | None = Field(None, description="Only declarations of this kind.")


class StateAidDeclarationQuery(PageQuery, _DeclarationFilters):
    """The query string of an organisation's state-aid declarations."""
