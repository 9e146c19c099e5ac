"""The hot list path: statements run on the driver, rows serialised without models.

Both shortcuts must give exactly what the general path gives: the same rows as SQLAlchemy
running the same statement, the same bytes as the Pydantic page model.
"""

from __future__ import annotations

import inspect
import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import ANONYMOUS, Principal, Role
from app.core.domain import AllocationStatus, Fund
from app.core.money import MAX_CENTS, format_amount, format_cents
from app.db import driver
from app.models import Allocation, Application
from app.repositories import applications as repo
from app.schemas.application import AllocationRead, allocation_item
from app.schemas.page import Page
from app.services.allocations import ALLOCATION_ORDER
from app.services.paging import encode_cursor
from tests.statements import counting
from tests.world import approved, budget, cents, district, euros

# Allocations are inserted directly below, without moving the counters.
pytestmark = pytest.mark.counters_may_disagree

REGION = Principal(kind="user", id=uuid.uuid4(), role=Role.OFFICER)


async def _allocations(session: AsyncSession) -> list[Allocation]:
    """Nine allocations on two calls: ties on granted_at, revoked ones, with and without a
    district, amounts from one cent up."""
    first = await budget(session, total=1_000_000, code="A")
    second = await budget(session, total=1_000_000, code="B")
    second.measure.fund = Fund.FESR
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    made = []
    for n in range(9):
        world = first if n % 3 else second
        # Enough requested for the largest amount below (migration 0008's guard).
        application = await approved(session, world, requested=10_000, n=n)
        # One funded project per district and measure: a district of its own.
        place = await district(session, world, 10 + n) if n % 2 else None
        allocation = Allocation(
            id=uuid.uuid4(),
            application_id=application.id,
            programme_id=world.programme.id,
            measure_id=world.measure.id,
            call_id=world.call.id,
            district_id=None if place is None else place.id,
            amount=euros(1 + n * 123_457),
            status=AllocationStatus.REVOKED if n in (2, 7) else AllocationStatus.ACTIVE,
            # Pairs share an instant: the id breaks the tie; one has no microseconds.
            granted_at=start + timedelta(seconds=n // 2, microseconds=0 if n < 2 else 1234 * n),
            granted_by="user:officer",
            revoked_at=start + timedelta(days=1) if n in (2, 7) else None,
            revoked_by="user:officer" if n in (2, 7) else None,
            revocation_reason="Rinuncia del beneficiario — «progetto» ritirato" if n == 2 else None,
        )
        session.add(allocation)
        made.append(allocation)
    await session.flush()
    return made


async def _walk(
    session: AsyncSession, principal: Principal, filters: dict[str, Any], limit: int
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    after = None
    while True:
        page = await repo.page_allocations(
            session,
            principal=principal,
            filters=filters,
            order=ALLOCATION_ORDER.columns,
            after=after,
            limit=limit,
        )
        rows.extend(tuple(row) for row in page[:limit])
        if len(page) <= limit:
            return rows
        after = ALLOCATION_ORDER.key(page[limit - 1])


class TestDriverPath:
    async def test_pages_match_the_orm_for_every_view_and_filter(
        self, session: AsyncSession
    ) -> None:
        made = await _allocations(session)
        sample = made[1]
        beneficiary = {
            a.id: (await session.get(Application, a.application_id)).applicant_organisation_id  # type: ignore[union-attr]
            for a in made
        }
        fund = {a.id: Fund.FSE if a.call_id == sample.call_id else Fund.FESR for a in made}
        choices: dict[str, Any] = {
            "call_id": sample.call_id,
            "district_id": sample.district_id,
            "status": AllocationStatus.ACTIVE,
            "min_amount": euros(123_458),
            "max_amount": euros(700_000),
            "organisation_id": beneficiary[sample.id],
            "fund": Fund.FESR,
        }

        def matches(allocation: Allocation, filters: dict[str, Any]) -> bool:
            facts = {
                "organisation_id": beneficiary[allocation.id],
                "fund": fund[allocation.id],
            }
            own = {k: v for k, v in filters.items() if k not in facts}
            return _matches(allocation, own) and all(
                facts[k] == v for k, v in filters.items() if k in facts
            )

        revoked = made[2]
        application = await session.get(Application, revoked.application_id)
        assert application is not None
        assert application.applicant_organisation_id is not None
        owner = Principal(
            kind="user",
            id=uuid.uuid4(),
            role=Role.APPLICANT,
            organisation_ids=frozenset({application.applicant_organisation_id}),
        )
        views: list[tuple[Principal, Callable[[Allocation], bool]]] = [
            (ANONYMOUS, lambda a: a.status is AllocationStatus.ACTIVE),
            (REGION, lambda a: True),
            (owner, lambda a: a.status is AllocationStatus.ACTIVE or a is revoked),
        ]
        for principal, visible in views:
            for size in range(4):  # every filter, pair and triple of filters
                for names in itertools.combinations(choices, size):
                    filters = {name: choices[name] for name in names}
                    expected = sorted(
                        (a for a in made if visible(a) and matches(a, filters)),
                        key=lambda a: (a.granted_at, a.id),
                    )
                    for limit in (2, 50):
                        rows = await _walk(session, principal, filters, limit)
                        assert [allocation_item(row) for row in rows] == [
                            allocation_item(_columns(a)) for a in expected
                        ], (principal.actor, filters, limit)

    async def test_a_page_and_its_total_are_two_statements_on_the_driver(
        self, session: AsyncSession
    ) -> None:
        await _allocations(session)
        connection = await session.connection()
        with counting(connection) as statements:
            await repo.page_allocations(
                session,
                principal=ANONYMOUS,
                filters={},
                order=ALLOCATION_ORDER.columns,
                after=None,
                limit=3,
            )
            assert await repo.count_allocations(session, principal=ANONYMOUS, filters={}) == 7
        assert len(statements) == 2

    def test_an_in_list_is_not_precompiled(self) -> None:
        from sqlalchemy.dialects.postgresql import asyncpg

        statement = select(Allocation.id).where(Allocation.call_id.in_([uuid.uuid4()]))
        with pytest.raises(ValueError, match="IN list"):
            driver.compile_for_driver(statement, asyncpg.dialect())  # type: ignore[no-untyped-call]


def _matches(allocation: Allocation, filters: dict[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "call_id": lambda v: allocation.call_id == v,
        "district_id": lambda v: allocation.district_id == v,
        "status": lambda v: allocation.status is v,
        "min_amount": lambda v: allocation.amount >= v,
        "max_amount": lambda v: allocation.amount <= v,
    }
    return all(checks[name](value) for name, value in filters.items())


def _condition(name: str, value: Any) -> ColumnElement[bool]:
    if name == "min_amount":
        condition: ColumnElement[bool] = Allocation.amount >= value
        return condition
    column: ColumnElement[Any] = getattr(Allocation, name)
    condition = column == value
    return condition


def _columns(allocation: Allocation) -> tuple[Any, ...]:
    """The entity as a listed row: every column as stored (the amount in cents)."""
    stored = {"amount_cents": cents(allocation.amount)}
    return tuple(stored[name] if name in stored else getattr(allocation, name) for name in _NAMES)


_NAMES = [column.key for column in repo.ALLOCATION_LIST_COLUMNS]


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=40)
rows = st.tuples(
    st.uuids(),
    st.uuids(),
    st.uuids(),
    st.uuids(),
    st.uuids(),
    st.none() | st.uuids(),
    st.integers(min_value=0, max_value=MAX_CENTS),
    st.sampled_from(AllocationStatus) | st.sampled_from([s.value for s in AllocationStatus]),
    instants,
    texts,
    st.none() | instants,
    st.none() | texts,
    st.none() | texts,
    st.none() | st.from_regex(r"[A-Z][0-9]{2}[A-Z][0-9]{11}", fullmatch=True),  # cup
    st.none() | st.from_regex(r"[0-9]{1,10}", fullmatch=True),  # rna_cor
)


class TestSerialisation:
    @given(
        page=st.lists(rows, max_size=6),
        limit=st.integers(min_value=1, max_value=5),
        total=st.none() | st.integers(min_value=0, max_value=2**63 - 1),  # a COUNT is a bigint
    )
    def test_the_hot_page_is_byte_for_byte_the_model_page(
        self, page: list[tuple[Any, ...]], limit: int, total: int | None
    ) -> None:
        fast = ALLOCATION_ORDER.page_json(page, limit, allocation_item, total)
        model = ALLOCATION_ORDER.page(
            page, limit, lambda r: AllocationRead.model_validate(_entity(tuple(r)))
        )
        model.total = total
        assert fast == Page[AllocationRead].model_validate(model).model_dump_json().encode()

    @given(st.integers(min_value=-MAX_CENTS, max_value=MAX_CENTS))
    def test_cents_format_like_the_decimal_amount(self, cents: int) -> None:
        assert format_cents(cents) == format_amount(euros(cents))

    def test_the_cursor_of_an_asyncpg_row_matches_the_orm_one(self) -> None:
        at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        ident = uuid.uuid4()
        assert encode_cursor(at, ident) == encode_cursor(at.astimezone(UTC), uuid.UUID(str(ident)))


def _entity(row: tuple[Any, ...]) -> Allocation:
    values = dict(zip(_NAMES, row, strict=True))
    amount = euros(values.pop("amount_cents"))
    return Allocation(**values | {"amount": amount, "status": AllocationStatus(row[7])})


def test_no_dependency_runs_in_a_worker_thread(app: FastAPI) -> None:
    """FastAPI runs a plain function (or a class) dependency in the thread pool: on a list
    page that hop cost more than the query. Every dependency is a coroutine."""

    def sync_calls(dependant: Dependant) -> list[str]:
        found = []
        for sub in dependant.dependencies:
            call = sub.call
            if call is not None and not (
                inspect.iscoroutinefunction(call)
                or inspect.isasyncgenfunction(call)
                or inspect.iscoroutinefunction(type(call).__call__)
            ):
                found.append(getattr(call, "__qualname__", repr(call)))
            found.extend(sync_calls(sub))
        return found

    offenders = set()
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context.route, "dependant", None)
        if dependant is not None:
            offenders.update(sync_calls(dependant))
    assert not offenders


class TestTotals:
    @pytest.mark.usefixtures("session")
    async def test_a_counter_total_is_the_count_of_the_rows(self, session: AsyncSession) -> None:
        """Totals read from a cap counter (one call, measure or programme; active only) equal
        COUNT over the rows, after grants and a revocation; other shapes count the rows."""
        from sqlalchemy import func

        from app.schemas.application import AllocationCreate
        from app.services import allocations as service

        world = await budget(session, total=1_000_000, code="K")
        other = await budget(session, total=1_000_000, code="L")
        granted = []
        for n, place in enumerate((world, world, world, other)):
            application = await approved(session, place, requested=10, n=40 + n)
            granted.append(
                await service.grant_allocation(
                    session,
                    data=AllocationCreate(application_id=application.id, amount=Decimal("10.00")),
                    principal=REGION,
                )
            )
        await service.revoke_allocation(session, granted[0], reason="withdrawn", principal=REGION)
        shapes: list[dict[str, Any]] = [
            {"call_id": world.call.id},
            {"measure_id": world.measure.id},
            {"programme_id": world.programme.id},
            {"call_id": world.call.id, "status": AllocationStatus.ACTIVE},
            {"call_id": world.call.id, "status": AllocationStatus.REVOKED},
            {"call_id": world.call.id, "min_amount": Decimal("10.00")},
            {"call_id": uuid.uuid4()},
            {},
        ]
        for principal in (ANONYMOUS, REGION):
            for filters in shapes:
                query = select(func.count()).select_from(Allocation)
                query = query.where(*(_condition(k, v) for k, v in filters.items()))
                if not principal.is_region:
                    query = query.where(Allocation.status == AllocationStatus.ACTIVE)
                expected = await session.scalar(query)
                total = await repo.count_allocations(session, principal=principal, filters=filters)
                assert total == expected, (principal.kind, filters)
        assert (
            await repo.count_allocations(
                session, principal=ANONYMOUS, filters={"call_id": world.call.id}
            )
            == 2
        )
