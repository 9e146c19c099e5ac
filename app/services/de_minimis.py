"""De minimis: a grant never takes a single undertaking's aid over its regulation's ceiling.

The regulation is the call's (``call.de_minimis_regulation``, from data); the check runs
where the measure's regime is ``de_minimis`` (``measure.state_aid_regime``; None, not given
by the source, runs none).

- Regulation (EU) 1407/2013 art. 3(2): EUR 200,000 over the current fiscal year and the two
  previous ones. The fiscal year is taken as the calendar year (an undertaking's own
  financial year is not recorded): aid granted from 1 January two years before the grant.
- Regulation (EU) 2023/2831 art. 3(2): EUR 300,000 over any period of three years, checked
  on the three years that end with the grant: aid granted after the same day three years
  before (29 February counts from 28 February).

Aid counted: the undertaking's active allocations in every de minimis measure, whatever
regulation they were granted under (2023/2831 art. 5(1) cumulates de minimis aid up to the
ceiling), granted on or after the period's first day (UTC, as the register's award dates).
A revocation releases the aid: a revoked allocation is not active.

Why a lock and a sum rather than a counter: the windows slide (a rolling three years moves
every day; fiscal years turn over), so no stored counter stays equal to "the aid in the
period" without a job moving it. The grant instead locks the undertaking's organisation row
(FOR UPDATE) before any budget counter (issue 17: the counters' rows are the hot ones, held
only from the grant's one write statement to its COMMIT), so every grant to the undertaking
(and every declaration of its organisations), in any programme, queues there; once it holds
the lock it sums the committed allocations (read committed: a new statement sees the previous
holder's commit). Its own allocation is written before it releases the lock at commit, so
two grants can never both see room for one. On SQLite the write transaction (BEGIN
IMMEDIATE) already serialises every grant. The lock order (organisation -> programme ->
measure -> call) never waits on a lock a submission holds while it waits on ours: a
submission takes the organisation (FOR SHARE) before the call. ``wecare check`` has no
counter to verify: the figure is recomputed from the allocations at every grant.

The single undertaking (2023/2831 art. 2(2)) is the organisation with the registered
organisations linked to it by a declaration, either way (app.models.state_aid; a link of a
link is not followed), and the aid counted adds the de minimis aid they declared from other
sources (granted on or after the period's first day). The grant locks all their rows, in id
order, and re-reads the group under the locks (a link declared meanwhile, which takes the
same locks, is then seen). An aid declared twice (by two linked organisations) counts twice:
the declarations cannot tell.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.domain import DeMinimisRegulation, StateAidRegime
from app.core.errors import DeMinimisCeilingExceeded, DeMinimisRegulationUnset, DomainError
from app.core.i18n import msg
from app.models.application import Application
from app.models.call import Call
from app.models.programme import Measure
from app.repositories import state_aid as repo
from app.schemas.dry_run import Cap

CEILING = {
    DeMinimisRegulation.R1407_2013: Decimal("200000.00"),
    DeMinimisRegulation.R2023_2831: Decimal("300000.00"),
}


class Period(NamedTuple):
    first_day: date
    last_day: date


def period(regulation: DeMinimisRegulation, day: date) -> Period:
    """The days whose aid counts with a grant made on ``day``, both included."""
    if regulation is DeMinimisRegulation.R1407_2013:
        return Period(date(day.year - 2, 1, 1), day)
    try:
        three_years_before = day.replace(year=day.year - 3)
    except ValueError:  # 29 February
        three_years_before = date(day.year - 3, 2, 28)
    return Period(three_years_before + timedelta(days=1), day)


class Assessment(NamedTuple):
    regulation: DeMinimisRegulation
    ceiling: Decimal
    granted: Decimal  # here, in de minimis measures
    declared: Decimal  # from other sources, as the undertaking declared it
    period: Period
    tax_code: str
    undertaking: list[uuid.UUID]

    @property
    def counted(self) -> Decimal:
        return self.granted + self.declared

    def fits(self, amount: Decimal) -> bool:
        return self.counted + amount <= self.ceiling

    def refusal(self, amount: Decimal) -> DeMinimisCeilingExceeded:
        return DeMinimisCeilingExceeded(
            msg(
                "Granting {amount} would take the de minimis aid of undertaking "
                "{tax_code} over the {ceiling} of Regulation (EU) {regulation} between "
                "{first_day} and {last_day}.",
                amount=amount,
                tax_code=self.tax_code,
                ceiling=self.ceiling,
                regulation=self.regulation,
                first_day=self.period.first_day,
                last_day=self.period.last_day,
            ),
            regulation=self.regulation.value,
            ceiling=self.ceiling,
            counted=self.counted,
            granted=self.granted,
            declared=self.declared,
            requested=amount,
            available=self.ceiling - self.counted,
            period_from=self.period.first_day.isoformat(),
            period_to=self.period.last_day.isoformat(),
            tax_code=self.tax_code,
            undertaking=[str(member) for member in self.undertaking],
        )

    def cap(self, amount: Decimal) -> Cap:
        return Cap(
            cap="de_minimis",
            code=self.regulation.value,
            budget=self.ceiling,
            allocated=self.counted,
            available=self.ceiling - self.counted,
            requested=amount,
            fits=self.fits(amount),
        )


def _unset(call: Call) -> DeMinimisRegulationUnset:
    return DeMinimisRegulationUnset(
        msg(
            "Measure of call {call_code} grants de minimis aid, but the call does "
            "not say under which regulation: set its de_minimis_regulation first.",
            call_code=call.code,
        ),
        call_code=call.code,
    )


async def _members(
    session: AsyncSession, organisation_id: uuid.UUID, *, lock: bool
) -> list[uuid.UUID]:
    """The single undertaking's organisations, locked when ``lock``: locked in id order, then
    read again under the locks (a link declared meanwhile adds its organisation, locked in
    turn), until the set read under the locks is the set locked."""
    members = await repo.single_undertaking(session, organisation_id)
    if not lock:
        return members
    locked: set[uuid.UUID] = set()
    while set(members) - locked:
        await repo.lock_undertakings(session, sorted(set(members) - locked))
        locked |= set(members)
        members = await repo.single_undertaking(session, organisation_id)
    return members


async def _assess(
    session: AsyncSession, application: Application, call: Call, *, now: datetime, lock: bool
) -> Assessment | DomainError | None:
    """None where no ceiling applies (no organisation to aid)."""
    regulation = call.de_minimis_regulation
    if regulation is None:
        return _unset(call)
    organisation_id = await repo.undertaking_of(session, application)
    if organisation_id is None:
        return None
    members = await _members(session, organisation_id, lock=lock)
    tax_code = await repo.tax_code_of(session, organisation_id)
    days = period(regulation, clock.day_of(now))
    since = clock.start_of(days.first_day)
    granted, declared = await repo.de_minimis_aid(session, members, since=since)
    return Assessment(regulation, CEILING[regulation], granted, declared, days, tax_code, members)


def applies(measure: Measure) -> bool:
    return measure.state_aid_regime is StateAidRegime.DE_MINIMIS


async def check_grant(
    session: AsyncSession,
    *,
    application: Application,
    measure: Measure,
    call: Call,
    amount: Decimal,
    now: datetime,
) -> None:
    """In the grant's transaction: lock the undertaking, then refuse (409 with the ceiling,
    the aid counted, this grant and the period) if the grant would pass the ceiling."""
    if not applies(measure):
        return
    found = await _assess(session, application, call, now=now, lock=True)
    if isinstance(found, DomainError):
        raise found
    if found is not None and not found.fits(amount):
        raise found.refusal(amount)


async def dry_run(
    session: AsyncSession,
    *,
    application: Application,
    measure: Measure,
    call: Call,
    amount: Decimal,
    now: datetime,
) -> tuple[Cap | None, DomainError | None]:
    """The de minimis cap as it stands now and the refusal a grant would meet (no lock)."""
    if not applies(measure):
        return None, None
    found = await _assess(session, application, call, now=now, lock=False)
    if isinstance(found, DomainError):
        return None, found
    if found is None:
        return None, None
    return found.cap(amount), None if found.fits(amount) else found.refusal(amount)
