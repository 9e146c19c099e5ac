"""The public register of funded projects (D.lgs. 33/2013 art. 26-27) and its open-data
exports. Anonymous: no credentials are read here."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from app.api.deps import DatabaseDep, SessionDep, SettingsDep, SnapshotSessionDep
from app.api.pagination import PageDep, parse_datetime
from app.api.problems import problem_responses
from app.db.session import Database
from app.repositories.transparency import GrantFilters
from app.schemas.page import Page
from app.schemas.transparency import CSV_HEADER, GivingPackage, PublishedGrantRead, csv_row
from app.schemas.types import Money
from app.services import transparency as service

router = APIRouter(prefix="/transparency", tags=["transparency"])

AllocationId = Annotated[uuid.UUID, Path(description="The allocation's id.")]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_FILENAME = "wecare-grants.csv"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # Pydantic's lax mode would take "0" as 1970-01-01; the documented format is a full date.
    if isinstance(value, str) and not _DAY.match(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


async def grant_filters(
    programme_id: Annotated[uuid.UUID | None, Query()] = None,
    measure_id: Annotated[uuid.UUID | None, Query()] = None,
    call_id: Annotated[uuid.UUID | None, Query()] = None,
    awarded_from: Annotated[
        IsoDay | None, Query(description="Awarded on or after this day (UTC).")
    ] = None,
    awarded_to: Annotated[
        IsoDay | None, Query(description="Awarded on or before this day (UTC).")
    ] = None,
    q: Annotated[
        str | None,
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
        Query(
            max_length=100,
            pattern=r"^[^\x00]*$",
            description="Text in the beneficiary's or partnership's name.",
        ),
    ] = None,
    min_amount: Annotated[Money | None, Query(description="Amount at least.")] = None,
    max_amount: Annotated[Money | None, Query(description="Amount at most.")] = None,
) -> GrantFilters:
    return service.grant_filters(
        programme_id=programme_id,
        measure_id=measure_id,
        call_id=call_id,
        awarded_from=awarded_from,
        awarded_to=awarded_to,
        q=q,
        min_amount=min_amount,
        max_amount=max_amount,
    )


FiltersDep = Annotated[GrantFilters, Depends(grant_filters)]


@router.get("/grants", summary="List published grants", responses=problem_responses(422))
async def list_grants(
    session: SessionDep, settings: SettingsDep, page: PageDep, filters: FiltersDep
) -> Page[PublishedGrantRead]:
    """List active allocations by award date with the data the transparency law requires."""
    rows = await service.page_grants(
        session, filters=filters, after=page.after(parse_datetime, uuid.UUID), limit=page.limit
    )
    return page.page(
        rows,
        key=lambda row: (row.granted_at, row.allocation_id),
        item=lambda row: service.published_grant(row, base_url=settings.issuer),
    )


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
    database: Database, filters: GrantFilters, base_url: str
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
    responses={**_CSV_RESPONSE, **problem_responses(422)},
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
    responses=problem_responses(404, 422),
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
    responses=problem_responses(404, 422),
)
async def get_grant(
    allocation_id: AllocationId, session: SessionDep, settings: SettingsDep
) -> PublishedGrantRead:
    """Return one published grant; a revoked or unknown allocation is 404."""
    return await service.get_grant(session, allocation_id, base_url=settings.issuer)
