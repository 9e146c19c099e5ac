"""A first-come storm against a real server with four worker processes, on SQLite and
PostgreSQL: 400 submissions to one first-come call released at the same instant, while
applicants withdraw reserved applications. Submissions queue on the call's row one at a time;
on a loaded machine the last of them can wait past a worker's pool timeout and be answered
503 with Retry-After (nothing done), which the storm's client honours, as clients are told
to; the retries are counted in the log.

Commit order is the audit chain's order (every submission appends its events while it holds
the call's row, and the chain's head serialises the appends). Replaying the chain's
reserve / wait-list / release / promote / leave events against a model of the rules checks
that every decision was the one the rules give in that order: the reserved set is a prefix
of the commit order given the amounts, the list is served in strict order, and positions
stay contiguous. Figures are logged at INFO (``-o log_cli=true --log-cli-level=INFO``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select

from app.core.auth import Role
from app.core.domain import ApplicationStatus, SelectionMethod
from app.models.application import Application
from app.models.audit import AuditEvent
from app.models.call import Call
from app.repositories.consistency import differences
from app.services.audit import verify_chain
from tests import ENGLISH, world
from tests.actors import make_organisation, tax_code
from tests.conftest import BACKENDS
from tests.live import StormServer, storm_server
from tests.world import cents

log = logging.getLogger(__name__)

WORKERS = 4
SUBMISSIONS = 400
WITHDRAWALS = 20
BUDGET_EUROS = 300_000
# Requests from 1,000 to 5,000 euros in a fixed pattern: about a third of the storm fits.
REQUESTS = [1_000 * (1 + (i * 7) % 5) for i in range(SUBMISSIONS)]
QUEUE_ACTIONS = {
    "application.reserve",
    "application.wait_list",
    "application.release",
    "application.promote",
    "application.leave_waiting_list",
}


@pytest.fixture(scope="module", params=BACKENDS)
async def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StormServer]:
    """A fresh migrated database, an administrator (who may act for any applicant), and
    ``wecare serve --workers 4`` on it."""
    backend = str(request.param)
    tmp_path = tmp_path_factory.mktemp(f"first-come-{backend}")
    async with storm_server(backend, tmp_path, role=Role.ADMINISTRATOR, workers=WORKERS) as server:
        yield server


@dataclass
class Queue:
    """The rules, replayed: what a first-come call holds after each committed event."""

    budget: int
    requested: dict[str, int]
    reserved: dict[str, int] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)

    @property
    def left(self) -> int:
        return self.budget - sum(self.reserved.values())

    def fits(self, key: str) -> bool:
        return self.requested[key] <= self.left

    def expected_promotions(self) -> list[str]:
        promoted, left = [], self.left
        for key in self.waiting:
            if self.requested[key] > left:
                break
            promoted.append(key)
            left -= self.requested[key]
        return promoted

    def replay(self, events: list[tuple[str, str, dict[str, object]]]) -> Counter[str]:
        """Check each event against the rules; the count of each kind."""
        seen: Counter[str] = Counter()
        pending: list[str] = []  # promotions the last release must be followed by
        for action, key, after in events:
            seen[action] += 1
            if action != "application.promote":
                assert pending == [], f"the line was not served after a release: {pending}"
            if action == "application.reserve":
                assert not self.waiting, f"{key} reserved while {len(self.waiting)} waited"
                assert self.fits(key), f"{key} reserved {self.requested[key]} of {self.left}"
                self.reserved[key] = self.requested[key]
            elif action == "application.wait_list":
                assert self.waiting or not self.fits(key), f"{key} waited although it fitted"
                self.waiting.append(key)
                assert after["waiting_position"] == len(self.waiting)
            elif action == "application.release":
                del self.reserved[key]
                pending = self.expected_promotions()
            elif action == "application.promote":
                assert pending, f"{key} promoted with no release to make room"
                assert pending[0] == key, f"{key} promoted out of order: {pending}"
                pending.pop(0)
                assert self.waiting[0] == key
                self.waiting.pop(0)
                self.reserved[key] = self.requested[key]
            elif action == "application.leave_waiting_list":
                assert after["left_position"] == self.waiting.index(key) + 1
                self.waiting.remove(key)
            assert sum(self.reserved.values()) <= self.budget
        assert pending == []
        return seen


@dataclass(frozen=True)
class Sent:
    path: str
    status: int  # 0: no HTTP response (transport error)
    content_type: str
    body: dict[str, object]
    retried: int  # 503 answers (database busy, Retry-After) before this one


async def _send(client: httpx.AsyncClient, barrier: asyncio.Event, path: str) -> Sent:
    """One action, as a well-behaved client sends it: a 503 (the service shedding load: a
    worker's pool stayed exhausted past its timeout, nothing was done) is retried after its
    Retry-After, at most five times; every other answer is final."""
    await barrier.wait()
    retried = 0
    while True:
        try:
            response = await client.post(path, headers={"If-Match": "*"})
        except httpx.HTTPError as exc:
            return Sent(path, 0, "", {"detail": repr(exc)}, retried)
        if response.status_code == 503 and retried < 5:
            retried += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text}
        return Sent(
            path, response.status_code, response.headers.get("content-type", ""), body, retried
        )


async def test_first_come_storm(live: StormServer) -> None:
    """400 submissions of 1,000-5,000 euros to a 300,000 euro first-come call, released at
    once with 20 withdrawals of applications reserved before it."""
    async with live.database.session(write=True) as session:
        scheme = await world.budget(
            session, total=BUDGET_EUROS, code=f"FC-{uuid.uuid4().hex[:8].upper()}"
        )
        call = await session.get(Call, scheme.call.id)
        assert call is not None
        call.selection_method = SelectionMethod.FIRST_COME
        world.open_window(session, scheme)
        applicants = []
        for n in range(1, 11):
            organisation = await make_organisation(
                session, name=f"Impresa {n}", tax_code=tax_code(n)
            )
            applicants.append(organisation.id)
        # Reserved before the storm (in order, as the service would): what is withdrawn.
        early = [
            world.application(
                scheme,
                requested=5_000,
                status=ApplicationStatus.SUBMITTED,
                applicant_organisation_id=applicants[i % 10],
            )
            for i in range(WITHDRAWALS)
        ]
        for made in early:
            made.reserved = made.requested
        call.reserved = sum((a.requested for a in early), call.reserved)
        drafts = [
            world.application(
                scheme,
                requested=REQUESTS[i],
                status=ApplicationStatus.DRAFT,
                applicant_organisation_id=applicants[i % 10],
            )
            for i in range(SUBMISSIONS)
        ]
        session.add_all([*early, *drafts])
        await session.flush()
        requested = {str(a.id): cents(a.requested) for a in [*early, *drafts]}
        initial = {str(a.id): cents(a.reserved) for a in early}

    barrier = asyncio.Event()
    limits = httpx.Limits(max_connections=SUBMISSIONS + WITHDRAWALS, max_keepalive_connections=0)
    headers = {**ENGLISH, "Authorization": f"Bearer {live.token}"}
    async with httpx.AsyncClient(
        base_url=live.base, limits=limits, timeout=120, headers=headers
    ) as client:
        paths = [f"/api/v1/applications/{a.id}/submit" for a in drafts]
        # The withdrawals go in among the submissions, a tenth of the way apart.
        for i, made in enumerate(early):
            paths.insert(
                (i + 1) * len(paths) // (WITHDRAWALS + 1),
                f"/api/v1/applications/{made.id}/withdraw",
            )
        # Warm every worker's pool first (reads, concurrently): the storm then measures the
        # queue on the call, not 60 connections being opened at once on a loaded machine.
        warm = [client.get(f"/api/v1/calls/{scheme.call.id}") for _ in range(120)]
        assert {r.status_code for r in await asyncio.gather(*warm)} == {200}
        tasks = [asyncio.create_task(_send(client, barrier, p)) for p in paths]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        barrier.set()
        outcomes = await asyncio.gather(*tasks)
        seconds = time.perf_counter() - started

    statuses = Counter(o.status for o in outcomes)
    retries = sum(o.retried for o in outcomes)
    log.info(
        "[%s] first-come storm: %d requests in %.2f s: %s, %d retried 503s",
        live.backend,
        len(outcomes),
        seconds,
        dict(statuses),
        retries,
    )
    assert statuses == {200: SUBMISSIONS + WITHDRAWALS}, [o for o in outcomes if o.status != 200][
        :5
    ]

    async with live.database.session(write=False) as session:
        call = await session.get(Call, scheme.call.id)
        assert call is not None
        held = (
            await session.scalars(select(Application).where(Application.call_id == call.id))
        ).all()
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(QUEUE_ACTIONS))
                .order_by(AuditEvent.seq)
            )
        ).all()
    ids = {str(a.id) for a in held}
    replayed = [
        (e.action, str(uuid.UUID(e.entity_id)), json.loads(e.after or "{}"))
        for e in events
        if str(uuid.UUID(e.entity_id)) in ids
    ]
    queue = Queue(cents(call.budget), requested, reserved=dict(initial))
    seen = queue.replay(replayed)
    log.info(
        "[%s] first-come storm: events %s; call reserved %d of %d cents, %d waiting",
        live.backend,
        dict(seen),
        cents(call.reserved),
        cents(call.budget),
        call.waiting_count,
    )
    # The database holds exactly what the replay says.
    assert {str(a.id): cents(a.reserved) for a in held if a.reserved} == queue.reserved
    waiting = sorted((a.waiting_position, str(a.id)) for a in held if a.waiting_position)
    assert [key for _, key in waiting] == queue.waiting
    assert [position for position, _ in waiting] == list(range(1, len(waiting) + 1))
    assert cents(call.reserved) == sum(queue.reserved.values()) <= cents(call.budget)
    assert call.waiting_count == len(queue.waiting) > 0
    assert seen["application.reserve"] + seen["application.wait_list"] == SUBMISSIONS
    assert seen["application.release"] == WITHDRAWALS
    assert seen["application.promote"] > 0  # the withdrawals served the line
    # Nothing fits the head of the line: a promotion would have been missed otherwise.
    assert queue.requested[queue.waiting[0]] > queue.left
    async with live.database.engine.connect() as connection:
        assert await differences(connection) == []
        assert (await verify_chain(connection)).ok
