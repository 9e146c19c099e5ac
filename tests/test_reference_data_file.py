"""The WECARE reference-data file: valid, and faithful to the region's own document.

The expected figures are written out here, from the source document
(seed/wecare-strategy-piemonte.txt) and the FSE1 call of 2 November 2017, so that a
change to the data file has to be a deliberate change to this test as well.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from app.core.domain import LegalNature, PhaseKind, ProfitStatus, SelectionMethod, SizeClass
from app.schemas.reference_data import MeasureSpec, ReferenceDataFile

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "programmes" / "wecare.yaml"
# The region's own document, kept in the repository next to the data derived from it.
SOURCE_DOCUMENT = (
    Path(__file__).resolve().parents[1] / "data" / "sources" / "wecare-strategy-piemonte.txt"
)

ROME_WINTER = timezone(timedelta(hours=1))
DASH = " \N{EN DASH} "  # how the data joins the two parts of a title

TOTAL = Decimal("20000000.00")
MEASURE_CODES = ["FSE1", "FSE2", "FSE3", "FESR", "FSE4"]
MEASURE_BUDGETS = {
    "FSE1": Decimal("6400000.00"),
    "FSE2": Decimal("3600000.00"),
    "FSE3": Decimal("4000000.00"),
    "FESR": Decimal("5000000.00"),
    "FSE4": Decimal("1000000.00"),
}
# Italian titles as in the document's table of measures (FSE4: "Azione di sistema", with
# the name of its own section, "Accompagnamento").
MEASURE_TITLES_IT = {
    "FSE1": "Sperimentazione di azioni innovative di welfare territoriale",
    "FSE2": "Progetti di innovazione sociale per il terzo settore",
    "FSE3": "Promozione del welfare aziendale",
    "FESR": (
        "Rafforzamento di attività imprenditoriali che producono effetti socialmente desiderabili"
    ),
    "FSE4": f"Azione di sistema{DASH}Accompagnamento",
}


def _collapse(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def raw_data() -> dict[str, Any]:
    loaded: object = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def data(raw_data: dict[str, Any]) -> ReferenceDataFile:
    return ReferenceDataFile.model_validate(raw_data)


@pytest.fixture(scope="module")
def source_text() -> str:
    return _collapse(SOURCE_DOCUMENT.read_text(encoding="utf-8"))


def _measure(data: ReferenceDataFile, code: str) -> MeasureSpec:
    for measure in data.programme.measures:
        if measure.code == code:
            return measure
    raise AssertionError(f"measure {code} missing")


def test_file_is_the_wecare_programme(data: ReferenceDataFile) -> None:
    assert data.format_version == 1
    assert data.programme.code == "WECARE"
    assert data.programme.currency == "EUR"
    assert len(data.programme.principles) == 5


def test_five_measures_in_order(data: ReferenceDataFile) -> None:
    assert [m.code for m in data.programme.measures] == MEASURE_CODES


@pytest.mark.parametrize(("code", "budget"), list(MEASURE_BUDGETS.items()))
def test_measure_budget(data: ReferenceDataFile, code: str, budget: Decimal) -> None:
    assert _measure(data, code).budget == budget


def test_measure_budgets_add_up_to_the_programme_total(data: ReferenceDataFile) -> None:
    assert sum(MEASURE_BUDGETS.values(), Decimal("0.00")) == TOTAL
    assert data.programme.total_budget == TOTAL
    assert data.programme.measures_budget == TOTAL
    assert sum((m.budget for m in data.programme.measures), Decimal("0.00")) == TOTAL


def test_fse1_caps_and_two_stages(data: ReferenceDataFile) -> None:
    fse1 = _measure(data, "FSE1")
    assert fse1.max_funded_projects == 30
    assert fse1.one_per_district
    assert fse1.two_stage_submission
    assert [p.code for p in fse1.phases] == ["preliminary", "executive"]
    assert fse1.eligibility is not None
    assert fse1.eligibility.lead_must_be_district_lead
    assert fse1.eligibility.min_required_members == 1
    assert LegalNature.THIRD_SECTOR_ORGANISATION in fse1.eligibility.required_member_natures
    assert fse1.eligibility.required_members_in_piemonte


def test_fesr_lines(data: ReferenceDataFile) -> None:
    fesr = _measure(data, "FESR")
    assert fesr.eligibility is None
    line1, line2 = fesr.lines
    assert (line1.number, line2.number) == (1, 2)

    assert line1.min_project_cost == Decimal("1000000.00")
    assert line1.max_project_cost is None
    assert line1.eligibility.profit_statuses == [ProfitStatus.NON_PROFIT]
    assert set(line1.eligibility.size_classes) == {
        SizeClass.MICRO,
        SizeClass.SMALL,
        SizeClass.MEDIUM,
    }

    assert line2.max_project_cost == Decimal("100000.00")
    assert line2.min_project_cost is None
    assert set(line2.eligibility.size_classes) == {SizeClass.MICRO, SizeClass.SMALL}
    assert line2.eligibility.profit_statuses == []  # profit and non-profit alike


def test_fesr_themes(data: ReferenceDataFile) -> None:
    assert [t.code for t in _measure(data, "FESR").thematic_areas] == [
        "health-wellbeing",
        "demographic-change",
        "poverty-social-exclusion",
    ]


def test_fse4_accompaniment(data: ReferenceDataFile) -> None:
    fse4 = _measure(data, "FSE4")
    assert fse4.eligibility is not None
    assert fse4.eligibility.requires_accompaniment_experience
    assert len(fse4.phases) == 2


def test_call_budgets_match_and_never_exceed_their_measure(data: ReferenceDataFile) -> None:
    calls = data.programme.calls
    assert sorted(c.measure for c in calls) == sorted(MEASURE_CODES)
    shares: dict[str, Decimal] = {}
    for call in calls:
        assert call.budget == MEASURE_BUDGETS[call.measure], call.code
        shares[call.measure] = shares.get(call.measure, Decimal("0.00")) + call.budget
    for code, share in shares.items():
        assert share <= _measure(data, code).budget, code


def test_fse1_call(data: ReferenceDataFile) -> None:
    (call,) = [c for c in data.programme.calls if c.code == "WECARE-FSE1-2017"]
    assert [p.kind for p in call.phases] == [PhaseKind.PRELIMINARY, PhaseKind.EXECUTIVE]
    limits = {lim.legal_nature: lim.max_projects for lim in call.participation_limits}
    assert limits[LegalNature.THIRD_SECTOR_ORGANISATION] == 2


def test_fesr_call_closed_on_21_february_2020(data: ReferenceDataFile) -> None:
    (call,) = [c for c in data.programme.calls if c.measure == "FESR"]
    assert call.line is None
    assert call.phases[-1].closes_at == datetime(2020, 2, 22, tzinfo=ROME_WINTER)


@pytest.mark.parametrize(("code", "title"), list(MEASURE_TITLES_IT.items()))
def test_italian_titles_come_from_the_source_document(
    data: ReferenceDataFile, source_text: str, code: str, title: str
) -> None:
    assert _measure(data, code).title.it == title
    for part in title.split(DASH):
        assert _collapse(part) in source_text, part


def test_three_decimals_are_refused(raw_data: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw_data)
    broken["programme"]["measures"][0]["budget"] = "6400000.001"
    with pytest.raises(ValidationError, match="more than two decimals"):
        ReferenceDataFile.model_validate(broken)


def test_negative_budget_is_refused(raw_data: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw_data)
    broken["programme"]["measures"][0]["budget"] = "-1.00"
    with pytest.raises(ValidationError, match="negative"):
        ReferenceDataFile.model_validate(broken)


def test_fse1_ranks_on_a_grid_whose_figures_the_source_does_not_give(
    data: ReferenceDataFile, source_text: str
) -> None:
    """The source names the qualities projects must show, never a score: every figure of
    the FSE1 grid is null ("not given by the source"), so the grid is incomplete."""
    (call,) = [c for c in data.programme.calls if c.code == "WECARE-FSE1-2017"]
    assert call.selection_method is SelectionMethod.RANKING
    grid = call.scoring_grid
    assert grid is not None
    for criterion in grid.criteria:
        assert _collapse(criterion.name.it.lower()) in source_text.lower(), criterion.name.it
        assert (criterion.max_score, criterion.min_score) == (None, None)
    assert (grid.min_total, grid.reviewers_per_application, grid.combination) == (None,) * 3
    assert grid.tie_breaks == []
    assert grid.note is not None
    assert "not given by the source" in grid.note


def test_fesr_is_first_come_without_a_grid(data: ReferenceDataFile) -> None:
    (call,) = [c for c in data.programme.calls if c.measure == "FESR"]
    assert call.selection_method is SelectionMethod.FIRST_COME
    assert call.scoring_grid is None


def test_a_grid_on_a_first_come_call_is_refused(raw_data: dict[str, Any]) -> None:
    changed = copy.deepcopy(raw_data)
    fse1, fesr = (
        next(c for c in changed["programme"]["calls"] if c["code"] == code)
        for code in ("WECARE-FSE1-2017", "WECARE-FESR-2018")
    )
    fesr["scoring_grid"] = fse1["scoring_grid"]
    with pytest.raises(ValidationError, match="scoring_grid is for ranking calls"):
        ReferenceDataFile.model_validate(changed)


def test_fesr_has_no_waiting_list_limit_the_source_does_not_give_one(
    data: ReferenceDataFile,
) -> None:
    (call,) = [c for c in data.programme.calls if c.measure == "FESR"]
    assert call.waiting_list_length is None


def test_a_waiting_list_on_a_call_that_is_not_first_come_is_refused(
    raw_data: dict[str, Any],
) -> None:
    changed = copy.deepcopy(raw_data)
    fse1, fesr = (
        next(c for c in changed["programme"]["calls"] if c["code"] == code)
        for code in ("WECARE-FSE1-2017", "WECARE-FESR-2018")
    )
    fesr["waiting_list_length"] = 0
    ReferenceDataFile.model_validate(changed)
    fse1["waiting_list_length"] = 0
    with pytest.raises(ValidationError, match="waiting_list_length is for first-come calls"):
        ReferenceDataFile.model_validate(changed)
