"""Tampering with the audit trail as its owner would: raw SQL past the guards."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

AUDIT_TABLES = ("audit_event", "audit_head", "audit_checkpoint")


async def lift_audit_guards(connection: AsyncConnection) -> None:
    """Switch off every trigger guarding the audit tables, as the tables' owner can
    (PostgreSQL: DISABLE TRIGGER; SQLite, which cannot disable one: DROP TRIGGER). Inside
    the caller's transaction: a rolled-back test puts them back."""
    if connection.dialect.name == "postgresql":
        for table in AUDIT_TABLES:
            await connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return
    names = (
        await connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                "('audit_event', 'audit_head', 'audit_checkpoint')"
            )
        )
    ).scalars()
    for name in list(names):
        await connection.execute(text(f'DROP TRIGGER "{name}"'))
