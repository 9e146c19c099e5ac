"""Eligibility per measure and line, read from the data (never from measure codes).

A pure function of the rules (columns of a measure or line) and of the facts about the
applicant and the project: the same code judges WECARE and any other programme.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from app.core.domain import ApplicantForm, LegalNature, PiemonteProvince, ProfitStatus, SizeClass
from app.core.errors import Ineligible
from app.core.i18n import Joined, msg
from app.models.mixins import EligibilityMixin
from app.models.programme import Measure, MeasureLine


@dataclass(frozen=True)
class EligibilityRules:
    applicant_forms: frozenset[ApplicantForm]
    legal_natures: frozenset[LegalNature] = frozenset()
    size_classes: frozenset[SizeClass] = frozenset()
    profit_statuses: frozenset[ProfitStatus] = frozenset()
    requires_accompaniment_experience: bool = False
    lead_must_be_district_lead: bool = False
    required_member_natures: frozenset[LegalNature] = frozenset()
    min_required_members: int = 0
    required_members_in_piemonte: bool = False
    min_project_cost: Decimal | None = None
    max_project_cost: Decimal | None = None

    @classmethod
    def of(cls, measure: Measure, line: MeasureLine | None = None) -> EligibilityRules:
        """The rules that apply: the line's when there is one, else the measure's."""
        source: EligibilityMixin = line if line is not None else measure
        return cls(
            applicant_forms=frozenset(ApplicantForm(v) for v in source.applicant_forms),
            legal_natures=frozenset(LegalNature(v) for v in source.eligible_legal_natures),
            size_classes=frozenset(SizeClass(v) for v in source.eligible_size_classes),
            profit_statuses=frozenset(ProfitStatus(v) for v in source.eligible_profit_statuses),
            requires_accompaniment_experience=source.requires_accompaniment_experience,
            lead_must_be_district_lead=source.lead_must_be_district_lead,
            required_member_natures=frozenset(
                LegalNature(v) for v in source.required_member_natures
            ),
            min_required_members=source.min_required_members,
            required_members_in_piemonte=source.required_members_in_piemonte,
            min_project_cost=line.min_project_cost if line else None,
            max_project_cost=line.max_project_cost if line else None,
        )


@dataclass(frozen=True)
class OrganisationFacts:
    id: uuid.UUID
    name: str
    legal_nature: LegalNature
    profit_status: ProfitStatus
    size_class: SizeClass | None
    province: PiemonteProvince | None
    accompaniment_experience: bool


@dataclass(frozen=True)
class ApplicantFacts:
    """A single organisation (``members == (lead,)``) or a partnership led by ``lead``."""

    form: ApplicantForm
    lead: OrganisationFacts
    members: tuple[OrganisationFacts, ...] = field(default=())

    @property
    def organisations(self) -> tuple[OrganisationFacts, ...]:
        return self.members or (self.lead,)


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str


def _names(values: Iterable[object]) -> str:
    return ", ".join(sorted(str(v) for v in values))


def evaluate(
    rules: EligibilityRules,
    applicant: ApplicantFacts,
    *,
    total_cost: Decimal,
    district_lead_organisation_id: uuid.UUID | None = None,
) -> list[Violation]:
    """Every condition the applicant or project fails; empty when eligible."""
    found: list[Violation] = []
    if not rules.applicant_forms:
        found.append(Violation("eligibility_line_required", msg("Apply through one of the lines.")))
    elif applicant.form not in rules.applicant_forms:
        found.append(
            Violation(
                "eligibility_applicant_form",
                msg(
                    "Applicants must be: {applicant_forms}; got {form}.",
                    applicant_forms=_names(rules.applicant_forms),
                    form=applicant.form,
                ),
            )
        )
    for org in applicant.organisations:
        if rules.legal_natures and org.legal_nature not in rules.legal_natures:
            found.append(
                Violation(
                    "eligibility_legal_nature",
                    msg(
                        "{org_name} is a {legal_nature}; eligible: {legal_natures}.",
                        org_name=org.name,
                        legal_nature=org.legal_nature,
                        legal_natures=_names(rules.legal_natures),
                    ),
                )
            )
        if rules.size_classes and org.size_class not in rules.size_classes:
            found.append(
                Violation(
                    "eligibility_size_class",
                    msg(
                        "{org_name} has size class {size_class}; eligible: {size_classes}.",
                        org_name=org.name,
                        size_class=org.size_class or "none",
                        size_classes=_names(rules.size_classes),
                    ),
                )
            )
        if rules.profit_statuses and org.profit_status not in rules.profit_statuses:
            found.append(
                Violation(
                    "eligibility_profit_status",
                    msg(
                        "{org_name} is {profit_status}; eligible: {profit_statuses}.",
                        org_name=org.name,
                        profit_status=org.profit_status,
                        profit_statuses=_names(rules.profit_statuses),
                    ),
                )
            )
    if rules.requires_accompaniment_experience and not applicant.lead.accompaniment_experience:
        found.append(
            Violation(
                "eligibility_accompaniment_experience",
                msg(
                    "{lead_name} has no experience in accompanying social innovation.",
                    lead_name=applicant.lead.name,
                ),
            )
        )
    if rules.lead_must_be_district_lead and (
        district_lead_organisation_id is None or applicant.lead.id != district_lead_organisation_id
    ):
        found.append(
            Violation(
                "eligibility_district_lead",
                msg(
                    "The lead must be the lead body of the application's social-cohesion district."
                ),
            )
        )
    if rules.min_required_members:
        qualifying = [
            org
            for org in applicant.organisations
            if org.legal_nature in rules.required_member_natures
            and (not rules.required_members_in_piemonte or org.province is not None)
        ]
        if len(qualifying) < rules.min_required_members:
            figures = {
                "min_required_members": rules.min_required_members,
                "required_member_natures": _names(rules.required_member_natures),
                "qualifying_count": len(qualifying),
            }
            found.append(
                Violation(
                    "eligibility_required_members",
                    msg(
                        "At least {min_required_members} member(s) of kind "
                        "{required_member_natures} based in Piemonte required; "
                        "found {qualifying_count}.",
                        **figures,
                    )
                    if rules.required_members_in_piemonte
                    else msg(
                        "At least {min_required_members} member(s) of kind "
                        "{required_member_natures} required; found {qualifying_count}.",
                        **figures,
                    ),
                )
            )
    if rules.min_project_cost is not None and total_cost < rules.min_project_cost:
        found.append(
            Violation(
                "line_min_project_cost",
                msg(
                    "The project value {total_cost} is below the line's minimum of "
                    "{min_project_cost}.",
                    total_cost=total_cost,
                    min_project_cost=rules.min_project_cost,
                ),
            )
        )
    if rules.max_project_cost is not None and total_cost > rules.max_project_cost:
        found.append(
            Violation(
                "line_max_project_cost",
                msg(
                    "The project value {total_cost} exceeds the line's maximum of "
                    "{max_project_cost}.",
                    total_cost=total_cost,
                    max_project_cost=rules.max_project_cost,
                ),
            )
        )
    return found


def check_eligible(
    rules: EligibilityRules,
    applicant: ApplicantFacts,
    *,
    total_cost: Decimal,
    district_lead_organisation_id: uuid.UUID | None = None,
) -> Ineligible | None:
    """The refusal listing every failed condition, or None when eligible."""
    violations = evaluate(
        rules,
        applicant,
        total_cost=total_cost,
        district_lead_organisation_id=district_lead_organisation_id,
    )
    if not violations:
        return None
    return Ineligible(
        Joined(" ", (v.detail for v in violations)),
        violations=[{"rule": v.rule, "detail": v.detail} for v in violations],
        project_value=total_cost,
    )


def ensure_eligible(
    rules: EligibilityRules,
    applicant: ApplicantFacts,
    *,
    total_cost: Decimal,
    district_lead_organisation_id: uuid.UUID | None = None,
) -> None:
    """Raise :class:`Ineligible` listing every failed condition, or return."""
    refusal = check_eligible(
        rules,
        applicant,
        total_cost=total_cost,
        district_lead_organisation_id=district_lead_organisation_id,
    )
    if refusal is not None:
        raise refusal
