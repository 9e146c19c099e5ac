"""Load a programme's reference-data file into the database, idempotently.

Rows are matched by their natural keys (programme code, measure code, line number, phase
ordinal, call code, ...). A row is written only when a value differs, so loading the same
file twice changes nothing. Rows absent from the file are left alone: they may already
carry applications. The caps are checked before anything is written, and the CHECK
constraints on the counters guard the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import PROJECT_ROOT
from app.core.errors import (
    BudgetBelowAllocated,
    InvalidReferenceData,
    MeasureCallsBudgetExceeded,
    ProgrammeMeasuresBudgetExceeded,
)
from app.core.i18n import msg
from app.core.money import ZERO
from app.db.base import Base
from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.document import DocumentKind, DocumentRetention
from app.models.indicator import Indicator, MonitoringTerms
from app.models.payment import PaymentTerms
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea
from app.repositories import calls as call_repo
from app.repositories import indicators as indicator_repo
from app.repositories import programmes as repo
from app.schemas.reference_data import (
    CallSpec,
    EligibilitySpec,
    LineSpec,
    MeasureSpec,
    ProgrammeSpec,
    ReferenceDataFile,
)
from app.services import audit, scoring

DATA_DIR = PROJECT_ROOT / "data" / "programmes"
WECARE_FILE = DATA_DIR / "wecare.yaml"

M = TypeVar("M", bound=Base)


@dataclass
class LoadReport:
    programme_code: str
    created: int = 0
    updated: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def read_reference_file(path: Path) -> ReferenceDataFile:
    """Parse and validate a reference-data file, with messages that name the bad field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidReferenceData(
            msg("Cannot read {path}: {error}", path=path, error=error)
        ) from error
    try:
        return ReferenceDataFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise InvalidReferenceData(
            msg("{path_name} is not valid: {problems}", path_name=path.name, problems=problems)
        ) from error


def _eligibility(spec: EligibilitySpec | None) -> dict[str, Any]:
    if spec is None:  # applications go through the lines
        return {
            "applicant_forms": [],
            "eligible_legal_natures": [],
            "eligible_size_classes": [],
            "eligible_profit_statuses": [],
            "requires_accompaniment_experience": False,
            "lead_must_be_district_lead": False,
            "required_member_natures": [],
            "min_required_members": 0,
            "required_members_in_piemonte": False,
        }
    return {
        "applicant_forms": [str(v) for v in spec.applicant_forms],
        "eligible_legal_natures": [str(v) for v in spec.legal_natures],
        "eligible_size_classes": [str(v) for v in spec.size_classes],
        "eligible_profit_statuses": [str(v) for v in spec.profit_statuses],
        "requires_accompaniment_experience": spec.requires_accompaniment_experience,
        "lead_must_be_district_lead": spec.lead_must_be_district_lead,
        "required_member_natures": [str(v) for v in spec.required_member_natures],
        "min_required_members": spec.min_required_members,
        "required_members_in_piemonte": spec.required_members_in_piemonte,
    }


class RowWriter:
    def __init__(self, session: AsyncSession, report: LoadReport) -> None:
        self.session = session
        self.report = report

    async def upsert(self, model: type[M], existing: M | None, values: dict[str, Any]) -> M:
        """Create the row, or change only the values that differ."""
        if existing is None:
            row = model(id=uuid.uuid4(), **values)
            self.session.add(row)
            self.report.created += 1
            await self.session.flush()
            return row
        changed = False
        for key, value in values.items():
            if getattr(existing, key) != value:
                setattr(existing, key, value)
                changed = True
        if changed:
            self.report.updated += 1
            await self.session.flush()
        return existing

    async def upsert_children(
        self,
        model: type[M],
        current: Callable[[], Awaitable[Sequence[M]]],
        key: Callable[[M], object],
        wanted: Iterable[tuple[object, dict[str, Any]]],
    ) -> list[M]:
        existing = {key(row): row for row in await current()}
        return [await self.upsert(model, existing.get(k), values) for k, values in wanted]


def _check_caps(
    spec: ProgrammeSpec, programme: Programme | None, measures: list[Measure]
) -> Decimal:
    """Refuse the file before writing anything if it would break a cap; return the budgeted sum."""
    in_file = {m.code: m.budget for m in spec.measures}
    others = sum((m.budget for m in measures if m.code not in in_file), ZERO)
    total = spec.total_budget
    budgeted = sum(in_file.values(), others)
    if budgeted > total:
        raise ProgrammeMeasuresBudgetExceeded(
            msg(
                "The measures' budgets ({budgeted}) exceed the total of programme "
                "{spec_code} ({total_budget}).",
                budgeted=budgeted,
                spec_code=spec.code,
                total_budget=spec.total_budget,
            ),
            cap=total,
            requested=budgeted,
        )
    if programme is not None and total < programme.allocated:
        raise BudgetBelowAllocated(
            msg(
                "Programme {spec_code}: total {total_budget} is below what is already "
                "allocated ({allocated}).",
                spec_code=spec.code,
                total_budget=spec.total_budget,
                allocated=programme.allocated,
            ),
            allocated=programme.allocated,
            requested=spec.total_budget,
        )
    existing = {m.code: m for m in measures}
    for measure in spec.measures:
        shares = sum((c.budget for c in spec.calls if c.measure == measure.code), ZERO)
        if shares > measure.budget:
            raise MeasureCallsBudgetExceeded(
                msg(
                    "The calls of measure {measure_code} share {shares}, more than its "
                    "budget of {budget}.",
                    measure_code=measure.code,
                    shares=shares,
                    budget=measure.budget,
                ),
                cap=measure.budget,
                requested=shares,
            )
        current = existing.get(measure.code)
        if current is not None and measure.budget < current.allocated:
            raise BudgetBelowAllocated(
                msg(
                    "Measure {measure_code}: budget {budget} is below what is already "
                    "allocated ({allocated}).",
                    measure_code=measure.code,
                    budget=measure.budget,
                    allocated=current.allocated,
                ),
                allocated=current.allocated,
                requested=measure.budget,
            )
    return budgeted


async def load_reference_data(session: AsyncSession, data: ReferenceDataFile) -> LoadReport:
    """Create or update the programme of ``data``; the caller owns the transaction."""
    spec = data.programme
    report = LoadReport(programme_code=spec.code)
    loader = RowWriter(session, report)
    programme = await repo.get_programme_by_code(session, spec.code)
    measures = await repo.list_measures(session, programme.id) if programme else []
    budgeted = _check_caps(spec, programme, measures)
    # Counters start right, so a first load creates rows and updates none.
    other_calls = [
        c
        for c in (
            await call_repo.list_calls_of_programme(session, programme.id) if programme else []
        )
        if c.code not in {cs.code for cs in spec.calls}
    ]

    programme = await loader.upsert(
        Programme,
        programme,
        {
            "code": spec.code,
            "name_it": spec.name.it,
            "name_en": spec.name.en,
            "description_it": spec.description.it,
            "description_en": spec.description.en,
            "currency": spec.currency,
            "responsible_office": spec.responsible_office,
            "legal_basis": spec.legal_basis,
            "approved_on": spec.approved_on,
            "principles": [p.model_dump() for p in spec.principles],
            "reference_data_version": data.data_version,
            "total_budget": spec.total_budget,
            "measures_budget": budgeted,
        },
    )
    await loader.upsert(
        DocumentRetention,
        await repo.get_document_retention(loader.session, programme.id),
        {"programme_id": programme.id, "years": spec.document_retention_years},
    )
    by_code = {m.code: m for m in measures}
    loaded: dict[str, Measure] = {}
    lines: dict[tuple[str, int], MeasureLine] = {}
    for ordinal, measure_spec in enumerate(spec.measures, start=1):
        existing = by_code.get(measure_spec.code)
        shares = sum((c.budget for c in spec.calls if c.measure == measure_spec.code), ZERO)
        if existing is not None:
            shares += sum((c.budget for c in other_calls if c.measure_id == existing.id), ZERO)
        measure = await write_measure(
            loader, programme, existing, ordinal, measure_spec, calls_budget=shares
        )
        loaded[measure.code] = measure
        for line in await write_lines(loader, measure, measure_spec.lines):
            lines[(measure.code, line.number)] = line
    for call_spec in spec.calls:
        await write_call(loader, loaded[call_spec.measure], lines, call_spec)

    # The counters again, from the rows as written: a no-op unless the file and the
    # database disagree in a way the sums above could not see.
    all_measures = await repo.list_measures(session, programme.id)
    calls = await call_repo.list_calls_of_programme(session, programme.id)
    for measure in all_measures:
        shares = sum((c.budget for c in calls if c.measure_id == measure.id), ZERO)
        await loader.upsert(Measure, measure, {"calls_budget": shares})
    await loader.upsert(
        Programme, programme, {"measures_budget": sum((m.budget for m in all_measures), ZERO)}
    )
    if report.changed:
        await audit.record(
            session,
            action="programme.load_reference_data",
            entity_type="programme",
            entity_id=programme.id,
            after={
                "data_version": data.data_version,
                "rows_created": report.created,
                "rows_updated": report.updated,
            },
        )
    return report


SHARE_COLUMNS = ("eu_share_bp", "national_share_bp", "regional_share_bp")


def _loan_terms(existing: Measure | None, spec: MeasureSpec) -> dict[str, object] | None:
    """A mixed measure's terms from the file; a figure the file leaves null ("not given by
    the source") keeps what the region has set through the API, if anything."""
    if spec.mixed_terms is None:
        return None
    terms = spec.mixed_terms.model_dump(mode="json")
    kept = (existing.loan_terms or {}) if existing is not None else {}
    return {name: kept.get(name) if value is None else value for name, value in terms.items()}


def _cofinancing(existing: Measure | None, spec: MeasureSpec) -> dict[str, int | None]:
    """The co-financing shares from the file; null in the file ("not given by the source")
    keeps the shares the region has set through the API, if any."""
    if spec.cofinancing is not None:
        return spec.cofinancing.model_dump(include={*SHARE_COLUMNS})
    return {name: getattr(existing, name) if existing else None for name in SHARE_COLUMNS}


async def write_measure(
    loader: RowWriter,
    programme: Programme,
    existing: Measure | None,
    ordinal: int,
    spec: MeasureSpec,
    *,
    calls_budget: Decimal,
) -> Measure:
    measure = await loader.upsert(
        Measure,
        existing,
        {
            "programme_id": programme.id,
            "code": spec.code,
            "ordinal": ordinal,
            "fund": spec.fund,
            "title_it": spec.title.it,
            "title_en": spec.title.en,
            "objective_it": spec.objective.it,
            "objective_en": spec.objective.en,
            "beneficiaries_it": spec.beneficiaries.it,
            "beneficiaries_en": spec.beneficiaries.en,
            "notes_it": spec.notes.it if spec.notes else None,
            "notes_en": spec.notes.en if spec.notes else None,
            "example_actions": [a.model_dump() for a in spec.example_actions],
            "budget": spec.budget,
            "max_funded_projects": spec.max_funded_projects,
            "one_per_district": spec.one_per_district,
            "two_stage_submission": spec.two_stage_submission,
            "state_aid_regime": spec.state_aid_regime,
            "gber_article": spec.gber_article,
            "calls_budget": calls_budget,
            "instrument": spec.instrument,
            "loan_terms": _loan_terms(existing, spec),
            **_cofinancing(existing, spec),
            **_eligibility(spec.eligibility),
        },
    )
    await loader.upsert(
        MonitoringTerms,
        await indicator_repo.get_monitoring_terms(loader.session, measure.id),
        {"measure_id": measure.id, "period_months": spec.monitoring_period_months},
    )
    await loader.upsert_children(
        Indicator,
        lambda: indicator_repo.list_indicators(loader.session, measure.id),
        lambda row: row.code,
        (
            (
                indicator.code,
                {
                    "measure_id": measure.id,
                    "ordinal": ordinal,
                    "code": indicator.code,
                    "eu_code": indicator.eu_code,
                    "eu_code_basis": indicator.eu_code_basis,
                    "name_it": indicator.name.it,
                    "name_en": indicator.name.en,
                    "unit_it": indicator.unit.it,
                    "unit_en": indicator.unit.en,
                    "kind": indicator.kind,
                    "accumulation": indicator.accumulation,
                    "breakdowns": [b.model_dump(mode="json") for b in indicator.breakdowns],
                    "target_required": indicator.target_required,
                    "suppress_below": indicator.suppress_below,
                    "note": indicator.note,
                },
            )
            for ordinal, indicator in enumerate(spec.indicators, start=1)
        ),
    )
    await loader.upsert_children(
        MeasurePhase,
        lambda: repo.list_measure_phases(loader.session, measure.id),
        lambda row: row.ordinal,
        (
            (
                ordinal,
                {
                    "measure_id": measure.id,
                    "ordinal": ordinal,
                    "code": phase.code,
                    "title_it": phase.title.it,
                    "title_en": phase.title.en,
                    "description_it": phase.description.it if phase.description else None,
                    "description_en": phase.description.en if phase.description else None,
                },
            )
            for ordinal, phase in enumerate(spec.phases, start=1)
        ),
    )
    await loader.upsert_children(
        ThematicArea,
        lambda: repo.list_thematic_areas(loader.session, measure.id),
        lambda row: row.code,
        (
            (
                area.code,
                {
                    "measure_id": measure.id,
                    "ordinal": ordinal,
                    "code": area.code,
                    "title_it": area.title.it,
                    "title_en": area.title.en,
                },
            )
            for ordinal, area in enumerate(spec.thematic_areas, start=1)
        ),
    )
    terms = spec.payment_terms
    await loader.upsert(
        PaymentTerms,
        await repo.get_payment_terms(loader.session, measure.id),
        {
            "measure_id": measure.id,
            "acceptance_days": terms.acceptance_days,
            "advance_share_pct": terms.advance_share_pct,
            "interim_payments": terms.interim_payments,
            "retention_share_pct": terms.retention_share_pct,
            "cost_categories": list(terms.cost_categories),
            "recovery_days": terms.recovery_days,
        },
    )
    await loader.upsert_children(
        DocumentKind,
        lambda: repo.list_document_kinds(loader.session, measure.id),
        lambda row: (row.owner_type, row.code),
        (
            (
                (kind.owner, kind.code),
                {
                    "measure_id": measure.id,
                    "owner_type": kind.owner,
                    "code": kind.code,
                    "ordinal": ordinal,
                    "title_it": kind.title.it,
                    "title_en": kind.title.en,
                    "required": kind.required,
                    "max_count": kind.max_count,
                    "max_bytes": kind.max_bytes,
                    "media_types": list(kind.media_types),
                    "note": kind.note,
                },
            )
            for ordinal, kind in enumerate(spec.document_kinds, start=1)
        ),
    )
    return measure


async def write_lines(
    loader: RowWriter, measure: Measure, specs: list[LineSpec]
) -> list[MeasureLine]:
    return await loader.upsert_children(
        MeasureLine,
        lambda: repo.list_lines(loader.session, measure.id),
        lambda row: row.number,
        (
            (
                line.number,
                {
                    "measure_id": measure.id,
                    "number": line.number,
                    "code": line.code,
                    "title_it": line.title.it,
                    "title_en": line.title.en,
                    "description_it": line.description.it,
                    "description_en": line.description.en,
                    "min_project_cost": line.min_project_cost,
                    "max_project_cost": line.max_project_cost,
                    **_eligibility(line.eligibility),
                },
            )
            for line in specs
        ),
    )


async def write_call(
    loader: RowWriter,
    measure: Measure,
    lines: dict[tuple[str, int], MeasureLine],
    spec: CallSpec,
) -> Call:
    session = loader.session
    existing = await call_repo.get_call_by_code(session, spec.code)
    if existing is not None and existing.measure_id != measure.id:
        # Call codes are unique across programmes; moving a call would move its grants out
        # of the counters of the measure (and programme) that hold them.
        raise InvalidReferenceData(
            msg(
                "Call code {spec_code} already belongs to another measure; call codes "
                "are unique across programmes and a call never changes measure.",
                spec_code=spec.code,
            )
        )
    call = await loader.upsert(
        Call,
        existing,
        {
            "measure_id": measure.id,
            "line_id": lines[(measure.code, spec.line)].id if spec.line is not None else None,
            "code": spec.code,
            "title_it": spec.title.it,
            "title_en": spec.title.en,
            "status": spec.status,
            "selection_method": spec.selection_method,
            "published_on": spec.published_on,
            "dates_note": spec.dates_note,
            "budget": spec.budget,
            "waiting_list_length": spec.waiting_list_length,
            "partial_last_grant": spec.partial_last_grant,
            "de_minimis_regulation": spec.de_minimis_regulation,
            "advance_guarantee_required": spec.advance_guarantee_required,
        },
    )
    await loader.upsert_children(
        CallPhase,
        lambda: call_repo.list_call_phases(session, call.id),
        lambda row: row.ordinal,
        (
            (
                ordinal,
                {
                    "call_id": call.id,
                    "ordinal": ordinal,
                    "kind": phase.kind,
                    "opens_at": phase.opens_at,
                    "closes_at": phase.closes_at,
                },
            )
            for ordinal, phase in enumerate(spec.phases, start=1)
        ),
    )
    await loader.upsert_children(
        CallParticipationLimit,
        lambda: call_repo.list_participation_limits(session, call.id),
        lambda row: row.legal_nature,
        (
            (
                limit.legal_nature,
                {
                    "call_id": call.id,
                    "legal_nature": limit.legal_nature,
                    "max_projects": limit.max_projects,
                },
            )
            for limit in spec.participation_limits
        ),
    )
    if spec.scoring_grid is not None and await scoring.set_grid(session, call, spec.scoring_grid):
        loader.report.updated += 1
    return call
