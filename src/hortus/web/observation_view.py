"""What the observation pages show: an observation as a card, from the observations service's
views (:class:`hortus.observations.views.ObservationView`).

A card has the photos (served by the public ``/v2/media/references/{sha256}/{o,m,s}``), the
AI's suggestions, the votes so far by species, the current label with its confidence and
accuracy, and its status in words (valid, or what it still needs: Pl@ntNet's confidence ≥ 2
and accuracy ≥ 70 %). Species are shown by their common name in the visitor's language where the
knowledge base has one, with a link to the plant's profile when it has the plant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from babel.dates import format_date

from hortus.db import Database
from hortus.observations.licenses import license_url
from hortus.observations.views import ObservationView
from hortus.plants.taxonomy import SpeciesRecord, known_records
from hortus.review.aggregation import THETA_ACC, THETA_CONF
from hortus.web.i18n import N_, current_language
from hortus.web.i18n import gettext as _
from hortus.web.identify_view import REFERENCE_ROUTE, describe_time

LICENSE_LABELS = {
    "cc0": N_("CC0 1.0 (public domain)"),
    "cc-by": "CC BY 4.0",
    "cc-by-sa": "CC BY-SA 4.0",
    "cc-by-nc": "CC BY-NC 4.0",
    "cc-by-nc-sa": "CC BY-NC-SA 4.0",
    "cc-by-nd": "CC BY-ND 4.0",
    "cc-by-nc-nd": "CC BY-NC-ND 4.0",
}
NEEDS = ("name", "confidence", "agreement", "other")
THRESHOLDS = {"confidence": f"{THETA_CONF:g}", "accuracy": round(THETA_ACC * 100)}  # as shown


def license_label(code: str) -> str:
    """A stored licence code as people read it (``cc-by-sa`` → ``CC BY-SA 4.0``), in the
    visitor's language."""
    label = LICENSE_LABELS.get(code)
    return _(label) if label is not None else code.upper()


@dataclass(frozen=True)
class SpeciesName:
    """A species as a page names it: common name (when known), scientific name, profile."""

    scientific_name: str
    common_name: str | None
    profile: str | None  # /plants/id/<id> (it redirects to the plant's page)

    @property
    def display(self) -> str:
        return self.common_name or self.scientific_name


@dataclass(frozen=True)
class PhotoCard:
    number: int  # from 1
    sha256: str
    large: str
    medium: str
    organ: str  # leaf, flower ... as settled by the votes (auto: not given)
    organ_votes: dict[str, int]
    good: int
    bad: int


@dataclass(frozen=True)
class Suggestion:
    species: SpeciesName
    percent: int


@dataclass(frozen=True)
class Support:
    """One species voted: how many people, their summed weight and its share."""

    species: SpeciesName
    count: int
    weight: float
    percent: int
    selected: bool


@dataclass(frozen=True)
class ObservationCard:
    id: int
    url: str
    author: str
    created: str
    observed: str
    license: str
    license_url: str
    photos: list[PhotoCard]
    suggestions: list[Suggestion]
    support: list[Support]
    label: SpeciesName | None
    submitted: SpeciesName | None  # the author's determination
    confidence: float
    accuracy: int  # percent
    valid: bool
    needs: frozenset[str]  # what keeps it from being valid: NEEDS
    own: bool  # the visitor is its author
    my_vote: str | None  # the species the visitor voted (their determination on their own)
    latitude: float | None
    longitude: float | None
    place: str | None


def species_name(records: Mapping[str, SpeciesRecord], name: str) -> SpeciesName:
    """How the pages name ``name``, from its knowledge-base record when there is one."""
    record = records.get(name)
    if record is None:
        return SpeciesName(scientific_name=name, common_name=None, profile=None)
    return SpeciesName(
        scientific_name=record.scientific_name,
        common_name=record.common_names[0] if record.common_names else None,
        profile=f"/plants/id/{record.plant_id}" if record.plant_id is not None else None)


def _needs(view: ObservationView) -> frozenset[str]:
    """What keeps an observation from being valid (empty when it is valid): a name, more
    confidence, more agreement, or — when both thresholds are met — something else (its
    photos' quality votes, or the AI's vote when it may invalidate)."""
    if view.valid:
        return frozenset()
    if view.label is None:
        return frozenset({"name"})
    needs = set()
    if view.confidence < THETA_CONF:
        needs.add("confidence")
    if view.accuracy < THETA_ACC:
        needs.add("agreement")
    return frozenset(needs or {"other"})


def _photos(view: ObservationView) -> list[PhotoCard]:
    return [PhotoCard(
        number=position + 1, sha256=image.sha256,
        large=f"{REFERENCE_ROUTE}/{image.sha256}/o", medium=f"{REFERENCE_ROUTE}/{image.sha256}/m",
        organ=image.organ, organ_votes=dict(image.organ_votes),
        good=image.quality_votes.get("good", 0), bad=image.quality_votes.get("bad", 0))
        for position, image in enumerate(view.images)]


def _species_names(views: Iterable[ObservationView]) -> list[str]:
    names: list[str] = []
    for view in views:
        names += [str(s["species"]) for s in view.ai_suggestions]
        names += [s.name for s in view.support]
        names += [n for n in (view.label, view.submitted) if n]
    return list(dict.fromkeys(names))


def observation_cards(*, database: Database, views: Sequence[ObservationView],
                      account_id: int | None,
                      my_votes: Mapping[int, str] | None = None) -> list[ObservationCard]:
    """The cards of ``views`` for a visitor (blocking: reads the knowledge base's names)."""
    names = _species_names(views)
    records = known_records(database, names, current_language()) if names else {}
    cards = []
    for view in views:
        total = sum(s.weight for s in view.support)
        cards.append(ObservationCard(
            id=view.id, url=f"/observations/{view.id}", author=view.author_name,
            created=describe_time(view.created_at), observed=_day(view.observed_at),
            license=license_label(view.license), license_url=license_url(view.license),
            photos=_photos(view),
            suggestions=[Suggestion(species_name(records, str(s["species"])),
                                    round(float(s["score"]) * 100))
                         for s in view.ai_suggestions],
            support=[Support(species_name(records, s.name), s.count, s.weight,
                             round(s.weight / total * 100) if total > 0 else 0,
                             s.name == view.label) for s in view.support],
            label=species_name(records, view.label) if view.label else None,
            submitted=species_name(records, view.submitted) if view.submitted else None,
            confidence=view.confidence, accuracy=round(view.accuracy * 100), valid=view.valid,
            needs=_needs(view),
            own=account_id is not None and view.author_id == account_id,
            my_vote=(my_votes or {}).get(view.id),
            latitude=view.latitude, longitude=view.longitude, place=view.place))
    return cards


def _day(moment: datetime) -> str:
    """``3 May 2025`` in the visitor's language (the day in UTC)."""
    return format_date(moment.astimezone(UTC).date(), "d MMMM y", locale=current_language())
