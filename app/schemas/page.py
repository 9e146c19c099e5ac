"""A page of a list: ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque; pass as ?cursor= for the next page. null on the last page."
    )
    total: int | None = Field(
        default=None,
        description="How many items match, where the list offers ?include_total=true; else null.",
    )
