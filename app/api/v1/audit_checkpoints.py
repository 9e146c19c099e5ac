"""Signed checkpoints of the audit chain: public, verifiable offline with the JWKS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from app.api.deps import SessionDep, SettingsDep, require
from app.api.pagination import PageDep
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.schemas.audit import AuditCheckpointRead, audit_checkpoint_read
from app.schemas.page import Page
from app.services import checkpoints as checkpoint_service

router = APIRouter(prefix="/audit/checkpoints", tags=["audit"])

Checkpointer = Annotated[Principal, require(Scope.AUDIT_CHECKPOINT)]

_MAX_SEQ = 2**63 - 1


def _seq(value: str) -> int:
    """A cursor's sequence number; one beyond BIGINT would fail in the driver, not as a 422."""
    seq = int(value)
    if not 0 <= seq <= _MAX_SEQ:
        raise ValueError("sequence number out of range")
    return seq


@router.get("", summary="List audit checkpoints", responses=problem_responses(422))
async def list_audit_checkpoints(session: SessionDep, page: PageDep) -> Page[AuditCheckpointRead]:
    """List the signed checkpoints of the audit chain, oldest first (public)."""
    rows = await checkpoint_service.list_checkpoints(
        session, after=page.after(_seq), limit=page.limit
    )
    return page.page(rows, key=lambda c: (c.seq,), item=audit_checkpoint_read)


@router.get("/latest", summary="Read the newest audit checkpoint", responses=problem_responses(404))
async def get_latest_audit_checkpoint(session: SessionDep) -> AuditCheckpointRead:
    """Return the newest signed checkpoint (public): keep it to detect a rewritten history."""
    return audit_checkpoint_read(await checkpoint_service.newest_checkpoint(session))


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
    session: SessionDep, settings: SettingsDep, response: Response, _: Checkpointer
) -> AuditCheckpointRead:
    """Sign the chain's head now (201), or return its checkpoint if it is already signed (200)."""
    made = await checkpoint_service.create_checkpoint(
        session, secret=settings.secret, issuer=settings.issuer
    )
    if not made.created:
        response.status_code = 200
    return audit_checkpoint_read(made.checkpoint)
