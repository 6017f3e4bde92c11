"""The media store interface: content-addressed keys, what a stored photo is, how it is read.

A key names an immutable object. An original photo's key is the sha256 of its bytes (64
lowercase hex digits), so the same photo is stored once whoever sends it; a rendition derived
from a photo (the reference photos' ``o``/``m``/``s`` JPEGs) is that photo's sha256 followed by
``_`` and the rendition's name. Stores never replace an object: a second ``put`` of a key keeps
the first, so a key's bytes never change and its HTTP ETag can be the key itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

CHUNK_BYTES = 256 * 1024  # the unit of streaming (and of the database backend's rows)
_KEY = re.compile(r"^[0-9a-f]{64}(?:_[a-z0-9]{1,16})?$")


class MediaKeyError(ValueError):
    """A string that is no media key."""


class MediaIntegrityError(ValueError):
    """Bytes whose sha256 is not the content key they were stored or read under."""


class RangeNotSatisfiable(Exception):
    """A byte range that starts past the end of the object (HTTP 416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object has {size} bytes")
        self.size = size


def check_key(key: str) -> str:
    """``key`` when it is a media key, else MediaKeyError."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise MediaKeyError(f"{key!r} is not a media key")
    return key


def is_content_key(key: str) -> bool:
    """Whether the key is the sha256 of the object's own bytes (not a rendition's)."""
    return len(key) == 64


def photo_key(data: bytes) -> str:
    """The content key of a photo: the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


def rendition_key(sha256: str, rendition: str) -> str:
    """The key of a rendition (e.g. ``m``) derived from the photo whose sha256 is given."""
    return check_key(f"{sha256}_{rendition}")


def sniff_content_type(head: bytes) -> str:
    """The image type the first bytes announce (JPEG, PNG, WebP), else octet-stream."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


@dataclass(frozen=True)
class MediaInfo:
    """One stored object: size in bytes, content type, and the sha256 of its bytes when the
    backend records it (the database and S3 do; the local folder does not)."""

    key: str
    size: int
    content_type: str
    sha256: str | None = None


@dataclass(frozen=True)
class ByteRange:
    """An HTTP byte range as asked: ``first-last`` (last optional), or the last ``suffix``."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None

    def resolve(self, size: int) -> tuple[int, int]:
        """``(start, end)`` (end exclusive) within an object of ``size`` bytes; raises
        RangeNotSatisfiable when the range starts past the end (or is an empty suffix)."""
        if self.suffix is not None:
            if self.suffix == 0 or size == 0:
                raise RangeNotSatisfiable(size)
            return max(0, size - self.suffix), size
        first = self.first or 0
        if first >= size:
            raise RangeNotSatisfiable(size)
        end = size if self.last is None else min(self.last + 1, size)
        return first, end


class MediaBody:
    """An opened object, ready to stream: ``info``, the byte span ``[start, end)`` and its
    chunks (at most :data:`CHUNK_BYTES` each, read lazily). Iterate once; ``close`` frees what
    the backend holds (also done when the chunks run out)."""

    def __init__(self, info: MediaInfo, start: int, end: int, chunks: Iterator[bytes],
                 close: Callable[[], None] | None = None) -> None:
        self.info = info
        self.start = start
        self.end = end
        self._chunks = chunks
        self._close = close

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def partial(self) -> bool:
        return self.length != self.info.size

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def read(self) -> bytes:
        """The whole span in memory: only for spans known to be small."""
        return b"".join(self)

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()


@runtime_checkable
class MediaStore(Protocol):
    """Where photos are kept. Every method is blocking: call it from a worker thread."""

    backend: str

    def stat(self, key: str) -> MediaInfo | None:
        """The object's size and type, or None when the store does not hold it."""

    def existing(self, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` the store holds (one round trip where the backend can)."""

    def put(self, key: str, data: bytes | Iterable[bytes], *,
            content_type: str | None = None) -> bool:
        """Store the object unless the key is already held; True when this call stored it.

        ``data`` may be a stream of chunks (never held whole in memory by the database or the
        local folder). A content key whose bytes hash to something else raises
        MediaIntegrityError and stores nothing.
        """

    def open(self, key: str, byte_range: ByteRange | None = None) -> MediaBody | None:
        """The object (or the asked range of it) to stream, or None when it is not held.
        Raises RangeNotSatisfiable for a range past its end."""

    def delete(self, key: str) -> bool:
        """Remove the object; True when it was held."""

    def iter_keys(self) -> Iterator[str]:
        """Every key the store holds (for migration and backups), in no promised order."""

    def close(self) -> None:
        """Release connections and pools."""


class HashingChunks:
    """Re-cuts a stream of byte strings into pieces of :data:`CHUNK_BYTES` (the last may be
    shorter) while computing their sha256 and total size."""

    def __init__(self, data: bytes | Iterable[bytes], chunk_bytes: int = CHUNK_BYTES) -> None:
        self._source = [data] if isinstance(data, bytes | bytearray | memoryview) else data
        self._chunk_bytes = chunk_bytes
        self._hash = hashlib.sha256()
        self.size = 0
        self.head = b""

    def __iter__(self) -> Iterator[bytes]:
        pending = bytearray()
        for piece in self._source:
            if not piece:
                continue
            self._hash.update(piece)
            self.size += len(piece)
            if len(self.head) < 16:
                self.head = (self.head + bytes(piece[:16]))[:16]
            pending += piece
            while len(pending) >= self._chunk_bytes:
                yield bytes(pending[:self._chunk_bytes])
                del pending[:self._chunk_bytes]
        if pending:
            yield bytes(pending)

    @property
    def sha256(self) -> str:
        """The hex sha256 of everything read so far."""
        return self._hash.hexdigest()

    def check(self, key: str) -> None:
        """MediaIntegrityError when ``key`` is a content key the bytes do not hash to."""
        if is_content_key(key) and self.sha256 != key:
            raise MediaIntegrityError(f"the bytes stored as {key} hash to {self.sha256}")
