"""Render every error as ``application/problem+json`` (RFC 9457).

``title`` and ``detail`` (and messages among the figures, such as an eligibility refusal's
violations) are rendered in the language the request negotiated (app.core.i18n); ``type``,
``rule`` and the figures themselves never change with the language."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.core.errors import (
    CONSTRAINT_ERRORS,
    Conflict,
    DatabaseUnavailable,
    DomainError,
    InsufficientScope,
    InvalidCredentials,
    InvalidInput,
    OAuthProtocolError,
    PasswordHashingBusy,
    PreconditionFailed,
    RetryLater,
    TooManyClientAuthFailures,
    TooManyLoginAttempts,
    Unauthenticated,
)
from app.core.i18n import N_, gettext, msg, negotiate, translate
from app.db.faults import DatabaseFault, database_fault
from app.db.guards import violated_constraint
from app.schemas.problem import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "/problems/"

log = logging.getLogger(__name__)
fault_log = logging.getLogger("app.database")


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


# The reason phrases (Python 3.11's http.HTTPStatus) of the statuses the service answers
# with, marked for translation: the English titles of about:blank problems.
_PHRASES = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    406: N_("Not Acceptable"),
    409: N_("Conflict"),
    412: N_("Precondition Failed"),
    413: N_("Request Entity Too Large"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Entity"),
    428: N_("Precondition Required"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
    503: N_("Service Unavailable"),
}


def language_of(scope: MutableMapping[str, Any]) -> str:
    """The language a request negotiated by its Accept-Language (app.core.i18n.negotiate)."""
    return negotiate(Headers(scope=scope).get("accept-language"))


def problem_response(
    *,
    status: int,
    detail: str,
    language: str,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, object] | None = None,
) -> JSONResponse:
    """Build a problem response; ``slug`` names a problem type documented by the service."""
    phrase = _PHRASES.get(status) or (
        HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    )
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{slug}" if slug else "about:blank",
        "title": gettext(title or phrase, language),
        "status": status,
        "detail": gettext(detail, language),
    }
    if instance:
        body["instance"] = instance
    for key, value in (extra or {}).items():
        # Figures never overwrite the RFC members; a message among them is translated.
        body.setdefault(key, _jsonable(translate(value, language)))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _challenge(exc: DomainError) -> dict[str, str]:
    """RFC 6750 section 3 challenges and Retry-After, derived from the error."""
    if isinstance(exc, Unauthenticated):
        params = 'Bearer realm="wecare"'
        if exc.error:
            params += f', error="{exc.error}"'
        return {"WWW-Authenticate": params}
    if isinstance(exc, InsufficientScope):
        scope = " ".join(exc.required)
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}
    if isinstance(exc, RetryLater):
        return {"Retry-After": str(exc.retry_after)}
    if exc.status == 401:  # RFC 9110 15.5.2: every 401 names a scheme (a failed login too)
        return {"WWW-Authenticate": 'Bearer realm="wecare"'}
    return {}


# request.state key: send this response only after that many seconds (RefusalDelayMiddleware).
REFUSAL_DELAY = "refusal_delay_seconds"
# Refusals of a credential check, or of its throttle: sent late (see delay_refusal).
_CREDENTIAL_REFUSALS = (
    InvalidCredentials,
    TooManyLoginAttempts,
    TooManyClientAuthFailures,
    PasswordHashingBusy,
)


def delay_refusal(request: Request) -> None:
    """Mark the response as a refused credential check: it leaves after
    WECARE_AUTH_FAILURE_DELAY_SECONDS, once the request's transaction has ended."""
    setattr(request.state, REFUSAL_DELAY, request.app.state.settings.auth_failure_delay_seconds)


def render_domain_error(request: Request, exc: DomainError) -> JSONResponse:
    """The problem response for a domain error (routes that must commit despite refusing)."""
    if isinstance(exc, _CREDENTIAL_REFUSALS):
        delay_refusal(request)
    return problem_response(
        status=exc.status,
        language=language_of(request.scope),
        slug=exc.rule,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        headers=_challenge(exc),
        extra={"rule": exc.rule, **exc.figures},
    )


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return render_domain_error(request, exc)


OAUTH_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _oauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthProtocolError)
    return oauth_error_response(exc, language=language_of(request.scope))


def oauth_error_response(exc: OAuthProtocolError, *, language: str) -> JSONResponse:
    """RFC 6749 section 5.2 JSON, with the RFC 9457 members alongside for uniformity.

    ``error_description`` stays English: RFC 6749 allows it ASCII characters only; the
    problem's ``detail`` is in the negotiated language."""
    headers = dict(OAUTH_HEADERS)
    if exc.status == 401:
        # The scheme the endpoint takes (RFC 6749 5.2), also after client_secret_post: a
        # Bearer challenge would point the client at tokens, which it is here to obtain.
        headers["WWW-Authenticate"] = 'Basic realm="wecare", charset="UTF-8"'
    body = {
        "error": exc.error,
        "error_description": exc.description,
        "type": f"{PROBLEM_TYPE_BASE}oauth_{exc.error}",
        "title": exc.error.replace("_", " "),
        "status": exc.status,
        "detail": gettext(exc.description, language),
    }
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in err.get("loc", ())],
            "message": str(err.get("msg", "invalid value")),
            "type": str(err.get("type", "value_error")),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
    return problem_response(
        status=422,
        language=language_of(request.scope),
        slug="validation_error",
        title=N_("The request is not valid"),
        detail=msg("Invalid input: {fields}.", fields=fields)
        if fields
        else msg("Invalid input: the request."),
        instance=request.url.path,
        extra={"rule": "validation_error", "errors": errors},
    )


def _allowed_methods(request: Request) -> str:
    """Every method served at this path (Starlette lists only the first route's). A path
    that a route spells out (/users/me) is that route's alone: /users/{user_id} also
    matches its text but would refuse "me" as an id."""
    exact: set[str] = set()
    templated: set[str] = set()
    path = request.scope.get("path", "")
    for route in iter_route_contexts(request.app.routes):
        if route.path and route.methods and compile_path(route.path)[0].match(path):
            (templated if "{" in route.path else exact).update(route.methods)
    return ", ".join(sorted(exact or templated))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    default = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != default else None
    if detail is None:
        path = request.url.path
        if exc.status_code == 404:
            detail = msg("Nothing is served at {path}.", path=path)
        elif exc.status_code == 405:
            detail = msg("{method} is not allowed on {path}.", method=request.method, path=path)
        else:
            detail = _PHRASES.get(exc.status_code, default)
    return problem_response(
        status=exc.status_code,
        language=language_of(request.scope),
        detail=detail,
        instance=request.url.path,
        headers=headers,
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """A database guard fired: answer with the rule it guards, never a 500."""
    assert isinstance(exc, IntegrityError)
    name = violated_constraint(exc)
    error_class = CONSTRAINT_ERRORS.get(name or "", Conflict)
    log.info("database guard %s refused a write on %s", name, request.url.path)
    error = error_class(
        msg(
            "The database refused the change because it would break a rule ({constraint}).",
            constraint=name,
        )
        if name
        else msg("The database refused the change because it would break a rule."),
        constraint=name,
    )
    return render_domain_error(request, error)


def database_unavailable(scope: Mapping[str, Any], fault: DatabaseFault) -> DatabaseUnavailable:
    """The 503 for a database fault, logged as one WARNING line: an outage repeats on every
    request, and a traceback each time would bury the log (23 MB in one outage)."""
    fault_log.warning(
        "database unavailable (%s) on %s %s; answered 503, Retry-After %ss",
        fault.reason,
        scope.get("method"),
        scope.get("path"),
        fault.retry_after,
    )
    return DatabaseUnavailable(
        msg(
            "The database is temporarily unavailable ({fault_reason}). Retry in "
            "{retry_after} seconds; a change retried with its Idempotency-Key or "
            "If-Match is never applied twice.",
            fault_reason=fault.reason,
            retry_after=fault.retry_after,
        ),
        retry_after=fault.retry_after,
    )


async def _database_fault(request: Request, exc: Exception) -> JSONResponse:
    """A pool timeout or connect error reaching the handlers: 503, or a real crash."""
    fault = database_fault(exc)
    if fault is None:
        raise exc
    return render_domain_error(request, database_unavailable(request.scope, fault))


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value (a NUL character in text, say): bad input, not a crash.

    Only SQLSTATE class 22 ("data exception") is the caller's fault; anything else is ours,
    except a database that is down, full or busy (503 with Retry-After).
    """
    assert isinstance(exc, DBAPIError)
    if (fault := database_fault(exc)) is not None:
        return render_domain_error(request, database_unavailable(request.scope, fault))
    cause = getattr(exc.orig, "__cause__", None)
    sqlstate = str(getattr(cause, "sqlstate", "") or "")
    if not (isinstance(exc, DataError) or sqlstate.startswith("22")):
        raise exc
    log.info("database refused a value on %s: %s", request.url.path, exc)
    return render_domain_error(
        request,
        InvalidInput(msg("A value cannot be stored (for example text with a NUL character).")),
    )


async def _stale_data(request: Request, exc: Exception) -> JSONResponse:
    """The ORM's optimistic lock (version column) lost a race: the resource changed."""
    return render_domain_error(
        request, PreconditionFailed(msg("The resource changed meanwhile; read it again and retry."))
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(DBAPIError, _data_error)
    app.add_exception_handler(PoolTimeoutError, _database_fault)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(OAuthProtocolError, _oauth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


_DESCRIPTIONS = {
    400: "Malformed request.",
    429: "Too many attempts; see Retry-After.",
    401: "Missing or invalid credentials.",
    403: "The credentials lack a required scope.",
    404: "No such resource (or not visible to the caller).",
    409: "The request conflicts with the current state of the programme.",
    412: "The If-Match precondition failed.",
    413: "The request body is too large.",
    415: "The document's content is not a type its kind allows, or not its extension's.",
    416: "The requested range is not satisfiable.",
    422: "The request is not valid.",
    428: "An If-Match header is required.",
    500: "Unexpected server error (quote the X-Request-ID).",
    503: "The service or its database is temporarily unavailable, or busy; see Retry-After.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem bodies for these statuses."""

    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def use_problem_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare error bodies as ``application/problem+json`` in the OpenAPI document.

    FastAPI's generated 422 (HTTPValidationError) is replaced by the Problem it really is.
    """
    problem_ref = "#/components/schemas/Problem"
    fastapi_422 = "#/components/schemas/HTTPValidationError"
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                json_body = content.get("application/json")
                if json_body is None:
                    continue
                ref = json_body.get("schema", {}).get("$ref")
                if ref == fastapi_422:
                    json_body["schema"]["$ref"] = ref = problem_ref
                    response["description"] = _DESCRIPTIONS[int(status)]
                if ref == problem_ref:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema
