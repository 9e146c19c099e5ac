"""Indicators and monitoring (issue 20), on both databases: definitions loaded as data,
targets required at submission (and in its dry run), project dates and the overdue list,
versioned monitoring reports and their checks, totals equal to the sums of accepted
reports (a property over random reports), the CSV export's layout and the public totals
with small cells suppressed at the exact threshold."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.v1.indicators import CSV_HEADER
from app.core import clock
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus, NarrativeLanguage, ReportStatus
from app.models import (
    AuditEvent,
    Indicator,
    IndicatorTargets,
    Measure,
    MonitoringReport,
    MonitoringTerms,
)
from app.services.indicators import suppress
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests.actors import Actor, user_actor
from tests.api.v1.flows import problem
from tests.world import AGE_BANDS, Funded, approved, budget, funded, open_window, with_indicators

SECOND_FILE = Path(__file__).resolve().parents[2] / "data" / "second_programme.yaml"


def figures(code: str, visits: int = 4, people: tuple[int, int, int] = (1, 2, 3), kept: int = 0):  # type: ignore[no-untyped-def]
    return {
        f"{code}-VISITS": {"total": visits},
        f"{code}-PEOPLE": {
            "total": sum(people),
            "breakdowns": {"age_band": dict(zip(AGE_BANDS, people, strict=True))},
        },
        f"{code}-KEPT": {"total": kept},
    }


class TestReferenceData:
    async def test_the_second_programme_brings_its_own_indicators_and_a_reload_changes_nothing(
        self, session: AsyncSession
    ) -> None:
        data = read_reference_file(SECOND_FILE)
        await load_reference_data(session, data)
        care = await session.scalar(select(Measure).where(Measure.code == "CARE"))
        assert care is not None
        terms = await session.scalar(
            select(MonitoringTerms).where(MonitoringTerms.measure_id == care.id)
        )
        assert terms is not None
        assert terms.period_months == 3
        rows = (
            await session.scalars(
                select(Indicator).where(Indicator.measure_id == care.id).order_by(Indicator.ordinal)
            )
        ).all()
        assert [r.code for r in rows] == ["CARE-VISITS", "CARE-PEOPLE", "CARE-KEPT"]
        people = rows[1]
        assert people.breakdowns[0]["categories"] == ["under_18", "adult", "over_65"]
        assert (people.suppress_below, people.target_required) == (3, True)
        assert str(rows[0].accumulation) == "per_period"
        again = await load_reference_data(session, data)
        assert not again.changed

    def test_wecare_names_eu_codes_only_with_their_act_and_gives_no_period(self) -> None:
        programme = read_reference_file(WECARE_FILE).programme
        indicators = [i for m in programme.measures for i in m.indicators]
        assert {m.code for m in programme.measures if m.indicators} == {
            "FSE1",
            "FSE2",
            "FSE3",
            "FESR",
            "FSE4",
        }
        for measure in programme.measures:
            # The source gives no reporting period: null, "not given by the source".
            assert measure.monitoring_period_months is None
            for indicator in measure.indicators:
                assert indicator.code.startswith(f"{measure.code}-")
                if indicator.eu_code is not None:
                    fund_act = "1304/2013" if measure.fund == "FSE" else "1301/2013"
                    assert indicator.eu_code_basis is not None
                    assert fund_act in indicator.eu_code_basis
        people = [i for i in indicators if i.unit.en == "people"]
        assert people
        assert all(b.categories == ["women", "men", "other"] for i in people for b in i.breakdowns)


async def _draft(
    session: AsyncSession, settings: Settings
) -> tuple[str, Actor, dict[str, Indicator]]:
    world = await budget(session, total=1_000_000, code=f"T{uuid.uuid4().hex[:5]}")
    open_window(session, world)
    made = await with_indicators(session, world.measure)
    draft = await approved(session, world, requested=1_000, status=ApplicationStatus.DRAFT)
    assert draft.applicant_organisation_id is not None
    user = await user_actor(
        session, settings, Role.APPLICANT, organisation_ids=[draft.applicant_organisation_id]
    )
    return f"/api/v1/applications/{draft.id}", user, made


class TestTargets:
    async def test_submission_refused_naming_the_missing_targets_and_the_dry_run_says_so(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        path, user, made = await _draft(session, settings)
        code = made["VISITS"].code.rsplit("-", 1)[0]

        async def etag() -> dict[str, str]:
            read = await client.get(path, headers=user.headers)
            return {**user.headers, "If-Match": read.headers["etag"]}

        dry = await client.post(f"{path}/submit?dry_run=true", headers=await etag())
        assert dry.status_code == 200, dry.text
        found = [v for v in dry.json()["violations"] if v["rule"] == "indicator_targets_missing"]
        assert found[0]["figures"]["missing"] == [f"{code}-VISITS", f"{code}-PEOPLE"]
        body = problem(
            await client.post(f"{path}/submit", headers=await etag()),
            409,
            "indicator_targets_missing",
        )
        assert body["missing"] == [f"{code}-VISITS", f"{code}-PEOPLE"]

        one = {f"{code}-VISITS": {"total": 40}}
        put = await client.put(
            f"{path}/indicator-targets", json={"figures": one}, headers=user.headers
        )
        assert put.status_code == 200, put.text
        assert put.json()["missing"] == [f"{code}-PEOPLE"]
        body = problem(
            await client.post(f"{path}/submit", headers=await etag()),
            409,
            "indicator_targets_missing",
        )
        assert body["missing"] == [f"{code}-PEOPLE"]

        both = {**one, f"{code}-PEOPLE": {"total": 30}}  # a target may leave breakdowns out
        put = await client.put(
            f"{path}/indicator-targets", json={"figures": both}, headers=user.headers
        )
        assert put.json()["missing"] == []
        submitted = await client.post(f"{path}/submit", headers=await etag())
        assert submitted.status_code == 200, submitted.text
        # Submitted: the targets no longer change.
        problem(
            await client.put(
                f"{path}/indicator-targets", json={"figures": both}, headers=user.headers
            ),
            409,
            "illegal_transition",
        )
        events = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "application.set_indicator_targets")
        )
        assert events == 2

    @pytest.mark.parametrize(
        "bad",
        [
            {"NOPE": {"total": 1}},
            {"{code}-PEOPLE": {"total": 5, "breakdowns": {"age_band": {"under_18": 1}}}},
            {
                "{code}-PEOPLE": {
                    "total": 5,
                    "breakdowns": {"age_band": {"under_18": 1, "adult": 1, "over_65": 1}},
                }
            },
            {"{code}-VISITS": {"total": 5, "breakdowns": {"gender": {"women": 5}}}},
        ],
    )
    async def test_figures_that_do_not_fit_the_definitions_are_refused_and_nothing_is_written(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        settings: Settings,
        bad: dict[str, Any],
    ) -> None:
        path, user, made = await _draft(session, settings)
        code = made["VISITS"].code.rsplit("-", 1)[0]
        body = {key.replace("{code}", code): value for key, value in bad.items()}
        response = await client.put(
            f"{path}/indicator-targets", json={"figures": body}, headers=user.headers
        )
        problem(response, 409, "indicator_values_invalid")
        read = await client.get(f"{path}/indicator-targets", headers=user.headers)
        assert read.json()["figures"] == {}

    async def test_another_applicant_sees_nothing(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        path, _, _ = await _draft(session, settings)
        stranger = await user_actor(session, settings, Role.APPLICANT)
        for response in (
            await client.get(f"{path}/indicator-targets", headers=stranger.headers),
            await client.put(
                f"{path}/indicator-targets", json={"figures": {}}, headers=stranger.headers
            ),
        ):
            problem(response, 404, "not_found")


class Desk:
    """A funded project with the made-up indicators, its beneficiary, an officer and a
    stranger (another applicant)."""

    def __init__(self, client: httpx.AsyncClient, grant: Funded, people: dict[str, Actor]):
        self.client, self.grant, self.people = client, grant, people
        self.allocation = f"/api/v1/allocations/{grant.allocation.id}"
        self.code = grant.world.measure.code

    async def dates(self, starts_on: date, planned_end_on: date) -> httpx.Response:
        return await self.client.put(
            f"{self.allocation}/project-dates",
            json={"starts_on": starts_on.isoformat(), "planned_end_on": planned_end_on.isoformat()},
            headers=self.people["officer"].headers,
        )

    async def file(self, period: int = 1, final: bool = False, **values: Any) -> httpx.Response:
        body = {
            "period": period,
            "final": final,
            "figures": figures(self.code, **values),
            "milestones": ["Avvio del servizio"],
            "narrative": "Il servizio è attivo.",
            "narrative_language": "it",
        }
        return await self.client.post(
            f"{self.allocation}/monitoring-reports",
            json=body,
            headers=self.people["beneficiary"].headers,
        )

    async def check(self, report_id: str, **body: str) -> httpx.Response:
        path = f"/api/v1/monitoring-reports/{report_id}"
        read = await self.client.get(path, headers=self.people["officer"].headers)
        assert read.status_code == 200, read.text
        return await self.client.post(
            f"{path}/check",
            json=body,
            headers={**self.people["officer"].headers, "If-Match": read.headers["etag"]},
        )


@pytest.fixture
async def desk(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Desk:
    grant = await funded(session, code=f"M{uuid.uuid4().hex[:5]}")
    await with_indicators(session, grant.world.measure)
    people = {
        "beneficiary": await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[grant.organisation_id]
        ),
        "stranger": await user_actor(session, settings, Role.APPLICANT),
        "officer": await user_actor(session, settings, Role.OFFICER),
    }
    return Desk(client, grant, people)


class TestReports:
    async def test_versions_are_kept_and_only_the_latest_is_checked(
        self, desk: Desk, session: AsyncSession
    ) -> None:
        problem(await desk.file(), 409, "project_dates_not_set")
        today = clock.today()
        refused = await desk.client.put(
            f"{desk.allocation}/project-dates",
            json={"starts_on": today.isoformat(), "planned_end_on": today.isoformat()},
            headers=desk.people["beneficiary"].headers,
        )
        problem(refused, 403, "insufficient_scope")
        assert (await desk.dates(today, today + timedelta(days=365))).status_code == 200

        first = await desk.file(visits=3)
        assert first.status_code == 201, first.text
        one = first.json()
        assert (one["revision"], one["status"], one["period_start"]) == (
            1,
            "pending",
            today.isoformat(),
        )
        stranger = desk.people["stranger"].headers
        path = f"/api/v1/monitoring-reports/{one['id']}"
        problem(await desk.client.get(path, headers=stranger), 404, "not_found")
        for elsewhere in ("monitoring-reports", "project-dates"):
            problem(
                await desk.client.get(f"{desk.allocation}/{elsewhere}", headers=stranger),
                404,
                "not_found",
            )
        stranger_filing = await desk.client.post(
            f"{desk.allocation}/monitoring-reports",
            json={"period": 1, "figures": {}, "narrative": "x", "narrative_language": "en"},
            headers=stranger,
        )
        problem(stranger_filing, 404, "not_found")

        second = (await desk.file(visits=5)).json()  # a correction: the next revision
        assert (second["period"], second["revision"]) == (1, 2)
        problem(
            await desk.check(one["id"], outcome="accepted"), 409, "monitoring_report_superseded"
        )
        no_reason = await desk.check(second["id"], outcome="returned")
        assert no_reason.status_code == 422
        returned = await desk.check(second["id"], outcome="returned", reason="Età mancante.")
        assert returned.status_code == 200, returned.text
        assert returned.json()["return_reason"] == "Età mancante."

        third = (await desk.file(visits=6)).json()
        accepted = await desk.check(third["id"], outcome="accepted")
        assert accepted.json()["status"] == "accepted"
        problem(
            await desk.check(third["id"], outcome="accepted"),
            409,
            "monitoring_report_already_checked",
        )

        listed = await desk.client.get(
            f"{desk.allocation}/monitoring-reports",
            headers=desk.people["beneficiary"].headers,
        )
        revisions = [(r["revision"], r["status"]) for r in listed.json()["items"]]
        assert revisions == [(1, "pending"), (2, "returned"), (3, "accepted")]
        assert listed.json()["items"][0]["figures"][f"{desk.code}-VISITS"]["total"] == 3

        counts = dict(
            (
                await session.execute(
                    select(AuditEvent.action, func.count())
                    .where(AuditEvent.action.like("monitoring_report.%"))
                    .group_by(AuditEvent.action)
                )
            ).all()
        )
        assert counts == {"monitoring_report.file": 3, "monitoring_report.check": 2}

    async def test_a_period_not_started_and_incomplete_figures_are_refused(
        self, desk: Desk, session: AsyncSession
    ) -> None:
        today = clock.today()
        await desk.dates(today, today + timedelta(days=365))
        problem(await desk.file(period=2), 422, "report_period_invalid")
        body = {
            "period": 1,
            "figures": {f"{desk.code}-VISITS": {"total": 1}},
            "narrative": "Started.",
            "narrative_language": "en",
        }
        missing = await desk.client.post(
            f"{desk.allocation}/monitoring-reports",
            json=body,
            headers=desk.people["beneficiary"].headers,
        )
        problem(missing, 409, "indicator_values_invalid")
        assert await session.scalar(select(func.count()).select_from(MonitoringReport)) == 0

    async def test_no_report_until_the_measure_s_period_is_set(
        self, desk: Desk, session: AsyncSession
    ) -> None:
        await session.execute(
            update(MonitoringTerms)
            .where(MonitoringTerms.measure_id == desk.grant.world.measure.id)
            .values(period_months=None)
        )
        await desk.dates(clock.today(), clock.today() + timedelta(days=30))
        problem(await desk.file(), 409, "monitoring_period_not_given")


class TestOverdue:
    async def test_past_its_planned_end_without_an_accepted_final_report_is_listed(
        self, desk: Desk
    ) -> None:
        today = clock.today()
        await desk.dates(today - timedelta(days=200), today - timedelta(days=1))
        officer = desk.people["officer"].headers
        programme = desk.grant.world.programme.id
        query = f"/api/v1/project-dates?overdue=true&programme_id={programme}"
        listed = (await desk.client.get(query, headers=officer)).json()["items"]
        assert [i["allocation_id"] for i in listed] == [str(desk.grant.allocation.id)]
        assert listed[0]["overdue"] is True
        problem(
            await desk.client.get(query, headers=desk.people["beneficiary"].headers),
            403,
            "forbidden",
        )
        # A final report filed but not yet accepted: still overdue.
        final = (await desk.file(period=2, final=True)).json()
        assert (await desk.client.get(query, headers=officer)).json()["items"] != []
        await desk.check(final["id"], outcome="accepted")
        assert (await desk.client.get(query, headers=officer)).json()["items"] == []
        dates = await desk.client.get(
            f"{desk.allocation}/project-dates", headers=desk.people["beneficiary"].headers
        )
        assert dates.json()["overdue"] is False
        assert dates.json()["final_report_accepted"] is True


def _expected(projects: list[list[tuple[int, str, int, tuple[int, int, int]]]]) -> dict[Any, int]:
    """Independently: per project and period the highest accepted revision; VISITS sums
    the periods, PEOPLE (cumulative) takes the latest period's; then the projects add up."""
    totals: dict[Any, int] = {}
    for reports in projects:
        best: dict[int, tuple[int, tuple[int, int, int]]] = {}
        for period, status, visits, people in reports:
            if status == "accepted":
                best[period] = (visits, people)  # later revisions come later
        if not best:
            continue
        visits_sum = sum(v for v, _ in best.values())
        latest_people = best[max(best)][1]
        cells: dict[tuple[str, str | None], int] = {
            ("VISITS", None): visits_sum,
            ("PEOPLE", None): sum(latest_people),
        }
        for band, value in zip(AGE_BANDS, latest_people, strict=True):
            cells[("PEOPLE", band)] = value
        for key, value in cells.items():
            totals[key] = totals.get(key, 0) + value
    return totals


APPLICANTS = itertools.count(1)
REPORTS = st.lists(
    st.tuples(
        st.integers(1, 3),
        st.sampled_from(["pending", "accepted", "returned"]),
        st.integers(0, 50),
        st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)),
    ),
    max_size=5,
)


class TestTotals:
    @settings(
        max_examples=8,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(projects=st.lists(REPORTS, min_size=1, max_size=3), targets=st.integers(0, 100))
    async def test_totals_equal_the_sums_of_accepted_reports(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        officer: Actor,
        projects: list[list[tuple[int, str, int, tuple[int, int, int]]]],
        targets: int,
    ) -> None:
        # Each example makes its own programme in the test's one transaction: its
        # applicants need tax codes no earlier example took.
        grant = await funded(session, code=f"H{uuid.uuid4().hex[:6]}", n=next(APPLICANTS))
        world = grant.world
        made = await with_indicators(session, world.measure)
        grants = [grant] + [
            await funded(session, world=world, n=next(APPLICANTS)) for _ in projects[1:]
        ]
        today = clock.today()
        for one, reports in zip(grants, projects, strict=True):
            session.add(
                IndicatorTargets(
                    id=uuid.uuid4(),
                    application_id=one.application.id,
                    figures={made["VISITS"].code: {"total": targets, "breakdowns": {}}},
                    set_by="test",
                )
            )
            revision: dict[int, int] = {}
            for period, status, visits, people in reports:
                revision[period] = revision.get(period, 0) + 1
                session.add(
                    MonitoringReport(
                        id=uuid.uuid4(),
                        allocation_id=one.allocation.id,
                        period=period,
                        revision=revision[period],
                        period_start=today,
                        period_end=today,
                        final=False,
                        figures={
                            made["VISITS"].code: {"total": visits, "breakdowns": {}},
                            made["PEOPLE"].code: {
                                "total": sum(people),
                                "breakdowns": {
                                    "age_band": dict(zip(AGE_BANDS, people, strict=True))
                                },
                            },
                            made["KEPT"].code: {"total": 0, "breakdowns": {}},
                        },
                        milestones=[],
                        narrative="-",
                        narrative_language=NarrativeLanguage.EN,
                        status=ReportStatus(status),
                        filed_by="test",
                        checked_at=None if status == "pending" else grant.allocation.granted_at,
                        checked_by=None if status == "pending" else "officer",
                        return_reason="No." if status == "returned" else None,
                    )
                )
        await session.flush()
        response = await client.get(
            f"/api/v1/programmes/{world.programme.id}/indicators", headers=officer.headers
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        expected = _expected(projects)
        prefix = world.measure.code + "-"
        got = {
            (i["indicator_code"].removeprefix(prefix), i["category"]): i["achieved"]
            for i in items
            if i["indicator_code"] != made["KEPT"].code
        }
        for key, value in expected.items():
            assert got[key] == value, (key, got, expected)
        assert all(value == 0 for key, value in got.items() if key not in expected)
        visits_target = [i["target"] for i in items if i["indicator_code"] == made["VISITS"].code]
        assert visits_target == [targets * len(projects)]
        assert {i["group_id"] for i in items} == {str(world.measure.id)}


async def _accepted(desk: Desk, people: tuple[int, int, int]) -> None:
    await desk.dates(clock.today(), clock.today() + timedelta(days=90))
    report = (await desk.file(people=people)).json()
    assert (await desk.check(report["id"], outcome="accepted")).status_code == 200


class TestExport:
    async def test_the_csv_has_the_documented_columns_and_the_json_s_figures(
        self, desk: Desk
    ) -> None:
        await _accepted(desk, (4, 5, 6))
        officer = desk.people["officer"].headers
        programme = desk.grant.world.programme.id
        for by in ("measure", "call", "district"):
            base = f"/api/v1/programmes/{programme}/indicators"
            as_json = (await desk.client.get(f"{base}?by={by}", headers=officer)).json()
            exported = await desk.client.get(f"{base}.csv?by={by}", headers=officer)
            assert exported.headers["content-type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(exported.text)))
            assert tuple(rows[0]) == CSV_HEADER
            assert len(rows) - 1 == len(as_json["items"])
            for row, item in zip(rows[1:], as_json["items"], strict=True):
                assert row[0] == by
                assert row[4] == item["indicator_code"]
                assert (int(row[8]), int(row[9])) == (item["target"], item["achieved"])
        people = [
            i
            for i in as_json["items"]
            if i["indicator_code"] == f"{desk.code}-PEOPLE" and i["category"] == "adult"
        ]
        assert people[0]["achieved"] == 5
        assert people[0]["group_id"] is None  # by district: the grant has none
        problem(
            await desk.client.get(
                f"/api/v1/programmes/{programme}/indicators",
                headers=desk.people["beneficiary"].headers,
            ),
            403,
            "forbidden",
        )


class TestPublicView:
    def test_suppression_at_the_threshold(self) -> None:
        # Two small cells: each hidden, the one at the threshold shown.
        cells = suppress([("age", "a", 2), ("age", "b", 3), ("age", "c", 1)], 3)
        assert [(c.value, c.suppressed) for c in cells] == [(None, True), (3, False), (None, True)]
        # One small cell: the next smallest hidden too (else total minus the rest gives it).
        cells = suppress([("age", "a", 2), ("age", "b", 3), ("age", "c", 9)], 3)
        assert [c.suppressed for c in cells] == [True, True, False]
        # Zero identifies nobody; nothing below the threshold, nothing hidden.
        cells = suppress([("age", "a", 0), ("age", "b", 3), ("age", "c", 4)], 3)
        assert [c.value for c in cells] == [0, 3, 4]

    async def test_anonymous_totals_hide_small_cells(self, desk: Desk) -> None:
        await _accepted(desk, (2, 3, 1))  # threshold 3: 2 and 1 hidden, 3 shown
        measure = desk.grant.world.measure.id
        response = await desk.client.get(f"/api/v1/measures/{measure}/indicators")
        assert response.status_code == 200, response.text
        people = next(
            i
            for i in response.json()["indicators"]
            if i["definition"]["code"] == f"{desk.code}-PEOPLE"
        )
        assert people["achieved"] == 6
        assert [(c["category"], c["value"]) for c in people["cells"]] == [
            ("under_18", None),
            ("adult", 3),
            ("over_65", None),
        ]
        visits = next(
            i
            for i in response.json()["indicators"]
            if i["definition"]["code"] == f"{desk.code}-VISITS"
        )
        assert visits["achieved"] == 4
