"""The public register of funded projects (D.lgs. 33/2013 art. 26-27) and its open-data
exports. Anonymous: everyone reads the same; a presented token is still checked (401 when
it is not valid), as on every public operation."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import StreamingResponse

from app.api.deps import (
    CHECKS_OPTIONAL_TOKEN,
    OPTIONAL_AUTH,
    DatabaseDep,
    SessionDep,
    SettingsDep,
    SnapshotSessionDep,
)
from app.api.problems import problem_responses
from app.api.query import QueryModel
from app.core.auth import ANONYMOUS
from app.db.session import Database
from app.schemas.page import Page
from app.schemas.transparency import (
    CSV_HEADER,
    GivingPackage,
    GrantPageQuery,
    GrantQuery,
    PublishedGrantRead,
    csv_row,
)
from app.services import transparency as service

router = APIRouter(prefix="/transparency", tags=["transparency"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_FILENAME = "wecare-grants.csv"
grant_query = QueryModel(GrantQuery)
grant_page_query = QueryModel(GrantPageQuery)


async def grant_filters(
    query: Annotated[GrantQuery, Depends(grant_query)],
) -> service.GrantFilters:
    """The exports' filters, checked before a body starts streaming."""
    return service.grant_filters_of(query)


FiltersDep = Annotated[service.GrantFilters, Depends(grant_filters)]


@router.get(
    "/grants",
    summary="List published grants",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 422),
    openapi_extra=grant_page_query.openapi(**OPTIONAL_AUTH),
)
async def list_grants(
    session: SessionDep,
    settings: SettingsDep,
    query: Annotated[GrantPageQuery, Depends(grant_page_query)],
) -> Page[PublishedGrantRead]:
    """List active allocations by award date with the data the transparency law requires."""
    return await service.list_grants(session, ANONYMOUS, query, base_url=settings.issuer)


_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every matching grant, one per line after a header line.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


# A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV
# injection"): an applicant could name itself =HYPERLINK(...) and the register would hand
# every reader a live formula. Amounts never start with one (they are never negative).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """The cell as text a spreadsheet shows as written: a leading quote before a formula."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def spreadsheet_row(row: tuple[str | Decimal, ...]) -> list[str | Decimal]:
    """Text cells made safe; the amount stays a number."""
    return [spreadsheet_safe(cell) if isinstance(cell, str) else cell for cell in row]


async def _csv_lines(
    database: Database, filters: service.GrantFilters, base_url: str
) -> AsyncIterator[str]:
    # Runs while the body streams, after the route has returned: its own read transaction,
    # one snapshot for every batch (a grant or revocation committing meanwhile is in the
    # file entirely or not at all).
    buffer = io.StringIO()
    # Every text cell in double quotes, the amount bare. A separator inside a name is then
    # inside quotes whichever separator the spreadsheet splits on: "Rossi;=1+1" stays one
    # text cell where the list separator is ';' (Excel in Italian), instead of ending a
    # cell and starting the formula =1+1.
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue()
    async with database.session(write=False, snapshot=True) as session:
        async for grants in service.iter_grants(session, filters=filters, base_url=base_url):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(spreadsheet_row(csv_row(grant)) for grant in grants)
            yield buffer.getvalue()


@router.get(
    "/grants.csv",
    summary="Export published grants as CSV",
    response_class=StreamingResponse,
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses={**_CSV_RESPONSE, **problem_responses(401, 422)},
    openapi_extra=grant_query.openapi(**OPTIONAL_AUTH),
)
async def export_grants_csv(
    database: DatabaseDep, settings: SettingsDep, filters: FiltersDep
) -> StreamingResponse:
    """Stream every matching published grant as CSV (UTF-8, comma-separated, every text cell
    in double quotes, ISO dates, the amount a bare number with a decimal point)."""
    return StreamingResponse(
        _csv_lines(database, filters, settings.issuer),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{CSV_FILENAME}"'},
    )


def _address(base_url: str, request: Request) -> str:
    """This export's own URL, with its filters re-encoded (a valid URI whatever was sent)."""
    query = urlencode(request.query_params.multi_items())
    return f"{base_url}{request.url.path}" + (f"?{query}" if query else "")


@router.get(
    "/grants.360giving.json",
    summary="Export published grants in the 360Giving Data Standard",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=grant_query.openapi(**OPTIONAL_AUTH),
)
async def export_grants_360giving(
    request: Request, session: SnapshotSessionDep, settings: SettingsDep, filters: FiltersDep
) -> GivingPackage:
    """Return every matching grant as a 360Giving 1.4 data package (404 when there is none)."""
    return await service.giving_package(
        session,
        filters=filters,
        base_url=settings.issuer,
        download_url=_address(settings.issuer, request),
    )


@router.get(
    "/grants/{allocation_id}",
    summary="Read a published grant",
    dependencies=[CHECKS_OPTIONAL_TOKEN],
    responses=problem_responses(401, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_grant(
    allocation_id: AllocationId, session: SessionDep, settings: SettingsDep
) -> PublishedGrantRead:
    """Return one published grant; a revoked or unknown allocation is 404."""
    return await service.get_grant(session, ANONYMOUS, allocation_id, base_url=settings.issuer)
