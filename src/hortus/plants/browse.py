"""The plant browser for people: a forgiving search with filters, sorting and "did you mean".

The page's query string arrives as plain strings (:class:`BrowseParams`) and is checked here
(:func:`browse_query`), so that a bad value is answered with a sentence a person understands
rather than a validation report. The search itself is the API's (:mod:`hortus.plants.search`);
this module adds what a page shows beside each plant: a few readable facts, its photo and
credit, its parent, and the name in another language that the query matched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.errors import InvalidInput, NotFound
from hortus.plants.display import card_facts, language_name
from hortus.plants.facets import BY_NAME, FACETS, attribute_filters
from hortus.plants.models import CommonName, Plant, PlantImage, PlantSearchDocument
from hortus.plants.schemas import MAX_PAGE, MAX_QUERY, PageQuery, PlantRead
from hortus.plants.search import (
    TIER_TYPOS,
    Order,
    SearchWord,
    ranked_matches,
    search_words,
)
from hortus.plants.service import plant_reads

PER_PAGE = 24
# Every Order, labelled; without words to match, the best match is the name's order.
SORTS = {"relevance": "Best match", "name": "Name (A–Z)",
         "scientific_name": "Scientific name (A–Z)", "updated": "Recently updated"}


class BrowseParams(BaseModel):
    """The browser's query string as sent: every value a string, checked by
    :func:`browse_query` (unknown parameters are ignored). One field per facet of
    :data:`~hortus.plants.facets.FACETS`."""

    q: str = ""
    page: str = ""
    sort: str = ""
    edible: str = ""
    light: str = ""
    water: str = ""
    layer: str = ""
    cycle: str = ""
    zone: str = ""
    kind: str = ""


@dataclass(frozen=True)
class BrowseQuery:
    """A checked browser query."""

    q: str = ""
    page: int = 1
    sort: Order = "relevance"
    facets: dict[str, str] = field(default_factory=dict)  # facet name → choice


def clean_text(text: str) -> str:
    """Search words as typed, without control characters (PostgreSQL text holds no NUL) and
    with single spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def browse_query(params: BrowseParams) -> BrowseQuery:
    """Check the query string; InvalidInput (400) with a plain-language message otherwise."""
    q = clean_text(params.q)
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"That search is too long: use at most {MAX_QUERY} characters.",
                           error="invalid q")
    if q and not any(c.isalnum() for c in q):
        raise InvalidInput("Type a name or a word to search for: letters or digits, not only "
                           "punctuation.", error="invalid q")
    page_text = params.page.strip() or "1"
    if not page_text.isdigit() or not 1 <= int(page_text) <= MAX_PAGE:
        shown = page_text if len(page_text) <= 20 else page_text[:20] + "…"
        raise InvalidInput(f"“{shown}” is not a page number: pages are numbered 1, 2, 3 …",
                           error="invalid page")
    sort = params.sort.strip() or "relevance"
    if sort not in SORTS:
        raise InvalidInput("Results can be sorted by " + ", ".join(
            label.lower() for label in SORTS.values()) + " only.", error="invalid sort")
    facets: dict[str, str] = {}
    for facet in FACETS:
        choice = getattr(params, facet.name).strip().lower()
        if not choice:
            continue
        if choice not in dict(facet.choices):
            raise InvalidInput(
                f"{facet.label} can be " + ", ".join(label for _, label in facet.choices)
                + ": choose one of these.", error=f"invalid {facet.name}")
        facets[facet.name] = choice
    return BrowseQuery(q=q, page=int(page_text), sort=sort, facets=facets)  # type: ignore[arg-type]


@dataclass
class PlantCard:
    """One result as the page shows it."""

    plant: PlantRead
    facts: list[tuple[str, str]]
    parent_name: str | None = None
    other_name: tuple[str, str, str] | None = None  # (name, language code, language name)
    photo_credit: str | None = None


@dataclass
class BrowsePage:
    """A page of the browser: the cards, paging, and a corrected spelling to suggest."""

    query: BrowseQuery
    cards: list[PlantCard]
    total: int
    per_page: int = PER_PAGE
    suggestion: str | None = None

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page)


def browse_plants(*, session: Session, query: BrowseQuery) -> BrowsePage:
    """One page of the browser. NotFound (404) for a page past the last one."""
    words = search_words(session, query.q) if query.q else []
    paging = PageQuery(page=query.page, per_page=PER_PAGE)
    order: Order = query.sort if query.q or query.sort != "relevance" else "name"
    found = ranked_matches(session=session, words=words,
                           filters=attribute_filters(query.facets), paging=paging,
                           order=order, query=query.q)
    if query.page > 1 and not found.ids:
        pages = math.ceil(found.total / PER_PAGE)
        raise NotFound(f"There is no page {query.page}: this search has "
                       f"{pages} page{'' if pages == 1 else 's'}.", error="no such page")
    suggestion = None
    if found.ids and found.tiers[0] == TIER_TYPOS:
        suggestion = _corrected(session, words, found.ids[0])
    reads = plant_reads(session=session, ids=found.ids)
    cards = _cards(session, reads, words)
    return BrowsePage(query=query, cards=cards, total=found.total, suggestion=suggestion)


def _corrected(session: Session, words: list[SearchWord], plant_id: int) -> str | None:
    """The query as the best match spells it: each word as typed when that plant's names have
    it, else its first correction in the plant's own name ("Lavender"), else the first in any
    of its names ("Lavande")."""
    row = session.execute(
        select(PlantSearchDocument.names, Plant.name).join(
            Plant, Plant.id == PlantSearchDocument.plant_id)
        .where(PlantSearchDocument.plant_id == plant_id)).first()
    if row is None:
        return None
    names = set(row[0].split())
    own = set(fulltext.names_text([row[1]]).split())
    spelt = []
    for word in words:
        if any(n.startswith(s) for s in word.spellings for n in names):
            spelt.append(word.spellings[0])
            continue
        fixed = next((c for c in word.corrections if c in own),
                     next((c for c in word.corrections if c in names), None))
        if fixed is None:
            return None
        spelt.append(fixed)
    suggestion = " ".join(spelt)
    return suggestion if suggestion != " ".join(w.spellings[0] for w in words) else None


def _cards(session: Session, reads: list[PlantRead], words: list[SearchWord]) -> list[PlantCard]:
    ids = [r.id for r in reads]
    parents = {r.parent_id for r in reads if r.parent_id}
    parent_names = dict(session.execute(
        select(Plant.id, Plant.name).where(Plant.id.in_(parents))).all()) if parents else {}
    credits: dict[int, str] = {}
    for plant_id, author, licence in session.execute(
            select(PlantImage.plant_id, PlantImage.author, PlantImage.licence)
            .where(PlantImage.plant_id.in_(ids)).order_by(PlantImage.id)):
        credits.setdefault(plant_id, ", ".join(filter(None, [author, licence])))
    other_names = _matched_names(session, reads, words) if words else {}
    return [PlantCard(plant=r, facts=card_facts((a.key, a.value) for a in r.data),
                      parent_name=parent_names.get(r.parent_id or 0),
                      other_name=other_names.get(r.id),
                      photo_credit=credits.get(r.id) if r.images.thumb else None)
            for r in reads]


def _matched_names(session: Session, reads: list[PlantRead],
                   words: list[SearchWord]) -> dict[int, tuple[str, str, str]]:
    """For plants whose own names do not show why they matched, the common name (in another
    language, say) that holds every word of the query: one that is just these words first."""

    def folded(name: str) -> list[str]:
        return [fulltext.fold(w) for w in fulltext.tokens(name)]

    def holds(name: str) -> bool:
        found = folded(name)
        return all(any(f.startswith(fulltext.fold(s)) for s in w.spellings for f in found)
                   or any(c in found for c in w.corrections) for w in words)

    unexplained = [r.id for r in reads if not holds(f"{r.name} {r.scientific_name}")]
    if not unexplained:
        return {}
    matched: dict[int, tuple[str, str, str]] = {}
    exact: set[int] = set()
    for plant_id, language, name in session.execute(
            select(CommonName.plant_id, CommonName.language, CommonName.name)
            .where(CommonName.plant_id.in_(unexplained))
            .order_by(CommonName.plant_id, CommonName.language, CommonName.position)):
        if plant_id in exact or not holds(name):
            continue
        if len(folded(name)) == len(words):
            exact.add(plant_id)
        elif plant_id in matched:
            continue
        matched[plant_id] = (name, language, language_name(language))
    return matched


def facet_labels(query: BrowseQuery) -> list[str]:
    """The chosen filters as people read them (``Edible: Yes``)."""
    return [f"{BY_NAME[name].label}: {BY_NAME[name].label_of(choice)}"
            for name, choice in query.facets.items()]
