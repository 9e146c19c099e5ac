"""Strong entity tags and If-Match preconditions (RFC 9110 section 13.1.1)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel

from app.core.errors import PreconditionFailed, PreconditionRequired
from app.core.i18n import msg
from app.schemas.common import ReadJson

E = TypeVar("E")
M = TypeVar("M", bound=BaseModel)

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
    return etag_of_json(representation.model_dump_json().encode())


def etag_of_json(body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f'"{digest[:32]}"'


def json_with_etag(body: ReadJson) -> Response:
    """A read served already serialised (a hot read by id), with the ETag its model's
    representation has: the same bytes, the same tag, the same headers as read_with_etag."""
    return Response(body, media_type="application/json", headers={"ETag": etag_of_json(body)})


def with_etag(response: Response, representation: BaseModel) -> None:
    response.headers["ETag"] = etag_of(representation)


def require_if_match(request: Request, current: BaseModel) -> None:
    """428 without If-Match, 412 unless one of its tags is the current representation's."""
    header = request.headers.get("if-match")
    if header is None:
        raise PreconditionRequired(
            msg("Send If-Match with the ETag you read, so that concurrent changes are not lost.")
        )
    current_tag = etag_of(current)
    tags = [tag.strip() for tag in header.split(",")]
    if tags == ["*"]:
        return  # RFC 9110 13.1.1: "*" matches any current representation (it exists)
    if current_tag not in tags:
        raise PreconditionFailed(
            msg("The resource changed since you read it; read it again and retry."),
            current_etag=current_tag,
        )


async def read_with_etag(response: Response, read: Awaitable[M]) -> M:
    """A read answered with its ETag (the validator a change will send back as If-Match)."""
    representation = await read
    with_etag(response, representation)
    return representation


async def change(
    request: Request,
    response: Response,
    *,
    load: Awaitable[E],
    read: Callable[[E], Awaitable[M]],
    apply: Callable[[E], Awaitable[object]],
) -> M:
    """Every change, one sequence: load the resource (404), check If-Match against its
    current representation (428/412), apply the change, and answer with the new
    representation and its ETag."""
    resource = await load
    require_if_match(request, await read(resource))
    await apply(resource)
    return await read_with_etag(response, read(resource))


async def remove(
    request: Request,
    *,
    load: Awaitable[E],
    read: Callable[[E], Awaitable[M]],
    apply: Callable[[E], Awaitable[object]],
) -> Response:
    """A change after which the resource is gone, one sequence: load it (404), check
    If-Match against its current representation (428/412), apply the change, and answer
    204 No Content (no representation left, so no ETag)."""
    resource = await load
    require_if_match(request, await read(resource))
    await apply(resource)
    return Response(status_code=204)
