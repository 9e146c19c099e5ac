"""Applications (projects) and their lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from app.api.deps import SessionDep, require
from app.api.etag import require_if_match, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.pagination import PageDep, parse_datetime
from app.api.problems import problem_responses
from app.core.auth import Principal, Scope
from app.core.domain import ApplicationStage, ApplicationStatus, Fund
from app.core.money import to_cents
from app.repositories import applications as repo
from app.repositories import visibility
from app.schemas.application import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationUpdate,
    application_read,
)
from app.schemas.page import Page
from app.schemas.types import Money
from app.services import applications as service

router = APIRouter(prefix="/applications", tags=["applications"])

ApplicationId = Annotated[uuid.UUID, Path(description="The application's id.")]
Reader = Annotated[Principal, require(Scope.APPLICATIONS_READ)]
Writer = Annotated[Principal, require(Scope.APPLICATIONS_WRITE)]
ACTION_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)


def _cents(amount: Decimal | None) -> int | None:
    return None if amount is None else to_cents(amount)


@router.get("", summary="List applications", responses=problem_responses(401, 403, 422))
async def list_applications(
    session: SessionDep,
    page: PageDep,
    principal: Reader,
    programme_id: Annotated[uuid.UUID | None, Query()] = None,
    measure_id: Annotated[uuid.UUID | None, Query()] = None,
    call_id: Annotated[uuid.UUID | None, Query()] = None,
    fund: Annotated[Fund | None, Query()] = None,
    status: Annotated[ApplicationStatus | None, Query()] = None,
    stage: Annotated[ApplicationStage | None, Query()] = None,
    district_id: Annotated[uuid.UUID | None, Query()] = None,
    organisation_id: Annotated[
        uuid.UUID | None, Query(description="Applicant, or member of the applying partnership.")
    ] = None,
    min_requested: Annotated[Money | None, Query(description="Requested at least.")] = None,
    max_requested: Annotated[Money | None, Query(description="Requested at most.")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in the title.")] = None,
) -> Page[ApplicationRead]:
    """List the applications the caller may see, oldest first."""
    rows = await repo.page_applications(
        session,
        visible=visibility.applications(principal),
        filters={
            "programme_id": programme_id,
            "measure_id": measure_id,
            "call_id": call_id,
            "fund": fund,
            "status": status,
            "stage": stage,
            "district_id": district_id,
            "organisation_id": organisation_id,
            "min_requested_cents": _cents(min_requested),
            "max_requested_cents": _cents(max_requested),
            "q": q,
        },
        after=page.after(parse_datetime, uuid.UUID),
        limit=page.limit,
    )
    return page.page(rows, key=lambda a: (a.created_at, a.id), item=application_read)


@router.get(
    "/{application_id}",
    summary="Read an application",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_application(
    application_id: ApplicationId, session: SessionDep, principal: Reader, response: Response
) -> ApplicationRead:
    """Return an application the caller may see (another party's is 404)."""
    read = application_read(await service.get_application(session, application_id, principal))
    with_etag(response, read)
    return read


@router.post(
    "",
    status_code=201,
    summary="Draft an application",
    response_model=ApplicationRead,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_application(
    body: ApplicationCreate, session: SessionDep, principal: Writer, idempotency: IdempotencyDep
) -> Response:
    """Draft an application to a published call, by one of the caller's organisations or
    partnerships; for two-stage calls, preliminary_id makes it the executive project."""
    if (replay := await idempotency.replay(principal)) is not None:
        return replay
    application = await service.create_application(session, data=body, principal=principal)
    read = application_read(application)
    return await idempotency.respond(
        principal, read, headers={"Location": f"/api/v1/applications/{read.id}"}
    )


@router.patch("/{application_id}", summary="Change a draft application", responses=ACTION_ERRORS)
async def update_application(
    application_id: ApplicationId,
    body: ApplicationUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Writer,
) -> ApplicationRead:
    """Change a draft (If-Match required)."""
    application = await service.get_application(session, application_id, principal)
    require_if_match(request, application_read(application))
    await service.update_application(session, application, data=body, principal=principal)
    read = application_read(application)
    with_etag(response, read)
    return read


# The lifecycle actions, one route each, all built by the same function so that they behave
# alike: object-level access, If-Match, the state machine, a fresh ETag.
ACTIONS: list[tuple[str, str, str, str]] = [
    (
        "submit",
        Scope.APPLICATIONS_WRITE,
        "Submit an application",
        "Submit a draft inside an open window of its call (409 call_not_open otherwise), after "
        "the eligibility, one-per-district and participation checks.",
    ),
    (
        "withdraw",
        Scope.APPLICATIONS_WRITE,
        "Withdraw an application",
        "Withdraw an application that is not yet decided.",
    ),
    (
        "start-review",
        Scope.APPLICATIONS_DECIDE,
        "Start the review",
        "Take a submitted application under review.",
    ),
    (
        "approve",
        Scope.APPLICATIONS_DECIDE,
        "Approve an application",
        "Approve a reviewed single-stage or executive project; it may then be funded.",
    ),
    (
        "reject",
        Scope.APPLICATIONS_DECIDE,
        "Reject an application",
        "Reject a reviewed single-stage or executive project.",
    ),
    (
        "admit-preliminary",
        Scope.APPLICATIONS_DECIDE,
        "Admit a preliminary project",
        "Admit a reviewed preliminary project: its executive project may then be submitted.",
    ),
    (
        "reject-preliminary",
        Scope.APPLICATIONS_DECIDE,
        "Reject a preliminary project",
        "Reject a reviewed preliminary project.",
    ),
]


def _action_endpoint(action: str, scope: str) -> Callable[..., Awaitable[ApplicationRead]]:
    async def act(
        application_id: ApplicationId,
        request: Request,
        response: Response,
        session: SessionDep,
        principal: Principal = require(scope),
    ) -> ApplicationRead:
        application = await service.get_application(session, application_id, principal)
        require_if_match(request, application_read(application))
        await service.move_application(session, application, action=action, principal=principal)
        read = application_read(application)
        with_etag(response, read)
        return read

    return act


for _action, _scope, _summary, _description in ACTIONS:
    router.add_api_route(
        f"/{{application_id}}/{_action}",
        _action_endpoint(_action, _scope),
        methods=["POST"],
        name=f"{_action.replace('-', '_')}_application",
        summary=_summary,
        description=_description,
        response_model=ApplicationRead,
        responses=ACTION_ERRORS,
    )
