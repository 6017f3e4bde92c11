"""Pages for people to explore the knowledge base: home, plant search, plant profiles."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import ValidationError

from hortus.deps import DatabaseDep
from hortus.errors import HortusError
from hortus.plants import service as plants
from hortus.plants.profile import plant_profile
from hortus.plants.routing import invalid_input
from hortus.plants.schemas import (
    KeysetPlantPage,
    OffsetPlantPage,
    PageQuery,
    PlantListQuery,
    SearchQuery,
    search_criteria,
)
from hortus.web.router import VisitDep, redirect, render

router = APIRouter(include_in_schema=False)
PER_PAGE = 24


@router.get("/")
def home(visit: VisitDep, db: DatabaseDep) -> Response:
    with db.read() as session:
        total = plants.count_plants(session=session)
    return render(visit, "home.html", plant_count=total)


@router.get("/plants")
def plant_list(visit: VisitDep, db: DatabaseDep, q: str = "", page: str = "1") -> Response:
    error = None
    found: OffsetPlantPage | KeysetPlantPage | None
    try:
        with db.read() as session:
            if q.strip():
                criteria = search_criteria(
                    SearchQuery.model_validate({"q": q, "page": page, "per_page": PER_PAGE}))
                found = plants.search_plants(session=session, criteria=criteria)
            else:
                query = PlantListQuery.model_validate({"page": page or "1", "per_page": PER_PAGE})
                found = plants.list_plants(session=session, query=query)
    except ValidationError as exc:
        error, found = invalid_input(exc.errors()).message, None
    except HortusError as exc:
        error, found = exc.message, None
    if found is None:
        found = OffsetPlantPage(plants=[], pagination=PageQuery().describe(0))
    return render(visit, "plants.html", status=400 if error else 200, q=q, error=error,
                  plants=found.plants, pagination=found.pagination)


@router.get("/plants/id/{plant_id}")
def plant_by_id(visit: VisitDep, db: DatabaseDep, plant_id: int) -> Response:
    """The profile of a plant known by id (links from identification results)."""
    try:
        with db.read() as session:
            slug = plants.read_plant(session=session, plant_id=plant_id).slug
    except HortusError as exc:
        return render(visit, "error.html", status=exc.status, title="Plant not found",
                      message=exc.message)
    return redirect(visit, f"/plants/{slug}")


@router.get("/plants/{slug}")
def plant_page(visit: VisitDep, db: DatabaseDep, slug: str) -> Response:
    try:
        with db.read() as session:
            profile = plant_profile(session=session, slug=slug)
    except HortusError as exc:
        return render(visit, "error.html", status=exc.status, title="Plant not found",
                      message=exc.message)
    return render(visit, "plant.html", **profile)
