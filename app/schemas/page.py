"""A page of a list: ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Generic, NewType, TypeVar

from pydantic import BaseModel, Field

from app.core.domain import Fund

T = TypeVar("T")

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"


class PageQuery(BaseModel):
    """The paging part of a list's query string (lists read as one model, app.api.query).

    A list's query model adds its filters. OpenAPI lists the parameters in field order, and
    Pydantic orders fields from the last base class: ``class XQuery(PageQuery, XFilters)``
    documents the filters before ``limit`` and ``cursor``, ``class XQuery(XFilters,
    PageQuery)`` after them (each list keeps the order it has always published).
    """

    limit: int = Field(default=50, ge=1, le=100, description="Page size (1-100).")
    cursor: str | None = Field(
        default=None,
        max_length=500,
        # What app/services/paging.py writes: unpadded base64url (of the sort key of the
        # previous page's last row). Only the list's own cursors name a position in it.
        pattern=CURSOR_PATTERN,
        description="Opaque: the next_cursor of the previous page, passed unchanged "
        "(unpadded base64url). Any other value is 422: start again without it.",
    )


# The filters several lists share, documented the same way in each.
ProgrammeFilter = Annotated[uuid.UUID | None, Field(description="Only this programme's.")]
MeasureFilter = Annotated[uuid.UUID | None, Field(description="Only this measure's.")]
CallFilter = Annotated[uuid.UUID | None, Field(description="Only this call's.")]
FundFilter = Annotated[Fund | None, Field(description="FSE or FESR.")]


class NameSearch(BaseModel):
    """A list searched by name."""

    q: str | None = Field(None, max_length=100, description="Text in the name.")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque; pass as ?cursor= for the next page. null on the last page."
    )
    total: int | None = Field(
        default=None,
        description="How many items match, where the list offers ?include_total=true; else null.",
    )


# A Page already serialised to JSON, byte for byte what Page[XRead] gives: what a hot list's
# service answers, its items never built as models.
PageJson = NewType("PageJson", bytes)
