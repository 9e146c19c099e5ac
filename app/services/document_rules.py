"""What a submission asks of its documents (issue 19): every required kind present, and
the documents' hashes in the submission's audit event."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import DocumentOwner
from app.core.errors import RequiredDocumentsMissing
from app.core.i18n import msg
from app.repositories import documents as repo


async def missing_required(
    session: AsyncSession, owner_type: DocumentOwner, owner_id: uuid.UUID, measure_id: uuid.UUID
) -> RequiredDocumentsMissing | None:
    missing = await repo.missing_required_kinds(session, measure_id, owner_type, owner_id)
    if not missing:
        return None
    return RequiredDocumentsMissing(
        msg(
            "The {owner_type} lacks required documents of kind(s): {kinds}.",
            owner_type=owner_type,
            kinds=", ".join(missing),
        ),
        missing_kinds=missing,
    )


async def submitted_documents(
    session: AsyncSession, owner_type: DocumentOwner, owner_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The documents as a submission fixes them: id, kind, size and SHA-256 each (with
    the stored hashes, `wecare audit verify` proves what the auditor downloads)."""
    return [
        {"id": str(d.id), "kind": d.kind, "size_bytes": d.size_bytes, "sha256": d.sha256}
        for d in await repo.owner_documents(session, owner_type, owner_id)
    ]
