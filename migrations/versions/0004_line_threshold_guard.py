"""The database's own guard on line thresholds (FESR line 1 >= EUR 1M, line 2 <= EUR 100k).

A CHECK constraint cannot read another table, so a trigger compares a submitted
application's total cost with its line's thresholds, on both databases, and fails with the
constraint-style name ``application_line_thresholds_check`` that the error layer maps to
the eligibility rule. It applies to applications that count (submitted onwards): drafts
are judged when they are submitted, and withdrawn ones no longer matter.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "application_line_thresholds_check"
# Statuses in which an application counts (drafts, withdrawn and rejected ones do not).
LIVE = "('submitted', 'under_review', 'admitted', 'approved')"
OUTSIDE = """
    l.id = NEW.line_id
    AND (
        (l.min_project_cost_cents IS NOT NULL AND NEW.total_cost_cents < l.min_project_cost_cents)
        OR (l.max_project_cost_cents IS NOT NULL AND NEW.total_cost_cents > l.max_project_cost_cents)
    )
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.status IN {LIVE} AND NEW.line_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM measure_line l WHERE {OUTSIDE}
                ) THEN
                    RAISE EXCEPTION '{NAME}: project value outside the line''s thresholds'
                        USING ERRCODE = 'check_violation', CONSTRAINT = '{NAME}',
                              TABLE = 'application';
                END IF;
                RETURN NEW;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {NAME} BEFORE INSERT OR UPDATE ON application "
            f"FOR EACH ROW EXECUTE FUNCTION {NAME}()"
        )
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER {NAME}_{event.lower()} BEFORE {event} ON application
            WHEN NEW.status IN {LIVE} AND NEW.line_id IS NOT NULL
            BEGIN
                SELECT RAISE(ABORT, 'CHECK constraint failed: {NAME}')
                WHERE EXISTS (SELECT 1 FROM measure_line l WHERE {OUTSIDE});
            END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON application")
        op.execute(f"DROP FUNCTION IF EXISTS {NAME}()")
        return
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {NAME}_{event}")
