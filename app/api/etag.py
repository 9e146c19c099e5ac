"""Strong entity tags and If-Match preconditions (RFC 9110 section 13.1.1)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from app.core.errors import PreconditionFailed, PreconditionRequired

# OpenAPI: the If-Match parameter of every operation that answers 428, and the ETag header
# of the representations they (and the reads and creates of the same resources) return.
IF_MATCH_PARAMETER: dict[str, Any] = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": "The ETag of the representation the change is based on (from a read, a "
    "create or the last change). 412 when the resource has changed since; 428 without it. "
    "`*` (RFC 9110: any current representation) deliberately gives up that protection.",
    "schema": {"type": "string"},
    "example": '"5d41402abc4b2a76b9719d911017c592"',
}
ETAG_HEADER: dict[str, Any] = {
    "description": "Strong entity tag of this representation; send it as If-Match to change "
    "the resource.",
    "required": True,
    "schema": {"type": "string"},
}


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
    if tags == ["*"]:
        return  # RFC 9110 13.1.1: "*" matches any current representation (it exists)
    if current_tag not in tags:
        raise PreconditionFailed(
            "The resource changed since you read it; read it again and retry.",
            current_etag=current_tag,
        )
