"""Where documents' bytes live (issue 19): a local directory (the default, under ./var/) or
S3-compatible object storage, chosen by ``WECARE_DOCUMENT_STORAGE``.

Writes stream: a writer takes chunks as the upload arrives and keeps at most one part
(8 MiB on S3, 1 MiB on disk) in memory; ``abort`` leaves nothing behind. Reads stream too,
optionally one byte range.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from app.core.config import Settings

# S3 multipart parts must be at least 5 MiB (but the last); 8 MiB keeps the parts few.
S3_PART_BYTES = 8 * 1024 * 1024
DISK_BUFFER_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024


class StoredFileMissing(Exception):
    """The storage has no object under the key."""


class StorageWriter(Protocol):
    async def write(self, chunk: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class Storage(Protocol):
    name: str

    async def writer(self, key: str, media_type: str) -> StorageWriter: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start``..``end`` (inclusive; None: to the end); StoredFileMissing
        when there is no such object (raised at the first iteration)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def presigned_url(
        self, key: str, *, file_name: str, media_type: str, seconds: int
    ) -> str | None: ...


def content_disposition(file_name: str, disposition: str = "attachment") -> str:
    """RFC 6266 with an RFC 5987 ``filename*`` for any name (accented Italian ones
    included), and an ASCII ``filename`` fallback for old clients."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in file_name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


class _DiskWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        self.buffer = bytearray()
        self.file: Any = None

    async def _flush(self) -> None:
        data, self.buffer = bytes(self.buffer), bytearray()
        if data:
            await asyncio.to_thread(self.file.write, data)

    async def open(self) -> None:
        def make() -> Any:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            return self.partial.open("xb")

        self.file = await asyncio.to_thread(make)

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        if len(self.buffer) >= DISK_BUFFER_BYTES:
            await self._flush()

    async def commit(self) -> None:
        await self._flush()

        def finish() -> None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.partial.replace(self.path)

        await asyncio.to_thread(finish)

    async def abort(self) -> None:
        def drop() -> None:
            self.file.close()
            self.partial.unlink(missing_ok=True)

        self.buffer = bytearray()
        await asyncio.to_thread(drop)


class LocalStorage:
    """Files under one directory; a key is a relative path of safe characters."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key {key!r} leaves the storage directory")
        return path

    async def writer(self, key: str, media_type: str) -> StorageWriter:
        writer = _DiskWriter(self.path(key))
        await writer.open()
        return writer

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as error:
            raise StoredFileMissing(key) from error
        try:
            await asyncio.to_thread(file.seek, start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                size = READ_CHUNK_BYTES if left is None else min(READ_CHUNK_BYTES, left)
                chunk = await asyncio.to_thread(file.read, size)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, True)

    async def presigned_url(
        self, key: str, *, file_name: str, media_type: str, seconds: int
    ) -> str | None:
        return None  # a local file is always served through the service


class _S3Writer:
    def __init__(self, storage: S3Storage, key: str, media_type: str) -> None:
        self.storage, self.key, self.media_type = storage, key, media_type
        self.stack = AsyncExitStack()
        self.client: Any = None
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def open(self) -> None:
        self.client = await self.stack.enter_async_context(self.storage.client())

    async def _send_part(self) -> None:
        if self.upload_id is None:
            made = await self.client.create_multipart_upload(
                Bucket=self.storage.bucket,
                Key=self.key,
                ContentType=self.media_type,
                **self.storage.encryption(),
            )
            self.upload_id = made["UploadId"]
        number = len(self.parts) + 1
        data, self.buffer = bytes(self.buffer), bytearray()
        sent = await self.client.upload_part(
            Bucket=self.storage.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=data,
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        if len(self.buffer) >= S3_PART_BYTES:
            await self._send_part()

    async def commit(self) -> None:
        try:
            if self.upload_id is None:
                await self.client.put_object(
                    Bucket=self.storage.bucket,
                    Key=self.key,
                    Body=bytes(self.buffer),
                    ContentType=self.media_type,
                    **self.storage.encryption(),
                )
            else:
                if self.buffer:
                    await self._send_part()
                await self.client.complete_multipart_upload(
                    Bucket=self.storage.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )
        finally:
            await self.stack.aclose()

    async def abort(self) -> None:
        self.buffer = bytearray()
        try:
            if self.upload_id is not None:
                await self.client.abort_multipart_upload(
                    Bucket=self.storage.bucket, Key=self.key, UploadId=self.upload_id
                )
        finally:
            await self.stack.aclose()


class S3Storage:
    """Objects in one bucket under a prefix, through aioboto3."""

    name = "s3"

    def __init__(self, settings: Settings) -> None:
        import aioboto3
        from botocore.config import Config

        assert settings.s3_bucket is not None
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix.strip("/")
        self.sse = settings.s3_server_side_encryption
        self.kms_key = settings.s3_sse_kms_key_id
        self.endpoint_url = settings.s3_endpoint_url
        secret = settings.s3_secret_access_key
        self.session = aioboto3.Session(
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.s3_region,
        )
        self.config = Config(
            s3={"addressing_style": settings.s3_addressing_style},
            signature_version="s3v4",
            retries={"max_attempts": 3, "mode": "standard"},
        )

    def client(self) -> Any:
        return self.session.client("s3", endpoint_url=self.endpoint_url, config=self.config)

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def encryption(self) -> dict[str, str]:
        if not self.sse:
            return {}
        given: dict[str, str] = {"ServerSideEncryption": self.sse}
        if self.sse == "aws:kms" and self.kms_key:
            given["SSEKMSKeyId"] = self.kms_key
        return given

    async def writer(self, key: str, media_type: str) -> StorageWriter:
        writer = _S3Writer(self, self.object_key(key), media_type)
        await writer.open()
        return writer

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        from botocore.exceptions import ClientError

        extra = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end}"
        async with self.client() as s3:
            try:
                got = await s3.get_object(Bucket=self.bucket, Key=self.object_key(key), **extra)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise StoredFileMissing(key) from error
                raise
            body = got["Body"]
            try:
                async for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                    yield chunk
            finally:
                body.close()

    async def delete(self, key: str) -> None:
        async with self.client() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    async def presigned_url(
        self, key: str, *, file_name: str, media_type: str, seconds: int
    ) -> str | None:
        async with self.client() as s3:
            url: str = await s3.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.object_key(key),
                    "ResponseContentDisposition": content_disposition(file_name),
                    "ResponseContentType": media_type,
                },
                ExpiresIn=seconds,
            )
            return url


def storage_for(settings: Settings) -> Storage:
    if settings.document_storage == "s3":
        return S3Storage(settings)
    return LocalStorage(settings.document_dir)
