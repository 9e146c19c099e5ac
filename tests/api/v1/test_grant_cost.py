"""What a grant costs in statements (issue 17): the principal's reads, then one read of
everything the rules need, then the writes. On PostgreSQL the writes are one statement:
the counters, the allocation, the audit append and the outbox's rows (webhook, e-mail), so that the
hot rows' locks span that statement and the COMMIT; a refusal decided from the read takes
no counter lock (it writes nothing, not even a conditional UPDATE).
Counted as bench/statements.py counts them (``before_cursor_execute``)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tests.actors import Actor
from tests.statements import counting, queries
from tests.world import approved, budget, district

GRANT = "/api/v1/allocations"
# After the principal's reads: the grant subject, then the counters with the allocation,
# the audit append and the grant's two outbox rows (webhook, e-mail) in one statement.
# SQLite (its writers already serialised by BEGIN IMMEDIATE) runs the three counters, the
# insert, the three steps of the audit append and the two outbox rows one by one
# (SQLAlchemy batches RETURNING inserts there only with a sentinel column).
OWN = {"postgresql": 2, "sqlite": 10}


def _is_subject_read(statement: str) -> bool:
    """The grant's one read: the application joined to its measure, programme and call."""
    return statement.startswith("SELECT") and "JOIN programme ON" in statement


def _split(statements: list[str]) -> tuple[list[str], list[str]]:
    """(the principal's statements, the grant's own): the grant's start at its one read."""
    work = [s for s in queries(statements) if not s.startswith("ROLLBACK TO SAVEPOINT")]
    start = next(i for i, s in enumerate(work) if _is_subject_read(s))
    return work[:start], work[start:]


class TestGrantStatements:
    async def test_a_grant_in_few_statements(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        officer: Actor,
    ) -> None:
        world = await budget(session, total=1_000_000, one_per_district=True)
        here = await district(session, world, 1)
        application = await approved(session, world, requested=1_000, district=here)
        with counting(connection) as statements:
            response = await client.post(
                GRANT,
                json={"application_id": str(application.id), "amount": "1000.00"},
                headers=officer.headers,
            )
        assert response.status_code == 201, response.text
        # The principal's reads before them are app.core.auth's (pinned there); bench/
        # reports the whole request's count.
        _, own = _split(statements)
        dialect = connection.dialect.name
        assert len(own) == OWN[dialect], own
        if dialect == "postgresql":
            assert [s.split(None, 1)[0] for s in own] == ["SELECT", "WITH"], own

    async def test_a_refusal_decided_from_the_read_takes_no_lock(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        officer: Actor,
    ) -> None:
        world = await budget(session, total=1_000_000, call_budget=1_500, one_per_district=True)
        here = await district(session, world, 1)
        first = await approved(session, world, requested=1_000, district=here, n=1)
        second = await approved(session, world, requested=1_000, district=here, n=2)
        over = await approved(session, world, requested=1_000, n=3)
        granted = await client.post(
            GRANT,
            json={"application_id": str(first.id), "amount": "1000.00"},
            headers=officer.headers,
        )
        assert granted.status_code == 201, granted.text
        refusals = {
            "one_active_allocation": {"application_id": str(first.id), "amount": "1.00"},
            "district_already_funded": {"application_id": str(second.id), "amount": "1.00"},
            # The call has 500.00 left of its 1,500.00: over its cap as read.
            "call_budget_cap": {"application_id": str(over.id), "amount": "1000.00"},
        }
        for rule, body in refusals.items():
            with counting(connection) as statements:
                response = await client.post(GRANT, json=body, headers=officer.headers)
            assert response.status_code == 409, response.text
            assert response.json()["rule"] == rule
            _, own = _split(statements)
            assert len(own) == 1, own  # the read; no UPDATE, no lock
