"""The co-financing split (issue 16): each measure's EU, national and regional shares.

``measure.eu_share_bp``, ``national_share_bp`` and ``regional_share_bp``: basis points of
every figure, all three null where the source does not give them, else each within
0..10000 and together 10000 (``measure_cofinancing_shares_check``).

Plain ALTER TABLE on both databases, as 0021: SQLite's batch mode would rebuild the table
and lose its triggers; there the CHECK rides on the last column, so dropping that column
first drops it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("eu_share_bp", "national_share_bp", "regional_share_bp")
CHECK = "measure_cofinancing_shares_check"
EXPRESSION = (
    "(eu_share_bp IS NULL AND national_share_bp IS NULL AND regional_share_bp IS NULL) OR "
    "(eu_share_bp IS NOT NULL AND national_share_bp IS NOT NULL AND "
    "regional_share_bp IS NOT NULL AND "
    "eu_share_bp >= 0 AND national_share_bp >= 0 AND regional_share_bp >= 0 AND "
    "eu_share_bp + national_share_bp + regional_share_bp = 10000)"
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column in COLUMNS:
        inline = (
            f" CONSTRAINT {CHECK} CHECK ({EXPRESSION})" if sqlite and column == COLUMNS[-1] else ""
        )
        op.execute(f'ALTER TABLE "measure" ADD COLUMN {column} INTEGER{inline}')
    if not sqlite:
        op.execute(f'ALTER TABLE "measure" ADD CONSTRAINT {CHECK} CHECK ({EXPRESSION})')


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(f'ALTER TABLE "measure" DROP CONSTRAINT {CHECK}')
    for column in reversed(COLUMNS):
        op.execute(f'ALTER TABLE "measure" DROP COLUMN {column}')
