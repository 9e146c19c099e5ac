"""Loading reference data: the WECARE programme, idempotence, caps checked before writing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli import main
from app.core.config import Settings, get_settings
from app.core.domain import DeMinimisRegulation, StateAidRegime
from app.core.errors import (
    BudgetBelowAllocated,
    InvalidReferenceData,
    MeasureCallsBudgetExceeded,
    ProgrammeMeasuresBudgetExceeded,
    ScoringGridLocked,
)
from app.db import migrations
from app.db.base import Base
from app.db.session import Database, create_engine
from app.models import Call, CallParticipationLimit, Measure, MeasureLine, Programme, ScoringGrid
from app.schemas.programme import MeasureUpdate
from app.schemas.reference_data import MixedTerms, ReferenceDataFile
from app.services.programmes import update_measure
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from app.services.scoring import grids_read
from tests.conftest import BACKENDS, create_database
from tests.world import MIXED_TERMS, cents, euros

SECOND_FILE = Path(__file__).resolve().parents[1] / "data" / "second_programme.yaml"
VOLATILE = {"id", "created_at", "updated_at"}
# Drawn at random by the seed on each database: the first signing key (its id and key
# material) and the first administrator's one-time password (stored only as its hash).
RANDOM = {"kid", "encrypted_private_key", "public_jwk", "password_hash"}


def _canonical(value: object) -> object:
    # JSONB stores object keys in its own order; compare JSON values by content.
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _variant(path: Path, change: Any) -> ReferenceDataFile:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw["programme"])
    return ReferenceDataFile.model_validate(raw)


async def snapshot(session: AsyncSession) -> dict[str, list[str]]:
    """Every row of every table, ids and timestamps left out, in a stable order."""
    dump: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name.startswith("audit_"):
            continue  # times and hashes differ by nature; the audit tests cover the trail
        rows = (await session.execute(select(table))).mappings().all()
        dump[table.name] = sorted(
            repr(
                sorted(
                    (k, _canonical(v))
                    for k, v in row.items()
                    if k not in VOLATILE | RANDOM and not k.endswith("_id")
                )
            )
            for row in rows
        )
    return dump


async def full_snapshot(session: AsyncSession) -> dict[str, list[str]]:
    """Every column, ids, versions and timestamps included."""
    dump: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table))).mappings().all()
        dump[table.name] = sorted(repr(sorted(row.items())) for row in rows)
    return dump


@pytest.fixture
async def wecare(session: AsyncSession) -> Programme:
    await load_reference_data(session, read_reference_file(WECARE_FILE))
    programme = await session.scalar(select(Programme).where(Programme.code == "WECARE"))
    assert programme is not None
    return programme


class TestWecare:
    async def test_programme_figures(self, session: AsyncSession, wecare: Programme) -> None:
        assert cents(wecare.total_budget) == 20_000_000_00
        assert cents(wecare.measures_budget) == 20_000_000_00
        assert cents(wecare.allocated) == 0
        measures = (await session.scalars(select(Measure).order_by(Measure.ordinal))).all()
        assert [(m.code, cents(m.budget), cents(m.calls_budget)) for m in measures] == [
            ("FSE1", 6_400_000_00, 6_400_000_00),
            ("FSE2", 3_600_000_00, 3_600_000_00),
            ("FSE3", 4_000_000_00, 4_000_000_00),
            ("FESR", 5_000_000_00, 5_000_000_00),
            ("FSE4", 1_000_000_00, 1_000_000_00),
        ]
        fse1 = measures[0]
        assert (fse1.max_funded_projects, fse1.one_per_district, fse1.two_stage_submission) == (
            30,
            True,
            True,
        )

    async def test_fesr_lines_and_the_fse1_participation_limit(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        lines = (await session.scalars(select(MeasureLine).order_by(MeasureLine.number))).all()
        assert [(ln.number, ln.min_project_cost, ln.max_project_cost) for ln in lines] == [
            (1, euros(1_000_000_00), None),
            (2, None, euros(100_000_00)),
        ]
        limit = await session.scalar(
            select(CallParticipationLimit)
            .join(Call, Call.id == CallParticipationLimit.call_id)
            .where(
                Call.code == "WECARE-FSE1-2017",
                CallParticipationLimit.legal_nature == "third_sector_organisation",
            )
        )
        assert limit is not None
        assert limit.max_projects == 2

    async def test_loading_twice_changes_nothing(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        before = await full_snapshot(session)
        report = await load_reference_data(session, read_reference_file(WECARE_FILE))
        assert not report.changed
        assert await full_snapshot(session) == before

    async def test_fesr_is_mixed_and_a_reload_keeps_the_terms_the_region_set(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        fesr = await session.scalar(select(Measure).where(Measure.code == "FESR"))
        assert fesr is not None
        assert fesr.instrument == "mixed"
        assert fesr.loan_terms is not None
        assert fesr.loan_terms["loan_share_bp"] is None  # not given by the source
        await update_measure(
            session, fesr, data=MeasureUpdate(mixed_terms=MixedTerms.model_validate(MIXED_TERMS))
        )
        await load_reference_data(session, read_reference_file(WECARE_FILE))
        await session.refresh(fesr)
        assert fesr.loan_terms is not None
        assert fesr.loan_terms["loan_share_bp"] == 7000  # the file's null keeps it

    async def test_a_changed_file_updates_in_place(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        def retitle(programme: dict[str, Any]) -> None:
            programme["measures"][1]["title"]["en"] = "Renamed"

        report = await load_reference_data(session, _variant(WECARE_FILE, retitle))
        assert (report.created, report.updated) == (0, 1)
        fse2 = await session.scalar(select(Measure).where(Measure.code == "FSE2"))
        assert fse2 is not None
        assert fse2.title_en == "Renamed"
        assert await session.scalar(select(func.count()).select_from(Measure)) == 5


class TestCapsCheckedBeforeWriting:
    async def test_measures_over_the_total_are_refused_and_nothing_is_written(
        self, session: AsyncSession
    ) -> None:
        def inflate(programme: dict[str, Any]) -> None:
            programme["measures"][1]["budget"] = "400000.01"  # 600,000 + 400,000.01 > 1,000,000

        with pytest.raises(ProgrammeMeasuresBudgetExceeded) as caught:
            await load_reference_data(session, _variant(SECOND_FILE, inflate))
        assert caught.value.figures == {
            "cap": Decimal("1000000.00"),
            "requested": Decimal("1000000.01"),
        }
        assert await session.scalar(select(func.count()).select_from(Programme)) == 0

    async def test_exactly_at_the_total_is_accepted(self, session: AsyncSession) -> None:
        report = await load_reference_data(session, read_reference_file(SECOND_FILE))
        assert report.created > 0

    async def test_the_state_aid_regime_and_regulation_are_loaded(
        self, session: AsyncSession
    ) -> None:
        await load_reference_data(session, read_reference_file(SECOND_FILE))
        regimes = dict(
            (await session.execute(select(Measure.code, Measure.state_aid_regime))).all()
        )
        assert regimes == {"CARE": StateAidRegime.NONE, "INVEST": StateAidRegime.DE_MINIMIS}
        regulations = dict(
            (await session.execute(select(Call.code, Call.de_minimis_regulation))).all()
        )
        assert regulations == {
            "TEST-CARE-2030": None,
            "TEST-INVEST-2030": DeMinimisRegulation.R2023_2831,
        }

    async def test_call_shares_over_the_measure_budget_are_refused(
        self, session: AsyncSession
    ) -> None:
        def inflate(programme: dict[str, Any]) -> None:
            programme["calls"][1]["budget"] = "400000.01"

        with pytest.raises(MeasureCallsBudgetExceeded):
            await load_reference_data(session, _variant(SECOND_FILE, inflate))

    @pytest.mark.counters_may_disagree
    async def test_lowering_a_budget_below_what_is_allocated_is_refused(
        self, session: AsyncSession
    ) -> None:
        await load_reference_data(session, read_reference_file(SECOND_FILE))
        await session.execute(
            update(Measure)
            .where(Measure.code == "CARE")
            .values({Measure.allocated: euros(500_000_00)})
        )

        def lower(programme: dict[str, Any]) -> None:
            programme["measures"][0]["budget"] = "499999.99"
            programme["calls"][0]["budget"] = "499999.99"

        with pytest.raises(BudgetBelowAllocated):
            await load_reference_data(session, _variant(SECOND_FILE, lower))

    async def test_a_call_code_of_another_programme_is_refused(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        """Loading must never move WECARE's call (and its grants) into another programme."""

        def steal(programme: dict[str, Any]) -> None:
            programme["calls"][0]["code"] = "WECARE-FSE1-2017"

        before = await snapshot(session)
        with pytest.raises(InvalidReferenceData, match="WECARE-FSE1-2017 already belongs"):
            async with session.begin_nested():  # `wecare seed` rolls its transaction back
                await load_reference_data(session, _variant(SECOND_FILE, steal))
        assert await snapshot(session) == before

    def test_an_invalid_file_is_refused_with_the_field_named(self, tmp_path: Path) -> None:
        raw = yaml.safe_load(SECOND_FILE.read_text(encoding="utf-8"))
        raw["programme"]["total_budget"] = "1000000.005"
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
        with pytest.raises(InvalidReferenceData, match=r"total_budget: .*more than two decimals"):
            read_reference_file(bad)


class TestDatabaseGuards:
    """The counters' CHECK constraints refuse a broken state even from raw SQL."""

    @pytest.mark.parametrize(
        ("statement", "constraint"),
        [
            (
                "UPDATE programme SET measures_budget_cents = total_budget_cents + 1",
                "programme_measures_within_total_check",
            ),
            (
                "UPDATE programme SET allocated_cents = total_budget_cents + 1",
                "programme_allocated_within_total_check",
            ),
            (
                "UPDATE measure SET calls_budget_cents = budget_cents + 1",
                "measure_calls_within_budget_check",
            ),
            (
                "UPDATE measure SET allocated_cents = budget_cents + 1",
                "measure_allocated_within_budget_check",
            ),
            (
                "UPDATE measure SET funded_projects = max_funded_projects + 1 "
                "WHERE max_funded_projects IS NOT NULL",
                "measure_funded_within_max_check",
            ),
            (
                "UPDATE call SET allocated_cents = budget_cents + 1",
                "call_allocated_within_budget_check",
            ),
            (
                "UPDATE measure_line SET min_project_cost_cents = 100000000 "
                "WHERE max_project_cost_cents IS NOT NULL",
                "measure_line_thresholds_ordered_check",
            ),
        ],
    )
    async def test_raw_sql_cannot_break_a_cap(
        self, session: AsyncSession, wecare: Programme, statement: str, constraint: str
    ) -> None:
        with pytest.raises(IntegrityError) as caught:
            async with session.begin_nested():
                await session.execute(text(statement))
        assert constraint in str(caught.value.orig)

    @pytest.mark.counters_may_disagree
    async def test_the_boundary_itself_is_allowed(
        self, session: AsyncSession, wecare: Programme
    ) -> None:
        async with session.begin_nested():
            await session.execute(text("UPDATE measure SET allocated_cents = budget_cents"))
            await session.execute(
                text(
                    "UPDATE measure SET funded_projects = max_funded_projects "
                    "WHERE max_funded_projects IS NOT NULL"
                )
            )


async def test_seed_gives_the_same_programme_on_both_databases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`wecare db upgrade` then `wecare seed` (twice) on SQLite and PostgreSQL."""
    dumps: list[dict[str, list[str]]] = []
    for backend in BACKENDS:
        url, drop = await create_database(backend, tmp_path)
        engine = create_engine(Settings(database_url=url))
        try:
            await migrations.upgrade(engine)
            monkeypatch.setenv("WECARE_DATABASE_URL", url)
            get_settings.cache_clear()
            # The CLI runs its own event loop; run it in a worker thread.
            assert await asyncio.to_thread(main, ["seed"]) == 0
            database = Database(engine)
            async with database.session(write=False) as session:
                first = await full_snapshot(session)
            assert await asyncio.to_thread(main, ["seed"]) == 0
            async with database.session(write=False) as session:
                assert await full_snapshot(session) == first, f"second seed changed {backend}"
                dumps.append(await snapshot(session))
        finally:
            get_settings.cache_clear()
            await engine.dispose()
            await drop()  # type: ignore[misc]
    for table in dumps[0]:
        for a, b in zip(dumps[0][table], dumps[1][table], strict=True):
            assert a == b, table
    assert len(dumps[0]["measure"]) == 5


def test_timestamps_are_aware_utc() -> None:
    assert datetime.now(UTC).tzinfo is UTC


async def test_the_grids_are_seeded_and_a_locked_one_is_not_rewritten(
    session: AsyncSession,
) -> None:
    """The made-up call gets its full grid, WECARE's FSE1 an incomplete one (figures not
    given by the source); once a score locked a grid, a file that changes it is refused."""
    await load_reference_data(session, read_reference_file(SECOND_FILE))
    await load_reference_data(session, read_reference_file(WECARE_FILE))
    calls = {c.code: c for c in await session.scalars(select(Call))}
    grids = await grids_read(session, [c.id for c in calls.values()])
    care = grids[calls["TEST-CARE-2030"].id]
    assert (care.complete, care.max_total, care.min_total) == (True, 100, 60)
    assert [t.criterion for t in care.tie_breaks] == ["Q1", "P2", None]
    fse1 = grids[calls["WECARE-FSE1-2017"].id]
    assert fse1.complete is False
    assert "combination" in fse1.missing
    assert calls["WECARE-FESR-2018"].id not in grids

    await session.execute(
        update(ScoringGrid)
        .where(ScoringGrid.call_id == calls["TEST-CARE-2030"].id)
        .values(locked_at=datetime.now(UTC))
    )
    same = await load_reference_data(session, read_reference_file(SECOND_FILE))
    assert not same.changed

    def lower_q1(programme: dict[str, Any]) -> None:
        programme["calls"][0]["scoring_grid"]["criteria"][0]["max_score"] = 35

    with pytest.raises(ScoringGridLocked):
        await load_reference_data(session, _variant(SECOND_FILE, lower_q1))
