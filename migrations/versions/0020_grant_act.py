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

- ``state_aid_declaration``: what an organisation declares for the de minimis ceiling: a
  linked undertaking (tax code; one per organisation and code,
  ``state_aid_declaration_one_link_key``) or aid from another granting body (amount, day,
  body, regulation), the fields of each kind guarded by
  ``state_aid_declaration_fields_of_kind_check``.

Existing rows get NULL everywhere: nothing recorded, nothing given.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-06 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
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


FIELDS_OF_KIND = (
    "(kind = 'linked_undertaking' AND linked_tax_code IS NOT NULL "
    "AND amount_cents IS NULL AND granted_on IS NULL AND granting_body IS NULL "
    "AND regulation IS NULL) OR (kind = 'other_aid' AND linked_tax_code IS NULL "
    "AND amount_cents > 0 AND amount_cents <= 100000000000 AND granted_on IS NOT NULL "
    "AND granting_body IS NOT NULL AND regulation IS NOT NULL)"
)


def _declarations() -> None:
    op.create_table(
        "state_aid_declaration",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "linked_undertaking",
                "other_aid",
                name="declaration_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("linked_tax_code", sa.String(length=16), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("granted_on", sa.Date(), nullable=True),
        sa.Column("granting_body", sa.String(length=300), nullable=True),
        sa.Column(
            "regulation",
            sa.Enum(
                "1407/2013",
                "2023/2831",
                name="regulation",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("declared_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(FIELDS_OF_KIND, name=op.f("state_aid_declaration_fields_of_kind_check")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("state_aid_declaration_organisation_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("state_aid_declaration_pkey")),
    )
    op.create_index(
        "state_aid_declaration_organisation_id_created_at_id_idx",
        "state_aid_declaration",
        ["organisation_id", "created_at", "id"],
    )
    op.create_index(
        "state_aid_declaration_linked_tax_code_idx", "state_aid_declaration", ["linked_tax_code"]
    )
    op.create_index(
        "state_aid_declaration_one_link_key",
        "state_aid_declaration",
        ["organisation_id", "linked_tax_code"],
        unique=True,
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
    _declarations()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_table("state_aid_declaration")  # its indexes go with it
    for name, _target, _where in INDEXES:
        op.execute(f"DROP INDEX {name}")
    for table, column, _kind, check, _expression in reversed(COLUMNS):
        if not sqlite:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {check}')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
