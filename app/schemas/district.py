"""Social-cohesion districts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict, Field

from app.schemas.common import Input, Output
from app.schemas.page import NameSearch, PageQuery
from app.schemas.programme import CODE


class DistrictCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "code": "TO-04",
                    "name": "Distretto di Coesione Sociale Torino Nord",
                    "lead_organisation_id": "5b1f3c1e-8d2a-4c57-9a51-2f0a5b7d9e10",
                }
            ]
        },
    )
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    name: str = Field(min_length=1, max_length=300)
    lead_organisation_id: uuid.UUID


class DistrictUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"name": "Distretto Torino Nord"}]},
    )
    name: str | None = Field(default=None, min_length=1, max_length=300)
    lead_organisation_id: uuid.UUID | None = None


class DistrictRead(Output):
    id: uuid.UUID
    code: str
    name: str
    lead_organisation_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class DistrictQuery(PageQuery, NameSearch):
    """The district list's query string."""
