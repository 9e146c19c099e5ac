"""The audit trail (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import SessionDep, require
from app.api.pagination import PageDep
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.repositories import audit as repo
from app.schemas.audit import AuditEventRead, AuditHeadRead, audit_event_read
from app.schemas.page import Page
from app.schemas.types import IsoDatetime

router = APIRouter(prefix="/audit-events", tags=["audit"])

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]

_MAX_SEQ = 2**63 - 1


def _seq(value: str) -> int:
    """A cursor's sequence number; one beyond BIGINT would fail in the driver, not as a 422."""
    seq = int(value)
    if not 0 <= seq <= _MAX_SEQ:
        raise ValueError("sequence number out of range")
    return seq


@router.get("", summary="List audit events", responses=problem_responses(401, 403, 422))
async def list_audit_events(
    session: SessionDep,
    page: PageDep,
    _: Auditor,
    entity_type: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    since: Annotated[
        IsoDatetime | None, Query(description="At or after this instant (with its offset).")
    ] = None,
    until: Annotated[
        IsoDatetime | None, Query(description="Before this instant (with its offset).")
    ] = None,
) -> Page[AuditEventRead]:
    """List the changes in sequence order, with who made them and the state before and after."""
    rows = await repo.page_events(
        session,
        filters={
            "entity_type": entity_type,
            "entity_id": entity_id,
            "actor_id": actor_id,
            "action": action,
            "since": since,
            "until": until,
        },
        after=page.after(_seq),
        limit=page.limit,
    )
    return page.page(rows, key=lambda e: (e.seq,), item=audit_event_read)


@router.get("/head", summary="Read the chain's head", responses=problem_responses(401, 403))
async def get_audit_head(session: SessionDep, _: Auditor) -> AuditHeadRead:
    """Return the last sequence number and hash, to be exported and kept elsewhere."""
    head = await repo.head(session)
    return AuditHeadRead(seq=head.seq, hash=head.hash)
