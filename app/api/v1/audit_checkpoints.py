"""Signed checkpoints of the audit chain: public, verifiable offline with the JWKS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from app.api.deps import CHECKS_OPTIONAL_TOKEN, OPTIONAL_AUTH, SessionDep, SettingsDep, require
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import ANONYMOUS, Principal, Scope
from app.schemas.audit import AuditCheckpointQuery, AuditCheckpointRead
from app.schemas.page import Page
from app.services import checkpoints as service

router = APIRouter(prefix="/audit/checkpoints", tags=["audit"])

Checkpointer = Annotated[Principal, require(Scope.AUDIT_CHECKPOINT)]
checkpoint_query = QueryModel(AuditCheckpointQuery)


@router.get(
    "",
    summary="List audit checkpoints",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 422),
    openapi_extra=checkpoint_query.openapi(**OPTIONAL_AUTH),
)
async def list_audit_checkpoints(
    session: SessionDep, query: Annotated[AuditCheckpointQuery, Depends(checkpoint_query)]
) -> Page[AuditCheckpointRead]:
    """List the signed checkpoints of the audit chain, oldest first (public)."""
    return await service.list_audit_checkpoints(session, ANONYMOUS, query)


@router.get(
    "/latest",
    summary="Read the newest audit checkpoint",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_latest_audit_checkpoint(session: SessionDep) -> AuditCheckpointRead:
    """Return the newest signed checkpoint (public): keep it to detect a rewritten history."""
    return await service.get_latest_audit_checkpoint(session, ANONYMOUS)


# Not idempotency.create: signing the head twice gives the same checkpoint (200 the second
# time), and this create has never taken an Idempotency-Key nor answered with Location.
@router.post(
    "",
    status_code=201,
    summary="Sign a checkpoint now",
    responses={
        200: {"model": AuditCheckpointRead, "description": "The head was already signed."},
        **problem_responses(401, 403),
    },
)
async def create_audit_checkpoint(
    session: SessionDep, settings: SettingsDep, response: Response, principal: Checkpointer
) -> AuditCheckpointRead:
    """Sign the chain's head now (201), or return its checkpoint if it is already signed (200)."""
    checkpoint, created = await service.create_audit_checkpoint(
        session, principal, secret=settings.secret, issuer=settings.issuer
    )
    if not created:
        response.status_code = 200
    return checkpoint
