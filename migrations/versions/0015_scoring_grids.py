"""Scoring grids: a call's criteria as data, scores per criterion, conflict declarations.

- ``scoring_grid`` (one per call), ``scoring_criterion`` and ``review_score`` (a reviewer's
  whole-point score and comment on one criterion). ``review.score`` and ``review.comment``
  go: a review's total is the sum of its criterion scores, never stored.
- ``review.conflict_declared_at``: when the reviewer declared no conflict of interest.
- Every call that already has reviews gets a one-criterion grid: ``overall``, 0-100, no
  admissibility threshold, one reviewer per application at least (the most any of its
  applications has), the mean, earlier submission first on a tie. Each scored review keeps its
  0-100 score and comment as its ``overall`` score; the grid is locked when any was scored.
  Those reviews were scored before declarations existed, so they carry none.
- Triggers, on both databases, guard what the service checks:
  ``scoring_grid_locked_check`` (a locked grid and its criteria never change),
  ``review_score_within_max_check`` (a score is at most its criterion's maximum, which must
  be known), ``review_score_grid_locked_check`` (a score exists only on a locked grid: the
  first score locks it in its own transaction), ``review_conflict_declared_check`` (a score
  needs the reviewer's declaration). The migrated scores are written before the triggers
  exist.

Downgrade puts each review's total back as its 0-100 score (its comments joined, each after
its criterion's code when there are several) and refuses when a total exceeds 100.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 18:20:00
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCKED = "scoring_grid_locked_check"
WITHIN_MAX = "review_score_within_max_check"
ON_LOCKED = "review_score_grid_locked_check"
DECLARED = "review_conflict_declared_check"
MIGRATED_NOTE = (
    "Made by migration 0014 from the single 0-100 score reviews had before scoring grids."
)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _time(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def upgrade() -> None:
    bind = op.get_bind()
    legacy = bind.execute(
        sa.text(
            "SELECT r.id, r.application_id, a.call_id, r.score, r.comment, r.scored_at "
            "FROM review r JOIN application a ON a.id = r.application_id"
        )
    ).all()

    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("review_score_range_check"), type_="check")
        batch_op.drop_constraint(op.f("review_scored_has_time_check"), type_="check")
        batch_op.drop_column("score")
        batch_op.drop_column("comment")
        batch_op.add_column(
            sa.Column("conflict_declared_at", sa.DateTime(timezone=True), nullable=True)
        )

    grid = op.create_table(
        "scoring_grid",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("min_total", sa.Integer(), nullable=True),
        sa.Column("reviewers_per_application", sa.Integer(), nullable=True),
        sa.Column(
            "combination",
            sa.Enum(
                "mean",
                "trimmed_mean",
                name="score_combination",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "tie_breaks",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_total IS NULL OR min_total >= 0",
            name=op.f("scoring_grid_min_total_non_negative_check"),
        ),
        sa.CheckConstraint(
            "reviewers_per_application IS NULL OR reviewers_per_application >= 1",
            name=op.f("scoring_grid_reviewers_positive_check"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["call.id"], name=op.f("scoring_grid_call_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scoring_grid_pkey")),
        sa.UniqueConstraint("call_id", name=op.f("scoring_grid_call_id_key")),
    )
    criterion = op.create_table(
        "scoring_criterion",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grid_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_it", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("max_score", sa.Integer(), nullable=True),
        sa.Column("min_score", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "max_score IS NULL OR max_score > 0", name=op.f("scoring_criterion_max_positive_check")
        ),
        sa.CheckConstraint(
            "min_score IS NULL OR (min_score >= 0 AND (max_score IS NULL OR min_score <= "
            "max_score))",
            name=op.f("scoring_criterion_min_within_max_check"),
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["scoring_grid.id"],
            name=op.f("scoring_criterion_grid_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("scoring_criterion_pkey")),
        sa.UniqueConstraint("grid_id", "code", name=op.f("scoring_criterion_grid_id_code_key")),
        sa.UniqueConstraint(
            "grid_id", "ordinal", name=op.f("scoring_criterion_grid_id_ordinal_key")
        ),
    )
    score = op.create_table(
        "review_score",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("criterion_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint("score >= 0", name=op.f("review_score_score_non_negative_check")),
        sa.ForeignKeyConstraint(
            ["criterion_id"],
            ["scoring_criterion.id"],
            name=op.f("review_score_criterion_id_fkey"),
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["review.id"],
            name=op.f("review_score_review_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("review_score_pkey")),
        sa.UniqueConstraint(
            "review_id", "criterion_id", name=op.f("review_score_review_id_criterion_id_key")
        ),
    )
    op.create_index(
        op.f("review_score_criterion_id_idx"), "review_score", ["criterion_id"], unique=False
    )
    _carry_over(legacy, grid, criterion, score)
    _triggers()


def _carry_over(legacy: Sequence[Any], grid: Any, criterion: Any, score: Any) -> None:
    """One `overall` grid per call with reviews; each old score becomes an overall score."""
    by_call: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in legacy:
        by_call[_uuid(row.call_id)].append(row)
    now = datetime.now(UTC)
    grids: list[dict[str, Any]] = []
    criteria: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for call_id, reviews in by_call.items():
        per_application: dict[uuid.UUID, int] = defaultdict(int)
        for row in reviews:
            per_application[_uuid(row.application_id)] += 1
        scored = [_time(r.scored_at) for r in reviews if r.score is not None]
        grid_id, criterion_id = uuid.uuid4(), uuid.uuid4()
        grids.append(
            {
                "id": grid_id,
                "call_id": call_id,
                "min_total": 0,
                "reviewers_per_application": max(per_application.values()),
                "combination": "mean",
                "tie_breaks": [{"kind": "earlier_submission"}],
                "note": MIGRATED_NOTE,
                "locked_at": min(scored) if scored else None,
                "created_at": now,
                "updated_at": now,
            }
        )
        criteria.append(
            {
                "id": criterion_id,
                "grid_id": grid_id,
                "ordinal": 1,
                "code": "overall",
                "name_it": "Valutazione complessiva",
                "name_en": "Overall assessment",
                "max_score": 100,
                "min_score": None,
            }
        )
        scores.extend(
            {
                "id": uuid.uuid4(),
                "review_id": _uuid(r.id),
                "criterion_id": criterion_id,
                "score": r.score,
                "comment": r.comment or "",
            }
            for r in reviews
            if r.score is not None
        )
    if grids:
        op.bulk_insert(grid, grids)
        op.bulk_insert(criterion, criteria)
    if scores:
        op.bulk_insert(score, scores)


def _pg_function(name: str, body: str) -> None:
    op.execute(
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\nEND $$"
    )


def _pg_raise(name: str, table: str, why: str) -> str:
    return (
        f"RAISE EXCEPTION '{name}: {why}' USING ERRCODE = 'check_violation', "
        f"CONSTRAINT = '{name}', TABLE = '{table}';"
    )


GRID_OF_CRITERION = (
    "SELECT 1 FROM scoring_grid g WHERE g.id = {row}.grid_id AND g.locked_at IS NOT NULL"
)
WITHIN = (
    "SELECT 1 FROM scoring_criterion c WHERE c.id = NEW.criterion_id AND NEW.score <= c.max_score"
)
ON_A_LOCKED_GRID = (
    "SELECT 1 FROM scoring_criterion c JOIN scoring_grid g ON g.id = c.grid_id "
    "WHERE c.id = NEW.criterion_id AND g.locked_at IS NOT NULL"
)
DECLARATION = (
    "SELECT 1 FROM review r WHERE r.id = NEW.review_id AND r.conflict_declared_at IS NOT NULL"
)


def _triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        locked = _pg_raise(LOCKED, "scoring_grid", "the grid is locked by its first score")
        _pg_function("scoring_grid_locked", f"{locked}")
        op.execute(
            "CREATE TRIGGER scoring_grid_locked BEFORE UPDATE ON scoring_grid FOR EACH ROW "
            "WHEN (OLD.locked_at IS NOT NULL) EXECUTE FUNCTION scoring_grid_locked()"
        )
        _pg_function(
            "scoring_criterion_locked",
            f"IF (TG_OP <> 'DELETE' AND EXISTS ({GRID_OF_CRITERION.format(row='NEW')})) OR "
            f"(TG_OP <> 'INSERT' AND EXISTS ({GRID_OF_CRITERION.format(row='OLD')})) THEN\n"
            f"{_pg_raise(LOCKED, 'scoring_criterion', 'the grid is locked by its first score')}"
            "\nEND IF;\nIF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\nRETURN NEW;",
        )
        op.execute(
            "CREATE TRIGGER scoring_criterion_locked BEFORE INSERT OR UPDATE OR DELETE ON "
            "scoring_criterion FOR EACH ROW EXECUTE FUNCTION scoring_criterion_locked()"
        )
        _pg_function(
            "review_score_guard",
            f"IF NOT EXISTS ({WITHIN}) THEN\n"
            f"{_pg_raise(WITHIN_MAX, 'review_score', 'score above its criterion maximum')}\n"
            f"END IF;\nIF NOT EXISTS ({ON_A_LOCKED_GRID}) THEN\n"
            f"{_pg_raise(ON_LOCKED, 'review_score', 'a score needs its grid locked')}\n"
            f"END IF;\nIF NOT EXISTS ({DECLARATION}) THEN\n"
            f"{_pg_raise(DECLARED, 'review_score', 'no declaration of no conflict')}\n"
            "END IF;\nRETURN NEW;",
        )
        op.execute(
            "CREATE TRIGGER review_score_guard BEFORE INSERT OR UPDATE ON review_score "
            "FOR EACH ROW EXECUTE FUNCTION review_score_guard()"
        )
        return
    fail = "SELECT RAISE(ABORT, 'CHECK constraint failed: {name}') WHERE {cond};"
    op.execute(
        "CREATE TRIGGER scoring_grid_locked BEFORE UPDATE ON scoring_grid "
        f"WHEN OLD.locked_at IS NOT NULL BEGIN {fail.format(name=LOCKED, cond='1')} END"
    )
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        checks = fail.format(name=LOCKED, cond=f"EXISTS ({GRID_OF_CRITERION.format(row=row)})")
        if event == "UPDATE":
            checks += fail.format(
                name=LOCKED, cond=f"EXISTS ({GRID_OF_CRITERION.format(row='OLD')})"
            )
        op.execute(
            f"CREATE TRIGGER scoring_criterion_locked_{event.lower()} BEFORE {event} ON "
            f"scoring_criterion BEGIN {checks} END"
        )
    for event in ("INSERT", "UPDATE"):
        checks = "".join(
            fail.format(name=name, cond=f"NOT EXISTS ({cond})")
            for name, cond in (
                (WITHIN_MAX, WITHIN),
                (ON_LOCKED, ON_A_LOCKED_GRID),
                (DECLARED, DECLARATION),
            )
        )
        op.execute(
            f"CREATE TRIGGER review_score_guard_{event.lower()} BEFORE {event} ON review_score "
            f"BEGIN {checks} END"
        )


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger, table in (
            ("scoring_grid_locked", "scoring_grid"),
            ("scoring_criterion_locked", "scoring_criterion"),
            ("review_score_guard", "review_score"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
        return
    for trigger in (
        "scoring_grid_locked",
        "scoring_criterion_locked_insert",
        "scoring_criterion_locked_update",
        "scoring_criterion_locked_delete",
        "review_score_guard_insert",
        "review_score_guard_update",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT s.review_id, c.code, c.ordinal, s.score, s.comment, "
            "(SELECT count(*) FROM scoring_criterion k WHERE k.grid_id = c.grid_id) AS n "
            "FROM review_score s JOIN scoring_criterion c ON c.id = s.criterion_id "
            "ORDER BY s.review_id, c.ordinal"
        )
    ).all()
    totals: dict[uuid.UUID, int] = defaultdict(int)
    comments: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in rows:
        review_id = _uuid(row.review_id)
        totals[review_id] += row.score
        if row.comment:
            comments[review_id].append(row.comment if row.n == 1 else f"{row.code}: {row.comment}")
    over = [str(r) for r, total in totals.items() if total > 100]
    if over:
        raise RuntimeError(
            f"Cannot downgrade below 0014: {len(over)} review(s) total more than 100 points, "
            f"which the single 0-100 score cannot hold (for example review {over[0]})."
        )
    _drop_triggers()
    op.drop_index(op.f("review_score_criterion_id_idx"), table_name="review_score")
    op.drop_table("review_score")
    op.drop_table("scoring_criterion")
    op.drop_table("scoring_grid")
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.drop_column("conflict_declared_at")
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("comment", sa.Text(), nullable=True))
    # Reviews scored on a grid keep their scored_at; the others had none.
    review = sa.table(
        "review",
        sa.column("id", sa.Uuid()),
        sa.column("score", sa.Integer()),
        sa.column("comment", sa.Text()),
        sa.column("scored_at", sa.DateTime(timezone=True)),
    )
    for review_id, total in totals.items():
        bind.execute(
            review.update()
            .where(review.c.id == review_id)
            .values(score=total, comment="\n".join(comments[review_id]) or None)
        )
    bind.execute(review.update().where(review.c.score.is_(None)).values(scored_at=None))
    with op.batch_alter_table("review", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("review_scored_has_time_check"), "(score IS NULL) = (scored_at IS NULL)"
        )
        batch_op.create_check_constraint(
            op.f("review_score_range_check"), "score IS NULL OR (score >= 0 AND score <= 100)"
        )
