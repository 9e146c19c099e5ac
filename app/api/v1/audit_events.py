"""The audit trail (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api.deps import SessionDep, require
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.audit import AuditEventQuery, AuditEventRead, AuditHeadRead
from app.schemas.page import Page
from app.services import audit as service

router = APIRouter(prefix="/audit-events", tags=["audit"])

Auditor = Annotated[Principal, require(Scope.AUDIT_READ)]
audit_event_query = QueryModel(AuditEventQuery)


@router.get(
    "",
    summary="List audit events",
    responses=problem_responses(401, 403, 422),
    openapi_extra=audit_event_query.openapi(),
)
async def list_audit_events(
    session: SessionDep,
    principal: Auditor,
    query: Annotated[AuditEventQuery, Depends(audit_event_query)],
) -> Page[AuditEventRead]:
    """List the changes in sequence order, with who made them and the state before and after."""
    return await service.list_audit_events(session, principal, query)


@router.get("/head", summary="Read the chain's head", responses=problem_responses(401, 403))
async def get_audit_head(session: SessionDep, principal: Auditor) -> AuditHeadRead:
    """Return the last sequence number and hash, to be exported and kept elsewhere."""
    return await service.get_audit_head(session, principal)
