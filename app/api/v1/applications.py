"""Applications (projects) and their lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.api.deps import SessionDep, require
from app.api.dry_run import DryRunFlag, precondition_finding
from app.api.etag import ETAG_HEADER, change, json_with_etag, with_etag
from app.api.idempotency import IdempotencyDep
from app.api.problems import language_of, problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.schemas.application import (
    ApplicationCreate,
    ApplicationQuery,
    ApplicationRead,
    ApplicationUpdate,
)
from app.schemas.dry_run import DryRunReport
from app.schemas.page import Page
from app.services import applications as service

router = APIRouter(prefix="/applications", tags=["applications"])

ApplicationId = Annotated[uuid.UUID, Path(description="The application's id.")]
Reader = Annotated[Principal, require(Scope.APPLICATIONS_READ)]
Writer = Annotated[Principal, require(Scope.APPLICATIONS_WRITE)]
SUBMIT_DRY_RUN = (
    "With dry_run=true: 200 with a DryRunReport listing every rule the submission would meet "
    "(each with its figures), submitting nothing. If-Match is required as for the submission "
    "(428 without it), but a stale one is reported as a finding (precondition_failed, with "
    "the current ETag) rather than refused with 412; a caller who may not submit is refused "
    "(403) as the submission would refuse them."
)
ACTION_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)
application_query = QueryModel(ApplicationQuery)


@router.get(
    "",
    summary="List applications",
    responses=problem_responses(401, 403, 422),
    openapi_extra=application_query.openapi(),
)
async def list_applications(
    session: SessionDep,
    principal: Reader,
    query: Annotated[ApplicationQuery, Depends(application_query)],
) -> Page[ApplicationRead]:
    """List the applications the caller may see, oldest first."""
    return await service.list_applications(session, principal, query)


@router.get(
    "/{application_id}",
    summary="Read an application",
    response_model=ApplicationRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_application(
    application_id: ApplicationId, session: SessionDep, principal: Reader
) -> Response:
    """Return an application the caller may see (another party's is 404)."""
    return json_with_etag(await service.get_application(session, principal, application_id))


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
    return await idempotency.create(
        principal,
        make=lambda: service.create_application(session, data=body, principal=principal),
        read=partial(service.read_application, session),
        location=lambda read: f"/api/v1/applications/{read.id}",
    )


async def _change(
    apply: Callable[[Any], Awaitable[object]],
    application_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> ApplicationRead:
    return await change(
        request,
        response,
        load=service.load_application(session, application_id, principal),
        read=partial(service.read_application, session),
        apply=apply,
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
    apply = partial(service.update_application, session, data=body, principal=principal)
    return await _change(apply, application_id, request, response, session, principal)


# The lifecycle actions, one route each, all built by the same function so that they behave
# alike: object-level access, If-Match, the state machine, a fresh ETag.
ACTIONS: list[tuple[str, str, str, str]] = [
    (
        "submit",
        Scope.APPLICATIONS_WRITE,
        "Submit an application",
        "Submit a draft inside an open window of its call (409 call_not_open otherwise), after "
        "the eligibility, one-per-district and participation checks. On a first-come call the "
        "request is reserved against the call, or the application takes the next place on its "
        "waiting list (`reserved`, `waiting_position`); 409 first_come_call_closed when the "
        "list is full.",
    ),
    (
        "withdraw",
        Scope.APPLICATIONS_WRITE,
        "Withdraw an application",
        "Withdraw an application that is not yet decided. On a first-come call its "
        "reservation or its place in line is released and the waiting list moves up.",
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


async def _dry_run_submit(
    application_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: Principal,
) -> DryRunReport:
    """The submission's rules, tried: 404, 428 and 403 as the submission; a stale If-Match a
    finding; the current ETag sent back (nothing changed, so it is still the one to send)."""
    subject = await service.load_submission_subject(session, application_id, principal)
    current = await service.read_application(session, subject.application)
    with_etag(response, current)
    report = await service.dry_run_submission(
        session,
        subject,
        principal=principal,
        precondition=precondition_finding(request, current),
    )
    return report.in_language(language_of(request.scope))


def _submit_endpoint(scope: str) -> Callable[..., Awaitable[ApplicationRead | Response]]:
    async def submit(
        application_id: ApplicationId,
        request: Request,
        response: Response,
        session: SessionDep,
        dry_run: DryRunFlag = False,
        principal: Principal = require(scope),
    ) -> ApplicationRead | Response:
        if dry_run:  # serialised here: the response model's union need not be tried
            report = await _dry_run_submit(application_id, request, response, session, principal)
            etag = {"ETag": response.headers["etag"]}
            return Response(report.model_dump_json(), media_type="application/json", headers=etag)
        apply = partial(service.move_application, session, action="submit", principal=principal)
        return await _change(apply, application_id, request, response, session, principal)

    return submit


def _action_endpoint(action: str, scope: str) -> Callable[..., Awaitable[ApplicationRead]]:
    async def act(
        application_id: ApplicationId,
        request: Request,
        response: Response,
        session: SessionDep,
        principal: Principal = require(scope),
    ) -> ApplicationRead:
        apply = partial(service.move_application, session, action=action, principal=principal)
        return await _change(apply, application_id, request, response, session, principal)

    return act


for _action, _scope, _summary, _description in ACTIONS:
    _submit = _action == "submit"
    router.add_api_route(
        f"/{{application_id}}/{_action}",
        _submit_endpoint(_scope) if _submit else _action_endpoint(_action, _scope),
        methods=["POST"],
        name=f"{_action.replace('-', '_')}_application",
        summary=_summary,
        description=_description + (f" {SUBMIT_DRY_RUN}" if _submit else ""),
        response_model=ApplicationRead | DryRunReport if _submit else ApplicationRead,
        responses={200: {"headers": {"ETag": ETAG_HEADER}}, **ACTION_ERRORS}
        if _submit
        else ACTION_ERRORS,
    )
