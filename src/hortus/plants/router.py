"""Permapeople-compatible HTTP routes (``/api``): FastAPI parses into :mod:`.schemas`, one
service call per route, answers serialised by the same models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hortus.accounts.deps import PermapeopleKeyDep
from hortus.api_families import ApiFamily, ErrorDocs
from hortus.db import Database
from hortus.deps import DatabaseDep
from hortus.errors import HortusError
from hortus.plants import service
from hortus.plants.read_cache import PlantReadCache
from hortus.plants.routing import LookupRoute, PermapeopleJSONResponse, PermapeopleRoute
from hortus.plants.schemas import (
    MAX_ID,
    KeysetPlantPage,
    OffsetPlantPage,
    PageQuery,
    PermapeopleError,
    PlantCreate,
    PlantListQuery,
    PlantRead,
    PlantUpdate,
    RevisionPage,
    SearchBody,
    SearchOptionalQuery,
    SearchQuery,
    search_criteria,
)

PREFIX = "/api"
TAG = "Plant database (Permapeople)"
router = APIRouter(prefix=PREFIX, tags=[TAG], route_class=PermapeopleRoute,
                   default_response_class=PermapeopleJSONResponse, strict_content_type=False)


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """Permapeople's error format: ``{"error": short, "msg": longer}``."""
    return PermapeopleJSONResponse({"error": error, "msg": message}, status_code=status)


FAMILY = ApiFamily(name="permapeople", prefix=PREFIX, render=render_error)

# -- what every route documents ----------------------------------------------------------------

_RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {"description": 'The plant-database quota: "day";q=<limit>;w=86400.',
                         "schema": {"type": "string"}},
    "RateLimit": {"description": 'What is left of it: "day";r=<remaining>;t=<seconds to reset>.',
                  "schema": {"type": "string"}},
}
_ERRORS = {
    400: "A parameter or body field is not valid (the message names it).",
    401: "The x-permapeople-key-id / x-permapeople-key-secret headers are missing or wrong.",
    403: "The key's exposure rules (authorized domains, IPs) refuse this request.",
    404: "There is no plant with this id.",
    413: "The body is over 1 MiB.",
    415: "The body is not JSON.",
    422: "The change cannot be applied (version mismatch, no change, invalid parent).",
    429: "The daily plant-database quota is used up; retry after Retry-After seconds.",
}


_ERROR_DOCS = ErrorDocs(error_model=PermapeopleError, quota_model=PermapeopleError,
                        descriptions=_ERRORS, rate_limit_headers=_RATE_LIMIT_HEADERS)


def _responses(*statuses: int, success: int = 200) -> dict[int | str, dict[str, Any]]:
    """Error statuses this route can answer (400, 401, 403, 429 always), plus ``default``
    for a server failure, all in Permapeople's error format."""
    return {success: {"headers": _RATE_LIMIT_HEADERS},
            **_ERROR_DOCS.responses(*sorted({400, 401, 403, 429, *statuses}), default=True)}


_BASE_URLS: dict[tuple[Any, ...], str] = {}


def base_url(request: Request) -> str:
    """The address the client called (no trailing slash): photos the server itself serves are
    answered as absolute URLs on it. Kept per scheme, Host, server and root path: building
    Starlette's URL costs more than a plant read from the cache."""
    scope = request.scope
    server = scope.get("server")
    key = (scope.get("scheme"), request.headers.get("host"),
           tuple(server) if server else None, scope.get("root_path", ""),
           scope.get("app_root_path"))
    found = _BASE_URLS.get(key)
    if found is None:
        if len(_BASE_URLS) >= 256:  # many Host values (a scan): start over, stay small
            _BASE_URLS.clear()
        found = _BASE_URLS[key] = str(request.base_url).rstrip("/")
    return found


async def _base_url(request: Request) -> str:
    # ``async``: a plain ``def`` dependency runs in a worker thread, a hop that costs more than
    # the work.
    return base_url(request)


BaseUrlDep = Annotated[str, Depends(_base_url)]
PlantIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The plant's id.")]
Paging = Annotated[PageQuery, Query()]
HORTUS_EXTENSION = "Hortus extension: not part of the Permapeople API."


# -- routes ------------------------------------------------------------------------------------


@router.get("/plants", summary="List plants", responses=_responses(),
            description="Plants by id. Keyset paging on `last_id` by default; `page` switches "
                        "to offset paging. Unknown query parameters are ignored.")
def list_plants(query: Annotated[PlantListQuery, Query()], key: PermapeopleKeyDep,
                db: DatabaseDep, base: BaseUrlDep) -> KeysetPlantPage | OffsetPlantPage:
    with db.read() as session:
        return service.list_plants(session=session, query=query, base_url=base)


_SEARCH_DESCRIPTION = (
    "Full-text search, exact scientific or common name first. Besides `q`, `type`, `page` and "
    "`per_page`, any other parameter filters on the attribute of that name (`Layer=Herbs`), "
    "with one value or several (`Layer=Herbs&Layer=Shrubs`, `Layer[]=...`, or a JSON array), "
    "matched as OR; a filter on an attribute no plant has matches nothing. Names starting "
    "with `_` (cache busters) and other paging names (`limit`, `offset`, `last_id`) are "
    "ignored."
)


@router.get("/search", summary="Search plants (query parameters)", responses=_responses(),
            description=_SEARCH_DESCRIPTION)
def search_get(query: Annotated[SearchQuery, Query()], key: PermapeopleKeyDep,
               db: DatabaseDep, base: BaseUrlDep) -> OffsetPlantPage:
    criteria = search_criteria(query)
    with db.read() as session:
        return service.search_plants(session=session, criteria=criteria, base_url=base)


@router.post("/search", summary="Search plants (JSON body)", responses=_responses(413, 415),
             description=_SEARCH_DESCRIPTION + " The body's fields win over the query string's; "
                                               "an empty body is no body (`q` may then come "
                                               "from the query string).")
def search_post(query: Annotated[SearchOptionalQuery, Query()], key: PermapeopleKeyDep,
                db: DatabaseDep, base: BaseUrlDep,
                body: Annotated[SearchBody | None, Body()] = None) -> OffsetPlantPage:
    criteria = search_criteria(query, body)
    with db.read() as session:
        return service.search_plants(session=session, criteria=criteria, base_url=base)


async def plant_answer(plant_id: int, request: Request) -> Response:
    """The plant ``plant_id`` as its JSON answer (the key already checked and charged)."""
    # The busiest read, and a plain lookup: the plant encoded by its model; on SQLite, the
    # answer kept while the database is unchanged (hortus.plants.read_cache) and no
    # worker-thread hop (a read is CPU work that holds the GIL anyway: handing it to a thread
    # and back costs more than it). PostgreSQL's read waits on the network: it goes to a
    # worker thread.
    db: Database = request.app.state.database
    cache: PlantReadCache | None = request.app.state.plant_cache
    base = base_url(request)

    def read() -> bytes:
        with db.read() as session:
            return service.read_plant(session=session, plant_id=plant_id,
                                      base_url=base).model_dump_json().encode()

    if cache is not None:
        body = cache.fetch((plant_id, base), read)
    else:
        body = read() if db.is_sqlite else await run_in_threadpool(read)
    return PermapeopleJSONResponse.encoded(body)


async def get_plant(plant_id: PlantIdPath, key: PermapeopleKeyDep, request: Request) -> Response:
    return await plant_answer(plant_id, request)


# A valid id skips FastAPI's dependency solving (LookupRoute); the declaration above is what
# documents the route and answers any other id.
router.add_api_route("/plants/{plant_id}", get_plant, methods=["GET"],
                     summary="Get a single plant", responses=_responses(404),
                     response_model=PlantRead,
                     route_class_override=LookupRoute.answering(plant_answer, MAX_ID))


@router.get("/plants/{plant_id}/varieties", summary="List varieties of a plant",
            responses=_responses(404))
def list_varieties(plant_id: PlantIdPath, paging: Paging, key: PermapeopleKeyDep,
                   db: DatabaseDep, base: BaseUrlDep) -> OffsetPlantPage:
    with db.read() as session:
        return service.list_varieties(session=session, plant_id=plant_id, paging=paging,
                                      base_url=base)


@router.get("/plants/{plant_id}/companions", summary="List companion plants",
            responses=_responses(404),
            description='Plants linked as "companion to"; antagonists are not listed.')
def list_companions(plant_id: PlantIdPath, paging: Paging, key: PermapeopleKeyDep,
                    db: DatabaseDep, base: BaseUrlDep) -> OffsetPlantPage:
    with db.read() as session:
        return service.list_companions(session=session, plant_id=plant_id, paging=paging,
                                       base_url=base)


@router.get("/plants/{plant_id}/revisions", summary="History of a plant",
            responses=_responses(404),
            description=f"{HORTUS_EXTENSION} Every accepted create and update, newest first: "
                        "author, note, the plant before and after, and the changed fields.")
def list_revisions(plant_id: PlantIdPath, paging: Paging, key: PermapeopleKeyDep,
                   db: DatabaseDep) -> RevisionPage:
    with db.read() as session:
        return service.list_revisions(session=session, plant_id=plant_id, paging=paging)


@router.post("/plants", status_code=201, summary="Create a plant",
             responses=_responses(413, 415, 422, success=201))
def create_plant(body: PlantCreate, key: PermapeopleKeyDep, db: DatabaseDep,
                 base: BaseUrlDep) -> PlantRead:
    with db.write() as session:
        return service.create_plant(session=session, payload=body, account_id=key.account_id,
                                    base_url=base)


@router.put("/plants/{plant_id}", summary="Update a plant (optimistic locking on version)",
            responses=_responses(404, 413, 415, 422),
            description="Send the version you read and a note; `data` is merged into the "
                        "plant's attributes. A stale version is a 422 version mismatch.")
def update_plant(plant_id: PlantIdPath, body: PlantUpdate, key: PermapeopleKeyDep,
                 db: DatabaseDep, base: BaseUrlDep) -> PlantRead:
    with db.write() as session:
        return service.update_plant(session=session, plant_id=plant_id, changes=body,
                                    account_id=key.account_id, base_url=base)
