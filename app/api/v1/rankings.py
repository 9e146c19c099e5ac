"""A call's ranking (graduatoria): the draft the region computes, and the published
versions anyone reads (JSON and CSV). Publication freezes the draft the officer read: it
sends the draft's ETag as If-Match."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import (
    CHECKS_OPTIONAL_TOKEN,
    OPTIONAL_AUTH,
    OptionalPrincipal,
    SessionDep,
    require,
)
from app.api.etag import read_with_etag, require_if_match
from app.api.idempotency import IdempotencyDep
from app.api.problems import language_of, problem_responses
from app.api.query import QueryModel
from app.api.v1.transparency import CSV_MEDIA_TYPE, spreadsheet_safe
from app.core.auth import Principal, Scope
from app.schemas.page import Page
from app.schemas.ranking import (
    CSV_HEADER,
    DraftRankingRead,
    RankingAllocationReport,
    RankingPublish,
    RankingQuery,
    RankingRead,
    RankingSummaryRead,
    csv_row,
)
from app.services import ranking_grants
from app.services import rankings as service

router = APIRouter(prefix="/calls", tags=["rankings"])

CallId = Annotated[uuid.UUID, Path(description="The call's id.")]
Version = Annotated[int, Path(ge=1, le=2_147_483_647, description="The published version.")]
Write = Annotated[Principal, require(Scope.CALLS_WRITE)]
Granter = Annotated[Principal, require(Scope.ALLOCATIONS_WRITE)]
ranking_query = QueryModel(RankingQuery)


@router.get(
    "/{call_id}/ranking",
    summary="Compute a call's draft ranking",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 409, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_draft_ranking(
    call_id: CallId, session: SessionDep, principal: OptionalPrincipal, response: Response
) -> DraftRankingRead:
    """The ranking as the scores stand now, for the region only (404 for anyone else);
    409 `scoring_grid_unavailable` when the call has no complete grid. Its ETag is what
    publishing it sends as If-Match."""
    return await read_with_etag(response, service.get_draft(session, principal, call_id))


@router.post(
    "/{call_id}/ranking/publish",
    status_code=201,
    summary="Publish a call's ranking",
    response_model=RankingRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def publish_ranking(
    call_id: CallId,
    body: RankingPublish,
    request: Request,
    session: SessionDep,
    principal: Write,
    idempotency: IdempotencyDep,
) -> Response:
    """Freeze the draft ranking (If-Match: the draft's ETag; 412 when the scores, the
    call's counters or the latest version changed since) as the call's next version,
    replacing the latest one. 409 `ranking_not_ready` while applications await scores."""

    async def make() -> Any:
        draft = await service.load_draft(session, principal, call_id, lock=True)
        require_if_match(request, draft.read)
        return await service.publish(session, draft, data=body, principal=principal)

    return await idempotency.create(
        principal,
        make=make,
        read=lambda ranking: service.read_ranking(session, ranking),
        location=lambda read: f"/api/v1/calls/{read.call_id}/rankings/{read.version}",
    )


@router.get(
    "/{call_id}/rankings",
    summary="List a call's published rankings",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=ranking_query.openapi(**OPTIONAL_AUTH),
)
async def list_rankings(
    call_id: CallId,
    session: SessionDep,
    principal: OptionalPrincipal,
    query: Annotated[RankingQuery, Depends(ranking_query)],
) -> Page[RankingSummaryRead]:
    """Every published version of the call's ranking, oldest first. Public."""
    return await service.list_rankings(session, principal, call_id, query)


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The version's entries in order, one per line after a header line.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{call_id}/rankings/{version}.csv",
    summary="Export a published ranking as CSV",
    response_class=Response,
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses={**_CSV_RESPONSE, **problem_responses(401, 404, 422)},
    openapi_extra=OPTIONAL_AUTH,
)
async def export_ranking_csv(
    call_id: CallId, version: Version, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    """The version as CSV (UTF-8, comma-separated, text cells in double quotes and made safe
    for spreadsheets as in the transparency export, numbers bare). Public."""
    ranking = await service.get_ranking(session, principal, call_id, version)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_HEADER)
    writer.writerows(
        [spreadsheet_safe(c) if isinstance(c, str) else c for c in csv_row(version, entry)]
        for entry in ranking.entries
    )
    filename = f"ranking-{call_id}-v{version}.csv"
    return Response(
        buffer.getvalue(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{call_id}/rankings/{version}",
    summary="Read a published ranking",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_ranking(
    call_id: CallId,
    version: Version,
    session: SessionDep,
    principal: OptionalPrincipal,
    response: Response,
) -> RankingRead:
    """A published version with its entries, as frozen (its ETag never changes). Public."""
    return await read_with_etag(response, service.get_ranking(session, principal, call_id, version))


@router.post(
    "/{call_id}/rankings/{version}/allocate",
    status_code=201,
    summary="Grant down a published ranking",
    response_model=RankingAllocationReport,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def allocate_ranking(
    call_id: CallId,
    version: Version,
    request: Request,
    session: SessionDep,
    principal: Granter,
    idempotency: IdempotencyDep,
) -> Response:
    """Grant each entry of the call's latest published version its requested amount, in rank
    order, through the single grant's path (every cap holds). An entry a rule refuses is
    skipped with the refusal's rule and figures and the next one is tried; entries below
    the thresholds are never granted; applications already granted get nothing more.
    201 with the report, as a create (the run makes allocations: Location lists the call's);
    with an Idempotency-Key a retry replays the first report. 409 `ranking_replaced` when a
    newer version replaces this one."""

    async def read(report: RankingAllocationReport) -> RankingAllocationReport:
        # In the language of the request that ran it: a retry replays these very bytes.
        return report.in_language(language_of(request.scope))

    return await idempotency.create(
        principal,
        make=lambda: ranking_grants.allocate(session, principal, call_id, version),
        read=read,
        location=lambda report: f"/api/v1/allocations?call_id={report.call_id}",
    )
