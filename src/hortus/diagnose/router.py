"""PEAT-compatible HTTP routes (``/v1``): thin, the service does the work.

Errors under ``/v1`` are JSON ``{"message": ..., "code": <status>}``; the quota's 429 is
exactly PEAT's documented ``{"message": "You have reached your maximum amount of requests
this month"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hortus.accounts.deps import PeatCallerDep, note_exceeded, note_quota
from hortus.deps import DatabaseDep, SettingsDep
from hortus.diagnose import catalogue_service, service
from hortus.diagnose.metadata import parse_metadata
from hortus.diagnose.upload import read_picture
from hortus.errors import HortusError, InvalidInput, QuotaExceeded
from hortus.api_families import ApiFamily
from hortus.inference import InferenceDep

PREFIX = "/v1"
router = APIRouter(prefix=PREFIX, tags=["Image analysis (PEAT)"])


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """PEAT's error format: ``{"message": ..., "code": status}``; the 429 exactly as PEAT's."""
    if isinstance(exc, QuotaExceeded):
        return JSONResponse({"message": message}, status_code=status)
    return JSONResponse({"message": message, "code": status}, status_code=status)


FAMILY = ApiFamily(name="peat", prefix=PREFIX, render=render_error)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f"{name} must be a whole number, not {raw[:40]!r}.",
                           error="invalid parameter")
    return int(raw)


@router.post("/image_analysis", summary="Analyse a crop photo (multipart field 'picture')")
async def image_analysis(request: Request, caller: PeatCallerDep, db: DatabaseDep,
                         settings: SettingsDep, inference: InferenceDep) -> JSONResponse:
    metadata = parse_metadata(request.headers)
    picture = await read_picture(request, max_bytes=settings.max_upload_bytes)
    try:
        result = await service.analyse(database=db, settings=settings, inference=inference,
                                       account_id=caller.account_id, picture=picture,
                                       metadata=metadata)
    except QuotaExceeded as exc:
        note_exceeded(request, exc)
        raise
    note_quota(request, result.quota)
    return JSONResponse(result.answer)


@router.get("/image_analysis/{pic_id}", summary="A stored analysis (Hortus extension)")
def stored_analysis(pic_id: str, caller: PeatCallerDep, db: DatabaseDep) -> dict[str, Any]:
    with db.read() as session:
        return service.get_analysis(session=session, account_id=caller.account_id,
                                    pic_id=pic_id)


@router.get("/diseases", summary="Browse the disease catalogue (Hortus extension)")
def diseases(request: Request, caller: PeatCallerDep, db: DatabaseDep) -> dict[str, Any]:
    params = request.query_params
    with db.read() as session:
        return catalogue_service.list_diseases(
            session=session, page=_int_param(request, "page", 1),
            per_page=_int_param(request, "per_page", 20), crop=params.get("crop"),
            pathogen_class=params.get("pathogen_class"), eppo=params.get("eppo"),
            q=params.get("q"),
        )


@router.get("/diseases/{peat_id}", summary="One disease of the catalogue (Hortus extension)")
def disease(peat_id: str, caller: PeatCallerDep, db: DatabaseDep) -> dict[str, Any]:
    if not peat_id.isdigit() or len(peat_id) > 12:
        raise InvalidInput(f"peat_id must be a whole number, not {peat_id[:40]!r}.",
                           error="invalid peat_id")
    with db.read() as session:
        return catalogue_service.disease_object(
            catalogue_service.get_disease(session=session, peat_id=int(peat_id)))
