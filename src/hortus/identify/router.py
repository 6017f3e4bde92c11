"""Pl@ntNet API v2 routes (``/v2``): identification, projects, species, account, health.

Thin: FastAPI parses the request into the models of :mod:`hortus.identify.schemas`, each route
calls one service function, and the answer models are serialised. Every error under ``/v2`` is
answered in Pl@ntNet's format ``{"statusCode", "error", "message"}`` by :func:`render_error`,
and each route documents the error statuses it answers.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from hortus.accounts.deps import Caller, PlantnetCallerDep, quota_listener
from hortus.accounts.deps import plantnet_caller as _plantnet_caller
from hortus.accounts.quotas import API_IDENTIFY
from hortus.api_families import ApiFamily, ErrorDocs
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError, NotAuthenticated, NotFound, QuotaExceeded
from hortus.identify import catalogue, quota_views, serialize, service
from hortus.identify.schemas import (
    HORTUS_EXTENSION,
    LANGUAGES,
    REASON_PHRASES,
    UPLOAD_BODY,
    ApiStatus,
    DailyQuota,
    DailyQuotaQuery,
    IdentificationResult,
    PlantnetError,
    Project,
    ProjectsQuery,
    Quota,
    QuotaExceededError,
    QuotaHistoryQuery,
    SpeciesEntry,
    SpeciesQuery,
    Subscription,
    UploadQuery,
    UrlQuery,
)
from hortus.identify.upload import stream_upload
from hortus.image_work import ImageWorkBusy, note_busy
from hortus.inference import InferenceDep
from hortus.media.deps import MediaDep
from hortus.media.http import media_response

PREFIX = "/v2"
MAX_URI_LENGTH = 8192
AUTHENIX_401 = ("Authenix access tokens are not supported by this server: pass your private "
                "API key as the api-key query parameter.")


class UriTooLong(HortusError):
    status = 414
    error = "uri too long"


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """Pl@ntNet's error body; a 429 on identification also says no requests remain."""
    try:
        phrase = REASON_PHRASES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body: PlantnetError = PlantnetError(status_code=status, error=phrase, message=message)
    if isinstance(exc, QuotaExceeded) and exc.api == API_IDENTIFY:
        body = QuotaExceededError(status_code=status, error=phrase, message=message,
                                  remaining_identification_requests=0)
    return JSONResponse(body.model_dump(by_alias=True, exclude_none=True), status_code=status)


FAMILY = ApiFamily(name="plantnet", prefix=PREFIX, render=render_error)

_ERRORS = {
    400: "Bad Request: a parameter, the form, a photo or an image URL is not valid (the "
         "message names it).",
    401: "Unauthorized: the api-key is missing or unknown.",
    403: "Forbidden: the key's authorized domains or IPs refuse this request.",
    404: "Not Found.",
    413: "Payload Too Large.",
    414: "URI Too Long: the request line is over 8192 characters.",
    415: "Unsupported Media Type.",
    416: "Range Not Satisfiable: the byte range starts past the end (Content-Range says the "
         "size).",
    429: "Too Many Requests: the account's daily identification quota is used up.",
    500: "Internal Server Error.",
}
_RATE_LIMIT_HEADERS = {
    "RateLimit": {"description": 'What remains of the daily quota: "day";r=<remaining>;'
                                 "t=<seconds to reset>.", "schema": {"type": "string"}},
    "RateLimit-Policy": {"description": 'The daily quota: "day";q=<limit>;w=86400.',
                         "schema": {"type": "string"}},
}


ERROR_DOCS = ErrorDocs(error_model=PlantnetError, quota_model=QuotaExceededError,
                       descriptions=_ERRORS, rate_limit_headers=_RATE_LIMIT_HEADERS)
errors = ERROR_DOCS.responses


async def check_uri_length(request: Request) -> None:
    """414 for a request line longer than :data:`MAX_URI_LENGTH` (e.g. too many image URLs)."""
    query = request.scope.get("query_string", b"")
    if len(request.scope.get("raw_path", b"")) + len(query) > MAX_URI_LENGTH:
        raise UriTooLong(f"The URI is longer than {MAX_URI_LENGTH} characters.")


async def identify_caller(
    request: Request, db: DatabaseDep,
    api_key: Annotated[str | None, Query(alias="api-key", description="Your private API key")]
    = None,
    authenix_access_token: Annotated[str | None, Query(
        alias="authenix-access-token",
        description="Authenix access token: not supported by Hortus (answered with 401); "
                    "use api-key.")] = None,
) -> Caller:
    """The caller of an identification route: its ``api-key``. Pl@ntNet also takes an Authenix
    token there; Hortus has no Authenix, and says so rather than "missing API key"."""
    if authenix_access_token and not api_key:
        raise NotAuthenticated(AUTHENIX_401)
    return await _plantnet_caller(request=request, db=db, api_key=api_key)


IdentifyCallerDep = Annotated[Caller, Depends(identify_caller)]
ProjectPath = Annotated[str, Path(
    description='Referential in which to search the plant: one of the projects, "all" for '
                "all of them, or one of Pl@ntNet's project ids (answered by all, or by the "
                "project an operator maps it to).")]

router = APIRouter(prefix=PREFIX, tags=["Identification (Pl@ntNet v2)"],
                   dependencies=[Depends(check_uri_length)])


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


_IDENTIFIED: dict[int | str, dict[str, Any]] = {
    200: {"description": "The probable species, best first.", "headers": _RATE_LIMIT_HEADERS}}
_IDENTIFY_404 = ('"Project not found": the project is unknown; "Species not found": the photos '
                 "match no species (see no-reject).")
_IDENTIFY_429 = ("Too Many Requests: the account's daily identification quota is used up, or "
                 "it already has HORTUS_IMAGE_WORK_PER_ACCOUNT identifications running and no "
                 "place came free in time (retry after `Retry-After` seconds).")


@router.post(
    "/identify/{project}", summary="Identification service (1 to 5 photos, multipart)",
    description="Identifies one plant from 1 to 5 photos (`images`, JPEG or PNG; WebP also "
                "accepted) with their `organs`. Max POST size: HORTUS_MAX_UPLOAD_BYTES "
                "(default 52428800 bytes); most pixels per photo: HORTUS_MAX_IMAGE_PIXELS "
                "(JPEG, default 50 MP), HORTUS_MAX_FULL_DECODE_PIXELS (PNG, WebP, progressive "
                "JPEG, default 16 MP). One successful identification counts one unit of the "
                "daily quota; a refused request counts none.",
    response_model=IdentificationResult, response_model_exclude_none=True,
    responses={**_IDENTIFIED, **errors(400, 401, 403, 404, 413, 414, 415, 429, 500,
                                       e404=_IDENTIFY_404, e429=_IDENTIFY_429)},
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def identify_upload(project: ProjectPath, query: Annotated[UploadQuery, Query()],
                          request: Request, caller: IdentifyCallerDep, db: DatabaseDep,
                          settings: SettingsDep, inference: InferenceDep,
                          media: MediaDep) -> IdentificationResult:
    upload = stream_upload(content_type=request.headers.get("content-type"),
                           content_length=request.headers.get("content-length"),
                           stream=request.stream(), max_bytes=settings.max_upload_bytes)
    try:
        result = await service.identify_photos(
            inference=inference, database=db, settings=settings, account_id=caller.account_id,
            project=project, options=query, upload=upload, organs=query.organs,
            on_quota=quota_listener(request), media=media)
    except ImageWorkBusy as exc:
        note_busy(request, exc)
        raise
    return serialize.identification_result(result, options=query, base_url=_base_url(request))


@router.get(
    "/identify/{project}", summary="Identification service (1 to 5 image URLs)",
    description="Identifies one plant from 1 to 5 images given by URL (`images`, http or "
                "https), with their `organs`. Only public addresses are fetched, each image "
                "within HORTUS_IDENTIFY_URL_MAX_BYTES and HORTUS_IDENTIFY_URL_TIMEOUT; an "
                "operator can restrict the hosts or switch this off (400). Errors name the "
                "image and its URL.",
    response_model=IdentificationResult, response_model_exclude_none=True,
    responses={**_IDENTIFIED, **errors(400, 401, 403, 404, 413, 414, 415, 429, 500,
                                       e404=_IDENTIFY_404, e429=_IDENTIFY_429)},
)
async def identify_urls(project: ProjectPath, query: Annotated[UrlQuery, Query()],
                        request: Request, caller: IdentifyCallerDep, db: DatabaseDep,
                        settings: SettingsDep, inference: InferenceDep,
                        media: MediaDep) -> IdentificationResult:
    try:
        result = await service.identify_photos(
            inference=inference, database=db, settings=settings, account_id=caller.account_id,
            project=project, options=query, urls=query.images, organs=query.organs,
            on_quota=quota_listener(request), media=media)
    except ImageWorkBusy as exc:
        note_busy(request, exc)
        raise
    return serialize.identification_result(result, options=query, base_url=_base_url(request))


@router.get("/projects", summary="Projects service",
            description="The projects that can be used for identification: `all`, then each "
                        "trained project. `lat`/`lon` are accepted and do not filter (no "
                        "geographic floras).",
            response_model=list[Project],
            responses=errors(400, 401, 403, 414, 500))
async def projects(query: Annotated[ProjectsQuery, Query()], caller: PlantnetCallerDep,
                   inference: InferenceDep) -> list[Project]:
    return await catalogue.list_projects(inference=inference)


_SPECIES_404 = '"Project not found": the project is unknown.'


@router.get("/projects/{project}/species", summary="Species by project service",
            description="The species that can be identified in a project, sorted by name.",
            response_model=list[SpeciesEntry], response_model_exclude_none=True,
            responses=errors(400, 401, 403, 404, 414, 500, e404=_SPECIES_404))
async def project_species(project: ProjectPath, query: Annotated[SpeciesQuery, Query()],
                          caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep,
                          inference: InferenceDep) -> list[SpeciesEntry]:
    return await catalogue.list_species(inference=inference, database=db, project=project,
                                        query=query, aliases=settings.project_aliases)


@router.get("/species", summary="Species service",
            description="Every species the server can identify (the `all` project).",
            response_model=list[SpeciesEntry], response_model_exclude_none=True,
            responses=errors(400, 401, 403, 404, 414, 500,
                             e404='"Project not found": the server has no project yet.'))
async def all_species(query: Annotated[SpeciesQuery, Query()], caller: PlantnetCallerDep,
                      db: DatabaseDep, inference: InferenceDep) -> list[SpeciesEntry]:
    return await catalogue.list_species(inference=inference, database=db,
                                        project=service.ALL_PROJECTS, query=query)


@router.get("/languages", summary="Languages service",
            description="The languages of common names (ISO 639-1).",
            response_model=list[str], responses=errors(401, 403, 414, 500))
async def languages(caller: PlantnetCallerDep) -> list[str]:
    return list(LANGUAGES)


@router.get("/_status", summary="Check API health",
            description="`ok` when the API and its database answer.",
            response_model=ApiStatus, responses=errors(414, 500))
def status(db: DatabaseDep) -> ApiStatus:
    return service.health(database=db)


@router.get("/media/references/{sha256}/{size}", summary="A reference photo (o, m or s)",
            description=f"{HORTUS_EXTENSION}: the reference photos that identification results "
                        "link to (`images[].url`), 1280, 512 or 192 px JPEG, from whichever "
                        "server process stored them; no key needed. The ETag names the "
                        "photo and size; one byte range (`Range`) is answered with 206.",
            response_class=Response,
            responses={200: {"content": {"image/jpeg": {"schema": {"type": "string",
                                                                   "format": "binary"}}},
                             "description": "The JPEG photo (cached for a year: immutable)."},
                       206: {"description": "The byte range asked for with `Range`."},
                       304: {"description": "Not Modified: `If-None-Match` names this photo."},
                       **errors(404, 414, 416, 500, e404="Image not found.")})
def reference_media(sha256: Annotated[str, Path(description="The photo's sha256.")],
                    size: Annotated[str, Path(description="o (1280 px), m (512) or s (192).")],
                    request: Request, media: MediaDep) -> Response:
    key = catalogue.reference_image_key(sha256=sha256, size=size)
    return media_response(request, media, key,
                          missing=NotFound("Image not found", error="image not found"))


@router.get("/subscription", summary="Check subscription status and details",
            description="Status, details and statistics of your account (a self-hosted plan).",
            response_model=Subscription, responses=errors(401, 403, 414, 500))
def subscription(caller: PlantnetCallerDep, db: DatabaseDep,
                 settings: SettingsDep) -> Subscription:
    return quota_views.subscription_view(database=db, settings=settings, caller=caller)


@router.get("/quota", summary="Check quota consumption",
            description="Today's identifications and remaining quota for your account.",
            response_model=Quota, responses=errors(401, 403, 414, 500))
def quota(caller: PlantnetCallerDep, db: DatabaseDep, settings: SettingsDep) -> Quota:
    return quota_views.quota_view(database=db, settings=settings, caller=caller)


@router.get("/quota/daily", summary="Check quota consumption",
            description="Identifications and remaining quota for your account, for a day.",
            response_model=DailyQuota, responses=errors(400, 401, 403, 414, 500))
def quota_daily(query: Annotated[DailyQuotaQuery, Query()], caller: PlantnetCallerDep,
                db: DatabaseDep, settings: SettingsDep) -> DailyQuota:
    return quota_views.daily_quota_view(database=db, settings=settings, caller=caller,
                                        day=query.day)


@router.get("/quota/history", summary="Check quota consumption history",
            description="Identifications by day for your account, for a year (days without "
                        "any are left out).",
            response_model=list[DailyQuota], responses=errors(400, 401, 403, 414, 500))
def quota_history(query: Annotated[QuotaHistoryQuery, Query()], caller: PlantnetCallerDep,
                  db: DatabaseDep, settings: SettingsDep) -> list[DailyQuota]:
    return quota_views.quota_history_view(database=db, settings=settings, caller=caller,
                                          year=query.year)
