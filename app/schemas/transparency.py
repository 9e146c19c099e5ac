"""Public transparency register (D.lgs. 33/2013 art. 26-27), its open-data exports
(CSV, 360Giving Data Standard 1.4) and the programme budget report."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.core.domain import CallStatus, ClosedReason, Instrument, SelectionMethod
from app.core.money import CENT
from app.schemas.common import Output
from app.schemas.page import CallFilter, MeasureFilter, PageQuery, ProgrammeFilter
from app.schemas.reference_data import Cofinancing
from app.schemas.types import Money

# The register.

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # Pydantic's lax mode would take "0" as 1970-01-01; the documented format is a full date.
    if isinstance(value, str) and not _DAY.match(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class GrantQuery(BaseModel):
    """What the register and its exports may be filtered by (their query string)."""

    programme_id: ProgrammeFilter = None
    measure_id: MeasureFilter = None
    call_id: CallFilter = None
    awarded_from: IsoDay | None = Field(
        None, description="Awarded on or after this day (Italian calendar, Europe/Rome)."
    )
    awarded_to: IsoDay | None = Field(
        None, description="Awarded on or before this day (Italian calendar, Europe/Rome)."
    )
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
    q: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[^\x00]*$",
        description="Text in the beneficiary's or partnership's name.",
    )
    min_amount: Money | None = Field(None, description="Amount at least.")
    max_amount: Money | None = Field(None, description="Amount at most.")


class GrantPageQuery(GrantQuery, PageQuery):
    """The register's list: its filters after ``limit`` and ``cursor``."""


class LegalBasisRead(Output):
    """The act under which the grant was made: programme, measure and call."""

    programme_code: str
    programme_name: str
    legal_basis: str = Field(description="The programme's legal basis (resolutions, acts).")
    measure_code: str
    measure_title: str
    call_code: str
    call_title: str


class PublishedGrantRead(Output):
    """A funded project as the law requires it to be published."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5b0f8a2e-6c3d-4e1f-9a7b-1c2d3e4f5a6b",
                    "beneficiary_name": "Consorzio socio-assistenziale del Cuneese",
                    "beneficiary_tax_code": "02843860012",
                    "partnership_name": "ATS Welfare Cuneo",
                    "amount": "450000.00",
                    "amount_paid": "135000.00",
                    "currency": "EUR",
                    "legal_basis": {
                        "programme_code": "WECARE",
                        "programme_name": "WE.CA.RE. - Welfare Cantiere Regionale",
                        "legal_basis": "Strategia regionale per l'innovazione sociale "
                        "WE.CA.RE., attuata con il POR FSE Piemonte 2014-2020.",
                        "measure_code": "FSE1",
                        "measure_title": "Sperimentazione di azioni innovative di welfare "
                        "territoriale",
                        "call_code": "WECARE-FSE1-2017",
                        "call_title": "Bando FSE1 - Sperimentazione di azioni innovative di "
                        "welfare territoriale",
                    },
                    "responsible_office": "Regione Piemonte - Direzione Coesione Sociale",
                    "selection_method": "ranking",
                    "award_date": "2018-11-20",
                    "project_title": "Welfare di comunità",
                    "programme_id": "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "measure_id": "1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "call_id": "2c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "url": "https://wecare.example.org/api/v1/transparency/grants/"
                    "5b0f8a2e-6c3d-4e1f-9a7b-1c2d3e4f5a6b",
                }
            ]
        },
    )

    id: uuid.UUID = Field(description="The allocation's id.")
    beneficiary_name: str = Field(
        description="The applicant organisation's legal name, or the lead's for a partnership."
    )
    beneficiary_tax_code: str | None = Field(
        description="Codice fiscale of a legal entity (11 digits); null for natural persons, "
        "whose personal codes are never published."
    )
    partnership_name: str | None = Field(
        description="The partnership (ATS) led by the beneficiary, if it applied as one."
    )
    amount: Money
    amount_paid: Money = Field(description="What has been paid of the grant so far.")
    currency: str = Field(description="Always EUR.")
    legal_basis: LegalBasisRead
    responsible_office: str = Field(description="The office responsible for the procedure.")
    selection_method: SelectionMethod = Field(
        description="ranking (graduatoria), first_come (a sportello) or negotiated."
    )
    award_date: date = Field(
        description="The day the allocation was granted (Italian calendar, Europe/Rome)."
    )
    project_title: str
    cup: str | None = Field(
        None,
        description="The project's Codice Unico di Progetto (L. 3/2003 art. 11); null until "
        "the region records it.",
    )
    programme_id: uuid.UUID
    measure_id: uuid.UUID
    call_id: uuid.UUID
    url: str = Field(description="The permanent address of this record.")


CSV_HEADER = (
    "id",
    "award_date",
    "beneficiary_name",
    "beneficiary_tax_code",
    "partnership_name",
    "amount",
    "amount_paid",
    "currency",
    "project_title",
    "programme_code",
    "programme_name",
    "legal_basis",
    "measure_code",
    "measure_title",
    "call_code",
    "call_title",
    "responsible_office",
    "selection_method",
    "url",
    "cup",
)


def csv_row(grant: PublishedGrantRead) -> tuple[str | Decimal, ...]:
    """A grant as a CSV record: ISO dates, empty text for null, the amount a number (a
    Decimal with two places: written bare, with a decimal point); everything else text."""
    basis = grant.legal_basis
    return (
        str(grant.id),
        grant.award_date.isoformat(),
        grant.beneficiary_name,
        grant.beneficiary_tax_code or "",
        grant.partnership_name or "",
        grant.amount.quantize(CENT),
        grant.amount_paid.quantize(CENT),
        grant.currency,
        grant.project_title,
        basis.programme_code,
        basis.programme_name,
        basis.legal_basis,
        basis.measure_code,
        basis.measure_title,
        basis.call_code,
        basis.call_title,
        grant.responsible_office,
        str(grant.selection_method),
        grant.url,
        grant.cup or "",
    )


# 360Giving Data Standard 1.4 (https://standard.threesixtygiving.org): its own field names.


class GivingModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GivingOrganization(GivingModel):
    id: str = Field(description="An org-id.guide identifier, e.g. IT-CF-<codice fiscale>.")
    name: str


class GivingProgramme(GivingModel):
    code: str
    title: str


class GivingClassification(GivingModel):
    vocabulary: str
    code: str
    title: str


class GivingGrant(GivingModel):
    id: str = Field(description='"360G-wecare-" followed by the allocation id.')
    title: str
    description: str
    currency: str
    amountAwarded: float = Field(description="Euros, a JSON number (the standard's choice).")
    amountDisbursed: float = Field(description="Euros paid so far, a JSON number.")
    awardDate: str = Field(description="YYYY-MM-DD")
    url: str
    fromOpenCall: str = Field(description="Yes unless the call was a negotiated procedure.")
    recipientOrganization: list[GivingOrganization]
    fundingOrganization: list[GivingOrganization]
    grantProgramme: list[GivingProgramme]
    classifications: list[GivingClassification] = Field(
        default_factory=list,
        description="The project's CUP, where recorded, in the vocabulary IT-CUP (the "
        "standard has no field for a national project code; a classification carries it).",
    )


class GivingPublisher(GivingModel):
    identifier: str
    name: str
    website: str


class GivingPackage(GivingModel):
    """A 360Giving data package (schema 360-giving-package-schema.json, version 1.4)."""

    grants: list[GivingGrant] = Field(min_length=1)
    version: str
    title: str
    description: str
    issued: str = Field(description="When this package was generated (RFC 3339 date-time).")
    publisher: GivingPublisher
    license: str
    downloadURL: str


# The programme budget report.


class FundSourceFiguresRead(Output):
    """One source's part of the mixed instrument's loan figures."""

    lent: Money
    repaid: Money
    outstanding: Money


class FundBySourceRead(Output):
    """The loan figures split by source with the measure's co-financing shares, by the
    funding figures' rule (FundingBySourceRead): each figure is split on its own, so its
    three parts always sum to it (a source's lent less its repaid may differ from its
    outstanding by a cent). A programme's parts are the sums of its mixed measures'."""

    eu: FundSourceFiguresRead
    national: FundSourceFiguresRead
    regional: FundSourceFiguresRead


class LoanFiguresRead(FundSourceFiguresRead):
    """The mixed instrument's loans of a call or a district (app.services.loans)."""

    lent: Money = Field(description="Loan parts of active allocations.")
    repaid: Money = Field(description="Principal repaid on them (back in the fund).")
    outstanding: Money = Field(description="lent - repaid")
    by_source: FundBySourceRead | None = Field(
        description="lent, repaid and outstanding split into EU, national and regional "
        "money; null where the measure's co-financing shares are not given by the source "
        "(for the programme: where any mixed measure's are not)."
    )


class FundFiguresRead(LoanFiguresRead):
    """The mixed instrument's revolving fund (app.services.loans says how it composes with
    the caps)."""

    available: Money = Field(
        description="What new grants may still take: budget - allocated, where allocated "
        "counts a loan net of its repaid principal."
    )


class DistrictFiguresRead(Output):
    district_id: uuid.UUID
    code: str
    name: str
    live_applications: int = Field(
        description="Applications submitted, under review, admitted or approved (an executive "
        "project and its preliminary count as one)."
    )
    funded_projects: int = Field(description="Active allocations in this district.")
    allocated: Money
    funding: FundingFiguresRead
    fund: LoanFiguresRead | None = Field(
        description="The mixed instrument's loans in this district; null: the measure is not mixed."
    )


class SourceFiguresRead(Output):
    """One source's part of each funding figure."""

    granted: Money
    accepted: Money
    claimed: Money
    verified: Money
    advanced: Money
    paid: Money
    recovered: Money
    outstanding: Money = Field(description="Due back from revocations, not yet recovered.")


class FundingBySourceRead(Output):
    """The funding figures split by source with the measure's co-financing shares, exact in
    cents: EU is each figure x the EU share rounded half up to the cent; EU + national is
    the figure x (EU + national shares) rounded half up, so national is that less EU;
    regional is the rest. The three parts of a figure always sum to it. A programme's
    parts are the sums of its measures' parts."""

    eu: SourceFiguresRead
    national: SourceFiguresRead
    regional: SourceFiguresRead


class FundingFiguresRead(SourceFiguresRead):
    """After the grant (issue 16). Granted and accepted: active grants (accepted: those their
    beneficiary accepted). Claimed, verified (first-level checks), advanced and paid: every
    grant's, as the counters hold them. Recovered and outstanding: what revocations after
    payment asked back, came back and is still due."""

    by_source: FundingBySourceRead | None = Field(
        description="The figures split into EU, national and regional money; null where a "
        "measure's co-financing shares are not given by the source (for the programme: "
        "where any measure's are not)."
    )


class CallFiguresRead(Output):
    id: uuid.UUID
    code: str
    title_it: str
    title_en: str
    status: CallStatus
    budget: Money = Field(description="The call's share of the measure's budget.")
    allocated: Money
    reserved: Money = Field(
        description="First-come calls: what submitted applications hold until granted, "
        "withdrawn or rejected (0 on other calls)."
    )
    available: Money = Field(description="budget - allocated - reserved")
    funded_projects: int
    selection_method: SelectionMethod
    waiting_count: int = Field(description="First-come calls: applications on the waiting list.")
    waiting_list_length: int | None = Field(
        description="First-come calls: how many may wait; null: no limit."
    )
    closed_for_submissions: bool = Field(
        description="A first-come call whose waiting list is full (and, with no room for a "
        "list, whose budget is taken) takes no new submissions until money is released."
    )
    closed_at: datetime | None = Field(
        description="First-come calls: when the call closed itself; null while it is open."
    )
    closed_reason: ClosedReason | None = Field(
        description="waiting_list_full or nothing_left; null while it takes submissions."
    )
    funding: FundingFiguresRead
    fund: LoanFiguresRead | None = Field(
        description="The mixed instrument's loans granted on this call; null: the measure is "
        "not mixed."
    )


class MeasureFiguresRead(Output):
    id: uuid.UUID
    code: str
    title_it: str
    title_en: str
    budget: Money
    calls_budget: Money = Field(
        description="Sum of the calls' budget shares (draft calls' shares included)."
    )
    allocated: Money
    available: Money = Field(description="budget - allocated")
    funded_projects: int
    max_funded_projects: int | None = Field(description="The cap on funded projects, if any.")
    one_per_district: bool
    instrument: Instrument
    fund: FundFiguresRead | None = Field(description="A mixed instrument's fund; else null.")
    cofinancing: Cofinancing | None = Field(
        description="EU, national and regional shares; null: not given by the source."
    )
    funding: FundingFiguresRead
    calls: list[CallFiguresRead] = Field(description="Published and closed calls, by code.")
    districts: list[DistrictFiguresRead] | None = Field(
        description="Every district, by code, where the measure funds one project per district; "
        "null otherwise."
    )


class ProgrammeReportRead(Output):
    id: uuid.UUID
    code: str
    name_it: str
    name_en: str
    currency: str
    total_budget: Money
    measures_budget: Money = Field(description="Sum of the measures' budgets.")
    allocated: Money
    available: Money = Field(description="total_budget - allocated")
    funded_projects: int
    fund: FundFiguresRead = Field(description="The mixed instruments' funds together.")
    funding: FundingFiguresRead
    measures: list[MeasureFiguresRead]
