"""Documents and their kinds: queries only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import ApplicationStatus, ClaimStatus, DocumentOwner
from app.models.application import Application
from app.models.document import Document, DocumentKind
from app.models.payment import ExpenditureClaim
from app.repositories.paging import Order, keyset


async def kind_of(
    session: AsyncSession, measure_id: uuid.UUID, owner_type: DocumentOwner, code: str
) -> DocumentKind | None:
    return await session.scalar(
        select(DocumentKind).where(
            DocumentKind.measure_id == measure_id,
            DocumentKind.owner_type == owner_type,
            DocumentKind.code == code,
        )
    )


async def count_of_kind(
    session: AsyncSession, owner_type: DocumentOwner, owner_id: uuid.UUID, kind_id: uuid.UUID
) -> int:
    counted = await session.scalar(
        select(func.count()).where(
            Document.owner_type == owner_type,
            Document.owner_id == owner_id,
            Document.kind_id == kind_id,
        )
    )
    return int(counted or 0)


async def missing_required_kinds(
    session: AsyncSession, measure_id: uuid.UUID, owner_type: DocumentOwner, owner_id: uuid.UUID
) -> list[str]:
    """The codes of the required kinds the owner has no document of, in the data's order."""
    present = (
        select(Document.id)
        .where(
            Document.owner_type == owner_type,
            Document.owner_id == owner_id,
            Document.kind_id == DocumentKind.id,
        )
        .exists()
    )
    rows = await session.scalars(
        select(DocumentKind.code)
        .where(
            DocumentKind.measure_id == measure_id,
            DocumentKind.owner_type == owner_type,
            DocumentKind.required.is_(True),
            ~present,
        )
        .order_by(DocumentKind.ordinal)
    )
    return list(rows)


async def owner_documents(
    session: AsyncSession, owner_type: DocumentOwner, owner_id: uuid.UUID
) -> list[Document]:
    rows = await session.scalars(
        select(Document)
        .where(Document.owner_type == owner_type, Document.owner_id == owner_id)
        .order_by(Document.created_at, Document.id)
    )
    return list(rows)


async def page_documents(
    session: AsyncSession,
    *,
    owner_type: DocumentOwner,
    owner_id: uuid.UUID,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[Document]:
    statement = select(Document).where(
        Document.owner_type == owner_type, Document.owner_id == owner_id
    )
    return list(await session.scalars(keyset(statement, order, after, limit)))


async def all_documents(session: AsyncSession, batch: int = 500) -> AsyncIterator[Document]:
    """Every document, by id, in batches (``wecare documents verify``)."""
    after: uuid.UUID | None = None
    while True:
        statement = select(Document).order_by(Document.id).limit(batch)
        if after is not None:
            statement = statement.where(Document.id > after)
        rows = list(await session.scalars(statement))
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = rows[-1].id


async def abandoned(session: AsyncSession, *, before: datetime) -> list[Document]:
    """Documents of draft applications and draft claims that have not changed since
    ``before`` (the owner and the document both)."""
    drafts = select(Application.id).where(
        Application.status == ApplicationStatus.DRAFT, Application.updated_at < before
    )
    draft_claims = select(ExpenditureClaim.id).where(
        ExpenditureClaim.status == ClaimStatus.DRAFT, ExpenditureClaim.updated_at < before
    )
    rows = await session.scalars(
        select(Document)
        .where(
            Document.created_at < before,
            ((Document.owner_type == DocumentOwner.APPLICATION) & Document.owner_id.in_(drafts))
            | ((Document.owner_type == DocumentOwner.CLAIM) & Document.owner_id.in_(draft_claims)),
        )
        .order_by(Document.id)
    )
    return list(rows)


async def delete_document(session: AsyncSession, document_id: uuid.UUID) -> None:
    await session.execute(delete(Document).where(Document.id == document_id))
