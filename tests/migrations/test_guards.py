"""The database's own guards (the CHECKs the migrations build), met by raw SQL that goes past
the services: each boundary value is refused by the named constraint, or stored. The same
rules over HTTP are in tests/api/v1/test_caps.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.guards import violated_constraint
from app.models import Allocation
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file
from tests.actors import make_organisation, tax_code
from tests.world import approved, budget, euros


def key(session: AsyncSession, value: uuid.UUID) -> object:
    """A primary key as raw SQL binds it: SQLite stores UUIDs as hex text."""
    sqlite = session.bind.dialect.name == "sqlite"  # type: ignore[union-attr]
    return value.hex if sqlite else value


async def raw_write(
    session: AsyncSession, statement: Any, params: dict[str, Any], *, refused_by: str | None
) -> None:
    """Raw SQL past the service: accepted, or refused by the named database guard."""
    if refused_by is None:
        async with session.begin_nested():
            await session.execute(statement, params)
        return
    with pytest.raises(IntegrityError) as caught:
        async with session.begin_nested():
            await session.execute(statement, params)
    assert violated_constraint(caught.value) == refused_by


class TestFesrThresholdsInTheDatabase:
    """The FESR lines' project-cost thresholds at their boundaries, written with raw SQL, are
    refused by the database itself."""

    @pytest.mark.parametrize(
        ("line", "cost_cents", "refused"),
        [
            (1, 99_999_999, True),
            (1, 100_000_000, False),
            (2, 10_000_000, False),
            (2, 10_000_001, True),
        ],
        ids=["L1-999999.99", "L1-1000000.00", "L2-100000.00", "L2-100000.01"],
    )
    async def test_raw_sql(
        self, session: AsyncSession, line: int, cost_cents: int, refused: bool
    ) -> None:
        await load_reference_data(session, read_reference_file(WECARE_FILE))
        org = await make_organisation(session, name="Impresa", tax_code=tax_code(77))
        ids = (
            await session.execute(
                text(
                    "SELECT c.id, c.measure_id, l.id FROM call c "
                    "JOIN measure_line l ON l.measure_id = c.measure_id "
                    "WHERE c.code = 'WECARE-FESR-2018' AND l.number = :n"
                ),
                {"n": line},
            )
        ).one()
        insert = text(
            "INSERT INTO application (id, call_id, measure_id, line_id, applicant_organisation_id,"
            " title, description, total_cost_cents, requested_cents, stage, status, version,"
            " created_at, updated_at) VALUES (:id, :call, :measure, :line, :org, 't', 'd', :cost,"
            " 100, 'single', 'submitted', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        params = {
            "id": key(session, uuid.uuid4()),
            "call": ids[0],
            "measure": ids[1],
            "line": ids[2],
            "org": key(session, org.id),
            "cost": cost_cents,
        }
        await raw_write(
            session,
            insert,
            params,
            refused_by="application_line_thresholds_check" if refused else None,
        )


@pytest.mark.counters_may_disagree  # raw inserts below do not move the counters
class TestAllocationWithinRequestInTheDatabase:
    """Rule 6's upper bound, written with raw SQL, is refused by the database (migration 0008)."""

    @pytest.mark.parametrize(
        ("amount_cents", "refused"),
        [(5_000_001, True), (5_000_000, False)],
        ids=["50000.01", "50000.00"],
    )
    async def test_raw_sql(self, session: AsyncSession, amount_cents: int, refused: bool) -> None:
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        insert = text(
            "INSERT INTO allocation (id, application_id, programme_id, measure_id, call_id,"
            " amount_cents, status, granted_at, granted_by, version, created_at, updated_at)"
            " VALUES (:id, :app, :programme, :measure, :call, :cents, 'active',"
            " CURRENT_TIMESTAMP, 'sql', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        params = {
            "id": key(session, uuid.uuid4()),
            "app": key(session, app.id),
            "programme": key(session, world.programme.id),
            "measure": key(session, world.measure.id),
            "call": key(session, world.call.id),
            "cents": amount_cents,
        }
        await raw_write(
            session,
            insert,
            params,
            refused_by="allocation_within_request_check" if refused else None,
        )
        stored = await session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.application_id == app.id)
        )
        assert stored == (0 if refused else 1)

    async def test_raising_an_active_allocation_above_the_request_is_refused(
        self, session: AsyncSession
    ) -> None:
        """The guard judges updates too: a grant cannot be inflated after the fact."""
        world = await budget(session, total=1_000_000)
        app = await approved(session, world, requested=50_000)
        allocation = Allocation(
            id=uuid.uuid4(),
            application_id=app.id,
            programme_id=world.programme.id,
            measure_id=world.measure.id,
            call_id=world.call.id,
            amount=euros(5_000_000),
            status="active",
            granted_by="sql",
        )
        session.add(allocation)
        await session.flush()
        await raw_write(
            session,
            update(Allocation)
            .where(Allocation.id == allocation.id)
            .values({Allocation.amount: euros(5_000_001)}),
            {},
            refused_by="allocation_within_request_check",
        )
