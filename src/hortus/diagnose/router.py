"""PEAT-compatible HTTP routes (``/v1``): thin, the service does the work.

FastAPI parses each request into the models of :mod:`hortus.diagnose.schemas` (the multipart
upload is streamed by :func:`uploaded_picture` through :mod:`hortus.uploads`, and documented
through ``openapi_extra``), each route calls one service function, and the answer models are
serialised. Errors under
``/v1`` are JSON ``{"message": ..., "code": <status>}``; the quota's 429 is exactly PEAT's
documented ``{"message": "You have reached your maximum amount of requests this month"}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from hortus.accounts.deps import PeatCallerDep, note_exceeded, note_quota
from hortus.api_families import ApiFamily
from hortus.deps import DatabaseDep, SettingsDep
from hortus.diagnose import catalogue_service, service
from hortus.diagnose.schemas import (
    HORTUS_EXTENSION,
    RATE_LIMITED,
    UPLOAD_BODY,
    Disease,
    DiseasePage,
    DiseaseQuery,
    ImageAnalysis,
    MetadataHeaders,
    PeatError,
    QuotaError,
    StoredAnalysis,
    error_responses,
)
from hortus.errors import HortusError, InvalidInput, NotFound, PayloadTooLarge, QuotaExceeded
from hortus.image_work import ImageWorkBusy, note_busy
from hortus.inference import InferenceDep
from hortus.media.deps import MediaDep
from hortus.media.http import media_response
from hortus.uploads import check_declared_size, form_boundary, stream_parts

PREFIX = "/v1"
router = APIRouter(prefix=PREFIX, tags=["Image analysis (PEAT)"])


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """PEAT's error format: ``{"message": ..., "code": status}``; the 429 exactly as PEAT's."""
    body: PeatError | QuotaError = PeatError(message=message, code=status)
    if isinstance(exc, QuotaExceeded):
        body = QuotaError(message=message)
    return JSONResponse(body.model_dump(), status_code=status)


FAMILY = ApiFamily(name="peat", prefix=PREFIX, render=render_error)


PICTURE_FIELD = "picture"
# Multipart framing around the picture (boundaries, part headers) is allowed on top.
_FRAMING = 64 * 1024


def _picture_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The picture is over {max_bytes} bytes.", error="picture too large")


async def uploaded_picture(request: Request, settings: SettingsDep) -> bytes:
    """The ``picture`` file of the multipart body, read as it arrives.

    The body may be the picture's cap (``max_upload_bytes``) plus 64 KiB of framing: a
    declared length over that is refused before reading, and a chunked body is cut off the
    moment it passes it, so nothing beyond the cap is ever held (413). InvalidInput (400) when
    the body is not multipart, is malformed, or has no non-empty ``picture`` file.
    """
    max_bytes = settings.max_upload_bytes
    media_type, boundary = form_boundary(request.headers.get("content-type"))
    if media_type != "multipart/form-data":
        raise InvalidInput("Send the picture as multipart/form-data in a field named "
                           f"'{PICTURE_FIELD}'.", error="no picture")
    if not boundary:
        raise InvalidInput("The multipart body has no boundary.", error="malformed body")
    body_cap = max_bytes + _FRAMING

    def too_large(_: int) -> PayloadTooLarge:  # names the picture's cap, not the body's
        return _picture_too_large(max_bytes)

    check_declared_size(request.headers.get("content-length"), body_cap, too_large=too_large)
    picture: bytes | None = None
    async for part in stream_parts(request.stream(), boundary=boundary, max_bytes=body_cap,
                                   too_large=too_large):
        if picture is None and part.name == PICTURE_FIELD and part.filename is not None:
            picture = part.data  # the first file named picture; the rest is read and dropped
    if picture is None:
        raise InvalidInput(f"There is no file in the '{PICTURE_FIELD}' field.",
                           error="no picture")
    if len(picture) > max_bytes:
        raise _picture_too_large(max_bytes)
    if not picture:
        raise InvalidInput(f"The '{PICTURE_FIELD}' file is empty.", error="empty picture")
    return picture


MetadataDep = Annotated[MetadataHeaders, Header(convert_underscores=False)]
PictureDep = Annotated[bytes, Depends(uploaded_picture)]

_ANALYSIS_DESCRIPTION = (
    "Diagnose one crop photo sent as the multipart field `picture`, with PEAT's optional "
    "metadata headers. GET with the same multipart body is answered exactly like POST "
    "(PEAT's published scripts use `requests.get(..., files=...)`). One unit of the monthly "
    "image-analysis quota per answered analysis; a refused request costs nothing."
)
_ANALYSIS_ROUTE: dict[str, Any] = {
    "response_model": ImageAnalysis,
    "summary": "Analyse a crop photo (multipart field 'picture')",
    "description": _ANALYSIS_DESCRIPTION,
    "responses": {200: RATE_LIMITED, **error_responses(
        400, 401, 403, 413, 429, 500,
        e400="Bad Request: no multipart body or no 'picture' file, an empty file, not a JPEG, "
             "PNG or WebP image, a truncated image, or one with more pixels than the server "
             "decodes (HORTUS_MAX_IMAGE_PIXELS, HORTUS_MAX_FULL_DECODE_PIXELS).",
        e413="Payload Too Large: the picture is over HORTUS_MAX_UPLOAD_BYTES (a chunked body "
             "is cut off there).",
        e429="Too Many Requests: the month's image-analysis quota is used up (PEAT's body), or "
             "the account already has HORTUS_IMAGE_WORK_PER_ACCOUNT analyses running and "
             "as many waiting (`{message, code}`; retry after `Retry-After` seconds).")},
    "openapi_extra": {"requestBody": UPLOAD_BODY},
}


@router.post("/image_analysis", **_ANALYSIS_ROUTE)
@router.get("/image_analysis", **_ANALYSIS_ROUTE)
async def image_analysis(request: Request, caller: PeatCallerDep, metadata: MetadataDep,
                         picture: PictureDep, db: DatabaseDep, settings: SettingsDep,
                         inference: InferenceDep, media: MediaDep) -> ImageAnalysis:
    try:
        result = await service.analyse(database=db, settings=settings, inference=inference,
                                       media=media, account_id=caller.account_id,
                                       picture=picture, headers=metadata.as_sent())
    except QuotaExceeded as exc:
        note_exceeded(request, exc)
        raise
    except ImageWorkBusy as exc:
        note_busy(request, exc)
        raise
    note_quota(request, result.quota)
    return result.answer


@router.get(
    "/image_analysis/{pic_id}", response_model=StoredAnalysis,
    summary="A stored analysis (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: an analysis of the caller's account as it was answered, "
                "with `created_at` and the metadata headers (parsed, and as sent). Another "
                "account's analysis is a 404. No quota.",
    responses=error_responses(400, 401, 403, 404, 500,
                              e404="Not Found: no analysis with this pic_id for this key."),
)
def stored_analysis(pic_id: Annotated[uuid.UUID, Path(description="The answer's pic_id.")],
                    caller: PeatCallerDep, db: DatabaseDep) -> StoredAnalysis:
    with db.read() as session:
        return service.get_analysis(session=session, account_id=caller.account_id,
                                    pic_id=pic_id)


@router.get(
    "/image_analysis/{pic_id}/picture", response_class=Response,
    summary="The picture of a stored analysis (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: the picture an analysis of the caller's account was made "
                "on, as it was sent (JPEG, PNG or WebP), from whichever server process stored "
                "it. Its ETag is the picture's sha256; one byte range (`Range`) is answered "
                "with 206. Another account's analysis is a 404. No quota.",
    responses={200: {"description": "The picture, as sent.",
                     "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                 for t in ("image/jpeg", "image/png", "image/webp")}},
               206: {"description": "The byte range asked for with `Range`."},
               304: {"description": "Not Modified: `If-None-Match` names this picture."},
               **error_responses(400, 401, 403, 404, 416, 500,
                                 e404="Not Found: no analysis with this pic_id for this key, "
                                      "or its picture is not stored.")},
)
def analysis_picture(pic_id: Annotated[uuid.UUID, Path(description="The answer's pic_id.")],
                     request: Request, caller: PeatCallerDep, db: DatabaseDep,
                     media: MediaDep) -> Response:
    with db.read() as session:
        key = service.picture_key(session=session, account_id=caller.account_id,
                                  pic_id=pic_id)
    return media_response(request, media, key, missing=NotFound(
        service.PICTURE_MISSING, error="picture not found"))


@router.get(
    "/diseases", response_model=DiseasePage,
    summary="Browse the disease catalogue (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: the disease catalogue by `peat_id`, optionally filtered. "
                "No quota.",
    responses=error_responses(400, 401, 403, 500),
)
def diseases(query: Annotated[DiseaseQuery, Query()], caller: PeatCallerDep,
             db: DatabaseDep) -> DiseasePage:
    with db.read() as session:
        return catalogue_service.list_diseases(session=session, query=query)


@router.get(
    "/diseases/{peat_id}", response_model=Disease,
    summary="One disease of the catalogue (Hortus extension)",
    description=f"{HORTUS_EXTENSION}: one entry of the disease catalogue: names, EPPO code, "
                "pathogen class, hosts, common names by language, symptoms, treatment and "
                "prevention. No quota.",
    responses=error_responses(400, 401, 403, 404, 500,
                              e404="Not Found: no disease with this peat_id."),
)
def disease(peat_id: Annotated[int, Path(ge=0, le=999_999_999_999,
                                         description="The disease's peat_id.")],
            caller: PeatCallerDep, db: DatabaseDep) -> Disease:
    with db.read() as session:
        return catalogue_service.get_disease(session=session, peat_id=peat_id)
