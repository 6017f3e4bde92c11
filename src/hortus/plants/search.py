"""Full-text search with facets (the seed's ``/search``), ranked exact-name-first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.errors import InvalidInput
from hortus.plants.models import CommonName, Plant, PlantAttribute
from hortus.plants.paging import OffsetPage, parse_page, parse_per_page
from hortus.plants.serialize import plant_object
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
        facets[key] = [(str(v).lower() if not isinstance(v, bool) else str(v).lower()) for v in values]
    return SearchRequest(q=q.strip(), type=type_, paging=paging, facets=facets)


def _single(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidInput(f"{name} takes one value.", error=f"invalid {name}")
        return value[0]
    return value


def _facet_condition(key: str, values: list[str]):  # type: ignore[no-untyped-def]
    """The plant has attribute ``key`` whose value, or one of its comma-separated parts, is one
    of ``values`` (case-insensitive): "Full sun" matches "Full sun, partial sun/shade"."""
    value = func.lower(PlantAttribute.value)
    padded = literal(",") + func.replace(value, ", ", ",") + literal(",")
    alternatives = [or_(value == v, padded.like("%," + v.replace("%", "").replace("_", "") + ",%"))
                    for v in values]
    return exists().where(
        PlantAttribute.plant_id == Plant.id, PlantAttribute.key == key, or_(*alternatives)
    )


def search(*, session: Session, request: SearchRequest) -> dict[str, Any]:
    """Matching plants, exact scientific/common-name matches first, then by relevance."""
    dialect = session.get_bind().dialect.name
    words = fulltext.tokens(request.q)
    matches = fulltext.matching_ids(dialect, words).subquery("matches")
    needle = request.q.lower()
    exact_name = exists().where(
        CommonName.plant_id == Plant.id, func.lower(CommonName.name) == needle
    )
    exact = case(
        (or_(func.lower(Plant.scientific_name) == needle, func.lower(Plant.name) == needle), 2),
        (exact_name, 1),
        else_=0,
    )
    conditions = []
    if request.type is not None:
        conditions.append(Plant.type == request.type)
    conditions += [_facet_condition(k, v) for k, v in request.facets.items()]
    query: Select[Any] = select(Plant).join(matches, matches.c.plant_id == Plant.id)
    if conditions:
        query = query.where(and_(*conditions))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    ordered = query.order_by(exact.desc(), matches.c.relevance.desc(), Plant.id)
    rows = session.scalars(ordered.offset(request.paging.offset).limit(request.paging.per_page))
    return {
        "plants": [plant_object(p) for p in rows],
        "pagination": request.paging.describe(total),
    }


def known_facets(*, session: Session) -> set[str]:
    return facet_keys(session=session)
