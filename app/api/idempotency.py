"""The Idempotency-Key header on POSTs that create."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.api.etag import etag_of
from app.core.auth import Principal
from app.core.context import idempotency_key_var
from app.services import idempotency as service

E = TypeVar("E")
M = TypeVar("M", bound=BaseModel)

KEY_HEADER = "Idempotency-Key"
# OpenAPI: the header of a 201 from an operation that takes an Idempotency-Key.
LOCATION_HEADER: dict[str, Any] = {
    "description": "The created resource's path.",
    "required": True,
    "schema": {"type": "string", "format": "uri-reference"},
}


class Idempotency:
    """Per request: replay a stored response, or store the one about to be sent."""

    def __init__(self, request: Request, session: SessionDep, key: str | None) -> None:
        self.request = request
        self.session = session
        self.key = key

    async def _request_hash(self) -> str:
        body = await self.request.body()
        try:
            canonical = json.dumps(json.loads(body or b"null"), sort_keys=True).encode()
        except ValueError:
            canonical = body
        material = b"\n".join(
            [self.request.method.encode(), self.request.url.path.encode(), canonical]
        )
        return hashlib.sha256(material).hexdigest()

    async def replay(
        self,
        principal: Principal,
        *,
        session: AsyncSession | None = None,
        request_hash: str | None = None,
    ) -> Response | None:
        """The stored response when this is a retry, else None (go on and act).
        ``session`` and ``request_hash``: a streamed upload's own write session and the
        hash of what it received (its body is never held whole)."""
        if self.key is None:
            return None
        stored = await service.recall(
            session or self.session,
            actor=principal.actor,
            key=self.key,
            request_hash=request_hash or await self._request_hash(),
        )
        if stored is None:
            return None
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return Response(
            stored.body, status_code=stored.status, headers=headers, media_type="application/json"
        )

    async def respond(
        self,
        principal: Principal,
        body: BaseModel,
        *,
        status: int = 201,
        headers: dict[str, str] | None = None,
        session: AsyncSession | None = None,
        request_hash: str | None = None,
    ) -> Response:
        """The response with the created resource's ETag, stored under the key in the
        request's transaction (a replay carries the same ETag, ready for If-Match)."""
        text = body.model_dump_json()
        headers = {**(headers or {}), "ETag": etag_of(body)}
        if self.key is not None:
            await service.remember(
                session or self.session,
                actor=principal.actor,
                key=self.key,
                request_hash=request_hash or await self._request_hash(),
                response=service.StoredResponse(status, text, headers),
            )
        return Response(text, status_code=status, headers=headers, media_type="application/json")

    async def create(
        self,
        principal: Principal,
        *,
        make: Callable[[], Awaitable[E]],
        read: Callable[[E], Awaitable[M]],
        location: Callable[[M], str],
    ) -> Response:
        """Every create, one sequence: the stored response when this is a retry, else make
        the resource and answer 201 with its representation, Location and ETag (stored
        under the key)."""
        if (replay := await self.replay(principal)) is not None:
            return replay
        created = await read(await make())
        return await self.respond(principal, created, headers={"Location": location(created)})


async def get_idempotency(
    request: Request,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=KEY_HEADER,
            max_length=200,
            pattern=r"^[\x21-\x7e]+$",
            description="A unique key per intended creation (for example a UUID); a retry with "
            "the same key and body replays the first response. Kept 24 hours.",
        ),
    ] = None,
) -> Idempotency:
    idempotency_key_var.set(idempotency_key)  # recorded with the change in the audit trail
    return Idempotency(request, session, idempotency_key)


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
