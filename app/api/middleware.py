"""Pure ASGI middleware: request ids, the last-resort 500, CORS problems, the body limit, the
response's language and the delay of refused credential checks."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import client_host
from app.api.problems import (
    REFUSAL_DELAY,
    database_unavailable,
    language_of,
    problem_response,
    render_domain_error,
)
from app.core import metrics
from app.core.context import ANONYMOUS_ACTOR, actor_var, idempotency_key_var
from app.core.i18n import msg, negotiate
from app.core.logging import get_logger, request_id_var
from app.db.faults import database_fault

log = logging.getLogger("app.request")
access_log = get_logger("app.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller-supplied id is kept only when it is short and harmless in logs.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


class RequestContextMiddleware:
    """Give every request an id, echoed in ``X-Request-ID`` on every response.

    Outermost, so that the id is on every answer, the CORS layer's and the last-resort 500
    included.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        # Fresh per request (in-process clients run many requests in one context).
        actor_token = actor_var.set(ANONYMOUS_ACTOR)
        key_token = idempotency_key_var.set(None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            idempotency_key_var.reset(key_token)
            actor_var.reset(actor_token)
            request_id_var.reset(token)


class RouteTemplates:
    """The full template of the route that served a request (``/api/v1/calls/{call_id}``).

    The router leaves the matched route in the scope (a plain Starlette route, such as
    /openapi.json, only its endpoint), but an included router's route knows only its own
    part of the path (``/calls/{call_id}``); FastAPI's public ``iter_route_contexts`` gives
    each route's full template, read once per application. A mounted app (the docs' static
    files) is its mount path and ``{path}``; a request no route matched has none (None).
    """

    def __init__(self) -> None:
        self._by_id: dict[int, str] | None = None

    def _templates(self, routes: Sequence[BaseRoute]) -> dict[int, str]:
        found: dict[int, str] = {}
        for context in iter_route_contexts(routes):
            if context.path_format is None:
                continue
            found[id(context.original_route)] = context.path_format
            endpoint = getattr(context.original_route, "endpoint", None)
            if endpoint is not None:
                found.setdefault(id(endpoint), context.path_format)
        return found

    def __call__(self, scope: Mapping[str, Any]) -> str | None:
        if self._by_id is None:
            self._by_id = self._templates(scope["app"].routes)
        for key in ("route", "endpoint"):
            matched = scope.get(key)
            if matched is not None and (template := self._by_id.get(id(matched))):
                return template
        # A mount adds its path to root_path (app_root_path keeps the server's own prefix).
        mounted = str(scope.get("root_path", "")).removeprefix(scope.get("app_root_path", ""))
        return f"{mounted}/{{path}}" if mounted else None


class AccessLogMiddleware:
    """One line per request, and (``count``) its metrics: method, route template, status,
    duration, who called and from where.

    Inside RequestContextMiddleware, whose request id and principal it reads; outside
    everything else, so that the duration covers the whole answer (the refusal delay too)
    and the status is the one sent, the last-resort 500 and the CORS refusals included.
    The route is the template, never the path: a path holds ids, one series or search
    value per object.
    """

    def __init__(self, app: ASGIApp, *, count: bool) -> None:
        self.app = app
        self.count = count
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler
        recorded = False

        async def send_tracked(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte leaves: a client that has its answer finds it
                # counted (a scrape right after it included).
                recorded = True
                self.record(scope, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        finally:
            if not recorded:
                self.record(scope, status, time.perf_counter() - started)

    def record(self, scope: Scope, status: int, duration: float) -> None:
        template = self.route_template(scope)
        method = scope["method"]
        if self.count:
            route, method_label = metrics.route_label(template), metrics.method_label(method)
            metrics.REQUESTS.labels(method_label, route, str(status)).inc()
            metrics.REQUEST_DURATION.labels(method_label, route).observe(duration)
        actor = actor_var.get()
        access_log.info(
            "request",
            method=method,
            route=template,
            status=status,
            duration_ms=round(duration * 1000, 3),
            principal_kind=actor.type,
            principal_id=actor.id,
            client=client_host(scope),
        )


HSTS = "max-age=63072000; includeSubDomains"  # two years, as the HSTS preload list asks


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options: nosniff`` on every response; ``Cache-Control: no-store`` on
    the responses to requests that carried credentials (an Authorization header), so that
    no shared or browser cache keeps a caller's data; HSTS in production.

    Anonymous reads keep their own caching headers (ETag, conditional GETs) untouched.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentials = "authorization" in Headers(scope=scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if credentials:
                    headers["Cache-Control"] = "no-store"
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LanguageMiddleware:
    """Answer every response in the language its ``Accept-Language`` negotiated (it, en;
    default it): ``Content-Language`` names it and ``Vary: Accept-Language`` tells caches
    that the body depends on it. The problem handlers negotiate the same way (language_of).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language = language_of(scope)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Language"] = language
                headers.add_vary_header("Accept-Language")
            await send(message)

        await self.app(scope, receive, send_with_language)


class UnhandledErrorMiddleware:
    """Turn crashes into a 500 problem; the traceback goes to the log with the request id.

    Inside the CORS layer (and inside RequestContextMiddleware), so that a browser can read
    the 500's body and its X-Request-ID; the body never carries the traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:
            # A database that is down or exhausted is no bug: one line and a 503 (raised
            # here when it escapes the handlers, from the session's commit, say).
            fault = database_fault(error)
            if fault is not None and not started:
                unavailable = database_unavailable(scope, fault)
                await render_domain_error(Request(scope), unavailable)(scope, receive, send)
                return
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            request_id = scope.get("state", {}).get("request_id", request_id_var.get())
            response = problem_response(
                status=500,
                language=language_of(scope),
                detail=msg(
                    "An unexpected error occurred; quote request id {request_id}.",
                    request_id=request_id,
                ),
                instance=scope.get("path"),
            )
            await response(scope, receive, send)


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as a problem like every error.

    Starlette refuses with ``400 text/plain "Disallowed CORS origin"``; the status and the
    CORS headers are kept, only the body becomes application/problem+json.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode("utf-8", "replace")
        headers = {
            key: value
            for key, value in response.headers.items()
            if key.lower() not in ("content-length", "content-type")
        }
        return problem_response(
            status=response.status_code,
            language=negotiate(request_headers.get("accept-language")),
            detail=msg(
                "{reason}: this service's CORS policy refuses the preflight request.",
                reason=reason,
            ),
            headers=headers,
        )


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, declared or streamed.

    ``larger``: (method, path) pairs with a limit of their own: the document upload, which
    streams its body to storage and checks its kind's limit as it reads."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get((scope["method"], scope["path"]), self.max_bytes)
        detail = msg("The request body exceeds the limit of {max_bytes} bytes.", max_bytes=limit)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = problem_response(
                status=413,
                language=language_of(scope),
                detail=detail,
                instance=scope.get("path"),
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body parsing untouched
                    # and is rendered by the problem handler.
                    raise HTTPException(413, detail=detail)
            return message

        await self.app(scope, limited_receive, send)


class RefusalDelayMiddleware:
    """Hold back the response of a refused credential check (a wrong password or client
    secret, a throttled address, a full password-hashing pool) for a fixed time, after the
    request's transaction has ended: the wait costs no CPU and no database connection.

    An attacker who waits for answers, as HTTP clients do, gets at most one refusal per
    connection per delay, so a handful of connections cannot keep a worker busy with cheap
    refusals either; a real client mistyping a secret barely notices.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Created here, so that the routes' request.state is this very dict.
        state = scope.setdefault("state", {})

        async def delayed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                delay = state.get(REFUSAL_DELAY)
                if delay:
                    await asyncio.sleep(delay)
            await send(message)

        await self.app(scope, receive, delayed_send)
