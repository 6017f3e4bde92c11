"""Full-text search with attribute filters (the seed's ``/search``): each plant's search
document, and the ranked matching of a search against them."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.plants.models import CommonName, Plant, PlantSearchDocument
from hortus.plants.schemas import SearchCriteria

TYPE_FACET = "__type__"  # the plant's type, filterable like an attribute


def refresh_document(session: Session, plant: Plant) -> None:
    """Rewrite the plant's search document from its current fields."""
    names = " ".join([plant.scientific_name, plant.name, *(c.name for c in plant.common_names)])
    body = " ".join(
        filter(
            None,
            [
                plant.description,
                plant.genus,
                plant.family,
                *(f"{a.key} {a.value}" for a in plant.attributes),
            ],
        )
    )
    facets = " ".join(
        fulltext.facet_tokens(
            [(TYPE_FACET, plant.type), *((a.key, a.value) for a in plant.attributes)]
        )
    )
    document = session.get(PlantSearchDocument, plant.id)
    if document is None:
        session.add(PlantSearchDocument(plant_id=plant.id, names=names, body=body, facets=facets))
    elif (document.names, document.body, document.facets) != (names, body, facets):
        document.names, document.body, document.facets = names, body, facets


def exact_name_ids(session: Session, needle: str) -> set[int]:
    """Plants whose scientific, primary or any common name is ``needle`` (case-insensitive)."""
    needle = needle.lower()
    by_plant = select(Plant.id).where(
        or_(func.lower(Plant.scientific_name) == needle, func.lower(Plant.name) == needle)
    )
    by_common = select(CommonName.plant_id).where(func.lower(CommonName.name) == needle)
    return set(session.scalars(by_plant.union(by_common).limit(1000)))


def matching_plants(*, session: Session, criteria: SearchCriteria) -> tuple[list[int], int]:
    """The ids of one page of matches and the number of matches in all.

    Exact scientific/common-name matches rank first, then relevance. Words, the type and the
    attribute filters are all answered by the full-text index; a filter on an attribute no
    plant has simply matches nothing.
    """
    # Words with a letter or digit: "_" alone is a word to a regex but not to either index.
    words = [w for w in fulltext.tokens(criteria.q) if any(c.isalnum() for c in w)]
    if not words:
        return [], 0
    dialect = session.get_bind().dialect.name
    filters = dict(criteria.filters)
    if criteria.type is not None:
        filters[TYPE_FACET] = [criteria.type.lower()]
    query = fulltext.match_query(dialect, words, filters)
    total = session.scalar(fulltext.count_matches(dialect, query)) or 0
    paging = criteria.paging
    if total <= paging.offset:
        return [], total
    matches = fulltext.matching_ids(dialect, query).subquery("matches")
    order = [matches.c.relevance.desc(), matches.c.plant_id]
    exact = exact_name_ids(session, criteria.q)
    if exact:
        order.insert(0, case((matches.c.plant_id.in_(exact), 0), else_=1))
    ids = session.scalars(
        select(matches.c.plant_id).order_by(*order).offset(paging.offset).limit(paging.per_page)
    )
    return list(ids), total
