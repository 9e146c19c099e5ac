"""A call's rule for the last fundable application of a run down its ranking.

``call.partial_last_grant``: whether that application may be granted part of its request,
what is left of the tightest cap, when it does not fit whole (app.services.ranking_grants).
NULL, the value of every existing call and of WECARE's calls (the source does not give the
rule), means "not allowed until set": such an application is skipped with the cap's rule.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 19:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases, as 0017: SQLite's batch mode would rebuild the
    # table and lose the triggers that guard it.
    op.execute('ALTER TABLE "call" ADD COLUMN partial_last_grant BOOLEAN')


def downgrade() -> None:
    op.execute('ALTER TABLE "call" DROP COLUMN partial_last_grant')
