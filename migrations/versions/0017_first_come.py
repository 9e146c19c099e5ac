"""First-come calls ("a sportello"): reservations and a waiting list.

- ``call.reserved_cents``: what the call's first-come applications hold, moved by one
  conditional UPDATE each (app.repositories.first_come), guarded by
  ``call_reserved_within_budget_check`` (reserved >= 0, and ``allocated + reserved <=
  budget`` whenever something is reserved: with nothing reserved the refusal stays
  ``call_allocated_within_budget_check``'s, whichever CHECK SQLite evaluates first).
- ``call.waiting_count``: how many applications wait; ``call.waiting_list_length``: how many
  may (NULL: no limit, also where the source does not give one), guarded by
  ``call_waiting_within_length_check``.
- ``application.reserved_cents``: the reservation one application holds (0: none);
  ``application.waiting_position``: its place on the waiting list (NULL: not waiting).
  ``application_reservation_within_request_check`` and ``application_waits_unreserved_check``
  guard them. ``wecare check`` sums the applications into the call's two counters.

Existing applications hold nothing and wait nowhere: the columns start at 0 and NULL.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# (table, column, type and default, the CHECK attached to that column, its expression)
COLUMNS = (
    (
        "call",
        "reserved_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "call_reserved_within_budget_check",
        "reserved_cents >= 0 AND (reserved_cents = 0 "
        "OR allocated_cents + reserved_cents <= budget_cents)",
    ),
    ("call", "waiting_count", "INTEGER NOT NULL DEFAULT 0", None, None),
    (
        "call",
        "waiting_list_length",
        "INTEGER",
        "call_waiting_within_length_check",
        "waiting_count >= 0 AND (waiting_list_length IS NULL "
        "OR (waiting_list_length >= 0 AND waiting_count <= waiting_list_length))",
    ),
    (
        "application",
        "reserved_cents",
        "BIGINT NOT NULL DEFAULT 0",
        "application_reservation_within_request_check",
        "reserved_cents >= 0 AND reserved_cents <= requested_cents",
    ),
    (
        "application",
        "waiting_position",
        "INTEGER",
        "application_waits_unreserved_check",
        "waiting_position IS NULL OR (waiting_position >= 1 AND reserved_cents = 0)",
    ),
)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: SQLite's batch mode would rebuild the tables and
    # lose the triggers that guard them (0004, 0008). On SQLite each CHECK rides on the
    # column it is added with (SQLite adds no table constraint to an existing table).
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, kind, check, expression in COLUMNS:
        guard = f" CONSTRAINT {check} CHECK ({expression})" if sqlite and check else ""
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} {kind}{guard}')
        if not sqlite and check:
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT {check} CHECK ({expression})')


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, _kind, check, _expression in reversed(COLUMNS):
        if not sqlite and check:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT {check}')
        op.execute(f'ALTER TABLE "{table}" DROP COLUMN {column}')
