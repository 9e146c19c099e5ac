"""Scoring grids: set with the call (create, update, reference data), locked by the first
score, read with the call. The ranking that reads them is built on this module's data."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import SelectionMethod
from app.core.errors import InvalidInput, ScoringGridLocked, ScoringGridUnavailable
from app.core.i18n import msg
from app.db.base import utcnow
from app.models.call import Call
from app.models.scoring import ScoringCriterion, ScoringGrid
from app.repositories import scoring as repo
from app.schemas.scoring import ScoringGridRead, ScoringGridSpec, grid_read, missing_figures

Grid = tuple[ScoringGrid, list[ScoringCriterion]]


def _values(spec: ScoringGridSpec) -> dict[str, Any]:
    return {
        "min_total": spec.min_total,
        "reviewers_per_application": spec.reviewers_per_application,
        "combination": spec.combination,
        "tie_breaks": [t.model_dump(exclude_none=True, mode="json") for t in spec.tie_breaks],
        "note": spec.note,
    }


def _criteria(grid_id: uuid.UUID, spec: ScoringGridSpec) -> list[ScoringCriterion]:
    return [
        ScoringCriterion(
            id=uuid.uuid4(),
            grid_id=grid_id,
            ordinal=ordinal,
            code=c.code,
            name_it=c.name.it,
            name_en=c.name.en,
            max_score=c.max_score,
            min_score=c.min_score,
        )
        for ordinal, c in enumerate(spec.criteria, start=1)
    ]


def require_ranking(call: Call, spec: ScoringGridSpec | None) -> None:
    """Only a call that selects by ranking (``ranking``, a graduatoria) has a grid."""
    if spec is not None and call.selection_method is not SelectionMethod.RANKING:
        raise InvalidInput(
            msg(
                "Call {call_code} selects by {selection_method}: only a ranking "
                "(ranking) call has a scoring grid.",
                call_code=call.code,
                selection_method=call.selection_method,
            ),
            field="scoring_grid",
            selection_method=call.selection_method,
        )


async def set_grid(session: AsyncSession, call: Call, spec: ScoringGridSpec) -> bool:
    """Create the call's grid or replace it while no score has locked it (409 after).
    Returns whether anything changed."""
    require_ranking(call, spec)
    found = (await repo.grids_of(session, [call.id])).get(call.id)
    if found is None:
        grid = ScoringGrid(id=uuid.uuid4(), call_id=call.id, **_values(spec))
        session.add(grid)
        await session.flush()
        session.add_all(_criteria(grid.id, spec))
        await session.flush()
        return True
    grid, criteria = found
    if grid_spec(grid, criteria) == spec:
        return False
    if not await repo.update_unlocked_grid(
        session, grid.id, {**_values(spec), "updated_at": utcnow()}
    ):
        locked = (await repo.grids_of(session, [call.id], fresh=True))[call.id][0]
        raise ScoringGridLocked(
            msg(
                "The scoring grid of call {call_code} was locked by its first score; it "
                "cannot change.",
                call_code=call.code,
            ),
            field="scoring_grid",
            locked_at=locked.locked_at,
        )
    await repo.delete_criteria(session, grid.id)
    session.add_all(_criteria(grid.id, spec))
    await session.flush()
    return True


def grid_spec(grid: ScoringGrid, criteria: Sequence[ScoringCriterion]) -> ScoringGridSpec:
    """The grid as its input shape: what a change compares with, and what the audit shows."""
    return ScoringGridSpec.model_validate(
        {
            "criteria": [
                {
                    "code": c.code,
                    "name": {"it": c.name_it, "en": c.name_en},
                    "max_score": c.max_score,
                    "min_score": c.min_score,
                }
                for c in criteria
            ],
            "min_total": grid.min_total,
            "reviewers_per_application": grid.reviewers_per_application,
            "combination": grid.combination,
            "tie_breaks": grid.tie_breaks,
            "note": grid.note,
        }
    )


async def grid_snapshot(session: AsyncSession, call_id: uuid.UUID) -> dict[str, Any] | None:
    found = (await repo.grids_of(session, [call_id], fresh=True)).get(call_id)
    return None if found is None else grid_spec(*found).model_dump(mode="json")


async def grids_read(
    session: AsyncSession, call_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ScoringGridRead]:
    return {
        call_id: grid_read(*found)
        for call_id, found in (await repo.grids_of(session, call_ids)).items()
    }


async def lock_for_scoring(session: AsyncSession, call_id: uuid.UUID, now: datetime) -> Grid:
    """The call's complete grid, locked (in this transaction) by the score being given.
    The lock comes first, the criteria are read after it: a grid change that committed
    meanwhile is what the score is checked against."""
    found = (await repo.grids_of(session, [call_id])).get(call_id)
    if found is None:
        raise ScoringGridUnavailable(
            msg(
                "The application's call has no scoring grid: it does not select by "
                "ranking, or its grid is not set yet."
            ),
            call_id=str(call_id),
        )
    await repo.lock_grid(session, found[0].id, now)
    grid, criteria = (await repo.grids_of(session, [call_id], fresh=True))[call_id]
    missing = missing_figures(grid, criteria)
    if missing:
        raise ScoringGridUnavailable(
            msg(
                "The call's scoring grid is incomplete (figures not given by the "
                "source): nobody scores on it until an officer completes it."
            ),
            call_id=str(call_id),
            missing=missing,
        )
    return grid, criteria
