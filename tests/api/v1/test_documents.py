"""Documents (issue 19) through the API, on both databases and both storage backends (a
local directory, and S3 through moto's standalone server on loopback, a real S3 API server
started here): upload, download and Range, size limits (a 2 GiB stream refused after the
limit, without reading it), type detection, immutability after submission, visibility, and
`documents verify` naming a tampered file."""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import ApplicationStatus, DocumentOwner
from app.core.storage import LocalStorage, S3Storage, Storage
from app.db.session import Database
from app.main import create_app
from app.models import AuditEvent, Document, DocumentKind
from app.services import documents
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.world import Budget, application, budget, funded, open_window

DOCS = "/api/v1/documents"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 2000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 300
# CAdES: a DER SEQUENCE (indefinite length) whose first element is the signedData OID.
P7M = bytes.fromhex("308006092a864886f70d010702a080") + b"\x30\x80" + b"\x01" * 400
CSV = "voce;importo\nCaffè e pasticceria;12,50\nAffitto sala;300,00\n".encode()
LIMIT = 256 * 1024  # the "budget" kind's limit in these tests


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- storage backends ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on loopback for this module, stopped after it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> Settings:
    if request.param == "local":
        return settings.model_copy(
            update={"document_storage": "local", "document_dir": tmp_path / "documents"}
        )
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"wecare-{uuid.uuid4().hex[:12]}"
    chosen = settings.model_copy(
        update={
            "document_storage": "s3",
            "s3_bucket": bucket,
            "s3_prefix": "tests/documents",
            "s3_endpoint_url": endpoint,
            "s3_region": "us-east-1",
            "s3_addressing_style": "path",
            "s3_server_side_encryption": "AES256",
            "s3_access_key_id": "testing",
            "s3_secret_access_key": SecretStr("testing"),
        }
    )

    return chosen


@pytest.fixture
async def docs_app(storage_settings: Settings, database: Database) -> FastAPI:
    app = create_app(storage_settings, database)
    storage: Storage = app.state.storage
    if isinstance(storage, S3Storage):
        async with storage.client() as s3:
            await s3.create_bucket(Bucket=storage.bucket)
    return app


@pytest.fixture
async def docs(docs_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=docs_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def stored_objects(storage: Storage) -> list[str]:
    """Every object the storage holds (partial uploads included)."""
    if isinstance(storage, LocalStorage):
        if not storage.root.exists():
            return []
        return sorted(
            str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()
        )
    assert isinstance(storage, S3Storage)
    async with storage.client() as s3:
        listed = await s3.list_objects_v2(Bucket=storage.bucket)
        uploads = await s3.list_multipart_uploads(Bucket=storage.bucket)
    return sorted(
        [o["Key"] for o in listed.get("Contents", [])]
        + [f"(partial) {u['Key']}" for u in uploads.get("Uploads", [])]
    )


async def tamper(storage: Storage, key: str, data: bytes) -> None:
    if isinstance(storage, LocalStorage):
        storage.path(key).write_bytes(data)
        return
    assert isinstance(storage, S3Storage)
    async with storage.client() as s3:
        await s3.put_object(Bucket=storage.bucket, Key=storage.object_key(key), Body=data)


# -- the world ----------------------------------------------------------------------------


@dataclass
class Desk:
    world: Budget
    application_id: uuid.UUID
    applicant: Actor
    other: Actor
    officer: Actor

    @property
    def target(self) -> str:
        return f"owner_type=application&owner_id={self.application_id}"


async def kind(
    session: AsyncSession,
    world: Budget,
    code: str,
    owner: DocumentOwner,
    media: list[str],
    *,
    required: bool = False,
    max_count: int | None = None,
    max_bytes: int | None = None,
) -> DocumentKind:
    made = DocumentKind(
        id=uuid.uuid4(),
        measure_id=world.measure.id,
        owner_type=owner,
        code=code,
        ordinal=len(code),
        title_it=code,
        title_en=code,
        required=required,
        max_count=max_count,
        max_bytes=max_bytes,
        media_types=media,
    )
    session.add(made)
    await session.flush()
    return made


@pytest.fixture
async def desk(session: AsyncSession, settings: Settings) -> Desk:
    world = await budget(session, total=1_000_000, code=f"D{uuid.uuid4().hex[:4]}")
    open_window(session, world)
    await kind(
        session,
        world,
        "budget",
        DocumentOwner.APPLICATION,
        ["application/pdf", "application/pkcs7-mime", "text/csv"],
        required=True,
        max_count=2,
        max_bytes=LIMIT,
    )
    await kind(session, world, "cv", DocumentOwner.APPLICATION, ["application/pdf", "image/png"])
    await kind(session, world, "decree", DocumentOwner.CALL, ["application/pdf"])
    mine = await make_organisation(session, name="Cooperativa Alfa", tax_code=tax_code(41))
    theirs = await make_organisation(session, name="Cooperativa Beta", tax_code=tax_code(42))
    draft = application(
        world,
        requested=50_000,
        status=ApplicationStatus.DRAFT,
        applicant_organisation_id=mine.id,
    )
    session.add(draft)
    await session.flush()
    return Desk(
        world,
        draft.id,
        await user_actor(session, settings, Role.APPLICANT, organisation_ids=[mine.id]),
        await user_actor(session, settings, Role.APPLICANT, organisation_ids=[theirs.id]),
        await user_actor(session, settings, Role.OFFICER),
    )


async def upload(
    client: httpx.AsyncClient,
    actor: Actor,
    query: str,
    name: str,
    data: bytes,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"{DOCS}?{query}",
        files={"file": (name, data, "application/octet-stream")},
        headers={**actor.headers, **(headers or {})},
    )


async def count(session: AsyncSession, model: type[Any], **where: object) -> int:
    statement = select(func.count()).select_from(model)
    for column, value in where.items():
        statement = statement.where(getattr(model, column) == value)
    return int(await session.scalar(statement) or 0)


# -- upload, download, Range --------------------------------------------------------------


class TestUploadAndDownload:
    async def test_a_pdf_with_an_italian_name_round_trips_with_its_hash_and_ranges(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        name = "Preventivo attività \u2013 è così.pdf"
        r = await upload(docs, desk.applicant, f"{desk.target}&kind=budget", name, PDF)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["file_name"] == name
        assert (made["media_type"], made["size_bytes"]) == ("application/pdf", len(PDF))
        assert made["sha256"] == sha(PDF)
        assert made["uploaded_by"] == f"user:{desk.applicant.id}"
        assert r.headers["location"] == f"{DOCS}/{made['id']}"
        stored = await stored_objects(docs_app.state.storage)
        assert len(stored) == 1
        assert stored[0].endswith(f"application/{desk.application_id}/{made['id']}.pdf")
        events = await count(session, AuditEvent, action="document.upload", entity_id=made["id"])
        assert events == 1

        meta = await docs.get(f"{DOCS}/{made['id']}", headers=desk.applicant.headers)
        assert meta.status_code == 200
        assert meta.json() == made
        listed = await docs.get(f"{DOCS}?{desk.target}", headers=desk.applicant.headers)
        assert [d["id"] for d in listed.json()["items"]] == [made["id"]]

        content = f"{DOCS}/{made['id']}/content"
        whole = await docs.get(content, headers=desk.applicant.headers)
        assert whole.status_code == 200
        assert whole.content == PDF
        assert whole.headers["content-type"] == "application/pdf"
        assert whole.headers["etag"] == f'"{sha(PDF)}"'
        assert whole.headers["x-content-type-options"] == "nosniff"
        assert whole.headers["accept-ranges"] == "bytes"
        disposition = whole.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="Preventivo attivit_ _ _ cos_.pdf"')
        assert (
            "filename*=UTF-8''Preventivo%20attivit%C3%A0%20%E2%80%93%20%C3%A8%20cos%C3%AC.pdf"
            in (disposition)
        )

        part = await docs.get(content, headers={**desk.applicant.headers, "Range": "bytes=5-14"})
        assert part.status_code == 206
        assert part.content == PDF[5:15]
        assert part.headers["content-range"] == f"bytes 5-14/{len(PDF)}"
        tail = await docs.get(content, headers={**desk.applicant.headers, "Range": "bytes=-7"})
        assert (tail.status_code, tail.content) == (206, PDF[-7:])
        rest = await docs.get(content, headers={**desk.applicant.headers, "Range": "bytes=2000-"})
        assert (rest.status_code, rest.content) == (206, PDF[2000:])
        past = await docs.get(
            content, headers={**desk.applicant.headers, "Range": f"bytes={len(PDF)}-"}
        )
        assert past.status_code == 416
        assert past.headers["content-range"] == f"bytes */{len(PDF)}"
        assert past.json()["rule"] == "range_not_satisfiable"
        stale = await docs.get(
            content,
            headers={**desk.applicant.headers, "Range": "bytes=0-3", "If-Range": '"other"'},
        )
        assert (stale.status_code, stale.content) == (200, PDF)
        cached = await docs.get(
            content, headers={**desk.applicant.headers, "If-None-Match": f'"{sha(PDF)}"'}
        )
        assert cached.status_code == 304

    async def test_an_idempotent_retry_replays_and_keeps_one_document(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        query = f"{desk.target}&kind=budget"
        first = await upload(docs, desk.applicant, query, "b.pdf", PDF, headers=key)
        again = await upload(docs, desk.applicant, query, "b.pdf", PDF, headers=key)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert await count(session, Document, owner_id=desk.application_id) == 1
        assert len(await stored_objects(docs_app.state.storage)) == 1
        other = await upload(docs, desk.applicant, query, "b.pdf", PDF + b"x", headers=key)
        assert other.status_code == 422, other.text
        assert len(await stored_objects(docs_app.state.storage)) == 1

    async def test_a_call_decree_is_public_and_its_upload_is_the_regions(
        self, docs: httpx.AsyncClient, desk: Desk
    ) -> None:
        query = f"owner_type=call&owner_id={desk.world.call.id}&kind=decree"
        refused = await upload(docs, desk.applicant, query, "decreto.pdf", PDF)
        assert refused.status_code == 403, refused.text
        made = await upload(docs, desk.officer, query, "Determinazione n. 123.pdf", PDF)
        assert made.status_code == 201, made.text
        anonymous = await docs.get(f"{DOCS}/{made.json()['id']}/content")
        assert (anonymous.status_code, anonymous.content) == (200, PDF)
        listed = await docs.get(f"{DOCS}?owner_type=call&owner_id={desk.world.call.id}")
        assert [d["id"] for d in listed.json()["items"]] == [made.json()["id"]]
        # A published call's act stays.
        meta = await docs.get(f"{DOCS}/{made.json()['id']}")
        gone = await docs.delete(
            f"{DOCS}/{made.json()['id']}",
            headers={**desk.officer.headers, "If-Match": meta.headers["etag"]},
        )
        assert gone.status_code == 409
        assert gone.json()["rule"] == "document_owner_locked"


# -- size limits ----------------------------------------------------------------------------


class TestSizeLimits:
    async def test_a_file_over_its_kinds_limit_is_413_and_nothing_is_kept(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        big = PDF + b"1" * LIMIT
        r = await upload(docs, desk.applicant, f"{desk.target}&kind=budget", "big.pdf", big)
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["rule"] in ("document_too_large", "payload_too_large", "http_413") or (
            r.json()["status"] == 413
        )
        assert await count(session, Document) == 0
        assert await stored_objects(docs_app.state.storage) == []

    async def test_a_2_gib_stream_is_refused_after_the_limit_without_reading_the_rest(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        """A chunked body (no Content-Length) of 2 GiB: the server stops reading past the
        kind's limit (256 KiB), answers 413, keeps nothing, and its memory stays flat."""
        total, chunk = 2 * 1024**3, b"7" * (64 * 1024)
        sent = 0
        boundary = "wecare-boundary-2gib"

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="enorme.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
            ).encode()
            yield head + PDF
            sent += len(PDF)
            while sent < total:
                yield chunk
                sent += len(chunk)
            yield f"\r\n--{boundary}--\r\n".encode()

        tracemalloc.start()
        started = time.perf_counter()
        r = await docs.post(
            f"{DOCS}?{desk.target}&kind=budget",
            content=body(),
            headers={
                **desk.applicant.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert r.status_code == 413, r.text
        assert r.json()["rule"] == "document_too_large"
        assert sent < LIMIT + 4 * len(chunk), sent  # read up to the limit, not the 2 GiB
        assert peak < 16 * 1024 * 1024, peak
        assert elapsed < 60, elapsed  # 4 s alone, 17 s on a loaded machine (tracemalloc on)
        assert await count(session, Document) == 0
        assert await stored_objects(docs_app.state.storage) == []

    async def test_a_declared_2_gib_body_is_refused_before_a_byte_is_read(
        self, docs: httpx.AsyncClient, desk: Desk
    ) -> None:
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            while True:
                sent += 65536
                yield b"0" * 65536

        r = await docs.post(
            f"{DOCS}?{desk.target}&kind=budget",
            content=body(),
            headers={
                **desk.applicant.headers,
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": str(2 * 1024**3),
            },
        )
        assert r.status_code == 413, r.text
        assert sent <= 65536

    async def test_the_kinds_count_is_a_409(self, docs: httpx.AsyncClient, desk: Desk) -> None:
        query = f"{desk.target}&kind=budget"
        for n in range(2):
            made = await upload(docs, desk.applicant, query, f"b{n}.pdf", PDF + bytes([n]))
            assert made.status_code == 201, made.text
        third = await upload(docs, desk.applicant, query, "b3.pdf", PDF)
        assert third.status_code == 409
        assert (third.json()["rule"], third.json()["max_count"]) == ("document_count_reached", 2)


# -- type detection -------------------------------------------------------------------------


class TestTypes:
    @pytest.mark.parametrize(
        ("name", "data", "media"),
        [
            ("domanda firmata.pdf.p7m", P7M, "application/pkcs7-mime"),
            ("preventivo.csv", CSV, "text/csv"),
            ("preventivo.PDF", PDF, "application/pdf"),
        ],
    )
    async def test_recognised_types_are_stored_as_recognised(
        self, docs: httpx.AsyncClient, desk: Desk, name: str, data: bytes, media: str
    ) -> None:
        r = await upload(docs, desk.applicant, f"{desk.target}&kind=budget", name, data)
        assert r.status_code == 201, r.text
        assert r.json()["media_type"] == media

    @pytest.mark.parametrize(
        ("kind", "name", "data", "rule"),
        [
            ("budget", "programma.pdf", EXE, "document_type_not_allowed"),
            ("budget", "foto.png", PNG, "document_type_not_allowed"),
            ("budget", "dati.csv", EXE, "document_type_not_allowed"),
            ("cv", "curriculum.png", PDF, "document_extension_mismatch"),
            ("cv", "curriculum", PDF, "document_extension_mismatch"),
            ("budget", "firmato.p7m", PDF, "document_extension_mismatch"),
        ],
    )
    async def test_other_content_or_a_contradicting_extension_is_refused(
        self,
        docs: httpx.AsyncClient,
        docs_app: FastAPI,
        desk: Desk,
        session: AsyncSession,
        kind: str,
        name: str,
        data: bytes,
        rule: str,
    ) -> None:
        r = await upload(docs, desk.applicant, f"{desk.target}&kind={kind}", name, data)
        assert r.status_code == 415, r.text
        assert r.json()["rule"] == rule
        assert await count(session, Document) == 0
        assert await stored_objects(docs_app.state.storage) == []

    async def test_an_unknown_kind_and_a_malformed_body_are_422(
        self, docs: httpx.AsyncClient, desk: Desk
    ) -> None:
        r = await upload(docs, desk.applicant, f"{desk.target}&kind=other", "a.pdf", PDF)
        assert (r.status_code, r.json()["rule"]) == (422, "document_kind_unknown")
        r = await docs.post(
            f"{DOCS}?{desk.target}&kind=budget", json={"file": "x"}, headers=desk.applicant.headers
        )
        assert (r.status_code, r.json()["rule"]) == (422, "document_body_invalid")
        r = await docs.post(
            f"{DOCS}?{desk.target}&kind=budget",
            files={"other": ("a.pdf", PDF)},
            headers=desk.applicant.headers,
        )
        assert (r.status_code, r.json()["rule"]) == (422, "document_body_invalid")


# -- immutability, submission, visibility ------------------------------------------------------


class TestSubmission:
    async def test_required_kinds_first_then_the_hashes_are_in_the_submission_and_fixed(
        self, docs: httpx.AsyncClient, desk: Desk, session: AsyncSession
    ) -> None:
        path = f"/api/v1/applications/{desk.application_id}"

        async def if_match() -> dict[str, str]:
            read = await docs.get(path, headers=desk.applicant.headers)
            return {**desk.applicant.headers, "If-Match": read.headers["etag"]}

        dry = await docs.post(f"{path}/submit?dry_run=true", headers=await if_match())
        assert dry.status_code == 200, dry.text
        assert dry.json()["would_succeed"] is False
        found = [f for f in dry.json()["violations"] if f["rule"] == "required_documents_missing"]
        assert found[0]["figures"]["missing_kinds"] == ["budget"]
        refused = await docs.post(f"{path}/submit", headers=await if_match())
        assert refused.status_code == 409, refused.text
        assert refused.json()["rule"] == "required_documents_missing"
        assert refused.json()["missing_kinds"] == ["budget"]

        made = await upload(docs, desk.applicant, f"{desk.target}&kind=budget", "b.pdf", PDF)
        assert made.status_code == 201
        submitted = await docs.post(f"{path}/submit", headers=await if_match())
        assert submitted.status_code == 200, submitted.text
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "application.submit",
                AuditEvent.entity_id == str(desk.application_id),
            )
        )
        assert event is not None
        assert event.after is not None
        after = json.loads(event.after)
        assert after["documents"] == [
            {"id": made.json()["id"], "kind": "budget", "size_bytes": len(PDF), "sha256": sha(PDF)}
        ]

        late = await upload(docs, desk.applicant, f"{desk.target}&kind=cv", "cv.pdf", PDF)
        assert (late.status_code, late.json()["rule"]) == (409, "document_owner_locked")
        document = f"{DOCS}/{made.json()['id']}"
        meta = await docs.get(document, headers=desk.applicant.headers)
        gone = await docs.delete(
            document, headers={**desk.applicant.headers, "If-Match": meta.headers["etag"]}
        )
        assert (gone.status_code, gone.json()["rule"]) == (409, "document_owner_locked")
        assert await count(session, Document, owner_id=desk.application_id) == 1

    async def test_a_drafts_document_can_be_deleted_with_its_file(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        made = await upload(docs, desk.applicant, f"{desk.target}&kind=cv", "cv.png", PNG)
        assert made.status_code == 201, made.text
        document = f"{DOCS}/{made.json()['id']}"
        meta = await docs.get(document, headers=desk.applicant.headers)
        gone = await docs.delete(
            document, headers={**desk.applicant.headers, "If-Match": meta.headers["etag"]}
        )
        assert gone.status_code == 204, gone.text
        assert await count(session, Document) == 0
        assert await stored_objects(docs_app.state.storage) == []
        assert await count(session, AuditEvent, action="document.delete") == 1


class TestVisibility:
    async def test_another_partys_document_is_404_and_anonymous_is_401(
        self, docs: httpx.AsyncClient, desk: Desk
    ) -> None:
        made = await upload(docs, desk.applicant, f"{desk.target}&kind=budget", "b.pdf", PDF)
        document = f"{DOCS}/{made.json()['id']}"
        for path in (document, f"{document}/content", f"{DOCS}?{desk.target}"):
            other = await docs.get(path, headers=desk.other.headers)
            assert other.status_code == 404, (path, other.text)
            assert other.headers["content-type"] == "application/problem+json"
            assert (await docs.get(path)).status_code == 401
            assert (await docs.get(path, headers=desk.officer.headers)).status_code == 200
        theirs = await upload(docs, desk.other, f"{desk.target}&kind=cv", "cv.pdf", PDF)
        assert theirs.status_code == 404


# -- verify ---------------------------------------------------------------------------------


class TestVerify:
    async def test_verify_names_a_tampered_and_a_missing_file(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        ids = []
        for n, name in enumerate(["a.pdf", "b.pdf"]):
            made = await upload(
                docs, desk.applicant, f"{desk.target}&kind=budget", name, PDF + bytes([n])
            )
            ids.append(made.json()["id"])
        extra = await upload(docs, desk.applicant, f"{desk.target}&kind=cv", "c.pdf", PDF)
        ids.append(extra.json()["id"])
        storage: Storage = docs_app.state.storage
        clean = await documents.verify_stored(session, storage)
        assert (clean.checked, clean.problems) == (3, [])
        rows = {str(d.id): d for d in (await session.scalars(select(Document))).all()}
        await tamper(storage, rows[ids[0]].storage_key, PDF + b"tampered")
        await storage.delete(rows[ids[1]].storage_key)
        found = await documents.verify_stored(session, storage)
        assert found.checked == 3
        assert len(found.problems) == 2
        assert any(p.startswith(f"{ids[0]} ") and "differs" in p for p in found.problems)
        assert any(p.startswith(f"{ids[1]} ") and p.endswith("missing") for p in found.problems)


class TestPrune:
    async def test_prune_removes_only_abandoned_draft_uploads(
        self, docs: httpx.AsyncClient, docs_app: FastAPI, desk: Desk, session: AsyncSession
    ) -> None:
        made = await upload(docs, desk.applicant, f"{desk.target}&kind=cv", "cv.pdf", PDF)
        decree = await upload(
            docs,
            desk.officer,
            f"owner_type=call&owner_id={desk.world.call.id}&kind=decree",
            "decreto.pdf",
            PDF,
        )
        assert (made.status_code, decree.status_code) == (201, 201)
        assert await documents.prune_abandoned(session, older_than=timedelta(days=1)) == []
        # Nothing is "abandoned" until the draft and its upload are older than the delay:
        # with a delay of zero both are, and only the draft's document goes.
        keys = await documents.prune_abandoned(session, older_than=timedelta(0))
        assert len(keys) == 1
        assert await count(session, Document) == 1
        assert await count(session, AuditEvent, action="document.prune") == 1


class TestClaims:
    async def test_a_claims_required_invoice_is_checked_hashed_and_fixed_at_submission(
        self, docs: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        grant = await funded(session, code=f"C{uuid.uuid4().hex[:4]}", accept=True)
        await kind(
            session,
            grant.world,
            "invoice",
            DocumentOwner.CLAIM,
            ["application/pdf"],
            required=True,
        )
        beneficiary = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[grant.organisation_id]
        )
        stranger = await user_actor(session, settings, Role.APPLICANT)
        granted_on = clock.day_of(grant.allocation.granted_at)
        body = {
            "period_start": granted_on.isoformat(),
            "period_end": clock.today().isoformat(),
            "lines": [
                {
                    "cost_category": "staff",
                    "amount": "100.00",
                    "document_reference": "FATT-1",
                    "spent_on": clock.today().isoformat(),
                }
            ],
        }
        made = await docs.post(
            f"/api/v1/allocations/{grant.allocation.id}/claims",
            json=body,
            headers=beneficiary.headers,
        )
        assert made.status_code == 201, made.text
        claim = f"/api/v1/claims/{made.json()['id']}"
        target = f"owner_type=claim&owner_id={made.json()['id']}&kind=invoice"

        async def submit() -> httpx.Response:
            read = await docs.get(claim, headers=beneficiary.headers)
            headers = {**beneficiary.headers, "If-Match": read.headers["etag"]}
            return await docs.post(f"{claim}/submit", headers=headers)

        refused = await submit()
        assert refused.status_code == 409, refused.text
        assert refused.json()["missing_kinds"] == ["invoice"]
        theirs = await upload(docs, stranger, target, "fattura.pdf", PDF)
        assert theirs.status_code == 404
        invoice = await upload(docs, beneficiary, target, "fattura n. 1.pdf", PDF)
        assert invoice.status_code == 201, invoice.text
        assert (await submit()).status_code == 200
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "claim.submit", AuditEvent.entity_id == made.json()["id"]
            )
        )
        assert event is not None
        assert event.after is not None
        assert [d["sha256"] for d in json.loads(event.after)["documents"]] == [sha(PDF)]
        late = await upload(docs, beneficiary, target, "fattura 2.pdf", PDF + b"2")
        assert (late.status_code, late.json()["rule"]) == (409, "document_owner_locked")
