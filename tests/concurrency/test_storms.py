"""Grant storms against a real server with four worker processes, on SQLite and PostgreSQL.

Hundreds of officers' grants are released at the same instant; the caps must hold exactly:
every request is answered 201 or 409 with the rule that refused it (never a 5xx), and the
counters in the database match the active allocations without ever passing a cap.

The figures of each storm (statuses, rules, wall time, totals) are logged at INFO; run with
``-o log_cli=true --log-cli-level=INFO`` to see them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.domain import (
    AllocationStatus,
)
from app.models.allocation import ACTIVE_ALLOCATION, Allocation
from app.models.application import Application
from app.models.audit import AuditEvent
from app.models.call import Call
from app.models.programme import Measure, Programme
from app.repositories.consistency import differences
from app.services.audit import verify_chain
from tests import ENGLISH, world
from tests.actors import make_organisation, tax_code
from tests.conftest import BACKENDS
from tests.live import StormServer, storm_server
from tests.world import EUR, Budget, cents, euros

log = logging.getLogger(__name__)

WORKERS = 4
PROBLEM_JSON = "application/problem+json"
BUDGET_RULES = {"programme_budget_cap", "measure_budget_cap", "call_budget_cap"}
FSE1_RULES = {"measure_project_cap", "district_already_funded"}

# Distinct numbers for every organisation and district this module creates (both backends):
# an applicant takes tax_code(n), a district's lead tax_code(500 + n) (tests.world.district).
_tax_codes = itertools.count(500)


# --- the live server --------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StormServer]:
    """A fresh migrated database, an officer, and ``wecare serve --workers 4`` on it."""
    backend = str(request.param)
    tmp_path = tmp_path_factory.mktemp(f"storm-{backend}")
    async with storm_server(backend, tmp_path, role=Role.OFFICER, workers=WORKERS) as server:
        yield server


# --- arranging the programme --------------------------------------------------------------


async def _scheme(
    session: AsyncSession,
    label: str,
    *,
    budget_cents: int,
    max_funded_projects: int | None = None,
    one_per_district: bool = False,
) -> Budget:
    """A programme with one measure with one call, all three with the same budget, under a
    code of its own (the storms of a run share one database)."""
    return await world.budget(
        session,
        total=budget_cents // EUR,
        max_projects=max_funded_projects,
        one_per_district=one_per_district,
        code=f"{label}-{uuid.uuid4().hex[:8].upper()}",
    )


async def _organisations(session: AsyncSession, count: int) -> list[uuid.UUID]:
    ids = []
    for _ in range(count):
        n = next(_tax_codes)
        organisation = await make_organisation(session, name=f"Ente {n}", tax_code=tax_code(n))
        ids.append(organisation.id)
    return ids


async def _districts(
    session: AsyncSession, scheme: Budget, count: int
) -> dict[uuid.UUID, uuid.UUID]:
    """Districts, each led by its own organisation: district id -> lead organisation id."""
    made = [await world.district(session, scheme, next(_tax_codes)) for _ in range(count)]
    return {found.id: found.lead_organisation_id for found in made}


def _approved(
    scheme: Budget, applicant: uuid.UUID, cents: int, *, district_id: uuid.UUID | None = None
) -> Application:
    return world.application(
        scheme, requested=cents // EUR, applicant_organisation_id=applicant, district_id=district_id
    )


# --- the storm ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    application_id: uuid.UUID
    status: int  # 0: no HTTP response (transport error)
    content_type: str
    body: dict[str, object]
    error: str | None = None

    @property
    def rule(self) -> str | None:
        rule = self.body.get("rule")
        return rule if isinstance(rule, str) else None


@dataclass
class Storm:
    outcomes: list[Outcome]
    seconds: float
    statuses: Counter[int] = field(init=False)
    rules: Counter[str | None] = field(init=False)

    def __post_init__(self) -> None:
        self.statuses = Counter(o.status for o in self.outcomes)
        self.rules = Counter(o.rule for o in self.outcomes if o.status == 409)

    def with_status(self, status: int) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 or o.status == 0]

    def summary(self) -> str:
        errors = Counter(
            (o.status, str(o.body.get("detail") or o.error)[:120]) for o in self.server_errors
        )
        return (
            f"{len(self.outcomes)} requests in {self.seconds:.2f} s: "
            f"statuses {dict(sorted(self.statuses.items()))}, 409 rules {dict(self.rules)} "
            f"({self.guarded} by a database guard), 5xx/transport {dict(errors)}"
        )

    @property
    def guarded(self) -> int:
        """Refusals that came from a constraint or unique index, not the service's checks."""
        return sum(1 for o in self.with_status(409) if o.body.get("constraint"))


async def _storm(live: StormServer, application_ids: Sequence[uuid.UUID], amount: str) -> Storm:
    """One grant per application, all released at once behind a barrier."""
    barrier = asyncio.Event()
    everyone_waiting = asyncio.Event()
    waiting = 0
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    headers = {**ENGLISH, "Authorization": f"Bearer {live.token}"}
    async with httpx.AsyncClient(
        base_url=live.base, limits=limits, timeout=120, headers=headers
    ) as client:

        async def grant(application_id: uuid.UUID) -> Outcome:
            nonlocal waiting
            waiting += 1
            if waiting == len(application_ids):
                everyone_waiting.set()
            await barrier.wait()
            try:
                response = await client.post(
                    "/api/v1/allocations",
                    json={"application_id": str(application_id), "amount": amount},
                )
            except httpx.HTTPError as exc:
                return Outcome(application_id, 0, "", {}, error=repr(exc))
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text}
            return Outcome(
                application_id,
                response.status_code,
                response.headers.get("content-type", ""),
                body if isinstance(body, dict) else {"detail": body},
            )

        tasks = [asyncio.create_task(grant(a)) for a in application_ids]
        await everyone_waiting.wait()
        started = time.perf_counter()
        barrier.set()
        outcomes = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started
    return Storm(list(outcomes), seconds)


@dataclass(frozen=True)
class Totals:
    programme: Programme
    measure: Measure
    call: Call
    active: list[Allocation]

    @property
    def active_cents(self) -> int:
        return sum(cents(a.amount) for a in self.active)

    def summary(self) -> str:
        p, m, c = self.programme, self.measure, self.call
        return (
            f"active allocations {len(self.active)} = {self.active_cents} cents; "
            f"programme {cents(p.allocated)}/{cents(p.total_budget)} cents "
            f"{p.funded_projects} projects; measure {cents(m.allocated)}/{cents(m.budget)} cents "
            f"{m.funded_projects}/{m.max_funded_projects} projects; "
            f"call {cents(c.allocated)}/{cents(c.budget)} cents {c.funded_projects} projects"
        )


async def _totals(live: StormServer, scheme: Budget) -> Totals:
    async with live.database.session(write=False) as session:
        programme = await session.get(Programme, scheme.programme.id)
        measure = await session.get(Measure, scheme.measure.id)
        call = await session.get(Call, scheme.call.id)
        assert programme is not None
        assert measure is not None
        assert call is not None
        active = (
            await session.scalars(
                select(Allocation).where(
                    Allocation.measure_id == scheme.measure.id,
                    Allocation.status == AllocationStatus.ACTIVE,
                )
            )
        ).all()
        revoked = await session.scalar(
            select(func.count())
            .select_from(Allocation)
            .where(
                Allocation.measure_id == scheme.measure.id,
                Allocation.status != AllocationStatus.ACTIVE,
            )
        )
        assert revoked == 0
        return Totals(programme, measure, call, list(active))


def _assert_within_caps(totals: Totals) -> None:
    p, m, c = totals.programme, totals.measure, totals.call
    assert cents(p.allocated) <= cents(p.total_budget)
    assert cents(m.allocated) <= cents(m.budget)
    assert cents(c.allocated) <= cents(c.budget)
    if m.max_funded_projects is not None:
        assert m.funded_projects <= m.max_funded_projects
    # The counters are exactly the active allocations.
    assert cents(p.allocated) == cents(m.allocated) == cents(c.allocated) == totals.active_cents
    assert p.funded_projects == m.funded_projects == c.funded_projects == len(totals.active)


def _assert_answers(storm: Storm, *, created: int, refused: int, rules: set[str]) -> None:
    assert storm.server_errors == [], storm.summary()
    # Every refusal is the service's, with its figures: grants queue on the programme row
    # before looking for a funded application or district, so no unique index is reached.
    assert storm.guarded == 0, storm.summary()
    assert set(storm.statuses) <= {201, 409}, storm.summary()
    assert storm.statuses[201] == created, storm.summary()
    assert storm.statuses[409] == refused, storm.summary()
    for outcome in storm.with_status(409):
        assert outcome.content_type.startswith(PROBLEM_JSON), outcome
        assert outcome.rule in rules, outcome


async def _assert_consistent(live: StormServer, label: str) -> None:
    """``wecare check`` on the live database: every counter equals the sum of its rows."""
    async with live.database.engine.connect() as connection:
        found = await differences(connection)
    log.info("[%s] %s: consistency check, %d differences", live.backend, label, len(found))
    assert found == [], "; ".join(map(str, found))


def _assert_granted_match(storm: Storm, totals: Totals) -> None:
    """The 201s are exactly the active allocations in the database."""
    granted = {o.application_id for o in storm.with_status(201)}
    assert {a.application_id for a in totals.active} == granted
    assert {str(a.id) for a in totals.active} == {str(o.body["id"]) for o in storm.with_status(201)}


# --- the storms ---------------------------------------------------------------------------


async def test_budget_storm_grants_exactly_the_budget(live: StormServer) -> None:
    """400 grants of 10,000.00 on a 1,000,000.00 programme: 100 pass, 300 are refused."""
    budget = 1_000_000 * EUR
    amount = 10_000 * EUR
    async with live.database.session(write=True) as session:
        scheme = await _scheme(session, "BUDGET", budget_cents=budget)
        applicants = await _organisations(session, 10)
        applications = [_approved(scheme, applicants[i % 10], amount) for i in range(400)]
        session.add_all(applications)
        await session.flush()
        application_ids = [a.id for a in applications]

    storm = await _storm(live, application_ids, "10000.00")
    totals = await _totals(live, scheme)
    log.info("[%s] budget storm: %s", live.backend, storm.summary())
    log.info("[%s] budget storm: %s", live.backend, totals.summary())

    await _assert_consistent(live, "budget storm")
    _assert_answers(storm, created=100, refused=300, rules=BUDGET_RULES)
    _assert_within_caps(totals)
    assert totals.active_cents == budget
    assert cents(totals.programme.allocated) == budget
    assert totals.programme.funded_projects == 100
    assert len(totals.active) == 100
    assert all(cents(a.amount) == amount for a in totals.active)
    _assert_granted_match(storm, totals)


async def test_fse1_storm_funds_thirty_projects_in_thirty_districts(live: StormServer) -> None:
    """FSE1: at most 30 projects, one per district; 400 grants over 50 districts."""
    budget = 100_000_000 * EUR
    amount = 100_000 * EUR
    async with live.database.session(write=True) as session:
        scheme = await _scheme(
            session, "FSE1", budget_cents=budget, max_funded_projects=30, one_per_district=True
        )
        leads = await _districts(session, scheme, 50)
        districts = list(leads)
        applications = [
            _approved(scheme, leads[districts[i % 50]], amount, district_id=districts[i % 50])
            for i in range(400)
        ]
        session.add_all(applications)
        await session.flush()
        district_of = {a.id: a.district_id for a in applications}

    storm = await _storm(live, list(district_of), "100000.00")
    totals = await _totals(live, scheme)
    log.info("[%s] FSE1 storm: %s", live.backend, storm.summary())
    log.info("[%s] FSE1 storm: %s", live.backend, totals.summary())

    await _assert_consistent(live, "FSE1 storm")
    _assert_answers(storm, created=30, refused=370, rules=FSE1_RULES)
    granted_districts = [district_of[o.application_id] for o in storm.with_status(201)]
    assert len(set(granted_districts)) == 30
    _assert_within_caps(totals)
    assert totals.measure.funded_projects == 30
    assert len(totals.active) == 30
    assert len({a.district_id for a in totals.active}) == 30
    assert {a.district_id for a in totals.active} == set(granted_districts)
    assert totals.active_cents == 30 * amount
    _assert_granted_match(storm, totals)


async def test_two_grants_in_one_district_one_wins(live: StormServer) -> None:
    """Two simultaneous grants to two projects of one district: one 201, one 409; 10 rounds."""
    rounds = 10
    amount = 50_000 * EUR
    async with live.database.session(write=True) as session:
        scheme = await _scheme(
            session, "PAIR", budget_cents=100_000_000 * EUR, one_per_district=True
        )
        leads = await _districts(session, scheme, rounds)
        pairs = [
            [_approved(scheme, lead, amount, district_id=d) for _ in range(2)]
            for d, lead in leads.items()
        ]
        session.add_all([a for pair in pairs for a in pair])
        await session.flush()
        pair_ids = [[a.id for a in pair] for pair in pairs]

    storms = [await _storm(live, ids, "50000.00") for ids in pair_ids]
    totals = await _totals(live, scheme)
    log.info(
        "[%s] district pairs: %s in %.2f s; 409 rules %s (%d by a database guard); %s",
        live.backend,
        dict(sum((s.statuses for s in storms), Counter[int]())),
        sum(s.seconds for s in storms),
        dict(sum((s.rules for s in storms), Counter[str | None]())),
        sum(s.guarded for s in storms),
        totals.summary(),
    )

    await _assert_consistent(live, "district pairs")
    for storm in storms:
        _assert_answers(storm, created=1, refused=1, rules={"district_already_funded"})
    _assert_within_caps(totals)
    assert len(totals.active) == rounds
    assert len({a.district_id for a in totals.active}) == rounds


async def test_call_storm_grants_exactly_each_calls_share(live: StormServer) -> None:
    """Two calls sharing 500,000.00 of a 1,000,000.00 measure (300,000.00 and 200,000.00):
    400 grants of 10,000.00, 200 on each call. The call shares bind, not the measure or the
    programme: 30 + 20 pass, 350 are refused with call_budget_cap."""
    budget = 1_000_000 * EUR
    amount = 10_000 * EUR
    shares = [300_000 * EUR, 200_000 * EUR]
    async with live.database.session(write=True) as session:
        scheme = await _scheme(session, "CALLS", budget_cents=budget)
        # The scheme's one call takes the first share; a second call of the same measure
        # takes the other; the measure's budget stays above the two together.
        first = await session.get(Call, scheme.call.id)
        measure = await session.get(Measure, scheme.measure.id)
        assert first is not None
        assert measure is not None
        first.budget = euros(shares[0])
        code = f"C2-{uuid.uuid4().hex[:8].upper()}"
        second = await world.new_call(session, measure, code=code, budget=shares[1] // EUR)
        measure.calls_budget = euros(sum(shares))
        await session.flush()
        schemes = [scheme, Budget(scheme.programme, scheme.measure, second)]
        applicants = await _organisations(session, 10)
        applications = [_approved(schemes[i % 2], applicants[i % 10], amount) for i in range(400)]
        session.add_all(applications)
        await session.flush()
        call_of = {a.id: a.call_id for a in applications}

    storm = await _storm(live, list(call_of), "10000.00")
    async with live.database.session(write=False) as session:
        programme = await session.get(Programme, scheme.programme.id)
        measure = await session.get(Measure, scheme.measure.id)
        calls = [await session.get(Call, s.call.id) for s in schemes]
        active = (
            await session.scalars(
                select(Allocation).where(
                    Allocation.measure_id == scheme.measure.id, ACTIVE_ALLOCATION
                )
            )
        ).all()
    assert programme is not None
    assert measure is not None
    log.info("[%s] call storm: %s", live.backend, storm.summary())
    log.info(
        "[%s] call storm: active allocations %d = %d cents; programme %d/%d cents; "
        "measure %d/%d cents; calls %s",
        live.backend,
        len(active),
        sum(cents(a.amount) for a in active),
        cents(programme.allocated),
        cents(programme.total_budget),
        cents(measure.allocated),
        cents(measure.budget),
        ", ".join(
            f"{cents(c.allocated)}/{cents(c.budget)} cents {c.funded_projects} projects"
            for c in calls
            if c is not None
        ),
    )
    await _assert_consistent(live, "call storm")

    _assert_answers(storm, created=50, refused=350, rules={"call_budget_cap"})
    for share, call in zip(shares, calls, strict=True):
        assert call is not None
        assert cents(call.allocated) == share
        granted = [o for o in storm.with_status(201) if call_of[o.application_id] == call.id]
        assert len(granted) == call.funded_projects == share // amount
    for outcome in storm.with_status(409):
        call_id = call_of[outcome.application_id]
        share = shares[0] if call_id == scheme.call.id else shares[1]
        assert outcome.body["cap"] == f"{share // EUR}.00", outcome
        assert outcome.body["available"] == "0.00", outcome
    assert cents(measure.allocated) == cents(programme.allocated) == sum(shares)
    assert cents(measure.allocated) < cents(measure.budget)
    assert {a.application_id for a in active} == {o.application_id for o in storm.with_status(201)}


async def test_the_audit_chain_survives_the_storms(live: StormServer) -> None:
    """After the storms (same server, same database): one event per grant, no fork."""
    async with live.database.engine.connect() as connection:
        verification = await verify_chain(connection)
        grants = await connection.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "allocation.grant")
        )
        allocations = await connection.scalar(select(func.count()).select_from(Allocation))
    assert verification.ok, verification
    assert verification.events == verification.head_seq  # contiguous from 1
    assert grants == allocations
    assert allocations is not None
    assert allocations >= 100 + 30 + 10 + 50
