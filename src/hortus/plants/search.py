"""Search over the knowledge base (the seed's ``/search`` and the plant browser): each plant's
search document, typo tolerance on names, and the ranked matching of a search.

A word matches a plant when it starts a word of the plant's names or text (``tomat`` finds
"Tomato"), or when it is a typo of a word of its names: a word of 4 to 7 letters may be one
edit away, a longer one two (insertion, deletion, substitution or two neighbours swapped), the
candidates coming from the database's trigram index over the names' vocabulary
(:func:`hortus.db.fulltext.similar_terms`). A word that is itself a word of some name or text
is taken as meant and gets no corrections ("nitrogen" is no typo of "citroen"). Every word must
match.

Relevance, best first:

1. where the words are: all in the plant's names as typed (tier 0), in its names with a typo
   corrected (tier 1), or some only in its description and attributes (tier 2);
2. the whole query, or its corrected spelling, is a scientific, primary or common name;
3. species before their varieties;
4. the backend's own relevance (FTS5 bm25 or ``ts_rank``, names weighing most), then the id.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, case, func, literal, or_, select
from sqlalchemy.orm import Session

from hortus.db import fulltext
from hortus.db.fulltext import SearchWord
from hortus.plants.models import CommonName, Plant, PlantSearchDocument
from hortus.plants.schemas import PageQuery, SearchCriteria

TYPE_FACET = "__type__"  # the plant's type, filterable like an attribute
SIMILAR_TERMS = 30  # vocabulary candidates asked for per misspelt word
MAX_CORRECTIONS = 5  # corrections kept per word, closest and most used first
MAX_EXACT_SPELLINGS = 12  # corrected spellings of the whole query checked as exact names
TIER_NAMES, TIER_TYPOS, TIER_TEXT = 0, 1, 2

Order = Literal["relevance", "name", "scientific_name", "updated"]


def refresh_document(session: Session, plant: Plant) -> None:
    """Rewrite the plant's search document from its current fields."""
    names = fulltext.names_text(
        [plant.scientific_name, plant.name, *(c.name for c in plant.common_names)])
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


def exact_name_ids(session: Session, needles: str | Iterable[str]) -> set[int]:
    """Plants whose scientific, primary or any common name is ``needles`` (one name) or one
    of them (case-insensitive)."""
    wanted = sorted({n.lower() for n in ([needles] if isinstance(needles, str) else needles)
                     if n})
    if not wanted:
        return set()
    by_plant = select(Plant.id).where(
        or_(func.lower(Plant.scientific_name).in_(wanted), func.lower(Plant.name).in_(wanted)))
    by_common = select(CommonName.plant_id).where(func.lower(CommonName.name).in_(wanted))
    return set(session.scalars(by_plant.union(by_common).limit(1000)))


# -- typos ------------------------------------------------------------------------------------


def allowed_typos(word: str) -> int:
    """Edits a word may be away from what was meant: none under 4 letters, 1 up to 7, else 2."""
    if len(word) < fulltext.MIN_TERM:
        return 0
    return 1 if len(word) < 8 else 2


def typo_distance(typed: str, term: str, limit: int) -> int:
    """Edits from ``typed`` to ``term`` (insertions, deletions, substitutions and swaps of two
    neighbours: the optimal string alignment distance), or ``limit + 1`` when over ``limit``."""
    if abs(len(typed) - len(term)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(term) + 1))
    for i in range(1, len(typed) + 1):
        current = [i] + [0] * len(term)
        for j in range(1, len(term) + 1):
            cost = 0 if typed[i - 1] == term[j - 1] else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (i > 1 and j > 1 and typed[i - 1] == term[j - 2]
                    and typed[i - 2] == term[j - 1]):
                best = min(best, before[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[-1], limit + 1)


def search_words(session: Session, query: str) -> list[SearchWord]:
    """The words of ``query`` (those with a letter or digit), each with its corrections."""
    words = [w for w in fulltext.tokens(query) if any(c.isalnum() for c in w)]
    plain = [fulltext.fold(w) for w in words]
    eligible = {p for p in plain if allowed_typos(p) and p.isascii() and p.isalpha()}
    known = fulltext.known_terms(session, eligible)
    found = []
    for word, folded in zip(words, plain, strict=True):
        spellings = (word,) if folded == word else (word, folded)
        corrections: tuple[str, ...] = ()
        if folded in eligible and folded not in known and not fulltext.has_word(session, word):
            limit = allowed_typos(folded)
            close = sorted(
                (distance, -documents, term)
                for term, documents in fulltext.similar_terms(session, folded, SIMILAR_TERMS)
                if (distance := typo_distance(folded, term, limit)) <= limit)
            corrections = tuple(term for _, _, term in close[:MAX_CORRECTIONS])
        found.append(SearchWord(spellings=spellings, corrections=corrections))
    return found


def corrected_spellings(words: Sequence[SearchWord]) -> list[str]:
    """The whole query spelt with its corrections (the closest first), for exact-name checks."""
    if not any(w.corrections for w in words):
        return []
    options = [(w.spellings[-1], *w.corrections[:2]) for w in words]
    spelt = (" ".join(choice) for choice in itertools.product(*options))
    return list(itertools.islice(spelt, MAX_EXACT_SPELLINGS))


# -- ranked matching --------------------------------------------------------------------------


@dataclass
class RankedMatches:
    """One page of matching plant ids, best first, with the tier each matched in."""

    ids: list[int]
    total: int
    tiers: list[int] = field(default_factory=list)
    words: list[SearchWord] = field(default_factory=list)


def ranked_matches(*, session: Session, words: Sequence[SearchWord],
                   filters: dict[str, list[str]], paging: PageQuery,
                   order: Order = "relevance", query: str = "") -> RankedMatches:
    """The plants matching ``words`` and ``filters`` (attribute key → accepted values, ORed),
    one page of them in ``order``; with neither words nor filters, every plant.

    ``query`` is the text as typed: when it is a plant's exact name, that plant ranks first.
    """
    dialect = session.get_bind().dialect.name
    if not words and not filters:
        total = session.scalar(select(func.count()).select_from(Plant)) or 0
        ids = list(session.scalars(
            select(Plant.id).order_by(*_sorting(order if order != "relevance" else "name"))
            .offset(paging.offset).limit(paging.per_page)))
        return RankedMatches(ids=ids, total=total, tiers=[TIER_NAMES] * len(ids))
    full = fulltext.match_query(dialect, words, filters)
    total = session.scalar(fulltext.count_matches(dialect, full)) or 0
    if total <= paging.offset:
        return RankedMatches(ids=[], total=total, words=list(words))
    matches = fulltext.matching_ids(dialect, full).subquery("matches")
    tier = _tier(session, dialect, words, filters, total, matches.c.plant_id).label("tier")
    if order == "relevance":
        exact = exact_name_ids(session, [query, *corrected_spellings(words)])
        sorting: list[Any] = [tier]
        if exact:
            sorting.append(case((matches.c.plant_id.in_(exact), 0), else_=1))
        # Varieties by their facet token: the index answers it, where reading each match's
        # plant row would cost more than the rest of the ranking.
        varieties = fulltext.match_query(dialect, [], {TYPE_FACET: ["variety"]})
        sorting += [case((fulltext.matched_by(dialect, varieties, matches.c.plant_id), 1),
                         else_=0),
                    matches.c.relevance.desc(), matches.c.plant_id]
        ranking = select(matches.c.plant_id, tier)
    else:
        sorting = _sorting(order)
        ranking = select(matches.c.plant_id, tier).join(
            Plant, Plant.id == matches.c.plant_id)
    ranked = cast(list[tuple[int, int]], session.execute(
        ranking.order_by(*sorting).offset(paging.offset).limit(paging.per_page)).all())
    return RankedMatches(ids=[plant_id for plant_id, _ in ranked], total=total,
                         tiers=[rank for _, rank in ranked], words=list(words))


def _tier(session: Session, dialect: str, words: Sequence[SearchWord],
          filters: dict[str, list[str]], total: int,
          plant_id: ColumnElement[int]) -> ColumnElement[int]:
    """Each match's tier, as an expression; a constant when all ``total`` matches share one:
    counting a tier's matches from the index is cheaper than asking it about each match of a
    common word."""
    if not words:
        return literal(TIER_NAMES)
    scopes: list[tuple[fulltext.Scope, int]] = [("names", TIER_NAMES)]
    if any(w.corrections for w in words):
        scopes.append(("names_or_typos", TIER_TYPOS))
    within = 0  # matches in the tiers so far (each tier's query holds the ones before)
    whens = []
    for scope, rank in scopes:
        so_far = session.scalar(fulltext.count_matches(
            dialect, fulltext.match_query(dialect, words, filters, scope=scope))) or 0
        if so_far > within:  # this tier has matches
            if so_far == total and within == 0:
                return literal(rank)
            query = fulltext.match_query(dialect, words, {}, scope=scope)
            whens.append((fulltext.matched_by(dialect, query, plant_id), rank))
        within = so_far
    return case(*whens, else_=TIER_TEXT) if whens else literal(TIER_TEXT)


def _sorting(order: Order) -> list[Any]:
    if order == "scientific_name":
        return [func.lower(Plant.scientific_name), Plant.id]
    if order == "updated":
        return [Plant.updated_at.desc(), Plant.id.desc()]
    return [func.lower(Plant.name), Plant.id]


def matching_plants(*, session: Session, criteria: SearchCriteria) -> tuple[list[int], int]:
    """The ids of one page of matches for the API's search, and the number of matches in all
    (none when the query has no word: its text only had punctuation)."""
    words = search_words(session, criteria.q)
    if not words:
        return [], 0
    filters = dict(criteria.filters)
    if criteria.type is not None:
        filters[TYPE_FACET] = [criteria.type.lower()]
    found = ranked_matches(session=session, words=words, filters=filters,
                           paging=criteria.paging, query=criteria.q)
    return found.ids, found.total
