"""The runtime role (PostgreSQL): what the service may do, granted by the tables' owner.

Migrations run as the owner; the service connects as a role that may change the ordinary
tables, only append to the audit trail, its checkpoints and the published rankings (SELECT
and INSERT), move the chain's head (SELECT and UPDATE, guarded by its trigger) and read
alembic_version. It owns
nothing, so it can neither TRUNCATE, nor disable a trigger, nor drop a table. Roles are
cluster-wide, so they are created by the database administrator, not by a migration.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Published rankings too: a version is written once and never changed (migration 0016).
APPEND_ONLY_TABLES = frozenset({"audit_event", "audit_checkpoint", "ranking", "ranking_entry"})
# What each special table may be; every other table of the schema gets FULL.
FULL = "SELECT, INSERT, UPDATE, DELETE"
PRIVILEGES = {
    **dict.fromkeys(APPEND_ONLY_TABLES, "SELECT, INSERT"),
    "audit_head": "SELECT, UPDATE",
    "alembic_version": "SELECT",
}
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_$]{0,62}")


class RuntimeRoleRefused(Exception):
    """The role cannot be the runtime role (unknown, the owner, or a superuser)."""


def _quoted(role: str) -> str:
    if not _ROLE_NAME.fullmatch(role):
        raise RuntimeRoleRefused(
            f"{role!r} is not a plain role name (lower-case letters, digits, _ and $)"
        )
    return f'"{role}"'


async def grant_runtime(connection: AsyncConnection, role: str) -> list[str]:
    """Grant ``role`` exactly what the service needs on the current schema, revoking
    anything else it held on those tables (idempotent); return the statements run."""
    quoted = _quoted(role)
    found = (
        await connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
        )
    ).one_or_none()
    if found is None:
        raise RuntimeRoleRefused(f"role {role} does not exist: CREATE ROLE {role} LOGIN first")
    if found[0]:
        raise RuntimeRoleRefused(f"role {role} is a superuser: no privilege can limit it")
    rows = (
        await connection.execute(
            text(
                "SELECT tablename, tableowner FROM pg_tables "
                "WHERE schemaname = current_schema() ORDER BY tablename"
            )
        )
    ).all()
    owned = sorted(name for name, owner in rows if owner == role)
    if owned:
        raise RuntimeRoleRefused(
            f"role {role} owns {', '.join(owned)}: the runtime role must not be the owner "
            "(run migrations as another role, WECARE_MIGRATION_DATABASE_URL)"
        )
    database = await connection.scalar(text("SELECT current_database()"))
    schema = await connection.scalar(text("SELECT current_schema()"))
    statements = [
        f'GRANT CONNECT ON DATABASE "{database}" TO {quoted}',
        f'GRANT USAGE ON SCHEMA "{schema}" TO {quoted}',
    ]
    for name, _owner in rows:
        table = f'"{name}"'
        statements.append(f"REVOKE ALL ON {table} FROM {quoted}")
        statements.append(f"GRANT {PRIVILEGES.get(name, FULL)} ON {table} TO {quoted}")
    sequences = (
        await connection.execute(
            text(
                "SELECT sequencename FROM pg_sequences "
                "WHERE schemaname = current_schema() ORDER BY sequencename"
            )
        )
    ).scalars()
    statements += [f'GRANT USAGE, SELECT ON SEQUENCE "{name}" TO {quoted}' for name in sequences]
    for statement in statements:
        await connection.execute(text(statement))
    return statements
