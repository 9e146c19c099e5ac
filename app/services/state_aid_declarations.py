"""State-aid declarations: what an applicant organisation declares for the de minimis
ceiling (app.services.de_minimis), visible and writable as its organisation is.

A declaration is a statement the organisation makes and the audit trail keeps; it is not
changed afterwards (a correction is cut from this version). It takes the declaring
organisation's row lock (and the linked one's, where registered), so a de minimis grant to
either, which takes the same locks, sees it committed or waits for it.
"""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.domain import DeclarationKind
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.i18n import msg
from app.models.state_aid import StateAidDeclaration
from app.repositories import state_aid as aid_repo
from app.repositories import state_aid_declarations as repo
from app.repositories import visibility
from app.schemas.page import Page
from app.schemas.state_aid import (
    StateAidDeclarationCreate,
    StateAidDeclarationQuery,
    StateAidDeclarationRead,
)
from app.services import audit
from app.services.organisations import load_organisation
from app.services.paging import SortKey

DECLARATION_ORDER = SortKey[StateAidDeclaration](
    StateAidDeclaration.created_at, StateAidDeclaration.id
)


async def list_declarations(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    query: StateAidDeclarationQuery,
) -> Page[StateAidDeclarationRead]:
    """An organisation's declarations, oldest first (an organisation the caller may not
    see is 404)."""
    organisation = await load_organisation(session, organisation_id, principal)
    rows = partial(
        repo.page_declarations, session, organisation_id=organisation.id, kind=query.kind
    )
    return await DECLARATION_ORDER.page_of(query, rows, StateAidDeclarationRead.model_validate)


async def load_declaration(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    declaration_id: uuid.UUID,
    principal: Principal,
) -> StateAidDeclaration:
    declaration = await repo.get_declaration(
        session, organisation_id, declaration_id, visibility.state_aid_declarations(principal)
    )
    if declaration is None:
        raise NotFound(
            msg(
                "No declaration {declaration_id} of organisation {organisation_id}.",
                declaration_id=declaration_id,
                organisation_id=organisation_id,
            )
        )
    return declaration


async def read_declaration(
    session: AsyncSession, declaration: StateAidDeclaration
) -> StateAidDeclarationRead:
    return StateAidDeclarationRead.model_validate(declaration)


async def get_declaration(
    session: AsyncSession,
    principal: Principal,
    organisation_id: uuid.UUID,
    declaration_id: uuid.UUID,
) -> StateAidDeclarationRead:
    return StateAidDeclarationRead.model_validate(
        await load_declaration(session, organisation_id, declaration_id, principal)
    )


async def declare(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    *,
    data: StateAidDeclarationCreate,
    principal: Principal,
) -> StateAidDeclaration:
    """Record a declaration of one of the caller's organisations (an administrator's for
    any): 409 when the link is declared already, 422 for a link to itself."""
    organisation = await load_organisation(session, organisation_id, principal)
    if not principal.acts_for(organisation.id):
        raise Forbidden(msg("Only the organisation's own users or an administrator may declare."))
    linked = None
    if data.kind is DeclarationKind.LINKED_UNDERTAKING:
        assert data.linked_tax_code is not None
        if data.linked_tax_code == organisation.tax_code:
            raise InvalidInput(
                msg("An organisation is not linked to itself."),
                linked_tax_code=data.linked_tax_code,
            )
        linked = await aid_repo.organisation_with_tax_code(session, data.linked_tax_code)
    await aid_repo.lock_undertakings(
        session, sorted({organisation.id} | ({linked} if linked else set()))
    )
    if data.linked_tax_code is not None:
        declared = await repo.link_declared(session, organisation.id, data.linked_tax_code)
        if declared is not None:
            raise Conflict(
                msg(
                    "The link to {linked_tax_code} is declared already.",
                    linked_tax_code=data.linked_tax_code,
                ),
                declaration_id=declared,
            )
    declaration = StateAidDeclaration(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        declared_by=principal.actor,
        **data.model_dump(),
    )
    session.add(declaration)
    await session.flush()
    await audit.record(
        session,
        action="state_aid_declaration.create",
        entity_type="state_aid_declaration",
        entity_id=declaration.id,
        after=audit.snapshot(declaration),
    )
    return declaration
