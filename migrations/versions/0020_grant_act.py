"""The grant act: the CUP and the RNA concession code of an allocation; state aid.

- ``allocation.cup``: the project's Codice Unico di Progetto (L. 3/2003 art. 11), 15
  characters (``allocation_cup_length_check``), one per active allocation
  (``allocation_cup_key``, partial: a project granted again after a revocation keeps its
  CUP). NULL until the region records it.
- ``allocation.rna_cor``: the COR code the national state-aid register (RNA, D.M. 115/2017
  art. 9) gives the concession, unique across allocations (``allocation_rna_cor_key``).
- ``measure.state_aid_regime`` (none, de_minimis, block_exemption; NULL: not given by the
  source) and ``measure.gber_article`` (the GBER article of a block exemption), guarded by
  ``measure_gber_article_check``.
- ``call.de_minimis_regulation``: the de minimis regulation in force for the call's grants
  (1407/2013 or 2023/2831; NULL: not given by the source).

Existing rows get NULL everywhere: nothing recorded, nothing given.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06 21:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, type, the CHECK attached to that column, its expression)
COLUMNS = (
    ("allocation", "cup", "VARCHAR(15)", "allocation_cup_length_check", "length(cup) = 15"),
    (
        "allocation",
        "rna_cor",
        "VARCHAR(10)",
        "allocation_rna_cor_length_check",
        "length(rna_cor) BETWEEN 1 AND 10",
    ),
    (
        "measure",
        "state_aid_regime",
        "VARCHAR(15)",
        "measure_state_aid_regime_check",
        "state_aid_regime IN ('none', 'de_minimis', 'block_exemption')",
    ),
    (
        "measure",
        "gber_article",
        "VARCHAR(40)",
        "measure_gber_article_check",
        "(gber_article IS NULL) OR (state_aid_regime = 'block_exemption')",
    ),
    (
        "call",
        "de_minimis_regulation",
        "VARCHAR(9)",
        "call_de_minimis_regulation_check",
        "de_minimis_regulation IN ('1407/2013', '2023/2831')",
    ),
)

INDEXES = (
    (
        "allocation_cup_key",
        "allocation (cup)",
        "status = 'active' AND cup IS NOT NULL",
    ),
    ("allocation_rna_cor_key", "allocation (rna_cor)", None),
)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases, as 0017: SQLite's batch mode would rebuild the
    # tables and lose the triggers that guard them. On SQLite each CHECK rides on its column.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, kind, check, expression in COLUMNS:
        guard = f" CONSTRAINT {check} CHECK ({expression})" if sqlite else ""
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {kind}{guard}')
        if not sqlite:
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {check} CHECK ({expression})')
    for name, target, where in INDEXES:
        partial = f" WHERE {where}" if where else ""
        op.execute(f"CREATE UNIQUE INDEX {name} ON {target}{partial}")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, _target, _where in INDEXES:
        op.execute(f"DROP INDEX {name}")
    for table, column, _kind, check, _expression in reversed(COLUMNS):
        if not sqlite:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {check}')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
