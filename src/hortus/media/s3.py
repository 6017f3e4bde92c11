"""The S3 backend: photos as objects of an S3-compatible bucket, through boto3.

For large installations (and object stores that replicate across sites). boto3 is imported
when this backend is chosen, so an install that does not use it does not need it. Each
object's sha256 travels as the S3 checksum (``ChecksumSHA256``: the server verifies the
upload) and as ``x-amz-meta-sha256``. Writes never replace an object (``If-None-Match: *``
where the server supports conditional writes, and a HEAD first everywhere).
"""

from __future__ import annotations

import base64
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hortus.media.store import (
    CHUNK_BYTES,
    ByteRange,
    HashingChunks,
    MediaBody,
    MediaInfo,
    check_key,
    sniff_content_type,
)

_SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger uploads are spooled to a temporary file
_KNOWN_MAX = 100_000  # keys remembered as present (objects are immutable and rarely deleted)


def _missing(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("404", "NoSuchKey", "NotFound") or status == 404


class S3MediaStore:
    """Objects in ``bucket`` under ``prefix`` on AWS S3 or any S3-compatible server."""

    backend = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, client: Any = None) -> None:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import ClientError
        except ImportError as exc:
            raise ImportError("the s3 media backend needs boto3: pip install boto3") from exc

        self._client_error = ClientError
        self.bucket = bucket
        self.prefix = prefix
        self.client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
            config=Config(max_pool_connections=32, retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path"} if endpoint_url else None))
        self._known: set[str] = set()
        self._known_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hortus-s3")

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _remember(self, key: str) -> None:
        with self._known_lock:
            if len(self._known) >= _KNOWN_MAX:
                self._known.clear()
            self._known.add(key)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except self._client_error as exc:
            if _missing(exc):
                return None
            raise

    @staticmethod
    def _info(key: str, answer: dict[str, Any]) -> MediaInfo:
        return MediaInfo(key=key, size=int(answer["ContentLength"]),
                         content_type=answer.get("ContentType") or "application/octet-stream",
                         sha256=(answer.get("Metadata") or {}).get("sha256"))

    def stat(self, key: str) -> MediaInfo | None:
        answer = self._head(key)
        return None if answer is None else self._info(key, answer)

    def existing(self, keys: Iterable[str]) -> set[str]:
        wanted = {check_key(k) for k in keys}
        with self._known_lock:
            found = wanted & self._known
        unknown = sorted(wanted - found)
        for key, answer in zip(unknown, self._pool.map(self._head, unknown), strict=True):
            if answer is not None:
                found.add(key)
                self._remember(key)
        return found

    def put(self, key: str, data: bytes | Iterable[bytes], *,
            content_type: str | None = None) -> bool:
        name = self._name(key)
        if key in self._known or self._head(key) is not None:
            return False
        chunks = HashingChunks(data)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            for chunk in chunks:
                spool.write(chunk)
            chunks.check(key)
            spool.seek(0)
            checksum = base64.b64encode(bytes.fromhex(chunks.sha256)).decode()
            arguments = dict(Bucket=self.bucket, Key=name, Body=spool,
                             ContentLength=chunks.size,
                             ContentType=content_type or sniff_content_type(chunks.head),
                             ChecksumSHA256=checksum, Metadata={"sha256": chunks.sha256})
            try:
                self.client.put_object(IfNoneMatch="*", **arguments)
            except self._client_error as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    self._remember(key)
                    return False  # stored meanwhile by another writer
                if code not in ("NotImplemented", "InvalidArgument"):
                    raise
                spool.seek(0)  # a server without conditional writes: the HEAD above stands
                self.client.put_object(**arguments)
        self._remember(key)
        return True

    def open(self, key: str, byte_range: ByteRange | None = None) -> MediaBody | None:
        name = self._name(key)
        extra: dict[str, str] = {}
        if byte_range is not None:
            head = self._head(key)
            if head is None:
                return None
            info = self._info(key, head)
            start, end = byte_range.resolve(info.size)
            extra["Range"] = f"bytes={start}-{end - 1}"
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name, **extra)
        except self._client_error as exc:
            if _missing(exc):
                return None
            raise
        if byte_range is None:
            info = self._info(key, answer)
            start, end = 0, info.size
        stream = answer["Body"]

        def chunks() -> Iterator[bytes]:
            yield from stream.iter_chunks(CHUNK_BYTES)

        return MediaBody(info, start, end, chunks(), stream.close)

    def delete(self, key: str) -> bool:
        held = self._head(key) is not None
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        with self._known_lock:
            self._known.discard(key)
        return held

    def iter_keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for entry in page.get("Contents", ()):
                key = entry["Key"][len(self.prefix):]
                try:
                    yield check_key(key)
                except ValueError:
                    continue  # something else shares the bucket

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self.client.close()
