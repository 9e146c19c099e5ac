"""Version 1 of the REST API, mounted under /api/v1."""

from fastapi import APIRouter

from app.api.v1 import (
    allocations,
    applications,
    audit_events,
    auth,
    calls,
    clients,
    districts,
    measures,
    oauth,
    organisations,
    partnerships,
    programmes,
    reports,
    transparency,
    users,
)

router = APIRouter(prefix="/api/v1")
for module in (
    programmes,
    measures,
    calls,
    districts,
    organisations,
    partnerships,
    applications,
    allocations,
    reports,
    transparency,
    audit_events,
    oauth,
    auth,
    users,
    clients,
):
    router.include_router(module.router)
