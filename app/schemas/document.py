"""Documents: their metadata, the list's query, and a measure's document kinds."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.core.domain import DocumentOwner
from app.schemas.common import Output
from app.schemas.page import PageQuery


class DocumentRead(Output):
    """A stored document's metadata; the bytes are at ``/api/v1/documents/{id}/content``."""

    id: uuid.UUID
    owner_type: DocumentOwner
    owner_id: uuid.UUID
    kind: str = Field(description="The kind's code, from the owner's measure's data.")
    file_name: str = Field(description="The name the file was uploaded with.")
    media_type: str = Field(description="Detected from the content, not taken from the client.")
    size_bytes: int
    sha256: str = Field(description="Hex SHA-256 of the content; also the download's ETag.")
    uploaded_by: str
    created_at: datetime


class _DocumentFilters(BaseModel):
    owner_type: DocumentOwner = Field(description="What the documents belong to.")
    owner_id: uuid.UUID = Field(description="The application's, claim's, call's or ranking's id.")


class DocumentQuery(PageQuery, _DocumentFilters):
    """The document list's query string: one owner's documents, oldest first."""


class DocumentUploadTarget(BaseModel):
    """Where an upload goes and what it is (the query string of the upload)."""

    owner_type: DocumentOwner
    owner_id: uuid.UUID
    kind: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")


class DocumentUpload(BaseModel):
    """The multipart/form-data body of an upload: one part named ``file``, with its file
    name (streamed to storage as it arrives)."""

    file: bytes = Field(json_schema_extra={"format": "binary"})
