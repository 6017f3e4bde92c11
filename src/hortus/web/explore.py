"""Pages for people to explore the knowledge base: home, plant search, plant profiles."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from hortus.deps import DatabaseDep
from hortus.errors import HortusError
from hortus.plants import search as plant_search
from hortus.plants import service as plants
from hortus.plants.paging import OffsetPage
from hortus.plants.profile import plant_profile
from hortus.web.router import VisitDep, redirect, render

router = APIRouter(include_in_schema=False)
PER_PAGE = 24


@router.get("/")
def home(visit: VisitDep, db: DatabaseDep) -> Response:
    with db.read() as session:
        total = plants.list_keyset(session=session, last_id=0, per_page=1,
                                   updated_since=None)["pagination"]["total"]
    return render(visit, "home.html", plant_count=total)


@router.get("/plants")
def plant_list(visit: VisitDep, db: DatabaseDep, q: str = "", page: str = "1") -> Response:
    error = None
    try:
        with db.read() as session:
            if q.strip():
                request = plant_search.parse_search(
                    {"q": q, "page": page, "per_page": PER_PAGE},
                    known_facets=set(),
                )
                found = plant_search.search(session=session, request=request)
            else:
                from hortus.plants.paging import parse_page

                found = plants.list_offset(
                    session=session, paging=OffsetPage(parse_page(page), PER_PAGE),
                    updated_since=None)
    except HortusError as exc:
        error, found = exc.message, {"plants": [], "pagination": {"page": 1, "total": 0,
                                                                  "total_pages": 0}}
    return render(visit, "plants.html", status=400 if error else 200, q=q, error=error,
                  plants=found["plants"], pagination=found["pagination"])


@router.get("/plants/id/{plant_id}")
def plant_by_id(visit: VisitDep, db: DatabaseDep, plant_id: int) -> Response:
    """The profile of a plant known by id (links from identification results)."""
    try:
        with db.read() as session:
            slug = plants.get_plant(session=session, plant_id=plant_id).slug
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
