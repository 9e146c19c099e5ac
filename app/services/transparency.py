"""What the public register shows (D.lgs. 33/2013 art. 26-27) and the budget report.

Rules: only active allocations are published (a revocation withdraws the grant from the
register); a beneficiary's tax code is published only for legal entities, never a
natural person's personal code; the 360Giving export identifies organisations by
org-id.guide prefixes (IT-CF for Italian codici fiscali).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Principal
from app.core.cofinancing import SOURCES, Shares, split
from app.core.domain import Instrument, SelectionMethod
from app.core.errors import InvalidInput, NotFound
from app.core.i18n import msg
from app.core.identity import is_legal_entity_tax_code
from app.core.money import ZERO
from app.models.allocation import Allocation
from app.models.programme import Measure, Programme
from app.repositories import calls as call_repo
from app.repositories import districts as district_repo
from app.repositories import programmes as programme_repo
from app.repositories import transparency as repo
from app.repositories.transparency import GrantFilters as GrantFilters  # the exports take it
from app.repositories.transparency import GrantRow
from app.schemas.common import from_attributes
from app.schemas.page import Page
from app.schemas.reference_data import cofinancing_read
from app.schemas.transparency import (
    CallFiguresRead,
    DistrictFiguresRead,
    FundBySourceRead,
    FundFiguresRead,
    FundingBySourceRead,
    FundingFiguresRead,
    FundSourceFiguresRead,
    GivingClassification,
    GivingGrant,
    GivingOrganization,
    GivingPackage,
    GivingProgramme,
    GivingPublisher,
    GrantPageQuery,
    GrantQuery,
    LegalBasisRead,
    LoanFiguresRead,
    MeasureFiguresRead,
    ProgrammeReportRead,
    PublishedGrantRead,
    SourceFiguresRead,
)
from app.services.calls import PUBLIC_STATUSES
from app.services.paging import SortKey
from app.services.programmes import load_programme

GRANTS_PATH = "/api/v1/transparency/grants"
EXPORT_BATCH = 1000
# The register's order: award time, then the allocation (a GrantRow names it allocation_id).
GRANT_ORDER = SortKey[GrantRow](
    Allocation.granted_at, Allocation.id, names=("granted_at", "allocation_id")
)

# 360Giving: the funder is the managing authority, identified by its codice fiscale.
GIVING_VERSION = "1.4"
GIVING_GRANT_PREFIX = "360G-wecare-"
GIVING_ORG_PREFIX = "360G-wecare-org-"
FUNDER = GivingOrganization(id="IT-CF-80087670016", name="Regione Piemonte")
PUBLISHER = GivingPublisher(
    identifier=FUNDER.id, name=FUNDER.name, website="https://www.regione.piemonte.it/"
)
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
# The CUP (L. 3/2003 art. 11) as a 360Giving classification: a code in a named vocabulary.
CUP_VOCABULARY = "IT-CUP"
CUP_TITLE = "Codice Unico di Progetto"


def grant_filters(
    *,
    programme_id: uuid.UUID | None = None,
    measure_id: uuid.UUID | None = None,
    call_id: uuid.UUID | None = None,
    awarded_from: date | None = None,
    awarded_to: date | None = None,
    q: str | None = None,
    min_amount: Decimal | None = None,
    max_amount: Decimal | None = None,
) -> GrantFilters:
    """The register's filters; award dates are whole days of the programme's calendar
    (Europe/Rome, app/core/clock.py), both bounds included."""
    if awarded_from is not None and awarded_to is not None and awarded_from > awarded_to:
        raise InvalidInput(
            msg("awarded_from is after awarded_to."),
            awarded_from=awarded_from,
            awarded_to=awarded_to,
        )
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise InvalidInput(
            msg("min_amount is more than max_amount."), min_amount=min_amount, max_amount=max_amount
        )
    return GrantFilters(
        programme_id=programme_id,
        measure_id=measure_id,
        call_id=call_id,
        awarded_from=None if awarded_from is None else _midnight(awarded_from),
        awarded_before=_day_after(awarded_to),
        q=q or None,
        min_amount=min_amount,
        max_amount=max_amount,
    )


def grant_filters_of(query: GrantQuery) -> GrantFilters:
    """The register's filters from its query string (422 when the bounds are crossed)."""
    return grant_filters(**query.model_dump(include=set(GrantQuery.model_fields)))


def _midnight(day: date) -> datetime:
    return clock.start_of(day)


def _day_after(day: date | None) -> datetime | None:
    """The first instant after ``day``; None when unbounded (no day, or the last one)."""
    if day is None or day == date.max:
        return None
    return _midnight(day + timedelta(days=1))


def published_tax_code(tax_code: str | None) -> str | None:
    """A legal entity's codice fiscale; a natural person's is personal data and never shown."""
    return tax_code if tax_code and is_legal_entity_tax_code(tax_code) else None


def published_grant(row: GrantRow, *, base_url: str) -> PublishedGrantRead:
    return PublishedGrantRead(
        id=row.allocation_id,
        beneficiary_name=row.legal_name or row.partnership_name or "",
        beneficiary_tax_code=published_tax_code(row.tax_code),
        partnership_name=row.partnership_name,
        amount=row.amount,
        amount_paid=row.paid,
        currency="EUR",
        legal_basis=LegalBasisRead(
            programme_code=row.programme_code,
            programme_name=row.programme_name,
            legal_basis=row.programme_legal_basis,
            measure_code=row.measure_code,
            measure_title=row.measure_title,
            call_code=row.call_code,
            call_title=row.call_title,
        ),
        responsible_office=row.responsible_office,
        selection_method=row.selection_method,
        award_date=clock.day_of(row.granted_at),
        project_title=row.project_title,
        cup=row.cup,
        programme_id=row.programme_id,
        measure_id=row.measure_id,
        call_id=row.call_id,
        url=f"{base_url.rstrip('/')}{GRANTS_PATH}/{row.allocation_id}",
    )


async def list_grants(
    session: AsyncSession, principal: Principal, query: GrantPageQuery, *, base_url: str
) -> Page[PublishedGrantRead]:
    """Published grants by award date. Public: only active allocations are published."""
    rows = partial(repo.page_grants, session, filters=grant_filters_of(query))
    return await GRANT_ORDER.page_of(query, rows, partial(published_grant, base_url=base_url))


async def get_grant(
    session: AsyncSession, principal: Principal, allocation_id: uuid.UUID, *, base_url: str
) -> PublishedGrantRead:
    row = await repo.get_grant(session, allocation_id)
    if row is None:
        raise NotFound(msg("No published grant {allocation_id}.", allocation_id=allocation_id))
    return published_grant(row, base_url=base_url)


async def _batches(
    session: AsyncSession, filters: GrantFilters, batch: int | None
) -> AsyncIterator[list[GrantRow]]:
    """Every matching published grant in award order, one keyset query per ``batch`` rows."""
    batch = batch or EXPORT_BATCH
    after: tuple[object, ...] | None = None
    while True:
        rows = await repo.page_grants(
            session, filters=filters, order=GRANT_ORDER.columns, after=after, limit=batch
        )
        shown = rows[:batch]
        if shown:
            yield shown
        if len(rows) <= batch:
            return
        after = GRANT_ORDER.key(shown[-1])


async def iter_grants(
    session: AsyncSession, *, filters: GrantFilters, base_url: str, batch: int | None = None
) -> AsyncIterator[list[PublishedGrantRead]]:
    """Every published grant matching ``filters``, in award order, in batches (exports)."""
    async for rows in _batches(session, filters, batch):
        yield [published_grant(row, base_url=base_url) for row in rows]


def giving_grant(row: GrantRow, *, base_url: str) -> GivingGrant:
    """One grant in the 360Giving Data Standard."""
    grant = published_grant(row, base_url=base_url)
    recipient_id = (
        f"IT-CF-{grant.beneficiary_tax_code}"
        if grant.beneficiary_tax_code
        else f"{GIVING_ORG_PREFIX}{row.organisation_id}"
    )
    return GivingGrant(
        id=f"{GIVING_GRANT_PREFIX}{grant.id}",
        title=grant.project_title,
        description=row.project_description,
        currency=grant.currency,
        # The double nearest the exact decimal amount.
        amountAwarded=float(row.amount),
        amountDisbursed=float(row.paid),
        awardDate=grant.award_date.isoformat(),
        url=grant.url,
        fromOpenCall="No" if grant.selection_method is SelectionMethod.NEGOTIATED else "Yes",
        recipientOrganization=[GivingOrganization(id=recipient_id, name=grant.beneficiary_name)],
        fundingOrganization=[FUNDER],
        grantProgramme=[GivingProgramme(code=row.call_code, title=row.call_title)],
        classifications=[]
        if row.cup is None
        else [GivingClassification(vocabulary=CUP_VOCABULARY, code=row.cup, title=CUP_TITLE)],
    )


async def giving_package(
    session: AsyncSession,
    *,
    filters: GrantFilters,
    base_url: str,
    download_url: str,
    batch: int | None = None,
) -> GivingPackage:
    """The 360Giving data package of every matching grant.

    The package schema requires at least one grant, so an empty selection is NotFound
    rather than a package that would not validate.
    """
    grants = [
        giving_grant(row, base_url=base_url)
        async for rows in _batches(session, filters, batch)
        for row in rows
    ]
    if not grants:
        raise NotFound(
            msg(
                "No grants are published yet, or none matches the filters: a 360Giving "
                "package holds at least one grant."
            )
        )
    return GivingPackage(
        grants=grants,
        version=GIVING_VERSION,
        title="WECARE: grants awarded by Regione Piemonte",
        description="Active funding allocations published under D.lgs. 33/2013 art. 26-27.",
        issued=datetime.now(UTC).isoformat(timespec="seconds"),
        publisher=PUBLISHER,
        license=LICENSE,
        downloadURL=download_url,
    )


async def programme_report(session: AsyncSession, programme_id: uuid.UUID) -> ProgrammeReportRead:
    """Budget figures of a programme, its measures, calls and (one-per-district measures)
    districts, in a fixed number of statements whatever their numbers."""
    programme = await load_programme(session, programme_id)
    measures = await programme_repo.list_measures(session, programme_id)
    calls = [
        call
        for call in await call_repo.list_calls_of_programme(session, programme_id)
        if call.status in PUBLIC_STATUSES
    ]
    per_district = [m.id for m in measures if m.one_per_district]
    districts = await district_repo.all_districts(session) if per_district else []
    live = await repo.live_applications_by_district(session, per_district)
    funded = await repo.active_allocations_by_district(session, per_district)
    money = await repo.funding_by_call_and_district(session, programme_id)
    width = len(repo.FUNDING_FIGURES)

    def totals(
        where: Callable[[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]], bool],
    ) -> list[Decimal]:
        found = [ZERO] * (width + len(repo.FUND_FIGURES))
        for key, figures in money.items():
            if where(key):
                found = [a + b for a, b in zip(found, figures, strict=True)]
        return found

    def funding(
        where: Callable[[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]], bool],
        shares: Shares | None,
    ) -> FundingFiguresRead:
        found = totals(where)[:width]
        return FundingFiguresRead(
            **dict(zip(repo.FUNDING_FIGURES, found, strict=True)),
            by_source=_by_source(found, shares),
        )

    def loans(
        where: Callable[[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]], bool],
        measure: Measure,
    ) -> LoanFiguresRead | None:
        """A call's or a district's loans (None: the measure is not mixed)."""
        if measure.instrument != Instrument.MIXED:
            return None
        lent, repaid = totals(where)[width:]
        return LoanFiguresRead(
            lent=lent,
            repaid=repaid,
            outstanding=lent - repaid,
            by_source=_fund_by_source(lent, repaid, measure.shares),
        )

    def district_figures(measure: Measure) -> list[DistrictFiguresRead]:
        figures = []
        for district in districts:
            allocated, projects = funded.get((measure.id, district.id), (ZERO, 0))

            def in_district(
                key: tuple[uuid.UUID, uuid.UUID, uuid.UUID | None], d: uuid.UUID = district.id
            ) -> bool:
                return key[0] == measure.id and key[2] == d

            figures.append(
                DistrictFiguresRead(
                    district_id=district.id,
                    code=district.code,
                    name=district.name,
                    live_applications=live.get((measure.id, district.id), 0),
                    funded_projects=projects,
                    allocated=allocated,
                    funding=funding(in_district, measure.shares),
                    fund=loans(in_district, measure),
                )
            )
        return figures

    by_measure = {
        measure.id: funding(lambda key, m=measure.id: key[0] == m, measure.shares)  # type: ignore[misc]
        for measure in measures
    }
    funds = {
        measure.id: _fund(measure, measure.shares)
        for measure in measures
        if measure.instrument == Instrument.MIXED
    }
    # The budget figures are the rows' own attributes (money columns, ``available``).
    return from_attributes(
        ProgrammeReportRead,
        programme,
        # lent, repaid, outstanding, available: the programme's own figures; by source, its
        # mixed measures' parts summed.
        fund=_fund(programme, None).model_copy(
            update={"by_source": _summed([f.by_source for f in funds.values()], _ZERO_FUND)}
        ),
        funding=funding(lambda key: True, None).model_copy(
            update={"by_source": _summed([f.by_source for f in by_measure.values()], _ZERO)}
        ),
        measures=[
            from_attributes(
                MeasureFiguresRead,
                measure,
                fund=funds.get(measure.id),
                cofinancing=cofinancing_read(measure.shares),
                funding=by_measure[measure.id],
                calls=[
                    from_attributes(
                        CallFiguresRead,
                        call,
                        funding=funding(lambda key, c=call.id: key[1] == c, measure.shares),  # type: ignore[misc]
                        fund=loans(lambda key, c=call.id: key[1] == c, measure),  # type: ignore[misc]
                    )
                    for call in calls
                    if call.measure_id == measure.id
                ],
                districts=district_figures(measure) if measure.one_per_district else None,
            )
            for measure in measures
        ],
    )


def _by_source(totals: list[Decimal], shares: Shares | None) -> FundingBySourceRead | None:
    """Each figure split by ``shares`` (app.core.cofinancing's rule), or None without them."""
    if shares is None:
        return None
    parts = [split(total, shares) for total in totals]
    return FundingBySourceRead(
        **{
            source: SourceFiguresRead(
                **{name: part[i] for name, part in zip(repo.FUNDING_FIGURES, parts, strict=True)}
            )
            for i, source in enumerate(SOURCES)
        }
    )


def _fund(row: Measure | Programme, shares: Shares | None) -> FundFiguresRead:
    """A mixed measure's (or the programme's) fund from its counters, split by ``shares``."""
    return FundFiguresRead(
        lent=row.lent,
        repaid=row.repaid,
        outstanding=row.outstanding,
        available=row.available,
        by_source=_fund_by_source(row.lent, row.repaid, shares),
    )


def _fund_by_source(
    lent: Decimal, repaid: Decimal, shares: Shares | None
) -> FundBySourceRead | None:
    """lent, repaid and outstanding, each split on its own by ``shares`` (or None)."""
    if shares is None:
        return None
    parts = [split(figure, shares) for figure in (lent, repaid, lent - repaid)]
    return FundBySourceRead(
        **{
            source: FundSourceFiguresRead(
                lent=parts[0][i], repaid=parts[1][i], outstanding=parts[2][i]
            )
            for i, source in enumerate(SOURCES)
        }
    )


_ZERO = FundingBySourceRead(
    **{s: SourceFiguresRead(**dict.fromkeys(repo.FUNDING_FIGURES, ZERO)) for s in SOURCES}
)
_ZERO_FUND = FundBySourceRead(
    **{s: FundSourceFiguresRead(lent=ZERO, repaid=ZERO, outstanding=ZERO) for s in SOURCES}
)
SplitT = TypeVar("SplitT", FundingBySourceRead, FundBySourceRead)
PartT = TypeVar("PartT", SourceFiguresRead, FundSourceFiguresRead)


def _summed(splits: list[SplitT | None], zero: SplitT) -> SplitT | None:
    """The programme's split: its measures' parts summed (``zero`` without any), or None if
    any measure has none."""
    total = zero
    for part in splits:
        if part is None:
            return None
        total = total.model_copy(
            update={
                source: _plus(getattr(total, source), getattr(part, source)) for source in SOURCES
            }
        )
    return total


def _plus(a: PartT, b: PartT) -> PartT:
    return a.model_copy(
        update={name: getattr(a, name) + getattr(b, name) for name in type(a).model_fields}
    )
