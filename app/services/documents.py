"""Documents (issue 19): who may see and attach what, the kinds' limits, the immutability of
a submitted owner's documents, and their reads.

An upload is three steps, so that no transaction is open while the bytes stream:
:func:`plan_upload` (a read: the owner, the kind, its limits), the transport streaming the
body to storage through :class:`UploadCheck` (size and media type refused as they come), and
:func:`record_upload` (a write: the owner locked and checked again, the row, the audit
event).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal, Scope
from app.core.config import Settings
from app.core.domain import ApplicationStatus, CallStatus, ClaimStatus, DocumentOwner
from app.core.errors import (
    DocumentBodyInvalid,
    DocumentCountReached,
    DocumentExtensionMismatch,
    DocumentKindUnknown,
    DocumentOwnerLocked,
    DocumentTooLarge,
    DocumentTypeNotAllowed,
    InsufficientScope,
    NotFound,
    Unauthenticated,
)
from app.core.i18n import msg
from app.core.storage import Storage, StoredFileMissing
from app.models.allocation import Allocation
from app.models.application import Application
from app.models.document import Document, DocumentKind
from app.models.payment import ExpenditureClaim
from app.models.ranking import Ranking
from app.repositories import documents as repo
from app.schemas.document import DocumentQuery, DocumentRead, DocumentUploadTarget
from app.schemas.page import Page
from app.services import applications, audit, calls, document_types, payments
from app.services.paging import SortKey

DOCUMENT_ORDER = SortKey[Document](Document.created_at, Document.id)
_PUBLIC = frozenset({DocumentOwner.CALL, DocumentOwner.RANKING})


@dataclass(frozen=True, slots=True)
class Owner:
    """What a document belongs to, as far as documents care."""

    type: DocumentOwner
    id: uuid.UUID
    measure_id: uuid.UUID
    # Why its documents can no longer be added or deleted (None: they can).
    locked: str | None
    # Why its documents can no longer be deleted (a published call's acts), else None.
    fixed: str | None = None


def _need(principal: Principal, scope: str) -> None:
    if principal.kind == "anonymous":
        raise Unauthenticated(msg("This operation requires an access token."))
    if not principal.has(scope):
        raise InsufficientScope(
            msg("The access token lacks the scope(s): {missing}.", missing=scope),
            required=[scope],
        )


async def load_owner(
    session: AsyncSession,
    principal: Principal,
    owner_type: DocumentOwner,
    owner_id: uuid.UUID,
    *,
    write: bool,
    lock: bool = False,
) -> Owner:
    """The owner as the caller may see it (another party's is 404, like a missing one);
    ``write``: the caller must also be one who may attach documents to it (403)."""
    if owner_type is DocumentOwner.APPLICATION:
        _need(principal, Scope.APPLICATIONS_WRITE if write else Scope.APPLICATIONS_READ)
        application = await applications.load_application(session, owner_id, principal)
        if write:
            await applications.require_lead(session, application, principal)
        if lock:
            await _lock(session, Application, application.id)
        locked = (
            None
            if application.status is ApplicationStatus.DRAFT
            else msg(
                "Application {application_id} is {status}.",
                application_id=application.id,
                status=application.status,
            )
        )
        return Owner(owner_type, application.id, application.measure_id, locked)
    if owner_type is DocumentOwner.CLAIM:
        _need(principal, Scope.APPLICATIONS_WRITE if write else Scope.APPLICATIONS_READ)
        claim = await payments.load_claim(session, owner_id, principal)
        allocation = await session.get(Allocation, claim.allocation_id)
        assert allocation is not None
        if write:
            await payments.require_beneficiary(session, principal, allocation)
        if lock:
            await _lock(session, ExpenditureClaim, claim.id)
        locked = (
            None
            if claim.status is ClaimStatus.DRAFT
            else msg("Claim {claim_id} is {status}.", claim_id=claim.id, status=claim.status)
        )
        return Owner(owner_type, claim.id, allocation.measure_id, locked)
    if write:
        _need(principal, Scope.CALLS_WRITE)
    if owner_type is DocumentOwner.CALL:
        call = await calls.load_call(session, owner_id, principal)
        fixed = (
            None
            if call.status is CallStatus.DRAFT
            else msg("Call {call_code} is published: its acts stay.", call_code=call.code)
        )
        return Owner(owner_type, call.id, call.measure_id, None, fixed)
    ranking = await session.get(Ranking, owner_id)
    if ranking is None:
        raise NotFound(msg("No ranking {ranking_id}.", ranking_id=owner_id))
    call = await calls.load_call(session, ranking.call_id, principal)
    return Owner(
        owner_type,
        ranking.id,
        call.measure_id,
        None,
        f"Ranking version {ranking.version} of call {call.code} is published: its acts stay.",
    )


async def _lock(
    session: AsyncSession, model: type[Application | ExpenditureClaim], id_: uuid.UUID
) -> None:
    """Lock the owner's row (PostgreSQL; SQLite's writers are serialised already): a
    concurrent submission then either sees this document or this upload sees it submitted."""
    await session.execute(
        select(model)
        .where(model.id == id_)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@dataclass(slots=True)
class UploadPlan:
    """What an upload may be, decided before its bytes are read."""

    owner: Owner
    kind: DocumentKind
    limit_bytes: int
    document_id: uuid.UUID = field(default_factory=uuid.uuid4)


async def _kind(session: AsyncSession, owner: Owner, code: str) -> DocumentKind:
    kind = await repo.kind_of(session, owner.measure_id, owner.type, code)
    if kind is None:
        raise DocumentKindUnknown(
            msg(
                "The measure's data has no {owner_type} document kind {kind}.",
                owner_type=owner.type,
                kind=repr(code),
            ),
            kind=code,
        )
    return kind


async def _check_room(session: AsyncSession, owner: Owner, kind: DocumentKind) -> None:
    if owner.locked is not None:
        raise DocumentOwnerLocked(
            msg("{refusal} Its documents can no longer change.", refusal=owner.locked)
        )
    if kind.max_count is not None:
        taken = await repo.count_of_kind(session, owner.type, owner.id, kind.id)
        if taken >= kind.max_count:
            raise DocumentCountReached(
                msg(
                    "The {owner_type} already has {taken} document(s) of kind {kind} "
                    "(at most {max_count}).",
                    owner_type=owner.type,
                    taken=taken,
                    kind=kind.code,
                    max_count=kind.max_count,
                ),
                kind=kind.code,
                max_count=kind.max_count,
                taken=taken,
            )


async def plan_upload(
    session: AsyncSession, principal: Principal, target: DocumentUploadTarget, settings: Settings
) -> UploadPlan:
    """Refuse an upload before its body is read: the owner (404/403), its state (409), the
    kind (422) and its count (409); the size limit is the kind's or the service's cap."""
    owner = await load_owner(session, principal, target.owner_type, target.owner_id, write=True)
    kind = await _kind(session, owner, target.kind)
    await _check_room(session, owner, kind)
    cap = settings.document_max_bytes
    limit = min(kind.max_bytes, cap) if kind.max_bytes is not None else cap
    return UploadPlan(owner, kind, limit)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def clean_file_name(sent: str) -> str:
    """The name as sent, without any directory part or control characters (NFC)."""
    name = unicodedata.normalize("NFC", sent).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("", name).strip()
    if not name or name in (".", ".."):
        raise DocumentBodyInvalid(msg("The file part has no file name."))
    if len(name) > 255:
        raise DocumentBodyInvalid(
            msg("The file name is longer than 255 characters."), length=len(name)
        )
    return name


class UploadCheck:
    """Fed the body's file bytes as they stream: counts them against the limit, hashes
    them, and recognises the media type from the first bytes (refusing a type the kind does
    not allow, or one the name's extension contradicts, before the rest is read)."""

    def __init__(self, plan: UploadPlan, file_name: str) -> None:
        self.plan = plan
        self.file_name = file_name
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.media_type: str | None = None

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.plan.limit_bytes:
            raise DocumentTooLarge(
                msg(
                    "The document exceeds the limit of {limit_bytes} bytes for kind {kind}.",
                    limit_bytes=self.plan.limit_bytes,
                    kind=self.plan.kind.code,
                ),
                limit_bytes=self.plan.limit_bytes,
                kind=self.plan.kind.code,
            )
        self.digest.update(chunk)
        if self.media_type is None:
            self.head += chunk[: document_types.HEAD_BYTES - len(self.head)]
            if len(self.head) >= document_types.HEAD_BYTES:
                self.media_type = self._recognise()

    def finish(self) -> str:
        """The media type (recognised now for a file shorter than the head)."""
        if self.media_type is None:
            self.media_type = self._recognise()
        return self.media_type

    def _recognise(self) -> str:
        kind = self.plan.kind
        detected = document_types.detect(self.head, self.file_name)
        if detected is None or detected not in kind.media_types:
            raise DocumentTypeNotAllowed(
                msg(
                    "Kind {kind} accepts {allowed}; the content is {detected}.",
                    kind=kind.code,
                    allowed=", ".join(kind.media_types),
                    detected=detected or msg("none of the recognised types"),
                ),
                detected=detected,
                allowed=list(kind.media_types),
            )
        extension = document_types.extension_of(self.file_name)
        expected = document_types.EXTENSIONS[detected]
        if extension not in expected:
            raise DocumentExtensionMismatch(
                msg(
                    "The content is {detected}, but the file name ends in {extension} "
                    "(expected {expected}).",
                    detected=detected,
                    extension=extension or msg("no extension"),
                    expected=" or ".join(expected),
                ),
                detected=detected,
                extension=extension or None,
                expected=list(expected),
            )
        return detected

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def storage_key(plan: UploadPlan, media_type: str) -> str:
    """A safe stored name: the owner, the document's id and the type's own extension."""
    owner = plan.owner
    extension = document_types.EXTENSIONS[media_type][0]
    return f"{owner.type}/{owner.id}/{plan.document_id}{extension}"


async def record_upload(
    session: AsyncSession,
    principal: Principal,
    plan: UploadPlan,
    *,
    file_name: str,
    key: str,
    check: UploadCheck,
) -> Document:
    """Record a stored upload: the owner locked and its state and count checked again
    (a submission may have come meanwhile), the row, one audit event."""
    owner = await load_owner(
        session, principal, plan.owner.type, plan.owner.id, write=True, lock=True
    )
    kind = await session.get(DocumentKind, plan.kind.id)
    assert kind is not None
    await _check_room(session, owner, kind)
    document = Document(
        id=plan.document_id,
        owner_type=owner.type,
        owner_id=owner.id,
        kind_id=kind.id,
        kind=kind.code,
        file_name=file_name,
        storage_key=key,
        media_type=check.finish(),
        size_bytes=check.size,
        sha256=check.sha256,
        uploaded_by=principal.actor,
        created_at=datetime.now(UTC),
    )
    session.add(document)
    await session.flush()
    await audit.record(
        session,
        action="document.upload",
        entity_type="document",
        entity_id=document.id,
        after=audit.snapshot(document),
    )
    return document


async def read_document(session: AsyncSession, document: Document) -> DocumentRead:
    return DocumentRead.model_validate(document)


async def load_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> Document:
    """A document whose owner the caller may see (anyone, for a call's or ranking's);
    otherwise 404, like a missing one."""
    document = await session.get(Document, document_id)
    if document is None:
        raise NotFound(msg("No document {document_id}.", document_id=document_id))
    try:
        await load_owner(session, principal, document.owner_type, document.owner_id, write=False)
    except NotFound as error:
        raise NotFound(msg("No document {document_id}.", document_id=document_id)) from error
    return document


async def get_document(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> DocumentRead:
    return await read_document(session, await load_document(session, principal, document_id))


async def get_download(
    session: AsyncSession, principal: Principal, document_id: uuid.UUID
) -> tuple[DocumentRead, str]:
    """A document the caller may see, and where its bytes are stored."""
    document = await load_document(session, principal, document_id)
    return await read_document(session, document), document.storage_key


async def list_documents(
    session: AsyncSession, principal: Principal, query: DocumentQuery
) -> Page[DocumentRead]:
    """One owner's documents, oldest first, if the caller may see the owner."""
    owner = await load_owner(session, principal, query.owner_type, query.owner_id, write=False)
    rows = partial(repo.page_documents, session, owner_type=owner.type, owner_id=owner.id)
    return await DOCUMENT_ORDER.page_of(query, rows, DocumentRead.model_validate)


async def delete_document(
    session: AsyncSession, document: Document, *, principal: Principal
) -> str:
    """Delete a draft owner's document (409 once submitted or published); returns its
    storage key, for the transport to delete once the transaction is committed."""
    owner = await load_owner(
        session, principal, document.owner_type, document.owner_id, write=True, lock=True
    )
    refusal = owner.locked or owner.fixed
    if refusal is not None:
        raise DocumentOwnerLocked(
            msg("{refusal} Its documents can no longer change.", refusal=refusal)
        )
    before = audit.snapshot(document)
    await repo.delete_document(session, document.id)
    await audit.record(
        session,
        action="document.delete",
        entity_type="document",
        entity_id=document.id,
        before=before,
    )
    return document.storage_key


def is_public(owner_type: DocumentOwner) -> bool:
    """Calls' and rankings' documents (decrees) are public acts."""
    return owner_type in _PUBLIC


async def prune_abandoned(session: AsyncSession, *, older_than: timedelta) -> list[str]:
    """Delete the documents of draft applications and claims untouched for ``older_than``
    (one audit event each); returns their storage keys, to delete after the commit."""
    keys: list[str] = []
    for document in await repo.abandoned(session, before=datetime.now(UTC) - older_than):
        before = audit.snapshot(document)
        await repo.delete_document(session, document.id)
        await audit.record(
            session,
            action="document.prune",
            entity_type="document",
            entity_id=document.id,
            before=before,
            reason=f"abandoned draft upload (untouched for {older_than.days} days)",
        )
        keys.append(document.storage_key)
    return keys


@dataclass(frozen=True, slots=True)
class Verification:
    checked: int
    # One line per document whose stored file is missing or differs from its SHA-256.
    problems: list[str]


async def verify_stored(session: AsyncSession, storage: Storage) -> Verification:
    """Re-hash every stored file against its row (``wecare documents verify``)."""
    checked, problems = 0, []
    async for document in repo.all_documents(session):
        checked += 1
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in storage.read(document.storage_key):
                digest.update(chunk)
                size += len(chunk)
        except StoredFileMissing:
            problems.append(f"{document.id} {document.storage_key}: missing")
            continue
        if digest.hexdigest() != document.sha256 or size != document.size_bytes:
            problems.append(
                f"{document.id} {document.storage_key}: differs (sha256 {digest.hexdigest()}, "
                f"{size} bytes; recorded {document.sha256}, {document.size_bytes} bytes)"
            )
    return Verification(checked, problems)
