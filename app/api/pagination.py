"""Keyset pagination parameters and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any

from fastapi import Depends, Query

from app.core.errors import InvalidInput


class PageParams:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 50,
        cursor: Annotated[
            str | None, Query(max_length=500, description="From the previous page's next_cursor.")
        ] = None,
    ) -> None:
        self.limit = limit
        self.cursor = cursor

    def after(self) -> list[Any] | None:
        """The sort key of the last row of the previous page, or None for the first page."""
        if self.cursor is None:
            return None
        try:
            padded = self.cursor + "=" * (-len(self.cursor) % 4)
            key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, ValueError, UnicodeDecodeError) as error:
            raise InvalidInput("The cursor is not valid; start again without it.") from error
        if not isinstance(key, list):
            raise InvalidInput("The cursor is not valid; start again without it.")
        return key

    def after_id(self) -> uuid.UUID | None:
        key = self.after()
        if key is None:
            return None
        try:
            return uuid.UUID(str(key[0]))
        except (ValueError, IndexError) as error:
            raise InvalidInput("The cursor is not valid; start again without it.") from error


def encode_cursor(*key: object) -> str:
    raw = json.dumps([str(part) for part in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


PageDep = Annotated[PageParams, Depends()]
