"""Pl@ntNet API v2 routes (``/v2``): identification, projects, species, account, health.

Thin: parse the request, call the services, serialise. Every error under ``/v2`` is answered in
Pl@ntNet's format ``{"statusCode", "error", "message"}`` by :func:`render_error`.
"""

from __future__ import annotations

from contextlib import aclosing
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from hortus.identify import quota_views
from hortus.accounts.deps import PlantnetCallerDep
from hortus.accounts.quotas import API_IDENTIFY, QuotaState
from hortus.config import Settings
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError, InvalidInput, NotFound, QuotaExceeded
from hortus.api_families import ApiFamily
from hortus.identify import catalogue, remote, serialize, service
from hortus.identify.charge import identification_unit
from hortus.identify.params import (
    LANGUAGES,
    MAX_IMAGES,
    IdentifyOptions,
    check_organs,
    parse_lang,
    parse_options,
)
from hortus.identify.upload import OrganField, stream_upload
from hortus.inference import InferenceDep
from hortus.vision.engine import reference_media_path

PREFIX = "/v2"
MAX_URI_LENGTH = 8192


class UriTooLong(HortusError):
    status = 414
    error = "uri too long"


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """Pl@ntNet's error body; a 429 on identification also says no requests remain."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: dict[str, Any] = {"statusCode": status, "error": phrase, "message": message}
    if isinstance(exc, QuotaExceeded) and exc.api == API_IDENTIFY:
        body["remainingIdentificationRequests"] = 0
    return JSONResponse(body, status_code=status)


FAMILY = ApiFamily(name="plantnet", prefix=PREFIX, render=render_error)


async def check_uri_length(request: Request) -> None:
    """414 for a request line longer than :data:`MAX_URI_LENGTH` (e.g. too many image URLs)."""
    query = request.scope.get("query_string", b"")
    if len(request.scope.get("raw_path", b"")) + len(query) > MAX_URI_LENGTH:
        raise UriTooLong(f"The URI is longer than {MAX_URI_LENGTH} characters.")


router = APIRouter(prefix=PREFIX, tags=["Identification (Pl@ntNet v2)"],
                   dependencies=[Depends(check_uri_length)])


def _query(request: Request) -> dict[str, list[str]]:
    params = request.query_params
    return {name: params.getlist(name) for name in params}


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _answer(request: Request, result: service.Identification, *, options: IdentifyOptions,
            state: QuotaState, settings: Settings) -> JSONResponse:
    return JSONResponse(serialize.identification_result(
        result, language=options.lang, include_images=options.include_related_images,
        no_reject=options.no_reject, type_=options.type, detailed=options.detailed,
        remaining=state.remaining, media_dir=settings.media_dir, base_url=_base_url(request)))


@router.post("/identify/{project}", summary="Identify a plant from 1 to 5 photos (multipart)")
async def identify_upload(project: str, request: Request, caller: PlantnetCallerDep,
                          db: DatabaseDep, settings: SettingsDep,
                          inference: InferenceDep) -> JSONResponse:
    options = parse_options(_query(request))
    engine = await service.load_engine(inference)
    models = service.resolve_projects(engine, project)
    async with (identification_unit(request=request, database=db, settings=settings,
                                    account_id=caller.account_id) as unit,
                service.PhotoPipeline(inference=inference, engine=engine) as pipeline):
        # Each photo goes to the pipeline as soon as it has arrived; the organs may come before
        # or after their photos, and are checked once the whole form is in.
        organs: list[str] = []
        images = 0
        fields = stream_upload(content_type=request.headers.get("content-type"),
                               content_length=request.headers.get("content-length"),
                               stream=request.stream(), max_bytes=settings.max_upload_bytes)
        async with aclosing(fields):
            async for item in fields:
                if isinstance(item, OrganField):
                    organs.append(item.value)
                    continue
                images += 1
                if images == 1:
                    await unit.taken()
                if images <= MAX_IMAGES:
                    pipeline.add(item.filename, item.data)
        checked = check_organs(organs, images)
        photos, embeddings = await pipeline.finish(checked)
        result = await service.identify(inference=inference, database=db, models=models,
                                        project=project, photos=photos, embeddings=embeddings,
                                        options=options)
        state = await unit.taken()
    return _answer(request, result, options=options, state=state, settings=settings)


@router.get("/identify/{project}", summary="Identify a plant from image URLs (when enabled)")
async def identify_urls(project: str, request: Request, caller: PlantnetCallerDep,
                        db: DatabaseDep, settings: SettingsDep,
                        inference: InferenceDep) -> JSONResponse:
    if not settings.identify_by_url:
        raise InvalidInput("Identification by image URL is disabled on this server; "
                           "POST the photos to this route instead.", error="disabled")
    options = parse_options(_query(request))
    urls = request.query_params.getlist("images")
    organs = check_organs(request.query_params.getlist("organs"), len(urls))
    engine = await service.load_engine(inference)
    models = service.resolve_projects(engine, project)
    async with identification_unit(request=request, database=db, settings=settings,
                                   account_id=caller.account_id) as unit:
        data = await remote.fetch_all(urls, allow=settings.url_fetch_allow,
                                      max_bytes=settings.max_upload_bytes)
        state = await unit.taken()
        photos, embeddings = await service.embed_photos(
            inference=inference, engine=engine,
            uploads=[(url[-200:], blob) for url, blob in zip(urls, data, strict=True)],
            organs=organs)
        result = await service.identify(inference=inference, database=db, models=models,
                                        project=project, photos=photos, embeddings=embeddings,
                                        options=options)
    return _answer(request, result, options=options, state=state, settings=settings)


@router.get("/projects", summary="The identification projects")
async def projects(caller: PlantnetCallerDep, inference: InferenceDep,
                   lang: Annotated[str | None, Query()] = None,
                   type: Annotated[str | None, Query()] = None) -> JSONResponse:
    parse_lang(lang)
    if type not in (None, "", "kt", "legacy"):
        raise InvalidInput('"type" must be one of kt, legacy.', error="bad parameter")
    engine = await service.load_engine(inference)
    return JSONResponse(catalogue.project_list(engine))


async def _species(project: str, request: Request, db: Any, inference: Any) -> JSONResponse:
    params = request.query_params
    language = parse_lang(params.get("lang"))
    paging = catalogue.parse_species_page(page=params.get("page"),
                                          page_size=params.get("pageSize"),
                                          prefix=params.get("prefix"))
    engine = await service.load_engine(inference)
    entries = await run_in_threadpool(
        lambda: catalogue.species_list(database=db, engine=engine, project=project,
                                       language=language, paging=paging))
    return JSONResponse(entries)


@router.get("/projects/{project}/species", summary="The species a project can identify")
async def project_species(project: str, request: Request, caller: PlantnetCallerDep,
                          db: DatabaseDep, inference: InferenceDep) -> JSONResponse:
    return await _species(project, request, db, inference)


@router.get("/species", summary="Every species the server can identify")
async def all_species(request: Request, caller: PlantnetCallerDep, db: DatabaseDep,
                      inference: InferenceDep) -> JSONResponse:
    return await _species(service.ALL_PROJECTS, request, db, inference)


@router.get("/languages", summary="Languages of common names")
def languages(caller: PlantnetCallerDep) -> list[str]:
    return list(LANGUAGES)


@router.get("/_status", summary="API health")
def status(db: DatabaseDep) -> dict[str, str]:
    with db.read() as session:
        session.execute(text("select 1"))
    return {"status": "ok"}


@router.get("/media/references/{sha256}/{size}", summary="A reference photo (o, m or s)")
def reference_media(sha256: str, size: str, settings: SettingsDep) -> FileResponse:
    try:
        path = reference_media_path(settings.media_dir, sha256, size)
    except ValueError:
        raise NotFound("Image not found", error="image not found") from None
    if not path.is_file():
        raise NotFound("Image not found", error="image not found")
    return FileResponse(path, media_type="image/jpeg",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/subscription", summary="Check subscription status and details")
def subscription(caller: PlantnetCallerDep, db: DatabaseDep,
                 settings: SettingsDep) -> dict[str, Any]:
    return quota_views.subscription_view(database=db, settings=settings, caller=caller)


@router.get("/quota", summary="Check quota consumption")
def quota(caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    return quota_views.quota_view(database=db, settings=settings, caller=caller)


@router.get("/quota/daily", summary="Check quota consumption for a day")
def quota_daily(caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep,
                day: Annotated[str | None, Query(description="YYYY-MM-DD")] = None
                ) -> dict[str, Any]:
    return quota_views.daily_quota_view(database=db, settings=settings, caller=caller,
                                           day=quota_views.parse_day(day))
