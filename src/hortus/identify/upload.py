"""Read an identification upload: a ``multipart/form-data`` body of photos and organs.

The body is streamed and split by :mod:`hortus.uploads`, and each part is handed on as soon as
its closing boundary is in, so the first photos of a five-photo upload are being decoded while
the last ones are still on the wire. A declared ``Content-Length`` over the cap is refused
before reading; an undeclared (chunked) body is cut off as soon as it passes the cap (413 either
way).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from hortus.errors import InvalidInput, UnsupportedMedia
from hortus.uploads import (
    MAX_PARTS,
    FormPart,
    MultipartSplitter,
    check_declared_size,
    form_boundary,
    split_parts,
    stream_parts,
)

__all__ = ["MAX_FIELD_BYTES", "MAX_PARTS", "MultipartSplitter", "OrganField", "UploadedPhoto",
           "split_parts", "stream_upload"]

MAX_FIELD_BYTES = 64 * 1024  # an organ name is a few bytes; anything bigger is not one


@dataclass(frozen=True)
class UploadedPhoto:
    """One ``images`` part: the client's file name and the bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class OrganField:
    """One ``organs`` text field."""

    value: str


def _field(part: FormPart) -> UploadedPhoto | OrganField | None:
    if part.name == "images":
        return UploadedPhoto(filename=part.filename or "", data=part.data)
    if part.name == "organs":
        if part.filename is not None or len(part.data) > MAX_FIELD_BYTES:
            raise InvalidInput('"organs" must be text fields (leaf, flower, ...).',
                               error="unknown organ")
        return OrganField(part.data.decode("utf-8", "replace"))
    return None  # other fields are ignored, as unknown form fields are by most servers


async def stream_upload(*, content_type: str | None, content_length: str | None,
                        stream: AsyncIterator[bytes], max_bytes: int
                        ) -> AsyncGenerator[UploadedPhoto | OrganField, None]:
    """The ``images`` files and ``organs`` text fields of a multipart body, each as soon as it
    has arrived, in the order sent.

    Raises PayloadTooLarge (413) over ``max_bytes``, UnsupportedMedia (415) for a body that is
    not multipart, InvalidInput (400) for a malformed one. A request without a body, or a form
    without files, yields nothing: the caller reports the missing image.
    """
    check_declared_size(content_length, max_bytes)
    media_type, boundary = form_boundary(content_type)
    if not media_type:
        if content_length in (None, "", "0"):
            return
        media_type = "application/octet-stream"
    if media_type == "application/x-www-form-urlencoded":
        return
    if media_type != "multipart/form-data":
        raise UnsupportedMedia("Send the photos as multipart/form-data (images and organs).",
                               error="unsupported media type")
    if not boundary:
        raise InvalidInput("The multipart body has no boundary.", error="bad form")
    async for part in stream_parts(stream, boundary=boundary, max_bytes=max_bytes):
        field = _field(part)
        if field is not None:
            yield field
