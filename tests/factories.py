"""Builders for test data (plain functions, no magic)."""

from __future__ import annotations

import uuid

from app.core.domain import ApplicantForm, LegalNature, PiemonteProvince, ProfitStatus, SizeClass
from app.services.eligibility import ApplicantFacts, OrganisationFacts


def org(
    nature: LegalNature,
    *,
    profit: ProfitStatus = ProfitStatus.NON_PROFIT,
    size: SizeClass | None = None,
    province: PiemonteProvince | None = PiemonteProvince.TO,
    accompaniment: bool = False,
    name: str | None = None,
) -> OrganisationFacts:
    return OrganisationFacts(
        id=uuid.uuid4(),
        name=name or f"{nature} {uuid.uuid4().hex[:4]}",
        legal_nature=nature,
        profit_status=profit,
        size_class=size,
        province=province,
        accompaniment_experience=accompaniment,
    )


def single(organisation: OrganisationFacts) -> ApplicantFacts:
    return ApplicantFacts(form=ApplicantForm.ORGANISATION, lead=organisation)


def partnership(lead: OrganisationFacts, *partners: OrganisationFacts) -> ApplicantFacts:
    return ApplicantFacts(form=ApplicantForm.PARTNERSHIP, lead=lead, members=(lead, *partners))
