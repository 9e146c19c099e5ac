"""A tamper-proof audit trail: TRUNCATE refused, the head guarded, signed checkpoints.

- TRUNCATE of audit_event, audit_head and audit_checkpoint is refused by statement
  triggers (PostgreSQL only: SQLite has no TRUNCATE, and its ``DELETE FROM t`` without
  WHERE is refused by the row triggers as any DELETE is);
- audit_head_follows_chain: the head moves only one step forward, onto an event that exists
  and chains from the previous head (both databases), and is never deleted; a writer with
  the service's credentials cannot move it back or point it past the events;
- audit_checkpoint: the chain's head signed (a JWS) with the token signing key, append-only
  like audit_event.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_TABLES = ("audit_event", "audit_head", "audit_checkpoint")
NO_TRUNCATE = "audit_no_truncate"
HEAD_GUARD = "audit_head_follows_chain"
CHECKPOINT_APPEND_ONLY = "audit_checkpoint_append_only"


def upgrade() -> None:
    op.create_table(
        "audit_checkpoint",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("audit_checkpoint_pkey")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _postgresql_guards() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {NO_TRUNCATE}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING
                MESSAGE = TG_TABLE_NAME || '_no_truncate: the audit trail cannot be truncated',
                ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {NO_TRUNCATE}()"
        )
    op.execute(
        f"""
        CREATE FUNCTION {HEAD_GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND EXISTS (
                SELECT 1 FROM audit_event
                WHERE seq = NEW.seq AND hash = NEW.hash AND prev_hash = OLD.hash
            ) THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{HEAD_GUARD}: the head only advances onto the next event'
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {HEAD_GUARD} BEFORE UPDATE OR DELETE ON audit_head "
        f"FOR EACH ROW EXECUTE FUNCTION {HEAD_GUARD}()"
    )
    op.execute(
        f"""
        CREATE FUNCTION {CHECKPOINT_APPEND_ONLY}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{CHECKPOINT_APPEND_ONLY}: checkpoints are append-only'
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {CHECKPOINT_APPEND_ONLY} BEFORE UPDATE OR DELETE ON audit_checkpoint "
        f"FOR EACH ROW EXECUTE FUNCTION {CHECKPOINT_APPEND_ONLY}()"
    )


def _sqlite_guards() -> None:
    op.execute(
        f"""
        CREATE TRIGGER {HEAD_GUARD}_update BEFORE UPDATE ON audit_head
        WHEN NOT (NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND EXISTS (
            SELECT 1 FROM audit_event
            WHERE seq = NEW.seq AND hash = NEW.hash AND prev_hash = OLD.hash
        ))
        BEGIN
            SELECT RAISE(ABORT, '{HEAD_GUARD}: the head only advances onto the next event');
        END
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER {HEAD_GUARD}_delete BEFORE DELETE ON audit_head
        BEGIN
            SELECT RAISE(ABORT, '{HEAD_GUARD}: the head only advances onto the next event');
        END
        """
    )
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"""
            CREATE TRIGGER {CHECKPOINT_APPEND_ONLY}_{event.lower()}
            BEFORE {event} ON audit_checkpoint
            BEGIN
                SELECT RAISE(ABORT, '{CHECKPOINT_APPEND_ONLY}: checkpoints are append-only');
            END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {NO_TRUNCATE}()")
        op.execute(f"DROP TRIGGER IF EXISTS {HEAD_GUARD} ON audit_head")
        op.execute(f"DROP FUNCTION IF EXISTS {HEAD_GUARD}()")
        op.execute(f"DROP TRIGGER IF EXISTS {CHECKPOINT_APPEND_ONLY} ON audit_checkpoint")
        op.execute(f"DROP FUNCTION IF EXISTS {CHECKPOINT_APPEND_ONLY}()")
    else:
        for name in (
            f"{HEAD_GUARD}_update",
            f"{HEAD_GUARD}_delete",
            f"{CHECKPOINT_APPEND_ONLY}_update",
            f"{CHECKPOINT_APPEND_ONLY}_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_checkpoint")
