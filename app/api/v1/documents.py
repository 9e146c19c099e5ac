"""Documents (issue 19): upload (multipart/form-data, streamed to storage), metadata, the
list of an owner's documents, download (Range, ETag = SHA-256) and deletion while the owner
is a draft."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.background import BackgroundTask

from app.api.deps import (
    OPTIONAL_AUTH,
    AuthenticatedPrincipal,
    DatabaseDep,
    OptionalPrincipal,
    SessionDep,
    SettingsDep,
)
from app.api.etag import read_with_etag, remove
from app.api.idempotency import IdempotencyDep
from app.api.problems import language_of, problem_response, problem_responses
from app.api.query import QueryModel
from app.core.auth import Principal, Scope
from app.core.config import Settings
from app.core.errors import DocumentBodyInvalid, DocumentTooLarge, InsufficientScope
from app.core.i18n import msg
from app.core.storage import Storage, StorageWriter, content_disposition
from app.schemas.document import DocumentQuery, DocumentRead, DocumentUploadTarget
from app.schemas.page import Page
from app.schemas.reference_data import DocumentMediaType
from app.services import documents as service
from app.services.documents import UploadCheck, UploadPlan

router = APIRouter(prefix="/documents", tags=["documents"])

UPLOAD_PATH = "/api/v1/documents"
# The multipart envelope around the file (boundaries, part headers): a body may exceed the
# file's limit by this much before the transport refuses it unread.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

DocumentId = Annotated[uuid.UUID, Path(description="The document's id.")]
target_query = QueryModel(DocumentUploadTarget)
document_query = QueryModel(DocumentQuery)

MEDIA_TYPES: tuple[str, ...] = DocumentMediaType.__args__  # type: ignore[attr-defined]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One part named `file`, with its file name; streamed to storage as it "
        "arrives. Its media type is recognised from the content (the part's Content-Type is "
        "not trusted) and must be one the kind allows, and match the name's extension.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                },
                "encoding": {"file": {"contentType": ", ".join(MEDIA_TYPES)}},
            }
        },
    }
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def get_document_writer(principal: AuthenticatedPrincipal) -> Principal:
    """A caller who may attach documents to something: applications:write (an applicant's
    drafts) or calls:write (the region's calls and rankings); the owner decides further."""
    if not (principal.has(Scope.APPLICATIONS_WRITE) or principal.has(Scope.CALLS_WRITE)):
        raise InsufficientScope(
            msg("Documents are attached with the scope applications:write or calls:write."),
            required=[Scope.APPLICATIONS_WRITE, Scope.CALLS_WRITE],
        )
    return principal


DocumentWriter = Annotated[Principal, Depends(get_document_writer)]


def _etag(sha256: str) -> str:
    return f'"{sha256}"'


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""


async def _receive(
    request: Request, plan: UploadPlan, storage: Storage
) -> tuple[str, str, UploadCheck]:
    """Parse the multipart body as it streams (python-multipart's push parser fed from
    request.stream(): nothing is spooled), checking the file's size and type on the way and
    writing it to storage; on any refusal, the partial object is removed."""
    kind, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise DocumentBodyInvalid(msg("The upload must be multipart/form-data with a boundary."))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > plan.limit_bytes + MULTIPART_OVERHEAD_BYTES:
        raise DocumentTooLarge(
            msg(
                "The body declares {declared} bytes, over the limit of {limit_bytes} bytes "
                "for kind {kind}.",
                declared=declared,
                limit_bytes=plan.limit_bytes,
                kind=plan.kind.code,
            ),
            limit_bytes=plan.limit_bytes,
            kind=plan.kind.code,
        )
    events: list[tuple[str, bytes]] = []

    def on(name: str) -> Any:
        return lambda: events.append((name, b""))

    def data(name: str) -> Any:
        return lambda buffer, start, end: events.append((name, bytes(buffer[start:end])))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on("begin"),
            "on_header_field": data("field"),
            "on_header_value": data("value"),
            "on_header_end": on("header_end"),
            "on_headers_finished": on("headers"),
            "on_part_data": data("data"),
            "on_part_end": on("end"),
            "on_end": on("finished"),
        },
    )
    part = _Part()
    check: UploadCheck | None = None
    writer: StorageWriter | None = None
    key = ""
    pending: list[bytes] = []
    done = finished = False

    async def open_writer() -> StorageWriter:
        nonlocal key
        assert check is not None
        assert check.media_type is not None
        key = service.storage_key(plan, check.media_type)
        opened = await storage.writer(key, check.media_type)
        for chunk in pending:
            await opened.write(chunk)
        pending.clear()
        return opened

    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except ValueError as error:  # python-multipart's own MultipartParseError
                raise DocumentBodyInvalid(
                    msg("The multipart body is malformed: {error}.", error=str(error))
                ) from None
            for event, value in events:
                if event == "begin":
                    if done:
                        raise DocumentBodyInvalid(msg("The upload takes one part, `file`, only."))
                    part = _Part()
                elif event == "field":
                    part.field += value
                elif event == "value":
                    part.value += value
                elif event == "header_end":
                    part.headers[part.field.lower()] = part.value
                    part.field = part.value = b""
                elif event == "headers":
                    _, disposition = parse_options_header(part.headers.get(b"content-disposition"))
                    name, sent = disposition.get(b"name"), disposition.get(b"filename")
                    if name != b"file" or sent is None:
                        raise DocumentBodyInvalid(
                            msg("The upload takes one part, named `file`, with a file name.")
                        )
                    check = UploadCheck(plan, service.clean_file_name(sent.decode("utf-8")))
                elif event == "data":
                    assert check is not None
                    check.feed(value)
                    if writer is not None:
                        await writer.write(value)
                    else:
                        pending.append(value)
                        if check.media_type is not None:
                            writer = await open_writer()
                elif event == "end":
                    assert check is not None
                    check.finish()
                    if writer is None:
                        writer = await open_writer()
                    done = True
                elif event == "finished":
                    finished = True
            events.clear()
        parser.finalize()
        if check is None or writer is None or not (done and finished):
            raise DocumentBodyInvalid(msg("The multipart body ended before its `file` part did."))
        await writer.commit()
    except BaseException:
        if writer is not None:
            await writer.abort()
        raise
    return check.file_name, key, check


def _upload_hash(request: Request, file_name: str, sha256: str) -> str:
    """What a retry under the same Idempotency-Key must repeat: the target and the file (a
    client's multipart boundary may differ between tries)."""
    target = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    material = f"POST\n{request.url.path}?{target}\n{file_name}\n{sha256}".encode()
    return hashlib.sha256(material).hexdigest()


@router.post(
    "",
    status_code=201,
    summary="Upload a document",
    response_model=DocumentRead,
    responses={
        201: {"description": "Stored.", "model": DocumentRead},
        **problem_responses(401, 403, 404, 409, 413, 415, 422),
    },
    openapi_extra=target_query.openapi(**UPLOAD_BODY),
)
async def upload_document(
    principal: DocumentWriter,
    request: Request,
    target: Annotated[DocumentUploadTarget, Depends(target_query)],
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Attach a file to a draft application or claim (its applicant), or to a call or
    ranking (the region): multipart/form-data with one part `file`. Refused before the body
    is read when the owner, its state, the kind or its count forbid it; 413 once the file
    passes its kind's limit (or the service's cap), 415 when its content is not a type the
    kind allows or contradicts its extension; nothing is kept then."""
    plan = await service.plan_upload(session, principal, target, settings)
    storage: Storage = request.app.state.storage
    file_name, key, check = await _receive(request, plan, storage)
    request_hash = _upload_hash(request, file_name, check.sha256)
    replayed = False
    try:
        async with database.session(write=True) as write:
            response = await idempotency.replay(principal, session=write, request_hash=request_hash)
            if response is not None:
                replayed = True
            else:
                document = await service.record_upload(
                    write, principal, plan, file_name=file_name, key=key, check=check
                )
                created = await service.read_document(write, document)
                response = await idempotency.respond(
                    principal,
                    created,
                    headers={"Location": f"{UPLOAD_PATH}/{created.id}"},
                    session=write,
                    request_hash=request_hash,
                )
    except BaseException:
        await storage.delete(key)
        raise
    if replayed:
        await storage.delete(key)  # the first upload's object is the document
    return response


# The request's own session only reads (plan_upload); the write has its own session, opened
# once the file is stored (app.api.deps.streams_before_writing).
upload_document.streams_before_writing = True  # type: ignore[attr-defined]


@router.get(
    "",
    summary="List an owner's documents",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=document_query.openapi(**OPTIONAL_AUTH),
)
async def list_documents(
    session: SessionDep,
    principal: OptionalPrincipal,
    query: Annotated[DocumentQuery, Depends(document_query)],
) -> Page[DocumentRead]:
    """The documents of an application, claim, call or ranking, oldest first: to whoever
    may see the owner (a call's and a ranking's to anyone)."""
    return await service.list_documents(session, principal, query)


@router.get(
    "/{document_id}",
    summary="Read a document's metadata",
    responses=problem_responses(401, 403, 404, 422),
    openapi_extra=OPTIONAL_AUTH,
)
async def get_document(
    document_id: DocumentId, session: SessionDep, principal: OptionalPrincipal, response: Response
) -> DocumentRead:
    """A document's kind, name, media type, size and SHA-256 (another party's is 404)."""
    return await read_with_etag(response, service.get_document(session, principal, document_id))


def _content_headers(document: DocumentRead) -> dict[str, str]:
    return {
        "Content-Disposition": content_disposition(document.file_name),
        "ETag": _etag(document.sha256),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }


def _byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """One satisfiable range (first, last), None for the whole file (no header, or one this
    service does not serve: several ranges, another unit), or "unsatisfiable"."""
    if header is None or size < 0:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: RFC 9110 says ignore it
    if start >= size:
        return "unsatisfiable"
    return start, end


_CONTENT = dict.fromkeys(MEDIA_TYPES, _BINARY)
_HEADER = {"schema": {"type": "string"}}


@router.get(
    "/{document_id}/content",
    summary="Download a document",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The bytes, with the stored media type, an RFC 6266/5987 "
            "Content-Disposition and the SHA-256 as ETag.",
            "content": _CONTENT,
            "headers": {"ETag": _HEADER, "Content-Disposition": _HEADER},
        },
        206: {
            "description": "One byte range (Range: bytes=first-last).",
            "content": _CONTENT,
            "headers": {"Content-Range": _HEADER, "ETag": _HEADER},
        },
        304: {"description": "If-None-Match names the current ETag."},
        307: {
            "description": "S3 storage with WECARE_S3_PRESIGN_SECONDS: a presigned URL.",
            "headers": {"Location": _HEADER},
        },
        416: {**problem_responses(416)[416], "headers": {"Content-Range": _HEADER}},
        **problem_responses(401, 403, 404, 422),
    },
    openapi_extra=OPTIONAL_AUTH,
)
async def download_document(
    document_id: DocumentId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: OptionalPrincipal,
) -> Response:
    """The document's bytes, to whoever may see its owner (a call's or ranking's to anyone),
    whole or one range (206; 416 past the end)."""
    document, key = await service.get_download(session, principal, document_id)
    storage: Storage = request.app.state.storage
    return await _serve(request, storage, settings, document, key)


async def _serve(
    request: Request, storage: Storage, settings: Settings, document: DocumentRead, key: str
) -> Response:
    headers = _content_headers(document)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers={"ETag": headers["ETag"]})
    if settings.s3_presign_seconds > 0:
        url = await storage.presigned_url(
            key,
            file_name=document.file_name,
            media_type=document.media_type,
            seconds=settings.s3_presign_seconds,
        )
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    size = document.size_bytes
    wanted = _byte_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range != headers["ETag"]:
        wanted = None  # the client's copy is another version: the whole file
    if wanted == "unsatisfiable":
        return problem_response(
            status=416,
            language=language_of(request.scope),
            slug="range_not_satisfiable",
            detail=msg("The range starts past the end of the file ({size} bytes).", size=size),
            instance=request.url.path,
            headers={"Content-Range": f"bytes */{size}"},
            extra={"rule": "range_not_satisfiable", "size_bytes": size},
        )
    status, first, last = 200, 0, size - 1
    if isinstance(wanted, tuple):
        status, (first, last) = 206, wanted
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(max(last - first + 1, 0))
    body = await _primed(storage.read(key, first, last))
    return StreamingResponse(
        body, status_code=status, media_type=document.media_type, headers=headers
    )


async def _primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk now, so that a missing object fails before the answer starts."""
    try:
        first = await anext(chunks)
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return rest()


@router.delete(
    "/{document_id}",
    status_code=204,
    summary="Delete a document",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def delete_document(
    principal: DocumentWriter,
    document_id: DocumentId,
    request: Request,
    session: SessionDep,
) -> Response:
    """Delete a document of a draft application or claim, or of a draft call (409 once
    submitted or published; If-Match required). The stored file goes after the commit."""
    keys: list[str] = []

    async def apply(document: Any) -> None:
        keys.append(await service.delete_document(session, document, principal=principal))

    response = await remove(
        request,
        load=service.load_document(session, principal, document_id),
        read=lambda document: service.read_document(session, document),
        apply=apply,
    )
    storage: Storage = request.app.state.storage
    response.background = BackgroundTask(storage.delete, keys[0])
    return response
