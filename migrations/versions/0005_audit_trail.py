"""The audit trail and the calls' selection method.

- audit_event: append-only (UPDATE and DELETE refused by triggers), hash-chained;
- audit_head: the single row every writer locks, holding the chain's last seq and hash;
- call.selection_method: published with every grant (evaluative, first-come, negotiated).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 17:03:52.963684
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=2000), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("audit_event_pkey")),
        sa.UniqueConstraint("hash", name=op.f("audit_event_hash_key")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("audit_event_actor_idx", ["actor_id", "seq"], unique=False)
        batch_op.create_index(
            "audit_event_entity_idx", ["entity_type", "entity_id", "seq"], unique=False
        )
        batch_op.create_index("audit_event_occurred_at_idx", ["occurred_at", "seq"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("audit_head_single_row_check")),
        sa.PrimaryKeyConstraint("id", name=op.f("audit_head_pkey")),
    )
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "selection_method",
                sa.Enum(
                    "evaluative",
                    "first_come",
                    "negotiated",
                    name="selection_method",
                    native_enum=False,
                    create_constraint=True,
                ),
                nullable=False,
                server_default="evaluative",
            )
        )

    op.execute(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")
    _append_only_triggers()


APPEND_ONLY = "audit_event_append_only"


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY}: the audit trail is append-only'
                    USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY} BEFORE UPDATE OR DELETE ON audit_event "
            f"FOR EACH ROW EXECUTE FUNCTION {APPEND_ONLY}()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"""
            CREATE TRIGGER {APPEND_ONLY}_{event.lower()} BEFORE {event} ON audit_event
            BEGIN
                SELECT RAISE(ABORT, '{APPEND_ONLY}: the audit trail is append-only');
            END
            """
        )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY} ON audit_event")
        op.execute(f"DROP FUNCTION IF EXISTS {APPEND_ONLY}()")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {APPEND_ONLY}_{event}")


def downgrade() -> None:
    _drop_append_only_triggers()

    with op.batch_alter_table("call", schema=None) as batch_op:
        # SQLite rebuilds the table: its CHECK on the column must go first.
        batch_op.drop_constraint(op.f("call_selection_method_check"), type_="check")
        batch_op.drop_column("selection_method")

    op.drop_table("audit_head")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("audit_event_occurred_at_idx")
        batch_op.drop_index("audit_event_entity_idx")
        batch_op.drop_index("audit_event_actor_idx")

    op.drop_table("audit_event")
