"""Queries of state-aid declarations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.domain import DeclarationKind
from app.models.state_aid import StateAidDeclaration
from app.repositories.paging import Order, keyset


async def page_declarations(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    kind: DeclarationKind | None,
    order: Order,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[StateAidDeclaration]:
    query = select(StateAidDeclaration).where(
        StateAidDeclaration.organisation_id == organisation_id
    )
    if kind is not None:
        query = query.where(StateAidDeclaration.kind == kind)
    return list(await session.scalars(keyset(query, order, after, limit)))


async def get_declaration(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    declaration_id: uuid.UUID,
    visible: ColumnElement[bool],
) -> StateAidDeclaration | None:
    return await session.scalar(
        select(StateAidDeclaration).where(
            StateAidDeclaration.id == declaration_id,
            StateAidDeclaration.organisation_id == organisation_id,
            visible,
        )
    )


async def link_declared(
    session: AsyncSession, organisation_id: uuid.UUID, linked_tax_code: str
) -> uuid.UUID | None:
    return await session.scalar(
        select(StateAidDeclaration.id).where(
            StateAidDeclaration.organisation_id == organisation_id,
            StateAidDeclaration.linked_tax_code == linked_tax_code,
        )
    )
