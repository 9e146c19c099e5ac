"""Migrations build the schema on both databases and agree with the models."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

import app.models  # noqa: F401
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus
from app.core.errors import CONSTRAINT_ERRORS
from app.db import migrations
from app.db.base import Base
from app.db.session import Database, create_engine
from app.models import Review, ReviewScore, ScoringCriterion, ScoringGrid
from app.models.mixins import FUNDING_CHECKS
from app.services.users import create_user
from tests.conftest import BACKENDS, create_database
from tests.world import GRID, approved, budget, open_window, with_grid


@pytest.fixture(params=BACKENDS)
async def scratch_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An empty database of its own, because these tests migrate up and down."""
    url, drop = await create_database(request.param, tmp_path)
    engine = create_engine(Settings(database_url=url))
    yield engine
    await engine.dispose()
    await drop()  # type: ignore[misc]


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _guard_names(connection: Connection) -> set[str]:
    """Every name a database guard can fail with: CHECK constraints, unique constraints and
    (partial) unique indexes, triggers, and the constraint names triggers raise."""
    inspector = inspect(connection)
    names: set[str] = set()
    for table in inspector.get_table_names():
        names |= {str(c["name"]) for c in inspector.get_check_constraints(table) if c["name"]}
        names |= {str(c["name"]) for c in inspector.get_unique_constraints(table) if c["name"]}
        names |= {str(i["name"]) for i in inspector.get_indexes(table) if i["name"]}
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text(
                "SELECT t.tgname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE NOT t.tgisinternal"
            )
        )
        raised = re.compile(r"CONSTRAINT\s*=\s*'(\w+)'")
    else:
        rows = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
        raised = re.compile(r"CHECK constraint failed: (\w+)")
    for name, source in rows:
        names.add(name)
        names |= set(raised.findall(source or ""))
    return names


async def test_every_guard_the_error_layer_maps_exists(engine: AsyncEngine) -> None:
    """Autogenerate compares neither CHECK constraints, partial-index predicates nor triggers:
    a renamed or dropped guard would silently turn its rule's refusal into a bare conflict."""
    async with engine.connect() as conn:
        names = await conn.run_sync(_guard_names)
    missing = sorted(set(CONSTRAINT_ERRORS) - names)
    assert not missing, f"CONSTRAINT_ERRORS names no guard of the migrated schema: {missing}"


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_the_shared_test_database_is_at_head(engine: AsyncEngine) -> None:
    assert await migrations.is_at_head(engine)


async def test_downgrade_to_base_and_upgrade_again(scratch_engine: AsyncEngine) -> None:
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        tables = await conn.run_sync(_tables)
    assert tables == set(Base.metadata.tables)

    await migrations.downgrade(scratch_engine, "base")
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_tables) == set()

    await migrations.upgrade(scratch_engine)
    assert await migrations.is_at_head(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def _request_guards(engine: AsyncEngine) -> set[str]:
    """The triggers of migration 0008 in the database."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'allocation_within_request%'"
        else:
            query = (
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'allocation_within_request%'"
            )
        return set((await conn.execute(text(query))).scalars())


async def test_0008_downgrade_drops_the_request_guard(scratch_engine: AsyncEngine) -> None:
    await migrations.upgrade(scratch_engine)
    assert await _request_guards(scratch_engine)
    await migrations.downgrade(scratch_engine, "0007")
    assert await _request_guards(scratch_engine) == set()
    await migrations.upgrade(scratch_engine)
    assert await _request_guards(scratch_engine)


async def test_0011_existing_members_become_accepted(scratch_engine: AsyncEngine) -> None:
    """Memberships formed before consent existed are accepted: nothing live changes."""
    await migrations.upgrade(scratch_engine, "0010")
    sqlite = scratch_engine.dialect.name == "sqlite"
    ids = [uuid.uuid4() for _ in range(3)]
    partnership, lead, partner = (i.hex if sqlite else i for i in ids)
    async with scratch_engine.begin() as conn:
        for org, code in ((lead, "80087670016"), (partner, "02843860012")):
            await conn.execute(
                text(
                    "INSERT INTO organisation (id, legal_name, tax_code, legal_nature,"
                    " profit_status, accompaniment_experience, version, created_at, updated_at)"
                    " VALUES (:id, 'Ente', :code, 'municipality', 'non_profit', false, 1,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": org, "code": code},
            )
        await conn.execute(
            text(
                "INSERT INTO partnership (id, name, form, version, created_at, updated_at)"
                " VALUES (:id, 'ATS', 'ats_formed', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": partnership},
        )
        for org, role in ((lead, "lead"), (partner, "partner")):
            await conn.execute(
                text(
                    "INSERT INTO partnership_member (partnership_id, organisation_id, role)"
                    " VALUES (:p, :o, :r)"
                ),
                {"p": partnership, "o": org, "r": role},
            )
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        statuses = (await conn.execute(text("SELECT status FROM partnership_member"))).scalars()
        assert sorted(statuses) == ["accepted", "accepted"]
    await migrations.downgrade(scratch_engine, "0010")
    async with scratch_engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM partnership_member"))
    assert count == 2


async def _scored(
    database: Database, grid: dict[str, object], points: dict[str, int], n: int
) -> uuid.UUID:
    """A call with ``grid`` and an application whose one review scored ``points``."""
    async with database.session(write=True) as session:
        world = await budget(session, total=1_000_000, code=f"M{n}")
        await with_grid(session, world.call, grid)
        application = await approved(
            session, world, requested=1_000, n=n, status=ApplicationStatus.UNDER_REVIEW
        )
        reviewer = await create_user(
            session,
            email=f"reviewer{n}@example.org",
            display_name="Reviewer",
            password="p" * 16,
            role=Role.REVIEWER,
            organisation_ids=[],
        )
        now = datetime.now(UTC)
        review = Review(
            id=uuid.uuid4(),
            application_id=application.id,
            reviewer_id=reviewer.id,
            conflict_declared_at=now,
            scored_at=now,
        )
        session.add(review)
        await session.execute(
            update(ScoringGrid).where(ScoringGrid.call_id == world.call.id).values(locked_at=now)
        )
        criteria = {c.code: c.id for c in await session.scalars(select(ScoringCriterion))}
        session.add_all(
            ReviewScore(
                id=uuid.uuid4(),
                review_id=review.id,
                criterion_id=criteria[code],
                score=score,
                comment=f"Su {code}.",
            )
            for code, score in points.items()
        )
    return review.id


async def test_0015_reviews_become_an_overall_grid_and_back(scratch_engine: AsyncEngine) -> None:
    """Down: each review's total back as its 0-100 score (refused above 100). Up: a
    one-criterion `overall` grid per call with reviews, carrying each score and comment."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    scored = await _scored(database, GRID, {"Q1": 40, "P2": 20, "S3": 15, "B4": 5}, 1)
    big = {
        **GRID,
        "criteria": [{"code": "BIG", "name": {"it": "G", "en": "B"}, "max_score": 200}],
        "min_total": 0,
        "tie_breaks": [],
    }
    too_big = await _scored(database, big, {"BIG": 101}, 2)
    with pytest.raises(RuntimeError, match="more than 100 points"):
        await migrations.downgrade(scratch_engine, "0014")
    async with database.session(write=True) as session:
        await session.execute(delete(Review).where(Review.id == too_big))

    await migrations.downgrade(scratch_engine, "0014")
    sqlite = scratch_engine.dialect.name == "sqlite"
    key = scored.hex if sqlite else scored
    async with scratch_engine.begin() as conn:
        row = (
            await conn.execute(
                text("SELECT score, comment, scored_at FROM review WHERE id = :id"), {"id": key}
            )
        ).one()
        assert (row.score, row.comment) == (80, "Q1: Su Q1.\nP2: Su P2.\nS3: Su S3.\nB4: Su B4.")
        assert row.scored_at is not None
        assert "scoring_grid" not in await conn.run_sync(_tables)
        # A review scored the old way, at the old boundary.
        await conn.execute(
            text("UPDATE review SET score = 100, comment = 'Ottimo' WHERE id = :id"), {"id": key}
        )

    await migrations.upgrade(scratch_engine)
    async with database.session(write=False) as session:
        grid = await session.scalar(select(ScoringGrid))
        assert grid is not None
        assert (grid.min_total, grid.reviewers_per_application, grid.combination) == (
            0,
            1,
            "mean",
        )
        assert grid.tie_breaks == [{"kind": "earlier_submission"}]
        assert grid.locked_at is not None
        criteria = (await session.scalars(select(ScoringCriterion))).all()
        assert [(c.code, c.max_score, c.min_score) for c in criteria] == [("overall", 100, None)]
        given = (await session.scalars(select(ReviewScore))).all()
        assert [(s.review_id, s.score, s.comment) for s in given] == [(scored, 100, "Ottimo")]
        review = await session.get(Review, scored)
        assert review is not None
        assert review.conflict_declared_at is None  # scored before declarations existed


_FIRST_COME_GUARDS = {
    "call_reserved_within_budget_check",
    "call_waiting_within_length_check",
    "application_reservation_within_request_check",
    "application_waits_unreserved_check",
}


# Migration 0020's guards: a downgrade below it drops them with the rest.
_GRANT_ACT_GUARDS = {
    "allocation_cup_length_check",
    "allocation_rna_cor_length_check",
    "allocation_cup_key",
    "allocation_rna_cor_key",
    "measure_state_aid_regime_check",
    "measure_gber_article_check",
    "call_de_minimis_regulation_check",
    "state_aid_declaration_fields_of_kind_check",
    "state_aid_declaration_declaration_kind_check",
    "state_aid_declaration_regulation_check",
    "state_aid_declaration_one_link_key",
    "state_aid_declaration_linked_tax_code_idx",
    "state_aid_declaration_organisation_id_created_at_id_idx",
}


# Migration 0021's guards (the new tables' own included: they go with their tables).
_MIXED_GUARDS = {  # and indexes: _guard_names lists every index
    "programme_lent_non_negative_check",
    "programme_repaid_within_lent_check",
    "measure_instrument_check",
    "measure_lent_non_negative_check",
    "measure_repaid_within_lent_check",
    "measure_loans_only_mixed_check",
    "loan_principal_positive_check",
    "loan_grant_non_negative_check",
    "loan_repaid_within_principal_check",
    "loan_rate_in_range_check",
    "loan_grace_within_term_check",
    "loan_frequency_known_check",
    "loan_grace_payment_check",
    "loan_amortisation_check",
    "loan_allocation_id_key",
    "loan_instalment_number_positive_check",
    "loan_instalment_parts_non_negative_check",
    "loan_instalment_paid_within_due_check",
    "loan_instalment_loan_id_number_key",
    "loan_repayment_amount_positive_check",
    "loan_repayment_split_adds_up_check",
    "loan_programme_id_idx",
    "loan_measure_id_idx",
    "loan_repayment_loan_id_idx",
    "loan_repayment_instalment_id_idx",
}


def _columns(connection: Connection, table: str) -> set[str]:
    return {str(c["name"]) for c in inspect(connection).get_columns(table)}


async def test_0017_first_come_columns_and_guards_down_and_up(
    scratch_engine: AsyncEngine,
) -> None:
    """Down: the reservation and waiting-list columns and their guards go, and every other
    guard stays (SQLite's table rebuild would have dropped the triggers on the tables). Up:
    existing applications hold nothing and wait nowhere; existing calls have no list limit."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        world = await budget(session, total=1000, code="MIG")
        await approved(session, world, requested=100)
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    assert at_head >= _FIRST_COME_GUARDS
    # The guards of 0017 as they stand, whatever later revisions add.
    await migrations.downgrade(scratch_engine, "0017")
    async with scratch_engine.connect() as conn:
        at_0017 = await conn.run_sync(_guard_names)

    await migrations.downgrade(scratch_engine, "0016")
    async with scratch_engine.connect() as conn:
        assert not {"reserved_cents", "waiting_count", "waiting_list_length"} & await conn.run_sync(
            _columns, "call"
        )
        assert not {"reserved_cents", "waiting_position"} & await conn.run_sync(
            _columns, "application"
        )
        assert await conn.run_sync(_guard_names) == at_0017 - _FIRST_COME_GUARDS

    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        call = (
            await conn.execute(
                text("SELECT reserved_cents, waiting_count, waiting_list_length FROM call")
            )
        ).one()
        assert tuple(call) == (0, 0, None)
        held = (
            await conn.execute(text("SELECT reserved_cents, waiting_position FROM application"))
        ).one()
        assert tuple(held) == (0, None)


async def test_0018_partial_last_grant_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the column goes and every guard stays (no table rebuild). Up: an existing call
    has no rule (null: not allowed until set)."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        await budget(session, total=1000, code="MIG18")
    await migrations.downgrade(scratch_engine, "0018")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_0018 = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0017")
    async with scratch_engine.connect() as conn:
        assert "partial_last_grant" not in await conn.run_sync(_columns, "call")
        assert await conn.run_sync(_guard_names) == at_0018
    await migrations.upgrade(scratch_engine, "0018")
    async with scratch_engine.connect() as conn:
        rule = await conn.scalar(text("SELECT partial_last_grant FROM call"))
        assert rule is None


async def test_0019_closed_at_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the column and its guard go, ``ranking`` is ``evaluative`` again, every other
    guard stays (SQLite rebuilds the call table). Up: ``ranking``; a first-come call whose
    list is full gets closed_at from its counters; an open one and a ranking call none."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        world = await budget(session, total=1000, code="MIG19")
        ranked = await budget(session, total=1000, code="MIG19R")
        open_window(session, ranked)
        await approved(session, ranked, requested=100)
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    assert "call_closed_only_first_come_check" in at_head
    methods = "SELECT code, selection_method FROM call ORDER BY code"
    await migrations.downgrade(scratch_engine, "0019")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_0019 = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0018")
    async with scratch_engine.connect() as conn:
        assert "closed_at" not in await conn.run_sync(_columns, "call")
        assert set((await conn.execute(text(methods))).all()) >= {(ranked.call.code, "evaluative")}
        # The rebuild dropped the old table with foreign keys off: no cascade to the windows,
        # no refusal for the applications.
        assert await conn.scalar(text("SELECT count(*) FROM call_phase")) == 1
        assert await conn.scalar(text("SELECT count(*) FROM application")) == 1
        assert await conn.run_sync(_guard_names) == at_0019 - {"call_closed_only_first_come_check"}
    async with scratch_engine.begin() as conn:  # full at 0018: a list of 0, nothing left
        await conn.execute(
            text(
                "UPDATE call SET selection_method = 'first_come', waiting_list_length = 0,"
                " allocated_cents = budget_cents WHERE id = :id"
            ),
            {"id": world.call.id.hex if scratch_engine.dialect.name == "sqlite" else world.call.id},
        )
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        assert set((await conn.execute(text(methods))).all()) >= {
            (ranked.call.code, "ranking"),
            (world.call.code, "first_come"),
        }
        rows = (await conn.execute(text("SELECT code, closed_at FROM call ORDER BY code"))).all()
    with pytest.raises(IntegrityError):  # the old name is refused by the new CHECK
        async with scratch_engine.begin() as conn:
            await conn.execute(text("UPDATE call SET selection_method = 'evaluative'"))
    closed = {code: at is not None for code, at in rows}
    assert closed[world.call.code] is True
    assert not any(v for code, v in closed.items() if code != world.call.code)


async def test_0020_grant_act_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the grant act's and state aid's columns and guards go, every other guard stays
    (no table rebuild). Up: the guards are back, and existing rows have nothing recorded
    and no regime or regulation (null: not given)."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        world = await budget(session, total=1000, code="MIG20")
        await approved(session, world, requested=100)
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    assert at_head >= _GRANT_ACT_GUARDS
    await migrations.downgrade(scratch_engine, "0020")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_0020 = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0019")
    async with scratch_engine.connect() as conn:
        assert not {"cup", "rna_cor"} & await conn.run_sync(_columns, "allocation")
        assert not {"state_aid_regime", "gber_article"} & await conn.run_sync(_columns, "measure")
        assert "de_minimis_regulation" not in await conn.run_sync(_columns, "call")
        assert "state_aid_declaration" not in await conn.run_sync(_tables)
        assert await conn.run_sync(_guard_names) == at_0020 - _GRANT_ACT_GUARDS
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        regime = await conn.execute(text("SELECT state_aid_regime, gber_article FROM measure"))
        assert {tuple(row) for row in regime} == {(None, None)}
        regulation = await conn.scalar(text("SELECT de_minimis_regulation FROM call"))
        assert regulation is None


async def test_0021_mixed_instrument_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the loan tables, the fund's counters, the instrument and their guards go and
    every other guard stays (no table rebuild). Up: an existing measure is a grant with no
    terms, and nothing is lent or repaid anywhere."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        await budget(session, total=1000, code="MIG22")
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    assert at_head >= _MIXED_GUARDS
    await migrations.downgrade(scratch_engine, "0021")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_0021 = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0020")
    async with scratch_engine.connect() as conn:
        assert not {"loan", "loan_instalment", "loan_repayment"} & await conn.run_sync(_tables)
        assert not {"instrument", "loan_terms", "lent_cents", "repaid_cents"} & (
            await conn.run_sync(_columns, "measure")
        )
        assert not {"lent_cents", "repaid_cents"} & await conn.run_sync(_columns, "programme")
        assert await conn.run_sync(_guard_names) == at_0021 - _MIXED_GUARDS
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        measure = (
            await conn.execute(
                text("SELECT instrument, loan_terms, lent_cents, repaid_cents FROM measure")
            )
        ).one()
        assert tuple(measure) == ("grant", None, 0, 0)
        fund = text("SELECT lent_cents, repaid_cents FROM programme")
        assert tuple((await conn.execute(fund)).one()) == (0, 0)


_PAYMENT_TABLES = {"payment_terms", "expenditure_claim", "claim_line", "payment"}
_FUNDING_COLUMNS = {"claimed_cents", "verified_cents", "advanced_cents", "paid_cents"}


async def test_0022_funding_columns_tables_and_guards_down_and_up(
    scratch_engine: AsyncEngine,
) -> None:
    """Down: the funding columns, the new tables and their guards go, every other guard stays
    (no table rebuild). Up: existing grants are neither accepted nor paid, their counters 0."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        world = await budget(session, total=1000, code="MIG21")
        await approved(session, world, requested=100)
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0022")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_0022 = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0021")
    async with scratch_engine.connect() as conn:
        assert not _PAYMENT_TABLES & await conn.run_sync(_tables)
        for table in ("allocation", "call", "measure", "programme"):
            assert not _FUNDING_COLUMNS & await conn.run_sync(_columns, table)
        assert "accepted_at" not in await conn.run_sync(_columns, "allocation")
        ours = at_0022 - await conn.run_sync(_guard_names)
    # 0022's own funding guards: those FUNDING_CHECKS names that 0023 (recoveries) did not add.
    of_0023 = {"due_non_negative", "due_within_paid", "recovered_within_due"}
    funding = {
        f"{table}_{name}_check"
        for table in ("allocation", "call", "measure", "programme")
        for name in FUNDING_CHECKS
        if name not in of_0023
    }
    assert funding | {"allocation_paid_after_acceptance_check"} <= ours
    assert {"payment_treasury_reference_key", "claim_line_outcome_derives_verified_check"} <= ours
    mine = ("payment", "expenditure_claim", "claim_line", "recovery", "sqlite_autoindex_")
    assert all(
        n in funding or n.startswith(mine)
        for n in ours - {"allocation_paid_after_acceptance_check"}
    )
    await migrations.upgrade(scratch_engine)
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        row = (
            await conn.execute(
                text("SELECT claimed_cents, verified_cents, advanced_cents, paid_cents FROM call")
            )
        ).one()
        assert tuple(row) == (0, 0, 0, 0)


async def test_0023_recoveries_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the recovery tables, ``due_cents`` and ``recovered_cents`` and their guards go,
    ``paid_within_grant`` is ``paid <= cap`` again with the paid figures kept, every other
    guard stays. Up: nothing due nor recovered, the paid figures kept."""
    await migrations.upgrade(scratch_engine)
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        world = await budget(session, total=1000, code="MIG23")
        await approved(session, world, requested=100)
        await session.execute(text("UPDATE call SET claimed_cents = 2000, verified_cents = 2000"))
        await session.execute(text("UPDATE call SET allocated_cents = 900, paid_cents = 600"))
    await migrations.downgrade(scratch_engine, "0023")  # the guards later revisions add go
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    await migrations.downgrade(scratch_engine, "0022")
    async with scratch_engine.connect() as conn:
        assert not {"recovery", "recovery_receipt"} & await conn.run_sync(_tables)
        for table in ("allocation", "call", "measure", "programme"):
            assert not {"due_cents", "recovered_cents"} & await conn.run_sync(_columns, table)
        assert "recovery_days" not in await conn.run_sync(_columns, "payment_terms")
        ours = at_head - await conn.run_sync(_guard_names)
        paid = (await conn.execute(text("SELECT paid_cents FROM call"))).scalar_one()
        assert paid == 600
    new = {
        f"{table}_{name}_check"
        for table in ("allocation", "call", "measure", "programme")
        for name in ("due_non_negative", "due_within_paid", "recovered_within_due")
    }
    assert new <= ours
    assert all(
        n in new or n.startswith(("recovery", "payment_terms_recovery", "sqlite_autoindex_"))
        for n in ours
    )
    async with scratch_engine.connect() as conn:  # the 0022 guard again: paid <= allocated
        with pytest.raises(IntegrityError):
            await conn.execute(text("UPDATE call SET paid_cents = 901"))
    await migrations.upgrade(scratch_engine, "0023")
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        row = (
            await conn.execute(text("SELECT paid_cents, due_cents, recovered_cents FROM call"))
        ).one()
        assert tuple(row) == (600, 0, 0)
    async with scratch_engine.connect() as conn:  # 0023: paid - due <= allocated
        await conn.execute(text("UPDATE call SET due_cents = 200, paid_cents = 1100"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("UPDATE call SET due_cents = 199"))


async def test_0024_cofinancing_shares_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the three shares and their guard go, every other guard stays (no table
    rebuild). Up: an existing measure's shares are not given (null), and the guard refuses
    shares that do not sum to 10000 or are given in part."""
    await migrations.upgrade(scratch_engine, "0024")  # its own baseline: later guards aside
    database = Database(scratch_engine)
    async with database.session(write=True) as session:
        await budget(session, total=1000, code="MIG24")
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
    assert "measure_cofinancing_shares_check" in at_head
    await migrations.downgrade(scratch_engine, "0023")
    shares = {"eu_share_bp", "national_share_bp", "regional_share_bp"}
    async with scratch_engine.connect() as conn:
        assert not shares & await conn.run_sync(_columns, "measure")
        assert await conn.run_sync(_guard_names) == at_head - {"measure_cofinancing_shares_check"}
    await migrations.upgrade(scratch_engine, "0024")
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        row = text("SELECT eu_share_bp, national_share_bp, regional_share_bp FROM measure")
        assert tuple((await conn.execute(row)).one()) == (None, None, None)
    for values in ("5000, 3500, 1499", "5000, 5000, NULL", "10001, 0, -1"):
        with pytest.raises(IntegrityError):
            async with scratch_engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE measure SET (eu_share_bp, national_share_bp, "
                        f"regional_share_bp) = ({values})"
                    )
                )
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE measure SET eu_share_bp = 5000, national_share_bp = 3500, "
                "regional_share_bp = 1500"
            )
        )


async def test_0025_webhooks_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the outbox and the webhook tables go, every other guard stays. Up: they are
    back, empty, and a subscription must have exactly one owner and a known status."""
    webhook_tables = {
        "outbox_message",
        "webhook_subscription",
        "webhook_delivery",
        "webhook_attempt",
    }
    await migrations.upgrade(scratch_engine, "0025")
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
        assert webhook_tables <= await conn.run_sync(_tables)
    await migrations.downgrade(scratch_engine, "0024")
    async with scratch_engine.connect() as conn:
        assert not webhook_tables & await conn.run_sync(_tables)
        ours = at_head - await conn.run_sync(_guard_names)
    assert all(name.startswith((*webhook_tables, "sqlite_autoindex_")) for name in ours)
    assert "webhook_subscription_one_owner_check" in ours
    await migrations.upgrade(scratch_engine, "0025")
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        count = text("SELECT count(*) FROM webhook_subscription")
        assert (await conn.execute(count)).scalar_one() == 0
    now = datetime.now(UTC)
    row = (
        "INSERT INTO webhook_subscription (id, owner_user_id, owner_client_id, url, "
        "event_types, status, secret_encrypted, last_sequence, created_at, updated_at, "
        "version) VALUES (:id, NULL, NULL, 'https://example.org', '[]', :status, 'x', 0, "
        ":now, :now, 1)"
    )
    for status in ("active", "bogus"):  # no owner; an unknown status
        with pytest.raises(IntegrityError):
            async with scratch_engine.begin() as conn:
                await conn.execute(
                    text(row), {"id": str(uuid.uuid4()), "status": status, "now": now}
                )


async def test_0026_email_notifications_down_and_up(scratch_engine: AsyncEngine) -> None:
    """Down: the opt-outs, the e-mail log and the account's language go, every other guard
    stays. Up: they are back; existing accounts are Italian, and a language or an e-mail
    status outside the known ones is refused."""
    email_tables = {"notification_opt_out", "email_delivery"}
    await migrations.upgrade(scratch_engine, "0026")
    async with scratch_engine.connect() as conn:
        at_head = await conn.run_sync(_guard_names)
        assert email_tables <= await conn.run_sync(_tables)
    await migrations.downgrade(scratch_engine, "0025")
    async with scratch_engine.connect() as conn:
        assert not email_tables & await conn.run_sync(_tables)
        ours = at_head - await conn.run_sync(_guard_names)
    assert all(
        name.startswith((*email_tables, "user_account_language", "sqlite_autoindex_"))
        for name in ours
    ), ours
    now = datetime.now(UTC)
    user = str(uuid.uuid4())
    async with scratch_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO user_account (id, email, display_name, password_hash, role, "
                "active, must_change_password, created_at, updated_at, version) VALUES "
                "(:id, 'old@example.org', 'Old', 'x', 'officer', true, false, :now, :now, 1)"
            ),
            {"id": user, "now": now},
        )
    await migrations.upgrade(scratch_engine, "0026")
    async with scratch_engine.connect() as conn:
        assert await conn.run_sync(_guard_names) == at_head
        language = text("SELECT language FROM user_account WHERE email = 'old@example.org'")
        assert (await conn.execute(language)).scalar_one() == "it"
    with pytest.raises(IntegrityError):
        async with scratch_engine.begin() as conn:
            await conn.execute(text("UPDATE user_account SET language = 'de'"))
