"""Strong entity tags and If-Match preconditions (RFC 9110 section 13.1.1)."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel

from app.core.errors import PreconditionFailed, PreconditionRequired


def etag_of(representation: BaseModel) -> str:
    """A strong validator: the hash of the exact JSON representation."""
    digest = hashlib.sha256(representation.model_dump_json().encode()).hexdigest()
    return f'"{digest[:32]}"'


def with_etag(response: Response, representation: BaseModel) -> None:
    response.headers["ETag"] = etag_of(representation)


def require_if_match(request: Request, current: BaseModel) -> None:
    """428 without If-Match, 412 unless one of its tags is the current representation's."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag you read, so that concurrent changes are not lost."
        )
    current_tag = etag_of(current)
    tags = [tag.strip() for tag in header.split(",")]
    if current_tag not in tags:
        raise PreconditionFailed(
            "The resource changed since you read it; read it again and retry.",
            current_etag=current_tag,
        )
