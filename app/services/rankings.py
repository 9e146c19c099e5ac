"""A call's ranking (graduatoria): computed from the scoring grid and the reviewers' scores,
visible to the region as a draft, published as immutable, versioned snapshots.

The rules, in order:

- **Ranked**: the call's applications under review or approved (scores are given under
  review; approval follows the ranking) whose scored reviews number at least the grid's
  ``reviewers_per_application``. Applications under review still short of scores are listed
  apart (``awaiting_scores``) and block publication; an approved one short of them (approved
  outside a ranking, before the call had a grid) is not ranked. Submitted applications have
  no scores yet; rejected and withdrawn ones are out of the selection.
- **Averages**: per criterion, the mean of the reviewers' scores (``trimmed_mean``: after
  dropping that criterion's highest and lowest score when there are three or more), rounded
  to two places half up. The total is the sum of the rounded averages, so every published
  figure adds up; thresholds and order apply to these published figures.
- **Thresholds**: an average at least the criterion's ``min_score`` and a total at least
  ``min_total`` pass (equal passes); otherwise ``below_threshold`` with what failed.
- **Order**: the total, higher first; then the grid's tie-breaks in order (a criterion's
  average, higher first; the earlier submission); then the application id, so the order is
  total. An entry tied on total with the one above names the rule that set it after.
- **Funding**: what is left is the call's budget minus its allocated counter. Down the
  order, an application already granted (an active allocation: its amount is in the
  counter) is ``fundable`` and takes nothing more; any other is ``fundable`` when its
  requested amount fits what is left (equal fits), which it then takes. The first that does
  not fit ends the money: it and every one after it are ``eligible_not_funded`` (an
  application is never funded ahead of one ranked above it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Scope
from app.core.domain import (
    ApplicationStatus,
    RankingOutcome,
    ScoreCombination,
    SelectionMethod,
    TieBreakKind,
)
from app.core.errors import NotFound, RankingNotReady, ScoringGridUnavailable
from app.core.i18n import msg
from app.core.identity import is_legal_entity_tax_code
from app.models.call import Call
from app.models.ranking import Ranking, RankingEntry
from app.models.scoring import ScoringCriterion, ScoringGrid
from app.repositories import rankings as repo
from app.repositories import scoring as scoring_repo
from app.repositories.rankings import Candidate
from app.schemas.page import Page
from app.schemas.ranking import (
    AwaitingScoresRead,
    CriterionAverageRead,
    DraftRankingRead,
    RankingEntryRead,
    RankingPublish,
    RankingQuery,
    RankingRead,
    RankingSummaryRead,
)
from app.schemas.scoring import ScoringGridSpec, missing_figures
from app.services import audit
from app.services.calls import load_call
from app.services.paging import SortKey
from app.services.scoring import grid_spec

RANKED = (ApplicationStatus.UNDER_REVIEW, ApplicationStatus.APPROVED)
HUNDREDTH = Decimal("0.01")
LAST_RESORT = "application_id"
VERSION_ORDER = SortKey[Ranking](Ranking.version, Ranking.id)


def points(value: Fraction) -> Decimal:
    """An exact mean as published: two places, half up (never through a float)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def combine(scores: Sequence[int], combination: ScoreCombination) -> Decimal:
    """One criterion's scores as its average: the mean, or the trimmed mean (the highest
    and the lowest dropped when there are three or more)."""
    kept = sorted(scores)
    if combination is ScoreCombination.TRIMMED_MEAN and len(kept) >= 3:
        kept = kept[1:-1]
    return points(Fraction(sum(kept), len(kept)))


@dataclass
class _Scored:
    candidate: Candidate
    averages: dict[str, Decimal]
    total: Decimal
    failed: list[str]


@dataclass(frozen=True)
class Draft:
    """A computed ranking with what it was computed from."""

    call: Call
    grid: ScoringGrid
    criteria: list[ScoringCriterion]
    read: DraftRankingRead


def _name(candidate: Candidate) -> str | None:
    if candidate.partnership_name is not None:
        return candidate.partnership_name
    if candidate.applicant_tax_code and is_legal_entity_tax_code(candidate.applicant_tax_code):
        return candidate.applicant_name
    return None


def _score(candidate: Candidate, grid: ScoringGrid, criteria: list[ScoringCriterion]) -> _Scored:
    assert grid.combination is not None
    assert grid.min_total is not None
    averages = {
        c.code: combine(
            [s[c.code] for s in candidate.scores.values() if c.code in s], grid.combination
        )
        for c in criteria
    }
    total = sum(averages.values(), Decimal("0.00"))
    failed = [
        c.code for c in criteria if c.min_score is not None and averages[c.code] < c.min_score
    ]
    if total < grid.min_total:
        failed.append("min_total")
    return _Scored(candidate, averages, total, failed)


def _key(grid: ScoringGrid, scored: _Scored) -> tuple[tuple[object, ...], ...]:
    """The sort key: total, then each tie-break, then the id (each part ascending)."""
    parts: list[tuple[object, ...]] = [(-scored.total,)]
    for rule in grid.tie_breaks:
        if rule["kind"] == TieBreakKind.CRITERION:
            parts.append((-scored.averages[rule["criterion"]],))
        else:
            submitted = scored.candidate.submitted_at
            parts.append((submitted is None, submitted or datetime.max.replace(tzinfo=UTC)))
    parts.append((str(scored.candidate.id),))
    return tuple(parts)


def _rule_names(grid: ScoringGrid) -> list[str]:
    names = [
        f"criterion:{r['criterion']}" if r["kind"] == TieBreakKind.CRITERION else str(r["kind"])
        for r in grid.tie_breaks
    ]
    return [*names, LAST_RESORT]


def _order(grid: ScoringGrid, scored: list[_Scored]) -> list[tuple[_Scored, str | None]]:
    """Sorted, each with the tie-break rule that set it after an equal total above."""
    keys = {id(s): _key(grid, s) for s in scored}
    ordered = sorted(scored, key=lambda s: keys[id(s)])
    names = _rule_names(grid)
    result: list[tuple[_Scored, str | None]] = []
    for index, entry in enumerate(ordered):
        rule = None
        if index and ordered[index - 1].total == entry.total:
            above, mine = keys[id(ordered[index - 1])], keys[id(entry)]
            rule = next(names[i - 1] for i in range(1, len(mine)) if above[i] != mine[i])
        result.append((entry, rule))
    return result


def _entries(
    grid: ScoringGrid, criteria: list[ScoringCriterion], ranked: list[Candidate], left: Decimal
) -> list[RankingEntryRead]:
    scored = [_score(c, grid, criteria) for c in ranked]
    passing = _order(grid, [s for s in scored if not s.failed])
    below = _order(grid, [s for s in scored if s.failed])
    entries: list[RankingEntryRead] = []
    money_ran_out = False
    for position, (entry, rule) in enumerate(passing, start=1):
        candidate = entry.candidate
        if candidate.allocated is not None:
            outcome = RankingOutcome.FUNDABLE
        elif not money_ran_out and candidate.requested <= left:
            outcome = RankingOutcome.FUNDABLE
            left -= candidate.requested
        else:
            money_ran_out = True
            outcome = RankingOutcome.ELIGIBLE_NOT_FUNDED
        entries.append(_entry(entry, criteria, position, outcome, rule))
    entries.extend(
        _entry(entry, criteria, None, RankingOutcome.BELOW_THRESHOLD, rule) for entry, rule in below
    )
    return entries


def _entry(
    scored: _Scored,
    criteria: list[ScoringCriterion],
    position: int | None,
    outcome: RankingOutcome,
    rule: str | None,
) -> RankingEntryRead:
    candidate = scored.candidate
    return RankingEntryRead(
        position=position,
        application_id=candidate.id,
        applicant_name=_name(candidate),
        title=candidate.title,
        requested=candidate.requested,
        submitted_at=candidate.submitted_at,
        reviews=len(candidate.scores),
        averages=[
            CriterionAverageRead(criterion=c.code, average=scored.averages[c.code])
            for c in criteria
        ],
        total=scored.total,
        outcome=outcome,
        failed=scored.failed,
        tie_break=rule,
    )


async def _complete_grid(
    session: AsyncSession, call: Call
) -> tuple[ScoringGrid, list[ScoringCriterion]]:
    found = (await scoring_repo.grids_of(session, [call.id])).get(call.id)
    if found is None or call.selection_method is not SelectionMethod.RANKING:
        raise ScoringGridUnavailable(
            msg(
                "Call {call_code} has no scoring grid: it does not select by ranking, or "
                "its grid is not set yet.",
                call_code=call.code,
            ),
            call_id=str(call.id),
        )
    missing = missing_figures(*found)
    if missing:
        raise ScoringGridUnavailable(
            msg(
                "The scoring grid of call {call_code} is incomplete (figures not given "
                "by the source): no ranking until an officer completes it.",
                call_code=call.code,
            ),
            call_id=str(call.id),
            missing=missing,
        )
    return found


async def compute(session: AsyncSession, call: Call) -> Draft:
    """The call's ranking as its scores stand now (409 without a complete grid)."""
    grid, criteria = await _complete_grid(session, call)
    assert grid.reviewers_per_application is not None
    required = grid.reviewers_per_application
    ranked: list[Candidate] = []
    awaiting: list[AwaitingScoresRead] = []
    for candidate in await repo.candidates(session, call.id, RANKED):
        if len(candidate.scores) >= required:
            ranked.append(candidate)
        elif candidate.status is ApplicationStatus.UNDER_REVIEW:
            awaiting.append(
                AwaitingScoresRead(
                    application_id=candidate.id, scored=len(candidate.scores), required=required
                )
            )
    latest = await repo.latest(session, call.id)
    read = DraftRankingRead(
        call_id=call.id,
        budget=call.budget,
        allocated=call.allocated,
        available=call.budget - call.allocated,
        latest_version=None if latest is None else latest.version,
        grid=grid_spec(grid, criteria),
        entries=_entries(grid, criteria, ranked, call.budget - call.allocated),
        awaiting_scores=awaiting,
    )
    return Draft(call, grid, criteria, read)


async def load_draft(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, *, lock: bool = False
) -> Draft:
    """The draft ranking: the region's only (404 for anyone else, as a draft call is).
    ``lock`` first locks the call's row, so publications of one call queue (PostgreSQL)."""
    if not principal.has(Scope.CALLS_WRITE):
        raise NotFound(msg("No draft ranking of call {call_id}.", call_id=call_id))
    call = await load_call(session, call_id, principal)
    if lock:
        await repo.lock_call(session, call.id)
        await session.refresh(call)
    return await compute(session, call)


async def get_draft(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID
) -> DraftRankingRead:
    return (await load_draft(session, principal, call_id)).read


async def publish(
    session: AsyncSession, draft: Draft, *, data: RankingPublish, principal: Principal
) -> Ranking:
    """Freeze the draft as the call's next version, replacing the latest one (audited)."""
    if draft.read.awaiting_scores:
        raise RankingNotReady(
            msg(
                "{awaiting_scores_count} application(s) under review still await their "
                "reviewers' scores.",
                awaiting_scores_count=len(draft.read.awaiting_scores),
            ),
            awaiting=[str(a.application_id) for a in draft.read.awaiting_scores],
        )
    latest = await repo.latest(session, draft.call.id)
    ranking = Ranking(
        id=uuid.uuid4(),
        call_id=draft.call.id,
        version=1 if latest is None else latest.version + 1,
        replaces_id=None if latest is None else latest.id,
        decree_reference=data.decree_reference,
        decree_date=data.decree_date,
        published_at=datetime.now(UTC),
        published_by=principal.id,
        budget=draft.read.budget,
        allocated=draft.read.allocated,
        grid=draft.read.grid.model_dump(mode="json"),
    )
    session.add(ranking)
    await session.flush()
    session.add_all(
        RankingEntry(
            id=uuid.uuid4(),
            ranking_id=ranking.id,
            ordinal=ordinal,
            position=e.position,
            application_id=e.application_id,
            applicant_name=e.applicant_name,
            title=e.title,
            requested=e.requested,
            submitted_at=e.submitted_at,
            reviews=e.reviews,
            averages=[a.model_dump(mode="json") for a in e.averages],
            total=e.total,
            outcome=e.outcome,
            failed=e.failed,
            tie_break=e.tie_break,
        )
        for ordinal, e in enumerate(draft.read.entries, start=1)
    )
    await session.flush()
    await audit.record(
        session,
        action="ranking.publish",
        entity_type="ranking",
        entity_id=ranking.id,
        after={
            **audit.snapshot(ranking),
            "entries": [e.model_dump(mode="json") for e in draft.read.entries],
        },
    )
    return ranking


async def read_ranking(session: AsyncSession, ranking: Ranking) -> RankingRead:
    replaces = await repo.versions_of(session, [ranking.replaces_id] if ranking.replaces_id else [])
    entries = await repo.entries(session, ranking.id)
    return RankingRead(
        **_summary(ranking, replaces).model_dump(),
        grid=ScoringGridSpec.model_validate(ranking.grid),
        entries=[RankingEntryRead.model_validate(e) for e in entries],
    )


def _summary(ranking: Ranking, versions: dict[uuid.UUID, int]) -> RankingSummaryRead:
    return RankingSummaryRead(
        id=ranking.id,
        call_id=ranking.call_id,
        version=ranking.version,
        replaces=None if ranking.replaces_id is None else versions[ranking.replaces_id],
        decree_reference=ranking.decree_reference,
        decree_date=ranking.decree_date,
        published_at=ranking.published_at,
        budget=ranking.budget,
        allocated=ranking.allocated,
    )


async def list_rankings(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, query: RankingQuery
) -> Page[RankingSummaryRead]:
    """The call's published versions, oldest first. Public with a public call."""
    call = await load_call(session, call_id, principal)
    rows = await VERSION_ORDER.fetch(query, partial(repo.page_rankings, session, call_id=call.id))
    shown = rows[: query.limit]
    versions = await repo.versions_of(session, [r.replaces_id for r in shown if r.replaces_id])
    return VERSION_ORDER.page(rows, query.limit, lambda r: _summary(r, versions))


async def load_ranking(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, version: int
) -> Ranking:
    call = await load_call(session, call_id, principal)
    ranking = await repo.get_version(session, call.id, version)
    if ranking is None:
        raise NotFound(
            msg(
                "Call {call_code} has no published ranking version {version}.",
                call_code=call.code,
                version=version,
            )
        )
    return ranking


async def get_ranking(
    session: AsyncSession, principal: Principal, call_id: uuid.UUID, version: int
) -> RankingRead:
    return await read_ranking(session, await load_ranking(session, principal, call_id, version))
