"""The database's own guard that an allocation never exceeds its application's request.

Rule 6 says a grant is at most the amount requested. The service checks it before it
moves any counter, but a CHECK constraint cannot read another table, so a trigger compares
an active allocation's amount with its application's ``requested_cents`` on both
databases, and fails with the constraint-style name ``allocation_within_request_check``
that the error layer maps to the same rule as the service's refusal. Only active
allocations are judged: revoking one (an UPDATE) must never be refused by it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 07:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "allocation_within_request_check"
ABOVE = "a.id = NEW.application_id AND NEW.amount_cents > a.requested_cents"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.status = 'active' AND EXISTS (
                    SELECT 1 FROM application a WHERE {ABOVE}
                ) THEN
                    RAISE EXCEPTION '{NAME}: allocation above the amount requested'
                        USING ERRCODE = 'check_violation', CONSTRAINT = '{NAME}',
                              TABLE = 'allocation';
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {NAME} BEFORE INSERT OR UPDATE ON allocation "
            f"FOR EACH ROW EXECUTE FUNCTION {NAME}()"
        )
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER {NAME}_{event.lower()} BEFORE {event} ON allocation
            WHEN NEW.status = 'active'
            BEGIN
                SELECT RAISE(ABORT, 'CHECK constraint failed: {NAME}')
                WHERE EXISTS (SELECT 1 FROM application a WHERE {ABOVE});
            END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON allocation")
        op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {NAME}_{event}")
