"""Version 1 of the REST API, mounted under /api/v1."""

from fastapi import APIRouter

from app.api.v1 import (
    allocations,
    applications,
    audit_checkpoints,
    audit_events,
    auth,
    calls,
    clients,
    districts,
    documents,
    indicators,
    loans,
    measures,
    oauth,
    organisations,
    partnerships,
    payments,
    pledges,
    programmes,
    rankings,
    reports,
    reviews,
    state_aid_declarations,
    transparency,
    users,
    webhooks,
)

router = APIRouter(prefix="/api/v1")
# Routes are matched in this order, one candidate after another: the busiest lists first.
# (The prefixes do not overlap, so the order changes nothing else; OpenAPI groups by tag.)
for module in (
    allocations,
    loans,
    transparency,
    programmes,
    measures,
    calls,
    rankings,
    districts,
    organisations,
    partnerships,
    applications,
    reviews,
    pledges,
    state_aid_declarations,
    payments,
    indicators,
    reports,
    audit_events,
    audit_checkpoints,
    oauth,
    auth,
    users,
    clients,
    webhooks,
    documents,
):
    router.include_router(module.router)

# Served ahead of the router for anonymous GETs (app.api.thin): the busiest public reads.
THIN_READS = (allocations.THIN_READ, programmes.THIN_READ)
