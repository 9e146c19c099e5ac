"""The rules figures meet against a measure's indicator definitions (issue 20), apart from
app.services.indicators so that the submission (app.services.applications) can use them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import IndicatorTargetsMissing, IndicatorValuesInvalid
from app.core.i18n import msg
from app.models.indicator import Indicator
from app.repositories import indicators as repo


def categories_of(indicator: Indicator) -> dict[str, list[str]]:
    """Breakdown code -> its categories, in the data's order."""
    return {str(b["code"]): [str(c) for c in b["categories"]] for b in indicator.breakdowns}  # type: ignore[attr-defined]


def check_figures(
    indicators: Sequence[Indicator], figures: Mapping[str, Any], *, complete: bool
) -> None:
    """Refuse figures that name an unknown indicator, breakdown or category, or whose
    breakdown does not add up to the total. ``complete`` (a report): every indicator and
    each of its breakdowns is given; a target may leave a breakdown out."""
    defined = {i.code: i for i in indicators}
    unknown = sorted(set(figures) - set(defined))
    if unknown:
        raise IndicatorValuesInvalid(
            msg("The measure has no indicator {codes}.", codes=", ".join(unknown)),
            unknown=unknown,
            indicators=sorted(defined),
        )
    if complete and (absent := [code for code in defined if code not in figures]):
        raise IndicatorValuesInvalid(
            msg(
                "A report gives every indicator of the measure; missing: {codes}.",
                codes=", ".join(absent),
            ),
            missing=absent,
        )
    for code, figure in figures.items():
        wanted = categories_of(defined[code])
        given: Mapping[str, Mapping[str, int]] = figure["breakdowns"]
        if extra := sorted(set(given) - set(wanted)):
            raise IndicatorValuesInvalid(
                msg(
                    "Indicator {code} has no breakdown {breakdowns}.",
                    code=code,
                    breakdowns=", ".join(extra),
                ),
                indicator=code,
                unknown=extra,
                breakdowns=sorted(wanted),
            )
        if complete and (absent := [b for b in wanted if b not in given]):
            raise IndicatorValuesInvalid(
                msg(
                    "Indicator {code}: a report gives every breakdown; missing: {breakdowns}.",
                    code=code,
                    breakdowns=", ".join(absent),
                ),
                indicator=code,
                missing=absent,
            )
        for breakdown, cells in given.items():
            if set(cells) != set(wanted[breakdown]):
                raise IndicatorValuesInvalid(
                    msg(
                        "Indicator {code}: breakdown {breakdown} gives exactly the categories "
                        "{categories}.",
                        code=code,
                        breakdown=breakdown,
                        categories=", ".join(wanted[breakdown]),
                    ),
                    indicator=code,
                    breakdown=breakdown,
                    categories=wanted[breakdown],
                )
            if (summed := sum(cells.values())) != figure["total"]:
                raise IndicatorValuesInvalid(
                    msg(
                        "Indicator {code}: breakdown {breakdown} adds up to {summed}, not the "
                        "total {total}.",
                        code=code,
                        breakdown=breakdown,
                        summed=summed,
                        total=figure["total"],
                    ),
                    indicator=code,
                    breakdown=breakdown,
                    total=figure["total"],
                    summed=summed,
                )


def required_codes(indicators: Sequence[Indicator]) -> list[str]:
    return [i.code for i in indicators if i.target_required]


async def missing_targets(
    session: AsyncSession, application_id: uuid.UUID, measure_id: uuid.UUID
) -> IndicatorTargetsMissing | None:
    """The submission's finding when a required indicator has no target, naming them."""
    required = required_codes(await repo.list_indicators(session, measure_id))
    if not required:
        return None
    targets = await repo.get_targets(session, application_id)
    given = set(targets.figures) if targets is not None else set()
    missing = [code for code in required if code not in given]
    if not missing:
        return None
    return IndicatorTargetsMissing(
        msg("Set a target for {codes} before submitting.", codes=", ".join(missing)),
        missing=missing,
    )
