"""Reading PEAT's multipart upload: one file field ``picture``, bounded in size."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from hortus.errors import InvalidInput, PayloadTooLarge

PICTURE_FIELD = "picture"
# Multipart framing around the picture (boundaries, part headers) is allowed on top.
_FRAMING = 64 * 1024


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The picture is over {max_bytes} bytes.", error="picture too large")


async def read_picture(request: Request, *, max_bytes: int) -> bytes:
    """The bytes of the ``picture`` file in a multipart/form-data body.

    InvalidInput when the body is not multipart, is malformed, or has no non-empty
    ``picture`` file; PayloadTooLarge when the picture (or the whole body) is too big.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidInput("Send the picture as multipart/form-data in a field named "
                           "'picture'.", error="no picture")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + _FRAMING:
        raise _too_large(max_bytes)
    try:
        form = await request.form(max_files=4, max_fields=64)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed body
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise InvalidInput(f"The multipart body cannot be read: {str(detail)[:160]}",
                           error="malformed body") from None
    try:
        picture = form.get(PICTURE_FIELD)
        if not isinstance(picture, UploadFile):
            raise InvalidInput("There is no file in the 'picture' field.", error="no picture")
        data = await picture.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        if not data:
            raise InvalidInput("The 'picture' file is empty.", error="empty picture")
        return data
    finally:
        await form.close()
