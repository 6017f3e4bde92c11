"""Permapeople-compatible HTTP routes (``/api``): thin, the service does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hortus.accounts.deps import PermapeopleKeyDep
from hortus.deps import DatabaseDep, JsonBody
from hortus.errors import HortusError, InvalidInput
from hortus.api_families import ApiFamily
from hortus.plants import search as search_service
from hortus.plants import service
from hortus.plants.paging import OffsetPage, parse_datetime, parse_int, parse_page, parse_per_page
from hortus.plants.payloads import parse_changes, parse_create
from hortus.plants.serialize import plant_object

PREFIX = "/api"
router = APIRouter(prefix=PREFIX, tags=["Plant database (Permapeople)"])


def render_error(status: int, error: str, message: str, exc: HortusError | None) -> Response:
    """Permapeople's error format: ``{"error": short, "msg": longer}``."""
    return JSONResponse({"error": error, "msg": message}, status_code=status,
                        media_type="application/json; charset=utf-8")


FAMILY = ApiFamily(name="permapeople", prefix=PREFIX, render=render_error)


def _plant_id(raw: str) -> int:
    return parse_int("id", raw, minimum=1, maximum=2**62)


def _offset(request: Request) -> OffsetPage:
    params = request.query_params
    return OffsetPage(page=parse_page(params.get("page")),
                      per_page=parse_per_page(params.get("per_page")))


@router.get("/plants", summary="List plants (keyset by default, offset with page)")
def list_plants(request: Request, key: PermapeopleKeyDep, db: DatabaseDep) -> dict[str, Any]:
    params = request.query_params
    since_raw = params.get("updated_since")
    since = parse_datetime("updated_since", since_raw) if since_raw else None
    with db.read() as session:
        if params.get("page") is not None:
            return service.list_offset(session=session, paging=_offset(request),
                                       updated_since=since)
        last_id_raw = params.get("last_id")
        last_id = parse_int("last_id", last_id_raw, minimum=0) if last_id_raw else 0
        return service.list_keyset(session=session, last_id=last_id,
                                   per_page=parse_per_page(params.get("per_page")),
                                   updated_since=since)


@router.get("/search", summary="Full-text search with facets (query parameters)")
def search_get(request: Request, key: PermapeopleKeyDep, db: DatabaseDep) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in request.query_params:
        values = request.query_params.getlist(name)
        params[name] = values if len(values) > 1 else values[0]
    return _search(db, params)


@router.post("/search", summary="Full-text search with facets (JSON body)")
def search_post(body: JsonBody, key: PermapeopleKeyDep, db: DatabaseDep) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.", error="invalid body")
    return _search(db, body)


def _search(db: Any, params: dict[str, Any]) -> dict[str, Any]:
    with db.read() as session:
        request = search_service.parse_search(
            params, known_facets=search_service.known_facets(session=session)
        )
        return search_service.search(session=session, request=request)


@router.get("/plants/{plant_id}", summary="Get a single plant")
def get_plant(plant_id: str, key: PermapeopleKeyDep, db: DatabaseDep) -> dict[str, Any]:
    with db.read() as session:
        return plant_object(service.get_plant(session=session, plant_id=_plant_id(plant_id)))


@router.get("/plants/{plant_id}/varieties", summary="List varieties of a plant")
def list_varieties(plant_id: str, request: Request, key: PermapeopleKeyDep,
                   db: DatabaseDep) -> dict[str, Any]:
    with db.read() as session:
        return service.list_varieties(session=session, plant_id=_plant_id(plant_id),
                                      paging=_offset(request))


@router.get("/plants/{plant_id}/companions", summary="List companion plants")
def list_companions(plant_id: str, request: Request, key: PermapeopleKeyDep,
                    db: DatabaseDep) -> dict[str, Any]:
    with db.read() as session:
        return service.list_companions(session=session, plant_id=_plant_id(plant_id),
                                       paging=_offset(request))


@router.get("/plants/{plant_id}/revisions", summary="History of a plant (Hortus extension)")
def list_revisions(plant_id: str, request: Request, key: PermapeopleKeyDep,
                   db: DatabaseDep) -> dict[str, Any]:
    with db.read() as session:
        return service.list_revisions(session=session, plant_id=_plant_id(plant_id),
                                      paging=_offset(request))


@router.post("/plants", status_code=201, summary="Create a plant")
def create_plant(body: JsonBody, key: PermapeopleKeyDep, db: DatabaseDep) -> JSONResponse:
    payload = parse_create(body)
    with db.write() as session:
        plant = service.create_plant(session=session, payload=payload, account_id=key.account_id)
        return JSONResponse(plant_object(plant), status_code=201)


@router.put("/plants/{plant_id}", summary="Update a plant (optimistic locking on version)")
def update_plant(plant_id: str, body: JsonBody, key: PermapeopleKeyDep,
                 db: DatabaseDep) -> dict[str, Any]:
    pid = _plant_id(plant_id)
    changes = parse_changes(body)
    with db.write() as session:
        plant = service.update_plant(session=session, plant_id=pid, changes=changes,
                                     account_id=key.account_id)
        return plant_object(plant)
