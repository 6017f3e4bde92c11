"""Full-text search with facets (the seed's ``/search``), ranked exact-name-first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.errors import InvalidInput
from hortus.plants.documents import TYPE_FACET
from hortus.plants.models import CommonName, Plant
from hortus.plants.paging import OffsetPage, parse_page, parse_per_page
from hortus.plants.serialize import plant_objects
from hortus.plants.service import facet_keys

MAX_QUERY = 500
MAX_FACET_VALUES = 50
RESERVED = {"q", "type", "page", "per_page"}


@dataclass(frozen=True)
class SearchRequest:
    q: str
    type: str | None
    paging: OffsetPage
    facets: dict[str, list[str]] = field(default_factory=dict)


def parse_search(params: dict[str, Any], *, known_facets: set[str]) -> SearchRequest:
    """Validate a search from query parameters or a JSON body (same names in both)."""
    q = params.get("q")
    if isinstance(q, list) and len(q) == 1:
        q = q[0]
    if not isinstance(q, str) or not q.strip():
        raise InvalidInput("q is required: the text to search for.", error="missing q")
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"q is longer than {MAX_QUERY} characters.", error="invalid q")
    if not fulltext.tokens(q):
        raise InvalidInput("q must contain at least one letter or digit.", error="invalid q")
    type_ = _single(params, "type")
    if type_ is not None:
        type_ = {"Species": "Plant"}.get(type_, type_)
        if type_ not in ("Plant", "Variety"):
            raise InvalidInput("type must be Plant (or Species) or Variety.", error="invalid type")
    paging = OffsetPage(page=parse_page(_single(params, "page")),
                        per_page=parse_per_page(_single(params, "per_page")))
    lowered = {k.lower(): k for k in known_facets}
    facets: dict[str, list[str]] = {}
    for name, raw in params.items():
        if name in RESERVED:
            continue
        key = lowered.get(name.lower())
        if key is None:
            raise InvalidInput(
                f"Unknown filter {name[:80]!r}. Filterable attributes: "
                f"{', '.join(sorted(known_facets))}.",
                error="unknown facet",
            )
        values = raw if isinstance(raw, list) else [raw]
        if not values or len(values) > MAX_FACET_VALUES or not all(
            isinstance(v, str | int | float | bool) and len(str(v)) <= 200 for v in values
        ):
            raise InvalidInput(f"Filter {key!r} takes a string or an array of strings.",
                               error="invalid facet")
        facets[key] = [str(v).lower() for v in values]
    return SearchRequest(q=q.strip(), type=type_, paging=paging, facets=facets)


def _single(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidInput(f"{name} takes one value.", error=f"invalid {name}")
        return value[0]
    return value


def exact_name_ids(session: Session, needle: str) -> set[int]:
    """Plants whose scientific, primary or any common name is ``needle`` (case-insensitive)."""
    needle = needle.lower()
    by_plant = select(Plant.id).where(
        or_(func.lower(Plant.scientific_name) == needle, func.lower(Plant.name) == needle)
    )
    by_common = select(CommonName.plant_id).where(func.lower(CommonName.name) == needle)
    return set(session.scalars(by_plant.union(by_common).limit(1000)))


def search(*, session: Session, request: SearchRequest) -> dict[str, Any]:
    """Matching plants, exact scientific/common-name matches first, then by relevance.

    Words, the type and the facets are all answered by the full-text index; only the page of
    plants is then read from the tables.
    """
    dialect = session.get_bind().dialect.name
    facets = dict(request.facets)
    if request.type is not None:
        facets[TYPE_FACET] = [request.type.lower()]
    query = fulltext.match_query(dialect, fulltext.tokens(request.q), facets)
    matches = fulltext.matching_ids(dialect, query).subquery("matches")
    total = session.scalar(fulltext.count_matches(dialect, query)) or 0
    exact = exact_name_ids(session, request.q) if total else set()
    order = [matches.c.relevance.desc(), matches.c.plant_id]
    if exact:
        order.insert(0, case((matches.c.plant_id.in_(exact), 0), else_=1))
    ids = list(session.scalars(
        select(matches.c.plant_id).order_by(*order)
        .offset(request.paging.offset).limit(request.paging.per_page)
    )) if total > request.paging.offset else []
    return {
        "plants": plant_objects(session, ids),
        "pagination": request.paging.describe(total),
    }


def known_facets(*, session: Session) -> set[str]:
    return facet_keys(session=session)
