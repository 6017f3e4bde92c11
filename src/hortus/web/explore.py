"""Pages for people to explore the knowledge base: home, the plant browser, plant profiles.

The browser (``/plants``) is :mod:`hortus.plants.browse`: typo-tolerant search in every
language of the names, filters, sorting. A bad parameter answers the page with its search form
and a sentence saying what to change (400; 404 for a page past the last); a missing plant
answers the browser with a search for the words of its address (404), never a page meant for
signed-in people.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hortus.deps import DatabaseDep
from hortus.errors import HortusError, NotFound
from hortus.plants import browse
from hortus.plants import service as plants
from hortus.plants.facets import FACETS
from hortus.plants.profile import plant_profile
from hortus.plants.schemas import MAX_ID
from hortus.web import vocabulary
from hortus.web.disease_pages import problems_for_plant
from hortus.web.i18n import gettext as _
from hortus.web.local_names import first_in_language, ids_of, names_by_language, plant_names
from hortus.web.router import Visit, VisitDep, redirect, render
from hortus.web.service_messages import translated

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(visit: VisitDep, db: DatabaseDep) -> Response:
    with db.read() as session:
        total = plants.count_plants(session=session)
    return render(visit, "home.html", plant_count=total)


def _link(query: browse.BrowseQuery, **changes: Any) -> str:
    """The browser's address for ``query`` with ``changes`` (``page=2``, ``q="tomato"``)."""
    fields: dict[str, Any] = {"q": query.q, **query.facets, "page": query.page}
    if query.sort != "relevance":
        fields["sort"] = query.sort
    fields.update(changes)
    if fields.get("page") == 1:
        del fields["page"]
    return "/plants?" + urlencode({k: v for k, v in fields.items() if v not in ("", None)})


def _browser(visit: Visit, db: DatabaseDep, query: browse.BrowseQuery, *, status: int = 200,
             error: str | None = None, title: str | None = None,
             search: bool = True) -> Response:
    found: browse.BrowsePage | None = None
    names: dict[int, str] = {}
    if search:
        try:
            with db.read() as session:
                found = browse.browse_plants(session=session, query=query)
                names = plant_names(session=session, plant_ids=[
                    i for card in found.cards for i in (card.plant.id, card.plant.parent_id)
                    if i is not None])
        except HortusError as exc:
            status, error = exc.status, exc.message
    return render(visit, "plants.html", status=status, query=query, found=found,
                  error=translated(error) if error else None, title=title, facets=FACETS,
                  sorts=vocabulary.sort_labels(), link=_link,
                  chosen=vocabulary.chosen_filters(query.facets), local_names=names,
                  clear_filters=_link(replace(query, facets={}), page=1))


@router.get("/plants")
def plant_browser(visit: VisitDep, db: DatabaseDep,
                  params: Annotated[browse.BrowseParams, Query()]) -> Response:
    try:
        query = browse.browse_query(params)
    except HortusError as exc:
        kept = browse.BrowseQuery(q=browse.clean_text(params.q)[:200])
        return _browser(visit, db, kept, status=exc.status, error=exc.message, search=False)
    return _browser(visit, db, query)


def _missing(visit: Visit, db: DatabaseDep, exc: HortusError, words: str = "") -> Response:
    """A plant that is not there: the browser, searching for the words of its address."""
    query = browse.BrowseQuery(q=browse.clean_text(words.replace("-", " "))[:200])
    return _browser(visit, db, query, status=exc.status, error=exc.message,
                    title=_("Plant not found"), search=bool(query.q))


@router.get("/plants/id/{plant_id}")
def plant_by_id(visit: VisitDep, db: DatabaseDep, plant_id: int) -> Response:
    """The profile of a plant known by id (links from identification results)."""
    try:
        if not 1 <= plant_id <= MAX_ID:  # ids are 32-bit: no such plant, and no query for it
            raise NotFound(_("There is no plant with id %(id)s.") % {"id": plant_id})
        with db.read() as session:
            slug = plants.read_plant(session=session, plant_id=plant_id).slug
    except HortusError as exc:
        return _missing(visit, db, exc)
    return redirect(visit, f"/plants/{slug}")


@router.get("/plants/{slug}")
def plant_page(visit: VisitDep, db: DatabaseDep, slug: str) -> Response:
    try:
        if not slug.isprintable():  # no plant has such a slug (nor may PostgreSQL read a NUL)
            raise NotFound(f"There is no plant {browse.clean_text(slug)[:80]!r}.")
        with db.read() as session:
            profile = plant_profile(session=session, slug=slug)
            problems = problems_for_plant(session=session, plant_id=profile["plant"].id)
            names = plant_names(session=session, plant_ids=ids_of(
                [*profile["companions"], *profile["antagonists"], *profile["varieties"],
                 profile["parent"]]))
    except NotFound as exc:
        return _missing(visit, db, exc, words=slug)
    profile["names_by_language"] = names_by_language(profile["names"])
    return render(visit, "plant.html", problems=problems, local_names=names,
                  name=first_in_language(profile["names"], profile["plant"].name), **profile)
